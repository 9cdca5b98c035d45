"""Segments: saved lead queries (SEMANTICS §7), their rules, and membership counted and listed by SQL at query
time, so it is always current.

Decisions:
- `POST /segments` may carry its rules inline (`rules`, at least one when given): segment and rules are written
  in one transaction.
- Counting or listing a segment without active rules answers 422: it would match nobody, which is never what
  its author meant.
- A segment's `active` flag is for the people using it (the dashboard lists active ones); membership is
  evaluated whatever it says.
- `/segments/{id}/leads` lists members newest first (the array the reference shows); `/count` gives the total.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post, put

from leadvibe.api.condition_fields import (
    COMPUTED_PROFILE,
    Operator,
    Order,
    PropertyName,
    check_condition,
    check_property,
)
from leadvibe.api.deps import LimitParam, PageParam
from leadvibe.api.json_body import refuses_null
from leadvibe.api.leads import NO_ACTIVE_RULE, ListedLead, lead_levels, listed
from leadvibe.api.names import NAME_MAX, Name, clean_name, free_text, no_control_in_text
from leadvibe.api.scoring_common import EVENT_TYPE_MAX, clean_event_type
from leadvibe.documented import single_line_json, sized
from leadvibe.engine.conditions import SegmentRule
from leadvibe.errors import bad_request, not_found, unprocessable
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import leads as lead_store
from leadvibe.store import segments as store
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Segments"]
DESCRIPTION_MAX = 1000
Description = Annotated[str, free_text(DESCRIPTION_MAX)]
MAX_RULES = 100
# A rule's name: "" for none, else a name (`clean_name`).
RuleName = Annotated[str, msgspec.Meta(
    description=f"empty for none, else 1 to {NAME_MAX} characters, not only spaces, no control characters",
    extra_json_schema={"extra": {"any_of": [{"maxLength": 0}, single_line_json(NAME_MAX)]}})]
# An event rule's type: blank (or null) for any type, else an event type (`clean_event_type`). Blank is said with
# `$`, whose reading in Python (a final line break before it) changes nothing here: a line break is blank too.
RuleEventType = Annotated[str, msgspec.Meta(
    description=f"blank for any type, else at most {EVENT_TYPE_MAX} characters, no control characters",
    extra_json_schema={"extra": {"any_of": [{"pattern": r"^\s*$"}, single_line_json(EVENT_TYPE_MAX)]}})]
LogicGroup = Annotated[
    int, msgspec.Meta(ge=0, le=1000, description="0..1000; rules of one group combine with its logic_op",
                      # Stated again: the framework leaves out a lower bound of 0 in an update's optional field.
                      extra_json_schema={"extra": {"minimum": 0}})]


class SegmentRuleIn(msgspec.Struct):
    """A segment rule: `lead_metadata` tests the lead's metadata `field_name`; `event_metadata` holds when the lead
    has an event of `event_type` (empty: any type) whose metadata `field_name` satisfies the operator."""

    rule_type: Literal["lead_metadata", "event_metadata"]
    field_name: PropertyName
    operator: Operator
    value: str | None = None
    event_type: RuleEventType | None = None
    rule_name: RuleName = ""
    logic_group: LogicGroup = 0
    logic_op: Literal["AND", "OR", "and", "or"] = "AND"
    order_index: Order = 0
    active: bool = True


class SegmentRulePatch(msgspec.Struct):
    """Fields to change on a rule (absent fields stay; `null` clears `value` and `event_type`)."""

    rule_type: Literal["lead_metadata", "event_metadata"] | msgspec.UnsetType = msgspec.UNSET
    field_name: PropertyName | msgspec.UnsetType = msgspec.UNSET
    operator: Operator | msgspec.UnsetType = msgspec.UNSET
    value: str | msgspec.UnsetType | None = msgspec.UNSET
    event_type: RuleEventType | msgspec.UnsetType | None = msgspec.UNSET
    rule_name: RuleName | msgspec.UnsetType = msgspec.UNSET
    logic_group: LogicGroup | msgspec.UnsetType = msgspec.UNSET
    logic_op: Literal["AND", "OR", "and", "or"] | msgspec.UnsetType = msgspec.UNSET
    order_index: Order | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class SegmentIn(msgspec.Struct):
    """A segment; `rules` (optional) are created with it."""

    name: Name
    description: Description = ""
    active: bool = True
    rules: Annotated[list[SegmentRuleIn] | None, sized(1, MAX_RULES)] = None


@refuses_null("active")
class SegmentPatch(msgspec.Struct):
    """A segment's name, description and flag."""

    name: Name
    description: Description | None = None
    active: bool | None = None


