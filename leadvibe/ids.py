"""Server-generated identifiers: a readable prefix and an unguessable body (`ld_…`, `ev_…`).

Bodies come from keyed BLAKE2b over a counter, seeded once per process from the OS: unpredictable without the
seed and about a microsecond each, where a syscall to the OS's random source per id costs far more on some
virtual machines (hundreds of microseconds were measured) and ids are minted on every ingested event.
"""

from __future__ import annotations

import hashlib
import itertools
import os

_SEED = os.urandom(32)
_COUNTER = itertools.count()  # next() on itertools.count is atomic under the GIL
# The keyed hash with its key already absorbed: each id copies it instead of setting the key up again.
_KEYED = hashlib.blake2b(key=_SEED, digest_size=10)
# Lower-case RFC 4648 base32, two characters (10 bits) per entry: 80 bits are 8 lookups. The standard library's
# base32 encoder is Python and cost about 5 µs per id, on every ingested event.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)


def _reseed_after_fork() -> None:
    global _SEED, _KEYED
    _SEED = os.urandom(32)
    _KEYED = hashlib.blake2b(key=_SEED, digest_size=10)


os.register_at_fork(after_in_child=_reseed_after_fork)


def b32_80(n: int) -> str:
    """An 80-bit integer as 16 characters of lower-case base32 (what `base64.b32encode` gives its 10 bytes)."""
    p = _PAIRS
    return (f"{p[n >> 70]}{p[(n >> 60) & 1023]}{p[(n >> 50) & 1023]}{p[(n >> 40) & 1023]}"
            f"{p[(n >> 30) & 1023]}{p[(n >> 20) & 1023]}{p[(n >> 10) & 1023]}{p[n & 1023]}")


def new_id(prefix: str) -> str:
    """`new_id("ld")` -> `ld_k3j5…` with 80 unguessable bits (16 characters of lower-case base32)."""
    h = _KEYED.copy()
    h.update(next(_COUNTER).to_bytes(16, "little"))
    return f"{prefix}_{b32_80(int.from_bytes(h.digest(), 'big'))}"
