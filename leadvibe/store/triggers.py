"""SQL for triggers, per-lead trigger state, emitted trigger events and surge events.

Every function takes the connection, then the OU id, and filters by it: a trigger of another OU is simply not
found. JSON columns (steps, conditions, filters, emails) are decoded here so callers see plain lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar
from leadvibe.engine.levels import level_for
from leadvibe.store.running_totals import scores_after
from leadvibe.store.scoring import levels_of

KINDS = ("milestone", "sequence", "pattern", "surge")
JSON_LIST_COLUMNS = ("event_steps", "conditions", "profile_filters", "lead_attribute_filters", "emails")
# Columns a create/update may set (never id, org_id, unit_id, kind, created_*).
WRITABLE = (
    "name",
    "description",
    "active",
    "event_type",
    "type_key",
    "score_threshold",
    "event_steps",
    "conditions",
    "window_amount",
    "window_unit",
    "ordered",
    "fire_mode",
    "threshold_count",
    "profile_filters",
    "lead_attribute_filters",
    "webhook_url",
    "webhook_disabled_at",
    "emails",
    "email_subject",
    "email_preheader",
    "email_message",
    "slack_target_kind",
    "slack_target_id",
    "teams_target_kind",
    "teams_target_id",
    "hubspot_sync",
    "source",
)


def _decode(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    for col in JSON_LIST_COLUMNS:
        raw = row.get(col)
        row[col] = json.loads(raw) if raw else (None if col in ("event_steps", "conditions") else [])
    return row


def _where(*conditions: tuple[str, str, Any]) -> tuple[str, list[Any]]:
    """` AND col op ?` for each `(col, op, value)` whose value is not None (to follow `unit_id = ?`), and
    the values. Column names and operators come from this module, never from input."""
    used = [(col, op, value) for col, op, value in conditions if value is not None]
    return "".join(f" AND {col} {op} ?" for col, op, _ in used), [value for *_, value in used]


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in fields.items():
        if k not in WRITABLE:
            raise KeyError(f"not a writable trigger column: {k}")
        out[k] = json.dumps(v, separators=(",", ":")) if k in JSON_LIST_COLUMNS and v is not None else v
    return out


# ---------------------------------------------------------------------------------------------------- CRUD


def create_trigger(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    trigger_id: str,
    kind: str,
    fields: dict[str, Any],
    actor: str | None,
    now: int,
) -> dict[str, Any]:
    """Insert a trigger of `kind` and return it."""
    data = _encode(fields)
    cols = ["id", "org_id", "unit_id", "kind", "created_by", "updated_by", "created_at", "updated_at", *data]
    values = [trigger_id, org_id, unit_id, kind, actor, actor, now, now, *data.values()]
    conn.execute(f"INSERT INTO triggers ({', '.join(cols)}) VALUES ({placeholders(len(cols))})", values)
    return get_trigger(conn, unit_id, kind, trigger_id)  # type: ignore[return-value]


def update_trigger(
    conn: apsw.Connection,
    unit_id: str,
    kind: str,
    trigger_id: str,
    fields: dict[str, Any],
    actor: str | None,
    now: int,
) -> dict[str, Any] | None:
    """Set the given columns; None when the trigger is not in this OU (or not of this kind)."""
    data = _encode(fields)
    sets = ", ".join([f"{k} = ?" for k in data] + ["updated_by = ?", "updated_at = ?"])
    conn.execute(
        f"UPDATE triggers SET {sets} WHERE unit_id = ? AND kind = ? AND id = ?",
        [*data.values(), actor, now, unit_id, kind, trigger_id],
    )
    return get_trigger(conn, unit_id, kind, trigger_id)


def get_trigger(
    conn: apsw.Connection, unit_id: str, kind: str | None, trigger_id: str
) -> dict[str, Any] | None:
    """One trigger of this OU (of `kind` when given)."""
    where, params = _where(("kind", "=", kind), ("id", "=", trigger_id))
    return _decode(query_one(conn, f"SELECT * FROM triggers WHERE unit_id = ?{where}", [unit_id, *params]))


def list_triggers(conn: apsw.Connection, unit_id: str, kind: str) -> list[dict[str, Any]]:
    """Triggers of one kind in this OU, oldest first."""
    rows = query(
        conn, "SELECT * FROM triggers WHERE unit_id = ? AND kind = ? ORDER BY created_at, id", (unit_id, kind)
    )
    return [_decode(r) for r in rows]  # type: ignore[misc]


def delete_trigger(conn: apsw.Connection, unit_id: str, kind: str, trigger_id: str) -> bool:
    """Delete a trigger and its per-lead state; its emitted events and deliveries stay as history."""
    conn.execute(
        "DELETE FROM triggers WHERE unit_id = ? AND kind = ? AND id = ?", (unit_id, kind, trigger_id)
    )
    if conn.changes() == 0:
        return False
    # The foreign key cascades this already; explicit so it holds on a connection without foreign_keys.
    conn.execute("DELETE FROM trigger_state WHERE trigger_id = ?", (trigger_id,))
    return True


def reset_state(conn: apsw.Connection, unit_id: str, trigger_id: str) -> None:
    """Forget every lead's state of a trigger (its definition changed: old progress means nothing now)."""
    conn.execute("DELETE FROM trigger_state WHERE unit_id = ? AND trigger_id = ?", (unit_id, trigger_id))


