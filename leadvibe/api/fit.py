"""Profile (fit) and account configuration: field mappings, rulesets and rules, and the property lists.

Profile and account configuration have the same shape (the reference names the property `profile_property`
or `account_property`), so one factory (`_routes`) builds both sets of handlers over shared tables. Account
endpoints answer 403 unless the organization has `abm_enabled`.

Decisions:
- The first ruleset of a target becomes primary whatever the request says (as engagement rulesets do); making
  one primary clears the flag on the others. Only the primary ruleset, when enabled, scores.
- Changing which rules score (rules, the primary flag, `enabled`, deleting) re-scores every lead (or account) of
  the OU in the background, in short chunks; the answer does not wait for it.
- Several mappings may feed one property, but with one update behavior: a mapping whose written property
  (`<property>_list` for `append`) is written by another mapping with a different behavior is refused (409).
"""

# No `from __future__ import annotations`: the handlers are built in a factory, and their annotations must be
# the real classes for Litestar to document and encode them.

from typing import Any, Literal

import msgspec
from litestar import delete, get, post, put

from leadvibe.api.condition_fields import (
    RESERVED_ACCOUNT,
    RESERVED_PROFILE,
    Operator,
    OptionalOperator,
    Order,
    PropertyName,
    Weight,
    check_condition,
    check_property,
)
from leadvibe.api.json_body import refuses_null
from leadvibe.api.names import Name, clean_name
from leadvibe.engine.fit import list_property
from leadvibe.errors import bad_request, conflict, forbidden, not_found
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import accounts as account_store
from leadvibe.store import fit as store
from leadvibe.store import lead_props
from leadvibe.timeutil import Instant, to_rfc3339

Behavior = Literal["always_latest", "set_once", "append"]
ABM_OFF = "account-based marketing is not enabled for this organization (`abm_enabled` in /settings/scoring)"


# -- shapes --------------------------------------------------------------------------------------------------
class FitRulesetIn(msgspec.Struct):
    """A profile or account ruleset."""

    name: Name
    enabled: bool = True
    is_primary: bool = False


@refuses_null("name", "enabled", "is_primary")
class FitRulesetPatch(msgspec.Struct):
    """Fields to change on a profile or account ruleset (absent fields stay: a rename leaves it primary)."""

    name: Name | None = None
    enabled: bool | None = None
    is_primary: bool | None = None


class FitRulesetOut(msgspec.Struct):
    """A profile or account ruleset; only the primary one, when enabled, scores."""

    id: str
    org_id: str
    name: str
    enabled: bool
    is_primary: bool
    rules_count: int
    created_at: Instant | None
    updated_at: Instant | None


def _struct(name: str, doc: str, fields: list[Any]) -> Any:
    cls = msgspec.defstruct(name, fields, module=__name__)
    cls.__doc__ = doc
    return cls


class Shapes(msgspec.Struct, frozen=True):
    """The request and response bodies of one target: the same fields, the property named `<target>_property`
    (as the reference names it)."""

    mapping_in: Any
    mapping_out: Any
    rule_in: Any
    rule_patch: Any
    rule_out: Any


def _shapes(target: str) -> Shapes:
    prop, cap = f"{target}_property", target.capitalize()
    stamps = [("created_at", Instant | None), ("updated_at", Instant | None)]
    return Shapes(
        _struct(f"{cap}MappingIn", f"Copy `metadata[source_field]` of incoming events into the {target} property.",
                [("source_field", PropertyName), (prop, PropertyName), ("update_behavior", Behavior, "always_latest")]),
        _struct(f"{cap}MappingOut", f"A {target} field mapping (`append` keeps the last 10 values in"
                f" `<{prop}>_list`).", [("id", str), ("source_field", str), (prop, str), ("update_behavior", str),
                                        *stamps]),
        _struct(f"{cap}RuleIn", f"When `{prop} condition comparison_value` holds, the {target} score gains `weight`.",
                # `exists` / `not_exists` ignore the comparison value: it may be left out (others refuse "").
                [(prop, PropertyName), ("condition", Operator), ("weight", Weight), ("comparison_value", str, ""),
                 ("ui_order", Order, 0)]),
        refuses_null(prop, "condition", "comparison_value", "weight", "ui_order")(
            _struct(f"{cap}RulePatch", f"Fields to change on a {target} rule (absent fields stay).",
                    [(prop, PropertyName | None, None), ("condition", OptionalOperator, None),
                     ("comparison_value", str | None, None),
                     ("weight", Weight | None, None), ("ui_order", Order | None, None)])),
        _struct(f"{cap}RuleOut", f"A {target} rule.",
                [("id", str), ("ruleset_id", str), (prop, str), ("condition", str), ("comparison_value", str),
                 ("weight", int), ("ui_order", int), *stamps]),
    )


