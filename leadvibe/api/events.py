"""Reading and removing stored events: list with filters, CSV export, batch delete with rescoring, per-event
score explanation, event types and their metadata keys, channels, and a lead's events.

Ingestion (`/ingest`, `/ingest/batch`, `/import`, `/stream`) is `api/ingest.py`.

Decisions where the spec is silent:
- `/events` lists every stored event, hidden types and DECAY events included: hiding a type keeps it out of
  `/event-types` and dashboard summaries, but this is the raw record (and an explicit `event_type` filter for
  a hidden type must still find its events).
- `metadata=key:value` matches a top-level metadata key by its exact name (a dot is part of the name, not a
  path); the value compares as text: strings as they are, numbers as written (`3`, `2.5`), JSON
  `true`/`false`/`null` by those words.
- Deleting events answers how many of the OU's events went; ids of other OUs or unknown ids are not counted
  and not touched. Scores of the affected leads are replayed in the same transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response, delete, get
from litestar.datastructures import URL, ResponseHeader
from litestar.params import Parameter
from litestar.response import Stream

from leadvibe.api.deps import Deleted, LimitParam, PageParam
from leadvibe.api.query_values import refuse_blank
from leadvibe.csvsafe import csv_download, csv_stream
from leadvibe.documented import NOT_BLANK, across_fields, present, sized
from leadvibe.engine.normalize import type_key
from leadvibe.errors import ApiError, bad_request, not_found
from leadvibe.pipeline.queued_removal import drop_queued_events
from leadvibe.pipeline.rescore import rescore_leads
from leadvibe.pipeline.stream import name_score_updates
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import event_queries as q
from leadvibe.store.leads import lead_names
from leadvibe.timeutil import RANGES, Instant, range_bounds, to_rfc3339

TAGS = ["Events"]
MAX_BATCH_DELETE = 1000
EXPORT_PAGE = 1000
MAX_METADATA_FILTERS = 20
EXPORT_HEADER = ("id", "lead_id", "event_type", "timestamp", "channel", "source", "metadata")

_json = msgspec.json.Decoder()

# Query parameters shared by the list, the export and a lead's events.
EventTypeParam = Annotated[str | None, Parameter(
    description="Event type; any spelling of it (`Page View` finds `page_view`)", schema_extra=NOT_BLANK)]
LeadParam = Annotated[str | None, Parameter(description="Only this lead's events", schema_extra=NOT_BLANK)]
RangeParam = Annotated[str, Parameter(
    query="range", description="today, yesterday, last_24h, last_7d, last_30d, last_90d or all (event time)",
    schema_extra={"enum": list(RANGES)})]
MetadataParam = Annotated[list[str] | None, Parameter(
    description=f"Repeatable `key:value` metadata filter, e.g. metadata=utm_campaign:fall2025 (at most "
                f"{MAX_METADATA_FILTERS})", schema_extra={"max_items": MAX_METADATA_FILTERS})]
LogicParam = Annotated[str, Parameter(description="Combine metadata filters with `and` (default) or `or`",
                                      schema_extra={"enum": ["and", "or"]})]


class EventOut(msgspec.Struct):
    """A stored event. `created_at` is the event's own timestamp (the guide's name for it), as is
    `occurred_at`; `received_at` is when the server accepted it."""

    id: str
    lead_id: str
    event_type: str
    metadata: dict[str, Any]
    created_at: Instant | None
    occurred_at: Instant | None
    received_at: Instant | None
    channel: str
    source: str
    inorganic: bool
    filtered_by: str | None
    grouped_with: str | None
    # The lead's name from its metadata (`name`, first and last name, or `email`), when it has one.
    lead_name: str | None = None


class EventPage(msgspec.Struct):
    """One page of events, newest first."""

    events: list[EventOut]
    total: int
    page: int
    limit: int


class BatchDeleteIn(msgspec.Struct):
    """Event ids to delete, under either name (the guide's `event_ids` or the reference's `ids`)."""

    event_ids: Annotated[list[str] | None, sized(0, MAX_BATCH_DELETE)] = None
    ids: Annotated[list[str] | None, sized(0, MAX_BATCH_DELETE)] = None


# What `batch_delete_events` needs: an id (not empty) in one of the two lists.
across_fields(BatchDeleteIn, {"anyOf": [present(name, {"contains": {"type": "string", "minLength": 1}})
                                        for name in ("event_ids", "ids")]})


class RulesetScore(msgspec.Struct):
    """What one ruleset did with the event."""

    ruleset_id: str
    name: str | None
    is_primary: bool
    rule_ids: list[str]
    weight: int
    multiplier: float
    delta: int
    before: int
    after: int
    filtered_by: str | None


class Explanation(msgspec.Struct):
    """Why an event scored what it did, per ruleset. `multiplier` is the surge multiplier of the event's
    place in its session; `scope` `observe` means it was stored only (no rulesets)."""

    event_id: str
    lead_id: str
    event_type: str
    occurred_at: Instant | None
    channel: str
    scope: str
    inorganic: bool
    filtered_by: str | None
    grouped_with: str | None
    multiplier: float
    rulesets: list[RulesetScore]


class TypeProperties(msgspec.Struct):
    """Metadata keys seen on events of a type."""

    event_type: str
    properties: list[str]


def _event(row: dict[str, Any], names: dict[str, str]) -> EventOut:
    meta = _json.decode(row["metadata"]) if row["metadata"] else {}
    at = to_rfc3339(row["occurred_at"])
    return EventOut(row["id"], row["lead_id"], row["event_type"], meta if isinstance(meta, dict) else {}, at,
                    at, to_rfc3339(row["received_at"]), row["channel"], row["source"], bool(row["inorganic"]),
                    row["filtered_by"], row["grouped_with"], names.get(row["lead_id"]))


def _metadata_matches(items: Sequence[str] | None) -> tuple[q.MetadataMatch, ...]:
    out = []
    for item in items or ():
        key, sep, value = item.partition(":")
        key = key.strip()
        if not sep or not key:
            raise bad_request(f"`metadata` filter {item!r} must look like key:value")
        # A key goes into a JSON path in quotes, where `"` ends it and `\` escapes what follows.
        if '"' in key or "\\" in key or any(ord(c) < 32 for c in key) or len(key) > 200:
            raise bad_request(f"`metadata` filter key {key!r} is not a valid metadata key")
        out.append(q.MetadataMatch(key, value))
    if len(out) > MAX_METADATA_FILTERS:
        raise bad_request(f"at most {MAX_METADATA_FILTERS} `metadata` filters")
    return tuple(out)


def event_filter(now: int, event_type: str | None = None, lead_id: str | None = None, range_name: str = "all",
                 metadata: Sequence[str] | None = None, logic: str = "and") -> q.EventFilter:
    """Validate the shared query parameters (400 naming the bad one) into a store filter."""
    try:
        start, end = range_bounds(range_name, now)
    except ValueError as exc:
        raise bad_request(f"invalid `range`: {exc}") from None
    if logic not in ("and", "or"):
        raise bad_request("`logic` must be `and` or `or`")
    # A blank filter is a mistake, not "any" (leave the parameter out for that), as on /leads.
    refuse_blank(event_type=event_type, lead_id=lead_id)
    key = type_key(event_type) if event_type else None
    return q.EventFilter(type_key=key, lead_id=lead_id or None, start=start, end=end,
                         metadata=_metadata_matches(metadata), logic=logic)


async def _page(rt: Runtime, unit_id: str, f: q.EventFilter, page: int, limit: int) -> EventPage:
    def run(c: Any) -> tuple[int, list[dict[str, Any]], dict[str, str]]:
        rows = q.list_events(c, unit_id, f, limit, (page - 1) * limit)
        return q.count_events(c, unit_id, f), rows, lead_names(c, unit_id, list({r["lead_id"] for r in rows}))
    total, rows, names = await rt.db.read(run)
    return EventPage([_event(r, names) for r in rows], total, page, limit)


@get("/events", opt=access(Role.VIEWER),
     operation_id="listEvents", summary="List engagement events (OU-scoped)", tags=TAGS)
async def list_events(rt: Runtime, tenant: Tenant, page: PageParam = 1, limit: LimitParam = 25,
                      event_type: EventTypeParam = None, lead_id: LeadParam = None,
                      range_: RangeParam = "all", metadata: MetadataParam = None,
                      logic: LogicParam = "and") -> EventPage:
    """Events of the active OU, newest first, filtered by type, lead, time range and metadata."""
    f = event_filter(rt.now_ms(), event_type, lead_id, range_, metadata, logic)
    return await _page(rt, tenant.unit_id, f, page, limit)


@get("/events/export", opt=access(Role.VIEWER),
     operation_id="exportEvents", summary="Export events (OU-scoped)", tags=TAGS,
     media_type="text/csv")
async def export_events(rt: Runtime, tenant: Tenant, event_type: EventTypeParam = None,
                        lead_id: LeadParam = None, range_: RangeParam = "all", metadata: MetadataParam = None,
                        logic: LogicParam = "and",
                        order: Annotated[Literal["newest", "oldest", "arrival"], Parameter(
                            description="`newest` first (as `/events`), `oldest` first (by timestamp), or "
                                        "`arrival`: the order the events came in and were scored in, the order to "
                                        "import the file in elsewhere so they score the same there")] = "newest",
                        ) -> Stream:
    """CSV `id,lead_id,event_type,timestamp,channel,source,metadata`, newest (or oldest) first or in arrival
    order, streamed page by page."""
    f = event_filter(rt.now_ms(), event_type, lead_id, range_, metadata, logic)
    unit_id = tenant.unit_id
    oldest_first, by_arrival = order == "oldest", order == "arrival"

    async def pages() -> AsyncIterator[list[tuple[Any, ...]]]:
        cursor: tuple[int, int] | None = None
        while True:
            rows = await rt.db.read(partial(q.events_after, unit_id=unit_id, f=f, cursor=cursor,
                                            limit=EXPORT_PAGE, oldest_first=oldest_first,
                                            by_arrival=by_arrival))
            if not rows:
                return
            yield [(r["id"], r["lead_id"], r["event_type"], to_rfc3339(r["occurred_at"]), r["channel"],
                    r["source"], r["metadata"] or "") for r in rows]
            if len(rows) < EXPORT_PAGE:
                return
            cursor = (rows[-1]["occurred_at"], rows[-1]["seq"])

    return csv_download("events.csv", csv_stream(EXPORT_HEADER, pages()))


@delete("/events/batch", opt=access(Role.OPERATOR), operation_id="batchDeleteEvents",
        summary="Batch delete events (OU-scoped)", tags=TAGS, status_code=200)
async def batch_delete_events(rt: Runtime, tenant: Tenant, data: BatchDeleteIn) -> Deleted:
    """Delete up to 1,000 events of the active OU by id and, in the same transaction, replay the affected
    leads' remaining events so each score again equals the sum of its stored deltas."""
    if data.event_ids is None and data.ids is None:
        raise bad_request("give the events to delete as `event_ids` (or `ids`): a list of event ids")
    for name, given in (("event_ids", data.event_ids), ("ids", data.ids)):
        if given is not None and len(given) > MAX_BATCH_DELETE:  # as sent: blanks and repeats count too
            raise bad_request(f"`{name}` must hold at most {MAX_BATCH_DELETE} event ids")
    wanted = list(dict.fromkeys(i for i in [*(data.event_ids or ()), *(data.ids or ())] if i))
    if not wanted:
        sent = "ids" if data.ids and not data.event_ids else "event_ids"
        raise bad_request(f"`{sent}` must hold at least one event id" + (
            " (an empty string names no event)" if data.event_ids or data.ids else ""))
    if len(wanted) > MAX_BATCH_DELETE:
        raise bad_request(f"`event_ids` and `ids` together must hold at most {MAX_BATCH_DELETE} event ids")
    cache = rt.scoring_config
    if cache is None:
        raise ApiError(503, "deleting events is not available: the scoring pipeline is not running")
    unit_id, now = tenant.unit_id, rt.now_ms()
    triggers = rt.triggers
    # Those acknowledged and not scored yet first (queued_removal.py says why in this order).
    queued = await drop_queued_events(rt, unit_id, wanted)

    def run(c: Any) -> tuple[int, list[dict[str, Any]]]:
        found = q.events_by_ids(c, unit_id, wanted)
        if not found:
            return len(queued), []
        leads = list(dict.fromkeys(r["lead_id"] for r in found))
        before = q.lead_scores(c, unit_id, leads)
        q.delete_events(c, unit_id, found, now)
        # An event a worker batch had read before it left the queue is stored now, and deleted here: once.
        deleted = len(queued | {r["id"] for r in found})
        cfg = cache.get(c, unit_id)
        rescore_leads(c, cfg, leads, now)
        after = q.lead_scores(c, unit_id, leads)
        if triggers is not None and hasattr(triggers, "on_score_change"):
            primary = cfg.primary_ruleset_id or ""
            for lead_id in leads:
                triggers.on_score_change(c, unit_id, lead_id, after.get((lead_id, primary), 0), now)
        # For /stream listeners, in the worker's `score_update` shape.
        changes = [{"lead_id": lead, "ruleset_id": rs, "delta": score - before.get((lead, rs), 0),
                    "score": score}
                   for (lead, rs), score in after.items() if score != before.get((lead, rs), 0)]
        name_score_updates(c, rt.stream, unit_id, changes)
        return deleted, changes

    deleted, changes = await rt.db.write(run)
    hub = rt.stream
    if hub is not None:
        for change in changes:
            hub.publish(unit_id, "score_update", change)
    return Deleted(deleted)


