"""Milestone, sequence and pattern triggers: CRUD, simulation, emitted events and their CSV exports.

The shared pieces (destination and filter validation, the common response fields, create/update/delete) are
also used by `api/surge.py` for surge triggers. Evaluation lives in `pipeline/triggers.py`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post, put
from litestar.params import Parameter
from litestar.response import Stream

from leadvibe.api.bounds import Signed, checked_range
from leadvibe.api.condition_fields import check_condition
from leadvibe.api.deps import LimitParam, PageParam
from leadvibe.api.json_body import refuses_null
from leadvibe.api.names import free_text, no_control_in_text
from leadvibe.api.query_values import refuse_blank
from leadvibe.api.time_params import TimeParam, parse_time_range
from leadvibe.api.trigger_names import default_name, name_for_update, ou_type_names
from leadvibe.csvsafe import csv_download, csv_stream
from leadvibe.documented import (
    CONTROL_PATTERN,
    NAME_PATTERN,
    NOT_BLANK,
    across_fields,
    choices,
    one_line,
    present,
    sized,
    string_matching,
)
from leadvibe.engine import triggers as eng
from leadvibe.engine.normalize import type_key
from leadvibe.errors import ApiError, bad_request, not_found
from leadvibe.ids import new_id
from leadvibe.limits import INT_LIMIT
from leadvibe.notify import ssrf
from leadvibe.pipeline import triggers as evaluator
from leadvibe.pipeline.inbox import no_control
from leadvibe.pipeline.triggers import SEGMENT_FIELD, segment_ids
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import deliveries as delivery_store
from leadvibe.store import segments as segment_store
from leadvibe.store import triggers as store
from leadvibe.store.leads import lead_names
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Triggers"]
SIMULATE_MAX_DAYS = 3650  # a simulation over the last `days` days: ten years of history at most
EMAIL = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+$")
EMAIL_MAX = 320
MAX_EMAILS = 50
MAX_TEXT = 5000
TARGET_KINDS = ("channel", "user")
# Fields whose change makes old per-lead progress meaningless (a different trigger, really).
DEFINITION_FIELDS = (
    "type_key",
    "score_threshold",
    "event_steps",
    "conditions",
    "window_amount",
    "window_unit",
    "ordered",
    "fire_mode",
    "threshold_count",
)
CSV_PAGE = 1000
DESTINATIONS = (
    "Where a firing is sent, of the destinations the trigger names: `webhook` (unless a 410 disabled it), `email`,"
    " `slack`. Empty: a firing is still recorded (milestones and sequences list theirs) and streamed"
    " (`trigger_fired` on /stream) but sent nowhere, except to the OU's default Slack target when Slack is"
    " connected."
)


# --------------------------------------------------------------------------------------------- request bodies

MAX_STEPS = 50
# A sequence step as `_sequence_fields` takes it: something besides spaces.
STEP = {"type": "string", "pattern": NAME_PATTERN}
# A trigger's window (`window_fields`): an amount of at least 1 of a unit (any case; blank means seconds).
WindowAmount = Annotated[int, checked_range(1, INT_LIMIT)]
WindowUnit = Annotated[str | None, choices([*eng.WINDOW_UNITS, ""], nullable=True)]
# A Slack or Teams target's kind ("" or null clears it, with its id).
TargetKind = Annotated[str | None, choices([*TARGET_KINDS, ""], nullable=True)]
# The texts a trigger keeps, each checked by `_text` as the document says.
NAME_MAX = 200
LINE_MAX = 500
MESSAGE_MAX = 20_000
TARGET_ID_MAX = 200
EmailLine = Annotated[str, one_line(LINE_MAX)]
TargetId = Annotated[str, one_line(TARGET_ID_MAX)]
# Email recipients (`_emails`): each `name@domain.tld`, spaces around it ignored, the same address in another case
# kept once.
Recipients = Annotated[list[str], sized(0, MAX_EMAILS, items={
    "type": "string", "maxLength": EMAIL_MAX, "not": string_matching(CONTROL_PATTERN),
    "description": "an email address: name@domain.tld"})]


@refuses_null("name", "active", "fire_mode", "profile_filters", "lead_attribute_filters", "hubspot_sync")
class Common(msgspec.Struct, kw_only=True):
    """Fields every trigger kind accepts (all optional). On update an absent field is unchanged; a text or a
    destination (`description`, `webhook_url`, `emails`, the email texts, the Slack and Teams targets) is cleared
    by `null` or `""` (`[]` for `emails`), so `{"webhook_url": null, "emails": [...]}` switches a destination."""

    name: Annotated[str, one_line(NAME_MAX, blank="stored trimmed")] | None = None
    description: Annotated[str, free_text(MAX_TEXT)] | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | None = None
    fire_mode: Annotated[str | None, choices(eng.FIRE_MODES, nullable=True)] = None
    profile_filters: list[dict[str, Any]] | None = None
    lead_attribute_filters: list[dict[str, Any]] | None = None
    webhook_url: str | msgspec.UnsetType | None = msgspec.UNSET
    emails: Recipients | msgspec.UnsetType | None = msgspec.UNSET
    email_subject: EmailLine | msgspec.UnsetType | None = msgspec.UNSET
    email_preheader: EmailLine | msgspec.UnsetType | None = msgspec.UNSET
    email_message: Annotated[str, free_text(MESSAGE_MAX)] | msgspec.UnsetType | None = msgspec.UNSET
    slack_target_kind: TargetKind | msgspec.UnsetType = msgspec.UNSET
    slack_target_id: TargetId | msgspec.UnsetType | None = msgspec.UNSET
    teams_target_kind: TargetKind | msgspec.UnsetType = msgspec.UNSET
    teams_target_id: TargetId | msgspec.UnsetType | None = msgspec.UNSET
    hubspot_sync: bool | None = None


@refuses_null("event_type", "score_threshold")
class MilestoneIn(Common, kw_only=True):
    """A milestone: fires when the lead's primary score reaches `score_threshold` on an `event_type` event
    (empty = any type)."""

    event_type: str | None = None
    score_threshold: Signed | None = None


across_fields(MilestoneIn, creating={"allOf": [present("event_type"), present("score_threshold")]})


@refuses_null("event_types", "event_steps", "window_seconds", "window_unit", "ordered")
class SequenceIn(Common, kw_only=True):
    """A sequence: every step within one window (`window_seconds` is an amount of `window_unit`)."""

    event_types: Annotated[list[str] | None, sized(1, MAX_STEPS, items=STEP)] = None
    event_steps: Annotated[list[str] | None, sized(1, MAX_STEPS, items=STEP)] = None
    window_seconds: WindowAmount | None = None
    window_unit: WindowUnit = None
    ordered: bool | None = None


across_fields(SequenceIn, creating={**present("window_seconds"),
                                        "anyOf": [present("event_types"), present("event_steps")]})


class PatternCondition(msgspec.Struct, forbid_unknown_fields=True):
    """At least `min_count` events of `event_type` in the window. Another key is refused: `{"event_type": "x",
    "count": 3}` would otherwise be a condition of one event."""

    event_type: Annotated[str, msgspec.Meta(extra_json_schema={"extra": {"pattern": NAME_PATTERN}})]
    min_count: Annotated[int, checked_range(1, INT_LIMIT)] = 1


across_fields(PatternCondition, {"additionalProperties": False})


@refuses_null("conditions", "window_seconds", "window_unit")
class PatternIn(Common, kw_only=True):
    """A pattern/frequency trigger: every condition within the trailing window."""

    conditions: Annotated[list[PatternCondition] | None, sized(1)] = None
    window_seconds: WindowAmount | None = None
    window_unit: WindowUnit = None


across_fields(PatternIn, creating={"allOf": [present("conditions"), present("window_seconds")]})


class SimulateIn(msgspec.Struct):
    """Simulate one lead (`lead_id`) or every lead over the last `days` days."""

    lead_id: str | None = None
    days: Annotated[int, checked_range(1, SIMULATE_MAX_DAYS)] = 30


# ------------------------------------------------------------------------------------------------ responses


class TriggerBase(msgspec.Struct, kw_only=True):
    """Fields every trigger kind returns."""

    trigger_id: str
    org_id: str
    unit_id: str
    name: str
    description: str | None
    active: bool
    fire_mode: str
    profile_filters: list[dict[str, Any]]
    lead_attribute_filters: list[dict[str, Any]]
    webhook_url: str | None
    webhook_disabled: bool
    emails: list[str]
    email_subject: str | None
    email_preheader: str | None
    email_message: str | None
    slack_target_kind: str | None
    slack_target_id: str | None
    teams_target_kind: str | None
    teams_target_id: str | None
    hubspot_sync: bool
    created_at: Instant | None
    updated_at: Instant | None
    created_by: str | None
    updated_by: str | None
    destinations: Annotated[list[str], msgspec.Meta(description=DESTINATIONS)]


class Milestone(TriggerBase, kw_only=True):
    """A milestone trigger."""

    event_type: str
    score_threshold: int


class Sequence(TriggerBase, kw_only=True):
    """A sequence trigger (`event_steps`, also echoed as `event_types`)."""

    event_steps: list[str]
    event_types: list[str]
    window_seconds: int
    window_unit: str
    ordered: bool


class Pattern(TriggerBase, kw_only=True):
    """A pattern/frequency trigger."""

    conditions: list[PatternCondition]
    window_seconds: int
    window_unit: str


class Simulation(msgspec.Struct):
    """What the trigger would have done."""

    would_fire: bool
    matched_leads: list[str]
    total_matches: int
    message: str
    # lead id -> the lead's name from its metadata (`name`, first and last name, or `email`), for the matched
    # leads that have one.
    lead_names: dict[str, str] = msgspec.field(default_factory=dict)


class EmittedEvent(msgspec.Struct):
    """A trigger firing, with the lead's primary score before and after the firing event."""

    id: str
    trigger_id: str
    trigger_name: str
    kind: str
    lead_id: str
    event_id: str | None
    event_type: str | None
    score_before: int | None
    score_after: int | None
    level: str | None
    fired_at: Instant | None
    # The lead's name from its metadata (`name`, first and last name, or `email`), when it has one.
    lead_name: str | None = None


