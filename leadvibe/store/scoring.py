"""SQL for scoring configuration: rulesets, rules, inorganic filters, levels, surge policy, scoring settings.

Every function takes the connection, then the OU id, and filters by it: an id of another OU behaves exactly
like an unknown id. Writers run inside the caller's write transaction (`rt.db.write`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import apsw

from leadvibe.db.rows import query, query_one, scalar
from leadvibe.engine.levels import Level

# Columns an update may set, per table: the API layer validates values, this keeps names out of user input.
RULESET_FIELDS = frozenset({"name", "score_column", "active"})
RULE_FIELDS = frozenset(
    {"ruleset_id", "event_type", "type_key", "weight", "icon", "active", "start_at", "end_at"}
)
FILTER_FIELDS = frozenset({"event_type", "type_key", "count_threshold", "time_window_ms", "group_events"})
LEVEL_FIELDS = frozenset({"name", "min_score", "max_score"})


def _set_clause(fields: dict[str, Any], allowed: frozenset[str]) -> tuple[str, list[Any]]:
    unknown = set(fields) - allowed
    if unknown:  # a programming error, never user input
        raise ValueError(f"cannot update {sorted(unknown)}")
    names = sorted(fields)
    return ", ".join(f"{n} = ?" for n in names), [fields[n] for n in names]


# -- rulesets ------------------------------------------------------------------------------------------------
_RULESET_COLS = (
    "SELECT r.*, (SELECT COUNT(*) FROM rules x WHERE x.ruleset_id = r.id) AS rules_count FROM rulesets r"
)


def list_rulesets(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Rulesets of an OU, primary first, then by creation."""
    return query(
        conn,
        f"{_RULESET_COLS} WHERE r.unit_id = ? ORDER BY r.is_primary DESC, r.created_at, r.id",
        (unit_id,),
    )


