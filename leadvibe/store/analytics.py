"""SQL aggregates for analytics, stats, top leads, score gains and usage: one OU at a time, each on an index.

Plans (EXPLAIN QUERY PLAN, checked on a 1 M-event OU):
- whole-history counts per type come from the event type catalogue (`event_types.event_count`, kept by the
  worker per batch and lowered by deletions): one row per type instead of a pass over every event (a
  `GROUP BY type_key` over `events_unit_type_time` takes ~80-130 ms at 1 M events);
- windowed counts (events, active leads, score deltas) read the hourly totals of migration 0041 (one row per hour,
  per type or ruleset, kept exact by triggers) for the window's whole UTC hours, and the rows only for its edges
  (`analytics_windows.split_window`, under an hour each): covering range counts of `events_unit_time` /
  `events_unit_type_time` / `leads_unit_organic`, or the edge's events joined to `event_scores` by key. DECAY
  (system bookkeeping, not engagement) is left out of event counts by type;
- live-lead totals are `lead_counts` (migration 0021);
- joins that must be driven from one side say so with CROSS JOIN (SQLite keeps that order), so a new index
  elsewhere cannot flip them into a walk over every lead;
- score gains (`store/analytics_gains.py`) walk the window's engagement events type by type and probe
  `event_scores` by primary key, then add the DECAY rows of the few leads that can rank (a decay pass's rows are
  not walked);
- top leads walk `lead_scores_rank (unit_id, ruleset_id, score)` backwards and stop after `limit` rows (the
  primary ruleset's; another ruleset's rows are read whole by the table's key: only the primary is ranked).
"""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, scalar
from leadvibe.engine.levels import Level
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key
from leadvibe.store.analytics_gains import score_gains
from leadvibe.store.analytics_windows import HourSplit, split_window
from leadvibe.store.leads import LeadFilter, list_leads

__all__ = [
    "active_leads",
    "catalogue_counts",
    "engagement_levels",
    "primary_ruleset",
    "ruleset_exists",
    "score_delta",
    "score_gains",
    "top_leads",
    "top_types_since",
    "unit_counts",
    "units_of_org",
    "window_events",
]

DECAY_KEY = type_key(DECAY_EVENT_TYPE)

# Visible = no settings row, or one that does not hide the type.
_VISIBLE = ("NOT EXISTS (SELECT 1 FROM event_type_settings s WHERE s.unit_id = t.unit_id"
            " AND s.type_key = t.type_key AND s.hidden = 1)")


def primary_ruleset(conn: apsw.Connection, unit_id: str) -> str | None:
    """The OU's primary ruleset id (None when it has none yet)."""
    return scalar(conn, "SELECT id FROM rulesets WHERE unit_id = ? AND is_primary = 1", (unit_id,))


