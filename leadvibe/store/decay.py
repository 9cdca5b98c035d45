"""SQL for score decay: the rules (CRUD) and the set-based search for leads a rule applies to now."""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, query_one

UNIT_MS = {"hours": 3_600_000, "days": 86_400_000, "weeks": 7 * 86_400_000}
_COLS = "id, inactive_for, unit, inactive_ms, decrease, active, created_at, updated_at"


def list_rules(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """The OU's decay rules, shortest inactivity first (the order they stack in)."""
    return query(
        conn,
        f"SELECT {_COLS} FROM decay_rules WHERE unit_id = ? ORDER BY inactive_ms, created_at, id",
        (unit_id,),
    )


def get_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> dict[str, Any] | None:
    """One decay rule of the OU."""
    return query_one(
        conn, f"SELECT {_COLS} FROM decay_rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id)
    )


def create_rule(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    rule_id: str,
    inactive_for: int,
    unit: str,
    decrease: int,
    actor: str | None,
    now: int,
    source: str = "api",
) -> dict[str, Any]:
    """Insert a decay rule."""
    conn.execute(
        "INSERT INTO decay_rules (id, org_id, unit_id, inactive_for, unit, inactive_ms, decrease, source,"
        " created_by, updated_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            rule_id,
            org_id,
            unit_id,
            inactive_for,
            unit,
            inactive_for * UNIT_MS[unit],
            decrease,
            source,
            actor,
            actor,
            now,
            now,
        ),
    )
    return get_rule(conn, unit_id, rule_id)  # type: ignore[return-value]


def update_rule(
    conn: apsw.Connection,
    unit_id: str,
    rule_id: str,
    *,
    inactive_for: int | None,
    unit: str | None,
    decrease: int | None,
    active: bool | None,
    actor: str | None,
    now: int,
) -> dict[str, Any] | None:
    """Change some fields of a rule (inactive_ms follows); None when the OU has no such rule."""
    current = get_rule(conn, unit_id, rule_id)
    if current is None:
        return None
    amount = inactive_for if inactive_for is not None else int(current["inactive_for"])
    per = unit if unit is not None else str(current["unit"])
    conn.execute(
        "UPDATE decay_rules SET inactive_for = ?, unit = ?, inactive_ms = ?, decrease = ?, active = ?,"
        " updated_by = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
        (
            amount,
            per,
            amount * UNIT_MS[per],
            decrease if decrease is not None else current["decrease"],
            int(active) if active is not None else current["active"],
            actor,
            now,
            unit_id,
            rule_id,
        ),
    )
    return get_rule(conn, unit_id, rule_id)


def delete_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> bool:
    """Delete a rule (DECAY events it recorded stay: they are part of the scores)."""
    conn.execute("DELETE FROM decay_rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id))
    return conn.changes() == 1


def units_with_rules(conn: apsw.Connection) -> list[str]:
    """OUs that have at least one active decay rule (the scheduler visits only these)."""
    return [
        r[0]
        for r in conn.execute("SELECT DISTINCT unit_id FROM decay_rules WHERE active = 1 ORDER BY unit_id")
    ]


def active_rules(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Active rules of an OU, shortest inactivity first, so a pass that finds a lead past 7 d and 30 d records
    the 7-day decay before the 30-day one."""
    return query(
        conn,
        "SELECT id, inactive_ms, decrease FROM decay_rules WHERE unit_id = ? AND active = 1"
        " ORDER BY inactive_ms, created_at, id",
        (unit_id,),
    )


def due_leads(
    conn: apsw.Connection, unit_id: str, decay_id: str, cutoff: int, after: tuple[int, int], limit: int
) -> list[tuple[str, int, int]]:
    """Live leads whose last organic event is at or before `cutoff` and that have had no DECAY of this rule
    since it (one decay per rule per inactivity period), in (last_organic_at, rowid) order after the keyset
    `after`.

    The DECAY event must be strictly later than the last organic event: a decay is recorded at least an hour
    after it, so an organic event at the very millisecond of a decay is the newer one and opens a new period.
    A range scan of the partial index leads_unit_organic plus one probe of events_lead_decay per lead: the
    work is proportional to the inactive leads, never a Python loop over all of them. Returns (lead_id,
    last_organic_at, rowid)."""
    return [
        (r[0], int(r[1]), int(r[2]))
        for r in conn.execute(
            "SELECT l.id, l.last_organic_at, l.rowid FROM leads l"
            " WHERE l.unit_id = ? AND l.merged_into IS NULL AND l.last_organic_at > 0 AND"
            " l.last_organic_at <= ?"
            " AND (l.last_organic_at, l.rowid) > (?, ?)"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.unit_id = l.unit_id AND e.lead_id = l.id"
            " AND e.decay_id = ? AND e.occurred_at > l.last_organic_at)"
            " ORDER BY l.last_organic_at, l.rowid LIMIT ?",
            (unit_id, cutoff, after[0], after[1], decay_id, limit),
        )
    ]
