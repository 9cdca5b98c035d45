"""A JSON body's values keep their JSON types (SEMANTICS: validation names the field): a string where a number or
a boolean belongs is a 400 naming the field on every framework route, as on ingestion; nothing is written."""

from __future__ import annotations

import pytest

from tests.conftest import Api


async def _ruleset(api: Api) -> str:
    r = await api.post("/rulesets", json={"name": "Strict"})
    assert r.status_code == 201, r.text
    return str(r.json()["ruleset_id"])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("weight", "5", "`weight` must be an integer, not a string"),
    ("weight", "1e3", "`weight` must be an integer, not a string"),
    ("weight", 2.5, "`weight` must be an integer, not a number"),
    ("active", "false", "`active` must be true or false, not a string"),
    ("active", 0, "`active` must be true or false, not an integer"),
])
async def test_a_rule_value_of_another_json_type_is_refused(api: Api, field: str, value: object,
                                                             message: str) -> None:
    ruleset_id = await _ruleset(api)
    body = {"ruleset_id": ruleset_id, "event_type": "page_view", "weight": 5, "active": True, field: value}
    r = await api.post("/rules", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == message
    assert (await api.get("/rules", params={"ruleset_id": ruleset_id})).json() == []


async def test_a_number_without_a_fraction_is_an_integer(api: Api) -> None:
    # JSON Schema's reading, and the OpenAPI document's: 5.0 and 10.0 are integers; 2.5 is still refused above.
    ruleset_id = await _ruleset(api)
    r = await api.post("/rules", json={"ruleset_id": ruleset_id, "event_type": "page_view", "weight": 5.0})
    assert r.status_code == 201 and r.json()["weight"] == 5, r.text
    r = await api.put(f"/rules/{r.json()['rule_id']}", json={"weight": 1e1})
    assert r.status_code == 200 and r.json()["weight"] == 10, r.text
    # ...and only where an integer belongs: a whole float next to a wrong value is still refused for that value.
    r = await api.post("/rules", json={"ruleset_id": ruleset_id, "event_type": "page_view", "weight": 5.0,
                                       "active": "yes"})
    assert r.status_code == 400 and "`active`" in r.json()["error"]


async def test_values_of_their_own_type_pass_and_query_strings_stay_text(api: Api) -> None:
    ruleset_id = await _ruleset(api)
    r = await api.post("/rules", json={"ruleset_id": ruleset_id, "event_type": "page_view", "weight": 5})
    assert r.status_code == 201, r.text
    # Query values are text by nature: they still convert to their parameter's type.
    assert (await api.get("/leads", params={"limit": "5", "min_score": "0"})).status_code == 200


async def test_a_string_for_a_number_in_a_nested_body_names_its_path(api: Api) -> None:
    r = await api.post("/leads/scores", json={"lead_ids": ["ld_a"], "ruleset": 5})
    assert r.status_code == 400, r.text
    assert "`ruleset`" in r.json()["error"]
