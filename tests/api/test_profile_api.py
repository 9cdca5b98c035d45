"""Profile (fit) scoring through HTTP: mappings, rulesets, rules, the worker's mapping, metadata edits, re-scores,
the lead's profile, property lists, and lead lists by profile score and level."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import ingest, member_headers, other_unit, settle


async def _ruleset(api: Api, name: str = "ICP", **extra: Any) -> str:
    r = await api.post("/profile/rulesets", json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _rule(api: Api, ruleset: str, prop: str, condition: str, value: str, weight: int) -> dict[str, Any]:
    r = await api.post(f"/profile/rulesets/{ruleset}/rules", json={
        "profile_property": prop, "condition": condition, "comparison_value": value, "weight": weight})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _mapping(api: Api, source: str, prop: str, behavior: str = "always_latest") -> dict[str, Any]:
    r = await api.post("/profile/mappings", json={"source_field": source, "profile_property": prop,
                                                  "update_behavior": behavior})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _profile(api: Api, lead: str) -> dict[str, Any]:
    r = await api.get(f"/leads/{lead}/profile")
    assert r.status_code == 200, r.text
    return dict(r.json())


# -- mappings ------------------------------------------------------------------------------------------------
async def test_mapping_crud(api: Api) -> None:
    m = await _mapping(api, "utm_source", "acquisition_source")
    assert m["update_behavior"] == "always_latest" and m["id"].startswith("pm_")
    r = await api.put(f"/profile/mappings/{m['id']}", json={"source_field": "src", "profile_property": "source",
                                                             "update_behavior": "set_once"})
    assert r.status_code == 200 and r.json()["profile_property"] == "source" and r.json()["source_field"] == "src"
    listed = (await api.get("/profile/mappings")).json()
    assert [x["id"] for x in listed] == [m["id"]] and listed[0]["update_behavior"] == "set_once"
    assert (await api.delete(f"/profile/mappings/{m['id']}")).status_code == 204
    assert (await api.get("/profile/mappings")).json() == []
    assert (await api.delete(f"/profile/mappings/{m['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "names"),
    [
        ({"source_field": "a", "profile_property": "profile_score"}, 400, "profile_property"),
        ({"source_field": "a", "profile_property": "account_id"}, 400, "profile_property"),
        ({"source_field": "", "profile_property": "x"}, 400, "source_field"),
        ({"source_field": "a", "profile_property": " "}, 400, "profile_property"),
        ({"source_field": "a", "profile_property": "x", "update_behavior": "sometimes"}, 400, "update_behavior"),
        ({"source_field": "a"}, 400, "profile_property"),
    ],
)
async def test_mapping_bad_input(api: Api, body: dict[str, Any], status: int, names: str) -> None:
    r = await api.post("/profile/mappings", json=body)
    assert r.status_code == status, r.text
    assert names in r.json()["error"]
    assert (await api.get("/profile/mappings")).json() == []


async def test_one_property_takes_one_behavior(api: Api) -> None:
    await _mapping(api, "page", "pages", "append")
    r = await api.post("/profile/mappings", json={"source_field": "url", "profile_property": "pages_list"})
    assert r.status_code == 409 and "pages_list" in r.json()["error"]
    await _mapping(api, "url", "pages", "append")  # a second source, same behavior: fine
    r = await api.post("/profile/mappings", json={"source_field": "url", "profile_property": "pages",
                                                  "update_behavior": "append"})
    assert r.status_code == 409  # the same mapping twice


# -- the worker maps event metadata --------------------------------------------------------------------------
async def test_worker_maps_each_behavior_and_scores(api: Api) -> None:
    await _mapping(api, "utm_source", "first_source", "set_once")
    await _mapping(api, "utm_source", "last_source")
    await _mapping(api, "page", "pages", "append")
    rs = await _ruleset(api)
    await _rule(api, rs, "last_source", "equals", "LinkedIn", 10)
    await _rule(api, rs, "pages_list", "contains", "pricing", 5)
    await ingest(api, "l1", "page_view", {"utm_source": "google", "page": "/"})
    await ingest(api, "l1", "page_view", {"utm_source": "linkedin", "page": "/pricing"})
    await ingest(api, "l1", "page_view", {"page": "/docs"})
    await settle(api)
    prof = await _profile(api, "l1")
    assert prof["properties"] == {"first_source": "google", "last_source": "linkedin",
                                  "pages_list": ["/", "/pricing", "/docs"]}
    assert prof["profile_score"] == 15 and prof["ruleset_id"] == rs
    assert sorted(m["weight"] for m in prof["matched_rules"]) == [5, 10]
    # the stored event keeps the metadata it was sent with
    events = (await api.get("/events?lead_id=l1")).json()["events"]
    assert {e["metadata"].get("utm_source") for e in events} == {"google", "linkedin", None}


async def test_a_metadata_write_that_changes_nothing_appends_nothing(api: Api) -> None:
    await _mapping(api, "page", "pages", "append")
    assert (await api.post("/leads", json={"id": "tD"})).status_code == 201
    for _ in range(2):
        assert (await api.patch("/leads/tD/metadata", json={"page": "/p1"})).status_code == 200
    assert (await _profile(api, "tD"))["properties"]["pages_list"] == ["/p1"]
    assert (await api.patch("/leads/tD/metadata", json={"page": "/p2"})).status_code == 200
    assert (await _profile(api, "tD"))["properties"]["pages_list"] == ["/p1", "/p2"]


async def test_exists_rules_need_no_comparison_value(api: Api) -> None:
    rs = await _ruleset(api)
    for condition in ("EXISTS", "not_exists"):
        r = await api.post(f"/profile/rulesets/{rs}/rules",
                           json={"profile_property": "industry", "condition": condition, "weight": 1})
        assert r.status_code == 201, r.text
    r = await api.post(f"/profile/rulesets/{rs}/rules", json={"profile_property": "industry", "condition": "equals",
                                                               "weight": 1})
    assert (r.status_code, r.json()["error"]) == (400, "`comparison_value` is required for condition `equals`")


async def test_a_lead_an_event_makes_takes_the_profile_score_of_no_properties(api: Api) -> None:
    # A rule on an absent property matches a lead with no properties: a lead made by an event (by id or by an
    # email alias, without mappings) was stored with 0 until a backfill, while POST /leads scored it.
    rs = await _ruleset(api)
    await _rule(api, rs, "industry", "not_exists", "-", 10)
    await _rule(api, rs, "industry", "equals", "retail", 3)
    await ingest(api, "ld_by_id", "page_view")
    await ingest(api, None, "page_view", email="fresh@wayne.example")
    await settle(api)
    hit = (await api.get("/leads/search", params={"q": "fresh@wayne.example"})).json()[0]["id"]
    for lead in ("ld_by_id", hit):
        profile = (await api.get(f"/leads/{lead}/profile")).json()
        assert profile["profile_score"] == 10, (lead, profile)
    # Its first property then scores it as any write does.
    r = await api.patch("/leads/ld_by_id/metadata", json={"industry": "retail"})
    assert r.status_code == 200
    assert (await api.get("/leads/ld_by_id/profile")).json()["profile_score"] == 3


async def test_no_mappings_means_the_lead_is_untouched(api: Api) -> None:
    await ingest(api, "l1", "page_view", {"utm_source": "google"})
    await settle(api)
    assert (await _profile(api, "l1"))["properties"] == {}


# -- metadata edits ------------------------------------------------------------------------------------------
async def test_put_and_patch_rerun_mapping_and_score(api: Api) -> None:
    await _mapping(api, "utm_source", "acquisition_source")
    rs = await _ruleset(api)
    await _rule(api, rs, "industry", "in", "software, fintech", 20)
    await _rule(api, rs, "acquisition_source", "equals", "partner", 5)
    r = await api.post("/leads", json={"id": "crm-1", "metadata": {"industry": "Software"}})
    assert r.status_code == 201 and r.json()["profile_score"] == 20
    r = await api.patch("/leads/crm-1/metadata", json={"utm_source": "Partner"})
    assert r.json()["metadata"] == {"industry": "Software", "utm_source": "Partner", "acquisition_source": "Partner"}
    assert (await _profile(api, "crm-1"))["profile_score"] == 25
    r = await api.put("/leads/crm-1", json={"metadata": {"industry": "retail"}})
    assert r.status_code == 200 and r.json()["profile_score"] == 0 and r.json()["metadata"] == {"industry": "retail"}


# -- rulesets and rules --------------------------------------------------------------------------------------
async def test_ruleset_primary_and_enabled_decide_what_scores(api: Api) -> None:
    first = await _ruleset(api, "A")
    second = await _ruleset(api, "B")
    listed = (await api.get("/profile/rulesets")).json()
    assert [(x["id"], x["is_primary"]) for x in listed] == [(first, True), (second, False)]
    await _rule(api, first, "plan", "equals", "pro", 10)
    await _rule(api, second, "plan", "equals", "pro", 99)
    await api.post("/leads", json={"id": "x", "metadata": {"plan": "Pro"}})
    assert (await _profile(api, "x"))["profile_score"] == 10
    r = await api.put(f"/profile/rulesets/{second}", json={"name": "B", "is_primary": True})
    assert r.status_code == 200 and r.json()["is_primary"] and r.json()["rules_count"] == 1
    await settle(api)  # the change re-scores every lead in the background
    assert (await _profile(api, "x"))["profile_score"] == 99
    # A rename leaves the rest as it was: it took the primary flag off (no profile score anywhere) and re-enabled.
    r = await api.put(f"/profile/rulesets/{second}", json={"name": "B v2"})
    assert r.status_code == 200 and (r.json()["name"], r.json()["is_primary"], r.json()["enabled"]) == (
        "B v2", True, True)
    await settle(api)
    assert (await _profile(api, "x"))["profile_score"] == 99
    r = await api.put(f"/profile/rulesets/{second}", json={"is_primary": None})
    assert r.status_code == 400 and "is_primary" in r.json()["error"]
    await api.put(f"/profile/rulesets/{second}", json={"name": "B", "is_primary": True, "enabled": False})
    await settle(api)
    assert (await _profile(api, "x"))["profile_score"] == 0
    assert (await api.delete(f"/profile/rulesets/{second}")).status_code == 204
    assert (await api.get(f"/profile/rulesets/{second}/rules")).status_code == 404


async def test_rule_change_rescores_every_lead_in_chunks(api: Api) -> None:
    rs = await _ruleset(api)
    for i in range(30):
        await api.post("/leads", json={"id": f"l{i}", "metadata": {"size": i}})
    rule = await _rule(api, rs, "size", "greater_than", "9", 7)
    await settle(api)
    page = (await api.get("/leads?sort=profile_desc&limit=500")).json()
    assert sorted(x["profile_score"] for x in page["leads"]) == [0] * 10 + [7] * 20
    r = await api.put(f"/profile/rulesets/{rs}/rules/{rule['id']}", json={"comparison_value": "19", "weight": 3})
    assert r.status_code == 200 and r.json()["condition"] == "greater_than" and r.json()["weight"] == 3
    await settle(api)
    page = (await api.get("/leads?min_profile_score=1&limit=500")).json()
    assert page["total"] == 10 and {x["profile_score"] for x in page["leads"]} == {3}
    assert (await api.delete(f"/profile/rulesets/{rs}/rules/{rule['id']}")).status_code == 204
    await settle(api)
    assert (await api.get("/leads?min_profile_score=1")).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"profile_property": "a", "condition": "like", "comparison_value": "x", "weight": 1}, "condition"),
        ({"profile_property": "a", "condition": "equals", "comparison_value": "", "weight": 1}, "comparison_value"),
        ({"profile_property": "a", "condition": "in", "comparison_value": " , ", "weight": 1}, "comparison_value"),
        ({"profile_property": "a", "condition": "equals", "comparison_value": "x", "weight": 10**10}, "weight"),
        ({"profile_property": "a", "condition": "equals", "comparison_value": "x" * 1001, "weight": 1},
         "comparison_value"),
        ({"profile_property": "", "condition": "equals", "comparison_value": "x", "weight": 1}, "profile_property"),
    ],
)
async def test_rule_bad_input(api: Api, body: dict[str, Any], field: str) -> None:
    rs = await _ruleset(api)
    r = await api.post(f"/profile/rulesets/{rs}/rules", json=body)
    assert r.status_code == 400 and field in r.json()["error"], r.text
    assert (await api.get(f"/profile/rulesets/{rs}/rules")).json() == []


async def test_exists_takes_any_value_and_conditions_are_canonical(api: Api) -> None:
    rs = await _ruleset(api)
    rule = await _rule(api, rs, "phone", "EXISTS", "", 4)
    assert rule["condition"] == "exists"
    await api.post("/leads", json={"id": "p", "metadata": {"phone": "+1 555"}})
    assert (await _profile(api, "p"))["profile_score"] == 4


async def test_other_ou_ids_are_not_found(api: Api) -> None:
    rs = await _ruleset(api)
    rule = await _rule(api, rs, "a", "equals", "b", 1)
    m = await _mapping(api, "x", "y")
    elsewhere = await other_unit(api)
    assert (await api.get("/profile/rulesets", headers=elsewhere)).json() == []
    for method, path, body in [
        ("PUT", f"/profile/rulesets/{rs}", {"name": "n"}),
        ("DELETE", f"/profile/rulesets/{rs}", None),
        ("GET", f"/profile/rulesets/{rs}/rules", None),
        ("POST", f"/profile/rulesets/{rs}/rules", {"profile_property": "a", "condition": "equals",
                                                   "comparison_value": "b", "weight": 1}),
        ("PUT", f"/profile/rulesets/{rs}/rules/{rule['id']}", {"weight": 2}),
        ("DELETE", f"/profile/rulesets/{rs}/rules/{rule['id']}", None),
        ("PUT", f"/profile/mappings/{m['id']}", {"source_field": "x", "profile_property": "z"}),
        ("DELETE", f"/profile/mappings/{m['id']}", None),
        ("GET", "/leads/nope/profile", None),
    ]:
        r = await api.request(method, path, headers=elsewhere, json=body)
        assert r.status_code == 404, (method, path, r.text)


async def test_viewers_read_and_operators_write(api: Api) -> None:
    viewer = await member_headers(api, "viewer@example.com", "Viewer")
    assert (await api.get("/profile/rulesets", headers=viewer)).status_code == 200
    assert (await api.get("/profile/properties", headers=viewer)).status_code == 200
    r = await api.post("/profile/rulesets", headers=viewer, json={"name": "x"})
    assert r.status_code == 403
    r = await api.post("/profile/mappings", headers=viewer, json={"source_field": "a", "profile_property": "b"})
    assert r.status_code == 403


# -- reads ---------------------------------------------------------------------------------------------------
async def test_properties_and_levels_in_lists(api: Api) -> None:
    rs = await _ruleset(api)
    await _rule(api, rs, "industry", "equals", "software", 30)
    await _rule(api, rs, "size", "greater_than", "100", 10)
    for name, lo, hi in (("Poor", -100, 9), ("Good", 10, 29), ("Ideal", 30, 1000)):
        assert (await api.post("/levels/profile", json={"name": name, "min_score": lo, "max_score": hi})).status_code \
            == 201
    await api.post("/leads", json={"id": "a", "metadata": {"industry": "Software", "size": 500, "c": {"d": 1}}})
    await api.post("/leads", json={"id": "b", "metadata": {"size": 500}})
    await api.post("/leads", json={"id": "c", "metadata": {"industry": "retail", "": None}})
    assert (await api.get("/profile/properties")).json() == ["c", "industry", "size"]
    page = (await api.get("/leads?sort=profile_desc")).json()
    assert [(x["id"], x["profile_score"], x["profile_level"]) for x in page["leads"]] == [
        ("a", 40, "Ideal"), ("b", 10, "Good"), ("c", 0, "Poor")]
    assert [x["id"] for x in (await api.get("/leads?sort=profile_asc")).json()["leads"]] == ["c", "b", "a"]
    good = (await api.get("/leads?profile_level=good")).json()
    assert good["total"] == 1 and good["leads"][0]["id"] == "b"
    assert (await api.get("/leads?profile_level=Ideal&min_profile_score=41")).json()["total"] == 0
    r = await api.get("/leads?profile_level=Platinum")
    assert r.status_code == 400 and "profile_level" in r.json()["error"] and "Ideal" in r.json()["error"]
    r = await api.get("/leads?min_profile_score=5&max_profile_score=1")
    assert r.status_code == 400 and "min_profile_score" in r.json()["error"]
    assert (await api.get("/leads?max_profile_score=99999999999")).status_code == 400
    prof = await _profile(api, "a")
    assert prof["level"] == "Ideal" and prof["level_id"].startswith("lv_")
    detail = (await api.get("/leads/a")).json()
    assert detail["lead"]["profile_level"] == "Ideal" and detail["lead"]["profile_score"] == 40
