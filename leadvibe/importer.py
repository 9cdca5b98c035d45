"""`leadvibe import FILE`: send a CSV of events to a running server through `POST /import`, in parts, with a
progress bar. Every row goes through the server's own pipeline (validation, `source=import`, scoring).

The file is sent in parts of at most 2,000 rows (or 1 MB), split on row boundaries (each part repeats the header,
and line numbers in the error report refer to the original file): a part is acknowledged once its rows are
durable, so the progress bar moves by rows as the server acknowledges them, on small files too, and no part comes
near the endpoint's 10 MB limit.

With `--by-lead` the rows are sent grouped by `lead_id` (in id order; each lead's rows keep the file's order),
sorted on disk in runs of RUN_ROWS rows and merged, before the first part goes out. The worker scores a lead's
events one after another then, so each batch writes each lead's pages once instead of once per event: at a
million leads the worker alone scores six times the events per second of a history sent in time order, the whole
import through the server twice as many (docs/performance.md).
"""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import marshal
import sys
import tempfile
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from leadvibe.csvread import (
    Records,
    UnterminatedQuote,
    first_line_not_utf8,
    separator_hint,
    unterminated_header,
    unterminated_quote,
)

PART_BYTES = 1024 * 1024
PART_ROWS = 2000
# Rows sorted in memory at a time by `--by-lead` (some tens of MB); a longer file is sorted in runs on disk.
RUN_ROWS = 200_000

# A part of the file as sent: its bytes (header first), the file's line number of each of its lines, header
# included (what the server's error lines, numbered from the part's first, map back to), and the bytes of the
# file consumed so far.
Part = tuple[bytes, list[int], int]


@dataclass
class ImportTotals:
    """What the whole file did."""

    imported: int = 0
    duplicates: int = 0
    errors: int = 0
    error_rows: list[dict[str, object]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)  # every part has the file's header: said once


class ImportFailed(RuntimeError):
    """The import stopped; the message names the server and what to check."""


class ImportInterrupted(ImportFailed):
    """Ctrl-C (SIGINT) stopped the import; the message says how far it got."""


def split_csv(path: Path, part_bytes: int = PART_BYTES, part_rows: int = PART_ROWS) -> Generator[Part, None, None]:
    """The file's rows in parts, in file order."""
    with path.open("rb") as f:
        _check_utf8(f)
        header = _header(f)
        if header:
            yield from _parts(header, _numbered(f, header), part_bytes, part_rows)


def _check_utf8(f: IO[bytes]) -> None:
    """Refuse a file that is not UTF-8 before any part is sent (as the server refuses a whole part), then go back
    to its start."""
    bad = first_line_not_utf8(iter(lambda: f.read(1 << 20), b""))
    if bad is not None:
        raise ImportFailed(f"line {bad} is not UTF-8 (nothing was sent)")
    f.seek(0)


def split_csv_by_lead(path: Path, part_bytes: int = PART_BYTES, part_rows: int = PART_ROWS,
                      run_rows: int = RUN_ROWS) -> Generator[Part, None, None]:
    """The file's rows in parts, grouped by lead id (in id order), each lead's rows in file order. Every row is
    read and checked before the first part is yielded: a row without a lead id raises ImportFailed with nothing
    sent."""
    with path.open("rb") as f, tempfile.TemporaryDirectory(prefix="leadvibe-import-") as tmp:
        _check_utf8(f)
        header = _header(f)
        if not header:
            return
        column = _lead_column(header)
        runs: list[Path] = []
        held: list[tuple[str, int, int, bytes]] = []
        unclosed: list[tuple[int, bytes]] = []
        for position, (line, record) in enumerate(_numbered(f, header)):
            if b'"' in record and _still_quoted(record, False):
                # The file's last record, its quote never closed: it stays last, where the server reads it as
                # the rest of the file and says so (anywhere else it would swallow the rows sent after it).
                unclosed.append((line, record))
                continue
            held.append((_lead_of(record, column, line), position, line, record))
            if len(held) >= run_rows:
                runs.append(_write_run(Path(tmp) / f"run{len(runs)}", held))
                held = []
        if runs:
            runs.append(_write_run(Path(tmp) / f"run{len(runs)}", held))
            merged: Iterable[tuple[str, int, int, bytes]] = heapq.merge(*(_read_run(run) for run in runs))
        else:
            held.sort()
            merged = held
        rows = itertools.chain(((line, record) for _, _, line, record in merged), unclosed)
        yield from _parts(header, rows, part_bytes, part_rows)


def _parts(header: bytes, records: Iterable[tuple[int, bytes]], part_bytes: int, part_rows: int) -> Iterator[Part]:
    buf = [header]
    heading = list(range(1, 1 + _line_count(header)))
    lines = list(heading)
    size = consumed = len(header)
    sent = False
    for first, record in records:
        # The file's last record may end without a line break, and need one when others are sent after it.
        buf.append(record if record.endswith(b"\n") else record + b"\n")
        size += len(record)
        consumed += len(record)
        lines.extend(range(first, first + _line_count(record)))
        if size >= part_bytes or len(buf) > part_rows:
            yield b"".join(buf), lines, consumed
            sent = True
            buf, lines, size = [header], list(heading), len(header)
    if len(buf) > 1 or not sent:
        # A header with no rows is sent too: the server checks it (a header without `event_type`, a file of
        # semicolons) as it would with rows under it.
        yield b"".join(buf), lines, consumed


