"""Server-generated ids: the shape clients see, and the hand-rolled base32 equal to the standard one."""

from __future__ import annotations

import base64
import re
import time

from hypothesis import given
from hypothesis import strategies as st

from leadvibe.ids import b32_80, new_event_id, new_event_ids, new_id, sortable_b32_80


@given(st.binary(min_size=10, max_size=10))
def test_the_base32_of_80_bits_is_the_standard_one(raw: bytes) -> None:
    assert b32_80(int.from_bytes(raw, "big")) == base64.b32encode(raw).decode().lower()


def test_ids_have_a_prefix_and_16_base32_characters_and_never_repeat() -> None:
    ids = [new_id("ev") for _ in range(10_000)]
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_event_ids_keep_the_shape_sort_by_time_and_never_repeat() -> None:
    before = new_id("ev")
    ids = [new_event_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    # Within one millisecond the order is free; across milliseconds later ids sort after earlier ones.
    ms = [_minted_ms(i) for i in ids]
    assert ms == sorted(ms) and ms[-1] - ms[0] < 60_000
    assert abs(ms[0] - time.time_ns() // 1_000_000) < 60_000
    assert re.fullmatch(r"ev_[a-z2-7]{16}", before)


def test_batch_minted_event_ids_are_event_ids_with_hash_bits_of_their_own() -> None:
    batches = [new_event_ids(n) for n in (0, 1, 24, 25, 26, 1000)] + [[new_event_id()]]
    ids = [i for b in batches for i in b]
    assert [len(b) for b in batches] == [0, 1, 24, 25, 26, 1000, 1]
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    ms = [_minted_ms(i) for i in ids]
    assert ms == sorted(ms) and abs(ms[0] - time.time_ns() // 1_000_000) < 60_000
    # The 20 low bits come from the keyed digest, not from the counter: across a batch they take many values
    # (a slice of the same bits or a counter would repeat or count up).
    low = [_bits(i) & ((1 << 20) - 1) for i in batches[-2]]
    assert len(set(low)) > 990 and low != sorted(low)


@given(st.integers(min_value=0, max_value=(1 << 80) - 1), st.integers(min_value=0, max_value=(1 << 80) - 1))
def test_sortable_base32_orders_as_the_integers(a: int, b: int) -> None:
    assert (sortable_b32_80(a) < sortable_b32_80(b)) == (a < b)
    assert re.fullmatch(r"[a-z2-7]{16}", sortable_b32_80(a))


def _bits(event_id: str) -> int:
    digits = "234567abcdefghijklmnopqrstuvwxyz"
    n = 0
    for ch in event_id[3:]:
        n = n * 32 + digits.index(ch)
    return n


def _minted_ms(event_id: str) -> int:
    return _bits(event_id) >> 38
