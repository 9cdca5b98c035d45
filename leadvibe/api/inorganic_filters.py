"""Inorganic filters: more than `count_threshold` events of one type from one lead within `time_window_ms` are
stored as inorganic and score nothing (SEMANTICS §4)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post, put

from leadvibe.api.bounds import checked_range
from leadvibe.api.json_body import refuses_null
from leadvibe.api.scoring_common import EventTypeText, check_int, clean_event_type, write_config
from leadvibe.errors import not_found
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import scoring as store
from leadvibe.timeutil import Instant, to_rfc3339

# A year: windows longer than that would make every lead's history one burst.
WINDOW_MAX_MS = 366 * 86_400_000
THRESHOLD_MAX = 1_000_000
Threshold = Annotated[int, checked_range(1, THRESHOLD_MAX)]
WindowMs = Annotated[int, checked_range(1, WINDOW_MAX_MS)]


class FilterIn(msgspec.Struct):
    """A new filter."""

    event_type: EventTypeText
    count_threshold: Threshold
    time_window_ms: WindowMs
    group_events: bool = False


@refuses_null("event_type", "count_threshold", "time_window_ms", "group_events")
class FilterPatch(msgspec.Struct):
    """Fields to change on a filter (absent fields stay)."""

    event_type: EventTypeText | None = None
    count_threshold: Threshold | None = None
    time_window_ms: WindowMs | None = None
    group_events: bool | None = None


class FilterOut(msgspec.Struct):
    """An inorganic filter."""

    filter_id: str
    event_type: str
    count_threshold: int
    time_window_ms: int
    group_events: bool
    org_id: str
    created_by: str | None
    updated_by: str | None
    created_at: Instant | None
    updated_at: Instant | None


def _filter(row: dict[str, Any]) -> FilterOut:
    return FilterOut(
        row["id"],
        row["event_type"],
        row["count_threshold"],
        row["time_window_ms"],
        bool(row["group_events"]),
        row["org_id"],
        row["created_by"],
        row["updated_by"],
        to_rfc3339(row["created_at"]),
        to_rfc3339(row["updated_at"]),
    )


def _threshold(value: int) -> int:
    return check_int(value, "count_threshold", 1, THRESHOLD_MAX)


def _window(value: int) -> int:
    return check_int(value, "time_window_ms", 1, WINDOW_MAX_MS)


@get(
    "/filters",
    opt=access(Role.VIEWER),
    operation_id="listFilters",
    summary="List inorganic filters (OU-scoped)",
    tags=["Filters"],
)
async def list_filters(rt: Runtime, tenant: Tenant) -> list[FilterOut]:
    """Filters of the active OU, in the order they are tried."""
    return [_filter(r) for r in await rt.db.read(lambda c: store.list_filters(c, tenant.unit_id))]


@post(
    "/filters",
    opt=access(Role.OPERATOR),
    operation_id="createFilter",
    summary="Create inorganic filter (OU-scoped)",
    tags=["Filters"],
)
async def create_filter(rt: Runtime, tenant: Tenant, principal: Principal, data: FilterIn) -> FilterOut:
    """A new filter; `count_threshold` and `time_window_ms` are at least 1."""
    event_type, key = clean_event_type(data.event_type)
    threshold, window = _threshold(data.count_threshold), _window(data.time_window_ms)
    row = await write_config(
        rt,
        tenant.unit_id,
        lambda c: store.create_filter(
            c,
            tenant.unit_id,
            tenant.org_id,
            filter_id=new_id("ft"),
            event_type=event_type,
            type_key=key,
            count_threshold=threshold,
            time_window_ms=window,
            group_events=data.group_events,
            actor=principal.actor_id,
            now=rt.now_ms(),
        ),
    )
    return _filter(row)


@put(
    "/filters/{filter_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateFilter",
    summary="Update inorganic filter (OU-scoped)",
    tags=["Filters"],
)
async def update_filter(
    rt: Runtime, tenant: Tenant, principal: Principal, filter_id: str, data: FilterPatch
) -> FilterOut:
    """Change the fields given; events already stored keep their inorganic flag until a rescore."""
    fields: dict[str, Any] = {}
    if data.event_type is not None:
        fields["event_type"], fields["type_key"] = clean_event_type(data.event_type)
    if data.count_threshold is not None:
        fields["count_threshold"] = _threshold(data.count_threshold)
    if data.time_window_ms is not None:
        fields["time_window_ms"] = _window(data.time_window_ms)
    if data.group_events is not None:
        fields["group_events"] = int(data.group_events)

    def run(c: Any) -> dict[str, Any]:
        row = store.update_filter(c, tenant.unit_id, filter_id, fields, principal.actor_id, rt.now_ms())
        if row is None:  # nothing was updated: the OU has no such filter
            raise not_found("inorganic filter")
        return row

    return _filter(await write_config(rt, tenant.unit_id, run))


@delete(
    "/filters/{filter_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteFilter",
    summary="Delete inorganic filter (OU-scoped)",
    tags=["Filters"],
)
async def delete_filter(rt: Runtime, tenant: Tenant, filter_id: str) -> None:
    """Delete a filter."""

    def run(c: Any) -> None:
        if not store.delete_filter(c, tenant.unit_id, filter_id):
            raise not_found("inorganic filter")

    await write_config(rt, tenant.unit_id, run)


ROUTES = [list_filters, create_filter, update_filter, delete_filter]
