"""HEAD against a real server (`leadvibe serve`): headers without a body on the socket, and a streamed answer
(`/stream`) ends once its headers are out, leaving the connection usable."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess


def test_head_over_the_wire(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        auth = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        with httpx.Client(base_url=server.base, timeout=5) as client:
            page = client.get("/ui/")
            head = client.head("/ui/")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-length"] == str(len(page.content))
            streamed = client.head("/stream", headers=auth)
            assert streamed.status_code == 200 and streamed.content == b""
            assert streamed.headers["content-type"].startswith("text/event-stream")
            # The same keep-alive connection answers the next request: the streamed answer really ended.
            assert client.get("/healthz").json()["status"] == "ok"
            assert client.head("/leads").status_code == 401
    finally:
        server.stop()
