"""HEAD answered as GET without the body (`api/head_requests.py`): same status, headers and guard."""

from __future__ import annotations

from tests.conftest import Api


async def test_head_answers_what_get_answers_without_the_body(api: Api) -> None:
    for path, headers in (("/healthz", {}), ("/ui/", {}), ("/leads", api.headers), ("/schema/openapi.json", {})):
        got = await api.client.get(path, headers=headers)
        head = await api.client.head(path, headers=headers)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        if "content-length" in got.headers and "content-encoding" not in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content)), path


async def test_head_goes_through_the_same_guard(api: Api) -> None:
    r = await api.client.head("/leads")
    assert r.status_code == 401 and r.content == b"" and "WWW-Authenticate" in r.headers
    # A route that answers no GET answers no HEAD either.
    r = await api.client.head("/ingest/batch", headers=api.headers)
    assert r.status_code == 405 and r.content == b""


async def test_head_is_counted_as_head(api: Api) -> None:
    requests = api.rt.metrics.http_requests
    before = requests.value("200", "HEAD"), requests.value("200", "GET")
    assert (await api.client.head("/healthz")).status_code == 200
    assert (requests.value("200", "HEAD"), requests.value("200", "GET")) == (before[0] + 1, before[1])