# -- shared --------------------------------------------------------------------------------------------------
async def require_abm(rt: Runtime, unit_id: str) -> None:
    """403 unless the organization has account-based marketing enabled."""
    if not await rt.db.read(lambda c: store.abm_enabled(c, unit_id)):
        raise forbidden(ABM_OFF)


def _ruleset_out(row: dict[str, Any], counts: dict[str, int]) -> FitRulesetOut:
    return FitRulesetOut(row["id"], row["org_id"], row["name"], bool(row["enabled"]), bool(row["is_primary"]),
                         counts.get(row["id"], 0), to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]))


def _routes(target: str, base: str, tag: str) -> list[Any]:
    """Every configuration handler of one target (`profile` under /profile, `account` under /accounts)."""
    shapes = _shapes(target)
    mapping_in, mapping_out = shapes.mapping_in, shapes.mapping_out
    rule_in, rule_patch, rule_out = shapes.rule_in, shapes.rule_patch, shapes.rule_out
    prop = f"{target}_property"
    cap = target.capitalize()
    reserved = RESERVED_PROFILE if target == "profile" else RESERVED_ACCOUNT
    guard = (lambda rt, unit_id: require_abm(rt, unit_id)) if target == "account" else None

    async def check_access(rt: Runtime, unit_id: str) -> None:
        if guard is not None:
            await guard(rt, unit_id)

    async def write(rt: Runtime, tenant: Tenant, fn: Any, rescore: bool = False) -> Any:
        """Run a configuration write; drop the cached fit configuration; start a requested re-score."""
        now = rt.now_ms()

        def run(c: Any) -> Any:
            result = fn(c, now)
            if rescore:
                rt.fit.request_rescore(c, tenant.unit_id, target, now)
            return result

        result = await rt.db.write(run)
        rt.fit.invalidate(tenant.unit_id)
        if rescore:
            rt.fit.poke()
        return result

    # -- mappings ----------------------------------------------------------------------------------------------
    def mapping_render(row: dict[str, Any]) -> Any:
        return mapping_out(row["id"], row["source_field"], row["property"], row["update_behavior"],
                           to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]))

    def mapping_fields(data: Any) -> dict[str, Any]:
        prop_name = check_property(getattr(data, prop), prop)
        written = list_property(prop_name) if data.update_behavior == "append" else prop_name
        if prop_name in reserved or written in reserved:
            raise bad_request(f"`{prop}` {prop_name!r} is reserved (the product computes it)")
        return {"source_field": check_property(data.source_field, "source_field"), "property": prop_name,
                "update_behavior": data.update_behavior}

    def check_mapping_clash(c: Any, unit_id: str, fields: dict[str, Any], exclude: str | None) -> None:
        def written(row: dict[str, Any]) -> str:
            p = row["property"]
            return list_property(p) if row["update_behavior"] == "append" else p

        mine = written(fields)
        for row in store.MAPPINGS.list(c, unit_id, target=target):
            if row["id"] == exclude:
                continue
            if row["source_field"] == fields["source_field"] and row["property"] == fields["property"]:
                raise conflict(f"a mapping from {fields['source_field']!r} to {fields['property']!r} already exists")
            if written(row) == mine and row["update_behavior"] != fields["update_behavior"]:
                raise conflict(f"{mine!r} is already written by mapping {row['id']} with update_behavior"
                               f" {row['update_behavior']}; one property takes one update behavior")

    @get(f"{base}/mappings", opt=access(Role.VIEWER), operation_id=f"list{cap}Mappings",
         summary=f"List {target} field mappings (OU-scoped)", tags=[tag])
    async def list_mappings(rt: Runtime, tenant: Tenant) -> list[mapping_out]:  # type: ignore[valid-type]
        """The OU's mappings, oldest first (the order they apply in)."""
        await check_access(rt, tenant.unit_id)
        rows = await rt.db.read(lambda c: store.MAPPINGS.list(c, tenant.unit_id, target=target))
        return [mapping_render(r) for r in rows]

    @post(f"{base}/mappings", opt=access(Role.OPERATOR), operation_id=f"create{cap}Mapping",
          summary=f"Create {target} field mapping (OU-scoped)", tags=[tag])
    async def create_mapping(rt: Runtime, tenant: Tenant, principal: Principal,
                             data: mapping_in) -> mapping_out:  # type: ignore[valid-type]
        """A mapping for events from now on (`POST /admin/profile-mappings/apply` runs it over history)."""
        await check_access(rt, tenant.unit_id)
        fields = mapping_fields(data)
        mapping_id = new_id("pm" if target == "profile" else "am")

        def run(c: Any, now: int) -> dict[str, Any]:
            check_mapping_clash(c, tenant.unit_id, fields, None)
            store.MAPPINGS.insert(c, {**fields, "id": mapping_id, "org_id": tenant.org_id, "unit_id": tenant.unit_id,
                                      "target": target, "created_by": principal.actor_id,
                                      "updated_by": principal.actor_id, "created_at": now, "updated_at": now})
            return store.MAPPINGS.get(c, tenant.unit_id, mapping_id)  # type: ignore[return-value]

        return mapping_render(await write(rt, tenant, run))

    @put(f"{base}/mappings/{{mapping_id:str}}", opt=access(Role.OPERATOR), operation_id=f"update{cap}Mapping",
         summary=f"Update {target} field mapping (OU-scoped)", tags=[tag])
    async def update_mapping(rt: Runtime, tenant: Tenant, principal: Principal, mapping_id: str,
                             data: mapping_in) -> mapping_out:  # type: ignore[valid-type]
        """Replace a mapping's source, property and behavior."""
        await check_access(rt, tenant.unit_id)
        fields = mapping_fields(data)

        def run(c: Any, now: int) -> dict[str, Any]:
            if store.MAPPINGS.get(c, tenant.unit_id, mapping_id, target=target) is None:
                raise not_found(f"{target} mapping")
            check_mapping_clash(c, tenant.unit_id, fields, mapping_id)
            store.MAPPINGS.update(c, tenant.unit_id, mapping_id,
                                  {**fields, "updated_by": principal.actor_id, "updated_at": now}, target=target)
            return store.MAPPINGS.get(c, tenant.unit_id, mapping_id)  # type: ignore[return-value]

        return mapping_render(await write(rt, tenant, run))

    @delete(f"{base}/mappings/{{mapping_id:str}}", opt=access(Role.OPERATOR), operation_id=f"delete{cap}Mapping",
            summary=f"Delete {target} field mapping (OU-scoped)", tags=[tag])
    async def delete_mapping(rt: Runtime, tenant: Tenant, mapping_id: str) -> None:
        """Stop mapping; properties already written stay."""
        await check_access(rt, tenant.unit_id)

        def run(c: Any, now: int) -> None:
            if not store.MAPPINGS.delete(c, tenant.unit_id, mapping_id, target=target):
                raise not_found(f"{target} mapping")

        await write(rt, tenant, run)

    # -- rulesets ----------------------------------------------------------------------------------------------
    def ruleset_or_404(c: Any, unit_id: str, ruleset_id: str) -> dict[str, Any]:
        row = store.RULESETS.get(c, unit_id, ruleset_id, target=target)
        if row is None:
            raise not_found(f"{target} ruleset")
        return row

    def render_ruleset(c: Any, unit_id: str, ruleset_id: str) -> FitRulesetOut:
        return _ruleset_out(ruleset_or_404(c, unit_id, ruleset_id), store.rule_counts(c, unit_id, target))

    @get(f"{base}/rulesets", opt=access(Role.VIEWER), operation_id=f"list{cap}Rulesets",
         summary=f"List {target} rule sets (OU-scoped)", tags=[tag])
    async def list_rulesets(rt: Runtime, tenant: Tenant) -> list[FitRulesetOut]:
        """The OU's rulesets of this kind, the primary first."""
        await check_access(rt, tenant.unit_id)

        def run(c: Any) -> list[FitRulesetOut]:
            counts = store.rule_counts(c, tenant.unit_id, target)
            return [_ruleset_out(r, counts) for r in store.RULESETS.list(c, tenant.unit_id, target=target)]

        return await rt.db.read(run)

    @post(f"{base}/rulesets", opt=access(Role.OPERATOR), operation_id=f"create{cap}Ruleset",
          summary=f"Create {target} rule set (OU-scoped)", tags=[tag])
    async def create_ruleset(rt: Runtime, tenant: Tenant, principal: Principal,
                             data: FitRulesetIn) -> FitRulesetOut:
        """A new ruleset; the first of the OU is primary whatever the request says."""
        await check_access(rt, tenant.unit_id)
        name = clean_name(data.name)
        ruleset_id = new_id("prs" if target == "profile" else "ars")

        def run(c: Any, now: int) -> FitRulesetOut:
            primary = data.is_primary or store.count_rulesets(c, tenant.unit_id, target) == 0
            store.RULESETS.insert(c, {"id": ruleset_id, "org_id": tenant.org_id, "unit_id": tenant.unit_id,
                                      "target": target, "name": name, "enabled": int(data.enabled),
                                      "is_primary": 0, "created_by": principal.actor_id,
                                      "updated_by": principal.actor_id, "created_at": now, "updated_at": now})
            if primary:
                store.set_primary(c, tenant.unit_id, target, ruleset_id, now)
            return render_ruleset(c, tenant.unit_id, ruleset_id)

        return await write(rt, tenant, run, rescore=True)

    @put(f"{base}/rulesets/{{ruleset_id:str}}", opt=access(Role.OPERATOR), operation_id=f"update{cap}Ruleset",
         summary=f"Update {target} rule set (OU-scoped)", tags=[tag])
    async def update_ruleset(rt: Runtime, tenant: Tenant, principal: Principal, ruleset_id: str,
                             data: FitRulesetPatch) -> FitRulesetOut:
        """Rename, enable/disable, make primary (clearing the others) or not (`is_primary: false` leaves no
        primary); absent fields stay."""
        await check_access(rt, tenant.unit_id)
        fields: dict[str, Any] = {"updated_by": principal.actor_id}
        if data.name is not None:
            fields["name"] = clean_name(data.name)
        if data.enabled is not None:
            fields["enabled"] = int(data.enabled)

        def run(c: Any, now: int) -> FitRulesetOut:
            ruleset_or_404(c, tenant.unit_id, ruleset_id)
            store.RULESETS.update(c, tenant.unit_id, ruleset_id, {**fields, "updated_at": now})
            if data.is_primary:
                store.set_primary(c, tenant.unit_id, target, ruleset_id, now)
            elif data.is_primary is not None:
                store.clear_primary(c, tenant.unit_id, ruleset_id, now)
            return render_ruleset(c, tenant.unit_id, ruleset_id)

        return await write(rt, tenant, run, rescore=True)

    @delete(f"{base}/rulesets/{{ruleset_id:str}}", opt=access(Role.OPERATOR), operation_id=f"delete{cap}Ruleset",
            summary=f"Delete {target} rule set (OU-scoped)", tags=[tag])
    async def delete_ruleset(rt: Runtime, tenant: Tenant, ruleset_id: str) -> None:
        """Delete a ruleset and its rules; deleting the primary promotes none."""
        await check_access(rt, tenant.unit_id)

        def run(c: Any, now: int) -> None:
            if not store.RULESETS.delete(c, tenant.unit_id, ruleset_id, target=target):
                raise not_found(f"{target} ruleset")

        await write(rt, tenant, run, rescore=True)

    # -- rules -------------------------------------------------------------------------------------------------
    def rule_render(row: dict[str, Any]) -> Any:
        return rule_out(row["id"], row["ruleset_id"], row["property"], row["condition"], row["comparison_value"],
                        int(row["weight"]), int(row["ui_order"]), to_rfc3339(row["created_at"]),
                        to_rfc3339(row["updated_at"]))

    @get(f"{base}/rulesets/{{ruleset_id:str}}/rules", opt=access(Role.VIEWER), operation_id=f"list{cap}Rules",
         summary=f"List {target} rules in a set (OU-scoped)", tags=[tag])
    async def list_rules(rt: Runtime, tenant: Tenant, ruleset_id: str) -> list[rule_out]:  # type: ignore[valid-type]
        """The ruleset's rules in `ui_order`."""
        await check_access(rt, tenant.unit_id)

        def run(c: Any) -> list[dict[str, Any]]:
            ruleset_or_404(c, tenant.unit_id, ruleset_id)
            return store.RULES.list(c, tenant.unit_id, ruleset_id=ruleset_id)

        return [rule_render(r) for r in await rt.db.read(run)]

    @post(f"{base}/rulesets/{{ruleset_id:str}}/rules", opt=access(Role.OPERATOR), operation_id=f"create{cap}Rule",
          summary=f"Create {target} rule (OU-scoped)", tags=[tag])
    async def create_rule(rt: Runtime, tenant: Tenant, principal: Principal, ruleset_id: str,
                          data: rule_in) -> rule_out:  # type: ignore[valid-type]
        """A weighted condition on a property; conditions as SEMANTICS §6 lists them (any letter case)."""
        await check_access(rt, tenant.unit_id)
        body: Any = data  # a struct built per target: its fields are read by name
        prop_name = check_property(getattr(body, prop), prop)
        condition, value = check_condition(body.condition, body.comparison_value, "condition", "comparison_value")
        rule_id = new_id("pr" if target == "profile" else "ar")

        def run(c: Any, now: int) -> dict[str, Any]:
            ruleset_or_404(c, tenant.unit_id, ruleset_id)
            store.RULES.insert(c, {"id": rule_id, "ruleset_id": ruleset_id, "org_id": tenant.org_id,
                                   "unit_id": tenant.unit_id, "property": prop_name, "condition": condition,
                                   "comparison_value": value, "weight": body.weight, "ui_order": body.ui_order,
                                   "created_by": principal.actor_id, "updated_by": principal.actor_id,
                                   "created_at": now, "updated_at": now})
            return store.RULES.get(c, tenant.unit_id, rule_id)  # type: ignore[return-value]

        return rule_render(await write(rt, tenant, run, rescore=True))

    @put(f"{base}/rulesets/{{ruleset_id:str}}/rules/{{rule_id:str}}", opt=access(Role.OPERATOR),
         operation_id=f"update{cap}Rule", summary=f"Update {target} rule (OU-scoped)", tags=[tag])
    async def update_rule(rt: Runtime, tenant: Tenant, principal: Principal, ruleset_id: str, rule_id: str,
                          data: rule_patch) -> rule_out:  # type: ignore[valid-type]
        """Change some fields of a rule; the condition and value are validated together."""
        await check_access(rt, tenant.unit_id)
        body: Any = data  # a struct built per target: its fields are read by name
        new_prop = getattr(body, prop)

        def run(c: Any, now: int) -> dict[str, Any]:
            ruleset_or_404(c, tenant.unit_id, ruleset_id)
            current = store.RULES.get(c, tenant.unit_id, rule_id, ruleset_id=ruleset_id)
            if current is None:
                raise not_found(f"{target} rule")
            fields: dict[str, Any] = {}
            if new_prop is not None:
                fields["property"] = check_property(new_prop, prop)
            if body.condition is not None or body.comparison_value is not None:
                fields["condition"], fields["comparison_value"] = check_condition(
                    body.condition if body.condition is not None else current["condition"],
                    body.comparison_value if body.comparison_value is not None else current["comparison_value"],
                    "condition", "comparison_value")
            if body.weight is not None:
                fields["weight"] = body.weight
            if body.ui_order is not None:
                fields["ui_order"] = body.ui_order
            store.RULES.update(c, tenant.unit_id, rule_id, {**fields, "updated_by": principal.actor_id,
                                                            "updated_at": now}, ruleset_id=ruleset_id)
            return store.RULES.get(c, tenant.unit_id, rule_id)  # type: ignore[return-value]

        return rule_render(await write(rt, tenant, run, rescore=True))

    @delete(f"{base}/rulesets/{{ruleset_id:str}}/rules/{{rule_id:str}}", opt=access(Role.OPERATOR),
            operation_id=f"delete{cap}Rule", summary=f"Delete {target} rule (OU-scoped)", tags=[tag])
    async def delete_rule(rt: Runtime, tenant: Tenant, ruleset_id: str, rule_id: str) -> None:
        """Delete a rule."""
        await check_access(rt, tenant.unit_id)

        def run(c: Any, now: int) -> None:
            ruleset_or_404(c, tenant.unit_id, ruleset_id)
            if not store.RULES.delete(c, tenant.unit_id, rule_id, ruleset_id=ruleset_id):
                raise not_found(f"{target} rule")

        await write(rt, tenant, run, rescore=True)

    return [list_mappings, create_mapping, update_mapping, delete_mapping, list_rulesets, create_ruleset,
            update_ruleset, delete_ruleset, list_rules, create_rule, update_rule, delete_rule]


@get("/profile/properties", opt=access(Role.VIEWER), operation_id="listProfileProperties",
     summary="List distinct lead metadata properties (OU-scoped)", tags=["Profile"])
async def list_profile_properties(rt: Runtime, tenant: Tenant) -> list[str]:
    """Top-level keys some live lead's metadata holds a value for, sorted."""
    return await rt.db.read(lambda c: lead_props.top_level_names(c, tenant.unit_id))


@get("/accounts/properties", opt=access(Role.VIEWER), operation_id="listAccountProperties",
     summary="List distinct account metadata property keys (OU-scoped)", tags=["Account"])
async def list_account_properties(rt: Runtime, tenant: Tenant) -> list[str]:
    """Top-level keys of the OU's account metadata, sorted."""
    await require_abm(rt, tenant.unit_id)
    return await rt.db.read(lambda c: account_store.property_names(c, tenant.unit_id))


ROUTES = [
    *_routes("profile", "/profile", "Profile"),
    *_routes("account", "/accounts", "Account"),
    list_profile_properties,
    list_account_properties,
]
