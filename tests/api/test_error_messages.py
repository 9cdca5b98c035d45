"""Bad bodies are explained in the user's words (ENDPOINTS.md conventions), never with a parser's internals."""

from __future__ import annotations

import pytest

from tests.conftest import Api

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["/ingest", "/rules", "/triggers/milestones", "/leads"])
async def test_an_empty_body_says_so(api: Api, path: str) -> None:
    r = await api.post(path, content=b"", headers={**api.headers, **JSON})
    assert r.status_code == 400
    assert r.json() == {"error": "the request body is empty"}


@pytest.mark.parametrize("path", ["/ingest", "/rules"])
async def test_a_truncated_body_is_not_valid_json(api: Api, path: str) -> None:
    r = await api.post(path, content=b'{"event_type":', headers={**api.headers, **JSON})
    assert r.status_code == 400
    assert r.json()["error"].startswith("the request body is not valid JSON: ")
    assert "truncated" not in r.json()["error"]


@pytest.mark.parametrize("path", ["/ingest", "/rules", "/triggers/milestones", "/leads"])
async def test_half_a_surrogate_pair_is_named(api: Api, path: str) -> None:
    """The decoder reports half a surrogate pair as input cut short; the message says what is really wrong."""
    body = b'{"id":"l1","lead_id":"l1","event_type":"x","metadata":{"k":"\\ud800"}}'
    r = await api.post(path, content=body, headers={**api.headers, **JSON})
    assert r.status_code == 400
    assert r.json() == {"error": "the request body is not valid JSON: `\\ud800` is half of a UTF-16 surrogate pair"
                                 " (a low surrogate escape must follow it)"}


@pytest.mark.parametrize("path", ["/ingest", "/rules", "/triggers/milestones"])
async def test_a_body_that_is_not_utf8_says_so(api: Api, path: str) -> None:
    r = await api.post(path, content=b'{"event_type":"caf\xe9","weight":1}', headers={**api.headers, **JSON})
    assert r.status_code == 400
    assert r.json() == {"error": "the request body is not valid JSON: it is not UTF-8 text"}


async def test_malformed_json_names_the_position(api: Api) -> None:
    r = await api.post("/ingest", content=b'{"a" x}', headers={**api.headers, **JSON})
    assert r.status_code == 400
    assert r.json()["error"] == "the request body is not valid JSON: expected ':' (byte 5)"


async def test_an_array_body_asks_for_an_object(api: Api) -> None:
    r = await api.post("/rules", json=[{"event_type": "page_view", "weight": 1}])
    assert r.status_code == 400
    assert r.json()["error"] == "the request body must be a JSON object, not an array"


async def test_field_errors_name_the_field_in_plain_words(api: Api) -> None:
    r = await api.post("/rules", json={"weight": 1})
    assert r.json()["error"] == "`event_type` is required"
    r = await api.post("/rules", json={"event_type": 5, "weight": 1})
    assert r.json()["error"] == "`event_type` must be a string, not an integer"
    for page in ("abc", "1.5", "+1", "0x10"):  # a query value is text: "not a string" would mislead
        r = await api.get(f"/events?page={page}")
        assert r.json()["error"] == "`page` must be an integer", page
    r = await api.post("/import?skip_triggers=maybe", files={"file": ("e.csv", b"event_type\n", "text/csv")})
    assert r.json()["error"] == "`skip_triggers` must be true or false"
    r = await api.post("/ingest/batch", json={"event": [{"lead_id": "x"}]})
    assert r.json()["error"] == "`events` is required"
    r = await api.post("/ingest/batch", json={"events": [{"lead_id": "x"}]})  # one event of a batch: its result
    assert r.json()["results"][0]["error"] == "`event_type` is required"


async def test_no_message_leaks_a_parser_name(api: Api) -> None:
    bad = [b"", b"{", b"[]", b"null", b"1", b'"x"', b'{"event_type": 1}']
    for body in bad:
        r = await api.post("/ingest", content=body, headers={**api.headers, **JSON})
        assert r.status_code == 400, (body, r.text)
        message = r.json()["error"]
        for internal in ("'data'", "`data`", "Input data", "Expected `", "msgspec"):
            assert internal not in message, (body, message)


async def test_a_missing_required_query_parameter_is_named_in_backticks(api: Api) -> None:
    r = await api.get("/leads/search")
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "`q` is required (a query parameter)"}
    r = await api.get("/surge/unit_default/metrics", params={"end": "2026-01-02T00:00:00Z"})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "`start` is required (a query parameter)"}


async def test_an_instant_sent_as_a_number_is_told_its_form(api: Api) -> None:
    # every body field holding an instant, not the ingest routes' alone
    r = await api.post("/rules", json={"event_type": "page_view", "weight": 1, "start_at": 1733550000})
    assert (r.status_code, r.json()["error"]) == (
        400, "`start_at` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number")
