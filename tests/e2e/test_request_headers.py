"""Request headers over the wire (`leadvibe serve`; the test client folds repeated headers into one): a gzip batch
sent in chunks, as a log shipper streams it, is stored and scored whole; a body in a coding the server does not
read is refused before anything is stored; a header that takes one value, sent twice, is a 400 naming it, on the
lean ingest path and the framework's routes alike."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator

import pytest

from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(tmp_path_factory.mktemp("headers") / "data").start()
    try:
        yield running
    finally:
        running.stop()


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_gzip_batch_over_the_wire(server: ServerProcess) -> None:
    basic = server.basic()
    events = [{"lead_id": f"ld_zip{i % 7}", "event_type": "page_view", "event_id": f"zip-{i}"} for i in range(700)]
    body = gzip.compress(json.dumps({"events": events}).encode())
    headers = {**basic, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = server.request("POST", "/ingest/batch", content=_chunks(body), headers=headers)
    assert r.status_code == 202 and r.json()["accepted"] == 700, r.text
    r = server.request("POST", "/ingest", content=b'{"lead_id": "ld_zip0", "event_type": "page_view"}',
                       headers={**headers, "Content-Encoding": "zstd"})
    assert r.status_code == 415 and "zstd" in r.json()["error"], r.text
    server.wait_scored()
    person = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    r = server.request("GET", "/events", params={"limit": 1, "lead_id": "ld_zip0"}, headers=person)
    assert r.json()["total"] == 100, r.text


def _post(port: int, path: str, headers: list[tuple[str, str]], body: bytes) -> tuple[int, dict[str, str]]:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n"
                     "Connection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("path", ["/ingest", "/rules"])
@pytest.mark.parametrize(("name", "values"), [
    ("Authorization", ("", "")),  # the request's own credentials, then another person's
    ("X-OU-ID", ("unit_default", "unit_elsewhere")),
    ("Content-Type", ("application/json", "text/plain")),
    ("Idempotency-Key", ("k-1", "k-2")),
    ("Content-Encoding", ("identity", "identity")),
])
def test_a_single_valued_header_sent_twice_is_a_400(server: ServerProcess, path: str, name: str,
                                                   values: tuple[str, str]) -> None:
    own = server.basic()["Authorization"] if path == "/ingest" else f"Bearer {server.token()}"
    headers = [("Authorization", own), ("X-OU-ID", "unit_default"), ("Content-Type", "application/json")]
    if name == "Authorization":
        values = (own, f"Bearer {server.token()}" if path == "/ingest" else server.basic()["Authorization"])
    headers = [h for h in headers if h[0] != name] + [(name, values[0]), (name, values[1])]
    lead = f"ld_twice_{name.lower()}{path.replace('/', '_')}"
    body = json.dumps({"lead_id": lead, "event_type": "page_view", "weight": 1}).encode()
    assert _post(server.port, path, headers, body) == (
        400, {"error": f"the {name} header was given more than once; it takes one value"})
    server.wait_scored()
    person = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    assert server.request("GET", "/events", params={"lead_id": lead}, headers=person).json()["events"] == []
    # the same request with the header once is taken
    once = [h for h in headers if h[0] != name] + [(name, values[0])]
    assert _post(server.port, path, once, body)[0] in (201, 202)


def test_headers_that_may_repeat_pass(server: ServerProcess) -> None:
    headers = [("Authorization", f"Bearer {server.token()}"), ("X-OU-ID", "unit_default"),
               ("Content-Type", "application/json"), ("Accept", "application/json"), ("Accept", "*/*"),
               ("X-Forwarded-For", "10.0.0.1"), ("X-Forwarded-For", "10.0.0.2")]
    status, body = _post(server.port, "/rules", headers, b'{"event_type": "demo_request", "weight": 5}')
    assert status == 201, body


@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate,chunked", "x-custom ; q=1, chunked"])
def test_a_transfer_coding_the_server_does_not_undo_is_501(server: ServerProcess, coding: str) -> None:
    """The parser undoes `chunked` only: the rest of the body's codings reached the route still applied."""
    body = json.dumps({"lead_id": "ld_te", "event_type": "page_view", "event_id": f"te-{coding}"}).encode()
    basic = server.basic()["Authorization"]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(f"POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: {basic}\r\n"
                     f"Content-Type: application/json\r\nTransfer-Encoding: {coding}\r\nConnection: close\r\n\r\n"
                     .encode() + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, answer = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 "), data
    first = coding.split(",")[0].split(";")[0].strip()
    assert json.loads(answer) == {"error": f"the transfer coding `{first}` is not supported (only chunked); send a"
                                           " compressed body with Content-Encoding"}
    person = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    assert server.request("GET", "/events", params={"lead_id": "ld_te"}, headers=person).json()["total"] == 0
