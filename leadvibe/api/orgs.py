"""Organization, OUs, members and OU memberships."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import Cookie, ResponseHeader

from leadvibe.api.json_body import refuses_null
from leadvibe.api.names import Name, clean_name
from leadvibe.documented import NOT_BLANK
from leadvibe.errors import ApiError, bad_request, conflict, not_found
from leadvibe.runtime import Runtime
from leadvibe.security import passwords
from leadvibe.security.guards import ACTIVE_OU_COOKIE, access, role_in_unit
from leadvibe.security.principal import Principal, Role
from leadvibe.store import members as member_store
from leadvibe.store import orgs as org_store
from leadvibe.timeutil import Instant, to_rfc3339

OURole = Literal["Owner", "Operator", "Viewer"]
OrgRole = Literal["admin", "member"]


class UnitName(msgspec.Struct):
    """Create or rename an OU."""

    name: Name


class Unit(msgspec.Struct):
    """An org unit."""

    unit_id: str
    name: str
    slug: str
    role: str | None = None
    created_at: Instant | None = None


class Organization(msgspec.Struct):
    """The caller's organization."""

    org_id: str
    name: str
    slug: str


class UnitList(msgspec.Struct):
    """OUs the caller can see, with the organization."""

    units: list[Unit]
    organization: Organization


class SetActive(msgspec.Struct):
    """The OU to activate."""

    ouId: Annotated[str, msgspec.Meta(description="an OU id", extra_json_schema={"extra": NOT_BLANK})]


class ActiveUnit(msgspec.Struct):
    """The activated OU."""

    ouId: str
    unit_id: str
    name: str
    role: str


class MemberIn(msgspec.Struct):
    """A new org member."""

    first_name: Name
    last_name: Name
    email: str
    password: str
    role: OrgRole = "member"


@refuses_null("first_name", "last_name", "email", "role", "password")
class MemberPatch(msgspec.Struct):
    """Fields to change on a member (a password resets it)."""

    first_name: Name | None = None
    last_name: Name | None = None
    email: str | None = None
    role: OrgRole | None = None
    password: str | None = None


class Member(msgspec.Struct):
    """An org member (never the password)."""

    org_member_id: str
    first_name: str
    last_name: str
    email: str
    role: str
    verified: bool
    created_at: Instant | None


class MembershipIn(msgspec.Struct):
    """Assign a member to an OU."""

    org_member_id: str
    role: OURole = "Viewer"


class RoleIn(msgspec.Struct):
    """A new OU role."""

    role: OURole


class Membership(msgspec.Struct):
    """A member's role in an OU."""

    unit_id: str
    org_member_id: str
    role: str
    email: str
    first_name: str
    last_name: str
    org_role: str
    created_at: Instant | None


def _unit(row: dict[str, Any], role: str | None = None) -> Unit:
    return Unit(row["id"], row["name"], row["slug"], role, to_rfc3339(row["created_at"]))


def _member(row: dict[str, Any]) -> Member:
    return Member(row["id"], row["first_name"], row["last_name"], row["email"], row["role"], bool(row["verified"]),
                  to_rfc3339(row["created_at"]))


def _membership(row: dict[str, Any]) -> Membership:
    return Membership(row["unit_id"], row["org_member_id"], row["role"], row["email"], row["first_name"],
                      row["last_name"], row["org_role"], to_rfc3339(row["created_at"]))


def _check_email(email: str) -> str:
    if not passwords.is_sign_in_email(email):
        raise bad_request("`email` must be a valid email address")
    return passwords.sign_in_email(email)




@get("/org-units", opt=access(None, auth="jwt", ou=False), operation_id="listOrgUnits",
     summary="List organization units for current user with organization info", tags=["OrgUnits"])
