"""Time on the wire and in the database: int milliseconds since the epoch (UTC) inside, RFC 3339 `Z` outside."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import msgspec


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


# The instants accepted on input: an event, a rule's schedule or a query bound before the epoch or past year 9999
# (after its offset: `9999-12-31T23:59:59-12:00` is in year 10000) has no use here, and outside years 1-9999 it
# could not be written back as RFC 3339 at all.
MIN_MS = 0
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST = datetime(1, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)


# A response field holding what `to_rfc3339` writes: the OpenAPI document marks it `format: date-time`, so a
# generated client reads it as a date. Not for request fields, which take more forms (`parse_rfc3339`).
Instant = Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"format": "date-time"}})]


def to_rfc3339(ms: int | None) -> str | None:
    """`1726410600000` -> `2024-09-15T14:30:00Z` (milliseconds kept only when non-zero)."""
    if ms is None:
        return None
    try:
        dt = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        # Only a value stored before MIN_MS/MAX_MS were enforced can be outside years 1-9999: shown at the nearest
        # end rather than failing every list that holds it.
        dt = _FIRST if ms < 0 else _LAST
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    millis = dt.microsecond // 1000
    return f"{text}.{millis:03d}Z" if millis else f"{text}Z"


EXAMPLE = "such as 2025-09-15T14:30:00Z"
TIMESTAMP_FORM = f"must be an RFC 3339 timestamp {EXAMPLE}"
_NEEDS_OFFSET = f"must include a UTC offset (Z or +hh:mm), {EXAMPLE}"


def _why_not_rfc3339(text: object) -> str:
    """What a text too short or of the wrong shape for RFC 3339 lacks, in the words of the commonest mistakes."""
    if isinstance(text, str):
        s = text.strip()
        if s.isdigit():
            return f"{TIMESTAMP_FORM}, not a number of seconds or milliseconds"
        try:
            naive = datetime.fromisoformat(s).tzinfo is None
        except ValueError:
            return TIMESTAMP_FORM
        if naive and len(s) == 10:
            return f"must include a time and a UTC offset, {EXAMPLE}"
        if naive and len(s) == 19:
            return _NEEDS_OFFSET
    return TIMESTAMP_FORM


_RFC3339_SHAPE = re.compile(
    r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:(?P<second>\d\d)(?:\.\d+)?(?P<offset>[Zz]|[+-]\d\d:\d\d)?\Z")
_OTHER_OFFSET = re.compile(r"[+-](?:\d\d|\d{4}|\d\d:\d\d:\d\d)\Z")


def parse_rfc3339(text: str, *, clamp: bool = False, bound: bool = False) -> int:
    """Parse an RFC 3339 timestamp with any offset to epoch ms; raise ValueError naming the problem. `clamp`: a
    time outside 1970-9999 is taken as the nearest of those ends (a filter's bound: "from 1900 on" means from the
    first time anything can hold), where a stored time is refused. A time finer than the millisecond is cut to
    its millisecond when stored, and, with `bound` (the edge of a range over stored times, `[start, end)`),
    raised to the next one: the stored times at or after 00.0005 are those from 00.001 on."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt ":
        raise ValueError(_why_not_rfc3339(text))
    # Not stripped: RFC 3339 has no room for white space, before or after (the one before is refused above).
    s = text
    # RFC 3339's own form only: Python's ISO 8601 parser also reads week dates, offsets without a colon or with
    # seconds, and times without colons, none of which a client means by this field.
    shape = _RFC3339_SHAPE.match(s)
    if shape is None:
        if _OTHER_OFFSET.search(s) and _RFC3339_SHAPE.match(_OTHER_OFFSET.sub("Z", s)):
            raise ValueError(f"must write its UTC offset as Z or +hh:mm, {EXAMPLE}")
        raise ValueError(TIMESTAMP_FORM)
    if shape["offset"] is None:
        raise ValueError(_NEEDS_OFFSET)
    leap = shape["second"] == "60"  # a leap second (23:59:60Z): the instant after 23:59:59.999
    if leap:
        s = f"{s[:17]}59{s[19:]}"
    if s[-1] in "zZ":
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(TIMESTAMP_FORM) from None
    try:
        since = dt - _EPOCH
        ms = (-(-since // timedelta(milliseconds=1)) if bound else since // timedelta(milliseconds=1)) + (
            1000 if leap else 0)
    except OverflowError:
        ms = -1
    if not MIN_MS <= ms <= MAX_MS:
        if clamp:
            return min(max(ms, MIN_MS), MAX_MS)
        raise ValueError("must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    return ms


RANGES = ("all", "today", "yesterday", "last_24h", "last_7d", "last_30d", "last_90d")


_FRACTION = re.compile(r":\d\d\.(\d+)")


def finer_than_ms(text: str) -> bool:
    """Whether an RFC 3339 timestamp names an instant between two milliseconds (digits past the third that are not
    all 0): two such bounds can raise to one millisecond and still be a range, one that holds no stored time."""
    found = _FRACTION.search(text)
    return found is not None and found.group(1)[3:].strip("0") != ""


def range_bounds(name: str, now_ms: int) -> tuple[int | None, int | None]:
    """Named range -> (start_ms inclusive, end_ms exclusive) in UTC; `all` -> (None, None)."""
    day = 86_400_000
    midnight = now_ms - now_ms % day
    table: dict[str, tuple[int | None, int | None]] = {
        "all": (None, None),
        "today": (midnight, midnight + day),
        "yesterday": (midnight - day, midnight),
        "last_24h": (now_ms - day, None),
        "last_7d": (now_ms - 7 * day, None),
        "last_30d": (now_ms - 30 * day, None),
        "last_90d": (now_ms - 90 * day, None),
    }
    if name not in table:
        raise ValueError(f"range must be one of {', '.join(RANGES)}")
    return table[name]
