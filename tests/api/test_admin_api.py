"""Admin through HTTP: seed (409 when sample data is there, nothing duplicated), wipe (exactly the sample rows,
with real data beside them), applying profile mappings to history, and who may call them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from leadvibe.pipeline.decay import run_pass
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, enable_abm, ingest, member_headers, other_unit, scores_of, settle


@pytest.fixture
def clock() -> ManualClock:
    # Starts at the real time (login tokens are checked against the wall clock); only domain time moves.
    return ManualClock(time.time_ns() // 1_000_000_000 * 1000)


async def _table_counts(api: Api) -> dict[str, int]:
    tables = ("leads", "events", "event_scores", "lead_scores", "lead_aliases", "lead_props", "rulesets", "rules",
              "levels", "decay_rules", "triggers", "segments", "segment_rules", "field_mappings", "fit_rulesets",
              "fit_rules", "accounts", "inbox", "event_types")

    def run(c: Any) -> dict[str, int]:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    return dict(await api.rt.db.read(run))


async def test_seed_scores_through_the_real_pipeline_then_wipe_leaves_real_data(api: Api) -> None:
    # Real data first: a ruleset, a lead with events, a mapping and a segment of the OU's own.
    await add_rules(api, {"page_view": 2})
    await ingest(api, "real-1", "page_view", {"utm_source": "google"}, email="real@customer.com")
    r = await api.post("/segments", json={"name": "Mine", "rules": [
        {"rule_type": "lead_metadata", "field_name": "plan", "operator": "exists"}]})
    assert r.status_code == 201
    await api.post("/leads", json={"id": "real-2", "metadata": {"plan": "pro"}})
    await settle(api)
    before = await _table_counts(api)
    real_scores = await scores_of(api, "real-1")

    r = await api.post("/admin/seed")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "sample data seeded" and "200 leads" in body["output"]
    assert body["counts"]["leads"] == 200 and body["counts"]["accounts"] == 6 and body["counts"]["events"] > 1000
    again = await api.post("/admin/seed")
    assert again.status_code == 409 and "wipe" in again.json()["error"]
    await settle(api)
    seeded = await _table_counts(api)
    assert seeded["leads"] == before["leads"] + 200 and seeded["inbox"] == 0

    # Seeded leads are scored by the worker: score == the sum of their stored deltas, and some have scores.
    page = (await api.get("/leads?limit=500")).json()
    demo = [x for x in page["leads"] if x["id"] not in ("real-1", "real-2")]
    assert len(demo) == 200 and any(x["score"] > 0 for x in demo) and any(x["profile_score"] > 0 for x in demo)
    for lead in demo[:20]:
        assert await scores_of(api, lead["id"]) == await delta_sums(api, lead["id"])
    # ...with accounts, a segment and triggers whose webhook is disabled
    await enable_abm(api)
    accounts = (await api.get("/accounts")).json()
    assert accounts["total"] == 6 and sum(a["leads_count"] for a in accounts["accounts"]) > 100
    segments = {s["name"]: s["segment_id"] for s in (await api.get("/segments")).json()}
    assert (await api.get(f"/segments/{segments['Enterprise evaluators']}/count")).json()["count"] > 0
    milestones = (await api.get("/triggers/milestones")).json()
    assert [t["webhook_disabled"] for t in milestones] == [True]
    assert "Demo engagement" in {r["name"] for r in (await api.get("/rulesets")).json()}
    assert (await api.get("/deliveries")).json()["total"] == 0

    r = await api.post("/admin/wipe")
    assert r.status_code == 200, r.text
    wiped = r.json()
    assert wiped["leads"] == 200 and wiped["accounts"] == 6 and wiped["segments"] == 1
    await settle(api)
    after = await _table_counts(api)
    assert after == before
    assert await scores_of(api, "real-1") == real_scores
    assert {s["name"] for s in (await api.get("/segments")).json()} == {"Mine"}
    assert (await api.post("/admin/wipe")).json() == {}
    assert (await api.post("/admin/seed")).status_code == 200  # and it can be seeded again


async def test_seed_keeps_an_ous_own_levels_the_only_ones_of_their_kind(api: Api) -> None:
    r = await api.post("/levels/engagement", json={"name": "Cold", "min_score": 0, "max_score": 49})
    assert r.status_code == 201, r.text
    r = await api.post("/admin/seed")
    assert r.status_code == 200, r.text
    # Demo bands beside the OU's own would overlap them (two "Cold"s): only kinds the OU left empty get them.
    assert [lv["name"] for lv in (await api.get("/levels/engagement")).json()] == ["Cold"]
    assert len((await api.get("/levels/profile")).json()) == 3
    assert r.json()["counts"]["levels"] == 6
    await settle(api)
    assert (await api.post("/admin/wipe")).json()["levels"] == 6
    assert [lv["name"] for lv in (await api.get("/levels/engagement")).json()] == ["Cold"]


async def test_wipe_undoes_what_seeded_decay_did_to_real_leads(api: Api, clock: ManualClock) -> None:
    await add_rules(api, {"page_view": 30})
    await ingest(api, "real", "page_view")
    await settle(api)
    before = await scores_of(api, "real")
    assert (await api.post("/admin/seed")).status_code == 200
    await settle(api)
    clock.advance(15 * 86_400)  # the seeded 14-day decay rule now applies to the real lead too
    assert (await run_pass(api.rt)).applied > 0
    assert await scores_of(api, "real") != before
    await api.post("/admin/wipe")
    await settle(api)
    assert await scores_of(api, "real") == before
    assert await scores_of(api, "real") == await delta_sums(api, "real")


async def test_wipe_keeps_the_users_rules_and_the_sample_ruleset_or_segment_holding_them(api: Api) -> None:
    """A rule added to the sample ruleset (the primary one in an OU that had none) and a rule added to the sample
    segment are the user's: the wipe keeps them and their ruleset and segment, and removes only the sample rules;
    a real lead's score is what the user's rules give it."""
    assert (await api.post("/admin/seed")).status_code == 200
    await settle(api)
    primary = next(r for r in (await api.get("/rulesets")).json() if r["is_primary"])
    r = await api.post("/rules", json={"event_type": "my_custom_event", "weight": 50})
    assert r.status_code == 201 and r.json()["ruleset_id"] == primary["ruleset_id"], r.text
    mine = r.json()["rule_id"]
    segment = (await api.get("/segments")).json()[0]
    r = await api.post(f"/segments/{segment['segment_id']}/rules", json={
        "rule_type": "lead_metadata", "field_name": "plan", "operator": "equals", "value": "pro"})
    assert r.status_code == 201, r.text
    await api.post("/leads", json={"id": "ld_mine", "metadata": {"plan": "pro"}})
    await ingest(api, "ld_mine", "my_custom_event")
    await ingest(api, "ld_mine", "page_view")  # a type only sample rules score
    await settle(api)
    assert (await scores_of(api, "ld_mine"))[primary["ruleset_id"]] > 50

    wiped = (await api.post("/admin/wipe")).json()
    assert wiped["leads_rescored"] == 1 and "rulesets" not in wiped and "segments" not in wiped
    await settle(api)
    assert [(x["rule_id"], x["weight"]) for x in (await api.get("/rules")).json()] == [(mine, 50)]
    rulesets = (await api.get("/rulesets")).json()
    assert [(x["ruleset_id"], x["is_primary"]) for x in rulesets] == [(primary["ruleset_id"], True)]
    assert await scores_of(api, "ld_mine") == {primary["ruleset_id"]: 50} == await delta_sums(api, "ld_mine")
    kept = (await api.get("/segments")).json()
    assert [x["segment_id"] for x in kept] == [segment["segment_id"]]
    rules = (await api.get(f"/segments/{segment['segment_id']}/rules")).json()
    assert [x["field_name"] for x in rules] == ["plan"]
    assert (await api.get(f"/segments/{segment['segment_id']}/count")).json()["count"] == 1
    assert (await api.post("/admin/wipe")).json() == {}  # nothing of the sample is left


async def test_apply_profile_mappings_to_history_twice(api: Api) -> None:
    await ingest(api, "l1", "page_view", {"utm_source": "google", "page": "/a"})
    await ingest(api, "l1", "page_view", {"utm_source": "bing", "page": "/b"})
    await ingest(api, "l2", "page_view")
    await settle(api)
    for source, prop, behavior in (("utm_source", "first_source", "set_once"),
                                   ("utm_source", "source", "always_latest"), ("page", "pages", "append")):
        await api.post("/profile/mappings", json={"source_field": source, "profile_property": prop,
                                                  "update_behavior": behavior})
    r = await api.post("/admin/profile-mappings/apply")
    assert r.status_code == 200 and r.json() == {"leads_processed": 2, "leads_updated": 1}
    props = (await api.get("/leads/l1/profile")).json()["properties"]
    assert props == {"first_source": "google", "source": "bing", "pages_list": ["/a", "/b"]}
    assert (await api.post("/admin/profile-mappings/apply")).json() == {"leads_processed": 2, "leads_updated": 0}
    assert (await api.get("/leads/l1/profile")).json()["properties"] == props


async def test_applying_mappings_keeps_a_value_set_by_hand_after_the_events(api: Api, clock: ManualClock) -> None:
    # The replay wrote the event's value over the person's later edit: had the mapping existed all along, the edit
    # would have come last. An event arriving after the edit still has the last word.
    await ingest(api, "x1", "page_view", {"ind": "software"})
    await ingest(api, "x2", "page_view", {"ind": "software"})
    await settle(api)
    clock.advance(60)
    for lead in ("x1", "x2"):
        assert (await api.patch(f"/leads/{lead}/metadata", json={"industry": "retail"})).status_code == 200
    clock.advance(60)
    await ingest(api, "x2", "page_view", {"ind": "fintech"})
    await settle(api)
    await api.post("/profile/mappings", json={"source_field": "ind", "profile_property": "industry"})
    r = await api.post("/admin/profile-mappings/apply")
    assert r.status_code == 200, r.text
    assert (await api.get("/leads/x1")).json()["lead"]["metadata"]["industry"] == "retail"
    assert (await api.get("/leads/x2")).json()["lead"]["metadata"]["industry"] == "fintech"


async def test_only_owners_run_admin_operations(api: Api) -> None:
    operator = await member_headers(api, "op@example.com", "Operator")
    for path in ("/admin/seed", "/admin/wipe", "/admin/backfill/accounts", "/admin/backfill/event-accounts",
                 "/admin/profile-mappings/apply"):
        assert (await api.post(path, headers=operator)).status_code == 403, path
    basic = await api.credential()
    assert (await api.post("/admin/seed", headers=basic)).status_code in (401, 403)


async def _seeded_leads(api: Api, headers: dict[str, str]) -> dict[str, str]:
    """The OU's seeded leads: id -> created_at."""
    r = await api.client.get("/leads", params={"limit": 500, "sort": "created"}, headers=headers)
    assert r.status_code == 200, r.text
    return {x["id"]: x["created_at"] for x in r.json()["leads"]}


