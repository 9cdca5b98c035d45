"""Scoring settings (organization toggles + the OU's session timeout) and the OU's surge session policy."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get, put

from leadvibe.api.bounds import Signed, checked_range
from leadvibe.api.json_body import refuses_null
from leadvibe.api.scoring_common import idle_seconds_in_effect, invalidate, session_timeout_minutes, write_config
from leadvibe.documented import across_fields, choices
from leadvibe.engine.surge import CAP_MAX, CAP_MIN, MODES, Band, SurgePolicy, build_policy
from leadvibe.errors import ApiError, bad_request
from leadvibe.limits import INT_LIMIT
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import orgs as org_store
from leadvibe.store import scoring as store
from leadvibe.timeutil import Instant, to_rfc3339

TIMEOUT_MIN, TIMEOUT_MAX = 1, 1440
Timeout = Annotated[int, checked_range(TIMEOUT_MIN, TIMEOUT_MAX)]


class ScoringSettings(msgspec.Struct):
    """Organization-wide toggles and the active OU's session idle timeout."""

    allow_negative_scores: bool
    abm_enabled: bool
    session_timeout_minutes: int


@refuses_null("allow_negative_scores", "abm_enabled", "session_timeout_minutes")
class ScoringSettingsIn(msgspec.Struct):
    """Fields to change (absent fields stay). The two toggles are organization-wide: changing one needs an org
    admin; sending the current value back is not a change."""

    allow_negative_scores: bool | None = None
    abm_enabled: bool | None = None
    session_timeout_minutes: Timeout | None = None


class BandIn(msgspec.Struct):
    """A surge band: from the `min_events`-th event of a session on, positive weights x `multiplier`."""

    min_events: Signed
    multiplier: float


class SurgePolicyIn(msgspec.Struct):
    """A surge policy; preset modes use their preset bands, `custom` the given ones."""

    mode: Annotated[str, choices(MODES)]
    bands: list[BandIn] | None = None
    idle_reset_seconds: Annotated[int, checked_range(1, INT_LIMIT)] | None = None
    multiplier_cap: Annotated[float | None, msgspec.Meta(
        description=f"{CAP_MIN:g} to {CAP_MAX:g}", extra_json_schema={"extra": {"minimum": CAP_MIN,
                                                                                 "maximum": CAP_MAX}})] = None


# What `build_policy` checks of a custom policy's bands (a preset mode ignores them): at least one, each from the
# first event on, multiplying by more than 0.
across_fields(SurgePolicyIn, {"if": {"properties": {"mode": {"const": "custom"}}, "required": ["mode"]},
                              "then": {"required": ["bands"], "properties": {"bands": {
                                  "type": "array", "minItems": 1,
                                  "items": {"properties": {"min_events": {"minimum": 1},
                                                           "multiplier": {"exclusiveMinimum": 0}}}}}}})


class SurgePolicyOut(msgspec.Struct):
    """The OU's surge policy (`saved: false` = the Standard defaults, nothing saved yet)."""

    org_id: str
    unit_id: str
    mode: str
    bands: list[BandIn]
    idle_reset_seconds: int
    multiplier_cap: float
    saved: bool
    updated_at: Instant | None


