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

import apsw

from leadvibe.db.rows import scalar
from leadvibe.ownership import give_to_directory_owner

KEY_NAME = "secret.key"


class SecretKeyUnusable(RuntimeError):
    """The data directory's `secret.key` cannot be used: a command stops with this one line."""


class MissingSecretKey(SecretKeyUnusable):
    """The database has people or API credentials but the data directory has no `secret.key`."""


def _database_has_secrets(db_path: Path) -> bool:
    # Read-only and without creating anything: a fresh directory has no database file at all.
    if not db_path.exists():
        return False
    conn = apsw.Connection(str(db_path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return any(scalar(conn, f"SELECT EXISTS (SELECT 1 FROM {t})") for t in ("members", "api_credentials")
                   if t in tables)
    finally:
        conn.close()


def load_or_create_master_key(data_dir: Path, db_path: Path | None = None) -> bytes:
    """Read the instance secret, creating it (0600) only for a database that has no members or credentials yet.

    The key belongs to the database (SEMANTICS §11): tokens are signed and credential secrets digested with keys
    derived from it, so a database restored without its key would start with a new one and every API credential
    would answer 401. That case raises MissingSecretKey instead of starting silently.
    """
    path = data_dir / KEY_NAME
    if path.exists():
        return read_key_file(path)
    if db_path is not None and _database_has_secrets(db_path):
        raise MissingSecretKey(
            f"{path} is missing but the database {db_path} has accounts and API credentials that need it: "
            f"copy the original {KEY_NAME} back into {data_dir} (a `leadvibe backup` keeps it beside the backup "
            f"as <backup>.key and `leadvibe restore` puts it back); starting with a new key would lock every "
            "existing API credential out")
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    write_key_file(path, key)
    return key


def read_key_file(path: Path) -> bytes:
    """The key in `path`; SecretKeyUnusable when it cannot be read or is too short to be one."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretKeyUnusable(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) < 32:
        raise SecretKeyUnusable(
            f"{path} is damaged ({len(data)} bytes, a key has 32): put the original {KEY_NAME} back (a "
            f"`leadvibe backup` keeps it beside the backup as <backup>.key)")
    return data[:32]


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key file atomically (a temporary file, fsynced, renamed over `path`), readable by its owner only."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        give_to_directory_owner(fd, path.parent)
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def derive(master: bytes, label: str) -> bytes:
    """A 32-byte key for one purpose."""
    return hmac.new(master, label.encode(), hashlib.sha256).digest()
