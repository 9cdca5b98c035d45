"""The lean path for `POST /ingest` and `POST /ingest/batch`: a plain ASGI handler in front of the framework.

These two routes carry nearly all of the server's traffic, and profiling put most of a request's cost in the
framework's per-request machinery (handler resolution, signature models, kwargs, the response object), not in
ingestion. Here a request is answered with what ingestion needs and nothing else, while every rule stays shared
with the framework's routes: the same guard (`security.guards.check_access`: authentication, rate limit, active
OU, role), the same content-type check, the same body limits, the same msgspec structs and `validate`, the same
`accept_one` / `accept_batch` (inbox, group commit, 202 only after commit), the same error shape, and the same
bookkeeping as the observe middleware (`observe.start_request` / `end_request`: request id, metrics, access log),
called inline. The framework's handlers in `api/ingest.py` still describe both routes in the OpenAPI document and
answer them when this path is off (`create_app(lean_ingest=False)`); the ingestion tests run against both.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from litestar.connection import ASGIConnection
from litestar.datastructures import Address
from litestar.types import ASGIApp, HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from leadvibe.api.ingest import (
    MAX_BATCH_BODY,
    MAX_BODY,
    accept_batch,
    accept_one,
    decode_batch,
    ingest,
    ingest_batch,
)
from leadvibe.api.json_body import require_json
from leadvibe.errors import CLIENT_WENT_AWAY, ApiError, error_body, malformed_body, unexpected_error, validation_error
from leadvibe.observe import end_request, start_request
from leadvibe.pipeline.inbox import IngestEvent
from leadvibe.runtime import Runtime
from leadvibe.security.guards import check_access

log = structlog.get_logger("leadvibe.ingest")

_encoder = msgspec.json.Encoder()
_one = msgspec.json.Decoder(IngestEvent)
_JSON = (b"content-type", b"application/json")
# Both routes declare the same access (Operator in the active OU), taken from the handler so they cannot drift.
_OPT = ingest.opt


class _ScopeState:
    """`connection.state` as attributes over the scope's state dict, where Litestar's `State` keeps them too (and
    where the observe middleware's audit looks for the principal on the routes it audits)."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._values[name] = value


class RawConnection:
    """The request as the guard reads it (`security.guards.Connection`), straight from the ASGI scope: Litestar's
    `ASGIConnection` builds a case-insensitive multi-dict of every header and a new `State` on each access,
    about a tenth of the event loop's time per single event (py-spy, performance.md fifteenth round). Header
    names are lower case in ASGI; a repeated header reads as its first value, as the framework's `get` gives."""

    __slots__ = ("_cookies", "headers", "scope", "state")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in headers:
                headers[key] = value.decode("latin-1")
        self.headers = headers
        self.state = _ScopeState(scope.setdefault("state", {}))
        self._cookies: dict[str, str] | None = None

    @property
    def cookies(self) -> dict[str, str]:
        """The Cookie header parsed as the framework parses it (API clients rarely send one)."""
        if self._cookies is None:
            self._cookies = dict(ASGIConnection(self.scope).cookies) if "cookie" in self.headers else {}
        return self._cookies

    @property
    def client(self) -> Address | None:
        """(host, port) of the peer."""
        client = self.scope.get("client")
        return Address(*client) if client else None

    @property
    def query_params(self) -> Any:
        """The query string's parameters, as the framework gives them."""
        return ASGIConnection(self.scope).query_params

    @property
    def path_params(self) -> dict[str, Any]:
        """None on these two paths."""
        return {}

    @property
    def route_handler(self) -> Any:
        """No framework handler answers here."""
        return None


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, or 413 as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ApiError(400, CLIENT_WENT_AWAY)
        chunk = message["body"]
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "request body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def answer(send: Send, status: int, body: bytes, headers: dict[str, str] | None, request_id: str) -> None:
    """Send a whole JSON answer straight on ASGI, with its length and the request id (no framework response)."""
    raw: list[tuple[bytes, bytes]] = [_JSON, (b"content-length", b"%d" % len(body))]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"x-request-id", request_id.encode()))
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": raw}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def _declared_too_large(scope: Scope, limit: int) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return value.isdigit() and int(value) > limit
    return False


Accept = Callable[[Runtime, Any, bytes, RawConnection], Awaitable[Any]]


async def _accept_one(rt: Runtime, tenant: Any, body: bytes, connection: RawConnection) -> Any:
    return await accept_one(rt, tenant, _one.decode(body), connection.headers.get("idempotency-key"))


async def _accept_batch(rt: Runtime, tenant: Any, body: bytes, connection: RawConnection) -> Any:
    return await accept_batch(rt, tenant, decode_batch(body), connection.headers.get("idempotency-key"))


# Path -> body limit, what answers it, and the body it takes as its handler declares it (said after a body that is
# not a JSON object).
_ROUTES: dict[str, tuple[int, Accept, str]] = {
    "/ingest": (MAX_BODY, _accept_one, ingest.opt["body_shape"]),
    "/ingest/batch": (MAX_BATCH_BODY, _accept_batch, ingest_batch.opt["body_shape"]),
}


def lean_ingest(rt: Runtime, framework: ASGIApp) -> ASGIApp:
    """An ASGI app answering the two ingestion POSTs itself and passing everything else to `framework`."""

    async def respond(scope: Scope, receive: Receive) -> tuple[int, bytes, dict[str, str] | None]:
        limit, accept, body_shape = _ROUTES[scope["path"]]
        connection = RawConnection(scope)
        try:
            _, tenant, _ = await check_access(rt, connection, _OPT, "POST")
            require_json(connection.headers)
            if _declared_too_large(scope, limit):
                raise ApiError(413, "request body too large")
            body = await _read_body(receive, limit)
            if not body:
                raise ApiError(400, "the request body is empty")
            try:
                result = await accept(rt, tenant, body, connection)
            except msgspec.ValidationError as exc:
                raise validation_error(str(exc), body, body_shape) from None
            except msgspec.DecodeError as exc:
                raise malformed_body(str(exc), body) from None
        except Exception as exc:
            error = exc if isinstance(exc, ApiError) else unexpected_error(exc, scope["path"], "POST")
            return error.status, _encoder.encode(error_body(error.message, error.details)), error.headers
        return 202, _encoder.encode(result), None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope.get("method") == "POST" and scope["path"] in _ROUTES):
            await framework(scope, receive, send)
            return
        # What the observe middleware does around the framework's routes (request id, metrics, access log), done
        # inline: no wrapped send, no extra await per message.
        request_id = start_request(scope)
        started = time.perf_counter()
        status = 500
        try:
            status, body, headers = await respond(scope, receive)
            await answer(send, status, body, headers, request_id)
        finally:
            await end_request(rt, scope, status, started, request_id)

    return app
