"""Time on the wire and in the database: int milliseconds since the epoch (UTC) inside, RFC 3339 `Z` outside."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """The wall clock. Tests pass a `ManualClock` so decay and windows never need sleeping."""

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch."""
        return time.time_ns() // 1_000_000


class ManualClock(Clock):
    """A clock that only moves when told to."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = start_ms if start_ms is not None else time.time_ns() // 1_000_000

    def now_ms(self) -> int:
        """The current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self._now += int(seconds * 1000)

    def set(self, ms: int) -> None:
        """Jump to an absolute time."""
        self._now = ms


def to_rfc3339(ms: int | None) -> str | None:
    """`1726410600000` -> `2024-09-15T14:30:00Z` (milliseconds kept only when non-zero)."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> int:
    """Parse an RFC 3339 timestamp with any offset to epoch ms; raise ValueError naming the problem."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt ":
        raise ValueError("must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z")
    s = text.strip()
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z") from None
    if dt.tzinfo is None:
        raise ValueError("must include a UTC offset (Z or +hh:mm)")
    return int(dt.timestamp() * 1000)


RANGES = ("all", "today", "yesterday", "last_24h", "last_7d", "last_30d", "last_90d")


def range_bounds(name: str, now_ms: int) -> tuple[int | None, int | None]:
    """Named range -> (start_ms inclusive, end_ms exclusive) in UTC; `all` -> (None, None)."""
    day = 86_400_000
    midnight = now_ms - now_ms % day
    table: dict[str, tuple[int | None, int | None]] = {
        "all": (None, None),
        "today": (midnight, None),
        "yesterday": (midnight - day, midnight),
        "last_24h": (now_ms - day, None),
        "last_7d": (now_ms - 7 * day, None),
        "last_30d": (now_ms - 30 * day, None),
        "last_90d": (now_ms - 90 * day, None),
    }
    if name not in table:
        raise ValueError(f"range must be one of {', '.join(RANGES)}")
    return table[name]
