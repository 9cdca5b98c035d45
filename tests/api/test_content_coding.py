"""Compressed request bodies: gzip and deflate are decoded on every route that reads a body (the lean ingest path,
the framework's routes, the multipart import); another coding's body is a 415, broken data a 400, a body that
expands past the route's limit a 413 after little work; a request whose body is never read is untouched."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest

from leadvibe.api.content_coding import _PART, _decoding_receive
from tests.conftest import Api
from tests.helpers import wait_idle

JSON = {"Content-Type": "application/json"}


def _deflate(data: bytes, raw: bool = False) -> bytes:
    packer = zlib.compressobj(wbits=-15 if raw else 15)
    return packer.compress(data) + packer.flush()


CODINGS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": _deflate,
    # RFC 9110's `deflate` is the zlib format, but some clients send raw deflate under that name.
    "deflate (raw)": lambda data: _deflate(data, raw=True),
}


def _spaces_gzipped(megabytes: int) -> bytes:
    """A JSON batch padded with `megabytes` MB of spaces, gzipped a megabyte at a time (~40 KB on the wire): past
    every route's limit once decompressed, without holding it whole here."""
    packer = zlib.compressobj(9, wbits=31)
    parts = [packer.compress(b'{"events": [')]
    parts += [packer.compress(b" " * 1_000_000) for _ in range(megabytes)]
    return b"".join(parts) + packer.compress(b"]}") + packer.flush()


def _coded(name: str, body: Any) -> tuple[bytes, dict[str, str]]:
    return CODINGS[name](json.dumps(body).encode()), {**JSON, "Content-Encoding": name.split()[0]}


@pytest.mark.parametrize("coding", list(CODINGS))
async def test_a_compressed_event_and_batch_are_ingested(api: Api, coding: str) -> None:
    basic = await api.credential()
    content, headers = _coded(coding, {"lead_id": "ld_gz", "event_type": "page_view", "event_id": "e-1"})
    r = await api.post("/ingest", content=content, headers={**basic, **headers})
    assert r.status_code == 202, r.text
    event_id = r.json()["metadata"]["event_id"]
    batch = {"events": [{"lead_id": f"ld_gz{i}", "event_type": "page_view"} for i in range(300)]}
    content, headers = _coded(coding, batch)
    r = await api.post("/ingest/batch", content=content, headers={**basic, **headers})
    assert r.status_code == 202 and r.json()["accepted"] == 300, r.text
    await wait_idle(api)
    r = await api.get("/events", params={"lead_id": "ld_gz"})
    assert [e["id"] for e in r.json()["events"]] == [event_id], r.text


async def test_a_compressed_body_reaches_the_framework_routes(api: Api) -> None:
    content, headers = _coded("gzip", {"event_type": "demo_request", "weight": 30})
    r = await api.post("/rules", content=content, headers={**api.headers, **headers})
    assert r.status_code == 201 and r.json()["weight"] == 30, r.text
    # the strict decoding still applies to what was decompressed
    content, headers = _coded("gzip", {"event_type": "demo_request", "weight": "30"})
    r = await api.post("/rules", content=content, headers={**api.headers, **headers})
    assert r.status_code == 400 and "weight" in r.json()["error"], r.text


async def test_a_compressed_import_is_read(api: Api) -> None:
    csv = b"lead_id,event_type,timestamp\nld_csv,page_view,2026-01-05T10:00:00Z\n"
    boundary = "lvboundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n").encode() + csv + f"\r\n--{boundary}--\r\n".encode()
    r = await api.post("/import", content=gzip.compress(form), headers={**api.headers,
        "Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Encoding": "gzip"})
    assert r.status_code == 202 and r.json()["imported"] == 1, r.text


