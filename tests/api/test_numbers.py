"""Integer ranges (SEMANTICS §12): every integer a client sends has a range, checked where the request is decoded.

Huge numbers used to reach SQLite and fail there with an overflow (a 500); now they answer 400 naming the field.
"""

from __future__ import annotations

import pytest

from leadvibe.api.bounds import unbounded_integers
from tests.conftest import Api

HUGE = "100000000000000000"


def test_every_integer_a_client_sends_has_a_range(api: Api) -> None:
    """Walks every route of the app: a new endpoint with an open-ended integer fails here."""
    open_ended = {}
    for route in api.app.routes:
        for handler in getattr(route, "route_handlers", []):
            fields = unbounded_integers(handler)
            if fields:
                open_ended[f"{sorted(getattr(handler, 'http_methods', []))} {route.path}"] = fields
    assert open_ended == {}


@pytest.mark.parametrize(("path", "field"), [
    (f"/events?page={HUGE}", "page"),
    (f"/leads?page={HUGE}", "page"),
    (f"/leads?min_score={HUGE}", "min_score"),
    (f"/deliveries?page={HUGE}", "page"),
    (f"/surge-events?page={HUGE}", "page"),
    (f"/triggers/milestones/events?page={HUGE}", "page"),
    (f"/triggers/sequences/events?page={HUGE}", "page"),
    (f"/admin/audit-logs?offset={HUGE}", "offset"),
    (f"/leads/ld_x/activity?minScore={HUGE}", "minScore"),
    (f"/leads/ld_x/activity?maxLatency={HUGE}", "maxLatency"),
    (f"/leads/ld_x/events?page={HUGE}", "page"),
])
async def test_huge_query_integers_answer_400_naming_the_field(api: Api, path: str, field: str) -> None:
    r = await api.get(path)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/triggers/milestones", {"name": "m", "event_type": "demo", "score_threshold": int(HUGE)}, "score_threshold"),
    ("/triggers/sequences", {"name": "s", "event_types": ["a", "b"], "window_seconds": int(HUGE)},
     "window_seconds"),
    ("/triggers/patterns", {"name": "p", "conditions": [{"event_type": "a", "min_count": 2}],
                            "window_seconds": int(HUGE)}, "window_seconds"),
    ("/rules", {"event_type": "page_view", "weight": int(HUGE)}, "weight"),
    ("/filters", {"event_type": "x", "count_threshold": int(HUGE), "time_window_ms": 1000}, "count_threshold"),
    ("/levels/engagement", {"name": "hot", "min_score": 0, "max_score": int(HUGE)}, "max_score"),
    ("/decays", {"inactive_for": int(HUGE), "unit": "days", "decrease": 1}, "inactive_for"),
])
async def test_huge_body_integers_answer_400_naming_the_field(api: Api, path: str, body: dict[str, object],
                                                              field: str) -> None:
    r = await api.post(path, json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]


async def test_page_beyond_its_documented_maximum_is_refused_not_clamped(api: Api) -> None:
    assert (await api.get("/events?page=1000000")).status_code == 200
    r = await api.get("/events?page=1000001")
    assert r.status_code == 400 and "page" in r.json()["error"]
