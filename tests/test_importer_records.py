"""How `leadvibe import` cuts a file into records before sending it in parts (leadvibe/importer.py): as the
server's CSV reader reads it, in one pass."""

from __future__ import annotations

import io

import pytest

from leadvibe.importer import ImportFailed, _header, _records


def _cut(text: bytes) -> list[bytes]:
    return list(_records(io.BytesIO(text)))


def test_a_quote_inside_a_field_is_text_and_ends_no_record() -> None:
    """`27" monitor` is text to the server; counting it as an opening quote made the rest of the file one record
    (rebuilt and recounted at every line: minutes for a few megabytes), sent as a part too large to take."""
    rows = [b'ld_1,Viewed 27" monitor,2025-06-15T10:30:00Z\n'] + [
        b"ld_%d,page_view,2025-06-15T10:30:00Z\n" % i for i in range(2, 50_002)]
    assert _cut(b"".join(rows)) == rows


def test_a_quoted_field_keeps_its_lines_and_its_doubled_quotes() -> None:
    text = (b'ld_1,form,"{""a"": 1,\n""b"": ""x\ny""}"\n'
            b'ld_2,"page ""view""",\n'
            b'ld_3,"",\n'
            b'ld_4,page_view,"unclosed\n'
            b"ld_5,page_view,\n")
    assert _cut(text) == [b'ld_1,form,"{""a"": 1,\n""b"": ""x\ny""}"\n', b'ld_2,"page ""view""",\n',
                          b'ld_3,"",\n', b'ld_4,page_view,"unclosed\nld_5,page_view,\n']


def test_a_file_whose_lines_end_with_a_carriage_return_alone_is_refused() -> None:
    """Read by line feeds, it was one header line: `imported 0 events`, exit 0."""
    with pytest.raises(ImportFailed, match="carriage return alone"):
        _header(io.BytesIO(b"lead_id,event_type\rld_1,page_view\rld_2,page_view\r"))
    assert _header(io.BytesIO(b"lead_id,event_type\r\nld_1,page_view\r\n")) == b"lead_id,event_type\r\n"
