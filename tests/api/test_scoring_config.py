"""Scoring configuration through HTTP: rulesets, rules, filters, levels, scoring settings, surge policy,
event-type settings; roles and tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from leadvibe.timeutil import to_rfc3339
from tests.conftest import Api
from tests.helpers import member_headers, wait_idle


async def _other_ou(api: Api) -> dict[str, str]:
    """Admin headers with a second OU active."""
    r = await api.post("/org-units", json={"name": "Second"})
    assert r.status_code == 201, r.text
    return {**api.headers, "X-OU-ID": r.json()["unit_id"]}


async def _ruleset(api: Api, name: str, **kw: Any) -> dict[str, Any]:
    r = await api.post("/rulesets", json={"name": name, **kw})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


# -- rulesets ------------------------------------------------------------------------------------------------
async def test_first_ruleset_is_primary_and_primary_switches(api: Api) -> None:
    assert (await api.get("/rulesets")).json() == []
    first = await _ruleset(api, "Marketing", is_primary=False)
    assert first["is_primary"] is True and first["active"] is True
    assert first["ruleset_id"].startswith("rs_") and first["score_column"] == "total_score"
    assert first["created_at"].endswith("Z")
    second = await _ruleset(api, "Sales", score_column="sales_score")
    assert second["is_primary"] is False and second["score_column"] == "sales_score"
    third = await _ruleset(api, "Product", is_primary=True)
    rows = {r["ruleset_id"]: r for r in (await api.get("/rulesets")).json()}
    assert [
        r["is_primary"]
        for r in (rows[first["ruleset_id"]], rows[second["ruleset_id"]], rows[third["ruleset_id"]])
    ] == [False, False, True]
    r = await api.put(
        f"/rulesets/{second['ruleset_id']}",
        json={"is_primary": True, "name": "Sales 2", "unit_id": "ignored"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["is_primary"] is True and r.json()["name"] == "Sales 2"
    primaries = [r["ruleset_id"] for r in (await api.get("/rulesets")).json() if r["is_primary"]]
    assert primaries == [second["ruleset_id"]]
    r = await api.put(f"/rulesets/{third['ruleset_id']}", json={"active": False})
    assert r.json()["active"] is False and r.json()["is_primary"] is False


async def test_ruleset_bad_input_and_conflicts(api: Api) -> None:
    for body, field in (
        ({"name": ""}, "name"),
        ({"name": " "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "A", "score_column": "Bad Column"}, "score_column"),
        ({"name": "A", "is_primary": "yes"}, "is_primary"),
        ({}, "name"),
    ):
        r = await api.post("/rulesets", json=body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["error"], r.text
    await _ruleset(api, "Main")
    assert (await api.post("/rulesets", json={"name": "main"})).status_code == 409
    other = await _ruleset(api, "Other")
    assert (await api.put(f"/rulesets/{other['ruleset_id']}", json={"name": "MAIN"})).status_code == 409
    assert (await api.put("/rulesets/rs_nope", json={"name": "x"})).status_code == 404
    assert (await api.delete("/rulesets/rs_nope")).status_code == 404


async def test_delete_ruleset_takes_rules_and_promotes_none(api: Api) -> None:
    main = await _ruleset(api, "Main")
    other = await _ruleset(api, "Other")
    r = await api.post(
        "/rules", json={"ruleset_id": main["ruleset_id"], "event_type": "Page View", "weight": 5}
    )
    rule_id = r.json()["rule_id"]
    assert (await api.delete(f"/rulesets/{main['ruleset_id']}")).status_code == 204
    assert (await api.get(f"/rules/{rule_id}")).status_code in (404, 405)
    assert (await api.get("/rules")).json() == []
    sets = (await api.get("/rulesets")).json()
    assert [s["ruleset_id"] for s in sets] == [other["ruleset_id"]] and sets[0]["is_primary"] is False
    # a rule without ruleset_id now creates a new primary "Default"
    r = await api.post("/rules", json={"event_type": "signup", "weight": 10})
    default = [s for s in (await api.get("/rulesets")).json() if s["is_primary"]]
    assert len(default) == 1 and default[0]["name"] == "Default"
    assert r.json()["ruleset_id"] == default[0]["ruleset_id"]


# -- rules ---------------------------------------------------------------------------------------------------
async def test_rule_crud_and_default_ruleset(api: Api) -> None:
    r = await api.post(
        "/rules",
        json={
            "event_type": "email_open",
            "weight": 5,
            "active": True,
            "org_id": "org_evil",
            "unit_id": "unit_evil",
            "surprise": 1,
        },
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["rule_id"].startswith("rl_") and rule["event_type"] == "email_open" and rule["weight"] == 5
    assert rule["unit_id"] == "unit_default" and rule["org_id"] != "org_evil"
    assert rule["created_by"] and rule["updated_by"] == rule["created_by"]
    sets = (await api.get("/rulesets")).json()
    assert len(sets) == 1 and sets[0]["name"] == "Default" and sets[0]["is_primary"] is True
    assert sets[0]["rules_count"] == 1 and rule["ruleset_id"] == sets[0]["ruleset_id"]
    # a second rule lands in the same primary ruleset
    r2 = (
        await api.post(
            "/rules",
            json={
                "event_type": "Page View",
                "weight": 2,
                "icon": "eye",
                "start_at": "2025-01-01T00:00:00+02:00",
                "end_at": "2025-02-01T00:00:00Z",
            },
        )
    ).json()
    assert r2["ruleset_id"] == rule["ruleset_id"] and r2["icon"] == "eye"
    assert r2["start_at"] == "2024-12-31T22:00:00Z" and r2["end_at"] == "2025-02-01T00:00:00Z"
    listed = (await api.get(f"/rulesets/{rule['ruleset_id']}/rules")).json()
    assert [x["rule_id"] for x in listed] == [rule["rule_id"], r2["rule_id"]]
    assert len((await api.get("/rules", params={"ruleset_id": rule["ruleset_id"]})).json()) == 2
    # partial update keeps the rest; null clears a bound
    r = await api.put(f"/rules/{r2['rule_id']}", json={"weight": -3, "end_at": None})
    assert r.status_code == 200, r.text
    assert r.json()["weight"] == -3 and r.json()["end_at"] is None and r.json()["event_type"] == "Page View"
    assert r.json()["start_at"] == "2024-12-31T22:00:00Z"
    r = await api.put(f"/rules/{r2['rule_id']}", json={"active": False})
    assert r.json()["active"] is False and r.json()["weight"] == -3
    # moving to another ruleset
    other = await _ruleset(api, "Other")
    r = await api.put(f"/rules/{r2['rule_id']}", json={"ruleset_id": other["ruleset_id"]})
    assert r.json()["ruleset_id"] == other["ruleset_id"]
    assert (await api.delete(f"/rules/{r2['rule_id']}")).status_code == 204
    assert (await api.delete(f"/rules/{r2['rule_id']}")).status_code == 404
    assert [x["rule_id"] for x in (await api.get("/rules")).json()] == [rule["rule_id"]]


async def test_an_empty_ruleset_id_on_create_names_no_ruleset_it_is_not_an_omitted_one(api: Api) -> None:
    # A shell variable left unset sends "": the rule must not land in the primary ruleset unasked.
    r = await api.post("/rules", json={"event_type": "webinar_attended", "weight": 30, "ruleset_id": ""})
    assert r.status_code == 404 and r.json() == {"error": "ruleset not found"}
    assert (await api.get("/rules")).json() == [] and (await api.get("/rulesets")).json() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weight": 5}, "event_type"),
        ({"event_type": "", "weight": 5}, "event_type"),
        ({"event_type": "   ", "weight": 5}, "event_type"),
        ({"event_type": "x" * 129, "weight": 5}, "event_type"),
        ({"event_type": "open"}, "weight"),
        ({"event_type": "open", "weight": 1.5}, "weight"),
        ({"event_type": "open", "weight": True}, "weight"),
        ({"event_type": "open", "weight": 10**12}, "weight"),
        ({"event_type": "open", "weight": 1, "start_at": "yesterday"}, "start_at"),
        ({"event_type": "open", "weight": 1, "end_at": "2025-01-01T00:00:00"}, "end_at"),
        (
            {
                "event_type": "open",
                "weight": 1,
                "start_at": "2025-02-01T00:00:00Z",
                "end_at": "2025-01-01T00:00:00Z",
            },
            "start_at",
        ),
        (
            {
                "event_type": "open",
                "weight": 1,
                "start_at": "2025-01-01T00:00:00Z",
                "end_at": "2025-01-01T00:00:00Z",
            },
            "start_at",
        ),
        ({"event_type": "open", "weight": 1, "icon": "i" * 101}, "icon"),
    ],
)
async def test_rule_bad_input(api: Api, body: dict[str, Any], field: str) -> None:
    r = await api.post("/rules", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"], r.text


async def test_rule_update_validation_and_unknown_ids(api: Api) -> None:
    rule = (
        await api.post("/rules", json={"event_type": "open", "weight": 1, "start_at": "2025-01-01T00:00:00Z"})
    ).json()
    path = f"/rules/{rule['rule_id']}"
    assert (await api.put(path, json={"end_at": "2024-01-01T00:00:00Z"})).status_code == 400
    assert (await api.put(path, json={"event_type": ""})).status_code == 400
    assert (await api.put(path, json={"weight": None})).status_code == 400
    assert (await api.put(path, json={"ruleset_id": "rs_nope"})).status_code == 404
    assert (await api.put("/rules/rl_nope", json={"weight": 1})).status_code == 404
    assert (
        await api.post("/rules", json={"ruleset_id": "rs_nope", "event_type": "x", "weight": 1})
    ).status_code == 404
    assert (await api.get("/rulesets/rs_nope/rules")).status_code == 404
    assert (await api.get("/rules", params={"ruleset_id": "rs_nope"})).status_code == 404
    # the reference's PUT sample sends the whole object back: read-only fields are ignored
    full = {**rule, "weight": 7, "created_at": "2019-08-24T14:15:22Z", "unit_id": "x", "org_id": "y"}
    r = await api.put(path, json=full)
    assert r.status_code == 200, r.text
    assert r.json()["weight"] == 7 and r.json()["created_at"] == rule["created_at"]


# -- inorganic filters ---------------------------------------------------------------------------------------
async def test_filter_crud_and_validation(api: Api) -> None:
    r = await api.post(
        "/filters",
        json={
            "event_type": "Page View",
            "count_threshold": 10,
            "time_window_ms": 60000,
            "group_events": True,
        },
    )
    assert r.status_code == 201, r.text
    f = r.json()
    assert f["filter_id"].startswith("ft_") and f["group_events"] is True and f["count_threshold"] == 10
    assert f["org_id"] and f["created_by"]
    r = await api.put(f"/filters/{f['filter_id']}", json={"count_threshold": 3})
    assert r.json()["count_threshold"] == 3 and r.json()["time_window_ms"] == 60000
    assert [x["filter_id"] for x in (await api.get("/filters")).json()] == [f["filter_id"]]
    for body, field in (
        ({"event_type": "", "count_threshold": 1, "time_window_ms": 1}, "event_type"),
        ({"event_type": "x", "count_threshold": 0, "time_window_ms": 1}, "count_threshold"),
        ({"event_type": "x", "count_threshold": 1, "time_window_ms": 0}, "time_window_ms"),
        ({"event_type": "x", "count_threshold": 1}, "time_window_ms"),
        ({"event_type": "x", "count_threshold": 1, "time_window_ms": 5, "group_events": 3}, "group_events"),
    ):
        r = await api.post("/filters", json=body)
        assert r.status_code == 400 and field in r.json()["error"], r.text
    assert (await api.put(f"/filters/{f['filter_id']}", json={"time_window_ms": -1})).status_code == 400
    assert (await api.put("/filters/ft_nope", json={"count_threshold": 3})).status_code == 404
    assert (await api.delete(f"/filters/{f['filter_id']}")).status_code == 204
    assert (await api.delete(f"/filters/{f['filter_id']}")).status_code == 404
    assert (await api.get("/filters")).json() == []


# -- levels --------------------------------------------------------------------------------------------------
async def test_engagement_levels_use_stage_id_and_sort_by_min_score(api: Api) -> None:
    hot = (
        await api.post("/levels/engagement", json={"name": "Hot", "min_score": 80, "max_score": 1000})
    ).json()
    cold = (
        await api.post("/levels/engagement", json={"name": "Cold", "min_score": 0, "max_score": 19})
    ).json()
    assert hot["stage_id"].startswith("st_") and "level_id" not in hot
    assert [x["name"] for x in (await api.get("/levels/engagement")).json()] == ["Cold", "Hot"]
    r = await api.put(
        f"/levels/engagement/{cold['stage_id']}", json={"name": "Warm", "min_score": 20, "max_score": 79}
    )
    assert r.status_code == 200 and r.json()["name"] == "Warm", r.text
    # a band equal at both ends is one score wide; an inverted one is refused, also by a partial update
    assert (
        await api.put(f"/levels/engagement/{cold['stage_id']}", json={"max_score": 20})
    ).status_code == 200
    r = await api.put(f"/levels/engagement/{cold['stage_id']}", json={"max_score": 19})
    assert r.status_code == 400 and "min_score" in r.json()["error"]
    # engagement ids do not answer on the profile path
    assert (await api.put(f"/levels/profile/{hot['stage_id']}", json={"name": "x"})).status_code == 404
    assert (await api.delete(f"/levels/engagement/{hot['stage_id']}")).status_code == 204
    assert (await api.delete(f"/levels/engagement/{hot['stage_id']}")).status_code == 404


@pytest.mark.parametrize("kind", ["profile", "account"])
async def test_profile_and_account_levels(api: Api, kind: str) -> None:
    r = await api.post(f"/levels/{kind}", json={"name": "A", "min_score": 50, "max_score": 100})
    assert r.status_code == 201, r.text
    level = r.json()
    assert level["level_id"].startswith("lv_") and level["org_id"] and level["created_by"]
    await api.post(f"/levels/{kind}", json={"name": "B", "min_score": -10, "max_score": 49})
    assert [x["name"] for x in (await api.get(f"/levels/{kind}")).json()] == ["B", "A"]
    for body, field in (
        ({"name": "", "min_score": 0, "max_score": 1}, "name"),
        ({"name": "x", "min_score": 5, "max_score": 1}, "min_score"),
        ({"name": "x", "max_score": 1}, "min_score"),
    ):
        r = await api.post(f"/levels/{kind}", json=body)
        assert r.status_code == 400 and field in r.json()["error"], r.text
    r = await api.put(
        f"/levels/{kind}/{level['level_id']}", json={"name": "A+", "min_score": 60, "max_score": 90}
    )
    assert r.json()["name"] == "A+" and r.json()["min_score"] == 60
    assert (await api.delete(f"/levels/{kind}/{level['level_id']}")).status_code == 204
    assert len((await api.get(f"/levels/{kind}")).json()) == 1
    assert len((await api.get("/levels/engagement")).json()) == 0


@pytest.mark.parametrize("kind", ["engagement", "profile", "account"])
async def test_level_names_are_unique_within_a_kind_ignoring_case(api: Api, kind: str) -> None:
    # the lead and account filters name a level this way: a twin could never be picked by its name
    first = (await api.post(f"/levels/{kind}", json={"name": "Hot", "min_score": 50, "max_score": 100})).json()
    r = await api.post(f"/levels/{kind}", json={"name": " hot ", "min_score": 0, "max_score": 10})
    article = "a" if kind == "profile" else "an"
    assert r.status_code == 409 and r.json()["error"] == f"{article} {kind} level named 'hot' already exists in this OU"
    other = (await api.post(f"/levels/{kind}", json={"name": "Warm", "min_score": 0, "max_score": 49})).json()
    level_id = first.get("stage_id") or first["level_id"]
    other_id = other.get("stage_id") or other["level_id"]
    r = await api.put(f"/levels/{kind}/{other_id}", json={"name": "HOT"})
    assert r.status_code == 409, r.text
    # a level keeps or recases its own name
    r = await api.put(f"/levels/{kind}/{level_id}", json={"name": "HOT", "max_score": 90})
    assert r.status_code == 200 and r.json()["name"] == "HOT", r.text
    # another kind's names do not count
    kinds = {"engagement", "profile", "account"} - {kind}
    for elsewhere in kinds:
        r = await api.post(f"/levels/{elsewhere}", json={"name": "Hot", "min_score": 0, "max_score": 1})
        assert r.status_code == 201, r.text
    assert [x["name"] for x in (await api.get(f"/levels/{kind}")).json()] == ["Warm", "HOT"]


# -- scoring settings and surge policy -----------------------------------------------------------------------
async def test_scoring_settings_defaults_and_update(api: Api) -> None:
    assert (await api.get("/settings/scoring")).json() == {
        "allow_negative_scores": False,
        "abm_enabled": False,
        "session_timeout_minutes": 30,
    }
    r = await api.put(
        "/settings/scoring", json={"allow_negative_scores": True, "session_timeout_minutes": 45}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"allow_negative_scores": True, "abm_enabled": False, "session_timeout_minutes": 45}
    for bad in (0, 1441, -5):
        r = await api.put("/settings/scoring", json={"session_timeout_minutes": bad})
        assert r.status_code == 400 and "session_timeout_minutes" in r.json()["error"]
    assert (await api.put("/settings/scoring", json={"abm_enabled": "yes"})).status_code == 400
    # the toggles are org-wide, the timeout is per OU
    other = await _other_ou(api)
    assert (await api.get("/settings/scoring", headers=other)).json() == {
        "allow_negative_scores": True,
        "abm_enabled": False,
        "session_timeout_minutes": 30,
    }


async def test_org_toggles_need_an_org_admin(api: Api) -> None:
    operator = await member_headers(api, "operator@example.com", role="Operator")
    r = await api.client.put("/settings/scoring", json={"abm_enabled": True}, headers=operator)
    assert r.status_code == 403 and "abm_enabled" in r.json()["error"]
    # the timeout alone, or toggles sent back unchanged, are fine for an Operator
    r = await api.client.put(
        "/settings/scoring",
        json={"allow_negative_scores": False, "abm_enabled": False, "session_timeout_minutes": 10},
        headers=operator,
    )
    assert r.status_code == 200, r.text
    assert r.json()["session_timeout_minutes"] == 10
    creds = await api.credential()
    r = await api.client.put("/settings/scoring", json={"allow_negative_scores": True}, headers=creds)
    assert r.status_code == 403
    assert (await api.get("/settings/scoring")).json()["allow_negative_scores"] is False


async def test_surge_policy_defaults_follow_session_timeout(api: Api) -> None:
    r = await api.get("/settings/ou/surge-policy")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["mode"] == "standard" and body["saved"] is False and body["unit_id"] == "unit_default"
    assert body["org_id"] and body["idle_reset_seconds"] == 1800 and body["multiplier_cap"] == 2.0
    assert body["bands"] == [
        {"min_events": 1, "multiplier": 1.0},
        {"min_events": 3, "multiplier": 1.25},
        {"min_events": 6, "multiplier": 1.5},
    ]
    await api.put("/settings/scoring", json={"session_timeout_minutes": 10})
    assert (await api.get("/settings/ou/surge-policy")).json()["idle_reset_seconds"] == 600


async def test_the_session_timeout_in_effect_is_one_value_with_a_saved_surge_policy(api: Api) -> None:
    """`GET /settings/scoring` reports the timeout in effect: once a surge policy is saved, its idle reset (the
    settings said the OU's unused timeout, and a PUT of it changed nothing scoring used)."""
    saved = await api.put("/settings/ou/surge-policy", json={"mode": "gentle", "idle_reset_seconds": 600})
    assert saved.status_code == 200, saved.text
    assert (await api.get("/settings/scoring")).json()["session_timeout_minutes"] == 10
    # Sent back whole, the value in effect changes nothing; another value is the policy's idle reset too.
    whole = (await api.get("/settings/scoring")).json()
    assert (await api.put("/settings/scoring", json=whole)).json()["session_timeout_minutes"] == 10
    assert (await api.get("/settings/ou/surge-policy")).json()["idle_reset_seconds"] == 600
    r = await api.put("/settings/scoring", json={"session_timeout_minutes": 20})
    assert r.json()["session_timeout_minutes"] == 20
    policy = (await api.get("/settings/ou/surge-policy")).json()
    assert policy["idle_reset_seconds"] == 1200 and policy["mode"] == "gentle" and policy["saved"] is True
    # Seconds that are not whole minutes: reported to the nearest minute, and kept while that value is sent back.
    await api.put("/settings/ou/surge-policy", json={"mode": "gentle", "idle_reset_seconds": 90})
    assert (await api.get("/settings/scoring")).json()["session_timeout_minutes"] == 2
    await api.put("/settings/scoring", json={"session_timeout_minutes": 2})
    assert (await api.get("/settings/ou/surge-policy")).json()["idle_reset_seconds"] == 90
    await api.put("/settings/ou/surge-policy", json={"mode": "gentle", "idle_reset_seconds": 10})
    assert (await api.get("/settings/scoring")).json()["session_timeout_minutes"] == 1


async def test_sessions_follow_the_timeout_the_settings_report(api: Api) -> None:
    """Two events 15 minutes apart: with a saved policy of 10 minutes idle and the settings then set to 20, they
    are one session (the policy's old 10 minutes made two while the settings said 20)."""
    await api.put("/settings/ou/surge-policy", json={"mode": "standard", "idle_reset_seconds": 600})
    await api.put("/settings/scoring", json={"session_timeout_minutes": 20})
    base = 1_700_000_000_000
    for n, minutes in enumerate((0, 15)):
        r = await api.post("/ingest", json={"lead_id": "ld_sess", "event_type": "page_view", "event_id": f"ev_s{n}",
                                            "timestamp": to_rfc3339(base + minutes * 60_000)})
        assert r.status_code == 202, r.text
    await wait_idle(api)
    lead = (await api.get("/leads", params={"q": "ld_sess"})).json()["leads"]
    assert [(row["id"], row["session_count"]) for row in lead] == [("ld_sess", 1)]


async def test_surge_policy_upsert_and_validation(api: Api) -> None:
    r = await api.put(
        "/settings/ou/surge-policy",
        json={
            "mode": "custom",
            "bands": [{"min_events": 4, "multiplier": 2}, {"min_events": 1, "multiplier": 1}],
            "idle_reset_seconds": 120,
            "multiplier_cap": 2.5,
            "unit_id": "ignored",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["saved"] is True and body["unit_id"] == "unit_default" and body["mode"] == "custom"
    assert body["bands"] == [{"min_events": 1, "multiplier": 1.0}, {"min_events": 4, "multiplier": 2.0}]
    assert body["idle_reset_seconds"] == 120 and body["multiplier_cap"] == 2.5
    got = (await api.get("/settings/ou/surge-policy")).json()
    assert {k: got[k] for k in ("mode", "bands", "idle_reset_seconds", "multiplier_cap")} == {
        k: body[k] for k in ("mode", "bands", "idle_reset_seconds", "multiplier_cap")
    }
    # a preset ignores sent bands and takes its cap; idle left out keeps the one in effect (the saved policy's)
    r = await api.put(
        "/settings/ou/surge-policy", json={"mode": "gentle", "bands": [{"min_events": 2, "multiplier": 3}]}
    )
    assert r.json()["bands"][1] == {"min_events": 3, "multiplier": 1.1}
    assert r.json()["multiplier_cap"] == 1.5 and r.json()["idle_reset_seconds"] == 120
    for bad, field in (
        ({"mode": "turbo"}, "mode"),
        ({"mode": "custom"}, "bands"),
        ({"mode": "custom", "bands": []}, "bands"),
        ({"mode": "custom", "bands": [{"min_events": 0, "multiplier": 1}]}, "min_events"),
        ({"mode": "custom", "bands": [{"min_events": 1, "multiplier": 0}]}, "multiplier"),
        (
            {
                "mode": "custom",
                "bands": [{"min_events": 1, "multiplier": 1}, {"min_events": 1, "multiplier": 2}],
            },
            "min_events",
        ),
        ({"mode": "standard", "multiplier_cap": 3.5}, "multiplier_cap"),
        ({"mode": "standard", "multiplier_cap": 0.5}, "multiplier_cap"),
        ({"mode": "standard", "idle_reset_seconds": 0}, "idle_reset_seconds"),
        ({"bands": []}, "mode"),
    ):
        r = await api.put("/settings/ou/surge-policy", json=bad)
        assert r.status_code == 400, (bad, r.text)
        assert field in r.json()["error"], (bad, r.text)
    assert (await api.get("/settings/ou/surge-policy")).json()["mode"] == "gentle"


async def test_surge_policy_needs_a_user_session(api: Api) -> None:
    creds = await api.credential()
    assert (await api.client.get("/settings/ou/surge-policy", headers=creds)).status_code == 401
    assert (await api.client.get("/settings/event-types", headers=creds)).status_code == 401
    assert (await api.client.get("/rulesets", headers=creds)).status_code == 200


async def test_an_event_types_first_and_last_seen_are_its_earliest_and_latest_events(api: Api) -> None:
    # One batch holding two times, then a late event: first seen was the first batch's latest time, and never moved.
    from tests.helpers import wait_idle

    batch = [{"lead_id": "ld_fs", "event_type": "fs_type", "timestamp": t}
             for t in ("2025-03-01T00:00:00Z", "2025-01-01T00:00:00Z")]
    assert (await api.post("/ingest/batch", json={"events": batch})).status_code == 202
    await wait_idle(api)
    late = {"lead_id": "ld_fs", "event_type": "FS Type", "timestamp": "2024-01-01T00:00:00Z"}
    assert (await api.post("/ingest", json=late)).status_code == 202
    await wait_idle(api)
    row = next(x for x in (await api.get("/settings/event-types")).json() if x["type_key"] == "fs_type")
    assert (row["event_count"], row["first_seen_at"], row["last_seen_at"]) == (
        3, "2024-01-01T00:00:00Z", "2025-03-01T00:00:00Z")


# -- event-type settings (without events) --------------------------------------------------------------------
async def test_event_type_settings_upsert_before_any_event(api: Api) -> None:
    assert (await api.get("/settings/event-types")).json() == []
    r = await api.put("/settings/event-types/Page%20View", json={"hidden": True})
    assert r.status_code == 200, r.text
    assert r.json()["type_key"] == "page_view" and r.json()["hidden"] is True
    assert r.json()["max_processing_scope"] == "activate" and r.json()["event_count"] == 0
    r = await api.put("/settings/event-types/page-view", json={"max_processing_scope": "observe"})
    assert r.json()["hidden"] is True and r.json()["max_processing_scope"] == "observe"
    listed = (await api.get("/settings/event-types")).json()
    assert [(x["type_key"], x["hidden"], x["max_processing_scope"]) for x in listed] == [
        ("page_view", True, "observe")
    ]
    r = await api.put("/settings/event-types/page_view", json={"max_processing_scope": "everything"})
    assert r.status_code == 400 and "max_processing_scope" in r.json()["error"]
    r = await api.get("/settings/event-types/page_view/delete-preview")
    assert r.json() == {
        "event_type": "page_view",
        "events_count": 0,
        "event_scores_count": 0,
        "leads_affected": 0,
    }
    assert (await api.put("/settings/event-types/%20", json={"hidden": True})).status_code == 400


# -- roles and tenancy ---------------------------------------------------------------------------------------
async def test_viewer_reads_but_cannot_write(api: Api) -> None:
    rule = (await api.post("/rules", json={"event_type": "open", "weight": 1})).json()
    f = (
        await api.post("/filters", json={"event_type": "open", "count_threshold": 1, "time_window_ms": 10})
    ).json()
    level = (
        await api.post("/levels/engagement", json={"name": "Hot", "min_score": 1, "max_score": 2})
    ).json()
    viewer = await member_headers(api)
    rs = rule["ruleset_id"]
    for path in (
        "/rulesets",
        f"/rulesets/{rs}/rules",
        "/rules",
        "/filters",
        "/levels/engagement",
        "/levels/profile",
        "/levels/account",
        "/settings/scoring",
        "/settings/ou/surge-policy",
        "/settings/event-types",
    ):
        r = await api.client.get(path, headers=viewer)
        assert r.status_code == 200, (path, r.text)
    r = await api.client.post(f"/rulesets/{rs}/backtest", json={"rules": []}, headers=viewer)
    assert r.status_code == 200, r.text
    writes = [
        ("POST", "/rulesets", {"name": "x"}),
        ("PUT", f"/rulesets/{rs}", {"name": "x"}),
        ("DELETE", f"/rulesets/{rs}", None),
        ("POST", f"/rulesets/{rs}/rescore", None),
        ("POST", "/rules", {"event_type": "x", "weight": 1}),
        ("PUT", f"/rules/{rule['rule_id']}", {"weight": 2}),
        ("DELETE", f"/rules/{rule['rule_id']}", None),
        ("POST", "/filters", {"event_type": "x", "count_threshold": 1, "time_window_ms": 1}),
        ("PUT", f"/filters/{f['filter_id']}", {"count_threshold": 2}),
        ("DELETE", f"/filters/{f['filter_id']}", None),
        ("POST", "/levels/engagement", {"name": "x", "min_score": 0, "max_score": 1}),
        ("PUT", f"/levels/engagement/{level['stage_id']}", {"name": "y"}),
        ("DELETE", f"/levels/engagement/{level['stage_id']}", None),
        ("POST", "/levels/profile", {"name": "x", "min_score": 0, "max_score": 1}),
        ("PUT", "/settings/scoring", {"session_timeout_minutes": 5}),
        ("PUT", "/settings/ou/surge-policy", {"mode": "off"}),
        ("PUT", "/settings/event-types/open", {"hidden": True}),
        ("GET", "/settings/event-types/open/delete-preview", None),
        ("DELETE", "/settings/event-types/open", None),
    ]
    for method, path, body in writes:
        kw = {"json": body} if body is not None else {}
        r = await api.client.request(method, path, headers=viewer, **kw)
        assert r.status_code == 403, (method, path, r.text)
    assert len((await api.get("/rules")).json()) == 1


async def test_ids_of_another_ou_answer_404(api: Api) -> None:
    rule = (await api.post("/rules", json={"event_type": "open", "weight": 1})).json()
    rs = rule["ruleset_id"]
    f = (
        await api.post("/filters", json={"event_type": "open", "count_threshold": 1, "time_window_ms": 10})
    ).json()
    st = (await api.post("/levels/engagement", json={"name": "Hot", "min_score": 1, "max_score": 2})).json()
    lv = (await api.post("/levels/profile", json={"name": "Fit", "min_score": 1, "max_score": 2})).json()
    await api.put("/settings/event-types/open", json={"hidden": True})
    other = await _other_ou(api)
    for method, path, body in [
        ("PUT", f"/rulesets/{rs}", {"name": "x"}),
        ("DELETE", f"/rulesets/{rs}", None),
        ("GET", f"/rulesets/{rs}/rules", None),
        ("POST", f"/rulesets/{rs}/backtest", {"rules": []}),
        ("GET", f"/rules?ruleset_id={rs}", None),
        ("POST", "/rules", {"ruleset_id": rs, "event_type": "x", "weight": 1}),
        ("PUT", f"/rules/{rule['rule_id']}", {"weight": 2}),
        ("DELETE", f"/rules/{rule['rule_id']}", None),
        ("PUT", f"/filters/{f['filter_id']}", {"count_threshold": 2}),
        ("DELETE", f"/filters/{f['filter_id']}", None),
        ("PUT", f"/levels/engagement/{st['stage_id']}", {"name": "y"}),
        ("DELETE", f"/levels/engagement/{st['stage_id']}", None),
        ("PUT", f"/levels/profile/{lv['level_id']}", {"name": "y"}),
        ("DELETE", f"/levels/profile/{lv['level_id']}", None),
    ]:
        kw = {"json": body} if body is not None else {}
        r = await api.client.request(method, path, headers=other, **kw)
        assert r.status_code == 404, (method, path, r.text)
    for path in (
        "/rulesets",
        "/rules",
        "/filters",
        "/levels/engagement",
        "/levels/profile",
        "/settings/event-types",
    ):
        assert (await api.client.get(path, headers=other)).json() == [], path
    assert (await api.client.get("/settings/ou/surge-policy", headers=other)).json()["saved"] is False
    # and nothing of the first OU changed
    assert len((await api.get("/rules")).json()) == 1 and len((await api.get("/filters")).json()) == 1


async def test_config_writes_invalidate_the_cache(api: Api) -> None:
    calls: list[str] = []

    class Spy:
        def invalidate(self, unit_id: str | None = None) -> None:
            calls.append(str(unit_id))

    saved = api.rt.scoring_config
    api.rt.scoring_config = Spy()  # type: ignore[assignment]
    try:
        rs = (await _ruleset(api, "Main"))["ruleset_id"]
        rule = (await api.post("/rules", json={"event_type": "x", "weight": 1})).json()
        await api.put(f"/rules/{rule['rule_id']}", json={"weight": 2})
        await api.post("/filters", json={"event_type": "x", "count_threshold": 1, "time_window_ms": 5})
        await api.post("/levels/engagement", json={"name": "a", "min_score": 0, "max_score": 1})
        await api.put("/settings/ou/surge-policy", json={"mode": "off"})
        await api.put("/settings/event-types/x", json={"hidden": True})
        await api.put("/settings/scoring", json={"session_timeout_minutes": 9})
        await api.put(f"/rulesets/{rs}", json={"active": True})
        assert calls == ["unit_default"] * 9
        calls.clear()
        other = await _other_ou(api)
        await api.put("/settings/scoring", json={"allow_negative_scores": True})
        assert sorted(calls) == sorted(["unit_default", other["X-OU-ID"]])
    finally:
        api.rt.scoring_config = saved


async def test_operations_are_documented(api: Api) -> None:
    doc = (await api.client.get("/schema/openapi.json")).json()
    ops = {(m.upper(), p): o for p, item in doc["paths"].items() for m, o in item.items()}
    assert ops[("POST", "/rules")]["summary"] == "Create scoring rule (OU-scoped)"
    assert ops[("GET", "/rulesets")]["operationId"] == "listRulesets"
    assert ops[("PUT", "/settings/ou/surge-policy")]["summary"] == "Upsert OU surge session policy"
    assert ("DELETE", "/settings/event-types/{event_type}") in ops