@get("/events/{event_id:str}/explanation", opt=access(Role.VIEWER), operation_id="getEventExplanation",
     summary="Get event score explanation", tags=TAGS)
async def explain_event(rt: Runtime, tenant: Tenant, event_id: str) -> Explanation:
    """Per-ruleset weight, multiplier and delta of one event as stored when it was scored (or last replayed), and
    the lead's score before and after it (its deltas summed in arrival order)."""
    def run(c: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        row = q.event_by_id(c, tenant.unit_id, event_id)
        return row, (q.event_scores_of(c, tenant.unit_id, row["lead_id"], row["seq"]) if row else [])
    row, scores = await rt.db.read(run)
    if row is None:
        raise not_found("event")
    rulesets = [RulesetScore(s["ruleset_id"], s["name"], bool(s["is_primary"]),
                             list(_json.decode(s["rule_ids"] or "[]")), int(s["weight"]),
                             float(s["multiplier"]), int(s["delta"]), int(s["before"]), int(s["after"]),
                             s["filtered_by"])
                for s in scores]
    return Explanation(row["id"], row["lead_id"], row["event_type"], to_rfc3339(row["occurred_at"]),
                       row["channel"], row["scope"], bool(row["inorganic"]), row["filtered_by"],
                       row["grouped_with"], float(row["multiplier"]), rulesets)


@get("/event-types", opt=access(Role.VIEWER),
     operation_id="listEventTypes", summary="List visible event types (OU-scoped)",
     tags=TAGS)
async def list_event_types(rt: Runtime, tenant: Tenant) -> list[str]:
    """Event type names of the active OU (each as first spelled), hidden ones left out, sorted."""
    return await rt.db.read(lambda c: q.visible_types(c, tenant.unit_id))


@get("/event-types/{event_type:str}/properties", opt=access(Role.VIEWER), operation_id="listEventTypeProperties",
     summary="List distinct metadata keys for an event type (OU)", tags=TAGS)
async def list_event_type_properties(rt: Runtime, tenant: Tenant, event_type: str) -> TypeProperties:
    """Top-level metadata keys seen on events of the type (any spelling of it), sorted."""
    refuse_blank(eventType=event_type)
    key = type_key(event_type)

    def run(c: Any) -> tuple[dict[str, Any] | None, list[str]]:
        return q.type_row(c, tenant.unit_id, key), q.type_properties(c, tenant.unit_id, key)
    row, props = await rt.db.read(run)
    if row is None:
        raise not_found("event type")
    return TypeProperties(row["display_name"], props)


@get("/channels", opt=access(Role.VIEWER), operation_id="listChannels", summary="List available channels (OU-scoped)",
     tags=TAGS)
async def list_channels(rt: Runtime, tenant: Tenant) -> list[str]:
    """Distinct channels of the active OU's events (web, email, slack, webinar, crm, system, or any given in
    `metadata.channel`), sorted."""
    return await rt.db.read(lambda c: q.channels(c, tenant.unit_id))


def page_links(url: URL, path: str, page: int, limit: int, total: int) -> str:
    """An RFC 8288 `Link` header with the first, previous, next and last pages of a paged list at `path` (as sent
    on the wire: percent-encoded), the other query parameters of `url` kept as they were."""
    last = max(1, -(-total // limit))
    rels = [("first", 1)]
    if page > 1:
        rels.append(("prev", min(page - 1, last)))
    if page < last:
        rels.append(("next", page + 1))
    rels.append(("last", last))
    params = [(k, v) for k, v in url.query_params.multi_items() if k not in ("page", "limit")]
    return ", ".join(
        f'<{path}?{urlencode([*params, ("page", str(n)), ("limit", str(limit))])}>; rel="{rel}"'
        for rel, n in rels)


@get("/leads/{lead_id:str}/events", opt=access(Role.VIEWER), operation_id="listLeadEvents",
     summary="List events for a lead (OU-scoped)", tags=TAGS,
     # The framework gives a header its schema from the type of `value` (OpenAPI requires one): a count is an integer.
     response_headers=[
         ResponseHeader(name="X-Total-Count", description="How many events match, over all pages",
                        documentation_only=True, value=0),  # type: ignore[arg-type]
         ResponseHeader(name="Link", description="RFC 8288 links to the first, prev, next and last pages",
                        documentation_only=True, value="")])
async def list_lead_events(request: Request[Any, Any, Any], rt: Runtime, tenant: Tenant, lead_id: str,
                           page: PageParam = 1, limit: LimitParam = 50, event_type: EventTypeParam = None,
                           range_: RangeParam = "all") -> Response[list[EventOut]]:
    """A live lead's events as a JSON array, newest first, as the reference shows; the total is in `X-Total-Count`
    and the other pages in `Link`. 404 for an unknown lead, another OU's, or one merged away."""
    if not lead_id.strip():
        raise not_found("lead")  # no lead has a blank id: the path names none, not a bad filter
    f = event_filter(rt.now_ms(), event_type, lead_id, range_)
    if not await rt.db.read(lambda c: q.lead_exists(c, tenant.unit_id, lead_id)):
        raise not_found("lead")
    result = await _page(rt, tenant.unit_id, f, page, limit)
    return Response(result.events, headers={"X-Total-Count": str(result.total),
                                            "Link": page_links(request.url, f"/leads/{quote(lead_id, safe='')}/events",
                                                               page, limit, result.total)})


ROUTES = [list_events, export_events, batch_delete_events, explain_event, list_event_types,
          list_event_type_properties, list_channels, list_lead_events]