def get_ruleset(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> dict[str, Any] | None:
    """One ruleset of the OU."""
    return query_one(conn, f"{_RULESET_COLS} WHERE r.unit_id = ? AND r.id = ?", (unit_id, ruleset_id))


def primary_ruleset(conn: apsw.Connection, unit_id: str) -> dict[str, Any] | None:
    """The OU's primary ruleset, if any."""
    return query_one(conn, f"{_RULESET_COLS} WHERE r.unit_id = ? AND r.is_primary = 1", (unit_id,))


def count_rulesets(conn: apsw.Connection, unit_id: str) -> int:
    """How many rulesets the OU has."""
    return int(scalar(conn, "SELECT COUNT(*) FROM rulesets WHERE unit_id = ?", (unit_id,)))


def ruleset_name_taken(conn: apsw.Connection, unit_id: str, name: str, exclude: str | None = None) -> bool:
    """True when another ruleset of the OU has this name (case-insensitive: queries pick rulesets by name)."""
    return (
        query_one(
            conn,
            "SELECT 1 FROM rulesets WHERE unit_id = ? AND name = ? COLLATE NOCASE AND id IS NOT ?",
            (unit_id, name, exclude),
        )
        is not None
    )


def _clear_primary(conn: apsw.Connection, unit_id: str, now: int, keep: str | None = None) -> None:
    # Cleared before the new primary is set: the partial unique index allows one primary per OU at any moment.
    # `keep` (the ruleset made primary) keeps its flag: clearing and setting it again would rebuild what hangs on
    # it (the ranked scores, the score-gain days) for nothing.
    conn.execute(
        "UPDATE rulesets SET is_primary = 0, updated_at = ? WHERE unit_id = ? AND is_primary = 1 AND id IS NOT ?",
        (now, unit_id, keep),
    )


def create_ruleset(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    ruleset_id: str,
    name: str,
    score_column: str,
    is_primary: bool,
    created_by: str | None,
    now: int,
) -> dict[str, Any]:
    """Insert a ruleset; making it primary clears the flag on the others in the same transaction."""
    if is_primary:
        _clear_primary(conn, unit_id, now)
    conn.execute(
        "INSERT INTO rulesets (id, org_id, unit_id, name, score_column, is_primary, active, created_by,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,1,?,?,?)",
        (ruleset_id, org_id, unit_id, name, score_column, int(is_primary), created_by, now, now),
    )
    return get_ruleset(conn, unit_id, ruleset_id)  # type: ignore[return-value]


def update_ruleset(
    conn: apsw.Connection,
    unit_id: str,
    ruleset_id: str,
    fields: dict[str, Any],
    is_primary: bool | None,
    now: int,
) -> dict[str, Any] | None:
    """Change name/score_column/active and, when given, the primary flag (setting it clears the others)."""
    if is_primary:
        _clear_primary(conn, unit_id, now, keep=ruleset_id)
    if is_primary is not None:
        conn.execute(
            "UPDATE rulesets SET is_primary = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
            (int(is_primary), now, unit_id, ruleset_id),
        )
    if fields:
        sets, values = _set_clause(fields, RULESET_FIELDS)
        conn.execute(
            f"UPDATE rulesets SET {sets}, updated_at = ? WHERE unit_id = ? AND id = ?",
            (*values, now, unit_id, ruleset_id),
        )
    return get_ruleset(conn, unit_id, ruleset_id)


def delete_ruleset(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> dict[str, int]:
    """Delete a ruleset with its rules, its per-event scores and its lead scores; return what went."""
    counts = {}
    for table in ("rules", "event_scores", "lead_scores"):
        if table == "event_scores":  # found through the OU's events: score rows are keyed by event
            conn.execute("DELETE FROM event_scores WHERE ruleset_id = ? AND event_seq IN"
                         " (SELECT seq FROM events WHERE unit_id = ?)", (ruleset_id, unit_id))
        else:
            conn.execute(f"DELETE FROM {table} WHERE unit_id = ? AND ruleset_id = ?", (unit_id, ruleset_id))
        counts[table] = conn.changes()
    conn.execute("DELETE FROM rulesets WHERE unit_id = ? AND id = ?", (unit_id, ruleset_id))
    return counts


# -- rules ---------------------------------------------------------------------------------------------------
def list_rules(conn: apsw.Connection, unit_id: str, ruleset_id: str | None = None) -> list[dict[str, Any]]:
    """Rules of the OU (or of one of its rulesets) in creation order, which is also the matching order."""
    if ruleset_id is None:
        return query(conn, "SELECT * FROM rules WHERE unit_id = ? ORDER BY created_at, id", (unit_id,))
    return query(
        conn,
        "SELECT * FROM rules WHERE unit_id = ? AND ruleset_id = ? ORDER BY created_at, id",
        (unit_id, ruleset_id),
    )


def get_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> dict[str, Any] | None:
    """One rule of the OU."""
    return query_one(conn, "SELECT * FROM rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id))


def create_rule(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    rule_id: str,
    ruleset_id: str,
    event_type: str,
    type_key: str,
    weight: int,
    icon: str | None,
    active: bool,
    start_at: int | None,
    end_at: int | None,
    actor: str | None,
    now: int,
) -> dict[str, Any]:
    """Insert a rule into a ruleset of the OU (the caller has checked the ruleset belongs to it)."""
    conn.execute(
        "INSERT INTO rules (id, ruleset_id, org_id, unit_id, event_type, type_key, weight, icon, active,"
        " start_at, end_at, created_by, updated_by, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            rule_id,
            ruleset_id,
            org_id,
            unit_id,
            event_type,
            type_key,
            weight,
            icon,
            int(active),
            start_at,
            end_at,
            actor,
            actor,
            now,
            now,
        ),
    )
    return get_rule(conn, unit_id, rule_id)  # type: ignore[return-value]


def update_rule(
    conn: apsw.Connection, unit_id: str, rule_id: str, fields: dict[str, Any], actor: str | None, now: int
) -> dict[str, Any] | None:
    """Set the given columns of a rule."""
    if fields:
        sets, values = _set_clause(fields, RULE_FIELDS)
        conn.execute(
            f"UPDATE rules SET {sets}, updated_by = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
            (*values, actor, now, unit_id, rule_id),
        )
    return get_rule(conn, unit_id, rule_id)


def delete_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> bool:
    """Delete a rule; False when the OU has no such rule."""
    conn.execute("DELETE FROM rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id))
    return conn.changes() > 0


# -- inorganic filters ---------------------------------------------------------------------------------------
def list_filters(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Filters of the OU in creation order (the first that finds an event inorganic wins)."""
    return query(
        conn, "SELECT * FROM inorganic_filters WHERE unit_id = ? ORDER BY created_at, id", (unit_id,)
    )


def get_filter(conn: apsw.Connection, unit_id: str, filter_id: str) -> dict[str, Any] | None:
    """One filter of the OU."""
    return query_one(
        conn, "SELECT * FROM inorganic_filters WHERE unit_id = ? AND id = ?", (unit_id, filter_id)
    )


def create_filter(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    filter_id: str,
    event_type: str,
    type_key: str,
    count_threshold: int,
    time_window_ms: int,
    group_events: bool,
    actor: str | None,
    now: int,
) -> dict[str, Any]:
    """Insert an inorganic filter."""
    conn.execute(
        "INSERT INTO inorganic_filters (id, org_id, unit_id, event_type, type_key, count_threshold,"
        " time_window_ms, group_events, created_by, updated_by, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            filter_id,
            org_id,
            unit_id,
            event_type,
            type_key,
            count_threshold,
            time_window_ms,
            int(group_events),
            actor,
            actor,
            now,
            now,
        ),
    )
    return get_filter(conn, unit_id, filter_id)  # type: ignore[return-value]


def update_filter(
    conn: apsw.Connection, unit_id: str, filter_id: str, fields: dict[str, Any], actor: str | None, now: int
) -> dict[str, Any] | None:
    """Set the given columns of a filter."""
    if fields:
        sets, values = _set_clause(fields, FILTER_FIELDS)
        conn.execute(
            f"UPDATE inorganic_filters SET {sets}, updated_by = ?, updated_at = ?"
            " WHERE unit_id = ? AND id = ?",
            (*values, actor, now, unit_id, filter_id),
        )
    return get_filter(conn, unit_id, filter_id)


def delete_filter(conn: apsw.Connection, unit_id: str, filter_id: str) -> bool:
    """Delete a filter; False when the OU has no such filter."""
    conn.execute("DELETE FROM inorganic_filters WHERE unit_id = ? AND id = ?", (unit_id, filter_id))
    return conn.changes() > 0


# -- levels --------------------------------------------------------------------------------------------------
def list_levels(conn: apsw.Connection, unit_id: str, kind: str) -> list[dict[str, Any]]:
    """Levels of one kind, lowest band first."""
    return query(
        conn,
        "SELECT * FROM levels WHERE unit_id = ? AND kind = ? ORDER BY min_score, max_score, id",
        (unit_id, kind),
    )


def levels_of(conn: apsw.Connection, unit_id: str, kind: str) -> list[Level]:
    """Levels of one kind as the engine's bands (what `engine.levels.level_for` decides over)."""
    return [
        Level(r["id"], r["name"], int(r["min_score"]), int(r["max_score"])) for r in list_levels(conn, unit_id, kind)
    ]


def get_level(conn: apsw.Connection, unit_id: str, kind: str, level_id: str) -> dict[str, Any] | None:
    """One level of the OU and kind (an engagement id does not answer on the profile path)."""
    return query_one(
        conn, "SELECT * FROM levels WHERE unit_id = ? AND kind = ? AND id = ?", (unit_id, kind, level_id)
    )


def create_level(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    level_id: str,
    kind: str,
    name: str,
    min_score: int,
    max_score: int,
    actor: str | None,
    now: int,
) -> dict[str, Any]:
    """Insert a level."""
    conn.execute(
        "INSERT INTO levels (id, org_id, unit_id, kind, name, min_score, max_score, created_by, updated_by,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (level_id, org_id, unit_id, kind, name, min_score, max_score, actor, actor, now, now),
    )
    return get_level(conn, unit_id, kind, level_id)  # type: ignore[return-value]


def update_level(
    conn: apsw.Connection,
    unit_id: str,
    kind: str,
    level_id: str,
    fields: dict[str, Any],
    actor: str | None,
    now: int,
) -> dict[str, Any] | None:
    """Set the given columns of a level."""
    if fields:
        sets, values = _set_clause(fields, LEVEL_FIELDS)
        conn.execute(
            f"UPDATE levels SET {sets}, updated_by = ?, updated_at = ? WHERE unit_id = ? AND kind = ?"
            " AND id = ?",
            (*values, actor, now, unit_id, kind, level_id),
        )
    return get_level(conn, unit_id, kind, level_id)


def delete_level(conn: apsw.Connection, unit_id: str, kind: str, level_id: str) -> bool:
    """Delete a level; False when the OU has no such level of that kind."""
    conn.execute("DELETE FROM levels WHERE unit_id = ? AND kind = ? AND id = ?", (unit_id, kind, level_id))
    return conn.changes() > 0


# -- scoring settings and surge policy -----------------------------------------------------------------------
def scoring_settings(conn: apsw.Connection, org_id: str, unit_id: str) -> dict[str, Any] | None:
    """The organization's toggles, the OU's session timeout (minutes: what an OU without a saved surge policy
    uses), and the saved surge policy's idle reset (seconds, None without one: the timeout in effect then)."""
    return query_one(
        conn,
        "SELECT o.allow_negative_scores, o.abm_enabled, u.session_timeout_minutes, p.idle_reset_seconds"
        " FROM org_units u JOIN organizations o ON o.id = u.org_id"
        " LEFT JOIN surge_policies p ON p.unit_id = u.id WHERE u.id = ? AND o.id = ?",
        (unit_id, org_id),
    )


def set_surge_idle(conn: apsw.Connection, unit_id: str, seconds: int, now: int) -> None:
    """The saved surge policy's idle reset (no row changes for an OU without one)."""
    conn.execute("UPDATE surge_policies SET idle_reset_seconds = ?, updated_at = ? WHERE unit_id = ?",
                 (seconds, now, unit_id))


def org_unit_ids(conn: apsw.Connection, org_id: str) -> list[str]:
    """Every OU of the organization (org-wide toggles change every OU's scoring configuration)."""
    return [r[0] for r in conn.execute("SELECT id FROM org_units WHERE org_id = ?", (org_id,))]


def get_surge_policy(conn: apsw.Connection, unit_id: str) -> dict[str, Any] | None:
    """The saved surge policy of the OU (bands decoded), or None."""
    row = query_one(conn, "SELECT * FROM surge_policies WHERE unit_id = ?", (unit_id,))
    if row is not None:
        row["bands"] = json.loads(row["bands"])
    return row


def upsert_surge_policy(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    mode: str,
    bands: list[dict[str, Any]],
    idle_reset_seconds: int,
    multiplier_cap: float,
    now: int,
) -> dict[str, Any]:
    """Save the OU's surge policy; `bands` is stored as JSON `[{"min_events","multiplier"}, ...]`."""
    conn.execute(
        "INSERT INTO surge_policies (unit_id, org_id, mode, bands, idle_reset_seconds, multiplier_cap,"
        " updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (unit_id) DO UPDATE SET mode = excluded.mode,"
        " bands = excluded.bands, idle_reset_seconds = excluded.idle_reset_seconds,"
        " multiplier_cap = excluded.multiplier_cap, updated_at = excluded.updated_at",
        (unit_id, org_id, mode, json.dumps(bands), idle_reset_seconds, multiplier_cap, now),
    )
    return get_surge_policy(conn, unit_id)  # type: ignore[return-value]


# -- reads for rescoring and backtests -----------------------------------------------------------------------
def live_lead_ids(conn: apsw.Connection, unit_id: str) -> list[str]:
    """Every live (not merged) lead of the OU."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT id FROM leads WHERE unit_id = ? AND merged_into IS NULL ORDER BY id", (unit_id,)
        )
    ]


def ruleset_scores(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> dict[str, int]:
    """lead_id -> score in one ruleset (leads without a row score 0)."""
    return {
        r[0]: int(r[1])
        for r in conn.execute(
            "SELECT lead_id, score FROM lead_scores WHERE unit_id = ? AND ruleset_id = ?",
            (unit_id, ruleset_id),
        )
    }


def lead_scores_by_ruleset(
    conn: apsw.Connection, unit_id: str, lead_ids: Iterable[str], ruleset_id: str | None = None
) -> dict[tuple[str, str], int]:
    """(lead_id, ruleset_id) -> score for the given leads (every ruleset, or one), in the order of `lead_ids`;
    one query whatever the number of leads."""
    ids = list(dict.fromkeys(lead_ids))
    sql = (
        "SELECT lead_id, ruleset_id, score FROM lead_scores"
        " WHERE unit_id = ? AND lead_id IN (SELECT value FROM json_each(?))"
    )
    params: list[Any] = [unit_id, json.dumps(ids)]
    if ruleset_id is not None:
        sql += " AND ruleset_id = ?"
        params.append(ruleset_id)
    by_lead: dict[str, list[tuple[str, int]]] = {}
    for lead_id, rs, score in conn.execute(sql + " ORDER BY lead_id, ruleset_id", params):
        by_lead.setdefault(lead_id, []).append((rs, int(score)))
    return {(lead_id, rs): score for lead_id in ids for rs, score in by_lead.get(lead_id, ())}


def scores_in_lead_order(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> Iterator[tuple[str, int]]:
    """(lead_id, score) of every lead with a score in the ruleset, in lead_id order (the primary key's)."""
    for lead_id, score in conn.execute(
        "SELECT lead_id, score FROM lead_scores WHERE unit_id = ? AND ruleset_id = ? ORDER BY lead_id",
        (unit_id, ruleset_id),
    ):
        yield lead_id, int(score)


# Decay events carry their decrease in metadata; observe-scope events are stored but not processed
# (engine.bulk's event kinds). A decrease that is missing or unreadable counts as 0, as the engine's reader does.
# The two halves of the OU's events (migration 0061), each walked on its own lead index in lead order and sorted
# by arrival within each lead, merged by (lead, arrival); the ORDER BY of the FROM-clause subquery is what the
# outer query reads in (one outer ORDER BY instead would sort the whole OU at once). The other events' walk reads
# its index alone; only a DECAY event's row is read (for its metadata).
_IN_LEAD_ORDER = (
    "SELECT lead_id, type_key, occurred_at, kind FROM ("
    "SELECT lead_id, seq, type_key, occurred_at, CASE WHEN scope = 'observe' THEN -1 ELSE -2 END AS kind"
    " FROM events INDEXED BY events_lead_type_time WHERE unit_id = ?1 AND decay_id IS NULL"
    " UNION ALL"
    " SELECT lead_id, seq, type_key, occurred_at, CASE WHEN json_valid(metadata)"
    " THEN max(0, coalesce(CAST(json_extract(metadata, '$.decrease') AS INTEGER), 0)) ELSE 0 END"
    " FROM events INDEXED BY events_lead_decay WHERE unit_id = ?1 AND decay_id IS NOT NULL"
    " ORDER BY lead_id, seq)"
)


def events_in_lead_order(conn: apsw.Connection, unit_id: str) -> Iterator[tuple[str, str, int, int]]:
    """Every stored event of the OU as `engine.bulk` reads it, `(lead_id, type_key, occurred_at, kind)`, each
    lead's events together in arrival order."""
    # The cursor itself, not a generator around it: a million rows pay no extra frame each.
    return iter(conn.execute(_IN_LEAD_ORDER, (unit_id,)))
