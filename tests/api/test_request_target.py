"""A path or query value that is not UTF-8 once percent-decoded answers 400 naming the part, instead of being read
with replacement characters (`/leads/%FF%FE` used to look up a lead named U+FFFD U+FFFD)."""

from __future__ import annotations

import pytest

from leadvibe.api.request_target import lossy_target_error
from tests.conftest import Api

PATH_ERROR = "the request path is not valid UTF-8 once percent-decoded"


@pytest.mark.parametrize("path", ["/leads/%FF%FE", "/leads/ld_%C3", "/segments/%80/leads", "/no-such/%FF",
                                  "/ui/leads/%FE"])
async def test_a_path_that_is_not_utf8_is_refused(api: Api, path: str) -> None:
    r = await api.get(path)
    assert r.status_code == 400, r.text
    assert r.json() == {"error": PATH_ERROR}
    assert r.headers["x-request-id"]


@pytest.mark.parametrize(("query", "message"), [
    ("search=%FF", "the value of `search` in the query string is not valid UTF-8 once percent-decoded"),
    ("page=1&search=caf%E9", "the value of `search` in the query string is not valid UTF-8 once percent-decoded"),
    ("%FF=1", "a query parameter's name is not valid UTF-8 once percent-decoded"),
])
async def test_a_query_value_that_is_not_utf8_is_refused(api: Api, query: str, message: str) -> None:
    r = await api.get(f"/leads?{query}")
    assert r.status_code == 400, r.text
    assert r.json() == {"error": message}


async def test_utf8_and_malformed_escapes_still_read(api: Api) -> None:
    r = await api.post("/leads", json={"id": "zoë-café"})
    assert r.status_code == 201, r.text
    r = await api.get("/leads/zo%C3%AB-caf%C3%A9")
    assert r.status_code == 200 and "zoë-café" in r.text, r.text
    r = await api.get("/leads/search?q=zo%C3%AB")
    assert r.status_code == 200 and "zoë-café" in r.text, r.text
    # U+FFFD sent as UTF-8 is text like any other: looked up, not refused.
    assert (await api.get("/leads/%EF%BF%BD")).status_code == 404
    # A stray `%` is not a lost byte: it stays as written.
    for query in ("search=%zz", "search=50%", "search=100%25"):
        assert (await api.get(f"/leads?{query}")).status_code == 200, query


async def test_head_and_unauthenticated_requests_get_the_same_answer(api: Api) -> None:
    r = await api.client.head("/leads/%FF")
    assert r.status_code == 400 and r.content == b""
    r = await api.client.get("/leads?search=%FF")
    assert r.status_code == 400, r.text


def test_a_target_is_checked_on_its_raw_bytes() -> None:
    """The server's decoded path is the one with replacement characters; the raw path decides."""
    scope = {"type": "http", "path": "/leads/\ufffd", "raw_path": b"/leads/%EF%BF%BD", "query_string": b""}
    assert lossy_target_error(scope) is None  # type: ignore[arg-type]
    scope["raw_path"] = b"/leads/%FF"
    assert lossy_target_error(scope) == PATH_ERROR  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/segments//leads", "/leads//events", "/leads//", "/ui//leads"])
async def test_a_path_with_an_empty_segment_names_what_is_missing(api: Api, path: str) -> None:
    """The framework folds `//` into one slash, which routed `/leads//events` to the lead called `events`."""
    r = await api.get(path)
    assert r.status_code == 404, r.text
    assert r.json() == {"error": f"the path `{path}` has an empty segment (two slashes in a row): an id or name is"
                                 " missing from it"}
    assert r.headers["x-request-id"]
    assert (await api.client.head(path)).status_code == 404


async def test_an_encoded_slash_is_no_empty_segment(api: Api) -> None:
    r = await api.post("/leads", json={"id": "crm//7"})
    assert r.status_code == 201, r.text
    r = await api.get("/leads/crm%2F%2F7")
    assert r.status_code == 200 and r.json()["lead"]["id"] == "crm//7", r.text
    r = await api.get("/leads/crm%2F%2F7//events")
    assert r.status_code == 404, r.text
    assert r.json()["error"].startswith("the path `/leads/crm%2F%2F7//events` has an empty segment")


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/no-such-path", 404), ("HEAD", "/ingest", 405), ("DELETE", "/healthz", 405), ("OPTIONS", "/nowhere", 404),
])
async def test_answers_of_the_router_itself_carry_a_request_id_and_are_counted(api: Api, method: str, path: str,
                                                                              status: int) -> None:
    """A path no route has and a method a path does not take are answered by the router before any route's
    middleware ran: they had no `X-Request-ID` and were missing from /metrics."""
    r = await api.client.request(method, path, headers={"X-Request-ID": "req_routerlevel1"})
    assert r.status_code == status
    assert r.headers["x-request-id"] == "req_routerlevel1"
    metrics = (await api.client.get("/metrics")).text
    assert f'http_requests_total{{status="{status}",method="{method}"}}' in metrics
