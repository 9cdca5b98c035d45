"""Segments through HTTP: CRUD of segments and rules, bad input, membership count and list (always current),
group logic, event rules, the /leads filter and trigger filters on segments."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import add_rules, ingest, member_headers, other_unit, settle

LEADS = {
    "a": {"industry": "Software", "size": 500, "tags": ["beta", "vip"]},
    "b": {"industry": "software", "size": 50},
    "c": {"industry": "Retail", "size": 5000},
    "d": {"size": "unknown"},
}


async def _leads(api: Api) -> None:
    for lead_id, meta in LEADS.items():
        assert (await api.post("/leads", json={"id": lead_id, "metadata": meta})).status_code == 201


async def _segment(api: Api, *rules: dict[str, Any], name: str = "S") -> str:
    r = await api.post("/segments", json={"name": name, "rules": list(rules)})
    assert r.status_code == 201, r.text
    return str(r.json()["segment_id"])


def _lm(field: str, op: str, value: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"rule_type": "lead_metadata", "field_name": field, "operator": op, "value": value, **extra}


async def _members(api: Api, segment: str) -> tuple[int, list[str]]:
    count = await api.get(f"/segments/{segment}/count")
    page = await api.get(f"/segments/{segment}/leads?limit=500")
    assert count.status_code == 200 and page.status_code == 200, (count.text, page.text)
    return count.json()["count"], sorted(x["id"] for x in page.json())


async def test_segment_crud(api: Api) -> None:
    r = await api.post("/segments", json={"name": "Marketing Leads", "description": "From marketing"})
    assert r.status_code == 201 and r.json()["segment_id"].startswith("sg_") and r.json()["active"] is True
    sg = r.json()["segment_id"]
    r = await api.put(f"/segments/{sg}", json={"name": "Renamed", "active": False})
    assert r.status_code == 200 and r.json()["name"] == "Renamed" and r.json()["description"] == "From marketing"
    # Rules sent here were dropped without a word: other rules than the segment's are refused, naming where they
    # change, and nothing is renamed; the segment as an answer shows it, sent back with a new name, is taken.
    r = await api.put(f"/segments/{sg}", json={"name": "Again", "rules": [_lm("plan", "EQUALS", "pro")]})
    assert (r.status_code, r.json()["error"]) == (400, "`rules` cannot change here: add, change and delete a "
                                                      f"segment's rules through /segments/{sg}/rules (this request "
                                                      "changed nothing)")
    assert (await api.get("/segments")).json()[0]["name"] == "Renamed"
    seen = next(x for x in (await api.get("/segments")).json() if x["segment_id"] == sg)
    r = await api.put(f"/segments/{sg}", json={**seen, "name": "Renamed"})
    assert r.status_code == 200, r.text
    listed = (await api.get("/segments")).json()
    assert [(s["segment_id"], s["active"], s["rules_count"]) for s in listed] == [(sg, False, 0)]
    rule = await api.post(f"/segments/{sg}/rules", json=_lm("plan", "EQUALS", "pro", rule_name="Pro plan"))
    assert rule.status_code == 201 and rule.json()["operator"] == "equals" and rule.json()["logic_op"] == "AND"
    rule_id = rule.json()["rule_id"]
    r = await api.put(f"/segments/{sg}/rules/{rule_id}", json={"operator": "in", "value": "pro, team",
                                                                "logic_op": "or"})
    assert r.status_code == 200 and (r.json()["operator"], r.json()["value"], r.json()["logic_op"]) == (
        "in", "pro, team", "OR")
    assert [x["rule_id"] for x in (await api.get(f"/segments/{sg}/rules")).json()] == [rule_id]
    assert (await api.delete(f"/segments/{sg}/rules/{rule_id}")).status_code == 204
    assert (await api.delete(f"/segments/{sg}/rules/{rule_id}")).status_code == 404
    assert (await api.delete(f"/segments/{sg}")).status_code == 204
    assert (await api.get("/segments")).json() == []


async def test_every_segment_answer_carries_its_rules(api: Api) -> None:
    """Create, list and update answer one shape: `rules` is always the segment's rules, `[]` when it has none."""
    created = (await api.post("/segments", json={"name": "Empty"})).json()
    assert created["rules"] == []
    sg = await _segment(api, _lm("plan", "equals", "pro"), name="Pro")
    listed = {s["segment_id"]: s for s in (await api.get("/segments")).json()}
    assert listed[created["segment_id"]]["rules"] == []
    assert [(r["field_name"], r["value"]) for r in listed[sg]["rules"]] == [("plan", "pro")]
    updated = (await api.put(f"/segments/{sg}", json={"name": "Pro plan"})).json()
    assert updated["rules"] == listed[sg]["rules"] and updated["rules_count"] == 1
    # Read, renamed and sent back whole, rules included: taken; with a rule's value edited: refused.
    again = (await api.put(f"/segments/{sg}", json={**updated, "name": "Pro plans"})).json()
    assert again["name"] == "Pro plans" and again["rules"] == updated["rules"]
    edited = [{**updated["rules"][0], "value": "team"}]
    assert (await api.put(f"/segments/{sg}", json={**updated, "rules": edited})).status_code == 400


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"rule_type": "score", "field_name": "a", "operator": "equals", "value": "x"}, "rule_type"),
        (_lm("a", "like", "x"), "operator"),
        (_lm("a", "equals", ""), "value"),
        (_lm("a", "greater_than", None), "value"),
        (_lm("", "exists"), "field_name"),
        # The computed profile score is not metadata: a rule on it tested a copy someone wrote there.
        (_lm("profile_score", "greater_than", "10"), "field_name"),
        (_lm("profile_level", "equals", "Ideal"), "field_name"),
        (_lm("a", "equals", "x", logic_group=1001), "logic_group"),
        (_lm("a", "equals", "x", logic_op="XOR"), "logic_op"),
        (_lm("a", "equals", "x", event_type="page_view"), "event_type"),
        ({"rule_type": "event_metadata", "field_name": "a", "operator": "equals", "value": "x",
          "event_type": "  "}, None),
    ],
)
async def test_rule_bad_input_names_the_field(api: Api, rule: dict[str, Any], field: str | None) -> None:
    sg = (await api.post("/segments", json={"name": "S"})).json()["segment_id"]
    r = await api.post(f"/segments/{sg}/rules", json=rule)
    if field is None:  # a blank event type means any type
        assert r.status_code == 201 and r.json()["event_type"] is None
        return
    assert r.status_code == 400 and field in r.json()["error"], r.text
    assert (await api.get(f"/segments/{sg}/rules")).json() == []
    # inline, nothing is half-written: no segment either
    r = await api.post("/segments", json={"name": "T", "rules": [rule]})
    assert r.status_code == 400 and f"rules[0].{field}" in r.json()["error"]
    assert len((await api.get("/segments")).json()) == 1