class SegmentRuleOut(msgspec.Struct):
    """A segment rule."""

    rule_id: str
    segment_id: str
    org_id: str
    rule_name: str
    rule_type: str
    field_name: str
    operator: str
    value: str | None
    event_type: str | None
    logic_group: int
    logic_op: str
    order_index: int
    active: bool
    created_at: Instant | None
    updated_at: Instant | None
    created_by: str | None
    updated_by: str | None


class SegmentOut(msgspec.Struct):
    """A segment. `members_ready`: its members are kept up to date by every lead write, so counts are one index
    range (false while they are rebuilt after a rule change, and for segments with event rules: those are
    evaluated by SQL at each request)."""

    segment_id: str
    org_id: str
    name: str
    description: str
    active: bool
    rules_count: int
    active_rules_count: int
    members_ready: bool
    created_at: Instant | None
    updated_at: Instant | None
    created_by: str | None
    updated_by: str | None
    rules: list[SegmentRuleOut]


class CountOut(msgspec.Struct):
    """How many live leads are in the segment now."""

    count: int


def _rule_fields(data: SegmentRuleIn | dict[str, Any], where: str = "") -> dict[str, Any]:
    """Validated column values of a rule (from a full rule, or a patch merged onto the stored rule)."""
    d = msgspec.structs.asdict(data) if isinstance(data, SegmentRuleIn) else data
    rule_type = d["rule_type"]
    op, value = check_condition(d["operator"], d["value"], f"{where}operator", f"{where}value")
    field_name = check_property(d["field_name"], f"{where}field_name")
    if rule_type == "lead_metadata" and field_name in COMPUTED_PROFILE:
        # The lead's answer shows the computed value under that name, the metadata a copy someone wrote (or
        # none): a rule on it would hold exactly the leads whose shown value it did not test.
        raise bad_request(f"`{where}field_name` {field_name!r} is computed by the product, not lead metadata: a "
                          "segment cannot test it (trigger profile filters can)")
    fields: dict[str, Any] = {
        "rule_type": rule_type,
        "field_name": field_name,
        "operator": op,
        "value": value if op not in ("exists", "not_exists") or value else None,
        "rule_name": clean_name(d["rule_name"], f"{where}rule_name") if d["rule_name"] else "",
        "logic_group": int(d["logic_group"]),
        "logic_op": str(d["logic_op"]).upper(),
        "order_index": d["order_index"],
        "active": int(bool(d["active"])),
        "event_type": None,
        "type_key": None,
    }
    event_type = d.get("event_type") or ""
    if rule_type == "event_metadata" and event_type.strip():
        fields["event_type"], fields["type_key"] = clean_event_type(event_type, f"{where}event_type")
    elif rule_type == "lead_metadata" and event_type.strip():
        raise bad_request(f"`{where}event_type` only goes with rule_type event_metadata")
    return fields


def _rule_out(row: dict[str, Any]) -> SegmentRuleOut:
    return SegmentRuleOut(
        row["id"], row["segment_id"], row["org_id"], row["rule_name"], row["rule_type"], row["field_name"],
        row["operator"], row["value"], row["event_type"], int(row["logic_group"]), row["logic_op"],
        int(row["order_index"]), bool(row["active"]), to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]),
        row["created_by"], row["updated_by"])


def _segment_out(row: dict[str, Any], counts: dict[str, tuple[int, int]],
                 rules: list[dict[str, Any]]) -> SegmentOut:
    total, active = counts.get(row["id"], (0, 0))
    return SegmentOut(
        row["id"], row["org_id"], row["name"], row["description"], bool(row["active"]), total, active,
        bool(row["members_ready"]), to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]), row["created_by"],
        row["updated_by"],
        [_rule_out(r) for r in rules])


def _segment_or_404(c: Any, unit_id: str, segment_id: str) -> dict[str, Any]:
    row = store.SEGMENTS.get(c, unit_id, segment_id)
    if row is None:
        raise not_found("segment")
    return row


