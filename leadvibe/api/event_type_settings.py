"""Per-OU event-type settings: visibility and processing scope, and deleting every event of a type.

`{eventType}` in the path is any spelling of the type (URL-encoded); everything is keyed by its normalized
`type_key`, so `Page View`, `page-view` and `page_view` name the same settings.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import delete, get, put

from leadvibe.api.json_body import refuses_null
from leadvibe.api.scoring_common import (
    EventTypePath,
    clean_event_type,
    invalidate,
    publish,
    require_pipeline,
    rescore_changes,
    write_config,
)
from leadvibe.errors import ApiError
from leadvibe.pipeline.queued_removal import drop_queued_of_type, queued_of_type
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import event_type_settings as store
from leadvibe.store import events as ev_store
from leadvibe.store import scoring as score_store
from leadvibe.timeutil import Instant, to_rfc3339

Scope = Literal["observe", "decide", "activate"]


@refuses_null("hidden", "max_processing_scope")
class EventTypeSettingIn(msgspec.Struct):
    """Visibility and processing ceiling (absent fields stay)."""

    hidden: bool | None = None
    max_processing_scope: Scope | None = None


class EventTypeOut(msgspec.Struct):
    """An event type of the OU with its settings and how many events of it are stored."""

    event_type: str
    display_name: str
    type_key: str
    hidden: bool
    max_processing_scope: str
    event_count: int
    first_seen_at: Instant | None
    last_seen_at: Instant | None


class DeletePreview(msgspec.Struct):
    """What deleting every event of the type would remove."""

    event_type: str
    events_count: int
    event_scores_count: int
    leads_affected: int


class DeleteResult(msgspec.Struct):
    """What was removed, and how many leads had their scores recomputed."""

    event_type: str
    events_deleted: int
    event_scores_deleted: int
    leads_rescored: int


def _out(row: dict[str, Any]) -> EventTypeOut:
    return EventTypeOut(
        row["display_name"],
        row["display_name"],
        row["type_key"],
        bool(row["hidden"]),
        row["max_processing_scope"],
        int(row["event_count"] or 0),
        to_rfc3339(row["first_seen_at"]),
        to_rfc3339(row["last_seen_at"]),
    )


@get(
    "/settings/event-types",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="listEventTypeSettings",
    summary="List event types with OU visibility and counts",
    tags=["Settings"],
)
async def list_event_types(rt: Runtime, tenant: Tenant) -> list[EventTypeOut]:
    """Every type seen in the active OU (hidden ones included, flagged), most frequent first, plus types that
    were configured before any event of them arrived."""
    return [_out(r) for r in await rt.db.read(lambda c: store.list_event_types(c, tenant.unit_id))]


@put(
    "/settings/event-types/{event_type:str}",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="setEventTypeSetting",
    summary="Set OU visibility for an event type",
    tags=["Settings"],
)
async def set_event_type(
    rt: Runtime, tenant: Tenant, event_type: EventTypePath, data: EventTypeSettingIn
) -> EventTypeOut:
    """Upsert the settings of a type (also one never seen yet); the next event of it obeys them.

    `max_processing_scope`: `observe` stores only, `decide` scores without triggers, `activate` does both.
    """
    _, key = clean_event_type(event_type, "eventType")
    if data.hidden is None and data.max_processing_scope is None:
        # A body of neither (`{}`, or a misspelt field) changed nothing, said 200, and made a type nobody sent.
        raise ApiError(400, "give `hidden` (true or false), `max_processing_scope` (observe, decide or activate), "
                            "or both")

    def run(c: Any) -> dict[str, Any]:
        store.upsert_setting(
            c, tenant.unit_id, key, hidden=data.hidden, scope=data.max_processing_scope, now=rt.now_ms()
        )
        return store.get_event_type(c, tenant.unit_id, key)  # type: ignore[return-value]

    return _out(await write_config(rt, tenant.unit_id, run))


@get(
    "/settings/event-types/{event_type:str}/delete-preview",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="previewEventTypeDelete",
    summary="Dry-run delete of all events for an event type (OU)",
    tags=["Settings"],
)
async def preview_delete(rt: Runtime, tenant: Tenant, event_type: EventTypePath) -> DeletePreview:
    """Counts of what `DELETE /settings/event-types/{eventType}` would remove; nothing changes."""
    _, key = clean_event_type(event_type, "eventType")
    counts = await rt.db.read(lambda c: store.delete_preview(c, tenant.unit_id, key))
    # Events acknowledged and not scored yet go too (they have no score rows, and their leads are not counted).
    queued = {event_id for _, event_id in await queued_of_type(rt, tenant.unit_id, key)}
    stored_too = await rt.db.read(lambda c: ev_store.stored_of(c, tenant.unit_id, queued))
    return DeletePreview(key, counts["events_count"] + len(queued) - stored_too, counts["event_scores_count"],
                         counts["leads_affected"])


@delete(
    "/settings/event-types/{event_type:str}",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="deleteEventTypeEvents",
    summary="Delete all events for an event type in the active OU",
    tags=["Settings"],
    status_code=200,
)
async def delete_event_type(rt: Runtime, tenant: Tenant, event_type: EventTypePath) -> DeleteResult:
    """Delete every event of the type in the active OU and, in the same transaction, recompute the scores of
    the leads that had any by replaying their remaining events (milestones re-armed, `score_update` sent to
    `/stream`). The type's settings are kept."""
    _, key = clean_event_type(event_type, "eventType")
    cache = require_pipeline(rt, "deleting events")
    unit_id, now = tenant.unit_id, rt.now_ms()
    # First the events still waiting to be scored (they would be stored after this answer said all were deleted),
    # then the stored ones (queued_removal.py says why in that order).
    queued = await drop_queued_of_type(rt, unit_id, key)

    def run(c: Any) -> tuple[DeleteResult, list[dict[str, Any]]]:
        leads = store.affected_leads(c, unit_id, key)
        before = score_store.lead_scores_by_ruleset(c, unit_id, leads)
        # Each event once: a worker batch that read some of the queued ones before they went has stored them.
        stored_too = ev_store.stored_of(c, unit_id, queued)
        events, scores = store.delete_events_of_type(c, unit_id, key)
        ev_store.refresh_lead_activity(c, unit_id, leads, now)
        rescored, changes = rescore_changes(rt, c, cache, unit_id, leads, before, now)
        return DeleteResult(key, events + len(queued) - stored_too, scores, rescored), changes

    result, changes = await rt.db.write(run)
    publish(rt, unit_id, changes)
    # The configuration is unchanged, but drop the cache anyway: it may hold per-type data of the OU.
    invalidate(rt, [unit_id])
    return result


ROUTES = [list_event_types, set_event_type, preview_delete, delete_event_type]
