"""Accounts (ABM) through HTTP: the 403 without ABM, linking by email domain and by account id, account mappings,
rules and levels, the list and detail figures through merges, moves and deletions, batch delete, properties."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import add_rules, enable_abm, ingest, other_unit, settle


async def _accounts(api: Api, query: str = "") -> dict[str, Any]:
    r = await api.get(f"/accounts{query}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _by_domain(api: Api) -> dict[str, dict[str, Any]]:
    return {a["domain"] or a["account_id"]: a for a in (await _accounts(api, "?limit=500"))["accounts"]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/accounts", None), ("GET", "/accounts/ac_x", None), ("POST", "/accounts/batch-delete", {"ids": ["a"]}),
     ("GET", "/accounts/properties", None), ("GET", "/accounts/mappings", None),
     ("POST", "/accounts/mappings", {"source_field": "a", "account_property": "b"}),
     ("GET", "/accounts/rulesets", None), ("POST", "/accounts/rulesets", {"name": "x"}),
     ("GET", "/accounts/rulesets/x/rules", None)],
)
async def test_forbidden_without_abm(api: Api, method: str, path: str, body: Any) -> None:
    r = await api.request(method, path, json=body)
    assert r.status_code == 403 and "abm_enabled" in r.json()["error"]


async def test_no_linking_without_abm(api: Api) -> None:
    await ingest(api, "l1", "page_view", email="jane@acme.com")
    await settle(api)
    assert (await api.get("/leads/l1")).json()["account"] is None


async def test_linking_by_registrable_domain_not_free_mail(api: Api) -> None:
    await enable_abm(api)
    await add_rules(api, {"page_view": 5})
    await ingest(api, "a", "page_view", email="Jane@mail.eu.acme.co.uk")
    await ingest(api, "b", "page_view", email="bob@acme.co.uk")
    await ingest(api, "c", "page_view", email="carl@gmail.com")
    await ingest(api, "c", "page_view")
    await settle(api)
    accounts = await _by_domain(api)
    assert list(accounts) == ["acme.co.uk"]
    acme = accounts["acme.co.uk"]
    assert acme["leads_count"] == 2 and acme["top_score"] == 5 and acme["name"] == "acme.co.uk"
    assert (await api.get("/leads/c")).json()["account"] is None
    lead = (await api.get("/leads/a/account")).json()
    assert lead["account_id"] == acme["account_id"] and lead["account"]["domain"] == "acme.co.uk"
    # events of leads with an account carry its id
    events = (await api.get("/events?lead_id=b")).json()["events"]
    assert events[0]["metadata"]["accountId"] == acme["account_id"]


async def test_an_event_naming_an_account_moves_the_lead(api: Api) -> None:
    await enable_abm(api)
    await ingest(api, "a", "page_view", email="jane@acme.com")
    await ingest(api, "a", "crm_update", {"account_id": "crm-acct-7"})
    await settle(api)
    detail = (await api.get("/leads/a")).json()
    assert detail["lead"]["account_id"] == "crm-acct-7" and detail["account"]["account_id"] == "crm-acct-7"
    accounts = await _by_domain(api)
    assert accounts["acme.com"]["leads_count"] == 0 and accounts["crm-acct-7"]["leads_count"] == 1


async def test_one_account_id_is_one_account_however_it_is_padded(api: Api) -> None:
    # POST/PUT /leads stored " acme " as sent while an event's accountId is trimmed: two accounts for one id.
    await enable_abm(api)
    assert (await api.post("/leads", json={"id": "n10", "account_id": " acme "})).json()["account_id"] == "acme"
    await ingest(api, "n11", "page_view", {"accountId": " acme "})
    assert (await api.post("/leads", json={"id": "n12"})).status_code == 201
    assert (await api.put("/leads/n12", json={"account_id": "acme  "})).status_code == 200
    await settle(api)
    assert [(await api.get(f"/leads/{lead}")).json()["lead"]["account_id"] for lead in ("n10", "n11", "n12")] == [
        "acme"] * 3
    assert (await _by_domain(api))["acme"]["leads_count"] == 3


async def test_an_account_made_from_an_email_domain_is_scored_at_once(api: Api) -> None:
    # Without account mappings the account an email's domain makes was stored with score 0 until a backfill.
    await enable_abm(api)
    rs = (await api.post("/accounts/rulesets", json={"name": "Target"})).json()
    r = await api.post(f"/accounts/rulesets/{rs['id']}/rules", json={
        "account_property": "domain", "condition": "ends_with", "comparison_value": ".com", "weight": 7})
    assert r.status_code == 201, r.text
    await api.post("/levels/account", json={"name": "low", "min_score": 1, "max_score": 29})
    await ingest(api, None, "page_view", email="tony@stark.com")
    await ingest(api, None, "page_view", email="pepper@stark.com")
    await ingest(api, "ld_named", "page_view", {"accountId": "crm-9"})
    await settle(api)
    accounts = await _by_domain(api)
    assert (accounts["stark.com"]["score"], accounts["stark.com"]["intent_level"]) == (7, "low")
    assert accounts["crm-9"]["score"] == 0  # named by an id: no domain, nothing matches


async def test_account_mappings_rules_levels_and_intent(api: Api) -> None:
    await enable_abm(api)
    r = await api.post("/accounts/mappings", json={"source_field": "employees", "account_property": "employees"})
    assert r.status_code == 201 and r.json()["account_property"] == "employees"
    reserved = await api.post("/accounts/mappings", json={"source_field": "d", "account_property": "domain"})
    assert reserved.status_code == 400 and "account_property" in reserved.json()["error"]
    rs = (await api.post("/accounts/rulesets", json={"name": "Target"})).json()
    assert rs["is_primary"]
    r = await api.post(f"/accounts/rulesets/{rs['id']}/rules", json={
        "account_property": "employees", "condition": "greater_than", "comparison_value": "500", "weight": 40})
    assert r.status_code == 201 and r.json()["account_property"] == "employees"
    await api.post(f"/accounts/rulesets/{rs['id']}/rules", json={
        "account_property": "domain", "condition": "ends_with", "comparison_value": ".io", "weight": 5})
    await ingest(api, "a", "crm_sync", {"employees": 1200}, email="a@big.com")
    await ingest(api, "b", "crm_sync", {"employees": 40}, email="b@small.io")
    await settle(api)
    # The reference's values, before any account level exists: no account has them (not a 400).
    for value in ("low", "Medium", "HIGH"):
        r = await api.get(f"/accounts?intent_level={value}")
        assert r.status_code == 200 and r.json()["total"] == 0, r.text
    for name, lo, hi in (("low", 0, 19), ("medium", 20, 39), ("high", 40, 1000)):
        await api.post("/levels/account", json={"name": name, "min_score": lo, "max_score": hi})
    accounts = await _by_domain(api)
    assert (accounts["big.com"]["score"], accounts["big.com"]["intent_level"]) == (40, "high")
    assert (accounts["small.io"]["score"], accounts["small.io"]["intent_level"]) == (5, "low")
    high = await _accounts(api, "?intent_level=HIGH")
    assert [a["domain"] for a in high["accounts"]] == ["big.com"] and high["total"] == 1
    assert (await _accounts(api, "?intent_level=all"))["total"] == 2
    r = await api.get("/accounts?intent_level=extreme")
    assert r.status_code == 400 and "intent_level" in r.json()["error"]
    assert (await api.get("/accounts/properties")).json() == ["employees"]
    # a rule change re-scores every account
    rule_id = (await api.get(f"/accounts/rulesets/{rs['id']}/rules")).json()[0]["id"]
    await api.put(f"/accounts/rulesets/{rs['id']}/rules/{rule_id}", json={"comparison_value": "10"})
    await settle(api)
    assert (await _by_domain(api))["small.io"]["score"] == 45


async def test_an_account_is_found_by_the_name_it_shows(api: Api) -> None:
    # An account property `name` is the account's display name: the list's search finds it by it.
    await enable_abm(api)
    r = await api.post("/accounts/mappings", json={"source_field": "company_name", "account_property": "name"})
    assert r.status_code == 201, r.text
    await ingest(api, "g1", "page_view", {"company_name": "Globex Corp"}, email="x@eu.globex.co.uk")
    await settle(api)
    for needle in ("corp", "Globex Corp", "globex.co"):
        found = await _accounts(api, f"?search={needle.replace(' ', '%20')}")
        assert [a["name"] for a in found["accounts"]] == ["Globex Corp"], needle
    assert (await _accounts(api, "?search=initech"))["total"] == 0


async def test_list_filters_paging_and_detail(api: Api) -> None:
    await enable_abm(api)
    await add_rules(api, {"page_view": 3, "demo": 20})
    for i in range(5):
        await ingest(api, f"n{i}", "page_view", email=f"p{i}@northwind.com")
    await ingest(api, "n0", "demo")
    await ingest(api, "g1", "page_view", email="x@globex.org")
    await settle(api)
    page = await _accounts(api, "?limit=1&page=2")
    assert page["total"] == 2 and len(page["accounts"]) == 1 and page["page"] == 2
    found = await _accounts(api, "?search=NORTH")
    assert [a["domain"] for a in found["accounts"]] == ["northwind.com"]
    assert (await _accounts(api, "?range=last_24h"))["total"] == 2
    assert (await api.get("/accounts?range=forever")).status_code == 400
    assert (await api.get("/accounts?limit=501")).status_code == 400
    northwind = found["accounts"][0]
    detail = (await api.get(f"/accounts/{northwind['account_id']}")).json()
    assert detail["leads_count"] == 5 and detail["top_score"] == 23
    assert detail["leads"][0]["lead_id"] == "n0" and detail["leads"][0]["score"] == 23
    assert len(detail["recent_events"]) == 6 and detail["surging"] is False
    assert (await api.get("/accounts/ac_nope")).status_code == 404


async def test_an_account_stays_surging_when_its_surging_lead_is_merged(api: Api) -> None:
    await enable_abm(api)
    await api.post("/surge-triggers", json={"event_type": "surgetest", "window_seconds": 5, "window_unit": "minutes",
                                            "threshold_count": 2, "emails": ["ops@example.com"]})
    await ingest(api, "sa", "surgetest", email="sa@wayne.com")
    await ingest(api, "sa", "surgetest")
    await ingest(api, "sb", "page_view", email="sb@wayne.com")
    await settle(api)
    assert (await _by_domain(api))["wayne.com"]["surging"] is True
    r = await api.post("/leads/merge", json={"targetLeadId": "sb", "sourceLeadIds": ["sa"]})
    assert r.status_code == 200, r.text
    await settle(api)
    wayne = (await _by_domain(api))["wayne.com"]
    assert (wayne["leads_count"], wayne["surging"]) == (1, True)


@pytest.mark.parametrize("same_batch", [False, True])
async def test_an_email_another_lead_has_does_not_link_a_lead_to_its_domain(api: Api, same_batch: bool) -> None:
    # The address stays with the lead that had it first (leads.md), and so does the account its domain makes.
    await enable_abm(api)
    await ingest(api, "al1", "page_view", email="z@stark.com")
    if not same_batch:
        await settle(api)
    await ingest(api, "al2", "page_view", email="z@stark.com")
    await settle(api)
    assert (await api.get("/leads/al2/aliases")).json() == []
    assert (await api.get("/leads/al2")).json()["lead"]["account_id"] is None
    assert (await _by_domain(api))["stark.com"]["leads_count"] == 1


async def test_detail_names_its_leads(api: Api) -> None:
    await enable_abm(api)
    await add_rules(api, {"page_view": 3})
    r = await api.post("/leads", json={"id": "grace", "metadata": {"first_name": "Grace", "last_name": "Hopper"}})
    assert r.status_code == 201, r.text
    await ingest(api, "grace", "page_view", email="grace@navy.mil")
    await ingest(api, "anon", "page_view", email="someone@navy.mil")
    await settle(api)
    account_id = (await _by_domain(api))["navy.mil"]["account_id"]
    detail = (await api.get(f"/accounts/{account_id}")).json()
    # A lead known only by an email alias is called by that address.
    assert {x["lead_id"]: x["lead_name"] for x in detail["leads"]} == {"grace": "Grace Hopper",
                                                                      "anon": "someone@navy.mil"}
    assert {(e["lead_id"], e["lead_name"]) for e in detail["recent_events"]} == {("grace", "Grace Hopper"),
                                                                                ("anon", "someone@navy.mil")}


async def test_figures_follow_merges_moves_and_deletions(api: Api) -> None:
    await enable_abm(api)
    await add_rules(api, {"page_view": 10})
    await ingest(api, "a", "page_view", email="a@acme.com")
    await ingest(api, "b", "page_view", email="b@acme.com")
    await ingest(api, "b", "page_view")
    await ingest(api, "solo", "page_view")  # no email: no account
    await settle(api)
    assert (await _by_domain(api))["acme.com"]["top_score"] == 20
    # merging b into solo: solo joins b's account, b stops counting
    r = await api.post("/leads/merge", json={"targetLeadId": "solo", "sourceLeadIds": ["b"]})
    assert r.status_code == 200, r.text
    merged_score = r.json()["target"]["score"]
    assert merged_score > 20
    acme = (await _by_domain(api))["acme.com"]
    assert acme["leads_count"] == 2 and acme["top_score"] == merged_score
    # moving a lead out with PUT, then deleting the other
    await api.put("/leads/a", json={"metadata": {}, "account_id": None})
    assert (await _by_domain(api))["acme.com"]["leads_count"] == 1
    assert (await api.delete("/leads/solo")).status_code == 202
    acme = (await _by_domain(api))["acme.com"]
    assert acme["leads_count"] == 0 and acme["top_score"] == 0


async def test_batch_delete_unlinks_then_deletes(api: Api) -> None:
    await enable_abm(api)
    await ingest(api, "a", "page_view", email="a@acme.com")
    await ingest(api, "b", "page_view", email="b@globex.com")
    await settle(api)
    accounts = await _by_domain(api)
    r = await api.post("/accounts/batch-delete", json={"ids": [accounts["acme.com"]["account_id"], "ac_unknown"]})
    assert r.status_code == 200 and r.json() == {"leads_unlinked": 1, "accounts_deleted": 1}
    assert list(await _by_domain(api)) == ["globex.com"]
    assert (await api.get("/leads/a")).json()["lead"]["account_id"] is None
    assert (await api.post("/accounts/batch-delete", json={"ids": []})).status_code == 400
    assert (await api.post("/accounts/batch-delete", json={})).status_code == 400


async def test_accounts_of_another_ou_are_not_found(api: Api) -> None:
    await enable_abm(api)
    await ingest(api, "a", "page_view", email="a@acme.com")
    await settle(api)
    account = (await _accounts(api))["accounts"][0]["account_id"]
    elsewhere = await other_unit(api)
    assert (await api.get(f"/accounts/{account}", headers=elsewhere)).status_code == 404
    assert (await api.get("/accounts", headers=elsewhere)).json()["total"] == 0
    r = await api.post("/accounts/batch-delete", headers=elsewhere, json={"ids": [account]})
    assert r.json() == {"leads_unlinked": 0, "accounts_deleted": 0}
    assert (await _accounts(api))["total"] == 1


async def test_backfill_links_existing_leads_and_is_safe_twice(api: Api) -> None:
    await ingest(api, "a", "page_view", email="a@acme.com")
    await api.post("/leads", json={"id": "crm", "account_id": "acct-9"})
    await settle(api)
    r = await api.post("/admin/backfill/accounts")
    assert r.json()["abm_enabled"] is False and r.json()["accounts_linked"] == 0
    await enable_abm(api)
    r = await api.post("/admin/backfill/accounts")
    assert r.status_code == 200
    assert r.json() == {"leads_processed": 2, "accounts_linked": 1, "accounts_created": 2,
                        "profile_scores_updated": 0, "abm_enabled": True}
    again = (await api.post("/admin/backfill/accounts")).json()
    assert (again["accounts_linked"], again["accounts_created"]) == (0, 0)
    assert set(await _by_domain(api)) == {"acme.com", "acct-9"}
    r = await api.post("/admin/backfill/event-accounts")
    assert r.json() == {"events_scanned": 1, "events_updated": 1, "leads_without_account": 0}
    assert (await api.post("/admin/backfill/event-accounts")).json()["events_updated"] == 0
