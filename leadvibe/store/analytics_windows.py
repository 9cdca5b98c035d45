"""Cutting a time window into whole UTC hours (read from the hourly totals of migration 0041) and the edges
around them (read from the rows), so a window's answer is the sum of both and nothing is counted twice."""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class HourSplit:
    """[start, end) as whole hours `first_hour <= h < end_hour` (end_hour None: no upper bound; no hours at all
    when first_hour is None) plus `edges`, the [a, b) instants outside them (b None: no upper bound)."""

    first_hour: int | None
    end_hour: int | None
    edges: tuple[tuple[int, int | None], ...]


def split_window(start: int, end: int | None = None) -> HourSplit:
    """Whole hours inside [start, end) and the edges left over (each shorter than an hour)."""
    first = -(-start // HOUR_MS)
    head = ((start, first * HOUR_MS),) if start < first * HOUR_MS else ()
    if end is None:
        return HourSplit(first, None, head)
    last = end // HOUR_MS
    if first >= last:
        return HourSplit(None, None, ((start, end),) if start < end else ())
    tail = ((last * HOUR_MS, end),) if last * HOUR_MS < end else ()
    return HourSplit(first, last, head + tail)
