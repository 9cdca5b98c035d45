"""Server-generated identifiers: a readable prefix and an unguessable body (`ld_…`, `ev_…`).

Bodies come from keyed BLAKE2b over a counter, seeded once per process from the OS: unpredictable without the
seed and about a microsecond each, where a syscall to the OS's random source per id costs far more on some
virtual machines (hundreds of microseconds were measured) and ids are minted on every ingested event.

Event ids start with the time they were minted (`new_event_id`): `events.id` is UNIQUE, and a random id put each
stored event's index entry on a random page, so every worker commit rewrote most of that index's leaves; ids that
grow with time append to its right edge instead. They keep the shape of every other id (`ev_` and 16 characters
of lower-case base32), so clients and stored random ids stay valid; nothing orders events by id (`seq` is the
arrival order).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time

_SEED = os.urandom(32)
_COUNTER = itertools.count()  # next() on itertools.count is atomic under the GIL
# The keyed hash with its key already absorbed: each id copies it instead of setting the key up again.
_KEYED = hashlib.blake2b(key=_SEED, digest_size=10)
# Lower-case RFC 4648 base32, two characters (10 bits) per entry: 80 bits are 8 lookups. The standard library's
# base32 encoder is Python and cost about 5 µs per id, on every ingested event.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
# The same 32 characters in ASCII order, so that text order is numeric order (RFC 4648's puts the digits last).
_SORTED_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_SORTED_PAIRS = tuple(a + b for a in _SORTED_ALPHABET for b in _SORTED_ALPHABET)
# An event id's 80 bits: milliseconds since the epoch (42 bits, until 2109), then the low 18 bits of the process's
# counter (two ids of one millisecond differ there unless 262,144 were minted in it), then 20 bits of keyed hash.
_MS_BITS = 42
_COUNTER_BITS = 18
_HASH_BITS = 80 - _MS_BITS - _COUNTER_BITS
# `new_event_ids` takes the hash bits of many ids from one wide digest (512 bits: 25 ids of 20 bits).
_KEYED_WIDE = hashlib.blake2b(key=_SEED, digest_size=64)
_IDS_PER_DIGEST = 512 // _HASH_BITS


def _reseed_after_fork() -> None:
    global _SEED, _KEYED, _KEYED_WIDE, _POOL_LOCK
    _SEED = os.urandom(32)
    _KEYED = hashlib.blake2b(key=_SEED, digest_size=10)
    _KEYED_WIDE = hashlib.blake2b(key=_SEED, digest_size=64)
    _POOL.clear()  # the parent hands out the ids it minted; a child mints its own
    _POOL_LOCK = threading.Lock()  # another thread of the parent may have held it at the fork


os.register_at_fork(after_in_child=_reseed_after_fork)


def b32_80(n: int) -> str:
    """An 80-bit integer as 16 characters of lower-case base32 (what `base64.b32encode` gives its 10 bytes)."""
    return _encode_80(n, _PAIRS)


def sortable_b32_80(n: int) -> str:
    """An 80-bit integer as 16 base32 characters whose text order is the integers' order."""
    return _encode_80(n, _SORTED_PAIRS)


def _encode_80(n: int, p: tuple[str, ...]) -> str:
    return (f"{p[n >> 70]}{p[(n >> 60) & 1023]}{p[(n >> 50) & 1023]}{p[(n >> 40) & 1023]}"
            f"{p[(n >> 30) & 1023]}{p[(n >> 20) & 1023]}{p[(n >> 10) & 1023]}{p[n & 1023]}")


def new_id(prefix: str) -> str:
    """`new_id("ld")` -> `ld_k3j5…` with 80 unguessable bits (16 characters of lower-case base32)."""
    h = _KEYED.copy()
    h.update(next(_COUNTER).to_bytes(16, "little"))
    return f"{prefix}_{b32_80(int.from_bytes(h.digest(), 'big'))}"


def new_event_id() -> str:
    """`ev_…` like `new_id("ev")`, but ids minted later sort after earlier ones (to the millisecond): the event
    index takes them as appends. Still 16 characters of lower-case base32, with 38 bits that differ per id.

    Handed out from ids `new_event_ids` minted in the same millisecond (one digest gives 25 ids their hash bits):
    a single-event /ingest takes one per request, and a digest per id cost a microsecond of the event loop's ~70
    per request. Ids left when the millisecond passes are dropped."""
    global _pool_ms
    ms = time.time_ns() // 1_000_000
    with _POOL_LOCK:
        if ms != _pool_ms or not _POOL:
            _POOL[:] = reversed(new_event_ids(_IDS_PER_DIGEST))  # popped from the end: handed out in order
            _pool_ms = ms
        return _POOL.pop()


_POOL: list[str] = []
_pool_ms = -1
_POOL_LOCK = threading.Lock()


def new_event_ids(count: int) -> list[str]:
    """`count` ids as `new_event_id` mints them (time, counter, keyed hash bits), for a batch of events: each
    keyed digest gives 25 ids their hash bits instead of one (the digest was most of an id's cost), and the
    characters that only the millisecond decides are encoded once."""
    p = _SORTED_PAIRS
    head = ((time.time_ns() // 1_000_000) & ((1 << _MS_BITS) - 1)) << (_COUNTER_BITS + _HASH_BITS)
    # Characters 1-8 (bits 79-40) are the millisecond's alone; pair 5 (bits 39-30) holds its last two bits and
    # the counter's top eight, pair 6 the counter's low ten, pairs 7 and 8 the hash bits.
    prefix = f"ev_{_encode_80(head, p)[:8]}"
    ms_low = (head >> 30) & 0x300
    out: list[str] = []
    append = out.append
    for start in range(0, count, _IDS_PER_DIGEST):
        ns = [next(_COUNTER) for _ in range(min(_IDS_PER_DIGEST, count - start))]
        h = _KEYED_WIDE.copy()
        h.update(ns[0].to_bytes(16, "little"))  # a counter value never repeats: nor does a digest's input
        bits = int.from_bytes(h.digest(), "big")
        for n in ns:
            append(f"{prefix}{p[ms_low | ((n >> 10) & 0xff)]}{p[n & 1023]}{p[(bits >> 10) & 1023]}{p[bits & 1023]}")
            bits >>= _HASH_BITS
    return out
