from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ._fakehttp import FakeHTTPServer, Handler

StartServer = Callable[..., Awaitable[FakeHTTPServer]]


@pytest.fixture
async def http_server() -> AsyncIterator[StartServer]:
    """Start fake HTTP servers on 127.0.0.1: ``server = await http_server(handler, tls=None)``."""
    servers: list[FakeHTTPServer] = []

    async def start(handler: Handler, tls: object = None) -> FakeHTTPServer:
        server = FakeHTTPServer(handler)
        await server.start(tls)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()