def ruleset_exists(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> bool:
    """A ruleset of this OU."""
    found = scalar(conn, "SELECT 1 FROM rulesets WHERE unit_id = ? AND id = ?", (unit_id, ruleset_id))
    return found is not None


def engagement_levels(conn: apsw.Connection, unit_id: str) -> list[Level]:
    """The OU's engagement levels."""
    return [Level(r["id"], r["name"], int(r["min_score"]), int(r["max_score"])) for r in query(
        conn, "SELECT id, name, min_score, max_score FROM levels WHERE unit_id = ? AND kind = 'engagement'",
        (unit_id,))]


def catalogue_counts(conn: apsw.Connection, unit_id: str) -> tuple[int, list[tuple[str, int]]]:
    """(all events ever stored and still there, [(display name, count)] of visible types with events).

    Hidden types count in the total (they are stored and processed) but are not listed by type. Events a client
    sent as `DECAY` are in the catalogue (the decay pass's are not) and are left out like the pass's: they are
    DECAY events everywhere else too (channel `system`, not activity).
    """
    rows: list[Any] = conn.execute(
        f"SELECT t.display_name, t.event_count, {_VISIBLE} FROM event_types t WHERE t.unit_id = ?"
        " AND t.type_key != ? ORDER BY t.event_count DESC, lower(t.display_name)", (unit_id, DECAY_KEY)).fetchall()
    total = sum(int(r[1]) for r in rows)
    return total, [(r[0], int(r[1])) for r in rows if r[2] and r[1] > 0]


def _hours(split: HourSplit) -> tuple[str, tuple[int, ...]]:
    """The SQL bound on `hour` for the split's whole hours (never true when it has none)."""
    if split.first_hour is None:
        return "0", ()
    if split.end_hour is None:
        return "hour >= ?", (split.first_hour,)
    return "hour >= ? AND hour < ?", (split.first_hour, split.end_hour)


def _edge(column: str, edge: tuple[int, int | None]) -> tuple[str, tuple[int, ...]]:
    """`column` in [a, b) (b None: no upper bound)."""
    a, b = edge
    return (f"{column} >= ?", (a,)) if b is None else (f"{column} >= ? AND {column} < ?", (a, b))


def window_events(conn: apsw.Connection, unit_id: str, start: int, end: int | None = None) -> int:
    """Events (not DECAY) with `start <= occurred_at < end`: the hourly totals of the whole hours, and for each
    edge two covering index range counts (every event minus DECAY)."""
    split = split_window(start, end)
    hours, params = _hours(split)
    total = int(scalar(conn, "SELECT COALESCE(SUM(events), 0) FROM analytics_event_hours"
                             f" WHERE unit_id = ? AND {hours} AND type_key != ?", (unit_id, *params, DECAY_KEY)) or 0)
    for edge in split.edges:
        bound, bounds = _edge("occurred_at", edge)
        every = scalar(conn, f"SELECT COUNT(*) FROM events WHERE unit_id = ? AND {bound}", (unit_id, *bounds))
        decay = scalar(conn, f"SELECT COUNT(*) FROM events WHERE unit_id = ? AND type_key = ? AND {bound}",
                       (unit_id, DECAY_KEY, *bounds))
        total += int(every or 0) - int(decay or 0)
    return total


def top_types_since(conn: apsw.Connection, unit_id: str, start: int, limit: int) -> list[tuple[str, int]]:
    """Visible types by number of events since `start`, most first: the hourly totals grouped by type, plus one
    covering range count per type over the edge before the first whole hour."""
    split = split_window(start)
    hours, params = _hours(split)
    edge_start, edge_end = split.edges[0] if split.edges else (start, start)
    rows: list[Any] = conn.execute(
        "WITH hours AS MATERIALIZED (SELECT type_key, SUM(events) AS n FROM analytics_event_hours"
        f"  WHERE unit_id = ? AND {hours} GROUP BY type_key)"
        " SELECT display_name, n FROM (SELECT t.display_name,"
        "  COALESCE((SELECT h.n FROM hours h WHERE h.type_key = t.type_key), 0)"
        "  + (SELECT COUNT(*) FROM events e WHERE e.unit_id = t.unit_id AND e.type_key = t.type_key"
        "     AND e.occurred_at >= ? AND e.occurred_at < ?) AS n"
        f" FROM event_types t WHERE t.unit_id = ? AND t.type_key != ? AND {_VISIBLE}) WHERE n > 0"
        " ORDER BY n DESC, lower(display_name) LIMIT ?",
        (unit_id, *params, edge_start, edge_end, unit_id, DECAY_KEY, limit)).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def active_leads(conn: apsw.Connection, unit_id: str, start: int, end: int | None = None) -> int:
    """Live leads whose latest organic event is in [start, end), i.e. leads with an organic event since
    `start` (`last_organic_at` is the maximum organic timestamp): the hourly totals of the whole hours, and a
    range of the partial index `leads_unit_organic` for each edge."""
    split = split_window(start, end)
    hours, params = _hours(split)
    total = int(scalar(conn, "SELECT COALESCE(SUM(leads), 0) FROM analytics_active_hours"
                             f" WHERE unit_id = ? AND {hours}", (unit_id, *params)) or 0)
    for edge in split.edges:
        bound, bounds = _edge("last_organic_at", edge)
        total += int(scalar(conn, "SELECT COUNT(*) FROM leads WHERE unit_id = ? AND merged_into IS NULL"
                                  f" AND {bound}", (unit_id, *bounds)) or 0)
    return total


def score_delta(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int) -> int:
    """Net change of `ruleset_id` scores from events with occurred_at >= start (DECAY included: it is a
    change): the hourly totals of the whole hours, and the edge's events joined to their score rows."""
    split = split_window(start)
    hours, params = _hours(split)
    total = int(scalar(conn, "SELECT COALESCE(SUM(delta), 0) FROM analytics_score_hours"
                             f" WHERE unit_id = ? AND ruleset_id = ? AND {hours}", (unit_id, ruleset_id, *params)) or 0)
    for edge in split.edges:
        bound, bounds = _edge("e.occurred_at", edge)
        total += int(scalar(conn, "SELECT COALESCE(SUM(s.delta), 0) FROM events e JOIN event_scores s"
                                  " ON s.event_seq = e.seq AND s.ruleset_id = ?"
                                  f" WHERE e.unit_id = ? AND {bound}", (ruleset_id, unit_id, *bounds)) or 0)
    return total


def top_leads(conn: apsw.Connection, unit_id: str, ruleset_id: str, limit: int) -> list[dict[str, Any]]:
    """Highest scores in a ruleset: the first page of the lead list sorted by that score (`list_leads`), so a lead
    without a score row counts as 0 here as there (it was left out)."""
    rows, _ = list_leads(conn, unit_id, ruleset_id, LeadFilter(sort="score_desc"), limit, 0)
    return [{"lead_id": r["id"], "score": r["score"], "last_event_at": r["last_event_at"],
             "profile_score": r["profile_score"], "account_id": r["account_id"]} for r in rows]


def units_of_org(conn: apsw.Connection, org_id: str) -> list[str]:
    """Every OU of an organization."""
    return [r[0] for r in conn.execute("SELECT id FROM org_units WHERE org_id = ?", (org_id,))]


def unit_counts(conn: apsw.Connection, unit_id: str) -> dict[str, int]:
    """API credentials and OU members (explicit memberships; org admins act in every OU without one)."""
    return {
        "api_credentials": int(scalar(conn, "SELECT COUNT(*) FROM api_credentials WHERE unit_id = ?",
                                      (unit_id,)) or 0),
        "members": int(scalar(conn, "SELECT COUNT(*) FROM ou_memberships WHERE unit_id = ?",
                              (unit_id,)) or 0),
    }
