"""The server's HTTP protocol: uvicorn's httptools protocol, with a response's writes sent in one system call,
a request that is not HTTP answered in the server's error shape, and a request that stops arriving answered 408.

uvicorn writes a response's status line and headers when the app sends `http.response.start` and the body when it
sends `http.response.body`: two `send()` calls on the socket for every small answer. On loopback a `send()` does
the receiving side's TCP work too, and the event loop holds the interpreter lock throughout: under single-event
`/ingest` load the two writes were about a third of the loop's samples (py-spy `--gil`). Here the writes a
connection makes within one turn of the event loop are gathered and handed to the socket together at the end of
that turn; a streamed response (`/stream`, files) still goes out turn by turn, in order, and closing the
connection sends what was gathered first.

uvicorn waits for a request's headers and body without end once the first byte came (and for a connection's first
byte too): a client that stops halfway, by fault or on purpose, holds its connection and its request's task for
good. Here a request's headers must arrive within `read_timeout` seconds of its first byte (the setting
`request_read_timeout`), and its body may pause at most that long between two parts: past it, headers are
answered 408 here and the connection closed; a body's route gets a 408 from its reading (`api/request_headers.py`
reads the mark this sets on the request's cycle). A connection that sends nothing is closed after the keep-alive
timeout, as after a response. A request that arrives in one read (nearly all of them) arms no timer.

uvicorn also keeps a request's line and headers in memory however long they grow (50 MB headers on eight
connections took the server to 900 MB): past `MAX_HEAD_BYTES` they are answered 414 (mostly request target) or 431
here. And it closes a `Connection: close` request's connection as soon as its answer is written, even when the
request's body is still arriving (a 413 for a body over the limit): the unread bytes make the kernel reset the
connection, and the client, still sending, never reads the answer. Such a connection stops sending, and the rest of
the body is read and dropped for a moment (`LINGER_IDLE_S`, at most `LINGER_MAX_S`) before it closes.

An HTTP/1.0 request's answer of unknown length (a CSV export, `/stream`) came in chunked coding, which HTTP/1.0 does
not have (RFC 9112, 6.1): the client read the chunk sizes as data. It ends by the connection's close instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol, RequestResponseCycle

__all__ = ["GatheringHttpToolsProtocol", "read_timed_out"]

# A request's line and headers together, at most. Browsers and HTTP clients send a few KB; servers commonly allow
# 8-64 KB. A request that begins a read is measured from its first byte (a head over the limit in that one read is
# refused before it is parsed); one that begins after another in the same read (pipelined) from the next read on,
# its first read bounded by the event loop's read size, 256 KB.
MAX_HEAD_BYTES = 64 * 1024
# A connection closed while its request's body still arrives is read and dropped until it has been quiet this long,
# and no longer than the other figure, then closed (see the module's docstring).
LINGER_IDLE_S = 2.0
LINGER_MAX_S = 10.0

# Past this many bytes kept in one turn they go out at once: a response streamed without yielding to the loop
# is not held in memory whole, and the real transport's flow control (pause_writing) still sees it early.
FLUSH_BYTES = 64 * 1024


class _GatheringTransport:
    """A transport that hands the writes of one event loop turn to the real one in one call; everything else is
    the real transport's."""

    __slots__ = ("_kept", "_linger", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop,
                 linger: Callable[[], bool] | None = None) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._kept = 0
        # Asked on `close`: True when the protocol takes over the closing (a request's body still arriving).
        self._linger = linger

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Keep `data` for the end of this turn of the loop."""
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._kept += len(data)
        if self._kept >= FLUSH_BYTES:
            self._flush()

    def writelines(self, chunks: Any) -> None:
        """`write` each chunk."""
        for chunk in chunks:
            self.write(chunk)

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        self._kept = 0
        if self._transport.is_closing():
            return  # the peer went away: the real transport would drop the bytes too
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def write_eof(self) -> None:
        """Send what is kept, then end the writing side."""
        self._flush()
        self._transport.write_eof()

    def close(self) -> None:
        """Send what is kept, then close (the real transport still sends its own buffer first), unless the
        protocol lingers over a request body still arriving (it closes the real transport itself)."""
        self._flush()
        if self._linger is not None and self._linger():
            return
        self._transport.close()

    def close_now(self) -> None:
        """Close the real transport (the end of a linger)."""
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what is kept and close at once."""
        self._pending = []
        self._kept = 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: the real transport's buffer and what this turn kept."""
        return self._transport.get_write_buffer_size() + self._kept

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# What a request that cannot be parsed as HTTP gets (uvicorn's own answer is a line of plain text): the one error
# shape every other refusal has.
_UNPARSABLE = json.dumps({"error": "the request is not valid HTTP/1.1 (its request line, headers or body framing "
                                   "could not be parsed)"}).encode()


