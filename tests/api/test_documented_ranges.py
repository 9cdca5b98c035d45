"""Body integers whose handler checks a narrower range than the decoder (`api/bounds.checked_range`) show that range
in the OpenAPI document, and the server accepts exactly it: a client generated from the document sends nothing the
server refuses for its range, and the ends of the range are what the server takes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

# (path, method, body field, lowest, highest)
RANGES: list[tuple[str, str, str, int, int]] = [
    ("/decays", "post", "inactive_for", 1, 10_000),
    ("/decays", "post", "decrease", 1, 1_000_000),
    ("/decays/{decay_id}", "put", "inactive_for", 1, 10_000),
    ("/filters", "post", "count_threshold", 1, 1_000_000),
    ("/filters", "post", "time_window_ms", 1, 366 * 86_400_000),
    ("/filters/{filter_id}", "put", "time_window_ms", 1, 366 * 86_400_000),
    ("/settings/scoring", "put", "session_timeout_minutes", 1, 1440),
    ("/triggers/milestones/{trigger_id}/simulate", "post", "days", 1, 3650),
    ("/rulesets/{ruleset_id}/backtest", "post", "limit", 1, 10_000),
]


def _prop(doc: dict[str, Any], path: str, method: str, field: str) -> dict[str, Any]:
    ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"][field])


async def test_the_document_shows_the_ranges_the_handlers_check(api: Api) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    for path, method, field, low, high in RANGES:
        prop = _prop(doc, path, method, field)
        assert (prop["minimum"], prop["maximum"]) == (low, high), (path, method, field)


async def _status(api: Api, field: str, value: int) -> int:
    """Where the range's field goes, with everything else valid."""
    if field in ("inactive_for", "decrease"):
        body = {"inactive_for": 7, "unit": "days", "decrease": 5, field: value}
        return (await api.post("/decays", json=body)).status_code
    if field in ("count_threshold", "time_window_ms"):
        body = {"event_type": "page_view", "count_threshold": 3, "time_window_ms": 1000, field: value}
        return (await api.post("/filters", json=body)).status_code
    if field == "session_timeout_minutes":
        return (await api.put("/settings/scoring", json={field: value})).status_code
    if field == "days":
        r = await api.post("/triggers/milestones", json={"event_type": "demo", "score_threshold": 10})
        trigger_id = r.json()["trigger_id"]
        return (await api.post(f"/triggers/milestones/{trigger_id}/simulate", json={"days": value})).status_code
    r = await api.post("/rulesets", json={"name": f"Range {value}"})
    ruleset_id = r.json()["ruleset_id"]
    return (await api.post(f"/rulesets/{ruleset_id}/backtest", json={"rules": [], "limit": value})).status_code


@pytest.mark.parametrize("field", sorted({r[2] for r in RANGES}))
async def test_the_server_takes_exactly_the_documented_range(api: Api, field: str) -> None:
    low, high = next((r[3], r[4]) for r in RANGES if r[2] == field)
    assert await _status(api, field, low) < 300
    assert await _status(api, field, high) < 300
    assert await _status(api, field, low - 1) == 400
    assert await _status(api, field, high + 1) == 400
