"""CSV out: cells a spreadsheet never runs as a formula, and a streaming writer that keeps memory flat.

Every CSV export (events, trigger events, ...) goes through here so formula-injection handling is one
decision. A cell is neutralized the way OWASP recommends ("CSV Injection"): when it starts with a character
that makes Excel, LibreOffice or Google Sheets evaluate it (`=`, `+`, `-`, `@`, tab, carriage return, or the
full-width forms some of them also accept), it gets a leading `'`, which the spreadsheet shows as text and
hides. Quoting of commas, quotes and newlines is the `csv` module's job and happens after that.

An export imported again (`POST /import`) must give back the same values: the import takes one leading `'` off a
cell that starts with `'`s and then such a character (`plain_cell`), and the export adds one to every such cell,
so a value that itself started with `'=` comes back as it was.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any

from litestar.response import Stream

__all__ = ["FORMULA_PREFIXES", "csv_download", "csv_stream", "encode_rows", "plain_cell", "safe_cell"]

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\n",
                                     "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> str:
    """The text of one cell, with a leading `'` when a spreadsheet would otherwise treat it as a formula.

    `None` is an empty cell; booleans are `true`/`false` (as in the JSON API); numbers are written as they
    are: a negative number is data, not a formula, and must stay a number for the spreadsheet.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    if text.lstrip("'").startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def plain_cell(text: str) -> str:
    """A cell as `safe_cell` was given it: one leading `'` less where it starts with `'`s and then a character a
    spreadsheet runs (an imported export: `'=1+1` is `=1+1`, `''=x` is `'=x`); any other cell as it is."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def encode_rows(rows: Iterable[Sequence[Any]]) -> bytes:
    """Rows -> UTF-8 CSV bytes (CRLF line ends, as RFC 4180 says), every cell through `safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return buf.getvalue().encode("utf-8")


async def csv_stream(header: Sequence[str],
                     pages: AsyncIterable[Iterable[Sequence[Any]]]) -> AsyncIterator[bytes]:
    """The header row, then one chunk per page of rows: only one page is ever in memory."""
    yield encode_rows([header])
    async for rows in pages:
        chunk = encode_rows(rows)
        if chunk:
            yield chunk


def csv_download(filename: str, chunks: AsyncIterable[bytes]) -> Stream:
    """A streamed `text/csv` attachment response."""
    safe_name = "".join(c for c in filename if c.isalnum() or c in "._-") or "export.csv"
    return Stream(chunks, media_type="text/csv; charset=utf-8",
                  headers={"Content-Disposition": f'attachment; filename="{safe_name}"',
                           "Cache-Control": "no-store"})
