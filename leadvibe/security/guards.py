"""One guard for every handler: authenticate, resolve the active OU, check the role, rate-limit.

Handlers declare what they need in `opt` via `access(...)`; the defaults are deliberately strict (auth
required, OU required, Viewer for reads). Results land in `connection.state` for the `principal`/`tenant`
dependencies.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from leadvibe.db.rows import query_one
from leadvibe.errors import ApiError
from leadvibe.runtime import CachedCredential, Runtime
from leadvibe.security import credentials as creds
from leadvibe.security.principal import ROLE_CODES, ROLE_RANK, Principal, Tenant
from leadvibe.security.tokens import TokenError
from leadvibe.store import credentials as cred_store

ACTIVE_OU_COOKIE = "activeOu"


def access(role: str | None = "V", *, auth: str = "any", ou: bool = True, path_ou: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """Handler opt: `role` V/O/W (OU role) or A (org admin); `auth` none/jwt/any; `ou` needs an active OU;
    `path_ou` names a path parameter whose OU the role is checked in (instead of the active OU)."""
    return {"auth": auth, "ou": ou, "role": role, "path_ou": path_ou, **extra}


PUBLIC = {"auth": "none", "ou": False, "role": None, "path_ou": None}


def unauthorized(message: str) -> ApiError:
    """401 with a challenge header."""
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="leadvibe"'})


async def _credential(rt: Runtime, client_id: str) -> CachedCredential | None:
    cached = rt.credentials.get(client_id)
    if cached is not None:
        return cached
    row = await rt.db.read(lambda c: cred_store.credential_by_client_id(c, client_id))
    if row is None:
        return None
    cached = CachedCredential(row["id"], row["org_id"], row["unit_id"], row["client_id"], bytes(row["secret_digest"]))
    rt.credentials[client_id] = cached
    return cached


async def authenticate(rt: Runtime, connection: ASGIConnection[Any, Any, Any, Any], allow_basic: bool) -> Principal:
    """Bearer JWT (people) or, where allowed, HTTP Basic (API credentials)."""
    header = connection.headers.get("authorization", "")
    scheme = header.split(" ", 1)[0].lower() if header else ""
    if scheme == "bearer":
        token = header[7:].strip()
        try:
            claims = rt.tokens.verify(token)
        except TokenError as exc:
            raise unauthorized(str(exc)) from None
        jti = str(claims["jti"])
        if jti in rt.revoked:
            raise unauthorized("token revoked")
        member_id = str(claims["sub"])
        row = await rt.db.read(lambda c: query_one(
            c, "SELECT id, org_id, email, role FROM members WHERE id = ?", (member_id,)))
        if row is None:
            raise unauthorized("the account of this token no longer exists")
        return Principal("member", row["org_id"], member_id=row["id"], email=row["email"], org_role=row["role"],
                         jti=jti, token_expires_at=int(claims["exp"]) * 1000)  # type: ignore[call-overload]
    if scheme == "basic":
        if not allow_basic:
            raise unauthorized("this endpoint needs a user session token (Authorization: Bearer)")
        parsed = creds.parse_basic(header)
        if parsed is None:
            raise unauthorized("malformed Basic credentials")
        cred = await _credential(rt, parsed[0])
        if cred is None or not creds.matches(rt.pepper, parsed[1], cred.digest):
            raise unauthorized("invalid credentials")
        return Principal("credential", cred.org_id, credential_id=cred.cred_id, home_unit=cred.unit_id)
    if header:
        raise unauthorized("unsupported Authorization scheme (use Bearer or Basic)")
    raise unauthorized("authentication required")


async def role_in_unit(rt: Runtime, principal: Principal, unit_id: str) -> str | None:
    """The caller's effective role in an OU of its org (None: not a member / not in the org)."""
    if principal.kind == "credential":
        return "Operator" if unit_id == principal.home_unit else None
    row = await rt.db.read(lambda c: query_one(
        c, "SELECT u.id, (SELECT role FROM ou_memberships m WHERE m.unit_id = u.id AND m.member_id = ?) AS role"
           " FROM org_units u WHERE u.id = ? AND u.org_id = ?", (principal.member_id, unit_id, principal.org_id)))
    if row is None:
        return None
    if principal.is_admin:
        return "Owner"
    return row["role"]


async def resolve_tenant(rt: Runtime, connection: ASGIConnection[Any, Any, Any, Any], principal: Principal) -> Tenant:
    """Active OU: the `activeOu` cookie, else `X-OU-ID`, else a credential's home OU."""
    requested = connection.cookies.get(ACTIVE_OU_COOKIE) or connection.headers.get("x-ou-id")
    query_key = connection.route_handler.opt.get("ou_query") if connection.scope.get("route_handler") else None
    if query_key and connection.query_params.get(query_key):
        requested = connection.query_params[query_key]
    if principal.kind == "credential":
        if requested and requested != principal.home_unit:
            raise ApiError(403, f"this API credential may only act in its own OU ({principal.home_unit})")
        return Tenant(principal.org_id, principal.home_unit or "", "Operator")
    if not requested:
        raise ApiError(400, "active OU not set")
    role = await role_in_unit(rt, principal, requested)
    if role is None:
        raise ApiError(403, f"you are not a member of OU {requested}")
    return Tenant(principal.org_id, requested, role)


def _require(role_code: str | None, have: str | None, where: str) -> None:
    if not role_code or role_code == "A":
        return
    need = ROLE_CODES[role_code]
    if have is None:
        raise ApiError(403, f"you are not a member of OU {where}")
    if ROLE_RANK[have] < ROLE_RANK[need]:
        raise ApiError(403, f"this action needs the {need} role in the OU (you are {have})")


def _rate_key(rt: Runtime, principal: Principal, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    key_by = rt.settings.rate_limit_key_by
    if key_by == "credential" and principal.kind == "credential":
        return f"cred:{principal.credential_id}"
    if key_by == "ip":
        return f"ip:{connection.client.host if connection.client else 'unknown'}"
    return f"org:{principal.org_id}"


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app-wide guard."""
    opt = handler.opt
    if "auth" not in opt and connection.scope["path"].startswith("/schema"):
        return  # the OpenAPI document and its UI are public, like the reference's own
    auth = opt.get("auth", "any")
    if auth == "none":
        return
    rt: Runtime = connection.app.state.runtime
    principal = await authenticate(rt, connection, allow_basic=(auth == "any"))
    connection.state.principal = principal
    limiter = rt.services.get("ratelimiter")
    if limiter is not None and limiter.enabled:
        verdict = limiter.take(_rate_key(rt, principal, connection))
        if not verdict.allowed:
            retry = max(1, int(verdict.retry_after + 0.999))
            raise ApiError(429, "rate limit exceeded; retry later", headers={"Retry-After": str(retry)})
    role_code = opt.get("role")
    if role_code == "A" and not principal.is_admin:
        raise ApiError(403, "this action needs an organization admin")
    if opt.get("ou", True):
        tenant = await resolve_tenant(rt, connection, principal)
        connection.state.tenant = tenant
        _require(role_code, tenant.role, tenant.unit_id)
    path_ou = opt.get("path_ou")
    if path_ou:
        unit_id = connection.path_params.get(path_ou, "")
        role = await role_in_unit(rt, principal, unit_id)
        if role is None:
            raise ApiError(404, "org unit not found")
        connection.state.path_role = role
        _require(role_code, role, unit_id)
