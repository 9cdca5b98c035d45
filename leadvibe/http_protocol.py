"""The server's HTTP protocol: uvicorn's httptools protocol, with a response's writes sent in one system call,
and a request that is not HTTP answered in the server's error shape.

uvicorn writes a response's status line and headers when the app sends `http.response.start` and the body when it
sends `http.response.body`: two `send()` calls on the socket for every small answer. On loopback a `send()` does
the receiving side's TCP work too, and the event loop holds the interpreter lock throughout: under single-event
`/ingest` load the two writes were about a third of the loop's samples (py-spy `--gil`). Here the writes a
connection makes within one turn of the event loop are gathered and handed to the socket together at the end of
that turn; a streamed response (`/stream`, files) still goes out turn by turn, in order, and closing the
connection sends what was gathered first.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["GatheringHttpToolsProtocol"]

# Past this many bytes kept in one turn they go out at once: a response streamed without yielding to the loop
# is not held in memory whole, and the real transport's flow control (pause_writing) still sees it early.
FLUSH_BYTES = 64 * 1024


class _GatheringTransport:
    """A transport that hands the writes of one event loop turn to the real one in one call; everything else is
    the real transport's."""

    __slots__ = ("_kept", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._kept = 0

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
        """Send what is kept, then close (the real transport still sends its own buffer first)."""
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


class GatheringHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over a `_GatheringTransport`, answering unparsable requests in JSON."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the connection's transport, then set up as uvicorn does."""
        super().connection_made(_GatheringTransport(transport, self.loop))  # type: ignore[arg-type]

    def send_400_response(self, msg: str) -> None:
        """400 `{"error": ...}` and close, where uvicorn answers `msg` as plain text."""
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend([b"content-type: application/json\r\n",
                        b"content-length: %d\r\n" % len(_UNPARSABLE), b"connection: close\r\n\r\n", _UNPARSABLE])
        self.transport.write(b"".join(content))
        self.transport.close()
