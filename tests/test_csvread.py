"""The UTF-8 check an import makes of a whole file before it stores or sends a row."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from leadvibe.csvread import first_line_not_utf8

PIECES = [b"a", b",", b"\n", b"\r", b"\r\n", "é".encode(), "€".encode(), "😀".encode(), b"\xff", b"\xe9", b"\xc3"]


def _expected(data: bytes) -> int | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 1 + len(re.findall(r"\r\n|\r|\n", data[:exc.start].decode("utf-8")))
    return None


@given(st.lists(st.sampled_from(PIECES), max_size=40), st.integers(min_value=1, max_value=9))
def test_the_line_named_does_not_depend_on_how_the_file_is_read(pieces: list[bytes], size: int) -> None:
    # Read in chunks of any size: a character or a CR LF split between two chunks changes nothing.
    data = b"".join(pieces)
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    assert first_line_not_utf8(chunks) == _expected(data)


def test_lines_and_an_unfinished_character_at_the_end() -> None:
    assert first_line_not_utf8([b"a,b\r\nc,d\n"]) is None
    assert first_line_not_utf8([b"a\r", b"\nb\rc\n\xff"]) == 4
    assert first_line_not_utf8([b"a\n", "é".encode()[:1]]) == 2
