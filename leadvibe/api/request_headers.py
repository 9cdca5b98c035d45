"""In front of every route: a header that takes one value sent twice is a 400, a compressed body is decoded as
its route reads it (`api/content_coding.py`), a body that stops arriving is a 408 (`http_protocol.py`), a
transfer coding other than `chunked` is a 501, and an `Accept-Encoding` is read with its weights.

The HTTP parser undoes `chunked` and nothing else: a body sent `Transfer-Encoding: gzip, chunked` reached the route
still compressed and was refused as JSON that is not valid (or, uncompressed, taken). RFC 9112 (6.1) has a server
answer 501 for a transfer coding it does not know; a compressed body is sent with `Content-Encoding`.

Two `Authorization` headers (a Bearer token and Basic credentials), two `X-OU-ID`s naming different OUs, or two
`Content-Type`s leave the request meaning two things. The server took the first of each and ignored the rest
silently, where a proxy in front of it that appends its own value, or a client that sets one twice, means the
last: an event could be stored in another OU than the one its sender read last. As a query parameter given twice
is refused (`api/query_values.py`), such a request answers 400 naming the header. One pass over the raw headers
serves both checks.
"""

from __future__ import annotations

from typing import Any

from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from leadvibe.api.content_coding import decoding
from leadvibe.api.request_target import refuse
from leadvibe.errors import ApiError
from leadvibe.http_protocol import read_timed_out

__all__ = ["SINGLE_VALUED", "check_request_headers"]

# Lower case as the server hands them over; the spelling the answer names them by.
SINGLE_VALUED = {
    b"authorization": "Authorization",
    b"x-ou-id": "X-OU-ID",
    b"idempotency-key": "Idempotency-Key",
    b"content-type": "Content-Type",
    b"content-encoding": "Content-Encoding",
}


def _other_transfer_coding(value: bytes) -> str | None:
    """The first coding of a Transfer-Encoding value other than `chunked`, or None."""
    for part in value.decode("latin-1").split(","):
        coding = part.strip().lower()
        if coding and coding != "chunked":
            return coding.split(";")[0].strip()[:40]
    return None


def _accepted_codings(value: bytes) -> bytes | None:
    """An `Accept-Encoding` value rewritten to the codings it accepts, lower case, when the compression middleware's
    reading (is `gzip` a substring?) would be wrong: `gzip;q=0` refuses gzip (RFC 9110 12.5.3), and `GZIP` is
    gzip. None: the value reads right as sent."""
    if b";" not in value and value == value.lower():
        return None
    accepted = []
    for part in value.decode("latin-1").split(","):
        name, _, parameters = part.partition(";")
        weight = 1.0
        for parameter in parameters.split(";"):
            key, _, number = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(number)
                except ValueError:
                    weight = 0.0  # a weight that is not a number accepts nothing
        if name.strip() and weight > 0:
            accepted.append(name.strip().lower())
    return ", ".join(accepted).encode("latin-1")


def _timed_reading(receive: Receive, cycle: Any) -> Receive:
    """`receive` answering 408 (and closing the connection) once the server marks the body late (http_protocol)."""

    async def timed() -> ReceiveMessage:
        message = await receive()
        waited = read_timed_out(cycle)
        if waited is not None:
            raise ApiError(408, f"the request body stopped arriving: nothing more came for {waited:g} s",
                           headers={"Connection": "close"})
        return message

    return timed


def check_request_headers(rt: Any, app: ASGIApp) -> ASGIApp:
    """An ASGI app in front of `app` (see the module's docstring)."""

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seen: list[bytes] = []
        coding = None
        accept = None
        for name, value in scope["headers"]:
            if name == b"accept-encoding":
                accept = _accepted_codings(value)
            if name == b"transfer-encoding" and (other := _other_transfer_coding(value)) is not None:
                await refuse(rt, scope, send, 501, f"the transfer coding `{other}` is not supported (only chunked);"
                                                   " send a compressed body with Content-Encoding")
                return
            if name in SINGLE_VALUED:
                if name in seen:
                    await refuse(rt, scope, send, 400, f"the {SINGLE_VALUED[name]} header was given more than once;"
                                                       " it takes one value")
                    return
                seen.append(name)
                if name == b"content-encoding":
                    coding = value.decode("latin-1").strip().lower()
        cycle = getattr(receive, "__self__", None)  # uvicorn's cycle of this request, under a real server
        if cycle is not None and getattr(cycle, "more_body", False):
            receive = _timed_reading(receive, cycle)  # only a body still arriving as the route starts
        if coding and coding != "identity":
            scope, receive = decoding(scope, receive, coding)
        if accept is not None:
            headers = [(n, accept if n == b"accept-encoding" else v) for n, v in scope["headers"]]
            scope = {**scope, "headers": headers}  # type: ignore[assignment]
        await app(scope, receive, send)

    return handler
