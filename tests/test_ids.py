"""Server-generated ids: the shape clients see, and the hand-rolled base32 equal to the standard one."""

from __future__ import annotations

import base64
import itertools
import re
import time
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe import ids
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


def test_event_ids_minted_on_many_threads_at_once_never_repeat() -> None:
    import threading

    minted: list[list[str]] = [[] for _ in range(8)]

    def mint(out: list[str]) -> None:
        for _ in range(5_000):
            out.append(new_event_id())

    threads = [threading.Thread(target=mint, args=(out,)) for out in minted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for out in minted for i in out]
    assert len(ids) == 40_000 and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in ids)
    for out in minted:  # each thread's ids in the order it got them: time order
        ms = [_minted_ms(i) for i in out]
        assert ms == sorted(ms)


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


@pytest.mark.parametrize("ms", [1_764_000_000_000, 1_764_000_000_001, 1_764_000_000_002, 1_764_000_000_003,
                                (1 << 42) - 1, 0])
@pytest.mark.parametrize("first", [0, (1 << 18) - 3, 5 << 18, 123_456])
def test_batch_ids_hold_the_millisecond_and_the_counter_bit_for_bit(monkeypatch: pytest.MonkeyPatch, ms: int,
                                                                     first: int) -> None:
    # A batch encodes the characters only the millisecond decides once and the rest per id: the top 42 bits must
    # still be the millisecond and the next 18 the counter's low bits, across the counter's wrap too.
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=lambda: ms * 1_000_000 + 999_999))
    monkeypatch.setattr(ids, "_COUNTER", itertools.count(first))
    minted = new_event_ids(60)
    assert [_bits(i) >> 38 for i in minted] == [ms] * 60
    assert [(_bits(i) >> 20) & ((1 << 18) - 1) for i in minted] == [(first + k) % (1 << 18) for k in range(60)]


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
