"""A request that stops arriving (`leadvibe serve`, over real sockets): its headers past `request_read_timeout`
seconds from its first byte, or its body pausing that long, are answered 408 in the error shape and the connection
is closed; a connection that sends nothing is closed too. Without it each such client held a connection and its
request's task for good."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.e2e.server import ServerProcess


def _answer(conn: socket.socket) -> tuple[int, dict[str, str], dict[str, str]]:
    """The response read to the end of the connection (which the server closes): status, headers, JSON body."""
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def test_requests_that_stop_arriving_are_answered_408(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_REQUEST_READ_TIMEOUT": "1"}).start()
    try:
        token = server.token()
        auth = b"Authorization: Bearer " + token.encode() + b"\r\nX-OU-ID: unit_default\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
            status, headers, body = _answer(conn)
        assert (status, headers["connection"]) == (408, "close")
        assert body == {"error": "the request's headers did not arrive within 1 s of its first byte"}

        # A body cut short, on a framework route and on the lean ingest path; the body's first part came.
        for path, part in ((b"/rules", b'{"event_type"'), (b"/ingest", b'{"lead_id": "ld_late"')):
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
                conn.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth
                             + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + part)
                status, headers, body = _answer(conn)
            assert (status, headers["connection"]) == (408, "close"), path
            assert body == {"error": "the request body stopped arriving: nothing more came for 1 s"}, path

        # A body that keeps coming, in parts closer together than the limit, is read whole however long it takes.
        event = b'{"lead_id": "ld_slow", "event_type": "page_view"}'
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            conn.sendall(b"POST /ingest HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
                         b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(event))
            for i in range(0, len(event), 10):
                time.sleep(0.4)
                conn.sendall(event[i:i + 10])
            status, _, body = _answer(conn)
        assert status == 202, body

        # A connection that never sends a byte is closed (after the keep-alive timeout).
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
            assert conn.recv(1) == b""
        assert server.request("GET", "/healthz").status_code == 200
    finally:
        server.stop()


def test_a_client_that_leaves_mid_body_is_its_own_400_never_a_server_500(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_LOG_LEVEL": "info"}).start()
    try:
        token = server.token()
        auth = b"Authorization: Bearer " + token.encode() + b"\r\nX-OU-ID: unit_default\r\n"
        cut = [b"POST " + path + b" HTTP/1.1\r\nHost: x\r\n" + auth
               + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b'{"event_type":"half'
               for path in (b"/rules", b"/leads", b"/ingest")]
        # Chunked framing that breaks: the HTTP layer answers 400 itself, and the handler reading the body is told
        # the client went away.
        cut.append(b"POST /rules HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        for request in cut:
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as conn:
                conn.sendall(request)
                time.sleep(0.3)
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 10
        while True:
            metrics = server.request("GET", "/metrics", headers=headers).text
            logged = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.startswith("{")]
            requests = [e for e in logged if e.get("event") == "request" and e.get("method") == "POST"
                        and e.get("path") != "/auth/login"]
            if len(requests) >= len(cut) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert 'status="5' not in metrics, metrics
        assert len(requests) == len(cut) and {e["status"] for e in requests} == {400}, requests
        assert server.request("GET", "/rules", headers={**headers, "X-OU-ID": "unit_default"}).json() == []
    finally:
        server.stop()