def _header(f: IO[bytes]) -> bytes:
    """The header record: its first line, and the lines after it while a quoted name is open. A quote never
    closed (or not within a part's size) refuses the file before anything is sent, in the server's words. Lines
    that end with a carriage return alone (old Mac text, Excel's "CSV (Macintosh)") are refused: this reader splits
    lines on line feeds, and took such a file for one header line and imported nothing."""
    header = f.readline()
    if b"\r" in header.rstrip(b"\r\n"):
        raise ImportFailed("the file's lines end with a carriage return alone (old Mac line ends); save it with "
                           "Windows (CRLF) or Unix (LF) line ends, or send it with POST /import (nothing was sent)")
    while b'"' in header:
        try:
            for _ in Records(io.StringIO(header.decode("utf-8-sig", "replace"), newline="")):
                pass
            break
        except UnterminatedQuote as exc:
            more = f.readline()
            if not more or len(header) > PART_BYTES:
                raise ImportFailed(unterminated_header(exc.line)) from None
            header += more
    return header


def _numbered(f: IO[bytes], header: bytes) -> Iterator[tuple[int, bytes]]:
    """(the file's line number where the record starts, the record), after the header."""
    line = 1 + _line_count(header)
    for record in _records(f):
        yield line, record
        line += _line_count(record)


def _line_count(record: bytes) -> int:
    # The file's last record may end without a line break.
    return record.count(b"\n") + (not record.endswith(b"\n"))


def _lead_column(header: bytes) -> int:
    cells = next(csv.reader([header.decode("utf-8-sig", "replace")]), [])
    names = [n.strip().lower() for n in cells]
    if "lead_id" not in names:
        if hint := separator_hint(cells, "lead_id"):
            raise ImportFailed(f"the CSV header has no `lead_id` column{hint} (nothing was sent)")
        raise ImportFailed("--by-lead groups the rows by their lead_id column, and this file's header has none "
                           "(import it without --by-lead)")
    return names.index("lead_id")


def _lead_of(record: bytes, column: int, line: int) -> str:
    try:
        # Most rows hold no quotes: a split is the same as a CSV parse there, and several times cheaper. The file
        # is UTF-8 (checked before).
        cell = (record.rstrip(b"\r\n").split(b",", column + 1)[column].decode("utf-8") if b'"' not in record
                else next(csv.reader([record.decode("utf-8")]))[column])
    except (IndexError, StopIteration):
        cell = ""
    lead = cell.strip()
    if not lead:
        raise ImportFailed(f"line {line} has no lead_id, which --by-lead needs on every row to keep each lead's "
                           "rows together (nothing was sent; import without --by-lead to let rows name their lead "
                           "by email or other identifiers)")
    return lead


# Runs are written with marshal, a thousand rows per record: no memo of every row written or read (pickle keeps
# one, which held a whole file in memory), and the rows are only strings, integers and bytes.
_RUN_CHUNK = 1024


def _write_run(path: Path, rows: list[tuple[str, int, int, bytes]]) -> Path:
    rows.sort()
    with path.open("wb") as f:
        for lo in range(0, len(rows), _RUN_CHUNK):
            marshal.dump(rows[lo:lo + _RUN_CHUNK], f)
    return path


def _read_run(path: Path) -> Iterator[tuple[str, int, int, bytes]]:
    with path.open("rb") as f:
        while True:
            try:
                chunk = marshal.load(f)
            except EOFError:
                return
            yield from chunk


def _still_quoted(line: bytes, quoted: bool) -> bool:
    """Whether a quoted field is open at the end of `line`, given whether one was at its start, by CSV's rules as
    the server reads them: a quote opens a field only as its first character (`27" monitor` is text), and `""`
    inside one is a quote."""
    i = 0
    while True:
        q = line.find(b'"', i)
        if q < 0:
            return quoted
        if quoted:
            if line[q + 1:q + 2] == b'"':
                i = q + 2
                continue
            quoted = False
        elif q == 0 or line[q - 1:q] == b",":
            quoted = True
        i = q + 1


def _records(f: IO[bytes]) -> Iterator[bytes]:
    # A CSV record may span lines inside quotes; keep such records whole so parts split between records. Each line
    # is looked at once: recounting a growing record's quotes made one stray quote cost time quadratic in the rest
    # of the file (a 4 MB file took minutes).
    pending: list[bytes] = []
    quoted = False
    for line in f:
        if quoted or b'"' in line:
            quoted = _still_quoted(line, quoted)
        pending.append(line)
        if not quoted:
            yield b"".join(pending)
            pending = []
    if pending:
        yield b"".join(pending)


