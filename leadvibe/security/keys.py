"""The instance secret: 32 random bytes generated on first start into `<data dir>/secret.key` (mode 0600).

Purpose-specific keys are derived from it (HMAC with a label), so the JWT signing key and the API-credential
pepper never coincide.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


def load_or_create_master_key(data_dir: Path) -> bytes:
    """Read the instance secret, creating it (0600) if absent."""
    path = data_dir / "secret.key"
    if path.exists():
        data = path.read_bytes()
        if len(data) < 32:
            raise RuntimeError(f"{path} is damaged (shorter than 32 bytes)")
        return data[:32]
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def derive(master: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose."""
    return hmac.new(master, label.encode(), hashlib.sha256).digest()
