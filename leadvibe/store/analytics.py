"""SQL aggregates for analytics, stats, top leads, score gains and usage: one OU at a time, each on an index.

Plans (EXPLAIN QUERY PLAN, checked on a 1 M-event OU):
- whole-history counts per type come from the event type catalogue (`event_types.event_count`, kept by the
  worker per batch and lowered by deletions): one row per type instead of a pass over every event (a
  `GROUP BY type_key` over `events_unit_type_time` takes ~80-130 ms at 1 M events);
- windowed event counts are covering range scans of `events_unit_time` / `events_unit_type_time`; DECAY
  (system bookkeeping, not engagement) is left out by subtracting its own covering range count;
- "active leads" are a range of `leads_unit_organic (unit_id, last_organic_at) WHERE merged_into IS NULL`;
  live-lead totals walk `leads_unit_created`, the other partial index of live leads (~20-40 ms per 100k
  leads: a partial index is not covering for its own condition, and a covering `(unit_id, merged_into, ...)`
  index was tried and dropped because it lured the planner into driving joins from `leads`);
- joins that must be driven from one side say so with CROSS JOIN (SQLite keeps that order), so a new index
  elsewhere cannot flip them into a walk over every lead;
- windowed score deltas walk `events_unit_time` for the window and probe `event_scores` by primary key;
- top leads walk `lead_scores_rank (unit_id, ruleset_id, score)` backwards and stop after `limit` rows.
"""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, scalar
from leadvibe.engine.levels import Level
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key

__all__ = [
    "active_leads",
    "catalogue_counts",
    "count_leads",
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

    Hidden types count in the total (they are stored and processed) but are not listed by type.
    """
    rows: list[Any] = conn.execute(
        f"SELECT t.display_name, t.event_count, {_VISIBLE} FROM event_types t WHERE t.unit_id = ?"
        " ORDER BY t.event_count DESC, lower(t.display_name)", (unit_id,)).fetchall()
    total = sum(int(r[1]) for r in rows)
    return total, [(r[0], int(r[1])) for r in rows if r[2] and r[1] > 0]


def window_events(conn: apsw.Connection, unit_id: str, start: int, end: int | None = None) -> int:
    """Events (not DECAY) with `start <= occurred_at < end`: two covering index range counts."""
    bound, params = ("AND occurred_at < ?", (end,)) if end is not None else ("", ())
    every = scalar(conn, f"SELECT COUNT(*) FROM events WHERE unit_id = ? AND occurred_at >= ? {bound}",
                   (unit_id, start, *params))
    decay = scalar(conn, "SELECT COUNT(*) FROM events WHERE unit_id = ? AND type_key = ?"
                         f" AND occurred_at >= ? {bound}", (unit_id, DECAY_KEY, start, *params))
    return int(every or 0) - int(decay or 0)


def top_types_since(conn: apsw.Connection, unit_id: str, start: int, limit: int) -> list[tuple[str, int]]:
    """Visible types by number of events since `start`, most first: one covering range count per type."""
    rows: list[Any] = conn.execute(
        "SELECT display_name, n FROM (SELECT t.display_name, (SELECT COUNT(*) FROM events e"
        f" WHERE e.unit_id = t.unit_id AND e.type_key = t.type_key AND e.occurred_at >= ?) AS n"
        f" FROM event_types t WHERE t.unit_id = ? AND {_VISIBLE}) WHERE n > 0"
        " ORDER BY n DESC, lower(display_name) LIMIT ?", (start, unit_id, limit)).fetchall()
    return [(r[0], int(r[1])) for r in rows]


def count_leads(conn: apsw.Connection, unit_id: str) -> int:
    """Live (not merged) leads of the OU (the partial index `leads_unit_created` holds exactly them)."""
    return int(scalar(conn, "SELECT COUNT(*) FROM leads WHERE unit_id = ? AND merged_into IS NULL",
                      (unit_id,)) or 0)


def active_leads(conn: apsw.Connection, unit_id: str, start: int, end: int | None = None) -> int:
    """Live leads whose latest organic event is in [start, end), i.e. leads with an organic event since
    `start` (`last_organic_at` is the maximum organic timestamp), over the partial index `leads_unit_organic`."""
    bound, params = ("AND last_organic_at < ?", (end,)) if end is not None else ("", ())
    return int(scalar(conn, "SELECT COUNT(*) FROM leads WHERE unit_id = ? AND merged_into IS NULL"
                            f" AND last_organic_at >= ? {bound}", (unit_id, start, *params)) or 0)


def score_delta(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int) -> int:
    """Net change of `ruleset_id` scores from events with occurred_at >= start (DECAY included: it is a
    change)."""
    return int(scalar(conn, "SELECT COALESCE(SUM(s.delta), 0) FROM events e JOIN event_scores s"
                            " ON s.event_seq = e.seq AND s.ruleset_id = ?"
                            " WHERE e.unit_id = ? AND e.occurred_at >= ?", (ruleset_id, unit_id, start)) or 0)


def top_leads(conn: apsw.Connection, unit_id: str, ruleset_id: str, limit: int) -> list[dict[str, Any]]:
    """Highest scores in a ruleset; ties in index order (lead id descending), so no sort is needed."""
    return query(conn, "SELECT s.lead_id, s.score, l.last_event_at, l.profile_score, l.account_id"
                       " FROM lead_scores s CROSS JOIN leads l"
                       " ON l.unit_id = s.unit_id AND l.id = s.lead_id"
                       " WHERE s.unit_id = ? AND s.ruleset_id = ? AND l.merged_into IS NULL"
                       " ORDER BY s.score DESC, s.lead_id DESC LIMIT ?", (unit_id, ruleset_id, limit))


def score_gains(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int, limit: int
                ) -> list[dict[str, Any]]:
    """Leads by net score gain in `ruleset_id` from events with occurred_at >= start; only positive gains.

    The gains are sorted inside the subquery, so the outer ORDER BY is already satisfied (no second sort) and
    the lead and score probes run for the first `limit` live leads only, not for every lead with a gain.
    """
    return query(conn, "SELECT g.lead_id, g.gain, COALESCE(ls.score, 0) AS score, l.last_event_at FROM ("
                       "  SELECT s.lead_id, SUM(s.delta) AS gain FROM events e JOIN event_scores s"
                       "  ON s.event_seq = e.seq AND s.ruleset_id = ?"
                       "  WHERE e.unit_id = ? AND e.occurred_at >= ? GROUP BY s.lead_id HAVING gain > 0"
                       "  ORDER BY gain DESC, s.lead_id) g"
                       " CROSS JOIN leads l ON l.unit_id = ? AND l.id = g.lead_id AND l.merged_into IS NULL"
                       " LEFT JOIN lead_scores ls ON ls.unit_id = l.unit_id AND ls.ruleset_id = ?"
                       " AND ls.lead_id = g.lead_id"
                       " ORDER BY g.gain DESC, g.lead_id LIMIT ?",
                 (ruleset_id, unit_id, start, unit_id, ruleset_id, limit))


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