async def test_gzip_members_one_after_another_are_one_body(api: Api) -> None:
    basic = await api.credential()
    content = gzip.compress(b'{"lead_id": "ld_two",') + gzip.compress(b' "event_type": "page_view"}')
    r = await api.post("/ingest", content=content, headers={**basic, **JSON, "Content-Encoding": "gzip"})
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(("content", "coding", "error"), [
    (b'{"lead_id": "ld_1", "event_type": "page_view"}', "gzip", "not valid gzip data"),
    (gzip.compress(b'{"lead_id": "ld_1", "event_type": "page_view"}')[:-12], "gzip", "truncated"),
    (gzip.compress(b'{"lead_id": "ld_1", "event_type": "page_view"}') + b"junk", "gzip", "not valid gzip data"),
    (_deflate(b'{"lead_id": "ld_1", "event_type": "page_view"}') + b"junk", "deflate", "not valid deflate data"),
], ids=["plain", "truncated", "junk-after-gzip", "junk-after-deflate"])
@pytest.mark.parametrize("path", ["/ingest", "/orders"])
async def test_broken_compressed_data_is_a_400_naming_it(api: Api, content: bytes, coding: str, error: str,
                                                       path: str) -> None:
    basic = await api.credential()
    r = await api.post(path, content=content, headers={**basic, **JSON, "Content-Encoding": coding})
    assert r.status_code == 400 and error in r.json()["error"], r.text
    r = await api.get("/events", params={"lead_id": "ld_1"})
    assert r.json()["events"] == []


@pytest.mark.parametrize("path", ["/ingest", "/ingest/batch", "/rules"])
async def test_another_coding_is_a_415_naming_it(api: Api, path: str) -> None:
    basic = await api.credential() if path.startswith("/ingest") else api.headers
    r = await api.post(path, content=b'{"lead_id": "ld_1", "event_type": "page_view"}',
                       headers={**basic, **JSON, "Content-Encoding": "br"})
    assert r.status_code == 415, r.text
    assert r.json()["error"] == ("Content-Encoding br is not supported: send the body uncompressed or with"
                                 " Content-Encoding: gzip")


async def test_a_coding_named_on_a_request_without_a_body_changes_nothing(api: Api) -> None:
    for coding in ("br", "gzip", "identity"):
        r = await api.get("/leads", headers={**api.headers, "Content-Encoding": coding})
        assert r.status_code == 200, r.text
    basic = await api.credential()
    r = await api.post("/ingest", content=b'{"lead_id": "ld_1", "event_type": "page_view"}',
                       headers={**basic, **JSON, "Content-Encoding": "identity"})
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("path", ["/ingest/batch", "/rules"])
async def test_a_body_expanding_past_the_limit_is_a_413_after_little_work(api: Api, path: str) -> None:
    basic = await api.credential() if path.startswith("/ingest") else api.headers
    bomb = _spaces_gzipped(40)
    r = await api.post(path, content=bomb, headers={**basic, **JSON, "Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error"] == "request body too large", r.text


async def test_the_decoded_body_is_handed_on_in_bounded_parts() -> None:
    """A reader that stops at its limit has made the decoder expand at most one part past it."""
    packed = _spaces_gzipped(40)
    wire = [packed[i:i + 65536] for i in range(0, len(packed), 65536)]
    sent = iter(wire)

    async def receive() -> Any:
        chunk = next(sent, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    read = _decoding_receive(receive, "gzip")
    total, sizes = 0, []
    while total <= 1_000_000:
        message = await read()
        sizes.append(len(message["body"]))
        total += sizes[-1]
    assert max(sizes) <= _PART and total <= 1_000_000 + _PART


async def test_a_compressed_body_is_refused_before_it_is_read_without_credentials(api: Api) -> None:
    r = await api.post("/ingest", content=b"not gzip at all", headers={**JSON, "Content-Encoding": "gzip"})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("path", ["/ingest", "/rules"])
async def test_a_byte_order_mark_is_named(api: Api, path: str) -> None:
    basic = await api.credential() if path == "/ingest" else api.headers
    r = await api.post(path, content=b'\xef\xbb\xbf{"lead_id": "ld_1", "event_type": "page_view", "weight": 1}',
                       headers={**basic, **JSON})
    assert r.status_code == 400 and "byte order mark" in r.json()["error"], r.text


@pytest.mark.parametrize(("accept", "compressed"), [
    ("gzip", True), ("GZIP", True), ("gzip;q=0.5, identity", True), ("br, Gzip ; Q=1", True),
    ("gzip;q=0", False), ("gzip;q=0, identity", False), ("identity, gzip; q=0.000", False), ("gzip;q=x", False),
    ("identity", False),
])
async def test_an_answer_is_compressed_only_where_the_client_accepts_gzip(api: Api, accept: str,
                                                                           compressed: bool) -> None:
    # q=0 says "not acceptable" (RFC 9110 12.5.3): a client that cannot decode gzip must not get it.
    r = await api.client.get("/schema/openapi.json", headers={"Accept-Encoding": accept})
    assert r.status_code == 200 and (r.headers.get("content-encoding") == "gzip") is compressed, accept
    assert r.json()["openapi"]  # whole either way