def segment_rules_for_query(c: Any, unit_id: str, segment_id: str) -> list[SegmentRule]:
    """The segment's rules, or 404 (unknown segment) / 422 (no active rule: it would match nobody)."""
    _segment_or_404(c, unit_id, segment_id)
    rules = store.active_rules(c, unit_id, segment_id)
    if not any(r.active for r in rules):
        raise unprocessable(f"segment {segment_id} has no active rules, so it matches nobody; add one with"
                            f" POST /segments/{segment_id}/rules")
    return rules


async def _write_rules(rt: Runtime, tenant: Tenant, segment_id: str, fn: Any) -> Any:
    """Run a write that changes a segment's rules: its kept members are rebuilt after it (counts evaluate the rules
    by SQL meanwhile), and the caches that hold segment rules (fit writes, trigger filters) are dropped."""
    now = rt.now_ms()

    def run(c: Any) -> Any:
        result = fn(c)
        rt.fit.rebuild_segment(c, tenant.unit_id, segment_id, now)
        return result

    result = await rt.db.write(run)
    rt.fit.invalidate(tenant.unit_id)
    rt.invalidate_triggers(tenant.unit_id)
    rt.fit.poke()
    return result


def _insert_rule(c: Any, tenant: Tenant, principal: Principal, segment_id: str, fields: dict[str, Any],
                 now: int) -> str:
    rule_id = new_id("sr")
    store.RULES.insert(c, {**fields, "id": rule_id, "segment_id": segment_id, "org_id": tenant.org_id,
                           "unit_id": tenant.unit_id, "created_by": principal.actor_id,
                           "updated_by": principal.actor_id, "created_at": now, "updated_at": now})
    return rule_id


# -- segments ------------------------------------------------------------------------------------------------
@get("/segments", opt=access(Role.VIEWER), operation_id="listSegments", summary="List segments (OU-scoped)",
     tags=TAGS)
async def list_segments(rt: Runtime, tenant: Tenant) -> list[SegmentOut]:
    """Segments of the active OU, oldest first, with their rules and rule counts."""

    def run(c: Any) -> list[SegmentOut]:
        counts = store.rule_counts(c, tenant.unit_id)
        by_segment: dict[str, list[dict[str, Any]]] = {}
        for rule in store.RULES.list(c, tenant.unit_id):
            by_segment.setdefault(rule["segment_id"], []).append(rule)
        return [_segment_out(r, counts, by_segment.get(r["id"], [])) for r in store.SEGMENTS.list(c, tenant.unit_id)]

    return await rt.db.read(run)


def _description(value: str) -> str:
    if len(value) > DESCRIPTION_MAX:
        raise bad_request(f"`description` must be at most {DESCRIPTION_MAX} characters")
    no_control_in_text(value, "description")
    return value.strip()


@post("/segments", opt=access(Role.OPERATOR), operation_id="createSegment", summary="Create segment (OU-scoped)",
      tags=TAGS)
async def create_segment(rt: Runtime, tenant: Tenant, principal: Principal, data: SegmentIn) -> SegmentOut:
    """A segment, with its rules when `rules` is given (then at least one)."""
    name = clean_name(data.name)
    description = _description(data.description)
    if data.rules is not None and not 1 <= len(data.rules) <= MAX_RULES:
        raise bad_request(f"`rules` must hold 1 to {MAX_RULES} rules (a segment without rules matches nobody)")
    rules = [_rule_fields(r, f"rules[{i}].") for i, r in enumerate(data.rules or [])]
    for i, fields in enumerate(rules):
        if not fields["order_index"]:
            fields["order_index"] = i  # inline rules without an order keep the order they were sent in
    segment_id = new_id("sg")
    now = rt.now_ms()

    def run(c: Any) -> SegmentOut:
        store.SEGMENTS.insert(c, {"id": segment_id, "org_id": tenant.org_id, "unit_id": tenant.unit_id,
                                  "name": name, "description": description, "active": int(data.active),
                                  "created_by": principal.actor_id, "updated_by": principal.actor_id,
                                  "created_at": now, "updated_at": now})
        for fields in rules:
            _insert_rule(c, tenant, principal, segment_id, fields, now)
        row = _segment_or_404(c, tenant.unit_id, segment_id)
        return _segment_out(row, store.rule_counts(c, tenant.unit_id),
                            store.RULES.list(c, tenant.unit_id, segment_id=segment_id))

    return await _write_rules(rt, tenant, segment_id, run)


