"""Engagement, profile and account levels: named inclusive score bands `[min_score, max_score]`.

The three kinds share one table and one set of handlers built by `_routes`; engagement levels answer with
`stage_id` (the reference's name), profile and account levels with `level_id`. Lists are sorted by
`min_score`.
Bands may overlap (the lowest `min_score` wins when a score lies in several, see `engine.levels`). Names are
unique within a kind, ignoring case: the lead and account filters (`profile_level`, `intent_level`) name a level
that way, and a second level of the same name could never be picked by it.
"""

# No `from __future__ import annotations` here: the handlers are built in a factory, and their return
# annotations must be the real classes for Litestar to document and encode them.

from typing import Any

import msgspec
from litestar import delete, get, post, put

from leadvibe.api.bounds import Signed
from leadvibe.api.json_body import refuses_null
from leadvibe.api.names import Name, clean_name
from leadvibe.api.scoring_common import check_int, write_config
from leadvibe.engine.levels import same_name, validate_band
from leadvibe.errors import bad_request, conflict, not_found
from leadvibe.ids import new_id
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import scoring as store
from leadvibe.timeutil import Instant, to_rfc3339


class LevelIn(msgspec.Struct):
    """A new level."""

    name: Name
    min_score: Signed
    max_score: Signed


@refuses_null("name", "min_score", "max_score")
class LevelPatch(msgspec.Struct):
    """Fields to change on a level (absent fields stay; the resulting band is validated)."""

    name: Name | None = None
    min_score: Signed | None = None
    max_score: Signed | None = None


class StageOut(msgspec.Struct):
    """An engagement level (the reference calls its id `stage_id`)."""

    stage_id: str
    name: str
    min_score: int
    max_score: int
    org_id: str
    created_by: str | None
    updated_by: str | None
    created_at: Instant | None
    updated_at: Instant | None


class LevelOut(msgspec.Struct):
    """A profile or account level."""

    level_id: str
    name: str
    min_score: int
    max_score: int
    org_id: str
    created_by: str | None
    updated_by: str | None
    created_at: Instant | None
    updated_at: Instant | None


def _band(min_score: int, max_score: int) -> None:
    check_int(min_score, "min_score")
    check_int(max_score, "max_score")
    try:
        validate_band(min_score, max_score)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


def _name_free(c: Any, unit_id: str, kind: str, name: str, what: str, level_id: str | None = None) -> None:
    """409 when another level of the kind already has this name (`same_name`: as the filters compare it)."""
    if any(same_name(lv.name, name) and lv.level_id != level_id for lv in store.levels_of(c, unit_id, kind)):
        article = "an" if what[0] in "aeiou" else "a"
        raise conflict(f"{article} {what} named {name!r} already exists in this OU")


def _routes(kind: str, title: str, out: type, id_prefix: str) -> list[Any]:
    """The four handlers of one level kind (`title` as in the reference's operation names)."""
    path = f"/levels/{kind}"
    cap = title.capitalize()
    what = f"{title} level"

    def render(row: dict[str, Any]) -> Any:
        return out(
            row["id"],
            row["name"],
            row["min_score"],
            row["max_score"],
            row["org_id"],
            row["created_by"],
            row["updated_by"],
            to_rfc3339(row["created_at"]),
            to_rfc3339(row["updated_at"]),
        )

    @get(
        path,
        opt=access(Role.VIEWER),
        operation_id=f"list{cap}Levels",
        summary=f"List {what}s (OU-scoped)",
        tags=["Levels"],
    )
    async def list_levels(rt: Runtime, tenant: Tenant) -> list[out]:  # type: ignore[valid-type]
        """Levels of this kind in the active OU, lowest band first."""
        return [render(r) for r in await rt.db.read(lambda c: store.list_levels(c, tenant.unit_id, kind))]

    @post(
        path,
        opt=access(Role.OPERATOR),
        operation_id=f"create{cap}Level",
        summary=f"Create {what} (OU-scoped)",
        tags=["Levels"],
    )
    async def create_level(rt: Runtime, tenant: Tenant, principal: Principal, data: LevelIn) -> out:  # type: ignore[valid-type]
        """A new band; `min_score` must not exceed `max_score`."""
        name = clean_name(data.name)
        _band(data.min_score, data.max_score)
        def run(c: Any) -> dict[str, Any]:
            _name_free(c, tenant.unit_id, kind, name, what)
            return store.create_level(
                c,
                tenant.unit_id,
                tenant.org_id,
                level_id=new_id(id_prefix),
                kind=kind,
                name=name,
                min_score=data.min_score,
                max_score=data.max_score,
                actor=principal.actor_id,
                now=rt.now_ms(),
            )

        return render(await write_config(rt, tenant.unit_id, run))

    @put(
        f"{path}/{{level_id:str}}",
        opt=access(Role.OPERATOR),
        operation_id=f"update{cap}Level",
        summary=f"Update {what} (OU-scoped)",
        tags=["Levels"],
    )
    async def update_level(
        rt: Runtime, tenant: Tenant, principal: Principal, level_id: str, data: LevelPatch
    ) -> out:  # type: ignore[valid-type]
        """Change the name and/or the band."""
        fields: dict[str, Any] = {}
        if data.name is not None:
            fields["name"] = clean_name(data.name)

        def run(c: Any) -> dict[str, Any]:
            current = store.get_level(c, tenant.unit_id, kind, level_id)
            if current is None:
                raise not_found(what)
            # A level keeping its own name (in any case) passes even beside a twin stored before names were unique.
            if "name" in fields and not same_name(fields["name"], current["name"]):
                _name_free(c, tenant.unit_id, kind, fields["name"], what, level_id)
            low = current["min_score"] if data.min_score is None else data.min_score
            high = current["max_score"] if data.max_score is None else data.max_score
            _band(low, high)
            fields.update(min_score=low, max_score=high)
            return store.update_level(
                c,
                tenant.unit_id,
                kind,
                level_id,
                fields,  # type: ignore[return-value]
                principal.actor_id,
                rt.now_ms(),
            )

        return render(await write_config(rt, tenant.unit_id, run))

    @delete(
        f"{path}/{{level_id:str}}",
        opt=access(Role.OPERATOR),
        operation_id=f"delete{cap}Level",
        summary=f"Delete {what} (OU-scoped)",
        tags=["Levels"],
    )
    async def delete_level(rt: Runtime, tenant: Tenant, level_id: str) -> None:
        """Delete a band."""

        def run(c: Any) -> None:
            if not store.delete_level(c, tenant.unit_id, kind, level_id):
                raise not_found(what)

        await write_config(rt, tenant.unit_id, run)

    return [list_levels, create_level, update_level, delete_level]


ROUTES = [
    *_routes("engagement", "engagement", StageOut, "st"),
    *_routes("profile", "profile", LevelOut, "lv"),
    *_routes("account", "account", LevelOut, "lv"),
]
