"""A query parameter that takes one value, given twice, is refused by name; a list parameter repeats freely; an
integer query parameter takes a plain decimal integer only."""

from __future__ import annotations

import re

import pytest

from leadvibe.api.query_values import query_shape
from tests.conftest import Api


async def test_a_scalar_query_parameter_given_twice_is_refused(api: Api) -> None:
    for path in ("/triggers/milestones/events?lead_id=ld_a&lead_id=ld_b", "/leads?min_score=1&page=1&min_score=2",
                 "/events?limit=5&limit=6"):
        r = await api.get(path)
        assert r.status_code == 400, (path, r.text)
        name = path.split("?")[1].split("&")[-1].split("=")[0]
        assert r.json()["error"] == f"`{name}` was given more than once; it takes one value"
    r = await api.get("/triggers/milestones/events?lead_id=ld_a&limit=5")
    assert r.status_code == 200, r.text


async def test_a_list_query_parameter_repeats(api: Api) -> None:
    r = await api.get("/events?metadata=utm:spring&metadata=plan:pro&limit=5")
    assert r.status_code == 200, r.text


async def test_a_repeated_parameter_is_refused_only_after_authentication(api: Api) -> None:
    r = await api.client.get("/leads?page=1&page=2")
    assert r.status_code == 401


# The first three the framework used to read as numbers (2, 1000, -100).
LOOSE_INTEGERS = ["2.0", "1e3", "-1E2", "+5", " 5", "05", "\u0665"]

# (path, parameter): an endpoint of each domain that reads an integer from its query string.
INTEGER_QUERIES = [
    ("/leads", "limit"), ("/leads", "page"), ("/leads", "min_score"), ("/leads", "max_profile_score"),
    ("/events", "limit"), ("/events", "page"), ("/accounts", "page"), ("/deliveries", "limit"),
    ("/surge-events", "page"), ("/triggers/milestones/events", "limit"), ("/triggers/sequences/events", "page"),
    ("/admin/audit-logs", "offset"), ("/admin/audit-logs", "status_min"), ("/analytics/top-leads", "limit"),
    ("/analytics/score-gains", "hours"), ("/leads/ld_x/activity", "minScore"), ("/leads/ld_x/events", "page"),
    ("/leads/ld_x/explanation", "hours"), ("/segments/sg_x/leads", "limit"),
]


@pytest.mark.parametrize("value", LOOSE_INTEGERS)
@pytest.mark.parametrize(("path", "name"), INTEGER_QUERIES)
async def test_an_integer_query_parameter_takes_only_a_plain_decimal(api: Api, path: str, name: str,
                                                                     value: str) -> None:
    r = await api.get(path, params={name: value})
    assert r.status_code == 400, (path, value, r.text)
    assert r.json() == {"error": f"`{name}` must be an integer",
                        "details": [{"message": "Expected `int`, got `str`", "key": name, "source": "query"}]}


async def test_every_integer_query_parameter_is_checked(api: Api) -> None:
    """Walks every route: an integer query parameter added later is held to the same spelling."""
    checked = 0
    for route in api.app.routes:
        for handler in getattr(route, "route_handlers", []):
            path = re.sub(r"\{[^}]+\}", "x_1", route.path)
            for name in sorted(query_shape(api.app, handler).integers):
                for method in sorted(handler.http_methods):
                    r = await api.request(method, path, params={name: "2.0"})
                    assert r.status_code == 400, (method, path, name, r.text)
                    assert r.json()["error"] == f"`{name}` must be an integer"
                    checked += 1
    assert checked >= len(INTEGER_QUERIES)


async def test_plain_integers_still_read(api: Api) -> None:
    for path in ("/leads?limit=5&page=1&min_score=-5&max_score=0", "/events?limit=500", "/admin/audit-logs?offset=0",
                 "/leads?min_score=-0", "/analytics/score-gains?hours=24&limit=3"):
        r = await api.get(path)
        assert r.status_code == 200, (path, r.text)
    r = await api.get("/leads?limit=7")
    assert r.json()["limit"] == 7


async def test_a_loose_integer_is_refused_only_after_authentication(api: Api) -> None:
    r = await api.client.get("/leads?limit=2.0")
    assert r.status_code == 401


async def test_an_empty_status_range_of_the_audit_log_is_refused(api: Api) -> None:
    r = await api.get("/admin/audit-logs", params={"status_min": 500, "status_max": 400})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "`status_min` must not be greater than `status_max`"}
    assert (await api.get("/admin/audit-logs", params={"status_min": 400, "status_max": 400})).status_code == 200


@pytest.mark.parametrize("path", ["/events", "/events/export"])
@pytest.mark.parametrize(("name", "value"), [("event_type", ""), ("event_type", "  "), ("lead_id", ""),
                                             ("lead_id", " ")])
async def test_a_blank_event_filter_is_refused_not_ignored(api: Api, path: str, name: str, value: str) -> None:
    r = await api.get(path, params={name: value})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": f"`{name}` must not be blank"}


async def test_a_blank_type_filter_of_a_lead_s_events_is_refused(api: Api) -> None:
    assert (await api.post("/leads", json={"id": "ld_blank"})).status_code == 201
    r = await api.get("/leads/ld_blank/events", params={"event_type": ""})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "`event_type` must not be blank"}