async def list_units(rt: Runtime, principal: Principal) -> UnitList:
    """Admins see every OU of the org (as Owner); members see the OUs they belong to, with their role."""
    def run(c: Any) -> UnitList:
        org = org_store.get_organization(c, principal.org_id)
        units = org_store.list_units(c, principal.org_id)
        roles = {} if principal.is_admin else member_store.member_units(c, principal.member_id or "")
        visible = [_unit(u, Role.OWNER.value if principal.is_admin else roles[u["id"]])
                   for u in units if principal.is_admin or u["id"] in roles]
        return UnitList(visible, Organization(org["id"], org["name"], org["slug"]))  # type: ignore[index]
    return await rt.db.read(run)


@post("/org-units", opt=access(Role.ORG_ADMIN, auth="jwt", ou=False),
      operation_id="createOrgUnit", summary="Create organization unit",
      tags=["OrgUnits"])
async def create_unit(rt: Runtime, principal: Principal, data: UnitName) -> Unit:
    """A new OU in the caller's organization."""
    name = clean_name(data.name)
    row = await rt.db.write(lambda c: org_store.create_unit(c, principal.org_id, name, rt.now_ms()))
    return _unit(row, "Owner")


@put("/org-units/{unit_id:str}", opt=access(Role.OWNER, auth="jwt", ou=False, path_ou="unit_id"),
     operation_id="updateOrgUnit",
     summary="Update organization unit", tags=["OrgUnits"])
async def update_unit(rt: Runtime, principal: Principal, unit_id: str, data: UnitName) -> Unit:
    """Rename an OU (org admins, or Owners of that OU)."""
    name = clean_name(data.name)
    row = await rt.db.write(lambda c: org_store.rename_unit(c, principal.org_id, unit_id, name, rt.now_ms()))
    if row is None:
        raise not_found("org unit")
    return _unit(row, await role_in_unit(rt, principal, unit_id))


@post("/org-units/active", opt=access(None, auth="any", ou=False), operation_id="setActiveOrgUnit",
      summary="Set active Organization Unit (OU)", tags=["OrgUnits"], status_code=200,
      response_headers=[
          ResponseHeader(name="X-OU-ID", description="The OU now active", documentation_only=True, value=""),
          ResponseHeader(name="Set-Cookie", description="`activeOu=<OU id>`: HttpOnly, SameSite=Lax, 30 days",
                         documentation_only=True, value="")])
async def set_active(request: Request[Any, Any, Any], rt: Runtime, principal: Principal,
                     data: SetActive) -> Response[ActiveUnit]:
    """Validate membership, set the HttpOnly `activeOu` cookie and echo `X-OU-ID`."""
    unit_id = data.ouId.strip()
    if not unit_id:
        raise bad_request("`ouId` is required")
    role = await role_in_unit(rt, principal, unit_id)
    if role is None:
        if principal.kind == "credential":
            raise ApiError(403, f"this API credential may only act in its own OU ({principal.home_unit})")
        raise ApiError(403, f"you are not a member of OU {unit_id}")
    unit = await rt.db.read(lambda c: org_store.get_unit(c, principal.org_id, unit_id))
    if unit is None:
        raise not_found("org unit")
    if principal.member_id is not None:  # remembered for Bearer-only clients (SEMANTICS §1)
        member_id = principal.member_id
        await rt.db.write(lambda c: member_store.remember_active_unit(c, member_id, unit_id))
    secure = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
    cookie = Cookie(key=ACTIVE_OU_COOKIE, value=unit_id, httponly=True, samesite="lax", secure=secure, path="/",
                    max_age=60 * 60 * 24 * 30)
    return Response(ActiveUnit(unit_id, unit_id, unit["name"], role), cookies=[cookie], headers={"X-OU-ID": unit_id})


@get("/members", opt=access(None, auth="jwt", ou=False),
     operation_id="listMembers", summary="List organization members",
     tags=["OrgUnits"])
async def list_members(rt: Runtime, principal: Principal) -> list[Member]:
    """Every member of the caller's organization."""
    rows = await rt.db.read(lambda c: member_store.list_members(c, principal.org_id))
    return [_member(r) for r in rows]