def active_triggers(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Every active trigger of the OU, all kinds (the evaluator's cache load)."""
    rows = query(
        conn, "SELECT * FROM triggers WHERE unit_id = ? AND active = 1 ORDER BY created_at, id", (unit_id,)
    )
    return [_decode(r) for r in rows]  # type: ignore[misc]


def disable_webhook(conn: apsw.Connection, unit_id: str, url: str, now: int) -> None:
    """A receiver answered 410 Gone: stop sending to `url` from every trigger of the OU."""
    conn.execute(
        "UPDATE triggers SET webhook_disabled_at = ?, updated_at = ? WHERE unit_id = ? AND webhook_url = ?"
        " AND webhook_disabled_at IS NULL",
        (now, now, unit_id, url),
    )


# ------------------------------------------------------------------------------------------ per-lead state


def lead_states(conn: apsw.Connection, unit_id: str, lead_id: str) -> dict[str, dict[str, Any]]:
    """The stored state of every trigger for one lead, keyed by trigger id."""
    rows = query(
        conn,
        "SELECT trigger_id, armed, last_completion_ts, last_completion_event_id, last_fired_ts, fired_ts"
        " FROM trigger_state WHERE unit_id = ? AND lead_id = ?",
        (unit_id, lead_id),
    )
    return {r["trigger_id"]: r for r in rows}


def save_state(
    conn: apsw.Connection,
    unit_id: str,
    trigger_id: str,
    lead_id: str,
    *,
    armed: bool = True,
    last_completion_ts: int | None = None,
    last_completion_event_id: str | None = None,
    fired: Sequence[int] = (),
    now: int,
) -> None:
    """Upsert one (trigger, lead) state. `fired`: a pattern or surge trigger's firing times, ascending."""
    conn.execute(
        "INSERT INTO trigger_state (trigger_id, lead_id, unit_id, armed, last_completion_ts,"
        " last_completion_event_id, last_fired_ts, fired_ts, updated_at) VALUES (?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT (trigger_id, lead_id) DO UPDATE SET armed = excluded.armed,"
        " last_completion_ts = excluded.last_completion_ts,"
        " last_completion_event_id = excluded.last_completion_event_id,"
        " last_fired_ts = excluded.last_fired_ts, fired_ts = excluded.fired_ts, updated_at = excluded.updated_at",
        (
            trigger_id,
            lead_id,
            unit_id,
            int(armed),
            last_completion_ts,
            last_completion_event_id,
            fired[-1] if fired else None,
            json.dumps(list(fired)) if fired else None,
            now,
        ),
    )


def fired_times(state: Mapping[str, Any] | None) -> tuple[int, ...]:
    """A pattern or surge trigger's firing times from its stored state (a row from before migration 0065 has
    only its last one)."""
    if not state:
        return ()
    if state.get("fired_ts"):
        return tuple(json.loads(state["fired_ts"]))
    last = state.get("last_fired_ts")
    return () if last is None else (int(last),)


def rearm(conn: apsw.Connection, unit_id: str, lead_id: str, trigger_ids: Sequence[str], now: int) -> None:
    """Re-arm the given milestones for a lead (its score fell below their thresholds)."""
    if not trigger_ids:
        return
    conn.execute(
        f"UPDATE trigger_state SET armed = 1, updated_at = ? WHERE unit_id = ? AND lead_id = ?"
        f" AND armed = 0 AND trigger_id IN ({placeholders(len(trigger_ids))})",
        (now, unit_id, lead_id, *trigger_ids),
    )


# -------------------------------------------------------------------------------------- what the worker reads


def lead_metadata(conn: apsw.Connection, unit_id: str, lead_id: str) -> dict[str, Any]:
    """What trigger filters test for a lead: its metadata object (its profile properties; {} when unknown or
    malformed) with the computed `profile_score` and `profile_level` laid over it."""
    row = conn.execute("SELECT metadata, profile_score FROM leads WHERE unit_id = ? AND id = ?",
                       (unit_id, lead_id)).fetchone()
    if row is None:
        return {}
    try:
        value = json.loads(row[0]) if row[0] else {}
    except ValueError:
        value = {}
    values: dict[str, Any] = value if isinstance(value, dict) else {}
    score = int(row[1] or 0)
    level = level_for(levels_of(conn, unit_id, "profile"), score)
    return {**values, "profile_score": score, "profile_level": level.name if level else None}


# Events that can complete a trigger: scored for activation, organic, not DECAY (SEMANTICS §8; engine docs).
# `decay_id IS NULL` says again what the type says (a DECAY event's key is 'decay'), for the planner: a lead's other
# events are indexed apart from its DECAY ones (migration 0061).
_ELIGIBLE = "scope = 'activate' AND inorganic = 0 AND type_key != 'decay' AND decay_id IS NULL"
_ELIGIBLE_E = "e.scope = 'activate' AND e.inorganic = 0 AND e.type_key != 'decay' AND e.decay_id IS NULL"


def lead_history(
    conn: apsw.Connection, unit_id: str, lead_id: str, since_ts: int, before_seq: int, limit: int = 20_000
) -> list[tuple[str, str, int]]:
    """`(event_id, type_key, occurred_at)` of a lead's eligible events with `occurred_at >= since_ts` that
    arrived before `before_seq`, in arrival order (the newest `limit` of them). Read from the lead's own events
    and sorted: left to choose, the planner may walk the OU's time index for a wide window, or the whole table
    backwards from `before_seq` for the arrival order, reading every lead's events on the way."""
    rows: list[Any] = conn.execute(
        f"SELECT id, type_key, occurred_at FROM (SELECT seq, id, type_key, occurred_at FROM events"
        f" INDEXED BY events_lead_type_time"
        f" WHERE unit_id = ? AND lead_id = ? AND seq < ? AND occurred_at >= ? AND {_ELIGIBLE}"
        f" ORDER BY seq DESC LIMIT ?) ORDER BY seq",
        (unit_id, lead_id, before_seq, since_ts, limit),
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def primary_ruleset(conn: apsw.Connection, unit_id: str) -> str | None:
    """The OU's primary ruleset id, if any."""
    found = scalar(conn, "SELECT id FROM rulesets WHERE unit_id = ? AND is_primary = 1", (unit_id,))
    return str(found) if found is not None else None


def scored_events(
    conn: apsw.Connection, unit_id: str, ruleset_id: str | None, since_ts: int, lead_id: str | None
) -> list[dict[str, Any]]:
    """Events since `since_ts` (by occurred_at), in arrival order, with the primary score after each (None when
    the event has no score row; summed from the deltas: store/running_totals.py) and whether it could fire
    (milestone simulation)."""
    # One lead's events, DECAY ones too (the scores they leave), from both of its indexes (migration 0061), the
    # window a filter on them (`+`), not a range of the OU's time index.
    source, at = ("events", "e.occurred_at") if lead_id is None else ("lead_events", "+e.occurred_at")
    sql = (
        "SELECT e.lead_id, e.seq, e.id, e.type_key, e.occurred_at, s.delta,"
        f" ({_ELIGIBLE_E}) AS can_fire"
        f" FROM {source} e LEFT JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = ?"
        f" WHERE e.unit_id = ? AND {at} >= ?"
    )
    params: list[Any] = [ruleset_id or "", unit_id, since_ts]
    if lead_id is not None:
        sql += " AND e.lead_id = ?"
        params.append(lead_id)
    rows = query(conn, sql + " ORDER BY e.seq", params)
    wanted: dict[str, list[int]] = {}
    for r in rows:
        if r["delta"] is not None:
            wanted.setdefault(r["lead_id"], []).append(r["seq"])
    after = scores_after(conn, unit_id, [ruleset_id], wanted) if ruleset_id else {}
    rs = ruleset_id or ""
    for r in rows:
        r["score_after"] = after.get((r["lead_id"], rs, r["seq"])) if r["delta"] is not None else None
    return rows


def history_events(
    conn: apsw.Connection, unit_id: str, since_ts: int, lead_id: str | None, type_keys: Iterable[str] | None
) -> list[tuple[str, str, str, int]]:
    """`(lead_id, event_id, type_key, occurred_at)` of eligible events since `since_ts`, in arrival order,
    optionally only of some types (a sequence only looks at its steps)."""
    sql = (
        "SELECT lead_id, id, type_key, occurred_at FROM events"
        f" WHERE unit_id = ? AND occurred_at >= ? AND {_ELIGIBLE}"
    )
    params: list[Any] = [unit_id, since_ts]
    if lead_id is not None:
        sql += " AND lead_id = ?"
        params.append(lead_id)
    if type_keys is not None:
        keys = sorted(set(type_keys))
        sql += f" AND type_key IN ({placeholders(len(keys))})"
        params.extend(keys)
    return [(r[0], r[1], r[2], r[3]) for r in conn.execute(sql + " ORDER BY seq", params)]


def lead_exists(conn: apsw.Connection, unit_id: str, lead_id: str) -> bool:
    """Whether the OU has this lead."""
    return scalar(conn, "SELECT 1 FROM leads WHERE unit_id = ? AND id = ?", (unit_id, lead_id)) is not None


# ------------------------------------------------------------------------------------------ emitted events


def record_trigger_event(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    event_row_id: str,
    trigger_id: str,
    kind: str,
    trigger_name: str,
    lead_id: str,
    event_id: str | None,
    event_type: str | None,
    score_before: int | None,
    score_after: int | None,
    level: str | None,
    fired_at: int,
) -> None:
    """Remember a firing."""
    conn.execute(
        "INSERT INTO trigger_events (id, org_id, unit_id, trigger_id, kind, trigger_name, lead_id, event_id,"
        " event_type, score_before, score_after, level, fired_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            event_row_id,
            org_id,
            unit_id,
            trigger_id,
            kind,
            trigger_name,
            lead_id,
            event_id,
            event_type,
            score_before,
            score_after,
            level,
            fired_at,
        ),
    )


def list_trigger_events(
    conn: apsw.Connection,
    unit_id: str,
    kind: str,
    *,
    limit: int,
    offset: int = 0,
    trigger_id: str | None = None,
    lead_id: str | None = None,
    start: int | None = None,
    end: int | None = None,
    before: tuple[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Emitted events of one trigger kind, newest first; `before`: only those after (fired_at, id) in that order
    (a reader walking every page while firings are added: an offset would shift under it)."""
    where, params = _where(
        ("kind", "=", kind),
        ("trigger_id", "=", trigger_id),
        ("lead_id", "=", lead_id),
        ("fired_at", ">=", start),
        ("fired_at", "<", end),
    )
    if before is not None:
        where += " AND (fired_at, id) < (?, ?)"
        params = [*params, *before]
    return query(
        conn,
        f"SELECT * FROM trigger_events WHERE unit_id = ?{where}"
        " ORDER BY fired_at DESC, id DESC LIMIT ? OFFSET ?",
        [unit_id, *params, limit, offset],
    )


# ------------------------------------------------------------------------------------------ surge events


def record_surge_event(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    surge_id: str,
    trigger_id: str,
    lead_id: str,
    event_id: str | None,
    event_type: str | None,
    channel: str,
    window_ms: int,
    threshold: int,
    score_after: int | None,
    occurred_at: int,
    fired_at: int,
) -> None:
    """Remember a surge trigger firing."""
    conn.execute(
        "INSERT INTO surge_events (id, org_id, unit_id, trigger_id, lead_id, event_id, event_type, channel,"
        " window_ms, threshold, score_after, occurred_at, fired_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            surge_id,
            org_id,
            unit_id,
            trigger_id,
            lead_id,
            event_id,
            event_type,
            channel,
            window_ms,
            threshold,
            score_after,
            occurred_at,
            fired_at,
        ),
    )


def _surge_where(start: int | None, end: int | None, channel: str | None) -> tuple[str, list[Any]]:
    return _where(("occurred_at", ">=", start), ("occurred_at", "<", end), ("channel", "=", channel))


def list_surge_events(
    conn: apsw.Connection,
    unit_id: str,
    *,
    limit: int,
    offset: int,
    start: int | None,
    end: int | None,
    channel: str | None,
) -> list[dict[str, Any]]:
    """Surge events of the OU, newest first."""
    where, params = _surge_where(start, end, channel)
    return query(
        conn,
        f"SELECT * FROM surge_events WHERE unit_id = ?{where}"
        " ORDER BY occurred_at DESC, id DESC LIMIT ? OFFSET ?",
        [unit_id, *params, limit, offset],
    )


def surge_totals(
    conn: apsw.Connection, unit_id: str, start: int, end: int, channel: str | None
) -> dict[str, Any]:
    """Count of surge events, distinct leads and distinct triggers in [start, end)."""
    where, params = _surge_where(start, end, channel)
    row = query_one(
        conn,
        "SELECT COUNT(*) AS surges, COUNT(DISTINCT lead_id) AS leads,"
        f" COUNT(DISTINCT trigger_id) AS triggers FROM surge_events WHERE unit_id = ?{where}",
        [unit_id, *params],
    )
    return row or {"surges": 0, "leads": 0, "triggers": 0}


def surge_series(
    conn: apsw.Connection, unit_id: str, start: int, end: int, bucket_ms: int, channel: str | None
) -> list[tuple[int, int, int]]:
    """`(bucket_start, surges, leads)` for every non-empty bucket; buckets are aligned on `start`."""
    where, params = _surge_where(start, end, channel)
    rows: list[Any] = conn.execute(
        f"SELECT ? + ((occurred_at - ?) / ?) * ? AS bucket, COUNT(*), COUNT(DISTINCT lead_id)"
        f" FROM surge_events WHERE unit_id = ?{where} GROUP BY bucket ORDER BY bucket",
        [start, start, bucket_ms, bucket_ms, unit_id, *params],
    ).fetchall()
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def surge_channels(
    conn: apsw.Connection, unit_id: str, start: int, end: int, channel: str | None
) -> list[tuple[str, int, int]]:
    """`(channel, surges, leads)` in [start, end), busiest first."""
    where, params = _surge_where(start, end, channel)
    rows: list[Any] = conn.execute(
        f"SELECT channel, COUNT(*) AS n, COUNT(DISTINCT lead_id) FROM surge_events"
        f" WHERE unit_id = ?{where} GROUP BY channel ORDER BY n DESC, channel",
        [unit_id, *params],
    ).fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]
