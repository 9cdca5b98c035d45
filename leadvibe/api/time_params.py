"""Time bounds in a query (`start`/`end` of the history lists and a lead's activity): RFC 3339, a bound before 1970
or after 9999 taken at the nearest end (a history filter: "from 1900 on" means from the first time anything can
hold), raised to a whole millisecond (the stored times are whole milliseconds; `timeutil.parse_rfc3339`), and an
end at or before its start refused."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from leadvibe.errors import bad_request
from leadvibe.timeutil import finer_than_ms, parse_rfc3339

__all__ = ["TimeParam", "parse_time_param", "parse_time_range"]

# Blank is said with `$`: Python's reading (a final line break before it) changes nothing, a line break is blank.
TimeParam = Annotated[str | None, Parameter(
    description="RFC 3339 timestamp (blank: no bound; before 1970: from 1970)",
    schema_extra={"any_of": [{"format": "date-time"}, {"pattern": r"^\s*$"}]})]


def _bound(value: str, what: str, clamp: bool) -> tuple[int, bool]:
    """(epoch ms, whether it is exactly that millisecond: within 1970-9999 and no digits past the millisecond)."""
    try:  # not stripped: white space around a timestamp is refused here as in a body
        return parse_rfc3339(value, bound=True), not finer_than_ms(value)
    except ValueError as exc:
        if clamp:
            try:
                return parse_rfc3339(value, clamp=True, bound=True), False
            except ValueError:
                pass
        raise bad_request(f"`{what}` {exc}") from None


def parse_time_param(value: str | None, what: str, *, clamp: bool = True) -> int | None:
    """An optional RFC 3339 query parameter -> epoch ms (None when absent or blank; 400 when malformed; with
    `clamp`, a bound outside 1970-9999 taken at the nearest end, else refused)."""
    if value is None or not value.strip():
        return None
    return _bound(value, what, clamp)[0]


def parse_time_range(start: str | None, end: str | None) -> tuple[int | None, int | None]:
    """Optional `start`/`end` bounds of `[start, end)`: an end before its start is a 400, and so is one equal to
    it when both are exactly that millisecond (the same instant); two bounds raised to one millisecond from between
    two, or taken at the same end of 1970-9999, are an empty range."""
    if start is None or not start.strip() or end is None or not end.strip():
        return parse_time_param(start, "start"), parse_time_param(end, "end")
    (lo, lo_exact), (hi, hi_exact) = _bound(start, "start", True), _bound(end, "end", True)
    if hi < lo or (hi == lo and lo_exact and hi_exact):
        raise bad_request("`start` must be before `end`")
    return lo, hi
