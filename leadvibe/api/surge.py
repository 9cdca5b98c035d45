"""Surge triggers (CRUD), the surge events they record, and `/surge/{ouId}/metrics` aggregates."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import delete, get, post, put

from leadvibe.api.bounds import checked_range
from leadvibe.api.deps import LimitParam, PageParam
from leadvibe.api.json_body import refuses_null
from leadvibe.api.time_params import TimeParam, parse_time_param, parse_time_range
from leadvibe.api.triggers import (
    Common,
    TriggerBase,
    WindowAmount,
    WindowUnit,
    base_fields,
    common_fields,
    create,
    event_type_fields,
    remove,
    update,
    window_fields,
)
from leadvibe.documented import across_fields, present
from leadvibe.errors import bad_request
from leadvibe.limits import INT_LIMIT
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import triggers as store
from leadvibe.store.leads import lead_names
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Surge"]
INTERVALS = {"15m": 15 * 60_000, "1h": 3_600_000, "1d": 86_400_000}
MAX_BUCKETS = 5000


@refuses_null("event_type", "window_seconds", "window_unit", "threshold_count")
class SurgeTriggerIn(Common, kw_only=True):
    """A surge trigger: `threshold_count` or more events (of `event_type`, or any) within the window;
    exactly one
    destination (`webhook_url` or `emails`)."""

    event_type: str | None = None
    window_seconds: WindowAmount | None = None
    window_unit: WindowUnit = None
    threshold_count: Annotated[int, checked_range(1, INT_LIMIT)] | None = None


across_fields(SurgeTriggerIn, creating={"allOf": [present("window_seconds"), present("threshold_count")]})


class SurgeTrigger(TriggerBase, kw_only=True):
    """A surge trigger."""

    event_type: str
    window_seconds: int
    window_unit: str
    threshold_count: int


class SurgeEvent(msgspec.Struct):
    """A surge trigger firing."""

    id: str
    trigger_id: str
    lead_id: str
    event_id: str | None
    event_type: str | None
    channel: str
    window_seconds: int
    threshold_count: int
    score: int | None
    occurred_at: Instant | None
    created_at: Instant | None
    lead_name: str | None = None  # as on /stream: metadata name, else first and last name, else email, else alias


class SurgeTotals(msgspec.Struct):
    """Counts over the whole range."""

    surges: int
    leads: int
    triggers: int


class SurgeBucket(msgspec.Struct):
    """One interval of the series."""

    bucket_start: Instant | None
    surges: int
    leads: int


class SurgeChannel(msgspec.Struct):
    """Surges per channel."""

    channel: str
    surges: int
    leads: int


class SurgeMetrics(msgspec.Struct):
    """Aggregated surge metrics of one OU."""

    ou_id: str
    start: Instant | None
    end: Instant | None
    interval: str
    channel: str | None
    totals: SurgeTotals
    peak: SurgeBucket | None
    channels: list[SurgeChannel]
    series: list[SurgeBucket]


def surge_out(row: dict[str, Any]) -> SurgeTrigger:
    """Response shape of a surge trigger row."""
    return SurgeTrigger(
        **base_fields(row),
        event_type=row["event_type"] or "",
        window_seconds=row["window_amount"],
        window_unit=row["window_unit"],
        threshold_count=row["threshold_count"],
    )


def _fields(data: SurgeTriggerIn, *, creating: bool) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if data.event_type is not None:
        f.update(event_type_fields(data.event_type))
    elif creating:
        f["event_type"], f["type_key"] = "", None
    f.update(window_fields(data.window_seconds, data.window_unit, required=creating))
    if data.threshold_count is not None:
        if data.threshold_count < 1:
            raise bad_request("`threshold_count` must be at least 1")
        f["threshold_count"] = data.threshold_count
    elif creating:
        raise bad_request("`threshold_count` is required (>= 1)")
    return f


def _valid(row: dict[str, Any]) -> None:
    window_fields(row["window_amount"], row["window_unit"], required=True)


@get(
    "/surge-triggers",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="listSurgeTriggers",
    summary="List surge triggers (OU-scoped) [Phase 2 - Paused]",
    tags=TAGS,
)
async def list_surge_triggers(rt: Runtime, tenant: Tenant) -> list[SurgeTrigger]:
    """Surge triggers of the active OU (they work here; the reference had paused them)."""
    return [surge_out(r) for r in await rt.db.read(lambda c: store.list_triggers(c, tenant.unit_id, "surge"))]


@post(
    "/surge-triggers",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="createSurgeTrigger",
    summary="Create surge trigger (OU-scoped) [Phase 2 - Paused]",
    tags=TAGS,
)
async def create_surge_trigger(
    rt: Runtime, tenant: Tenant, principal: Principal, data: SurgeTriggerIn
) -> SurgeTrigger:
    """A surge trigger; fires at most once per lead per window."""
    fields = {**_fields(data, creating=True), **await common_fields(rt, data)}
    return surge_out(await create(rt, tenant, principal, "surge", fields))


@put(
    "/surge-triggers/{trigger_id:str}",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="updateSurgeTrigger",
    summary="Update surge trigger [Phase 2 - Paused]",
    tags=TAGS,
)
async def update_surge_trigger(
    rt: Runtime, tenant: Tenant, principal: Principal, trigger_id: str, data: SurgeTriggerIn
) -> SurgeTrigger:
    """Change a surge trigger (fields absent from the body stay as they are)."""
    fields = {**_fields(data, creating=False), **await common_fields(rt, data)}
    return surge_out(await update(rt, tenant, principal, "surge", trigger_id, fields, _valid))


@delete(
    "/surge-triggers/{trigger_id:str}",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="deleteSurgeTrigger",
    summary="Delete surge trigger",
    tags=TAGS,
)
async def delete_surge_trigger(rt: Runtime, tenant: Tenant, trigger_id: str) -> None:
    """Delete a surge trigger; its surge events stay."""
    await remove(rt, tenant, "surge", trigger_id)


def _channel(value: str | None) -> str | None:
    return value.strip().lower() or None if value is not None else None


@get(
    "/surge-events",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="listSurgeEvents",
    summary="List surge events (OU-scoped) [Phase 2 - Paused]",
    tags=TAGS,
)
async def list_surge_events(
    rt: Runtime,
    tenant: Tenant,
    page: PageParam = 1,
    limit: LimitParam = 50,
    start: TimeParam = None,
    end: TimeParam = None,
    channel: str | None = None,
) -> list[SurgeEvent]:
    """Surge events of the active OU, newest first; `start`/`end` bound the event time, `channel` filters."""
    (lo, hi), ch = parse_time_range(start, end), _channel(channel)

    def run(c: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
        rows = store.list_surge_events(c, tenant.unit_id, limit=limit, offset=(page - 1) * limit, start=lo, end=hi,
                                       channel=ch)
        return rows, lead_names(c, tenant.unit_id, sorted({r["lead_id"] for r in rows}))

    rows, names = await rt.db.read(run)
    return [
        SurgeEvent(
            r["id"],
            r["trigger_id"],
            r["lead_id"],
            r["event_id"],
            r["event_type"],
            r["channel"],
            r["window_ms"] // 1000,
            r["threshold"],
            r["score_after"],
            to_rfc3339(r["occurred_at"]),
            to_rfc3339(r["fired_at"]),
            names.get(r["lead_id"]),
        )
        for r in rows
    ]


@get(
    "/surge/{ou_id:str}/metrics",
    opt=access(Role.VIEWER, auth="jwt", ou=False, path_ou="ou_id"),
    operation_id="getSurgeMetrics",
    summary="Surge metrics summary for an OU",
    tags=TAGS,
)
async def surge_metrics(
    rt: Runtime,
    ou_id: str,
    start: str,
    end: str,
    interval: Literal["15m", "1h", "1d"] = "1h",
    channel: str | None = None,
) -> SurgeMetrics:
    """Totals, busiest interval, channels and a zero-filled series over [start, end)."""
    # Not clamped: a series is drawn over exactly the range asked for.
    lo, hi = parse_time_param(start, "start", clamp=False), parse_time_param(end, "end", clamp=False)
    ch = _channel(channel)
    if lo is None or hi is None:
        raise bad_request("`start` and `end` are required")
    if hi <= lo:
        raise bad_request("`end` must be after `start`")
    bucket = INTERVALS[interval]
    if (hi - lo) // bucket > MAX_BUCKETS:
        raise bad_request(
            f"the range has more than {MAX_BUCKETS} {interval} intervals; use a coarser interval"
        )

    def run(c: Any) -> tuple[dict[str, Any], list[tuple[int, int, int]], list[tuple[str, int, int]]]:
        return (
            store.surge_totals(c, ou_id, lo, hi, ch),
            store.surge_series(c, ou_id, lo, hi, bucket, ch),
            store.surge_channels(c, ou_id, lo, hi, ch),
        )

    totals, found, channels = await rt.db.read(run)
    by_start = {b: (n, leads) for b, n, leads in found}
    series = [SurgeBucket(to_rfc3339(b), *by_start.get(b, (0, 0))) for b in range(lo, hi, bucket)]
    peak = max((s for s in series if s.surges), key=lambda s: s.surges, default=None)
    return SurgeMetrics(
        ou_id,
        to_rfc3339(lo),
        to_rfc3339(hi),
        interval,
        ch,
        SurgeTotals(int(totals["surges"]), int(totals["leads"]), int(totals["triggers"])),
        peak,
        [SurgeChannel(*x) for x in channels],
        series,
    )


ROUTES = [
    list_surge_triggers,
    create_surge_trigger,
    update_surge_trigger,
    delete_surge_trigger,
    list_surge_events,
    surge_metrics,
]