@put("/segments/{segment_id:str}", opt=access(Role.OPERATOR), operation_id="updateSegment",
     summary="Update segment (OU-scoped)", tags=TAGS)
async def update_segment(request: Request[Any, Any, Any], rt: Runtime, tenant: Tenant, principal: Principal,
                         segment_id: str, data: SegmentPatch) -> SegmentOut:
    """Rename; change the description or the flag when given. Rules change through `/segments/{id}/rules`: a body
    whose `rules` differ from the segment's (as an answer shows them: a segment read, edited and sent back keeps
    them) is refused, where they used to be dropped without a word."""
    body = await request.json()
    sent_rules = body.get("rules", msgspec.UNSET) if isinstance(body, dict) else msgspec.UNSET
    fields: dict[str, Any] = {"name": clean_name(data.name)}
    if data.description is not None:
        fields["description"] = _description(data.description)
    if data.active is not None:
        fields["active"] = int(data.active)
    now = rt.now_ms()

    def run(c: Any) -> SegmentOut:
        _segment_or_404(c, tenant.unit_id, segment_id)
        if sent_rules is not msgspec.UNSET and sent_rules != msgspec.to_builtins(
                [_rule_out(r) for r in store.RULES.list(c, tenant.unit_id, segment_id=segment_id)]):
            raise bad_request("`rules` cannot change here: add, change and delete a segment's rules through "
                              f"/segments/{segment_id}/rules (this request changed nothing)")
        store.SEGMENTS.update(c, tenant.unit_id, segment_id,
                              {**fields, "updated_by": principal.actor_id, "updated_at": now})
        return _segment_out(_segment_or_404(c, tenant.unit_id, segment_id), store.rule_counts(c, tenant.unit_id),
                            store.RULES.list(c, tenant.unit_id, segment_id=segment_id))

    return await rt.db.write(run)


@delete("/segments/{segment_id:str}", opt=access(Role.OPERATOR), operation_id="deleteSegment",
        summary="Delete segment (OU-scoped)", tags=TAGS)
async def delete_segment(rt: Runtime, tenant: Tenant, segment_id: str) -> None:
    """Delete a segment and its rules (triggers filtering on it then match nobody for it)."""

    def run(c: Any) -> None:
        if not store.SEGMENTS.delete(c, tenant.unit_id, segment_id):
            raise not_found("segment")

    await rt.db.write(run)
    rt.fit.invalidate(tenant.unit_id)
    rt.invalidate_triggers(tenant.unit_id)


# -- membership ----------------------------------------------------------------------------------------------
@get("/segments/{segment_id:str}/count", opt=access(Role.VIEWER, errors=NO_ACTIVE_RULE),
     operation_id="countSegmentLeads", summary="Count leads in a segment (OU-scoped)", tags=TAGS)
async def count_segment(rt: Runtime, tenant: Tenant, segment_id: str) -> CountOut:
    """How many live leads of the OU are in the segment, evaluated now."""

    def run(c: Any) -> CountOut:
        rules = segment_rules_for_query(c, tenant.unit_id, segment_id)
        return CountOut(store.count_members(c, tenant.unit_id, rules, segment_id))

    return await rt.db.read(run)


@get("/segments/{segment_id:str}/leads", opt=access(Role.VIEWER, errors=NO_ACTIVE_RULE),
     operation_id="listSegmentLeads", summary="List leads in a segment (OU-scoped)", tags=TAGS)
async def list_segment_leads(rt: Runtime, tenant: Tenant, segment_id: str, page: PageParam = 1,
                             limit: LimitParam = 50) -> list[ListedLead]:
    """One page of the segment's leads, newest first, with their scores, levels and aliases, as `/leads` lists
    them (`/count` has the total)."""

    def run(c: Any) -> list[ListedLead]:
        rules = segment_rules_for_query(c, tenant.unit_id, segment_id)
        primary = lead_store.primary_ruleset_id(c, tenant.unit_id)
        rows = store.member_page(c, tenant.unit_id, rules, primary, lead_store.LEAD_COLS, limit, (page - 1) * limit,
                                 segment_id)
        levels = lead_levels(c, tenant.unit_id)
        aliases = lead_store.aliases_of_many(c, tenant.unit_id, [r["id"] for r in rows])
        return [listed(r, levels, aliases.get(r["id"], [])) for r in rows]

    return await rt.db.read(run)


