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

from leadvibe.http_protocol import FLUSH_BYTES, GatheringHttpToolsProtocol, _GatheringTransport


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
    body = b"hello " + scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _serving(http: Any) -> AsyncIterator[int]:
    """uvicorn serving `_app` over `http` on a free loopback port (yielded) until the block ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=http, log_config=None, access_log=False,
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
