"""Score decay rules: lower a lead's score once per inactivity period (the scheduler is pipeline/decay.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import delete, get, post, put

from leadvibe.api.bounds import checked_range
from leadvibe.api.json_body import refuses_null
from leadvibe.errors import bad_request, not_found
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import decay as store
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Decays"]
Unit = Literal["days", "hours", "weeks"]
MAX_AMOUNT = 10_000  # inactive_for: more than a century of weeks is a typo, not a policy
MAX_DECREASE = 1_000_000
Amount = Annotated[int, checked_range(1, MAX_AMOUNT)]
Decrease = Annotated[int, checked_range(1, MAX_DECREASE)]


class DecayIn(msgspec.Struct):
    """After `inactive_for` `unit` without organic activity, lower every active ruleset's score by
    `decrease`."""

    inactive_for: Amount
    unit: Unit
    decrease: Decrease


@refuses_null("inactive_for", "unit", "decrease", "active")
class DecayPatch(msgspec.Struct):
    """Fields to change (omitted ones stay)."""

    inactive_for: Amount | None = None
    unit: Unit | None = None
    decrease: Decrease | None = None
    active: bool | None = None


class DecayOut(msgspec.Struct):
    """A decay rule."""

    decay_id: str
    inactive_for: int
    unit: str
    decrease: int
    active: bool
    created_at: Instant | None
    updated_at: Instant | None


def _out(r: dict[str, Any]) -> DecayOut:
    return DecayOut(
        r["id"],
        int(r["inactive_for"]),
        r["unit"],
        int(r["decrease"]),
        bool(r["active"]),
        to_rfc3339(r["created_at"]),
        to_rfc3339(r["updated_at"]),
    )


def _check(inactive_for: int | None, decrease: int | None) -> None:
    if inactive_for is not None and not 1 <= inactive_for <= MAX_AMOUNT:
        raise bad_request(f"`inactive_for` must be between 1 and {MAX_AMOUNT}")
    if decrease is not None and not 1 <= decrease <= MAX_DECREASE:
        raise bad_request(f"`decrease` must be between 1 and {MAX_DECREASE}")


@get(
    "/decays",
    opt=access(Role.VIEWER),
    operation_id="listDecays",
    summary="List score decay rules (OU-scoped)",
    tags=TAGS,
)
async def list_decays(rt: Runtime, tenant: Tenant) -> list[DecayOut]:
    """The OU's decay rules, shortest inactivity first (the order they stack in)."""
    return [_out(r) for r in await rt.db.read(lambda c: store.list_rules(c, tenant.unit_id))]


@post(
    "/decays",
    opt=access(Role.OPERATOR),
    operation_id="createDecay",
    summary="Create score decay rule (OU-scoped)",
    tags=TAGS,
)
async def create_decay(rt: Runtime, tenant: Tenant, principal: Principal, data: DecayIn) -> DecayOut:
    """A new rule; the next scheduler pass applies it to leads already inactive that long."""
    _check(data.inactive_for, data.decrease)
    now = rt.now_ms()
    row = await rt.db.write(
        lambda c: store.create_rule(
            c,
            tenant.unit_id,
            tenant.org_id,
            rule_id=new_id("dc"),
            inactive_for=data.inactive_for,
            unit=data.unit,
            decrease=data.decrease,
            actor=principal.actor_id,
            now=now,
        )
    )
    return _out(row)


@put(
    "/decays/{decay_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateDecay",
    summary="Update score decay rule (OU-scoped)",
    tags=TAGS,
)
async def update_decay(
    rt: Runtime, tenant: Tenant, principal: Principal, decay_id: str, data: DecayPatch
) -> DecayOut:
    """Change a rule. Leads it already decayed in their current inactivity period are not decayed again."""
    _check(data.inactive_for, data.decrease)
    now = rt.now_ms()
    row = await rt.db.write(
        lambda c: store.update_rule(
            c,
            tenant.unit_id,
            decay_id,
            inactive_for=data.inactive_for,
            unit=data.unit,
            decrease=data.decrease,
            active=data.active,
            actor=principal.actor_id,
            now=now,
        )
    )
    if row is None:
        raise not_found("decay rule")
    return _out(row)


@delete(
    "/decays/{decay_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteDecay",
    summary="Delete score decay rule (OU-scoped)",
    tags=TAGS,
)
async def delete_decay(rt: Runtime, tenant: Tenant, decay_id: str) -> None:
    """Delete a rule; DECAY events it recorded stay (they are part of the scores)."""
    if not await rt.db.write(lambda c: store.delete_rule(c, tenant.unit_id, decay_id)):
        raise not_found("decay rule")


ROUTES = [list_decays, create_decay, update_decay, delete_decay]