@post("/members", opt=access(Role.ORG_ADMIN, auth="jwt", ou=False),
      operation_id="createMember", summary="Create organization member",
      tags=["OrgUnits"])
async def create_member(rt: Runtime, principal: Principal, data: MemberIn) -> Member:
    """Add a person to the organization (org admins only)."""
    email = _check_email(data.email)
    first, last = clean_name(data.first_name, "first_name"), clean_name(data.last_name, "last_name")
    reason = passwords.check_new_password(data.password)
    if reason:
        raise bad_request(reason)
    pw_hash = await asyncio.to_thread(passwords.hash_password, data.password)

    def run(c: Any) -> dict[str, Any]:
        if member_store.email_taken(c, email):
            raise conflict(f"a member with email {email} already exists")
        return member_store.create_member(c, principal.org_id, email=email, first_name=first, last_name=last,
                                          role=data.role, password_hash=pw_hash, now=rt.now_ms())
    return _member(await rt.db.write(run))


@put("/members/{member_id:str}", opt=access(Role.ORG_ADMIN, auth="jwt", ou=False), operation_id="updateMember",
     summary="Update organization member", tags=["OrgUnits"])
async def update_member(rt: Runtime, principal: Principal, member_id: str, data: MemberPatch) -> Member:
    """Change a member's name, email, org role or password (org admins only)."""
    fields: dict[str, Any] = {}
    if data.first_name is not None:
        fields["first_name"] = clean_name(data.first_name, "first_name")
    if data.last_name is not None:
        fields["last_name"] = clean_name(data.last_name, "last_name")
    if data.email is not None:
        fields["email"] = _check_email(data.email)
    if data.role is not None:
        fields["role"] = data.role
    if data.password is not None:
        reason = passwords.check_new_password(data.password)
        if reason:
            raise bad_request(reason)
        pw_hash = await asyncio.to_thread(passwords.hash_password, data.password)
        # Every session of the member begun before ends (a reset after a suspected leak must lock the thief out),
        # but the one making the change when it is their own. Stamped in the write itself (below): a sign-in that
        # read the old hash while this one was being computed began before it.
        fields |= member_store.new_password_fields(pw_hash, 0,
                                                   principal.jti if principal.member_id == member_id else None)

    def run(c: Any) -> dict[str, Any]:
        if "sessions_after" in fields:
            fields["sessions_after"] = rt.now_ms()
        current = member_store.get_member(c, principal.org_id, member_id)
        if current is None:
            raise not_found("member")
        if "email" in fields and member_store.email_taken(c, fields["email"], exclude_id=member_id):
            raise conflict(f"a member with email {fields['email']} already exists")
        if fields.get("role") == "member" and current["role"] == "admin" and \
                member_store.count_admins(c, principal.org_id) <= 1:
            raise conflict("the last organization admin cannot be demoted")
        member_store.update_member(c, principal.org_id, member_id, fields, rt.now_ms())
        return member_store.get_member(c, principal.org_id, member_id)  # type: ignore[return-value]
    return _member(await rt.db.write(run))


@delete("/members/{member_id:str}", opt=access(Role.ORG_ADMIN, auth="jwt", ou=False), operation_id="deleteMember",
        summary="Delete organization member", tags=["OrgUnits"])
async def delete_member(rt: Runtime, principal: Principal, member_id: str) -> None:
    """Remove a person; their sessions stop working on the next request."""
    def run(c: Any) -> None:
        current = member_store.get_member(c, principal.org_id, member_id)
        if current is None:
            raise not_found("member")
        if current["role"] == "admin" and member_store.count_admins(c, principal.org_id) <= 1:
            raise conflict("the last organization admin cannot be deleted")
        member_store.delete_member(c, principal.org_id, member_id)
    await rt.db.write(run)


@get("/org-units/{unit_id:str}/memberships", opt=access(Role.VIEWER, auth="jwt", ou=False, path_ou="unit_id"),
     operation_id="listMemberships", summary="List OU memberships", tags=["OUMemberships"])
