"""Inorganic filters: bursts of one event type from one lead stop scoring past a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leadvibe.engine.normalize import type_key as normalize_type

__all__ = ["InorganicFilter", "filters_for", "fires", "first_in_window", "is_inorganic", "window_stats"]


@dataclass(frozen=True, slots=True)
class InorganicFilter:
    """More than ``count_threshold`` events of ``type_key`` within ``time_window_ms`` are inorganic."""

    filter_id: str
    type_key: str
    count_threshold: int
    time_window_ms: int
    group_events: bool


def filters_for(filters: Sequence[InorganicFilter], type_key: str) -> tuple[InorganicFilter, ...]:
    """The filters that apply to a (normalized) type key, in the given order (first match wins later)."""
    if not filters:
        return ()
    return tuple(f for f in filters if _normalized(f.type_key) == type_key)


# Filter type keys as stored -> normalized: asked once per scored event, and an OU has a handful of filters.
_NORMALIZED: dict[str, str] = {}


def _normalized(key: str) -> str:
    found = _NORMALIZED.get(key)
    if found is None:
        found = normalize_type(key)
        if len(_NORMALIZED) < 4096:
            _NORMALIZED[key] = found
    return found


def is_inorganic(f: InorganicFilter, prior_in_window: int) -> bool:
    """True when the event, being the ``prior_in_window + 1``-th of its lead and type in the window, exceeds
    ``count_threshold`` (a threshold of 0 makes every event of the type inorganic)."""
    return prior_in_window + 1 > f.count_threshold


def window_stats(
    history: Sequence[tuple[int, str]], f: InorganicFilter, ts_ms: int
) -> tuple[int, str | None]:
    """Count the lead's earlier events of the type that fall in the trailing window ``(ts - window, ts]``.

    ``history`` holds ``(ts_ms, event_id)`` of the earlier-arrived events of that type, in arrival order.
    Returns ``(count, event_id of the first of them in arrival order)``, or ``(0, None)``. Earlier arrivals
    with a later timestamp than ``ts_ms`` are outside the window: the window trails the event's own timestamp.
    The live worker computes the same two values in SQL.
    """
    low = ts_ms - f.time_window_ms
    count = 0
    first: str | None = None
    for event_ts, event_id in history:
        if low < event_ts <= ts_ms:
            if first is None:
                first = event_id
            count += 1
    return count, first


def fires(history: Sequence[tuple[int, str]], f: InorganicFilter, ts_ms: int) -> bool:
    """``is_inorganic(f, window_stats(history, f, ts_ms)[0])``, reading no more of ``history`` than it must: from
    the newest arrival back, until ``count_threshold`` of them lie in the window. In a burst (what filters are
    for) the window's events are the latest arrivals, so each event reads about the threshold's worth of them
    instead of the lead's whole history of the type."""
    need = f.count_threshold
    if need <= 0:
        return True
    low = ts_ms - f.time_window_ms
    for event_ts, _ in reversed(history):
        if low < event_ts <= ts_ms:
            need -= 1
            if not need:
                return True
    return False


def first_in_window(history: Sequence[tuple[int, str]], f: InorganicFilter, ts_ms: int) -> str | None:
    """``window_stats(history, f, ts_ms)[1]``: the first arrival with a timestamp in the window, read from the oldest
    arrival forward and no further (a burst is most of a lead's history of its type, so it is found early)."""
    low = ts_ms - f.time_window_ms
    for event_ts, event_id in history:
        if low < event_ts <= ts_ms:
            return event_id
    return None
