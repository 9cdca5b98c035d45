"""One guard for every handler: authenticate, resolve the active OU, check the role, rate-limit.

Handlers declare what they need in `opt` via `access(...)`; the defaults are deliberately strict: auth
required, OU required, and a handler that names no role needs Viewer to read (GET/HEAD) and Operator for
anything else, so a write that forgot its declaration is not open to Viewers. Results land in
`connection.state` for the `principal`/`tenant` dependencies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import structlog
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from leadvibe.db.rows import query_one, scalar
from leadvibe.errors import ApiError
from leadvibe.runtime import Runtime
from leadvibe.security import credentials as creds
from leadvibe.security.credentials import CachedCredential
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.security.tokens import TokenError
from leadvibe.store import credentials as cred_store

log = structlog.get_logger("leadvibe.auth")

ACTIVE_OU_COOKIE = "activeOu"
Auth = Literal["none", "jwt", "any"]
READ_METHODS = frozenset({"GET", "HEAD"})


class Connection(Protocol):
    """What the guard reads of a request: Litestar's `ASGIConnection` on the framework's routes, the lean
    ingestion path's `RawConnection` (api/ingest_asgi.py) on its two. Header names are lower case."""

    @property
    def scope(self) -> Any: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    @property
    def state(self) -> Any: ...

    @property
    def client(self) -> Any: ...

    @property
    def query_params(self) -> Mapping[str, Any]: ...

    @property
    def path_params(self) -> Mapping[str, Any]: ...

    @property
    def route_handler(self) -> Any: ...


def access(role: Role | None, *, auth: Auth = "any", ou: bool = True, path_ou: str | None = None,
           **extra: Any) -> dict[str, Any]:
    """Handler opt. `role`: the least role the caller needs (an OU role, checked in the active OU or in the OU
    named by `path_ou`; or `Role.ORG_ADMIN`); `None` means any authenticated caller. `auth`: `none` (public),
    `jwt` (people only) or `any` (people or API credentials). `ou`: the handler works on the active OU."""
    return {"auth": auth, "ou": ou, "role": role, "path_ou": path_ou, **extra}


PUBLIC = {"auth": "none", "ou": False, "role": None, "path_ou": None}


def required_role(opt: dict[str, Any], method: str) -> Role | None:
    """The role a handler needs: its declaration, else Viewer for reads and Operator for writes."""
    if "role" in opt:
        role: Role | None = opt["role"]
        return role
    return Role.VIEWER if method.upper() in READ_METHODS else Role.OPERATOR


def unauthorized(message: str) -> ApiError:
    """401 with a challenge header."""
    return ApiError(401, message, headers={"WWW-Authenticate": 'Bearer realm="leadvibe"'})


async def _credential(rt: Runtime, client_id: str) -> CachedCredential | None:
    cached = rt.credentials.get(client_id)
    if cached is not None:
        return cached
    forgotten = rt.credentials_forgotten
    row = await rt.db.read(lambda c: cred_store.credential_by_client_id(c, client_id))
    if row is None:
        return None
    cached = CachedCredential(row["id"], row["org_id"], row["unit_id"], row["client_id"], bytes(row["secret_digest"]))
    if rt.credentials_forgotten == forgotten:  # else a deletion may have overtaken the read: not kept
        rt.credentials[client_id] = cached
    return cached


# A credential's `last_used_at` is written at most once a minute (what "last used 5 min ago" needs): a write per
# request would put one on every /ingest.
USE_RECORD_MS = 60_000


def _record_use(rt: Runtime, cred: CachedCredential) -> None:
    """Queue the credential's "last used" write without waiting for it: the request it rides on (an /ingest, whose
    events go to the inbox file) must not wait for the main database's writer, which a worker batch may hold."""
    now = rt.now_ms()
    if now - cred.use_recorded_at < USE_RECORD_MS:
        return
    cred.use_recorded_at = now
    cred_id = cred.cred_id
    written = rt.db.enqueue(lambda c: cred_store.record_use(c, cred_id, now))

    def recorded(done: asyncio.Future[None]) -> None:
        exc = None if done.cancelled() else done.exception()
        if exc is not None:
            # A bookkeeping write: the request it rode on has answered for itself.
            log.warning("credential_use_not_recorded", credential_id=cred_id, error=repr(exc))

    written.add_done_callback(recorded)