async def _first_events(api: Api) -> dict[str, str]:
    """Each lead's earliest event time (RFC 3339 in UTC sorts as text)."""
    first: dict[str, str] = {}
    page = 1
    while True:
        body = (await api.get(f"/events?limit=500&page={page}")).json()
        for ev in body["events"]:
            if ev["lead_id"] not in first or ev["occurred_at"] < first[ev["lead_id"]]:
                first[ev["lead_id"]] = ev["occurred_at"]
        if len(body["events"]) < 500:
            return first
        page += 1


async def test_seeded_leads_are_created_over_the_history_with_their_first_event(api: Api, clock: ManualClock) -> None:
    assert (await api.post("/admin/seed")).status_code == 200
    await settle(api)
    created = await _seeded_leads(api, api.headers)
    first = await _first_events(api)
    assert len(created) == 200 and set(first) == set(created)
    # Spread over the 30 days the events cover, not all at the moment of loading...
    assert len(set(created.values())) > 150
    days = {value[:10] for value in created.values()}
    assert len(days) > 15
    loaded_at = to_rfc3339(clock.now_ms())
    assert all(value < loaded_at for value in created.values())
    # ...and never after the lead's first event.
    assert all(created[lead] <= first[lead] for lead in created)
    # Accounts appear with their first person.
    await enable_abm(api)
    accounts = (await api.get("/accounts")).json()["accounts"]
    assert all(a["created_at"] < loaded_at for a in accounts) and len({a["created_at"] for a in accounts}) == 6

    # The same clock gives the same demo in another OU.
    elsewhere = await other_unit(api)
    assert (await api.client.post("/admin/seed", headers=elsewhere)).status_code == 200
    assert sorted(created.values()) == sorted((await _seeded_leads(api, elsewhere)).values())


