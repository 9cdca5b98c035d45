"""Reading an imported CSV record by record, with the file lines each record starts on, and the error of a quoted
field that is never closed.

Python's csv reader (outside its strict mode, which would also refuse text after a closing quote, `"a"b`, that
imports have always taken) does not report a quote left open: it reads the rest of the file into that field and
returns it as the last record. Such a record is the only one for which the reader asks for a line after the last,
which is how `records` recognizes it.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
from collections.abc import Iterable, Iterator

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class UnterminatedQuote(ValueError):
    """A quoted field opened at `line` is never closed: its record, from `first` (where the record starts) to
    `last` (the file's last line), was read as one record."""

    def __init__(self, first: int, line: int, last: int) -> None:
        super().__init__(unterminated_quote(line, last))
        self.first = first
        self.line = line
        self.last = last

    @property
    def lines(self) -> int:
        """How many lines of the file the unread record covers."""
        return self.last - self.first + 1


def unterminated_quote(line: int, last: int) -> str:
    """The error of a data row whose quoted field opened at `line` is never closed (`last` is the file's last
    line); the server and `leadvibe import`, which renumbers it to the lines of the whole file, both word it so."""
    return (f"unterminated quoted field starting at line {line}: its opening quote is never closed, so its row and "
            f"every line after it to the end of the file (line {last}) were read as one row and not imported")


def unterminated_header(line: int) -> str:
    """The error of a header whose quoted field opened at `line` is never closed (nothing is imported)."""
    return (f"the CSV header has an unterminated quoted field starting at line {line}: its opening quote is never "
            "closed, so the whole file was read into the header (nothing was imported)")


def first_line_not_utf8(chunks: Iterable[bytes]) -> int | None:
    """The line (from 1, line breaks counted as the csv reader counts them) holding the first bytes of a file
    (read as `chunks`) that are not UTF-8, or None when all of it is. An import checks the whole file before it
    stores or sends a row: an encoding is the file's, and one found wrong halfway would leave the rows before it
    imported and the rest not."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, after_cr = 1, False
    for chunk in itertools.chain(chunks, (None,)):
        try:
            text = decoder.decode(b"" if chunk is None else chunk, final=chunk is None)
        except UnicodeDecodeError as exc:
            # The decoder's buffer and this chunk: valid up to the error.
            return line + _breaks(exc.object[:exc.start].decode("utf-8"), after_cr)
        line += _breaks(text, after_cr)
        if text:
            after_cr = text.endswith("\r")
    return None


def _breaks(text: str, after_cr: bool) -> int:
    # A CR LF split between two chunks is one line break, counted at its CR.
    return len(_LINE_BREAK.findall(text)) - (after_cr and text.startswith("\n"))


# Spreadsheets in many locales save "CSV" with semicolons (or tabs) between the cells.
_OTHER_SEPARATORS = {";": "semicolons (`;`)", "\t": "tabs"}


def separator_hint(header: list[str], column: str) -> str:
    """What to say after a header (its cells as read with commas) that lacks `column` but has it when split at
    another separator: how to save the file; "" otherwise."""
    line = ",".join(header)
    for separator, named in _OTHER_SEPARATORS.items():
        if column in (cell.strip().strip('"').strip().lower() for cell in line.split(separator)):
            return f": this file separates its cells with {named}; save it with commas between the cells"
    return ""


class _Lines:
    """The file's lines as the csv reader takes them, noting when it asked for one past the last."""

    def __init__(self, text: Iterable[str]) -> None:
        self._lines = iter(text)
        self.ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            return next(self._lines)
        except StopIteration:
            self.ended = True
            raise


class Records:
    """(the line the record starts on, its cells) for each record of `text` (lines as a file opened with
    `newline=""` gives them, the first being line 1), blank lines skipped. A record whose quoted field is never
    closed raises UnterminatedQuote instead (it is the last: it holds the rest of the file)."""

    def __init__(self, text: Iterable[str]) -> None:
        self._lines = _Lines(text)
        self._reader = csv.reader(self._lines)

    @property
    def line_num(self) -> int:
        """How many lines have been read (the line a csv.Error stopped at)."""
        return self._reader.line_num

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        done = self._reader.line_num
        for cells in self._reader:
            last = self._reader.line_num
            if self._lines.ended:
                # The open field is the last cell and ends where the file does: it started as many line breaks
                # back as it holds, less the one that ends the file, if any.
                field = cells[-1]
                breaks = len(_LINE_BREAK.findall(field)) - (1 if field.endswith(("\n", "\r")) else 0)
                raise UnterminatedQuote(done + 1, last - breaks, last)
            if cells:
                yield done + 1, cells
            done = last
