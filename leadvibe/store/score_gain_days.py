"""Per lead and UTC day, how much a lead's score rows rose in its OU's primary ruleset (migration 0060): the bounds
score gains walk.

Triggers keep `score_gain_days` exact for every writer but two: the worker's batches and the decay passes insert
score rows with the triggers suspended (store.analytics_hours says why) and add the same sums here, one row per
(ruleset, day, lead), in the same transaction. Only primary rulesets are kept (`score_gain_rulesets`, which
triggers on `rulesets` maintain), each from its first day kept on: `prune_step` moves that day on as time goes by,
so the table holds about a month of days whatever the history's length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

import apsw

from leadvibe.db.rows import execute_rows, scalar

__all__ = ["DAY_MS", "KEEP_DAYS", "Kept", "RiseSums", "add_rises", "day_of", "kept", "kept_rulesets", "prune_step",
           "sum_rises"]

DAY_MS = 86_400_000
# A score-gains window reaches at most 720 hours back; a day more covers the partial first day.
KEEP_DAYS = 32

RiseSums = dict[tuple[int, int, str], int]  # (ruleset key, day, lead_id) -> sum of positive deltas


@dataclass(frozen=True)
class Kept:
    """A ruleset whose days are kept: its rows' key, and the first day kept (every day from it on is exact)."""

    key: int
    first_day: int


def day_of(ms: int) -> int:
    """The UTC day an instant falls in, as the triggers compute it (floor, also before 1970)."""
    return ms // DAY_MS


def kept_rulesets(conn: apsw.Connection) -> dict[str, Kept]:
    """ruleset_id -> Kept, for every ruleset whose days are kept (one per OU at most: its primary)."""
    return {r: Kept(int(k), int(d)) for r, k, d in conn.execute(
        "SELECT ruleset_id, ruleset, day FROM score_gain_rulesets")}


def kept(conn: apsw.Connection, ruleset_id: str) -> Kept | None:
    """How a ruleset's days are kept; None when they are not (not a primary)."""
    return kept_rulesets(conn).get(ruleset_id)  # one row per OU: read whole


def sum_rises(scores: Iterable[tuple[str, int, str, int]], rulesets: Mapping[str, Kept],
              into: RiseSums | None = None) -> RiseSums:
    """Sums of the positive deltas of (ruleset_id, occurred_at of the event, lead_id, delta) score rows of the
    kept `rulesets` on their kept days, added to `into`'s when given."""
    sums: RiseSums = into if into is not None else {}
    if not rulesets:
        return sums
    for ruleset_id, occurred_at, lead_id, delta in scores:
        if delta > 0 and (k := rulesets.get(ruleset_id)) is not None:
            day = occurred_at // DAY_MS
            if day >= k.first_day:
                key = (k.key, day, lead_id)
                sums[key] = sums.get(key, 0) + delta
    return sums


@cache
def _add_sql(n: int) -> str:
    """The triggers' upsert for n rows at once (each (ruleset, day, lead) once: the sums are per key)."""
    return (f"INSERT INTO score_gain_days (ruleset, day, lead_id, rises) VALUES {','.join(['(?,?,?,?)'] * n)}"
            " ON CONFLICT (ruleset, day, lead_id) DO UPDATE SET rises = rises + excluded.rises")


def add_rises(conn: apsw.Connection, sums: Mapping[tuple[int, int, str], int]) -> None:
    """Add summed rises (in the caller's transaction), many rows per statement."""
    execute_rows(conn, _add_sql, [(*k, n) for k, n in sums.items()])


def prune_step(conn: apsw.Connection, now: int) -> int:
    """Move each kept ruleset's first day on to KEEP_DAYS before `now`'s day, deleting at most its oldest kept day's
    rows (in the caller's transaction: a history imported into a new primary can leave weeks of days to delete, one
    day's rows per write). Returns how many rows went; 0 when nothing is left to delete."""
    first = day_of(now) - KEEP_DAYS
    deleted = 0
    for k in kept_rulesets(conn).values():
        if k.first_day >= first:
            continue
        oldest = scalar(conn, "SELECT min(day) FROM score_gain_days WHERE ruleset = ?", (k.key,))
        if oldest is None or oldest >= first:
            conn.execute("UPDATE score_gain_rulesets SET day = ? WHERE ruleset = ?", (first, k.key))
            continue
        conn.execute("UPDATE score_gain_rulesets SET day = ? WHERE ruleset = ?", (oldest + 1, k.key))
        conn.execute("DELETE FROM score_gain_days WHERE ruleset = ? AND day = ?", (k.key, oldest))
        deleted += conn.changes()
    return deleted