async def _abm(api: Api) -> bool:
    r = await api.get("/settings/scoring")
    assert r.status_code == 200, r.text
    return bool(r.json()["abm_enabled"])


async def test_sample_data_turns_abm_on_in_an_organization_without_leads_and_wipe_turns_it_off(api: Api) -> None:
    assert not await _abm(api) and (await api.get("/accounts")).status_code == 403
    r = await api.post("/admin/seed")
    assert r.status_code == 200, r.text
    assert r.json()["abm_enabled"] is True and "is now on for the organization" in r.json()["output"]
    assert await _abm(api)
    await settle(api)
    accounts = await api.get("/accounts")
    assert accounts.status_code == 200 and accounts.json()["total"] == 6, accounts.text
    account_id = accounts.json()["accounts"][0]["account_id"]
    assert (await api.get(f"/accounts/{account_id}")).status_code == 200

    assert (await api.post("/admin/wipe")).status_code == 200
    assert not await _abm(api) and (await api.get("/accounts")).status_code == 403


async def test_sample_data_leaves_abm_off_when_the_organization_has_leads_of_its_own(api: Api) -> None:
    # A lead in another OU counts: the toggle applies to every OU of the organization.
    elsewhere = await other_unit(api)
    assert (await api.client.post("/leads", headers=elsewhere, json={"id": "customer-1"})).status_code == 201
    r = await api.post("/admin/seed")
    assert r.status_code == 200, r.text
    assert r.json()["abm_enabled"] is False and "stays off" in r.json()["output"]
    assert not await _abm(api) and (await api.get("/accounts")).status_code == 403
    assert (await api.post("/admin/wipe")).status_code == 200
    assert not await _abm(api)