class _UntilCloseCycle(RequestResponseCycle):
    """uvicorn's request cycle for an HTTP/1.0 request: an answer without a Content-Length is sent as it is and
    ended by closing the connection, not in chunked coding."""

    until_close = False

    async def send(self, message: Any) -> None:
        """As uvicorn's, but see the class."""
        if not self.response_started and message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            if (b"content-length" not in names and self.scope["method"] != "HEAD"
                    and message["status"] not in (204, 304)):
                self.until_close = True
                self.keep_alive = False
                self.chunked_encoding = False  # so uvicorn adds no Transfer-Encoding
        elif self.until_close and message["type"] == "http.response.body" and not self.response_complete:
            if self.flow.write_paused and not self.disconnected:
                await self.flow.drain()
            if self.disconnected:
                return
            body = message.get("body", b"")
            if body:
                self.transport.write(body)
            if not message.get("more_body", False):
                self.response_complete = True
                self.message_event.set()
                self.transport.close()
                self.on_response()
            return
        await super().send(message)


# The parser's own bound on a request target (httptools refuses a longer one as unparsable).
_MAX_TARGET_BYTES = 65535
_TARGET_TOO_LONG = json.dumps({"error": "the request target (path and query) is too long: at most 64 KB"}).encode()
_HEAD_TOO_LARGE = json.dumps({"error": "the request's line and headers are too large: at most "
                                       f"{MAX_HEAD_BYTES // 1024} KB together"}).encode()


def read_timed_out(cycle: Any) -> float | None:
    """How long the request whose uvicorn cycle this is went without sending more of its body, once that passed
    the protocol's `read_timeout`; None until then."""
    return getattr(cycle, "leadvibe_read_timed_out", None)


