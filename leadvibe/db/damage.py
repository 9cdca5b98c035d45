"""Whether SQLite has found the database file damaged: what `/healthz` reports as `"database": "damaged"`.

A damaged page shows only when a statement reads it (`apsw.CorruptError`); a full check at start reads the whole
file (minutes at millions of events), and `/healthz`'s own probe reads none of the data. So every such failure
answered by the server is noted here, and the database stays `damaged` until the process restarts (a restored
backup is a new start).
"""

from __future__ import annotations

import apsw

__all__ = ["DAMAGE_ERRORS", "is_damaged", "note_damaged"]

DAMAGE_ERRORS = (apsw.CorruptError, apsw.NotADBError)

_seen: str | None = None


def note_damaged(exc: BaseException) -> None:
    """A statement just failed on a damaged database file."""
    global _seen
    _seen = str(exc)


def is_damaged() -> bool:
    """Whether a statement of this process has failed on a damaged database file."""
    return _seen is not None