async def test_an_owner_who_is_not_an_organization_admin_does_not_turn_abm_on(api: Api) -> None:
    owner = await member_headers(api, "owner@example.com", role="Owner")
    r = await api.client.post("/admin/seed", headers=owner)
    assert r.status_code == 200, r.text
    assert r.json()["abm_enabled"] is False and "an organization admin turns it on" in r.json()["output"]
    assert not await _abm(api)


async def test_abm_an_admin_set_stays_as_set_after_wipe(api: Api) -> None:
    # Turned on by the seed, then set by an admin: the admin's choice stays.
    assert (await api.post("/admin/seed")).json()["abm_enabled"] is True
    await enable_abm(api, False)
    await enable_abm(api, True)
    assert (await api.post("/admin/wipe")).status_code == 200
    assert await _abm(api)
    # On before the seed: the seed says so, and the wipe leaves it on.
    r = await api.post("/admin/seed")
    assert r.json()["abm_enabled"] is True and "account-based marketing is on" in r.json()["output"]
    assert (await api.post("/admin/wipe")).status_code == 200
    assert await _abm(api)


async def test_abm_an_admin_confirmed_as_it_was_stays_after_wipe(api: Api) -> None:
    # The docs' first ABM step sends `true` while the seed has it on already: that is the admin's choice too.
    assert (await api.post("/admin/seed")).json()["abm_enabled"] is True
    await enable_abm(api, True)
    assert (await api.post("/admin/wipe")).status_code == 200
    assert await _abm(api)


async def test_an_operator_saving_the_timeout_does_not_make_abm_theirs(api: Api) -> None:
    assert (await api.post("/admin/seed")).json()["abm_enabled"] is True
    operator = await member_headers(api, "operator@example.com", "Operator")
    r = await api.client.put("/settings/scoring", json={"session_timeout_minutes": 45, "abm_enabled": True},
                             headers=operator)
    assert r.status_code == 200, r.text
    assert (await api.post("/admin/wipe")).status_code == 200
    assert not await _abm(api)