async def authenticate(rt: Runtime, connection: Connection, allow_basic: bool) -> Principal:
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
            c, "SELECT id, org_id, email, role, sessions_after, session_kept FROM members WHERE id = ?",
            (member_id,)))
        if row is None:
            raise unauthorized("the account of this token no longer exists")
        if rt.tokens.issued_ms(claims) < row["sessions_after"] and jti != row["session_kept"]:
            raise unauthorized("this account's password was changed after this session began: sign in again")
        return Principal("member", row["org_id"], member_id=row["id"], email=row["email"], org_role=row["role"],
                         jti=jti, token_expires_at=int(claims["exp"]) * 1000)  # type: ignore[call-overload]
    if scheme == "basic":
        if not allow_basic:
            raise unauthorized("this endpoint needs a user session token (Authorization: Bearer)")
        cred = rt.verified_basic.get(header)
        if cred is None:
            parsed = creds.parse_basic(header)
            if parsed is None:
                raise unauthorized("malformed Basic credentials")
            cred = await _credential(rt, parsed[0])
            if cred is None or not creds.matches(rt.pepper, parsed[1], cred.digest):
                raise unauthorized("invalid credentials")
            rt.remember_basic(header, cred)
        _record_use(rt, cred)
        return Principal("credential", cred.org_id, credential_id=cred.cred_id, home_unit=cred.unit_id)
    if header:
        raise unauthorized("unsupported Authorization scheme (use Bearer or Basic)")
    raise unauthorized("authentication required")


async def role_in_unit(rt: Runtime, principal: Principal, unit_id: str) -> Role | None:
    """The caller's effective role in an OU of its org (None: not a member / not in the org)."""
    if principal.kind == "credential":
        return Role.OPERATOR if unit_id == principal.home_unit else None
    row = await rt.db.read(lambda c: query_one(
        c, "SELECT u.id, (SELECT role FROM ou_memberships m WHERE m.unit_id = u.id AND m.member_id = ?) AS role"
           " FROM org_units u WHERE u.id = ? AND u.org_id = ?", (principal.member_id, unit_id, principal.org_id)))
    if row is None:
        return None
    if principal.is_admin:
        return Role.OWNER
    return Role(row["role"]) if row["role"] else None


async def implicit_unit(rt: Runtime, principal: Principal) -> str | None:
    """A person's OU when the request names none: the one they last selected (if they still may use it), else
    their only OU when they can use exactly one."""
    member_id, org_id = principal.member_id, principal.org_id

    def run(c: Any) -> str | None:
        remembered = scalar(c, "SELECT active_unit_id FROM members WHERE id = ?", (member_id,))
        if principal.is_admin:
            usable = [r[0] for r in c.execute("SELECT id FROM org_units WHERE org_id = ? LIMIT 2", (org_id,))]
            if remembered and scalar(c, "SELECT 1 FROM org_units WHERE id = ? AND org_id = ?", (remembered, org_id)):
                return str(remembered)
        else:
            usable = [r[0] for r in c.execute(
                "SELECT m.unit_id FROM ou_memberships m JOIN org_units u ON u.id = m.unit_id"
                " WHERE m.member_id = ? AND u.org_id = ? LIMIT 2", (member_id, org_id))]
            if remembered and scalar(c, "SELECT 1 FROM ou_memberships WHERE member_id = ? AND unit_id = ?",
                                     (member_id, remembered)):
                return str(remembered)
        return str(usable[0]) if len(usable) == 1 else None

    return await rt.db.read(run)


def _unit_id(value: str | None, where: str) -> str | None:
    """An OU id as a caller named it; one with characters no OU id has (non-ASCII, control) is a 400 that does not
    echo them (a header's bytes read as Latin-1 would come back as other characters)."""
    if value and not (value.isascii() and value.isprintable()):
        raise ApiError(400, f"{where} must be an OU id (such as unit_default): it holds characters no OU id has")
    return value


