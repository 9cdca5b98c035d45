"""Self-signed certificates for TLS tests, made with the openssl CLI (no extra Python packages)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def make_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for DNS name ``name``: → (cert_path, key_path); skips without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl CLI not available")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key
