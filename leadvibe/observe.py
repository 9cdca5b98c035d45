"""ASGI middleware around every request: request id, HTTP metrics, one access-log line, the audit log.

The access log and the audit log carry method, path, status, latency, caller and IP: never headers, cookies,
query strings or bodies.
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any, cast

import structlog
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from leadvibe.ids import new_id
from leadvibe.store import audit as audit_store

# Set in the scope the app sees for a HEAD request answered as a GET (api/head_requests.py): the log and the
# metrics keep the method as sent.
HEAD_SCOPE_KEY = "leadvibe.head"

log = structlog.get_logger("leadvibe.http")
_REQ_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_QUIET = {"/metrics", "/healthz"}
# Audit entries kept in memory while the database cannot take them (a full disk), at most: the oldest go first.
AUDIT_UNWRITTEN_MAX = 10_000
_BOOT = new_id("req")[4:12]
_counter = itertools.count(1)


def _audited(method: str, path: str) -> bool:
    return method in _MUTATING and not path.startswith("/ingest")


def start_request(scope: Scope) -> str:
    """The request's id (a valid `X-Request-ID` it came with, else a new one), bound to the log context."""
    given = ""
    for name, value in scope.get("headers") or ():
        if name == b"x-request-id":
            given = value.decode("latin-1")  # the last one counts, as a dict of the headers would keep
    # Request ids only need to be unique, not secret: a boot prefix and a counter, no syscall per request.
    request_id = given if given and _REQ_ID.match(given) else f"req_{_BOOT}{next(_counter):x}"
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


async def audit_subject(rt: Any, scope: Scope) -> str | None:
    """The name of the object a change names by its id in its path, read before the change (a deletion leaves
    none to read after); kept in its audit entry only if the change went through (an id of another OU's object
    is refused, and its name must not reach this OU's log)."""
    if rt is None or not _audited(cast(HTTPScope, scope)["method"], scope["path"]):
        return None
    if not audit_store.names_a_subject(scope["path"]):
        return None
    try:
        return await rt.db.read(lambda c: audit_store.subject_name(c, scope["path"]))
    except Exception:  # the entry goes without its name rather than the request failing for it
        log.exception("audit_subject_failed")
        return None


async def end_request(rt: Any, scope: Scope, status: int, started: float, request_id: str,
                      subject: str | None = None) -> None:
    """Everything recorded once a request is answered: HTTP metrics, the audit entry, the access-log line."""
    structlog.contextvars.unbind_contextvars("request_id")
    elapsed = time.perf_counter() - started
    method, path = "HEAD" if scope.get(HEAD_SCOPE_KEY) else cast(HTTPScope, scope)["method"], scope["path"]
    if rt is not None:
        rt.metrics.http_requests.inc(1, str(status), method)
        rt.metrics.http_latency.observe(elapsed)
        if _audited(method, path):
            await _audit(rt, scope, method, path, status, elapsed, request_id, subject if status < 400 else None)
    # Acknowledged ingestion is counted in /metrics, not logged line by line: at thousands of events a second the
    # access log would cost more than the ingestion. Its failures are logged like any request.
    if path not in _QUIET and not (status < 400 and path.startswith("/ingest")):
        log.info("request", method=method, path=path, status=status, latency_ms=round(elapsed * 1000, 2),
                 request_id=request_id)


def observe_middleware(app: ASGIApp) -> ASGIApp:
    """Wrap the app."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = start_request(scope)
        header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
        subject = await audit_subject(runtime, scope)
        try:
            await app(scope, receive, send_wrapper)
        finally:
            await end_request(runtime, scope, status, started, request_id, subject)

    return middleware


async def _audit(rt: Any, scope: Scope, method: str, path: str, status: int, elapsed: float, request_id: str,
                 subject: str | None) -> None:
    state = scope.get("state") or {}
    principal = state.get("principal")
    login_email = state.get("login_email")
    if principal is None and login_email is None:
        return  # unauthenticated requests are not audited, except login attempts
    tenant = state.get("tenant")
    client = scope.get("client")
    ip = client[0] if client else None
    if principal is not None:
        kind, actor, email, org = principal.kind, principal.actor_id, principal.email, principal.org_id
    else:
        kind, actor, email, org = "anonymous", None, login_email, None
    unit = tenant.unit_id if tenant is not None else (scope.get("path_params") or {}).get("unit_id")
    entry = (org, unit, kind, actor, email, method, path, status, ip, round(elapsed * 1000, 3), request_id,
             rt.now_ms(), subject)
    # Entries a failed write left (the disk was full) go first, in their order: the log keeps every attempt even
    # when the database could not take it at once (up to AUDIT_UNWRITTEN_MAX kept in memory meanwhile).
    entries = [*rt.audit_unwritten, entry]
    rt.audit_unwritten = []  # taken: a request audited meanwhile does not write them a second time
    try:
        await rt.db.write(lambda c: audit_store.record_many(c, entries))
    except Exception:
        kept = entries + rt.audit_unwritten
        log.exception("audit_write_failed", kept=min(len(kept), AUDIT_UNWRITTEN_MAX))
        if len(kept) > AUDIT_UNWRITTEN_MAX:
            log.error("audit_entries_dropped", dropped=len(kept) - AUDIT_UNWRITTEN_MAX)
        rt.audit_unwritten = kept[-AUDIT_UNWRITTEN_MAX:]
