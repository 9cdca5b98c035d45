"""A request target that does not decode to text is refused (400 naming the problem), not read with guesses.

A path or query value is percent-encoded UTF-8. The server decodes the path with replacement characters, so
`/leads/%FF%FE` reached the handler as `/leads/\ufffd\ufffd` and was looked up (a 404 for a lead nobody named), and
the framework does the same with query values (`?search=%FF` searched for U+FFFD). Here, in front of the routes,
such a request answers 400 saying which part is not UTF-8. Malformed escapes (`%zz`, a trailing `%`) are not
lossy: they stay as written (as the URL standard reads them) and pass.

Bytes outside ASCII sent unencoded in a request target never get this far: the server's HTTP parser refuses the
request line (`http_protocol.py` answers it in the error shape).

The check costs a scan for U+FFFD in the decoded path and for `%` in the query string; only a request with one of
those decodes anything twice.

An id may hold a `/` (a lead id is the client's own: `crm/42`), and a client names it as one path segment with the
slash encoded (`/leads/crm%2F42`, as `encodeURIComponent` writes it). The server decodes the path before routing,
so that became `/leads/crm/42`, a path no route has: such a lead could be created but never read, changed or
deleted by its id. Here an encoded slash stands in as `ENCODED_SLASH` while the route is found, and
`restore_encoded_slashes` (a middleware, so after routing) gives the handler its `/` back.

A path with an empty segment (`/segments//leads`: an id left out by a client's template) names nothing. The
framework folds the two slashes into one before routing, so it reached another route with the next segment as the
id (`GET /leads//events` looked up a lead called `events`; `GET /segments//leads` answered that GET is not allowed
on it): here it is a 404 saying that an id is missing."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import unquote_to_bytes

import msgspec
from litestar.types import ASGIApp, Receive, Scope, Send

from leadvibe.api.ingest_asgi import answer
from leadvibe.errors import error_body
from leadvibe.observe import end_request, start_request

__all__ = ["ENCODED_SLASH", "empty_segment_error", "lossy_target_error", "refuse", "refuse_unreadable_targets",
           "restore_encoded_slashes"]

# A noncharacter (never text a client means) standing for `%2F` inside a path segment until routing is done.
ENCODED_SLASH = "\ufdd0"
_SLASH_KEPT = "leadvibe.encoded_slash"

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


def empty_segment_error(path: str) -> str | None:
    """Why `path` (decoded, encoded slashes kept apart) names nothing: an empty segment; None for any other path."""
    if "//" not in path:
        return None
    shown = path.replace(ENCODED_SLASH, "%2F")  # as the client wrote it
    return f"the path `{shown}` has an empty segment (two slashes in a row): an id or name is missing from it"


def _keep_encoded_slashes(scope: Scope) -> None:
    """Route `/leads/a%2Fb` as one segment: its path becomes `/leads/a<ENCODED_SLASH>b` until routing is done."""
    raw_path = scope.get("raw_path")
    if not raw_path or (b"%2F" not in raw_path and b"%2f" not in raw_path) or ENCODED_SLASH in scope["path"]:
        return
    # Some servers (and test clients) put the query in `raw_path` too; a literal `?` always starts it.
    segments = (unquote_to_bytes(s).decode("utf-8", "replace") for s in raw_path.split(b"?", 1)[0].split(b"/"))
    scope["path"] = "/".join(s.replace("/", ENCODED_SLASH) for s in segments)
    scope[_SLASH_KEPT] = True  # type: ignore[literal-required]


def restore_encoded_slashes(app: ASGIApp) -> ASGIApp:
    """Middleware (it runs once the route is found): the path and its parameters get their encoded `/` back."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(_SLASH_KEPT):
            scope["path"] = scope["path"].replace(ENCODED_SLASH, "/")
            scope["path_params"] = {  # a new dict: the router caches the one it made
                name: value.replace(ENCODED_SLASH, "/") if isinstance(value, str) else value
                for name, value in scope.get("path_params", {}).items()
            }
        await app(scope, receive, send)

    return middleware


async def refuse(rt: Any, scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer a request in front of the routes in the error shape, with the observe middleware's bookkeeping
    (request id, metrics, access log)."""
    request_id = start_request(scope)
    started = time.perf_counter()
    body = _encoder.encode(error_body(message))
    try:
        await answer(send, status, body, None, request_id)
    finally:
        await end_request(rt, scope, status, started, request_id)


def refuse_unreadable_targets(rt: Any, app: ASGIApp) -> ASGIApp:
    """An ASGI app answering 400 for a request whose path or query does not decode as UTF-8, and 404 for a path
    with an empty segment; every other request goes to `app`. It keeps the observe middleware's bookkeeping
    (request id, metrics, access log)."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        problem = lossy_target_error(scope)
        if problem is not None:
            await refuse(rt, scope, send, 400, problem)
            return
        _keep_encoded_slashes(scope)
        problem = empty_segment_error(scope["path"])
        if problem is not None:
            await refuse(rt, scope, send, 404, problem)
            return
        await app(scope, receive, send)

    return handler
