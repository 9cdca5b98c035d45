"""Server-generated identifiers: a readable prefix and a random, URL-safe body (`ld_…`, `ev_…`)."""

from __future__ import annotations

import base64
import os


def new_id(prefix: str) -> str:
    """`new_id("ld")` -> `ld_k3j5…` with 80 random bits: unguessable and collision-free in practice."""
    return f"{prefix}_{base64.b32encode(os.urandom(10)).decode().lower()}"