# -- rules ---------------------------------------------------------------------------------------------------
@get("/segments/{segment_id:str}/rules", opt=access(Role.VIEWER), operation_id="listSegmentRules",
     summary="List segment rules (OU-scoped)", tags=TAGS)
async def list_rules(rt: Runtime, tenant: Tenant, segment_id: str) -> list[SegmentRuleOut]:
    """The segment's rules by group and order."""

    def run(c: Any) -> list[dict[str, Any]]:
        _segment_or_404(c, tenant.unit_id, segment_id)
        return store.RULES.list(c, tenant.unit_id, segment_id=segment_id)

    return [_rule_out(r) for r in await rt.db.read(run)]


@post("/segments/{segment_id:str}/rules", opt=access(Role.OPERATOR), operation_id="createSegmentRule",
      summary="Create segment rule (OU-scoped)", tags=TAGS)
async def create_rule(rt: Runtime, tenant: Tenant, principal: Principal, segment_id: str,
                      data: SegmentRuleIn) -> SegmentRuleOut:
    """Add a rule to the segment."""
    fields = _rule_fields(data)
    now = rt.now_ms()

    def run(c: Any) -> dict[str, Any]:
        _segment_or_404(c, tenant.unit_id, segment_id)
        if len(store.RULES.list(c, tenant.unit_id, segment_id=segment_id)) >= MAX_RULES:
            raise bad_request(f"a segment holds at most {MAX_RULES} rules")
        rule_id = _insert_rule(c, tenant, principal, segment_id, fields, now)
        return store.RULES.get(c, tenant.unit_id, rule_id)  # type: ignore[return-value]

    return _rule_out(await _write_rules(rt, tenant, segment_id, run))


@put("/segments/{segment_id:str}/rules/{rule_id:str}", opt=access(Role.OPERATOR), operation_id="updateSegmentRule",
     summary="Update segment rule (OU-scoped)", tags=TAGS)
async def update_rule(rt: Runtime, tenant: Tenant, principal: Principal, segment_id: str, rule_id: str,
                      data: SegmentRulePatch) -> SegmentRuleOut:
    """Change some fields of a rule; the result is validated as a whole."""
    patch = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    now = rt.now_ms()

    def run(c: Any) -> dict[str, Any]:
        _segment_or_404(c, tenant.unit_id, segment_id)
        current = store.RULES.get(c, tenant.unit_id, rule_id, segment_id=segment_id)
        if current is None:
            raise not_found("segment rule")
        merged = {**{k: current[k] for k in ("rule_type", "field_name", "operator", "value", "event_type",
                                              "rule_name", "logic_group", "logic_op", "order_index", "active")},
                  **patch}
        fields = _rule_fields(merged)
        store.RULES.update(c, tenant.unit_id, rule_id, {**fields, "updated_by": principal.actor_id,
                                                        "updated_at": now}, segment_id=segment_id)
        return store.RULES.get(c, tenant.unit_id, rule_id)  # type: ignore[return-value]

    return _rule_out(await _write_rules(rt, tenant, segment_id, run))


@delete("/segments/{segment_id:str}/rules/{rule_id:str}", opt=access(Role.OPERATOR),
        operation_id="deleteSegmentRule", summary="Delete segment rule (OU-scoped)", tags=TAGS)
async def delete_rule(rt: Runtime, tenant: Tenant, segment_id: str, rule_id: str) -> None:
    """Delete a rule."""

    def run(c: Any) -> None:
        _segment_or_404(c, tenant.unit_id, segment_id)
        if not store.RULES.delete(c, tenant.unit_id, rule_id, segment_id=segment_id):
            raise not_found("segment rule")

    await _write_rules(rt, tenant, segment_id, run)


ROUTES = [list_segments, create_segment, update_segment, delete_segment, count_segment, list_segment_leads,
          list_rules, create_rule, update_rule, delete_rule]
