"""Request targets over the wire (`leadvibe serve`): the server decodes a path with replacement characters, so a
path that is not UTF-8 once percent-decoded must be refused by its raw bytes; raw bytes outside ASCII never reach
the app."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from tests.e2e.server import ServerProcess


def _get(port: int, target: bytes, token: str) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode()
                     + b"\r\nX-OU-ID: unit_default\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_targets_that_are_not_utf8_over_the_wire(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        token = server.token()
        assert _get(server.port, b"/leads/%FF%FE", token) == (
            400, {"error": "the request path is not valid UTF-8 once percent-decoded"})
        assert _get(server.port, b"/leads?search=%FF", token) == (
            400, {"error": "the value of `search` in the query string is not valid UTF-8 once percent-decoded"})
        status, body = _get(server.port, b"/leads?search=caf\xc3\xa9", token)
        assert status == 400 and "not valid HTTP/1.1" in body["error"]
        assert _get(server.port, b"/leads/%EF%BF%BD", token) == (404, {"error": "lead not found"})
    finally:
        server.stop()
