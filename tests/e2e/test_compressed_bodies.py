"""Compressed bodies over the wire (`leadvibe serve`): a gzip batch sent in chunks, as a log shipper streams it, is
stored and scored whole; a body in a coding the server does not read is refused before anything is stored."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from tests.e2e.server import ServerProcess


def _chunks(data: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_chunked_gzip_batch_over_the_wire(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        basic = server.basic()
        events = [{"lead_id": f"ld_zip{i % 7}", "event_type": "page_view", "event_id": f"zip-{i}"}
                  for i in range(700)]
        body = gzip.compress(json.dumps({"events": events}).encode())
        headers = {**basic, "Content-Type": "application/json", "Content-Encoding": "gzip"}
        r = server.request("POST", "/ingest/batch", content=_chunks(body), headers=headers)
        assert r.status_code == 202 and r.json()["accepted"] == 700, r.text
        r = server.request("POST", "/ingest", content=b'{"lead_id": "ld_zip0", "event_type": "page_view"}',
                           headers={**headers, "Content-Encoding": "zstd"})
        assert r.status_code == 415 and "zstd" in r.json()["error"], r.text
        server.wait_scored()
        person = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        r = server.request("GET", "/events", params={"limit": 1}, headers=person)
        assert r.json()["total"] == 700, r.text
    finally:
        server.stop()
