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


DIGITS_4301 = "9" * 4301  # one digit more than an integer may have
DIGITS_400 = "9" * 400  # an integer, but beyond any float


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", "/rules", '{"event_type": "x", "weight": 1e400}', "`weight` is out of range"),
    ("PUT", "/rules/rl_x", '{"weight": -1e309}', "`weight` is out of range"),
    ("POST", "/orders", '{"order_id": "o", "amount": 1e400, "currency": "EUR"}', "`amount` is out of range"),
    ("POST", "/orders", f'{{"order_id": "o", "amount": {DIGITS_400}, "currency": "EUR"}}', "`amount` is out of range"),
    ("POST", "/orders", '{"order_id": "o", "amount": 1, "currency": "EUR", "metadata": {"n": 1e400}}',
     "`metadata.n` is out of range"),
    ("PUT", "/settings/ou/surge-policy", '{"mode": "custom", "bands": [{"min_events": 2, "multiplier": -1e309}]}',
     "`bands[0].multiplier` is out of range"),
    ("PUT", "/settings/ou/surge-policy", f'{{"mode": "standard", "multiplier_cap": {DIGITS_400}}}',
     "`multiplier_cap` is out of range"),
    ("POST", "/rulesets/rs_x/backtest", '{"rules": [{"event_type": "x", "weight": 1e400}]}',
     "`rules[0].weight` is out of range"),
    ("POST", "/segments", '{"name": "s", "rules": [{"rule_type": "lead_metadata", "logic_group": 1e400}]}',
     "`rules[0].logic_group` is out of range"),
    ("POST", "/leads", f'{{"id": "ld_1", "metadata": {{"size": {{"n": {DIGITS_4301}}}}}}}',
     "`metadata.size.n` is out of range"),
    ("PATCH", "/leads/ld_x/metadata", '{"company size": 1e400}', "`company size` is out of range"),
    ("POST", "/triggers/milestones", '{"name": "m", "event_type": "", "score_threshold": 5,'
     ' "profile_filters": [{"field": "n", "operator": "equals", "value": -1e309}]}',
     "`profile_filters[0].value` is out of range"),
    ("POST", "/levels/engagement", '{"name": "hot", "min_score": 0, "max_score": 1e400}',
     "`max_score` is out of range"),
    ("POST", "/decays", '{"inactive_for": 1e999, "unit": "days", "decrease": 1}', "`inactive_for` is out of range"),
    ("POST", "/rules", "1e400", "the request body is a number out of range"),
])
async def test_numbers_beyond_what_can_be_held_name_their_field(api: Api, method: str, path: str, body: str,
                                                                message: str) -> None:
    """Said like the other validation errors, never with the decoder's own wording or its `$[...]` paths."""
    r = await api.request(method, path, content=body.encode(),
                          headers={**api.headers, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == message
