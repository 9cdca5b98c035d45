"""A request target that does not decode to text is refused (400 naming the problem), not read with guesses.

A path or query value is percent-encoded UTF-8. The server decodes the path with replacement characters, so
`/leads/%FF%FE` reached the handler as `/leads/\ufffd\ufffd` and was looked up (a 404 for a lead nobody named), and
the framework does the same with query values (`?search=%FF` searched for U+FFFD). Here, in front of the routes,
such a request answers 400 saying which part is not UTF-8. Malformed escapes (`%zz`, a trailing `%`) are not
lossy: they stay as written (as the URL standard reads them) and pass.

Bytes outside ASCII sent unencoded in a request target never get this far: the server's HTTP parser refuses the
request line (`http_protocol.py` answers it in the error shape).

The check costs a scan for U+FFFD in the decoded path and for `%` in the query string; only a request with one of
those decodes anything twice."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from leadvibe.api.ingest_asgi import answer
from leadvibe.errors import error_body
from leadvibe.observe import end_request, start_request

__all__ = ["lossy_target_error", "refuse_lossy_targets"]

_encoder = msgspec.json.Encoder()


def _is_utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _query_error(query: bytes) -> str | None:
    if _is_utf8(query):
        return None
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if not _is_utf8(name):
            return "a query parameter's name is not valid UTF-8 once percent-decoded"
        if not _is_utf8(value):
            shown = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            return f"the value of `{shown}` in the query string is not valid UTF-8 once percent-decoded"
    return "the query string is not valid UTF-8 once percent-decoded"  # not reached: some pair is not UTF-8


def lossy_target_error(scope: Scope) -> str | None:
    """Why the request target of `scope` cannot be read as text (None when it can)."""
    if "\ufffd" in scope["path"]:
        raw_path = scope.get("raw_path")
        if raw_path is not None and not _is_utf8(raw_path):
            return "the request path is not valid UTF-8 once percent-decoded"
    query: bytes = scope.get("query_string", b"")
    if b"%" in query:
        return _query_error(query)
    return None


def refuse_lossy_targets(rt: Any, app: ASGIApp) -> ASGIApp:
    """An ASGI app answering 400 for a request whose path or query does not decode as UTF-8; every other request
    goes to `app`. It keeps the observe middleware's bookkeeping (request id, metrics, access log)."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        problem = lossy_target_error(scope) if scope["type"] == "http" else None
        if problem is None:
            await app(scope, receive, send)
            return
        request_id = start_request(scope)
        started = time.perf_counter()
        body = _encoder.encode(error_body(problem))
        try:
            await answer(send, 400, body, None, request_id)
        finally:
            await end_request(rt, scope, 400, started, request_id)

    return handler
