"""`leadvibe import FILE`: send a CSV of events to a running server through `POST /import`, in parts, with a
progress bar. Every row goes through the server's own pipeline (validation, `source=import`, scoring).

The file is sent in parts of at most 2,000 rows (or 1 MB), split on row boundaries (each part repeats the header,
and line numbers in the error report refer to the original file): a part is acknowledged once its rows are
durable, so the progress bar moves by rows as the server acknowledges them, on small files too, and no part comes
near the endpoint's 10 MB limit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

PART_BYTES = 1024 * 1024
PART_ROWS = 2000


@dataclass
class ImportTotals:
    """What the whole file did."""

    imported: int = 0
    duplicates: int = 0
    errors: int = 0
    error_rows: list[dict[str, object]] = field(default_factory=list)


class ImportFailed(RuntimeError):
    """The import stopped; the message names the server and what to check."""


def split_csv(path: Path, part_bytes: int = PART_BYTES, part_rows: int = PART_ROWS) -> Iterator[tuple[bytes, int, int]]:
    """Yield (part with header, line offset of its first data row minus one, bytes of the source consumed)."""
    with path.open("rb") as f:
        header = f.readline()
        if not header:
            return
        offset, lines, buf = 0, 0, [header]
        size = len(header)
        consumed = len(header)
        for line in _records(f):
            buf.append(line)
            size += len(line)
            consumed += len(line)
            lines += line.count(b"\n") or 1
            if size >= part_bytes or len(buf) > part_rows:
                yield b"".join(buf), offset, consumed
                offset += lines
                lines, buf, size = 0, [header], len(header)
        if len(buf) > 1:
            yield b"".join(buf), offset, consumed


def _records(f: IO[bytes]) -> Iterator[bytes]:
    # A CSV record may span lines inside quotes; keep such records whole so parts split between records.
    pending = b""
    for line in f:
        pending += line
        if pending.count(b'"') % 2 == 0:
            yield pending
            pending = b""
    if pending:
        yield pending


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
               show_progress: bool = True) -> ImportTotals:
    """Send the file in parts; raise ImportFailed naming the server and what to check when it stops."""
    totals = ImportTotals()
    size = path.stat().st_size
    started = time.monotonic()
    params = {"skip_triggers": "true"} if skip_triggers else {}
    url = url.rstrip("/")
    with httpx.Client(base_url=url, auth=auth, headers=headers, timeout=300) as client:
        for part, offset, consumed in split_csv(path):
            r = _post(client, url, params, path.name, part)
            if r.status_code != 202:
                raise _refused(url, r)
            body = r.json()
            totals.imported += int(body["imported"])
            totals.duplicates += int(body.get("duplicates", 0))
            totals.errors += int(body["errors"])
            for row in body.get("error_rows", []):
                if len(totals.error_rows) < 100:
                    totals.error_rows.append({"line": int(row["line"]) + offset, "error": row["error"]})
            if show_progress:
                _progress(consumed, size, totals.imported, started)
    if show_progress:
        sys.stderr.write("\n")
    return totals
