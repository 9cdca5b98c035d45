"""SQL for notification deliveries: durable rows the sender picks up, retries and finishes."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar

STATUSES = ("pending", "delivered", "failed", "disabled")


def create_delivery(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    delivery_id: str,
    emitted_id: str,
    trigger_id: str | None,
    kind: str,
    destination: str,
    payload: dict[str, Any],
    options: dict[str, Any],
    webhook_id: str,
    event_received_at: int | None,
    now: int,
) -> None:
    """A new pending delivery, due now."""
    conn.execute(
        "INSERT INTO deliveries (id, org_id, unit_id, emitted_id, trigger_id, kind, destination, payload,"
        " options,"
        " webhook_id, status, attempts, next_attempt_at, event_received_at, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,'pending',0,?,?,?,?)",
        (
            delivery_id,
            org_id,
            unit_id,
            emitted_id,
            trigger_id,
            kind,
            destination,
            json.dumps(payload, separators=(",", ":")),
            json.dumps(options, separators=(",", ":")),
            webhook_id,
            now,
            event_received_at,
            now,
            now,
        ),
    )


def due(conn: apsw.Connection, now: int, limit: int, exclude: Collection[str] = ()) -> list[dict[str, Any]]:
    """Pending deliveries whose time has come, oldest due first (all OUs: the sender serves the instance)."""
    sql = "SELECT * FROM deliveries WHERE status = 'pending' AND next_attempt_at <= ?"
    params: list[Any] = [now]
    if exclude:
        sql += f" AND id NOT IN ({placeholders(len(exclude))})"
        params.extend(exclude)
    return query(conn, sql + " ORDER BY next_attempt_at, id LIMIT ?", [*params, limit])


# The lead a delivery's firing was about: the milestone/sequence/pattern firing's, or the surge's (one primary-key
# probe each); a listed delivery carries it as `lead_id`.
_LEAD_OF = ("coalesce((SELECT t.lead_id FROM trigger_events t WHERE t.id = d.emitted_id),"
            " (SELECT s.lead_id FROM surge_events s WHERE s.id = d.emitted_id))")
_WITH_LEAD = f"SELECT d.*, {_LEAD_OF} AS lead_id FROM deliveries d"


def get_delivery(conn: apsw.Connection, unit_id: str, delivery_id: str) -> dict[str, Any] | None:
    """One delivery of the OU, with its firing's `lead_id`."""
    return query_one(conn, f"{_WITH_LEAD} WHERE d.unit_id = ? AND d.id = ?", (unit_id, delivery_id))


def finish(
    conn: apsw.Connection,
    unit_id: str,
    delivery_id: str,
    *,
    status: str,
    attempts: int,
    last_status: int | None,
    last_error: str | None,
    now: int,
) -> None:
    """Record the last attempt and close the delivery (`delivered`, `failed` or `disabled`). A delivery its trigger's
    deletion closed while this attempt was on its way (`TRIGGER_DELETED`) is recorded as delivered when it was:
    the attempt finished, as the deletion lets it."""
    conn.execute(
        "UPDATE deliveries SET status = ?1, attempts = ?2, last_status = ?3, last_error = ?4,"
        " next_attempt_at = NULL,"
        " delivered_at = CASE WHEN ?1 = 'delivered' THEN ?5 ELSE delivered_at END, updated_at = ?5"
        " WHERE unit_id = ?6 AND id = ?7"
        " AND (status = 'pending' OR (?1 = 'delivered' AND status = 'failed' AND last_error = ?8))",
        (status, attempts, last_status, last_error, now, unit_id, delivery_id, TRIGGER_DELETED),
    )


def reschedule(
    conn: apsw.Connection,
    unit_id: str,
    delivery_id: str,
    *,
    attempts: int,
    last_status: int | None,
    last_error: str | None,
    next_attempt_at: int,
    now: int,
) -> None:
    """Record a failed attempt and when to try again."""
    conn.execute(
        "UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, next_attempt_at = ?,"
        " updated_at = ?"
        " WHERE unit_id = ? AND id = ? AND status = 'pending'",
        (attempts, last_status, last_error, next_attempt_at, now, unit_id, delivery_id),
    )


def disable_pending_to(conn: apsw.Connection, unit_id: str, url: str, reason: str, now: int) -> None:
    """Close every other pending webhook delivery of the OU to a destination that answered 410 Gone."""
    conn.execute(
        "UPDATE deliveries SET status = 'disabled', last_error = ?, next_attempt_at = NULL, updated_at = ?"
        " WHERE unit_id = ? AND kind = 'webhook' AND destination = ? AND status = 'pending'",
        (reason, now, unit_id, url),
    )


# Why a deleted trigger's waiting deliveries were closed (`close_pending_of_trigger`).
TRIGGER_DELETED = "not sent: its trigger was deleted"


def close_pending_of_trigger(conn: apsw.Connection, unit_id: str, trigger_id: str, now: int) -> int:
    """Close a deleted trigger's deliveries still waiting for an attempt (`failed`, `TRIGGER_DELETED`): a deletion
    stops what the trigger would still send. Those closed stay listed, and a retry still sends one. An attempt
    already on its way finishes, and records a delivery it made (`finish`)."""
    conn.execute(
        "UPDATE deliveries SET status = 'failed', last_error = ?, next_attempt_at = NULL, updated_at = ?"
        " WHERE unit_id = ? AND trigger_id = ? AND status = 'pending'",
        (TRIGGER_DELETED, now, unit_id, trigger_id),
    )
    return int(conn.changes())


def list_deliveries(
    conn: apsw.Connection, unit_id: str, *, status: str | None, limit: int, offset: int, lead_id: str | None = None
) -> tuple[list[dict[str, Any]], int]:
    """A page of the OU's deliveries, newest first (each with its firing's `lead_id`), and the total; only those
    about `lead_id` when given."""
    where, params = "d.unit_id = ?", [unit_id]
    if status is not None:
        where += " AND d.status = ?"
        params.append(status)
    if lead_id is not None:
        where += f" AND {_LEAD_OF} = ?"
        params.append(lead_id)
    total = int(scalar(conn, f"SELECT COUNT(*) FROM deliveries d WHERE {where}", params))
    rows = query(conn, f"{_WITH_LEAD} WHERE {where} ORDER BY d.created_at DESC, d.id DESC LIMIT ? OFFSET ?",
                 [*params, limit, offset])
    return rows, total


def retry_now(conn: apsw.Connection, unit_id: str, delivery_id: str, now: int) -> None:
    """Make a closed delivery pending again, due now (its webhook-id stays the same)."""
    conn.execute(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, updated_at = ?"
        " WHERE unit_id = ? AND id = ?",
        (now, now, unit_id, delivery_id),
    )