async def test_a_segment_without_rules_is_refused_where_it_would_match_nobody(api: Api) -> None:
    r = await api.post("/segments", json={"name": "S", "rules": []})
    assert r.status_code == 400 and "rules" in r.json()["error"]
    sg = (await api.post("/segments", json={"name": "S"})).json()["segment_id"]
    for path in (f"/segments/{sg}/count", f"/segments/{sg}/leads", f"/leads?segment={sg}"):
        r = await api.get(path)
        assert r.status_code == 422 and "no active rules" in r.json()["error"], path
    await api.post(f"/segments/{sg}/rules", json=_lm("a", "exists", active=False))
    assert (await api.get(f"/segments/{sg}/count")).status_code == 422
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    for path in ("/segments/{segment_id}/count", "/segments/{segment_id}/leads", "/leads"):
        assert "422" in paths[path]["get"]["responses"], path


async def test_membership_logic(api: Api) -> None:
    await _leads(api)
    # AND within a group, case-insensitive text, numeric comparison when both sides are numbers
    sg = await _segment(api, _lm("industry", "equals", "SOFTWARE"), _lm("size", "greater_than", "100"))
    assert await _members(api, sg) == (1, ["a"])
    # OR across groups; an inactive rule is ignored
    sg = await _segment(api, _lm("industry", "equals", "retail", logic_group=1),
                        _lm("tags", "equals", "VIP", logic_group=2), _lm("size", "less_than", "0", active=False,
                                                                          logic_group=2))
    assert await _members(api, sg) == (2, ["a", "c"])
    # OR inside a group
    sg = await _segment(api, _lm("size", "less_than", "100", logic_op="OR"), _lm("industry", "equals", "retail"))
    assert await _members(api, sg) == (2, ["b", "c"])
    # negations are complements, absent values included
    sg = await _segment(api, _lm("industry", "not_equals", "software"))
    assert await _members(api, sg) == (2, ["c", "d"])
    sg = await _segment(api, _lm("tags", "not_exists"))
    assert await _members(api, sg) == (3, ["b", "c", "d"])
    # text comparison when a side is not a number
    sg = await _segment(api, _lm("size", "greater_than", "abc"))
    assert await _members(api, sg) == (1, ["d"])
    sg = await _segment(api, _lm("size", "in", "50, 5000"))
    assert await _members(api, sg) == (2, ["b", "c"])


