"""Server-generated identifiers: a readable prefix and an unguessable body (`ld_…`, `ev_…`).

Bodies come from keyed BLAKE2b over a counter, seeded once per process from the OS: unpredictable without the
seed and about a microsecond each, where a syscall to the OS's random source per id costs far more on some
virtual machines (hundreds of microseconds were measured) and ids are minted on every ingested event.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os

_SEED = os.urandom(32)
_COUNTER = itertools.count()  # next() on itertools.count is atomic under the GIL


def _reseed_after_fork() -> None:
    global _SEED
    _SEED = os.urandom(32)


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_id(prefix: str) -> str:
    """`new_id("ld")` -> `ld_k3j5…` with 80 unguessable bits."""
    digest = hashlib.blake2b(next(_COUNTER).to_bytes(16, "little"), key=_SEED, digest_size=10).digest()
    return f"{prefix}_{base64.b32encode(digest).decode().lower()}"
