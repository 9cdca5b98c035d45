"""Compressed request bodies: `Content-Encoding: gzip` (or `deflate`) is decoded before any route reads the body;
a coding the server cannot decode is refused (415) instead of being read as if it were JSON.

A shipper sending batches (a log forwarder's HTTP output, a CRM's export job) often compresses them: JSON events
shrink five- to tenfold. Without this, the framework read the compressed bytes as the body and answered "not
valid JSON: invalid character (byte 0)", and a body labelled `br` but sent plain was taken as if the label were
not there.

The body is decoded as the route reads it, never ahead of it: a request refused before its body is read
(authentication, an unknown route, a GET) costs no decompression, and the decompressed stream is handed on in
parts of at most `_PART` bytes, so the route's own body limit (413) stops a small body that expands without end
(a "zip bomb") after at most one part past that limit. Invalid or truncated data is a 400, an unsupported coding a
415, both raised from the body's reading as `ApiError`, which the framework's routes and the lean ingest path
(api/ingest_asgi.py) answer in the error shape. The wire `Content-Length` stays in the headers: it can only be
smaller than the decoded body, so the early checks made with it never refuse what the decoded body's own checks
would take.
"""

from __future__ import annotations

import zlib
from typing import Any

from litestar.types import Receive, ReceiveMessage, Scope

from leadvibe.errors import ApiError

__all__ = ["decoding"]

# Decoded bytes handed to the route per message: the most a body can expand past the route's limit in memory.
_PART = 256 * 1024
# zlib's window bits: 16 + 15 reads a gzip member; 15 a zlib stream (HTTP's `deflate`); -15 raw deflate, which
# some clients send as `deflate` although RFC 9110 names the zlib format.
_GZIP_BITS, _ZLIB_BITS, _RAW_BITS = 31, 15, -15
_ALIASES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}
_HOW = "send the body uncompressed or with Content-Encoding: gzip"


class _Decoder:
    """One request body's decompression, fed the wire's chunks and handing out decoded parts."""

    __slots__ = ("coding", "inflater", "pending")

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.inflater: Any = None  # None until the first byte (and after a gzip member, until the next)
        self.pending = b""  # compressed input not decoded yet

    def _invalid(self) -> ApiError:
        return ApiError(400, f"the request body is not valid {self.coding} data (Content-Encoding: {self.coding}):"
                             f" {_HOW}")

    def _start(self, data: bytes) -> Any:
        if self.coding == "gzip":
            return zlib.decompressobj(_GZIP_BITS)
        # A zlib stream opens with a deflate method nibble and two bytes that, read as a number, divide by 31.
        zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        return zlib.decompressobj(_ZLIB_BITS if zlib_header else _RAW_BITS)

    def feed(self, data: bytes) -> None:
        """More compressed bytes from the wire."""
        self.pending += data

    def part(self) -> bytes:
        """Up to `_PART` decoded bytes from what was fed (b"" when it needs more input)."""
        out = b""
        try:
            while self.pending and len(out) < _PART:
                if self.inflater is None:
                    self.inflater = self._start(self.pending)
                data, self.pending = self.pending, b""
                out += self.inflater.decompress(data, _PART - len(out))
                if not self.inflater.eof:
                    self.pending = self.inflater.unconsumed_tail
                elif self.inflater.unused_data:
                    # gzip allows members one after another (`cat a.gz b.gz`); anything else after the end is junk.
                    if self.coding != "gzip":
                        raise self._invalid()
                    self.pending, self.inflater = self.inflater.unused_data, None
        except zlib.error:
            raise self._invalid() from None
        return out

    def finish(self) -> bytes:
        """The decoded bytes left once the wire has no more (a body that ends mid-stream is a 400)."""
        if self.inflater is None:
            return b""  # no body at all: nothing to decode, and the route says what it misses
        try:
            out = self.inflater.flush()
        except zlib.error:
            raise self._invalid() from None
        if not self.inflater.eof:
            raise ApiError(400, f"the request body ends before its {self.coding} data does (truncated)")
        return out


def _decoding_receive(receive: Receive, coding: str) -> Receive:
    """`receive` handing out the decoded body; other messages (a disconnect) pass as they come."""
    decoder = _Decoder(coding)
    wire_done = done = False

    async def decoded() -> ReceiveMessage:
        nonlocal wire_done, done
        if done:
            return await receive()
        while True:
            part = decoder.part()
            if part:
                return {"type": "http.request", "body": part, "more_body": True}
            if wire_done:
                done = True
                return {"type": "http.request", "body": decoder.finish(), "more_body": False}
            message = await receive()
            if message["type"] != "http.request":
                return message
            decoder.feed(message.get("body", b""))
            wire_done = not message.get("more_body", False)

    return decoded


def _refusing_receive(receive: Receive, coding: str) -> Receive:
    """`receive` that refuses the body of a coding the server cannot decode, once a route reads it."""

    async def refused() -> ReceiveMessage:
        message = await receive()
        if message["type"] == "http.request" and (message.get("body") or message.get("more_body")):
            raise ApiError(415, f"Content-Encoding {coding} is not supported: {_HOW}")
        return message

    return refused


def decoding(scope: Scope, receive: Receive, coding: str) -> tuple[Scope, Receive]:
    """The request as its routes should see it when it names a content coding (`coding`: the header's value,
    lower case, not `identity`): the header gone, and a `receive` that decodes the body (gzip, deflate) or refuses
    it (415, any other coding) once a route reads it."""
    headers = [(n, v) for n, v in scope["headers"] if n != b"content-encoding"]
    kind = _ALIASES.get(coding)
    receive = _decoding_receive(receive, kind) if kind else _refusing_receive(receive, coding)
    return {**scope, "headers": headers}, receive  # type: ignore[return-value]