async def test_membership_is_current(api: Api) -> None:
    await _leads(api)
    sg = await _segment(api, _lm("plan", "equals", "pro"))
    assert await _members(api, sg) == (0, [])  # evaluated by SQL while its kept members are built
    await settle(api)
    assert [s["members_ready"] for s in (await api.get("/segments")).json()] == [True]
    # From here on every write keeps the members: counts read them.
    await api.patch("/leads/b/metadata", json={"plan": "Pro"})
    assert await _members(api, sg) == (1, ["b"])
    await api.put("/leads/b", json={"metadata": {"plan": "free"}})
    assert await _members(api, sg) == (0, [])
    await api.patch("/leads/a/metadata", json={"plan": "PRO"})
    assert await _members(api, sg) == (1, ["a"])
    assert (await api.delete("/leads/a")).status_code == 202
    assert await _members(api, sg) == (0, [])
    # A rule change rebuilds the kept members; counts stay right throughout.
    rule_id = (await api.get(f"/segments/{sg}/rules")).json()[0]["rule_id"]
    await api.put(f"/segments/{sg}/rules/{rule_id}", json={"value": "free"})
    assert await _members(api, sg) == (1, ["b"])
    await settle(api)
    assert (await api.get("/segments")).json()[0]["members_ready"] is True
    assert await _members(api, sg) == (1, ["b"])
    # Merged sources leave the segment.
    await api.post("/leads", json={"id": "e", "metadata": {"plan": "free"}})
    assert await _members(api, sg) == (2, ["b", "e"])
    assert (await api.post("/leads/merge", json={"targetLeadId": "d", "sourceLeadIds": ["e"]})).status_code == 200
    assert await _members(api, sg) == (1, ["b"])


async def test_event_rules(api: Api) -> None:
    await add_rules(api, {"pricing_view": 5})
    await ingest(api, "x", "pricing_view", {"plan": "enterprise"})
    await ingest(api, "y", "Pricing View", {"plan": "starter"})
    await ingest(api, "z", "page_view", {"plan": "enterprise"})
    await settle(api)
    event_rule = {"rule_type": "event_metadata", "event_type": "pricing-view", "field_name": "plan",
                  "operator": "equals", "value": "Enterprise"}
    sg = await _segment(api, event_rule)
    assert await _members(api, sg) == (1, ["x"])
    await settle(api)  # segments with event rules are never kept: always evaluated by SQL
    assert [s["members_ready"] for s in (await api.get("/segments")).json()] == [False]
    # any type; negation applies per event (has such an event whose plan is not enterprise)
    sg = await _segment(api, {**event_rule, "event_type": None, "operator": "not_equals"})
    assert await _members(api, sg) == (1, ["y"])
    # combined with a lead rule
    await api.patch("/leads/x/metadata", json={"size": 10})
    await api.patch("/leads/z/metadata", json={"size": 10})
    sg = await _segment(api, {**event_rule, "event_type": None}, _lm("size", "equals", "10"))
    assert await _members(api, sg) == (2, ["x", "z"])


