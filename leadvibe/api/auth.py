"""Auth and identity: login, logout, legacy cookie cleanup, current user, rate-limit report."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie

from leadvibe.errors import ApiError
from leadvibe.runtime import Runtime
from leadvibe.security import passwords
from leadvibe.security.guards import ACTIVE_OU_COOKIE, PUBLIC, access, rate_key
from leadvibe.security.login_throttle import LoginBlocked
from leadvibe.security.principal import Principal
from leadvibe.store import credentials as cred_store
from leadvibe.store import members as member_store
from leadvibe.timeutil import Instant, to_rfc3339

LEGACY_COOKIES = ("session", "token", "auth_token", "access_token", "refresh_token", "jwt", ACTIVE_OU_COOKIE)


class LoginRequest(msgspec.Struct):
    """Credentials of a person."""

    email: str
    password: str


class LoginResponse(msgspec.Struct):
    """A session token for the `Authorization: Bearer` header."""

    token: str
    expires_at: Instant
    org_member_id: str


class Me(msgspec.Struct):
    """The current user."""

    org_member_id: str
    org_id: str
    first_name: str
    last_name: str
    email: str
    role: str
    verified: bool


class RateLimitInfo(msgspec.Struct):
    """The limiter configuration as it applies to the caller."""

    enabled: bool
    mode: str
    key_by: str
    key: str
    rps: float
    burst: int
    stage: str
    # Requests of this key over the limit since the server started (served in `observe` mode, 429 in `enforce`).
    over_limit: int = 0


class Cleared(msgspec.Struct):
    """Which cookies were cleared."""

    message: str
    cleared: list[str]


async def _slow_down(started: float, floor_ms: int) -> None:
    # Every failure takes the same minimum time, whatever failed, so timing tells nothing.
    remaining = floor_ms / 1000 - (time.monotonic() - started)
    if remaining > 0:
        await asyncio.sleep(remaining)


@post("/auth/login", opt={**PUBLIC, "errors": (401, 429)}, operation_id="login", summary="Log in", tags=["Auth"],
      status_code=200)
async def login(request: Request[Any, Any, Any], rt: Runtime, data: LoginRequest) -> LoginResponse:
    """Exchange email and password for a JWT. Failures are slow and identical for unknown email or wrong password;
    after 10 failures in 15 minutes for the account or from the address, attempts answer 429 for a while."""
    started = time.monotonic()
    request.state.login_email = data.email.strip()[:320]
    throttle = rt.login_throttle
    keys = throttle.keys(data.email, request.client.host if request.client else None)
    try:
        throttle.begin(keys, rt.now_ms())
    except LoginBlocked as exc:
        await _slow_down(started, rt.settings.login_delay_ms)
        raise ApiError(429, "too many failed logins; try again later",
                       headers={"Retry-After": str(exc.retry_after)}) from None
    # The session begins when the password was read, not once it has been checked (tens of ms later): a password
    # change committed meanwhile then ends it too, as it ends every session begun before it.
    read_at = rt.now_ms()
    try:
        member = await rt.db.read(lambda c: member_store.member_for_login(c, data.email))
        stored = member["password_hash"] if member else None
        ok = len(data.password) <= passwords.MAX_LENGTH and await asyncio.to_thread(
            passwords.verify_password, stored, data.password)
    except BaseException:
        throttle.failed(keys, rt.now_ms())
        raise
    if ok and member is not None and stored != await rt.db.read(
            lambda c: member_store.password_hash_of(c, member["id"])):
        ok = False  # changed while it was being checked: the password given is not the member's any more
    if not ok or member is None:
        throttle.failed(keys, rt.now_ms())
        await _slow_down(started, rt.settings.login_delay_ms)
        raise ApiError(401, "invalid email or password")
    throttle.succeeded(keys, keys[0])
    if passwords.needs_rehash(stored):  # type: ignore[arg-type]
        new_hash = await asyncio.to_thread(passwords.hash_password, data.password)
        await rt.db.write(lambda c: member_store.update_member(
            c, member["org_id"], member["id"], {"password_hash": new_hash}, rt.now_ms()))
    token, _, expires = rt.tokens.issue(member["id"], member["org_id"], read_at)
    request.state.principal = Principal("member", member["org_id"], member_id=member["id"], email=member["email"],
                                        org_role=member["role"])
    return LoginResponse(token, to_rfc3339(expires) or "", member["id"])


@post("/auth/logout", opt=access(None, auth="jwt", ou=False),
      operation_id="logout", summary="Log out (revoke this token)", tags=["Auth"],
      status_code=200)
async def logout(rt: Runtime, principal: Principal) -> Response[Cleared]:
    """Revoke the presented token; it fails on every later request."""
    jti, exp = principal.jti or "", principal.token_expires_at or rt.now_ms()
    await rt.db.write(lambda c: cred_store.revoke_token(c, jti, exp))
    rt.revoked.add(jti)
    return Response(Cleared("logged out", [ACTIVE_OU_COOKIE]),
                    cookies=[Cookie(key=ACTIVE_OU_COOKIE, value="", max_age=0, httponly=True, samesite="lax")])


@post("/auth/cleanup", opt=PUBLIC, operation_id="cleanupAuthCookies", summary="Cleanup legacy auth cookies",
      tags=["Auth"], status_code=200)
async def cleanup(request: Request[Any, Any, Any]) -> Response[Cleared]:
    """Expire any residual cookies from earlier auth flows."""
    present = [name for name in LEGACY_COOKIES if name in request.cookies]
    cookies = [Cookie(key=name, value="", max_age=0, httponly=True, samesite="lax") for name in LEGACY_COOKIES]
    return Response(Cleared("legacy auth cookies cleared", present), cookies=cookies)


@get("/me", opt=access(None, auth="jwt", ou=False), operation_id="getMe", summary="Current user", tags=["Auth"])
async def me(rt: Runtime, principal: Principal) -> Me:
    """The authenticated person's profile."""
    row = await rt.db.read(lambda c: member_store.get_member(c, principal.org_id, principal.member_id or ""))
    if row is None:
        raise ApiError(401, "the account of this token no longer exists")
    return Me(row["id"], row["org_id"], row["first_name"], row["last_name"], row["email"], row["role"],
              bool(row["verified"]))


@get("/me/rate-limit", opt=access(None, auth="jwt", ou=False), operation_id="getMyRateLimit",
     summary="Get current rate limit configuration for caller", tags=["Auth"])
async def my_rate_limit(request: Request[Any, Any, Any], rt: Runtime, principal: Principal) -> RateLimitInfo:
    """What the limiter does for this caller: mode, keying, the computed key (the bucket its calls count in) and
    the numbers."""
    s = rt.settings
    key_by = s.rate_limit_key_by
    key = rate_key(rt, principal, request)
    return RateLimitInfo(s.rate_limit_mode != "off", s.rate_limit_mode, key_by, key, s.rate_limit_rps,
                         s.rate_limit_burst, "global", rt.ratelimiter.over.get(key, 0))


ROUTES = [login, logout, cleanup, me, my_rate_limit]
