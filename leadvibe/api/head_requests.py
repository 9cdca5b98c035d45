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

from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from leadvibe.observe import HEAD_SCOPE_KEY

__all__ = ["head_as_get"]


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