async def test_leads_filter_and_paging(api: Api) -> None:
    await _leads(api)
    sg = await _segment(api, _lm("size", "exists"))
    page = (await api.get(f"/leads?segment={sg}&limit=2&sort=created")).json()
    assert page["total"] == 4 and len(page["leads"]) == 2
    page = (await api.get(f"/segments/{sg}/leads?limit=3&page=2")).json()
    assert len(page) == 1
    assert (await api.get("/leads?segment=sg_nope")).status_code == 404
    assert (await api.get(f"/segments/{sg}/leads?limit=0")).status_code == 400


async def test_other_ou_and_roles(api: Api) -> None:
    sg = await _segment(api, _lm("a", "exists"))
    rule_id = (await api.get(f"/segments/{sg}/rules")).json()[0]["rule_id"]
    elsewhere = await other_unit(api)
    for method, path, body in [
        ("PUT", f"/segments/{sg}", {"name": "x"}), ("DELETE", f"/segments/{sg}", None),
        ("GET", f"/segments/{sg}/count", None), ("GET", f"/segments/{sg}/leads", None),
        ("GET", f"/segments/{sg}/rules", None), ("POST", f"/segments/{sg}/rules", _lm("a", "exists")),
        ("PUT", f"/segments/{sg}/rules/{rule_id}", {"active": False}),
        ("DELETE", f"/segments/{sg}/rules/{rule_id}", None), ("GET", f"/leads?segment={sg}", None),
    ]:
        r = await api.request(method, path, headers=elsewhere, json=body)
        assert r.status_code == 404, (method, path, r.text)
    viewer = await member_headers(api, "v@example.com", "Viewer")
    assert (await api.get(f"/segments/{sg}/count", headers=viewer)).status_code == 200
    assert (await api.post("/segments", headers=viewer, json={"name": "x"})).status_code == 403


async def test_trigger_filters_on_segments(api: Api) -> None:
    await add_rules(api, {"demo": 50})
    sg = await _segment(api, _lm("tier", "equals", "gold"))
    elsewhere = await other_unit(api)
    other_sg = (await api.post("/segments", headers=elsewhere, json={"name": "x"})).json()["segment_id"]
    body = {"name": "Gold demo", "event_type": "demo", "score_threshold": 10,
            "webhook_url": "https://hooks.example.com/x"}
    r = await api.post("/triggers/milestones", json={**body, "profile_filters": [
        {"field": "segment", "operator": "equals", "value": other_sg}]})
    assert r.status_code == 404 and "segment" in r.json()["error"]
    r = await api.post("/triggers/milestones", json={**body, "profile_filters": [
        {"field": "segment", "operator": "contains", "value": sg}]})
    assert r.status_code == 400
    r = await api.post("/triggers/milestones", json={**body, "profile_filters": [
        {"field": "segment", "operator": "equals", "value": sg}, {"field": "profile_score", "operator": "less_than",
                                                                   "value": "100"}]})
    assert r.status_code == 201, r.text
    await api.post("/leads", json={"id": "gold", "metadata": {"tier": "Gold"}})
    await api.post("/leads", json={"id": "tin", "metadata": {"tier": "tin"}})
    await ingest(api, "gold", "demo")
    await ingest(api, "tin", "demo")
    await settle(api)
    fired = (await api.get("/triggers/milestones/events")).json()
    assert [e["lead_id"] for e in fired] == ["gold"]


async def test_a_segments_leads_carry_their_aliases_as_the_lead_list_does(api: Api) -> None:
    # A lead made from an email alias alone is named by it: the members list needs the aliases to say so.
    await add_rules(api, {"page_view": 1})
    await ingest(api, None, "page_view", {"plan": "trial"}, email="Ana@Example.io")
    await settle(api)
    sg = await _segment(api, {"rule_type": "event_metadata", "event_type": "page_view", "field_name": "plan",
                              "operator": "equals", "value": "trial"})
    (member,) = (await api.get(f"/segments/{sg}/leads")).json()
    (row,) = [x for x in (await api.get("/leads")).json()["leads"] if x["id"] == member["id"]]
    assert member["aliases"] == row["aliases"] and [a["raw_value"] for a in member["aliases"]] == ["Ana@Example.io"]
