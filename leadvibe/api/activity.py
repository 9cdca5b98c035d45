"""Orders and the unified activity stream of a lead (events + orders + one merged timeline)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.params import Parameter

from leadvibe.api.bounds import bounded_query
from leadvibe.api.leads import LeadId, checked_lead_id
from leadvibe.api.names import clean_name
from leadvibe.api.time_params import parse_time_range
from leadvibe.documented import across_fields, choices, single_line
from leadvibe.engine.normalize import ALIAS_KINDS
from leadvibe.errors import ApiError, bad_request, conflict, not_found
from leadvibe.ids import new_id
from leadvibe.pipeline.inbox import IDENTIFIED_LEAD, AliasIn, check_depth, checked_aliases
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import leads as lead_store
from leadvibe.store import orders as store
from leadvibe.timeutil import Instant, parse_rfc3339, range_bounds, to_rfc3339

_json = msgspec.json.Decoder(list[str])
CURRENCY = re.compile(r"[A-Za-z]{3}")
MAX_AMOUNT = 1_000_000_000_000
MAX_ORDER_ID = 128
MAX_METADATA = 100 * 1024
FUTURE_SLACK_MS = 24 * 3_600_000
ActivityRange = Literal["all", "last_7d", "last_24h", "last_30d", "last_90d", "today", "yesterday", "custom"]
# Channels are open-ended (`metadata.channel` may name any), so the filter takes any short string.
CHANNEL_HELP = "all, or a channel: web, email, slack, webinar, crm, system, or any other seen (GET /channels)"


class OrderIn(msgspec.Struct):
    """An order for a lead named by `lead_id` or aliases (an unknown alias creates the lead, as on ingest)."""

    order_id: Annotated[str, single_line(MAX_ORDER_ID)]
    amount: Annotated[float, msgspec.Meta(description="0 to 1,000,000,000,000", extra_json_schema={
        "extra": {"minimum": 0, "maximum": MAX_AMOUNT}})]
    # Three letters, said without `$` (Python's reading lets a final line break through).
    currency: Annotated[str, msgspec.Meta(description="a 3-letter ISO 4217 code such as USD", extra_json_schema={
        "extra": {"min_length": 3, "max_length": 3, "pattern": "^[A-Za-z]{3}"}})]
    lead_id: LeadId | None = None
    aliases: list[AliasIn] | None = None
    alias_kind: Annotated[str | None, choices(sorted(ALIAS_KINDS), nullable=True)] = None
    alias: str | None = None
    occurred_at: str | None = None
    metadata: dict[str, Any] | None = None


across_fields(OrderIn, IDENTIFIED_LEAD)


class OrderOut(msgspec.Struct):
    """A recorded order (shown in activity with type `order`; never scored)."""

    id: str
    type: str
    order_id: str
    lead_id: str
    amount: float
    currency: str
    occurred_at: Instant | None
    received_at: Instant | None
    metadata: msgspec.Raw
    source: str


class ActivityEvent(msgspec.Struct):
    """An event in a lead's activity, with its primary-ruleset delta and the score after it (in arrival order, as
    it was scored). `rule_ids` are the primary-ruleset rules that matched it, `weight` their sum before the surge
    multiplier and `applied_multiplier` the multiplier its delta was scored with (1.0 for a zero or negative
    weight and a filtered event; `multiplier` is the session's), as stored when it was scored: a score ledger
    shows them without one explanation request per event. `scope`: the processing scope it got (`observe`: not
    scored)."""

    id: str
    type: str
    event_type: str
    timestamp: Instant | None
    received_at: Instant | None
    processed_at: Instant | None
    latency_ms: int
    channel: str
    source: str
    metadata: msgspec.Raw
    score_delta: int
    score: int | None
    has_delta: bool
    inorganic: bool
    filtered_by: str | None
    multiplier: float
    session_index: int | None
    decay_id: str | None
    rule_ids: list[str]
    weight: int
    applied_multiplier: float | None = None
    scope: str = "activate"


class TimelineItem(msgspec.Struct):
    """One entry of the merged timeline (oldest first)."""

    type: str
    id: str
    timestamp: Instant | None
    title: str
    channel: str | None
    score_delta: int | None
    amount: float | None
    currency: str | None


class ActivityOut(msgspec.Struct):
    """Events, orders and their merged timeline in the window."""

    lead_id: str
    range: str
    start: Instant | None
    end: Instant | None
    events: list[ActivityEvent]
    orders: list[OrderOut]
    timeline: list[TimelineItem]


def _order_out(r: dict[str, Any]) -> OrderOut:
    return OrderOut(
        r["id"],
        "order",
        r["order_id"],
        r["lead_id"],
        float(r["amount"]),
        r["currency"],
        to_rfc3339(r["occurred_at"]),
        to_rfc3339(r["received_at"]),
        msgspec.Raw((r["metadata"] or "{}").encode()),
        r["source"],
    )


@post(
    "/orders",
    opt=access(Role.OPERATOR),
    operation_id="createOrder",
    summary="Record an order for a lead",
    tags=["Activity"],
)
async def create_order(rt: Runtime, tenant: Tenant, data: OrderIn) -> OrderOut:
    """Record an order (201); a repeated `order_id` in the OU answers 409. Orders show in the lead's activity
    stream and move with merges; they never score."""
    from leadvibe.store.events import resolve_lead  # the ingestion domain's resolver (follows merged_into)

    order_id = clean_name(data.order_id, "order_id", MAX_ORDER_ID)
    # Up to a trillion: amounts stay exact to the cent as JSON numbers (doubles) up to there.
    if not 0 <= data.amount <= MAX_AMOUNT:
        raise bad_request("`amount` must be a number from 0 to 1000000000000")
    if not CURRENCY.fullmatch(data.currency):
        raise bad_request("`currency` must be a 3-letter ISO 4217 code such as USD")
    aliases = checked_aliases(data.aliases, data.alias_kind, data.alias)
    lead_id = data.lead_id
    if lead_id is not None:
        checked_lead_id(lead_id, "lead_id")
    if not lead_id and not aliases:
        raise bad_request("one of `lead_id` or `aliases` is required")
    now = rt.now_ms()
    occurred = now
    if data.occurred_at is not None:
        try:
            occurred = parse_rfc3339(data.occurred_at)
        except ValueError as exc:
            raise bad_request(f"`occurred_at` {exc}") from None
        if occurred > now + FUTURE_SLACK_MS:
            raise bad_request("`occurred_at` must not be more than 24 hours in the future")
    check_depth(data.metadata or {})  # as an event's or a lead's metadata
    metadata = msgspec.json.encode(data.metadata or {})
    if len(metadata) > MAX_METADATA:
        raise ApiError(413, "`metadata` is larger than 100 KB")
    order_pk = new_id("or")

    def run(c: Any) -> OrderOut:
        lead = resolve_lead(c, tenant.unit_id, tenant.org_id, lead_id or None, aliases, now, "api")
        if not store.insert_order(
            c,
            tenant.unit_id,
            tenant.org_id,
            order_pk=order_pk,
            lead_id=lead,
            order_id=order_id,
            amount=float(data.amount),
            currency=data.currency.upper(),
            occurred_at=occurred,
            received_at=now,
            metadata=metadata.decode(),
        ):
            raise conflict(f"order {order_id} already exists in this OU")
        return _order_out(store.get_order(c, tenant.unit_id, order_pk))  # type: ignore[arg-type]

    return await rt.db.write(run)


def _flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value in ("1", "true")


@get(
    "/leads/{lead_id:str}/activity",
    opt=access(Role.VIEWER),
    operation_id="getLeadActivity",
    summary="Unified activity stream (events + orders + timeline)",
    tags=["Activity"],
)
async def lead_activity(
    rt: Runtime,
    tenant: Tenant,
    lead_id: str,
    range_: Annotated[ActivityRange, Parameter(query="range")] = "last_7d",
    start: str | None = None,
    end: str | None = None,
    channel: Annotated[str, Parameter(max_length=64, description=CHANNEL_HELP)] = "all",
    min_score: Annotated[int | None, bounded_query(0, query="minScore")] = None,
    max_latency: Annotated[int | None, bounded_query(1, query="maxLatency")] = None,
    has_delta: Annotated[Literal["1", "true", "0", "false"] | None, Parameter(query="hasDelta")] = None,
    limit: Annotated[int, Parameter(ge=1, le=1000, description="Most recent items of each kind")] = 200,
) -> ActivityOut:
    """Events and orders of the lead in the range (`custom` needs `start` and `end`). `channel`, `minScore`
    (the event's primary-ruleset delta), `maxLatency` (ms from receipt to scoring) and `hasDelta` filter
    events only. The timeline merges both, oldest first; orders appear with type `order` and are never
    scored."""
    now = rt.now_ms()
    lo: int | None
    hi: int | None
    if range_ == "custom":
        if not (start or "").strip() or not (end or "").strip():
            raise bad_request("`start` and `end` are required when range=custom")
        lo, hi = parse_time_range(start, end)
    else:
        if start or end:
            raise bad_request("`start` and `end` only go with range=custom")
        lo, hi = range_bounds(range_, now)
    flag = _flag(has_delta)

    def run(c: Any) -> ActivityOut:
        primary = lead_store.primary_ruleset_id(c, tenant.unit_id)
        if lead_store.get_lead(c, tenant.unit_id, lead_id, primary) is None:
            raise not_found("lead")
        events = store.lead_events(
            c,
            tenant.unit_id,
            lead_id,
            primary,
            start=lo,
            end=hi,
            channel=None if channel == "all" else channel,
            min_score=min_score,
            max_latency=max_latency,
            has_delta=flag,
            limit=limit,
        )
        orders = store.lead_orders(c, tenant.unit_id, lead_id, lo, hi, limit)
        return _activity(lead_id, range_, lo, hi, events, orders)

    return await rt.db.read(run)


def _activity(
    lead_id: str,
    range_name: str,
    lo: int | None,
    hi: int | None,
    events: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> ActivityOut:
    ev_out = [
        ActivityEvent(
            e["id"],
            "event",
            e["event_type"],
            to_rfc3339(e["occurred_at"]),
            to_rfc3339(e["received_at"]),
            to_rfc3339(e["processed_at"]),
            int(e["processed_at"] - e["received_at"]),
            e["channel"],
            e["source"],
            msgspec.Raw((e["metadata"] or "{}").encode()),
            int(e["delta"] or 0),
            int(e["score_after"]) if e["score_after"] is not None else None,
            bool(e["has_delta"]),
            bool(e["inorganic"]),
            e["filtered_by"],
            float(e["multiplier"]),
            e["session_index"],
            e["decay_id"],
            _json.decode(e["rule_ids"]) if e["rule_ids"] else [],
            int(e["weight"] or 0),
            float(e["applied_multiplier"]) if e["applied_multiplier"] is not None else None,
            e["scope"],
        )
        for e in events
    ]
    or_out = [_order_out(o) for o in orders]
    merged: list[tuple[int, int, TimelineItem]] = []
    for e in reversed(events):  # oldest first, so equal timestamps keep arrival order
        merged.append(
            (
                int(e["occurred_at"]),
                0,
                TimelineItem(
                    "event",
                    e["id"],
                    to_rfc3339(e["occurred_at"]),
                    e["event_type"],
                    e["channel"],
                    int(e["delta"] or 0),
                    None,
                    None,
                ),
            )
        )
    for o in reversed(orders):
        merged.append(
            (
                int(o["occurred_at"]),
                1,
                TimelineItem(
                    "order",
                    o["id"],
                    to_rfc3339(o["occurred_at"]),
                    f"Order {o['order_id']}",
                    None,
                    None,
                    float(o["amount"]),
                    o["currency"],
                ),
            )
        )
    merged.sort(key=lambda x: (x[0], x[1]))
    return ActivityOut(
        lead_id, range_name, to_rfc3339(lo), to_rfc3339(hi), ev_out, or_out, [m[2] for m in merged]
    )


ROUTES = [create_order, lead_activity]