async def list_memberships(rt: Runtime, unit_id: str) -> list[Membership]:
    """Members of the OU with their OU roles."""
    return [_membership(r) for r in await rt.db.read(lambda c: member_store.list_memberships(c, unit_id))]


def _no_escalation(request: Request[Any, Any, Any], role: str) -> None:
    # An Operator may manage memberships but never hand out more than it has.
    have: Role = request.state.path_role
    if not have.covers(Role(role)):
        raise ApiError(403, f"you cannot grant the {role} role (you are {have.value})")


def _may_touch(request: Request[Any, Any, Any], current: str | None) -> None:
    """SEMANTICS §1: changing or removing a membership takes at least the role it holds now, so an Operator can
    never demote or remove an Owner (only an Owner or an org admin can)."""
    have: Role = request.state.path_role
    if current is not None and not have.covers(Role(current)):
        raise ApiError(403, f"changing an {current}'s membership needs the {current} role (you are {have.value})")


@post("/org-units/{unit_id:str}/memberships", opt=access(Role.OPERATOR, auth="jwt", ou=False, path_ou="unit_id"),
      operation_id="assignMembership", summary="Assign member to OU", tags=["OUMemberships"], status_code=200)
async def assign_membership(request: Request[Any, Any, Any], rt: Runtime, principal: Principal, unit_id: str,
                            data: MembershipIn) -> Membership:
    """Idempotent: assigning again sets the role."""
    _no_escalation(request, data.role)

    def run(c: Any) -> Membership:
        if member_store.get_member(c, principal.org_id, data.org_member_id) is None:
            raise not_found("member")
        _may_touch(request, member_store.membership_role(c, unit_id, data.org_member_id))
        member_store.upsert_membership(c, unit_id, principal.org_id, data.org_member_id, data.role, rt.now_ms())
        rows = [r for r in member_store.list_memberships(c, unit_id) if r["org_member_id"] == data.org_member_id]
        return _membership(rows[0])
    return await rt.db.write(run)


@put("/org-units/{unit_id:str}/memberships/{member_id:str}",
     opt=access(Role.OPERATOR, auth="jwt", ou=False, path_ou="unit_id"), operation_id="updateMembership",
     summary="Update OU membership role", tags=["OUMemberships"])
async def update_membership(request: Request[Any, Any, Any], rt: Runtime, principal: Principal, unit_id: str,
                            member_id: str, data: RoleIn) -> Membership:
    """Change a member's role in the OU."""
    _no_escalation(request, data.role)

    def run(c: Any) -> Membership:
        current = member_store.membership_role(c, unit_id, member_id)
        if current is None:
            raise not_found("membership")
        _may_touch(request, current)
        member_store.upsert_membership(c, unit_id, principal.org_id, member_id, data.role, rt.now_ms())
        rows = [r for r in member_store.list_memberships(c, unit_id) if r["org_member_id"] == member_id]
        return _membership(rows[0])
    return await rt.db.write(run)


@delete("/org-units/{unit_id:str}/memberships/{member_id:str}",
        opt=access(Role.OPERATOR, auth="jwt", ou=False, path_ou="unit_id"), operation_id="removeMembership",
        summary="Remove OU membership", tags=["OUMemberships"])
async def remove_membership(request: Request[Any, Any, Any], rt: Runtime, unit_id: str, member_id: str) -> None:
    """Take a member out of the OU."""
    def run(c: Any) -> None:
        current = member_store.membership_role(c, unit_id, member_id)
        if current is None:
            raise not_found("membership")
        _may_touch(request, current)
        member_store.delete_membership(c, unit_id, member_id)
    await rt.db.write(run)


ROUTES = [list_units, create_unit, update_unit, set_active, list_members, create_member, update_member,
          delete_member, list_memberships, assign_membership, update_membership, remove_membership]