def base_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The common response fields of a stored trigger row."""
    return {
        "trigger_id": row["id"],
        "org_id": row["org_id"],
        "unit_id": row["unit_id"],
        "name": row["name"],
        "description": row["description"],
        "active": bool(row["active"]),
        "fire_mode": row["fire_mode"],
        "profile_filters": row["profile_filters"],
        "lead_attribute_filters": row["lead_attribute_filters"],
        "webhook_url": row["webhook_url"],
        "webhook_disabled": row["webhook_disabled_at"] is not None,
        "emails": row["emails"],
        "email_subject": row["email_subject"],
        "email_preheader": row["email_preheader"],
        "email_message": row["email_message"],
        "slack_target_kind": row["slack_target_kind"],
        "slack_target_id": row["slack_target_id"],
        "teams_target_kind": row["teams_target_kind"],
        "teams_target_id": row["teams_target_id"],
        "hubspot_sync": bool(row["hubspot_sync"]),
        "created_at": to_rfc3339(row["created_at"]),
        "updated_at": to_rfc3339(row["updated_at"]),
        "created_by": row["created_by"],
        "updated_by": row["updated_by"],
        "destinations": destinations(row),
    }


def destinations(row: dict[str, Any]) -> list[str]:
    """The kinds of destination a firing of this stored trigger is sent to, of those it names itself."""
    named = {
        "webhook": bool(row["webhook_url"]) and row["webhook_disabled_at"] is None,
        "email": bool(row["emails"]),
        "slack": bool(row["slack_target_kind"] and row["slack_target_id"]),
    }
    return [kind for kind, present in named.items() if present]


def milestone_out(row: dict[str, Any]) -> Milestone:
    """Response shape of a milestone row."""
    return Milestone(
        **base_fields(row), event_type=row["event_type"] or "", score_threshold=row["score_threshold"]
    )


def sequence_out(row: dict[str, Any]) -> Sequence:
    """Response shape of a sequence row."""
    steps = list(row["event_steps"] or [])
    return Sequence(
        **base_fields(row),
        event_steps=steps,
        event_types=steps,
        window_seconds=row["window_amount"],
        window_unit=row["window_unit"],
        ordered=bool(row["ordered"]),
    )


def pattern_out(row: dict[str, Any]) -> Pattern:
    """Response shape of a pattern row."""
    conditions = [PatternCondition(c["event_type"], c["min_count"]) for c in row["conditions"] or []]
    return Pattern(
        **base_fields(row),
        conditions=conditions,
        window_seconds=row["window_amount"],
        window_unit=row["window_unit"],
    )


# ------------------------------------------------------------------------------------------------ validation


def _text(value: str, what: str, limit: int = MAX_TEXT, *, single_line: bool = False) -> str | None:
    # Counted as sent, as the document's maxLength counts it (`Common`), then stored trimmed.
    if len(value) > limit:
        raise bad_request(f"`{what}` must be at most {limit} characters")
    trimmed = value.strip()
    if single_line:
        # Checked before trimming, as every name is: a control character at either end is refused too.
        if "\r" in trimmed or "\n" in trimmed:
            raise bad_request(f"`{what}` must be a single line")
        no_control(value, what)
    else:
        no_control_in_text(trimmed, what)
    return trimmed or None


def _filters(items: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        field = item.get("field", item.get("property", item.get("key")))
        op = item.get("operator", item.get("op"))
        if not isinstance(field, str) or not field.strip():
            raise bad_request(f"`{what}[{i}].field` is required")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            value = msgspec.json.encode(value).decode() if isinstance(value, list | dict) else str(value)
            if isinstance(item.get("value"), bool):
                value = value.lower()
        # As a segment rule's: a comparison without a value (a half-filled row) matched nobody, silently.
        canonical, _ = check_condition(op if isinstance(op, str) else "", value, f"{what}[{i}].operator",
                                       f"{what}[{i}].value")
        if field.strip() == SEGMENT_FIELD and (
                canonical not in ("equals", "not_equals", "in") or not value or not value.strip()):
            raise bad_request(f"`{what}[{i}]`: a `segment` filter takes equals, not_equals or in, and segment"
                                  " ids as its value")
        out.append({"field": field.strip(), "operator": canonical, "value": value})
    return out


def _emails(items: list[str]) -> list[str]:
    # Counted and measured as sent, as the document's `Recipients` says; an address is sent to the mail server as
    # it is stored, so a control character (a NUL, an escape) is refused like anywhere else.
    if len(items) > MAX_EMAILS:
        raise bad_request(f"`emails` may list at most {MAX_EMAILS} addresses")
    seen: dict[str, str] = {}
    for raw in items:
        no_control(raw, "emails")
        address = raw.strip()
        if not EMAIL.match(address) or len(raw) > EMAIL_MAX:
            raise bad_request(f"`emails`: {raw!r} is not a valid email address")
        seen.setdefault(address.lower(), address)
    return list(seen.values())


async def check_webhook_url(rt: Runtime, url: str) -> str | None:
    """Validate a webhook URL at save time (SSRF guard); "" clears it. A name that does not resolve now is
    accepted (DNS may be down); the sender checks again when it connects."""
    url = url.strip()
    if not url:
        return None
    try:
        await ssrf.check_url(url, rt.settings.webhook_allow_private)
    except ssrf.DestinationUnresolvable:
        pass
    except ssrf.DestinationRefused as exc:
        raise bad_request(f"`webhook_url` refused: {exc}") from None
    return url


def _event_type(value: str, field: str) -> str:
    """An event type a trigger waits for: trimmed, at most 200 characters, without control characters (no event
    can hold one, so such a trigger could never fire)."""
    no_control(value, field)  # before trimming: at either end too, as for a rule's event type
    event_type = value.strip()
    if len(event_type) > 200:
        raise bad_request(f"`{field}` must be at most 200 characters")
    return event_type


def event_type_fields(value: str) -> dict[str, Any]:
    """An optional event type (at most 200 characters; "" = any type) -> `event_type` and `type_key`."""
    event_type = _event_type(value, "event_type")
    return {"event_type": event_type, "type_key": type_key(event_type) or None}


def window_fields(amount: int | None, unit: str | None, *, required: bool) -> dict[str, Any]:
    """`window_seconds` (an amount >= 1) and `window_unit` -> stored columns."""
    out: dict[str, Any] = {}
    if amount is None:
        if required:
            raise bad_request("`window_seconds` is required (an amount >= 1 of `window_unit`)")
    else:
        out["window_amount"] = amount
    if unit is not None or required:
        out["window_unit"] = (unit or "seconds").strip().lower()
    try:
        eng.window_ms(amount if amount is not None else 1, out.get("window_unit", "seconds"))
    except ValueError as exc:
        raise bad_request(f"invalid window: {exc}") from None
    return out


async def common_fields(rt: Runtime, data: Common) -> dict[str, Any]:
    """Validated common columns from a request body (only the fields it sent)."""
    f: dict[str, Any] = {}
    if data.name is not None:
        f["name"] = _text(data.name, "name", NAME_MAX, single_line=True) or ""
    if data.description is not msgspec.UNSET:
        f["description"] = _text(data.description or "", "description")
    if data.active is not None:
        f["active"] = int(data.active)
    if data.fire_mode is not None:
        mode = data.fire_mode.strip().lower()
        if mode not in eng.FIRE_MODES:
            raise bad_request("`fire_mode` must be once or every")
        f["fire_mode"] = mode
    if data.profile_filters is not None:
        f["profile_filters"] = _filters(data.profile_filters, "profile_filters")
    if data.lead_attribute_filters is not None:
        f["lead_attribute_filters"] = _filters(data.lead_attribute_filters, "lead_attribute_filters")
    if data.webhook_url is not msgspec.UNSET:
        f["webhook_url"] = await check_webhook_url(rt, data.webhook_url or "")
        f["webhook_disabled_at"] = None  # a saved URL gets another chance, even after a 410
    if data.emails is not msgspec.UNSET:
        f["emails"] = _emails(data.emails or [])
    for text in ("email_subject", "email_preheader"):
        value = getattr(data, text)
        if value is not msgspec.UNSET:
            f[text] = _text(value or "", text, LINE_MAX, single_line=True)
    if data.email_message is not msgspec.UNSET:
        f["email_message"] = _text(data.email_message or "", "email_message", MESSAGE_MAX)
    for prefix in ("slack", "teams"):
        kind, target = getattr(data, f"{prefix}_target_kind"), getattr(data, f"{prefix}_target_id")
        if kind is not msgspec.UNSET:
            kind = (kind or "").strip().lower() or None
            if kind is not None and kind not in TARGET_KINDS:
                raise bad_request(f"`{prefix}_target_kind` must be channel or user")
            f[f"{prefix}_target_kind"] = kind
        if target is not msgspec.UNSET:
            f[f"{prefix}_target_id"] = _text(target or "", f"{prefix}_target_id", TARGET_ID_MAX, single_line=True)
    if data.hubspot_sync is not None:
        f["hubspot_sync"] = int(data.hubspot_sync)
    return f


def check_filter_segments(c: Any, unit_id: str, fields: dict[str, Any]) -> None:
    """A filter on `segment` must name segments of the OU (404 otherwise, as for any id of another OU)."""
    for item in [*(fields.get("profile_filters") or []), *(fields.get("lead_attribute_filters") or [])]:
        if item["field"] == SEGMENT_FIELD:
            for segment_id in segment_ids(item):
                if segment_store.SEGMENTS.get(c, unit_id, segment_id) is None:
                    raise not_found(f"segment {segment_id}")


def check_destinations(kind: str, row: dict[str, Any]) -> None:
    """Destination rules on the merged definition (SEMANTICS §8; the reference's required fields)."""
    has_webhook, has_emails = bool(row.get("webhook_url")), bool(row.get("emails"))
    slack_kind, slack_id = row.get("slack_target_kind"), row.get("slack_target_id")
    if bool(slack_kind) != bool(slack_id):
        raise bad_request("`slack_target_kind` and `slack_target_id` go together")
    if kind == "surge" and has_webhook == has_emails:
        raise bad_request("a surge trigger needs exactly one destination: `webhook_url` or `emails`")
    if kind == "sequence" and not (has_webhook or has_emails or slack_id):
        raise bad_request("a sequence trigger needs a destination: `webhook_url`, `emails` or a Slack target")


async def create(
    rt: Runtime, tenant: Tenant, principal: Principal, kind: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Insert a validated trigger (destination rules checked; without a name, named by what it watches:
    `api/trigger_names.py`) and drop the OU's evaluator cache."""
    check_destinations(kind, fields)
    trigger_id = new_id("tr")

    def run(c: Any) -> dict[str, Any]:
        check_filter_segments(c, tenant.unit_id, fields)
        if not fields.get("name"):
            fields["name"] = default_name(kind, fields, ou_type_names(c, tenant.unit_id))
        row = store.create_trigger(
            c, tenant.unit_id, tenant.org_id, trigger_id, kind, fields, principal.actor_id, rt.now_ms()
        )
        # On the writer thread: the very next event sees the new trigger.
        rt.invalidate_triggers(tenant.unit_id)
        return row

    return await rt.db.write(run)


async def update(
    rt: Runtime,
    tenant: Tenant,
    principal: Principal,
    kind: str,
    trigger_id: str,
    fields: dict[str, Any],
    validate: Any = None,
) -> dict[str, Any]:
    """Apply validated changes; `validate(merged_row)` may refuse the result (400). 404 outside the OU."""

    def run(c: Any) -> dict[str, Any]:
        current = store.get_trigger(c, tenant.unit_id, kind, trigger_id)
        if current is None:
            raise not_found(f"{kind} trigger")
        merged = {**current, **fields}
        check_filter_segments(c, tenant.unit_id, fields)
        if validate is not None:
            validate(merged)
        check_destinations(kind, merged)
        if "name" in fields and not fields["name"]:
            fields.pop("name")
        if "name" not in fields:
            renamed = name_for_update(kind, current, merged, ou_type_names(c, tenant.unit_id))
            if renamed is not None and renamed != current.get("name"):
                fields["name"] = renamed
        changed = any(k in fields and fields[k] != current.get(k) for k in DEFINITION_FIELDS)
        row = store.update_trigger(
            c, tenant.unit_id, kind, trigger_id, fields, principal.actor_id, rt.now_ms()
        )
        if changed:
            store.reset_state(c, tenant.unit_id, trigger_id)
        rt.invalidate_triggers(tenant.unit_id)
        return row  # type: ignore[return-value]

    return await rt.db.write(run)


async def remove(rt: Runtime, tenant: Tenant, kind: str, trigger_id: str) -> None:
    """Delete a trigger of the OU (404 otherwise)."""

    def run(c: Any) -> bool:
        gone = store.delete_trigger(c, tenant.unit_id, kind, trigger_id)
        if gone:
            delivery_store.close_pending_of_trigger(c, tenant.unit_id, trigger_id, rt.now_ms())
        rt.invalidate_triggers(tenant.unit_id)
        return gone

    if not await rt.db.write(run):
        raise not_found(f"{kind} trigger")


# ------------------------------------------------------------------------------------------------ milestones


def _milestone_fields(data: MilestoneIn, *, creating: bool) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if data.event_type is not None:
        f.update(event_type_fields(data.event_type))
    elif creating:
        raise bad_request('`event_type` is required (use "" for any type)')
    if data.score_threshold is not None:
        f["score_threshold"] = data.score_threshold
    elif creating:
        raise bad_request("`score_threshold` is required")
    return f


@get(
    "/triggers/milestones",
    opt=access(Role.VIEWER),
    operation_id="listMilestoneTriggers",
    summary="List milestone triggers (OU-scoped)",
    tags=TAGS,
)
async def list_milestones(rt: Runtime, tenant: Tenant) -> list[Milestone]:
    """Milestone triggers configured for the active OU."""
    return [
        milestone_out(r)
        for r in await rt.db.read(lambda c: store.list_triggers(c, tenant.unit_id, "milestone"))
    ]


@post(
    "/triggers/milestones",
    opt=access(Role.OPERATOR),
    operation_id="createMilestoneTrigger",
    summary="Create milestone trigger (OU-scoped)",
    tags=TAGS,
)
async def create_milestone(rt: Runtime, tenant: Tenant, principal: Principal, data: MilestoneIn) -> Milestone:
    """A milestone trigger; fires once per lead per crossing of the threshold."""
    fields = {**_milestone_fields(data, creating=True), **await common_fields(rt, data)}
    return milestone_out(await create(rt, tenant, principal, "milestone", fields))


@put(
    "/triggers/milestones/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateMilestoneTrigger",
    summary="Update milestone trigger (OU-scoped)",
    tags=TAGS,
)
async def update_milestone(
    rt: Runtime, tenant: Tenant, principal: Principal, trigger_id: str, data: MilestoneIn
) -> Milestone:
    """Change a milestone trigger (fields absent from the body stay as they are)."""
    fields = {**_milestone_fields(data, creating=False), **await common_fields(rt, data)}
    return milestone_out(await update(rt, tenant, principal, "milestone", trigger_id, fields))


@delete(
    "/triggers/milestones/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteMilestoneTrigger",
    summary="Delete milestone trigger (OU-scoped)",
    tags=TAGS,
)
async def delete_milestone(rt: Runtime, tenant: Tenant, trigger_id: str) -> None:
    """Delete a milestone trigger; what it emitted stays listed."""
    await remove(rt, tenant, "milestone", trigger_id)


# ------------------------------------------------------------------------------------------------ sequences


def _sequence_fields(data: SequenceIn, *, creating: bool) -> dict[str, Any]:
    f: dict[str, Any] = {}
    steps = data.event_types if data.event_types is not None else data.event_steps
    if steps is not None:
        cleaned = [_event_type(s, f"event_types[{i}]") for i, s in enumerate(steps) if isinstance(s, str)]
        if not cleaned or any(not s or not type_key(s) for s in cleaned) or len(cleaned) != len(steps):
            raise bad_request("`event_types` must be a non-empty list of non-empty event types")
        if len(cleaned) > MAX_STEPS:
            raise bad_request(f"`event_types` may have at most {MAX_STEPS} steps")
        f["event_steps"] = cleaned
    elif creating:
        raise bad_request("`event_types` is required (a non-empty list of event types)")
    f.update(window_fields(data.window_seconds, data.window_unit, required=creating))
    if data.ordered is not None:
        f["ordered"] = int(data.ordered)
    elif creating:
        f["ordered"] = 1
    return f


def _valid_window(row: dict[str, Any]) -> None:
    try:
        eng.window_ms(int(row["window_amount"]), row["window_unit"])
    except (ValueError, TypeError) as exc:
        raise bad_request(f"invalid window: {exc}") from None


@get(
    "/triggers/sequences",
    opt=access(Role.VIEWER),
    operation_id="listSequenceTriggers",
    summary="List sequence triggers (OU-scoped)",
    tags=TAGS,
)
async def list_sequences(rt: Runtime, tenant: Tenant) -> list[Sequence]:
    """Time- or order-based sequence triggers of the active OU."""
    return [
        sequence_out(r)
        for r in await rt.db.read(lambda c: store.list_triggers(c, tenant.unit_id, "sequence"))
    ]


@post(
    "/triggers/sequences",
    opt=access(Role.OPERATOR),
    operation_id="createSequenceTrigger",
    summary="Create sequence trigger (OU-scoped)",
    tags=TAGS,
)
async def create_sequence(rt: Runtime, tenant: Tenant, principal: Principal, data: SequenceIn) -> Sequence:
    """A sequence trigger: every step within one window (in order when `ordered`)."""
    fields = {**_sequence_fields(data, creating=True), **await common_fields(rt, data)}
    return sequence_out(await create(rt, tenant, principal, "sequence", fields))


@put(
    "/triggers/sequences/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateSequenceTrigger",
    summary="Update sequence trigger (OU-scoped)",
    tags=TAGS,
)
async def update_sequence(
    rt: Runtime, tenant: Tenant, principal: Principal, trigger_id: str, data: SequenceIn
) -> Sequence:
    """Change a sequence trigger (fields absent from the body stay as they are)."""
    fields = {**_sequence_fields(data, creating=False), **await common_fields(rt, data)}
    return sequence_out(await update(rt, tenant, principal, "sequence", trigger_id, fields, _valid_window))


@delete(
    "/triggers/sequences/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteSequenceTrigger",
    summary="Delete sequence trigger (OU-scoped)",
    tags=TAGS,
)
async def delete_sequence(rt: Runtime, tenant: Tenant, trigger_id: str) -> None:
    """Delete a sequence trigger; what it emitted stays listed."""
    await remove(rt, tenant, "sequence", trigger_id)


# ------------------------------------------------------------------------------------------------ patterns


def _pattern_fields(data: PatternIn, *, creating: bool) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if data.conditions is not None:
        if not data.conditions:
            raise bad_request("`conditions` must not be empty")
        out = []
        for i, cond in enumerate(data.conditions):
            event_type = _event_type(cond.event_type, f"conditions[{i}].event_type")
            if not event_type or not type_key(event_type):
                raise bad_request(f"`conditions[{i}].event_type` is required")
            if cond.min_count < 1:
                raise bad_request(f"`conditions[{i}].min_count` must be at least 1")
            out.append({"event_type": event_type, "min_count": cond.min_count})
        f["conditions"] = out
    elif creating:
        raise bad_request("`conditions` is required (a non-empty list of {event_type, min_count})")
    f.update(window_fields(data.window_seconds, data.window_unit, required=creating))
    return f


@get(
    "/triggers/patterns",
    opt=access(Role.VIEWER),
    operation_id="listPatternTriggers",
    summary="List pattern/frequency triggers (OU-scoped)",
    tags=TAGS,
)
async def list_patterns(rt: Runtime, tenant: Tenant) -> list[Pattern]:
    """Pattern triggers (including frequency counts) of the active OU."""
    return [
        pattern_out(r) for r in await rt.db.read(lambda c: store.list_triggers(c, tenant.unit_id, "pattern"))
    ]


@post(
    "/triggers/patterns",
    opt=access(Role.OPERATOR),
    operation_id="createPatternTrigger",
    summary="Create pattern trigger (OU-scoped)",
    tags=TAGS,
)
async def create_pattern(rt: Runtime, tenant: Tenant, principal: Principal, data: PatternIn) -> Pattern:
    """A pattern trigger: every condition within the trailing window; at most once per lead per window."""
    fields = {**_pattern_fields(data, creating=True), **await common_fields(rt, data)}
    return pattern_out(await create(rt, tenant, principal, "pattern", fields))


@put(
    "/triggers/patterns/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updatePatternTrigger",
    summary="Update pattern trigger (OU-scoped)",
    tags=TAGS,
)
async def update_pattern(
    rt: Runtime, tenant: Tenant, principal: Principal, trigger_id: str, data: PatternIn
) -> Pattern:
    """Change a pattern trigger (fields absent from the body stay as they are)."""
    fields = {**_pattern_fields(data, creating=False), **await common_fields(rt, data)}
    return pattern_out(await update(rt, tenant, principal, "pattern", trigger_id, fields, _valid_window))


@delete(
    "/triggers/patterns/{trigger_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deletePatternTrigger",
    summary="Delete pattern trigger (OU-scoped)",
    tags=TAGS,
)
async def delete_pattern(rt: Runtime, tenant: Tenant, trigger_id: str) -> None:
    """Delete a pattern trigger."""
    await remove(rt, tenant, "pattern", trigger_id)


# ------------------------------------------------------------------------------------------------ simulation


async def _simulate(rt: Runtime, tenant: Tenant, kind: str, trigger_id: str, data: SimulateIn) -> Simulation:
    if not 1 <= data.days <= SIMULATE_MAX_DAYS:
        raise bad_request(f"`days` must be between 1 and {SIMULATE_MAX_DAYS}")
    lead_id = data.lead_id.strip() if data.lead_id else None
    now = rt.now_ms()

    def run(c: Any) -> tuple[eng.SimulationResult, dict[str, str], str | None]:
        row = store.get_trigger(c, tenant.unit_id, kind, trigger_id)
        if row is None:
            raise not_found(f"{kind} trigger")
        if lead_id is not None and not store.lead_exists(c, tenant.unit_id, lead_id):
            raise not_found("lead")
        try:
            result = evaluator.simulate_trigger(c, tenant.unit_id, row, lead_id, data.days, now)
        except ValueError as exc:
            raise ApiError(422, f"the trigger's definition is invalid: {exc}") from None
        # One lookup for the matched leads and the lead simulated (matched or not).
        names = lead_names(c, tenant.unit_id, [*result.matched_leads, *([lead_id] if lead_id else [])])
        return result, {k: names[k] for k in result.matched_leads if k in names}, names.get(lead_id or "")

    result, names, lead_name = await rt.db.read(run)
    # The one lead simulated is named as a person reads it, its id beside the name.
    scope = (f"lead {lead_name} ({lead_id})" if lead_name else f"lead {lead_id}") if lead_id else "all leads"
    if result.would_fire:
        message = (
            f"Would fire {result.total_matches} time{'s' if result.total_matches != 1 else ''} for "
            f"{len(result.matched_leads)} lead{'s' if len(result.matched_leads) != 1 else ''} "
            f"({scope}, last {data.days} days)"
        )
    else:
        message = f"Would not fire ({scope}, last {data.days} days)"
    return Simulation(result.would_fire, result.matched_leads, result.total_matches, message, names)


@post(
    "/triggers/milestones/{trigger_id:str}/simulate",
    opt=access(Role.VIEWER),
    operation_id="simulateMilestoneTrigger",
    summary="Simulate a milestone trigger (OU-scoped)",
    tags=TAGS,
    status_code=200,
)
async def simulate_milestone(rt: Runtime, tenant: Tenant, trigger_id: str, data: SimulateIn) -> Simulation:
    """Test the trigger against one lead or scan `days` of stored events; fires nothing."""
    return await _simulate(rt, tenant, "milestone", trigger_id, data)


@post(
    "/triggers/sequences/{trigger_id:str}/simulate",
    opt=access(Role.VIEWER),
    operation_id="simulateSequenceTrigger",
    summary="Simulate a sequence trigger (OU-scoped)",
    tags=TAGS,
    status_code=200,
)
async def simulate_sequence(rt: Runtime, tenant: Tenant, trigger_id: str, data: SimulateIn) -> Simulation:
    """Test the trigger against one lead or scan `days` of stored events; fires nothing."""
    return await _simulate(rt, tenant, "sequence", trigger_id, data)


# --------------------------------------------------------------------------------------------- emitted events

# A trigger history's filter by one trigger or lead: blank is a 400, not "any" (`refuse_blank`).
HistoryFilter = Annotated[str | None, Parameter(schema_extra=NOT_BLANK)]


def _emitted(row: dict[str, Any]) -> EmittedEvent:
    return EmittedEvent(
        row["id"],
        row["trigger_id"],
        row["trigger_name"],
        row["kind"],
        row["lead_id"],
        row["event_id"],
        row["event_type"],
        row["score_before"],
        row["score_after"],
        row["level"],
        to_rfc3339(row["fired_at"]),
        row["lead_name"],
    )


async def _read_events(
    rt: Runtime, tenant: Tenant, kind: str, limit: int, trigger_id: str | None, lead_id: str | None,
    lo: int | None, hi: int | None, offset: int = 0, before: tuple[int, str] | None = None,
) -> list[dict[str, Any]]:
    """Stored firings with their leads' names (`lead_name`), newest first."""

    def run(c: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
        rows = store.list_trigger_events(c, tenant.unit_id, kind, limit=limit, offset=offset, trigger_id=trigger_id,
                                         lead_id=lead_id, start=lo, end=hi, before=before)
        return rows, lead_names(c, tenant.unit_id, list({r["lead_id"] for r in rows}))

    rows, names = await rt.db.read(run)
    return [{**r, "lead_name": names.get(r["lead_id"])} for r in rows]


async def _events(
    rt: Runtime,
    tenant: Tenant,
    kind: str,
    page: int,
    limit: int,
    trigger_id: str | None,
    lead_id: str | None,
    start: str | None,
    end: str | None,
    fired_before: int | None = None,
) -> list[EmittedEvent]:
    refuse_blank(trigger_id=trigger_id, lead_id=lead_id)
    lo, hi = parse_time_range(start, end)
    if fired_before is not None:
        hi = fired_before if hi is None else min(hi, fired_before)
    rows = await _read_events(rt, tenant, kind, limit, trigger_id, lead_id, lo, hi, offset=(page - 1) * limit)
    return [_emitted(r) for r in rows]


async def _export(
    rt: Runtime,
    tenant: Tenant,
    kind: str,
    trigger_id: str | None,
    lead_id: str | None,
    start: str | None,
    end: str | None,
) -> Stream:
    columns = ["id", "trigger_id", "trigger_name", "lead_id", "event_id", "event_type", "score_before",
               "score_after", "level", "fired_at"]
    refuse_blank(trigger_id=trigger_id, lead_id=lead_id)
    lo, hi = parse_time_range(start, end)  # bad bounds answer 400 first

    # The firings there were when the export began, walked by (fired_at, id): a firing stamped before the export
    # began but committed during it (a worker batch stamps its start) lands among the pages already read, and an
    # offset would then write rows twice.
    fired_before = rt.now_ms() + 1
    hi = fired_before if hi is None else min(hi, fired_before)

    async def pages() -> AsyncIterator[list[list[Any]]]:
        # One page in memory at a time, however many firings there are.
        before: tuple[int, str] | None = None
        while True:
            rows = await _read_events(rt, tenant, kind, CSV_PAGE, trigger_id, lead_id, lo, hi, before=before)
            yield [[getattr(e, col) for col in columns] for e in map(_emitted, rows)]
            if len(rows) < CSV_PAGE:
                return
            before = (rows[-1]["fired_at"], rows[-1]["id"])

    return csv_download(f"{kind}-events.csv", csv_stream(columns, pages()))


@get(
    "/triggers/milestones/events",
    opt=access(Role.VIEWER),
    operation_id="listMilestoneEvents",
    summary="List emitted milestone events (OU-scoped)",
    tags=TAGS,
)
async def milestone_events(
    rt: Runtime,
    tenant: Tenant,
    page: PageParam = 1,
    limit: LimitParam = 50,
    trigger_id: HistoryFilter = None,
    lead_id: HistoryFilter = None,
    start: TimeParam = None,
    end: TimeParam = None,
) -> list[EmittedEvent]:
    """Milestone firings, newest first."""
    return await _events(rt, tenant, "milestone", page, limit, trigger_id, lead_id, start, end)


@get(
    "/triggers/milestones/events/export",
    opt=access(Role.VIEWER),
    operation_id="exportMilestoneEvents",
    summary="Export milestone events (OU-scoped)",
    tags=TAGS,
    media_type="text/csv",
)
async def export_milestone_events(
    rt: Runtime,
    tenant: Tenant,
    trigger_id: HistoryFilter = None,
    lead_id: HistoryFilter = None,
    start: TimeParam = None,
    end: TimeParam = None,
) -> Stream:
    """Milestone firings as CSV (formula-safe cells)."""
    return await _export(rt, tenant, "milestone", trigger_id, lead_id, start, end)


@get(
    "/triggers/sequences/events",
    opt=access(Role.VIEWER),
    operation_id="listSequenceEvents",
    summary="List emitted sequence events (OU-scoped)",
    tags=TAGS,
)
async def sequence_events(
    rt: Runtime,
    tenant: Tenant,
    page: PageParam = 1,
    limit: LimitParam = 50,
    trigger_id: HistoryFilter = None,
    lead_id: HistoryFilter = None,
    start: TimeParam = None,
    end: TimeParam = None,
) -> list[EmittedEvent]:
    """Sequence firings, newest first."""
    return await _events(rt, tenant, "sequence", page, limit, trigger_id, lead_id, start, end)


@get(
    "/triggers/sequences/events/export",
    opt=access(Role.VIEWER),
    operation_id="exportSequenceEvents",
    summary="Export sequence events (OU-scoped)",
    tags=TAGS,
    media_type="text/csv",
)
async def export_sequence_events(
    rt: Runtime,
    tenant: Tenant,
    trigger_id: HistoryFilter = None,
    lead_id: HistoryFilter = None,
    start: TimeParam = None,
    end: TimeParam = None,
) -> Stream:
    """Sequence firings as CSV (formula-safe cells)."""
    return await _export(rt, tenant, "sequence", trigger_id, lead_id, start, end)


ROUTES = [
    list_milestones,
    create_milestone,
    update_milestone,
    delete_milestone,
    simulate_milestone,
    milestone_events,
    export_milestone_events,
    list_sequences,
    create_sequence,
    update_sequence,
    delete_sequence,
    simulate_sequence,
    sequence_events,
    export_sequence_events,
    list_patterns,
    create_pattern,
    update_pattern,
    delete_pattern,
]
