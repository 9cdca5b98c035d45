"""Server-generated ids: the shape clients see, and the hand-rolled base32 equal to the standard one."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from leadvibe.ids import b32_80, new_id


@given(st.binary(min_size=10, max_size=10))
def test_the_base32_of_80_bits_is_the_standard_one(raw: bytes) -> None:
    assert b32_80(int.from_bytes(raw, "big")) == base64.b32encode(raw).decode().lower()


def test_ids_have_a_prefix_and_16_base32_characters_and_never_repeat() -> None:
    ids = [new_id("ev") for _ in range(10_000)]
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
