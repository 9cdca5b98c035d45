"""The hourly analytics totals (migration 0041) summed for many rows at once.

Triggers keep `analytics_event_hours` and `analytics_score_hours` exact for every writer, one trigger program per
inserted row (a probe of the event for each score row, then an upsert). The worker's batches insert thousands of
rows into a handful of hours: they insert with the triggers suspended (`store.events.insert_scored_events`) and
add the same totals here, one upsert per (OU, hour, type) and per (OU, ruleset, hour), in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import apsw

from leadvibe.store.analytics_windows import HOUR_MS

EventHours = dict[tuple[str, int, str], int]  # (unit_id, hour, type_key) -> events
ScoreHours = dict[tuple[str, str, int], int]  # (unit_id, ruleset_id, hour) -> net delta

# The triggers' statements, with many rows' sums instead of one row's.
_ADD_EVENTS = ("INSERT INTO analytics_event_hours (unit_id, hour, type_key, events) VALUES (?,?,?,?)"
               " ON CONFLICT (unit_id, hour, type_key) DO UPDATE SET events = events + excluded.events")
_ADD_SCORES = ("INSERT INTO analytics_score_hours (unit_id, ruleset_id, hour, delta) VALUES (?,?,?,?)"
               " ON CONFLICT (unit_id, ruleset_id, hour) DO UPDATE SET delta = delta + excluded.delta")


def hour_of(ms: int) -> int:
    """The UTC hour an instant falls in, as the triggers compute it (floor, also before 1970)."""
    return ms // HOUR_MS


def sum_hours(events: Iterable[tuple[str, int, str]], scores: Iterable[tuple[str, str, int, int]],
              into: tuple[EventHours, ScoreHours] | None = None) -> tuple[EventHours, ScoreHours]:
    """Totals of (unit_id, occurred_at, type_key) events and (unit_id, ruleset_id, occurred_at of the event, delta)
    score rows, added to `into`'s when given. Every key a row touches is kept, a zero sum too: a trigger would have
    created its row."""
    event_hours, score_hours = into if into is not None else ({}, {})
    for unit_id, occurred_at, key in events:
        k = (unit_id, occurred_at // HOUR_MS, key)
        event_hours[k] = event_hours.get(k, 0) + 1
    for unit_id, ruleset_id, occurred_at, delta in scores:
        s = (unit_id, ruleset_id, occurred_at // HOUR_MS)
        score_hours[s] = score_hours.get(s, 0) + delta
    return event_hours, score_hours


def add_hours(conn: apsw.Connection, event_hours: Mapping[tuple[str, int, str], int],
              score_hours: Mapping[tuple[str, str, int], int]) -> None:
    """Add summed totals to the hourly tables (in the caller's transaction)."""
    rows: list[tuple[Any, ...]] = [(*k, n) for k, n in event_hours.items()]
    if rows:
        conn.executemany(_ADD_EVENTS, rows)
    rows = [(*k, d) for k, d in score_hours.items()]
    if rows:
        conn.executemany(_ADD_SCORES, rows)