def _file_lines(row: dict[str, object], lines: list[int]) -> dict[str, object]:
    """An error row of a part numbered by the file's lines (the server numbers the part's own)."""

    def at(part_line: object) -> int:
        n = int(str(part_line))
        return lines[n - 1] if 0 < n <= len(lines) else n

    line = at(row["line"])
    if "last_line" not in row:
        return {"line": line, "error": row["error"]}
    # A quote never closed: the message names lines of the part too.
    last = at(row["last_line"])
    return {"line": line, "last_line": last, "error": unterminated_quote(line, last)}


def _progress(done: int, total: int, rows: int, started: float) -> None:
    width = 30
    frac = done / total if total else 1.0
    bar = "#" * int(width * frac)
    rate = done / max(1e-6, time.monotonic() - started) / 1e6
    sys.stderr.write(f"\r[{bar:<{width}}] {frac * 100:5.1f}%  {rows:,} rows imported  {rate:.1f} MB/s")
    sys.stderr.flush()


def _post(client: httpx.Client, url: str, params: dict[str, str], name: str, part: bytes) -> httpx.Response:
    try:
        return client.post("/import", params=params, files={"file": (name, part, "text/csv")})
    except httpx.ConnectError:
        raise ImportFailed(f"cannot reach a LeadVibe server at {url}: nothing answers there. Is `leadvibe serve` "
                           "running, and do --url (or LEADVIBE_HOST / LEADVIBE_PORT) point at it?") from None
    except httpx.TimeoutException:
        raise ImportFailed(f"the LeadVibe server at {url} did not answer in time; check that it is running "
                           "and not overloaded, then import again (rows already imported are duplicates "
                           "only if they carry an event_id)") from None
    except httpx.HTTPError as exc:
        raise ImportFailed(f"talking to the LeadVibe server at {url} failed: {exc}") from None


def _refused(url: str, r: httpx.Response) -> ImportFailed:
    try:
        message = r.json().get("error", r.text)
    except ValueError:
        message = r.text.strip()[:200] or r.reason_phrase
    hint = ""
    if r.status_code == 401:
        hint = " (check --client-id / --client-secret, or LEADVIBE_CLIENT_ID / LEADVIBE_CLIENT_SECRET)"
    elif r.status_code == 404:
        hint = " (is --url the address of a LeadVibe server?)"
    return ImportFailed(f"the server at {url} refused the import ({r.status_code}): {message}{hint}")


def run_import(path: Path, url: str, auth: httpx.Auth | None, headers: dict[str, str], skip_triggers: bool,
               show_progress: bool = True, by_lead: bool = False) -> ImportTotals:
    """Send the file in parts (grouped by lead with `by_lead`); raise ImportFailed naming the server and what to
    check when it stops."""
    totals = ImportTotals()
    size = path.stat().st_size
    started = time.monotonic()
    params = {"skip_triggers": "true"} if skip_triggers else {}
    url = url.rstrip("/")
    # Whether stderr's last line is a progress line still open: a failure's message then starts on a line of its
    # own, and otherwise on the first.
    line_open = False
    try:
        client = httpx.Client(base_url=url, auth=auth, headers=headers, timeout=300)
    except httpx.InvalidURL as exc:
        raise ImportFailed(f"--url {url} is not an address a server can be reached at: {exc}") from None
    with client:
        if by_lead and show_progress:
            sys.stderr.write("grouping the rows by lead...")
            sys.stderr.flush()
            line_open = True
        parts = (split_csv_by_lead if by_lead else split_csv)(path)
        try:
            for part, lines, consumed in parts:
                r = _post(client, url, params, path.name, part)
                if r.status_code != 202:
                    raise _refused(url, r)
                body = r.json()
                totals.imported += int(body["imported"])
                totals.duplicates += int(body.get("duplicates", 0))
                totals.errors += int(body["errors"])
                totals.ignored_columns = list(body.get("ignored_columns", []))
                for row in body.get("error_rows", []):
                    if len(totals.error_rows) < 100:
                        totals.error_rows.append(_file_lines(row, lines))
                if show_progress:
                    _progress(consumed, size, totals.imported, started)
                    line_open = True
        except ImportFailed:
            if line_open:
                sys.stderr.write("\n")
            raise
        except KeyboardInterrupt:
            if line_open:
                sys.stderr.write("\n")
            raise ImportInterrupted(
                f"import interrupted: {totals.imported:,} events imported ({totals.duplicates:,} duplicates, "
                f"{totals.errors:,} rows with errors) in the parts the server acknowledged; the part on its way "
                "may be imported too. Importing the file again skips the rows that carry an event_id as "
                "duplicates; rows without one would be imported twice") from None
        finally:
            parts.close()  # the grouped copy of --by-lead is deleted at once
    if show_progress:
        sys.stderr.write("\n")
    totals.error_rows.sort(key=lambda row: int(str(row["line"])))
    return totals