async def resolve_tenant(rt: Runtime, connection: Connection, principal: Principal) -> Tenant:
    """Active OU (SEMANTICS §1): the `activeOu` cookie, else `X-OU-ID`, else a credential's home OU, else the OU
    the person last selected, else their only OU."""
    header = _unit_id(connection.headers.get("x-ou-id"), "the `X-OU-ID` header")
    requested = _unit_id(connection.cookies.get(ACTIVE_OU_COOKIE), f"the `{ACTIVE_OU_COOKIE}` cookie") or header
    query_key = connection.route_handler.opt.get("ou_query") if connection.scope.get("route_handler") else None
    # Only the framework's routes name an OU in the query (the stream): its connection keeps every value given.
    if query_key and isinstance(connection, ASGIConnection) and connection.query_params.get(query_key):
        if len(connection.query_params.getall(query_key)) > 1:  # as any query parameter that takes one value
            raise ApiError(400, f"`{query_key}` was given more than once; it takes one value")
        requested = _unit_id(connection.query_params[query_key], f"`{query_key}`")
    # The cookie wins over the header, but a header naming an OU the caller may not use is refused all the same:
    # a script that names one OU must never act in another because a cookie is around.
    named = [u for u in dict.fromkeys((requested, header)) if u]
    if principal.kind == "credential":
        for unit in named:
            if unit != principal.home_unit:
                raise ApiError(403, f"this API credential may only act in its own OU ({principal.home_unit})")
        return Tenant(principal.org_id, principal.home_unit or "", Role.OPERATOR)
    if not requested:
        requested = await implicit_unit(rt, principal)
    if not requested:
        raise ApiError(400, "active OU not set")
    role = await role_in_unit(rt, principal, requested)
    if role is None:
        raise ApiError(403, f"you are not a member of OU {requested}")
    if header and header != requested and await role_in_unit(rt, principal, header) is None:
        raise ApiError(403, f"you are not a member of OU {header} (named by X-OU-ID)")
    return Tenant(principal.org_id, requested, role)


def _require(need: Role | None, have: Role | None, where: str) -> None:
    if need is None or need is Role.ORG_ADMIN:
        return
    if have is None:
        raise ApiError(403, f"you are not a member of OU {where}")
    if not have.covers(need):
        raise ApiError(403, f"this action needs the {need.value} role in the OU (you are {have.value})")


def rate_key(rt: Runtime, principal: Principal, connection: Connection) -> str:
    """The rate limiter's bucket for a caller: its credential (when keyed by credential; people, who have none,
    count under their organization), its client address, or its organization."""
    key_by = rt.settings.rate_limit_key_by
    if key_by == "credential" and principal.kind == "credential":
        return f"cred:{principal.credential_id}"
    if key_by == "ip":
        return f"ip:{connection.client.host if connection.client else 'unknown'}"
    return f"org:{principal.org_id}"


async def check_access(rt: Runtime, connection: Connection, opt: dict[str, Any], method: str,
                       *, rate_limited: bool = True) -> tuple[Principal | None, Tenant | None, Role | None]:
    """Everything the guard decides for a handler's `opt`: authenticate, rate-limit, resolve the active OU and
    check the role there (and in a path OU). Returns (principal, tenant, role in the path OU) and leaves the
    principal in `connection.state` as soon as it is known; raises ApiError.

    Shared by the framework's guard and the lean ingestion path (`api/ingest_asgi.py`), so both apply the same
    rules. `rate_limited=False`: a check again for a request already admitted (an open stream), which is not a
    request of its own."""
    auth = opt.get("auth", "any")
    if auth == "none":
        return None, None, None
    principal = await authenticate(rt, connection, allow_basic=(auth == "any"))
    connection.state.principal = principal  # set before the checks below: a refused request is still audited
    limiter = rt.ratelimiter
    if limiter.enabled and rate_limited:
        verdict = limiter.take(rate_key(rt, principal, connection))
        if verdict.retry_after > 0:
            rt.metrics.rate_limit_over.inc(1, "observed" if verdict.allowed else "refused")
        if not verdict.allowed:
            retry = max(1, int(verdict.retry_after + 0.999))
            raise ApiError(429, "rate limit exceeded; retry later", headers={"Retry-After": str(retry)})
    need = required_role(opt, method)
    if need is Role.ORG_ADMIN and not principal.is_admin:
        raise ApiError(403, "this action needs an organization admin")
    tenant = None
    if opt.get("ou", True):
        tenant = await resolve_tenant(rt, connection, principal)
        try:
            _require(need, tenant.role, tenant.unit_id)
        except ApiError:
            connection.state.tenant = tenant  # a refused request is audited in its OU (the caller keeps the rest)
            raise
    path_role = None
    path_ou = opt.get("path_ou")
    if path_ou:
        unit_id = connection.path_params.get(path_ou, "")
        path_role = await role_in_unit(rt, principal, unit_id)
        if path_role is None:
            raise ApiError(404, "org unit not found")
        _require(need, path_role, unit_id)
    return principal, tenant, path_role


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app-wide guard."""
    opt = handler.opt
    if "auth" not in opt and connection.scope["path"].startswith("/schema"):
        return  # the OpenAPI document and its UI are public, like the reference's own
    if opt.get("auth", "any") == "none":
        return
    rt: Runtime = connection.app.state.runtime
    _, tenant, path_role = await check_access(rt, connection, opt, str(connection.scope.get("method", "GET")))
    if tenant is not None:
        connection.state.tenant = tenant
    if path_role is not None:
        connection.state.path_role = path_role
