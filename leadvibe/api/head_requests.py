"""`HEAD` answered as `GET` without the body, on every route that answers `GET`.

HTTP requires a general-purpose server to support HEAD (RFC 9110, 9.1), and monitors, link checkers and
`curl -I` use it; the framework routes a HEAD only to handlers declared for it, so every page and endpoint
answered 405. Here a HEAD runs as the GET it stands for: the same guard, role and rate limit, the same status and
headers (`content-length` included), and no body. A streamed answer (`/stream`) ends once its headers are out:
the app is told the client has gone, as when a browser closes the stream. A route without GET still answers 405.
The access log and `/metrics` keep the method as sent (`observe.HEAD_SCOPE_KEY`).
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from leadvibe.observe import HEAD_SCOPE_KEY
from leadvibe.security.guards import PUBLIC

__all__ = ["head_as_get", "list_every_method_in_options"]


def head_as_get(app: ASGIApp) -> ASGIApp:
    """An ASGI app answering HEAD requests through `app` as GETs without their body; everything else passes."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "HEAD":
            await app(scope, receive, send)
            return
        answered = False

        async def send_headers_only(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            # Body messages (and anything after the answer) are dropped.

        async def receive_until_answered() -> ReceiveMessage:
            if answered:
                return {"type": "http.disconnect"}
            return await receive()

        as_get = cast(Scope, {**cast(dict[str, Any], scope), "method": "GET", HEAD_SCOPE_KEY: True})
        await app(as_get, receive_until_answered, send_headers_only)

    return handler


class _AllowedMethods:
    """What an `OPTIONS` answer lists for one path: its route's methods, plus HEAD where GET is answered."""

    def __init__(self, route: HTTPRoute) -> None:
        methods = set(route.methods)
        if "GET" in methods:
            methods.add("HEAD")
        self.methods = frozenset(methods)


def list_every_method_in_options(app: Litestar) -> None:
    """`OPTIONS` answers list every method of the path (`Allow`), HEAD included where GET is answered.

    The framework makes the `OPTIONS` handler of a path when it registers the path's first handlers, and that
    handler lists the methods of that first route only: where handlers of one path come from two modules (`GET`
    and `POST /leads`), the merged route kept the old handler, so `OPTIONS /leads` said `GET, OPTIONS` while POST
    works. Here each path's handler is pointed at its final route, once, after the app is built."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "OPTIONS" not in route.route_handler_map:
            continue
        handler = route.route_handler_map["OPTIONS"][0]
        for cell in getattr(handler.fn, "__closure__", None) or ():
            if isinstance(cell.cell_contents, HTTPRoute | _AllowedMethods):
                cell.cell_contents = _AllowedMethods(route)
        # A path whose every method is public (`/healthz`) says which without credentials too.
        others = [entry[0] for method, entry in route.route_handler_map.items() if method != "OPTIONS"]
        if others and all(h.opt.get("auth") == "none" for h in others):
            handler.opt.update(PUBLIC)
