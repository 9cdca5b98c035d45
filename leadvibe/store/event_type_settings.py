"""SQL for per-OU event-type settings (visibility, processing scope) and deleting every event of a type."""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, query_one, scalar


def list_event_types(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Every type seen in the OU, plus types that only have settings (set before any event arrived).

    Settings default to visible / `activate` when no row exists.
    """
    return query(
        conn,
        "SELECT t.type_key, t.display_name, t.event_count, t.first_seen_at, t.last_seen_at,"
        " COALESCE(s.hidden, 0) AS hidden,"
        " COALESCE(s.max_processing_scope, 'activate') AS max_processing_scope"
        " FROM event_types t LEFT JOIN event_type_settings s"
        " ON s.unit_id = t.unit_id AND s.type_key = t.type_key"
        " WHERE t.unit_id = ?"
        " UNION ALL"
        " SELECT s.type_key, s.type_key, 0, NULL, NULL, s.hidden, s.max_processing_scope"
        " FROM event_type_settings s WHERE s.unit_id = ? AND NOT EXISTS"
        " (SELECT 1 FROM event_types t WHERE t.unit_id = s.unit_id AND t.type_key = s.type_key)"
        " ORDER BY 3 DESC, 1",
        (unit_id, unit_id),
    )


def _setting(conn: apsw.Connection, unit_id: str, type_key: str) -> dict[str, Any] | None:
    return query_one(
        conn,
        "SELECT hidden, max_processing_scope FROM event_type_settings WHERE unit_id = ? AND type_key = ?",
        (unit_id, type_key),
    )


def get_event_type(conn: apsw.Connection, unit_id: str, type_key: str) -> dict[str, Any] | None:
    """One type as `list_event_types` shows it, or None when it was never seen nor configured."""
    seen = query_one(
        conn,
        "SELECT type_key, display_name, event_count, first_seen_at, last_seen_at"
        " FROM event_types WHERE unit_id = ? AND type_key = ?",
        (unit_id, type_key),
    )
    setting = _setting(conn, unit_id, type_key)
    if seen is None and setting is None:
        return None
    row = seen or {
        "type_key": type_key,
        "display_name": type_key,
        "event_count": 0,
        "first_seen_at": None,
        "last_seen_at": None,
    }
    row["hidden"] = setting["hidden"] if setting else 0
    row["max_processing_scope"] = setting["max_processing_scope"] if setting else "activate"
    return row


def upsert_setting(
    conn: apsw.Connection, unit_id: str, type_key: str, *, hidden: bool | None, scope: str | None, now: int
) -> None:
    """Create or change a type's settings; a field left None keeps its current (or default) value."""
    current = _setting(conn, unit_id, type_key)
    new_hidden = int(hidden) if hidden is not None else (current["hidden"] if current else 0)
    new_scope = scope or (current["max_processing_scope"] if current else "activate")
    conn.execute(
        "INSERT INTO event_type_settings (unit_id, type_key, hidden, max_processing_scope, updated_at)"
        " VALUES (?,?,?,?,?) ON CONFLICT (unit_id, type_key) DO UPDATE SET hidden = excluded.hidden,"
        " max_processing_scope = excluded.max_processing_scope, updated_at = excluded.updated_at",
        (unit_id, type_key, new_hidden, new_scope, now),
    )


def delete_preview(conn: apsw.Connection, unit_id: str, type_key: str) -> dict[str, int]:
    """What deleting every event of the type would remove."""
    row = (
        query_one(
            conn,
            "SELECT COUNT(*) AS events_count, COUNT(DISTINCT lead_id) AS leads_affected FROM events"
            " WHERE unit_id = ? AND type_key = ?",
            (unit_id, type_key),
        )
        or {}
    )
    scores = scalar(
        conn,
        "SELECT COUNT(*) FROM event_scores WHERE event_seq IN"
        " (SELECT seq FROM events WHERE unit_id = ? AND type_key = ?)",
        (unit_id, type_key),
    )
    return {
        "events_count": int(row.get("events_count") or 0),
        "event_scores_count": int(scores or 0),
        "leads_affected": int(row.get("leads_affected") or 0),
    }


def affected_leads(conn: apsw.Connection, unit_id: str, type_key: str) -> list[str]:
    """Leads that have events of the type."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT lead_id FROM events WHERE unit_id = ? AND type_key = ? ORDER BY lead_id",
            (unit_id, type_key),
        )
    ]


def delete_events_of_type(conn: apsw.Connection, unit_id: str, type_key: str) -> tuple[int, int]:
    """Delete every event of the type in the OU with its score rows; return (events, event_scores) deleted.

    The type's `event_types` row and its recorded metadata keys go too: nothing of that type is left. Its
    settings stay, so a type hidden or set to `observe` keeps that setting when events of it arrive again.
    """
    conn.execute(
        "DELETE FROM event_scores WHERE event_seq IN"
        " (SELECT seq FROM events WHERE unit_id = ? AND type_key = ?)",
        (unit_id, type_key),
    )
    scores = conn.changes()
    conn.execute("DELETE FROM events WHERE unit_id = ? AND type_key = ?", (unit_id, type_key))
    events = conn.changes()
    conn.execute("DELETE FROM event_types WHERE unit_id = ? AND type_key = ?", (unit_id, type_key))
    conn.execute("DELETE FROM event_type_properties WHERE unit_id = ? AND type_key = ?", (unit_id, type_key))
    return events, scores


def display_name(conn: apsw.Connection, unit_id: str, key: str) -> str | None:
    """The OU's name of an event type (the first spelling it was sent), or None when none has arrived."""
    found = scalar(conn, "SELECT display_name FROM event_types WHERE unit_id = ? AND type_key = ?", (unit_id, key))
    return None if found is None else str(found)