def _minutes_in_effect(row: dict[str, Any]) -> int:
    """The session idle timeout the OU's events get, in whole minutes (a saved surge policy's idle reset, which may
    be any number of seconds, to the nearest minute within the setting's range)."""
    seconds = idle_seconds_in_effect(row)
    return max(TIMEOUT_MIN, min(TIMEOUT_MAX, (seconds + 30) // 60))


def _settings(row: dict[str, Any]) -> ScoringSettings:
    return ScoringSettings(bool(row["allow_negative_scores"]), bool(row["abm_enabled"]), _minutes_in_effect(row))


@get(
    "/settings/scoring",
    opt=access(Role.VIEWER),
    operation_id="getScoringSettings",
    summary="Get scoring settings",
    tags=["Settings"],
)
async def get_scoring_settings(rt: Runtime, tenant: Tenant) -> ScoringSettings:
    """The organization's toggles and the active OU's effective session idle timeout (minutes): a saved surge
    policy's idle reset, to the nearest minute, else the OU's session timeout."""
    row = await rt.db.read(lambda c: store.scoring_settings(c, tenant.org_id, tenant.unit_id))
    if row is None:  # the OU vanished between the guard and here
        raise ApiError(404, "org unit not found")
    return _settings(row)


@put(
    "/settings/scoring",
    opt=access(Role.OPERATOR),
    operation_id="updateScoringSettings",
    summary="Update scoring settings",
    tags=["Settings"],
)
async def update_scoring_settings(
    rt: Runtime, tenant: Tenant, principal: Principal, data: ScoringSettingsIn
) -> ScoringSettings:
    """Operators set the OU's session timeout (1..1440 minutes; a saved surge policy's idle reset becomes it too);
    only org admins change the org-wide toggles.

    Changing `allow_negative_scores` affects the next event of every OU; existing scores are not recomputed.
    """
    timeout = data.session_timeout_minutes
    if timeout is not None and not TIMEOUT_MIN <= timeout <= TIMEOUT_MAX:
        raise bad_request(f"`session_timeout_minutes` must be between {TIMEOUT_MIN} and {TIMEOUT_MAX}")

    def run(c: Any) -> tuple[dict[str, Any], bool]:
        current = store.scoring_settings(c, tenant.org_id, tenant.unit_id)
        if current is None:
            raise ApiError(404, "org unit not found")
        toggles = {
            k: v
            for k, v in (
                ("allow_negative_scores", data.allow_negative_scores),
                ("abm_enabled", data.abm_enabled),
            )
            if v is not None and bool(current[k]) != v
        }
        if toggles and not principal.is_admin:
            raise ApiError(
                403,
                f"changing {' and '.join(f'`{k}`' for k in toggles)} needs an organization admin"
                " (it applies to every OU)",
            )
        now = rt.now_ms()
        # An admin sending ABM as it is has chosen it all the same: removing sample data that turned it on no
        # longer turns it off. (Anyone else got here only without changing a toggle.)
        abm = data.abm_enabled if principal.is_admin else None
        if toggles or abm is not None:
            org_store.update_org_toggles(
                c,
                tenant.org_id,
                allow_negative_scores=toggles.get("allow_negative_scores"),
                abm_enabled=abm,
                now=now,
            )
        if timeout is not None:
            org_store.set_session_timeout(c, tenant.unit_id, timeout, now)
            # One timeout in effect: a saved surge policy's idle reset is it, so it changes too (unless the value
            # sent is the one in effect already: a settings object sent back whole keeps a policy's seconds).
            if timeout != _minutes_in_effect(current):
                store.set_surge_idle(c, tenant.unit_id, timeout * 60, now)
        return store.scoring_settings(c, tenant.org_id, tenant.unit_id), bool(toggles)  # type: ignore[return-value]

    row, org_wide = await rt.db.write(run)
    units = await rt.db.read(lambda c: store.org_unit_ids(c, tenant.org_id)) if org_wide else [tenant.unit_id]
    invalidate(rt, units)
    return _settings(row)


def _policy_out(tenant: Tenant, policy: SurgePolicy, saved: bool, updated_at: int | None) -> SurgePolicyOut:
    return SurgePolicyOut(
        tenant.org_id,
        tenant.unit_id,
        policy.mode,
        [BandIn(b.min_events, b.multiplier) for b in policy.bands],
        policy.idle_reset_seconds,
        policy.multiplier_cap,
        saved,
        to_rfc3339(updated_at),
    )


@get(
    "/settings/ou/surge-policy",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="getSurgePolicy",
    summary="Get OU surge session policy",
    tags=["Settings"],
)
async def get_surge_policy(rt: Runtime, tenant: Tenant) -> SurgePolicyOut:
    """The saved policy, else Standard defaults with `idle_reset_seconds` = the OU's session timeout x 60."""

    def run(c: Any) -> tuple[dict[str, Any] | None, int]:
        settings = store.scoring_settings(c, tenant.org_id, tenant.unit_id)
        return store.get_surge_policy(c, tenant.unit_id), session_timeout_minutes(settings)

    saved, timeout = await rt.db.read(run)
    if saved is None:
        return _policy_out(tenant, build_policy("standard", default_idle_seconds=timeout * 60), False, None)
    bands = [BandIn(int(b["min_events"]), float(b["multiplier"])) for b in saved["bands"]]
    return SurgePolicyOut(
        tenant.org_id,
        tenant.unit_id,
        saved["mode"],
        bands,
        int(saved["idle_reset_seconds"]),
        float(saved["multiplier_cap"]),
        True,
        to_rfc3339(saved["updated_at"]),
    )


@put(
    "/settings/ou/surge-policy",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="upsertSurgePolicy",
    summary="Upsert OU surge session policy",
    tags=["Settings"],
)
async def put_surge_policy(rt: Runtime, tenant: Tenant, data: SurgePolicyIn) -> SurgePolicyOut:
    """Validate with the engine's rules (400 with its message) and save; the next event uses it.

    `idle_reset_seconds` omitted → the idle reset in effect (a saved policy's, else the OU's session timeout x 60);
    `multiplier_cap` omitted → the mode's cap.
    """
    bands = [Band(b.min_events, b.multiplier) for b in data.bands] if data.bands is not None else None

    def run(c: Any) -> tuple[SurgePolicy, int]:
        settings = store.scoring_settings(c, tenant.org_id, tenant.unit_id)
        try:
            policy = build_policy(
                data.mode,
                bands,
                data.idle_reset_seconds,
                data.multiplier_cap,
                default_idle_seconds=idle_seconds_in_effect(settings),
            )
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        now = rt.now_ms()
        store.upsert_surge_policy(
            c,
            tenant.unit_id,
            tenant.org_id,
            mode=policy.mode,
            bands=[{"min_events": b.min_events, "multiplier": b.multiplier} for b in policy.bands],
            idle_reset_seconds=policy.idle_reset_seconds,
            multiplier_cap=policy.multiplier_cap,
            now=now,
        )
        return policy, now

    policy, now = await write_config(rt, tenant.unit_id, run)
    return _policy_out(tenant, policy, True, now)


ROUTES = [get_scoring_settings, update_scoring_settings, get_surge_policy, put_surge_policy]
