"""SQL for orders (the transactional side of a lead's activity stream) and the activity stream's reads."""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, query_one
from leadvibe.store.running_totals import scores_after


def insert_order(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    order_pk: str,
    lead_id: str,
    order_id: str,
    amount: float,
    currency: str,
    occurred_at: int,
    received_at: int,
    metadata: str,
    source: str = "api",
) -> bool:
    """Record an order; False when the OU already has that client order id."""
    conn.execute(
        "INSERT OR IGNORE INTO orders (id, org_id, unit_id, lead_id, order_id, amount, currency,"
        " occurred_at, received_at, metadata, source) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            order_pk,
            org_id,
            unit_id,
            lead_id,
            order_id,
            amount,
            currency,
            occurred_at,
            received_at,
            metadata,
            source,
        ),
    )
    return conn.changes() == 1


def get_order(conn: apsw.Connection, unit_id: str, order_pk: str) -> dict[str, Any] | None:
    """One order by server id."""
    return query_one(conn, "SELECT * FROM orders WHERE unit_id = ? AND id = ?", (unit_id, order_pk))


def lead_orders(
    conn: apsw.Connection, unit_id: str, lead_id: str, start: int | None, end: int | None, limit: int
) -> list[dict[str, Any]]:
    """A lead's orders in [start, end), newest first (orders_unit_lead_time)."""
    return query(
        conn,
        "SELECT * FROM orders WHERE unit_id = ? AND lead_id = ? AND occurred_at >= ?"
        " AND occurred_at < ? ORDER BY occurred_at DESC, seq DESC LIMIT ?",
        (
            unit_id,
            lead_id,
            start if start is not None else -(2**62),
            end if end is not None else 2**62,
            limit,
        ),
    )


def lead_events(
    conn: apsw.Connection,
    unit_id: str,
    lead_id: str,
    ruleset_id: str | None,
    *,
    start: int | None,
    end: int | None,
    channel: str | None,
    min_score: int | None,
    max_latency: int | None,
    has_delta: bool | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A lead's events in [start, end), newest first, with the primary ruleset's delta, score after (summed from
    the deltas: store/running_totals.py), matched rule ids and summed weight (events_lead_type_time; event_scores
    by primary key; the view lead_events reads both lead indexes, migration 0061)."""
    sql = (
        "SELECT e.seq, e.id, e.event_type, e.type_key, e.occurred_at, e.received_at, e.processed_at, e.metadata,"
        " e.channel, e.source, e.scope, e.inorganic, e.filtered_by, e.multiplier, e.session_index,"
        " e.has_delta,"
        " e.decay_id, s.delta, s.rule_ids, s.weight, s.multiplier AS applied_multiplier FROM lead_events e"
        " LEFT JOIN event_scores s"
        " ON s.event_seq = e.seq AND s.ruleset_id = ? WHERE e.unit_id = ? AND e.lead_id = ?"
    )
    params: list[Any] = [ruleset_id, unit_id, lead_id]
    # `+e.occurred_at`: walk the lead's events (events_lead_type_time), never the OU's time index for a wide range.
    if start is not None:
        sql += " AND +e.occurred_at >= ?"
        params.append(start)
    if end is not None:
        sql += " AND +e.occurred_at < ?"
        params.append(end)
    if channel is not None:
        sql += " AND e.channel = ?"
        params.append(channel)
    if min_score is not None:
        sql += " AND coalesce(s.delta, 0) >= ?"
        params.append(min_score)
    if max_latency is not None:
        sql += " AND e.processed_at - e.received_at <= ?"
        params.append(max_latency)
    if has_delta is not None:
        sql += " AND e.has_delta = ?"
        params.append(int(has_delta))
    sql += " ORDER BY +e.occurred_at DESC, e.seq DESC LIMIT ?"
    params.append(limit)
    rows = query(conn, sql, params)
    scored = [r["seq"] for r in rows if r["delta"] is not None]
    rs = ruleset_id or ""
    after = scores_after(conn, unit_id, [rs], {lead_id: scored}) if rs else {}
    for r in rows:
        r["score_after"] = after.get((lead_id, rs, r["seq"])) if r["delta"] is not None else None
    return rows
