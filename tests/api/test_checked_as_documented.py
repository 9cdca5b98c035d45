"""Where the OpenAPI document now states a rule a handler checks, the handler takes exactly that: the
Idempotency-Key header is checked even when the body's `event_id` wins, an order names its lead by the rules an
event does, property names and segment rule names are checked as sent, and a blank lead id in a path names no
lead. A batch's events keep their types in the document but not their rules: one that breaks them is a rejected
item."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

ORDER = {"order_id": "o-1", "amount": 10, "currency": "USD"}


async def test_the_idempotency_key_header_is_checked_even_when_the_body_names_the_event(api: Api) -> None:
    body = {"event_type": "page_view", "lead_id": "ld_1", "event_id": "e-1"}
    basic = await api.credential()
    r = await api.post("/ingest", json=body, headers={**basic, "Idempotency-Key": "k" * 129})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"], r.text
    r = await api.post("/ingest", json=body, headers={**basic, "Idempotency-Key": "k-1"})
    assert r.status_code == 202 and r.json()["metadata"]["event_id"]
    # the body's key still wins: the same event_id under another header is the same event
    r = await api.post("/ingest", json=body, headers={**basic, "Idempotency-Key": "k-2"})
    assert r.status_code == 202 and r.json()["metadata"]["duplicate"] is True


@pytest.mark.parametrize(("naming", "error"), [
    ({}, "one of `lead_id` or `aliases`"),
    ({"alias_kind": "email"}, "must be given together"),
    ({"alias": "ann@example.com"}, "must be given together"),
    ({"aliases": [{"alias_kind": "fax", "raw_value": "1"}]}, "alias_kind"),
    ({"aliases": [{"alias_kind": "email", "raw_value": "a" * 321}]}, "at most 320"),
    ({"aliases": [{"alias_kind": "phone", "raw_value": "call me"}]}, "empty after normalization"),
    ({"lead_id": "   "}, "`lead_id`"),
    ({"lead_id": "ld_1", "currency": "USD\n"}, "`currency`"),
    ({"lead_id": "ld_1", "order_id": "o-1\n"}, "`order_id`"),
])
async def test_an_order_is_refused_as_its_document_says(api: Api, naming: dict[str, Any], error: str) -> None:
    r = await api.post("/orders", json={**ORDER, **naming})
    assert r.status_code == 400 and error in r.json()["error"], r.text


async def test_an_order_names_its_lead_as_an_event_does(api: Api) -> None:
    # `value` as on ingest, where the order took only `raw_value` before
    r = await api.post("/orders", json={**ORDER, "aliases": [{"alias_kind": "email", "value": " Ann@Example.com "}]})
    assert r.status_code == 201, r.text
    lead = r.json()["lead_id"]
    r = await api.post("/orders", json={**ORDER, "order_id": "o-2", "alias_kind": "email", "alias": "ann@example.com"})
    assert r.status_code == 201 and r.json()["lead_id"] == lead


@pytest.mark.parametrize(("prop", "taken"), [("plan", True), ("  plan  ", True), ("plan\n", False),
                                             ("\tplan", False), ("p" * 200, True), (" " + "p" * 200, False)])
async def test_a_property_name_is_checked_as_sent(api: Api, prop: str, taken: bool) -> None:
    r = await api.post("/profile/mappings", json={"source_field": "plan", "profile_property": prop})
    assert (r.status_code == 201) is taken, r.text
    if taken:
        assert r.json()["profile_property"] == prop.strip()
    else:
        assert r.status_code == 400 and "`profile_property`" in r.json()["error"]


@pytest.mark.parametrize(("rule_name", "taken"), [("", True), ("Enterprise", True), ("   ", False),
                                                  ("Enterprise\n", False)])
async def test_a_segment_rule_name_is_empty_or_a_name(api: Api, rule_name: str, taken: bool) -> None:
    sg = (await api.post("/segments", json={"name": "S"})).json()["segment_id"]
    rule = {"rule_type": "lead_metadata", "field_name": "plan", "operator": "exists", "rule_name": rule_name}
    r = await api.post(f"/segments/{sg}/rules", json=rule)
    assert (r.status_code == 201) is taken, r.text
    if not taken:
        assert "`rule_name`" in r.json()["error"]


async def test_a_blank_lead_id_in_a_path_names_no_lead(api: Api) -> None:
    r = await api.get("/leads/%20/events")
    assert r.status_code == 404 and "lead" in r.json()["error"]


async def test_the_document_states_these_rules(api: Api) -> None:
    doc = (await api.get("/schema/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    order = schemas["OrderIn"]
    assert order["properties"]["currency"]["pattern"] == "^[A-Za-z]{3}"
    assert order["anyOf"] == schemas["IngestEvent"]["anyOf"]
    key = next(p for p in doc["paths"]["/ingest"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 128)
    scores = schemas["ScoresIn"]["properties"]["lead_ids"]
    assert (scores["minItems"], scores["maxItems"]) == (1, 500)
    assert not schemas["MilestoneInUpdate"].get("required") and "allOf" not in schemas["MilestoneInUpdate"]
    assert schemas["MilestoneIn"]["allOf"], "a milestone's create needs its threshold"
    # a batch's events are checked one by one: an event /ingest refuses is a rejected item, not a refused batch
    taken, other = schemas["BatchIn"]["properties"]["events"]["items"]["anyOf"]
    assert taken == {"$ref": "#/components/schemas/IngestEvent"}
    assert set(other) == {"description"}, "any other value is a rejected item"


async def test_a_batch_answers_an_event_that_breaks_the_rules_as_a_rejected_item(api: Api) -> None:
    basic = await api.credential()
    r = await api.post("/ingest/batch", headers=basic, json={"events": [
        {"event_type": "page_view", "lead_id": "ld_1", "event_id": "\f"},
        {"event_type": "page_view", "lead_id": "ld_1"}]})
    assert r.status_code == 202, r.text
    assert [i["status"] for i in r.json()["results"]] == ["rejected", "accepted"]
