"""The server's HTTP protocol (`leadvibe.http_protocol`): a response's writes of one event loop turn reach the
socket in one call, and the bytes on the wire are exactly uvicorn's, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from leadvibe.http_protocol import FLUSH_BYTES, MAX_HEAD_BYTES, GatheringHttpToolsProtocol, _GatheringTransport


class _Counting:
    """A real transport whose writes are counted on their way through."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def _loopback() -> tuple[_Counting, asyncio.StreamReader, asyncio.AbstractServer]:
    received: asyncio.Queue[asyncio.StreamReader] = asyncio.Queue()

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await received.put(reader)

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    return _Counting(transport), await received.get(), server


async def test_one_turns_writes_reach_the_socket_together_in_order() -> None:
    counting, reader, server = await _loopback()
    gathering = _GatheringTransport(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    gathering.write(b"HTTP/1.1 202 Accepted\r\n\r\n")
    gathering.write(bytearray(b'{"a":1}'))
    gathering.write(b"")
    assert counting.writes == [] and gathering.get_write_buffer_size() == 32
    await asyncio.sleep(0)
    assert counting.writes == [b'HTTP/1.1 202 Accepted\r\n\r\n{"a":1}']
    gathering.write(b"next turn")
    await asyncio.sleep(0)
    assert counting.writes[1:] == [b"next turn"]
    big = b"x" * FLUSH_BYTES
    gathering.write(b"head")
    gathering.write(big)  # past the limit: out at once, not at the end of the turn
    assert counting.writes[2:] == [b"head" + big]
    gathering.write(b"last")
    gathering.close()  # what was kept goes first
    assert counting.writes[3:] == [b"last"]
    assert await reader.read() == b'HTTP/1.1 202 Accepted\r\n\r\n{"a":1}next turnhead' + big + b"last"
    server.close()


async def test_abort_drops_what_was_kept() -> None:
    counting, reader, server = await _loopback()
    gathering = _GatheringTransport(counting, asyncio.get_running_loop())  # type: ignore[arg-type]
    gathering.write(b"never sent")
    gathering.abort()
    await asyncio.sleep(0)
    assert counting.writes == []
    assert await reader.read() == b""
    server.close()


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one ", b"two"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if scope["path"] == "/refuse":  # answers before reading the body, as a 413 for a body over the limit does
        body = b'{"error":"request body too large"}'
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["path"] == "/echo":  # reads its body first: a request that expects 100-continue is sent it here
        received = b""
        while True:
            message = await receive()
            received += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"%d" % len(received))]})
        await send({"type": "http.response.body", "body": received})
        return
    body = b"hello " + scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _serving(http: Any, keep_alive_s: int = 5) -> AsyncIterator[int]:
    """uvicorn serving `_app` over `http` on a free loopback port (yielded) until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=http, log_config=None, access_log=False, timeout_keep_alive=keep_alive_s,
                            lifespan="off", server_header=False, date_header=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


@pytest.fixture(params=[GatheringHttpToolsProtocol, "httptools"], ids=["gathering", "stock"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    async with _serving(request.param) as port:
        yield port


async def _exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_keep_alive_answers_and_a_streamed_body_come_out_whole(served: int) -> None:
    """The same bytes as uvicorn's stock protocol gives (the `stock` run)."""
    two = (b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert await _exchange(served, two) == (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nhello /a"
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n\r\nhello /b")
    streamed = await _exchange(served, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert streamed == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n"
                        b"transfer-encoding: chunked\r\n\r\n4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n")


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nbad header line\r\n\r\n",
    b"POST /ingest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_a_request_that_is_not_http_gets_a_json_error(request_bytes: bytes) -> None:
    async with _serving(GatheringHttpToolsProtocol) as port:
        answer = await _exchange(port, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-type: application/json" in head and b"connection: close" in head
    assert json.loads(body)["error"].startswith("the request is not valid HTTP/1.1")


async def test_an_answer_given_before_the_body_arrived_reaches_a_client_that_asked_to_close() -> None:
    """`Connection: close` and a 5 MB body the route refuses unread: the connection lingers over the body instead
    of closing on it (which made the kernel reset the connection before the client read the answer)."""
    async with _serving(GatheringHttpToolsProtocol) as port:
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            body = b"x" * 5_000_000
            writer.write(b"POST /refuse HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)  # the connection closes once the body has come
            writer.close()
            head, _, rest = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413 ") and b"connection: close" in head
            assert json.loads(rest) == {"error": "request body too large"}


async def _send_slowly(port: int, parts: list[bytes]) -> bytes:
    """Each part in a write of its own, then read until the server closes (a closed connection mid-send is the
    server having answered: what it sent is still read)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    with contextlib.suppress(ConnectionError):
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.001)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


async def test_request_heads_past_the_limit_are_refused_as_they_arrive() -> None:
    """uvicorn keeps a request's line and headers in memory however long they grow: past MAX_HEAD_BYTES they are
    answered 431 (414 where the request target is most of it), before the rest arrives."""
    chunk = b"a" * 16_384
    async with _serving(GatheringHttpToolsProtocol) as port:
        answer = await _send_slowly(port, [b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "] + [chunk] * 64)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 ") and b"connection: close" in head
        assert "at most 64 KB" in json.loads(body)["error"]
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(20_000))
        answer = await _send_slowly(port, [b"GET / HTTP/1.1\r\nHost: x\r\n"] + [
            many[i:i + 8192] for i in range(0, len(many), 8192)])
        assert answer.startswith(b"HTTP/1.1 431 ")
        answer = await _send_slowly(port, [b"GET /?q="] + [chunk] * 8 + [b" HTTP/1.1\r\nHost: x\r\n\r\n"])
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 414 ")
        assert json.loads(body)["error"].startswith("the request target (path and query) is too long")
        # A target over the parser's own bound, arriving in one read, is the same 414 (the parser called it 400).
        answer = await _exchange(port, b"GET /?q=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 414 ")
        # Under the limit: served.
        answer = await _send_slowly(port, [b"GET /fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n",
                                           b"X-Big: " + b"a" * (MAX_HEAD_BYTES // 2) + b"\r\n\r\n"])
        assert answer.endswith(b"hello /fine")
        # A head over the limit that comes whole, in one write (most often one read: it was not counted, and up to
        # the read size, 256 KB, was served), or in a few reads the first of which was not counted.
        for size in (70_000, 100_000, 190_000):
            whole = b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
            answer = await _exchange(port, whole)
            assert answer.startswith(b"HTTP/1.1 431 "), (size, answer[:60])
            answer = await _send_slowly(port, [whole[:size // 2], whole[size // 2:]])
            assert answer.startswith(b"HTTP/1.1 431 "), (size, answer[:60])


async def test_an_http_1_0_answer_of_unknown_length_ends_with_the_connection() -> None:
    """HTTP/1.0 has no chunked coding (RFC 9112, 6.1): the stock protocol sent chunk sizes that a 1.0 client reads
    as data. An answer with a length is sent as before."""
    async with _serving(GatheringHttpToolsProtocol) as port:
        streamed = await _exchange(port, b"GET /stream HTTP/1.0\r\n\r\n")
        sized = await _exchange(port, b"GET /a HTTP/1.0\r\n\r\n")
        head_only = await _exchange(port, b"HEAD /stream HTTP/1.0\r\n\r\n")
        kept_alive = await _exchange(port, b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert streamed == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\none two"
    assert sized == (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nconnection: close\r\n"
                     b"\r\nhello /a")
    assert b"one" not in head_only
    assert b"transfer-encoding: chunked" in kept_alive  # HTTP/1.1 keeps its chunks


async def test_a_connection_that_sends_nothing_is_closed_after_the_keep_alive_timeout() -> None:
    """uvicorn waits for a connection's first byte without end: ours closes it as after a response."""
    async with _serving(GatheringHttpToolsProtocol, keep_alive_s=1) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_an_http_1_0_request_s_100_continue_expectation_is_ignored() -> None:
    """RFC 9110 10.1.1: a 1.0 client knows no interim answer and may take a 100 for the answer itself."""
    async with _serving(GatheringHttpToolsProtocol) as port:
        old = await _exchange(port, b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        new = await _exchange(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                    b"Connection: close\r\nContent-Length: 2\r\n\r\nhi")
    assert old.startswith(b"HTTP/1.1 200 OK\r\n") and old.endswith(b"\r\n\r\nhi"), old
    assert new.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), new
