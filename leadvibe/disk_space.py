"""Whether the data directory's disk has room to write: what `/healthz` reports as `disk`.

A full disk shows in two ways: SQLite refusing a write (`apsw.FullError`, answered 503 by every route,
`errors.unexpected_error`), and little space left on the file system. Either alone misleads: a write can fail with
megabytes still free (a worker batch's WAL frames need more than that), and free space says nothing until something
is written. So the disk is `full` while the file system has less than `FULL_BELOW_BYTES` free, or a write failed for
want of space within `RECENT_S` and less than `ROOM_AFTER_FULL_BYTES` has come back since.
"""

from __future__ import annotations

import os
import time

__all__ = ["disk_state", "note_full"]

FULL_BELOW_BYTES = 1 << 20
RECENT_S = 60.0
ROOM_AFTER_FULL_BYTES = 64 << 20

_last_full: float | None = None


def note_full() -> None:
    """A write just failed because the disk is full (called where the failure is answered)."""
    global _last_full
    _last_full = time.monotonic()


def free_bytes(path: str) -> int | None:
    """Bytes an unprivileged process may still write on the file system holding `path` (None if unknown)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def disk_state(path: str, full_below: int = FULL_BELOW_BYTES, room_after_full: int = ROOM_AFTER_FULL_BYTES) -> str:
    """`full` or `ok` for the data directory at `path`, as the module's docstring says."""
    free = free_bytes(path)
    if free is None:
        return "ok"
    if free < full_below:
        return "full"
    recent = _last_full is not None and time.monotonic() - _last_full < RECENT_S
    return "full" if recent and free < room_after_full else "ok"