def _head_end(data: bytes, within: int, continuing: bool) -> bool:
    """Whether a head in `data` ends (its blank line; a bare LF as the parser takes it) within its first `within`
    bytes; `continuing`: the head began in an earlier read, so its blank line may have begun there too."""
    if continuing and data.startswith((b"\r\n", b"\n")):
        return True
    return data.find(b"\r\n\r\n", 0, within + 4) >= 0 or data.find(b"\n\n", 0, within + 2) >= 0


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `_GatheringTransport`, answering unparsable requests in JSON and
    requests that stop arriving with 408 (after `read_timeout` seconds: `with_read_timeout` sets it)."""

    read_timeout = 30.0

    @classmethod
    def with_read_timeout(cls, seconds: float) -> type[GatheringHttpToolsProtocol]:
        """The protocol with another `read_timeout` (the server's setting)."""
        return type(cls.__name__, (cls,), {"read_timeout": seconds})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport, then set up as uvicorn does; a connection that sends nothing is
        closed after the keep-alive timeout."""
        super().connection_made(_GatheringTransport(transport, self.loop, self._linger))  # type: ignore[arg-type]
        self._reading = False  # between a request's first byte and its last
        self._headers_done = False
        self._begun = self._progress = 0.0
        self._read_timer: asyncio.TimerHandle | None = None
        # Bytes of the request's line and headers read so far (from the read its first byte came in when that read
        # began with it, else from the next).
        self._head_bytes = 0
        self._head_began_here = False
        # While the connection lingers (see `_linger`): when it started, and the timer that ends it.
        self._lingering_since: float | None = None
        self._linger_timer: asyncio.TimerHandle | None = None
        self._shutting_down = False
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)

    def shutdown(self) -> None:
        """The server stops: as uvicorn does, without lingering over a request that was arriving (the server waits
        for its connections to close)."""
        self._shutting_down = True
        if self._lingering_since is not None:
            self.transport.close_now()  # type: ignore[attr-defined]
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the request's timers, then as uvicorn does."""
        self._stop_read_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse as uvicorn does (a lingering connection's bytes are dropped); a request still arriving after this
        read is timed, and its line and headers counted."""
        if self._lingering_since is not None:
            self._progress = self.loop.time()
            return
        if (not self._reading or not self._headers_done) and self._head_overflows(data):
            return
        fresh = not self._reading  # a request begun in this read starts it
        self._head_began_here = False
        super().data_received(data)
        if self._reading and not self._headers_done and (fresh or not self._head_began_here):
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse_head()
                return
        if self._reading:
            self._progress = self.loop.time()
            if self._read_timer is None:
                self._read_timer = self.loop.call_later(self.read_timeout, self._read_timeout)
        elif self._read_timer is not None:
            self._stop_read_timer()

    def _head_overflows(self, data: bytes) -> bool:
        """Whether the head this read starts or goes on with runs past MAX_HEAD_BYTES in it: then it is refused
        before the read is parsed (a head that ended in the read would already be on its way to the app)."""
        continuing = self._reading
        budget = MAX_HEAD_BYTES - (self._head_bytes if continuing else 0)
        if len(data) <= budget or _head_end(data, budget, continuing):
            return False
        if continuing:
            self._head_bytes += len(data)
            self._refuse_head()
        else:
            self._reading = True  # a request is arriving: the close lingers over the rest of it
            self._progress = self.loop.time()
            target_only = data.find(b"\n", 0, MAX_HEAD_BYTES) < 0
            self._answer_and_close(414 if target_only else 431, _TARGET_TOO_LONG if target_only else _HEAD_TOO_LARGE)
        return True

    def on_message_begin(self) -> None:
        """A request's first byte."""
        super().on_message_begin()
        self._reading, self._headers_done, self._begun = True, False, self.loop.time()
        self._head_bytes, self._head_began_here = 0, True

    def _refuse_head(self) -> None:
        # Mostly the request target (no header yet, and the target is most of what came): 414, else 431.
        if not self.headers and len(self.url) * 2 > self._head_bytes:
            self._answer_and_close(414, _TARGET_TOO_LONG)
        else:
            self._answer_and_close(431, _HEAD_TOO_LARGE)

    def _linger(self) -> bool:
        """For the transport's `close`: while a request is still arriving, stop sending (the answer is
        written), read and drop what comes until the peer has been quiet LINGER_IDLE_S or LINGER_MAX_S passed, then
        close; True when lingering (started now or before)."""
        if self._lingering_since is not None:
            return True
        if not self._reading or self._shutting_down or self.transport.is_closing():
            return False
        real = self.transport._transport  # type: ignore[attr-defined]
        self._lingering_since = self._progress = self.loop.time()
        self._stop_read_timer()
        if real.can_write_eof():
            real.write_eof()
        self.flow.resume_reading()  # uvicorn pauses reading while a route has not taken the body it buffered
        self._linger_timer = self.loop.call_later(LINGER_IDLE_S, self._linger_check)
        return True

    def _linger_check(self) -> None:
        self._linger_timer = None
        since = self._lingering_since
        if since is None or self.transport.is_closing():
            return
        now = self.loop.time()
        quiet_until = self._progress + LINGER_IDLE_S
        if now >= quiet_until or now >= since + LINGER_MAX_S:
            self.transport.close_now()  # type: ignore[attr-defined]
            return
        self._linger_timer = self.loop.call_later(min(quiet_until, since + LINGER_MAX_S) - now, self._linger_check)

    def on_headers_complete(self) -> None:
        """Its headers are all here; from now on only pauses in its body are timed. An HTTP/1.0 request's cycle
        ends an answer of unknown length by closing (`_UntilCloseCycle`), and its `Expect: 100-continue` is
        ignored (RFC 9110 10.1.1: a 1.0 client knows no interim answer and could take the 100 for the answer)."""
        super().on_headers_complete()
        self._headers_done = True
        if self.scope.get("http_version") == "1.0" and self.cycle is not None:
            self.cycle.__class__ = _UntilCloseCycle
            self.cycle.waiting_for_100_continue = False

    def on_message_complete(self) -> None:
        """Its last byte."""
        super().on_message_complete()
        self._reading = False

    def _stop_read_timer(self) -> None:
        timer = getattr(self, "_read_timer", None)
        if timer is not None:
            timer.cancel()
            self._read_timer = None

    def _read_timeout(self) -> None:
        self._read_timer = None
        if not self._reading or self.transport.is_closing():
            return
        waited = self.loop.time() - (self._progress if self._headers_done else self._begun)
        if waited < self.read_timeout:
            self._read_timer = self.loop.call_later(self.read_timeout - waited, self._read_timeout)
            return
        if not self._headers_done:
            self._answer_and_close(408, json.dumps({"error": "the request's headers did not arrive within "
                                                             f"{self.read_timeout:g} s of its first byte"}).encode())
        elif self.cycle is not None and not self.cycle.response_complete:
            # The route is reading the body: its reading answers 408 (the route's error shape, access log, metrics).
            self.cycle.leadvibe_read_timed_out = self.read_timeout  # type: ignore[attr-defined]
            self.cycle.message_event.set()

    def send_400_response(self, msg: str) -> None:
        """400 `{"error": ...}` and close, where uvicorn answers `msg` as plain text; 414 for a request target
        longer than the parser takes (64 KB), which it refuses as unparsable."""
        if len(getattr(self, "url", b"")) > _MAX_TARGET_BYTES:
            self._answer_and_close(414, _TARGET_TOO_LONG)
            return
        self._answer_and_close(400, _UNPARSABLE)

    def _answer_and_close(self, status: int, body: bytes) -> None:
        content = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/json\r\n",
                        b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n", body])
        self.transport.write(b"".join(content))
        self.transport.close()
