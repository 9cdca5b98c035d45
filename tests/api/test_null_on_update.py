"""An update keeps the fields it leaves out; `null` for a field that always has a value is refused (400 naming
it), not read as "leave it out" (`api/json_body.refuses_null`). Nothing changes on a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

# (create path, create body, id field, the update's path template, fields an update may not set to null)
CASES: list[tuple[str, dict[str, Any], str, str, list[str]]] = [
    ("/rulesets", {"name": "Nulls"}, "ruleset_id", "/rulesets/{}", ["name", "is_primary", "active"]),
    ("/decays", {"inactive_for": 7, "unit": "days", "decrease": 5}, "decay_id", "/decays/{}",
     ["inactive_for", "unit", "decrease", "active"]),
    ("/filters", {"event_type": "page_view", "count_threshold": 3, "time_window_ms": 1000}, "filter_id",
     "/filters/{}", ["event_type", "count_threshold", "time_window_ms", "group_events"]),
    ("/levels/engagement", {"name": "Hot", "min_score": 50, "max_score": 100}, "stage_id", "/levels/engagement/{}",
     ["name", "min_score", "max_score"]),
    ("/triggers/milestones", {"event_type": "demo", "score_threshold": 10}, "trigger_id",
     "/triggers/milestones/{}", ["score_threshold", "event_type", "name", "active", "fire_mode"]),
    ("/triggers/sequences", {"event_types": ["a", "b"], "window_seconds": 60, "emails": ["ops@example.com"]},
     "trigger_id", "/triggers/sequences/{}", ["event_types", "window_seconds", "window_unit", "ordered"]),
    ("/triggers/patterns", {"conditions": [{"event_type": "a", "min_count": 2}], "window_seconds": 60},
     "trigger_id", "/triggers/patterns/{}", ["conditions", "window_seconds", "profile_filters"]),
    ("/surge-triggers", {"threshold_count": 3, "window_seconds": 3600, "emails": ["ops@example.com"]},
     "trigger_id", "/surge-triggers/{}", ["threshold_count", "window_seconds", "event_type"]),
]


@pytest.mark.parametrize(("create", "body", "id_field", "update", "fields"), CASES,
                         ids=[c[0] for c in CASES])
async def test_null_for_a_field_that_has_a_value_is_refused(api: Api, create: str, body: dict[str, Any],
                                                            id_field: str, update: str, fields: list[str]) -> None:
    r = await api.post(create, json=body)
    assert r.status_code == 201, r.text
    before = r.json()
    path = update.format(before[id_field])
    for field in fields:
        r = await api.put(path, json={field: None})
        assert r.status_code == 400, (field, r.text)
        assert r.json() == {"error": f"`{field}` cannot be null: leave it out to keep its current value"}
    # Refused means unchanged; and leaving a field out still keeps it.
    r = await api.put(path, json={})
    assert r.status_code == 200, r.text
    after = r.json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"}


async def test_settings_and_fit_rules_refuse_null_too(api: Api) -> None:
    r = await api.put("/settings/scoring", json={"session_timeout_minutes": None})
    assert r.status_code == 400 and "`session_timeout_minutes` cannot be null" in r.json()["error"]
    r = await api.put("/settings/event-types/page_view", json={"hidden": None})
    assert r.status_code == 400 and "`hidden` cannot be null" in r.json()["error"]
    r = await api.post("/profile/rulesets", json={"name": "Fit"})
    assert r.status_code == 201, r.text
    ruleset_id = r.json()["id"]
    r = await api.post(f"/profile/rulesets/{ruleset_id}/rules", json={
        "profile_property": "industry", "condition": "equals", "comparison_value": "saas", "weight": 5})
    assert r.status_code == 201, r.text
    r = await api.put(f"/profile/rulesets/{ruleset_id}/rules/{r.json()['id']}", json={"weight": None})
    assert r.status_code == 400 and "`weight` cannot be null" in r.json()["error"]


async def test_a_segment_refuses_null_for_its_switch(api: Api) -> None:
    r = await api.post("/segments", json={"name": "Nulls", "active": False})
    assert r.status_code == 201, r.text
    path = f"/segments/{r.json()['segment_id']}"
    r = await api.put(path, json={"name": "Nulls", "active": None})
    assert r.status_code == 400 and r.json() == {
        "error": "`active` cannot be null: leave it out to keep its current value"}
    r = await api.put(path, json={"name": "Nulls"})  # refused means unchanged; left out keeps it
    assert r.status_code == 200 and r.json()["active"] is False


async def test_the_document_shows_no_null_where_an_update_refuses_it(api: Api) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    checked = 0
    for _create, _body, _id, update, fields in [*CASES, ("", {}, "", "/segments/{}", ["active"])]:
        template = update.replace("{}", "{x}")
        path = next(p for p in doc["paths"] if p.rsplit("/", 1)[0] == template.rsplit("/", 1)[0]
                    and p.count("/") == template.count("/") and p.endswith("}"))
        ref = doc["paths"][path]["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        props = schemas[ref.rsplit("/", 1)[1]]["properties"]
        for field in fields:
            prop = props[field]
            assert {"type": "null"} not in prop.get("oneOf", []) and "null" not in prop.get("type", []), (path, field)
            assert None not in prop.get("enum", []), (path, field)
            checked += 1
    assert checked == sum(len(c[4]) for c in CASES) + 1
    # A field an update may clear still says so.
    rule = schemas[doc["paths"]["/rules/{rule_id}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
                   ["$ref"].rsplit("/", 1)[1]]["properties"]["start_at"]
    assert {"type": "null"} in rule["oneOf"]


async def test_null_still_clears_what_it_may_clear_and_creating_is_unchanged(api: Api) -> None:
    r = await api.post("/triggers/milestones", json={"event_type": "demo", "score_threshold": 10,
                                                     "webhook_url": None, "description": "d"})
    assert r.status_code == 201, r.text
    trigger_id = r.json()["trigger_id"]
    r = await api.put(f"/triggers/milestones/{trigger_id}", json={"description": None, "webhook_url": None})
    assert r.status_code == 200, r.text
    assert r.json()["description"] in (None, "")
    # A rule's schedule bounds are cleared by null, as before.
    r = await api.post("/rulesets", json={"name": "Sched"})
    r = await api.post("/rules", json={"ruleset_id": r.json()["ruleset_id"], "event_type": "a", "weight": 1,
                                       "start_at": "2025-01-01T00:00:00Z"})
    r = await api.put(f"/rules/{r.json()['rule_id']}", json={"start_at": None})
    assert r.status_code == 200 and r.json()["start_at"] is None


async def test_a_member_update_refuses_null(api: Api) -> None:
    r = await api.post("/members", json={"email": "nulls@example.com", "password": "long-password-1",
                                         "first_name": "Nu", "last_name": "Ll", "role": "member"})
    assert r.status_code == 201, r.text
    member_id = r.json()["org_member_id"]
    for field in ("first_name", "last_name", "email", "role", "password"):
        r = await api.put(f"/members/{member_id}", json={field: None})
        assert r.status_code == 400, (field, r.text)
        assert r.json() == {"error": f"`{field}` cannot be null: leave it out to keep its current value"}
    r = await api.put(f"/members/{member_id}", json={"first_name": "New"})
    assert r.status_code == 200 and r.json()["first_name"] == "New" and r.json()["last_name"] == "Ll"
