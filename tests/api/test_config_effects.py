"""Scoring configuration takes effect on ingested events: rules, filters, scopes, rescore, backtest and
deleting every event of a type."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.helpers import on_app_loop, wait_idle


async def _ingest(api: Api, creds: dict[str, str], lead: str, event_type: str, **kw: Any) -> None:
    r = await api.client.post(
        "/ingest", json={"lead_id": lead, "event_type": event_type, **kw}, headers=creds
    )
    assert r.status_code == 202, r.text


async def _scores(api: Api, ruleset_id: str) -> dict[str, int]:
    rows = await api.rt.db.read(
        lambda c: c.execute(
            "SELECT lead_id, score FROM lead_scores WHERE unit_id = 'unit_default' AND ruleset_id = ?",
            (ruleset_id,),
        ).fetchall()
    )
    return {r[0]: r[1] for r in rows}


async def _delta_sums(api: Api, ruleset_id: str) -> dict[str, int]:
    rows = await api.rt.db.read(
        lambda c: c.execute(
            "SELECT lead_id, SUM(delta) FROM event_scores WHERE unit_id = 'unit_default' AND ruleset_id = ?"
            " GROUP BY lead_id",
            (ruleset_id,),
        ).fetchall()
    )
    return {r[0]: r[1] for r in rows}


async def _snapshot(api: Api) -> tuple[Any, ...]:
    def run(c: Any) -> tuple[Any, ...]:
        return tuple(
            tuple(c.execute(sql).fetchall())
            for sql in (
                "SELECT * FROM lead_scores ORDER BY 1, 2, 3",
                "SELECT * FROM event_scores ORDER BY 1, 2",
                "SELECT * FROM events ORDER BY seq",
                "SELECT * FROM leads ORDER BY rowid",
            )
        )

    return await api.rt.db.read(run)


async def _setup(api: Api) -> tuple[dict[str, str], str]:
    """Surge off (so weights are exact), one rule `Page View` = 5; returns (credential, ruleset id)."""
    assert (await api.put("/settings/ou/surge-policy", json={"mode": "off"})).status_code == 200
    rule = (await api.post("/rules", json={"event_type": "Page View", "weight": 5})).json()
    return await api.credential(), rule["ruleset_id"]


async def test_rule_changes_apply_to_the_next_event(api: Api) -> None:
    creds, rs = await _setup(api)
    await _ingest(api, creds, "ld_a", "page_view")
    await wait_idle(api)
    assert (await _scores(api, rs)) == {"ld_a": 5}
    rule_id = (await api.get("/rules")).json()[0]["rule_id"]
    await api.put(f"/rules/{rule_id}", json={"weight": 10})
    await api.post("/rules", json={"event_type": "signup", "weight": 20})
    await _ingest(api, creds, "ld_a", "page-view")
    await _ingest(api, creds, "ld_a", "Signup")
    await wait_idle(api)
    assert (await _scores(api, rs)) == {"ld_a": 35}
    assert (await _delta_sums(api, rs)) == {"ld_a": 35}


async def test_filters_and_observe_scope_apply_to_the_next_event(api: Api) -> None:
    creds, rs = await _setup(api)
    await api.post(
        "/filters", json={"event_type": "page_view", "count_threshold": 1, "time_window_ms": 3_600_000}
    )
    for _ in range(3):
        await _ingest(api, creds, "ld_f", "page_view")
    await wait_idle(api)
    assert (await _scores(api, rs)) == {"ld_f": 5}
    await api.post("/rules", json={"event_type": "email_open", "weight": 7})
    await api.put("/settings/event-types/Email Open", json={"max_processing_scope": "observe"})
    await _ingest(api, creds, "ld_g", "email_open")
    await wait_idle(api)
    assert (await _scores(api, rs)).get("ld_g", 0) == 0
    listed = {x["type_key"]: x for x in (await api.get("/settings/event-types")).json()}
    assert listed["email_open"]["max_processing_scope"] == "observe"
    assert listed["page_view"]["event_count"] == 3


async def test_rescore_with_unchanged_rules_changes_nothing(api: Api) -> None:
    creds, rs = await _setup(api)
    await api.put("/settings/ou/surge-policy", json={"mode": "standard"})
    await api.post("/rules", json={"event_type": "unsubscribe", "weight": -50})
    for lead in ("ld_1", "ld_2", "ld_3"):
        for _ in range(4):
            await _ingest(api, creds, lead, "page_view")
    await _ingest(api, creds, "ld_3", "unsubscribe")
    await wait_idle(api)
    before = await _scores(api, rs)
    assert before["ld_3"] == 0 and before["ld_1"] > 20  # surge and the floor at work
    r = await api.post(f"/rulesets/{rs}/rescore")
    assert r.status_code == 200, r.text
    assert r.json() == {"ruleset_id": rs, "leads_rescored": 3, "changed": 0}
    assert (await _scores(api, rs)) == before
    # with a changed rule, the rescore moves the scores and keeps score == sum of deltas
    rule_id = next(x["rule_id"] for x in (await api.get("/rules")).json() if x["event_type"] == "Page View")
    await api.put(f"/rules/{rule_id}", json={"weight": 1})
    r = await api.post(f"/rulesets/{rs}/rescore")
    assert r.json()["changed"] == 2  # ld_3 stays floored at 0
    after = await _scores(api, rs)
    assert after["ld_1"] < before["ld_1"] and after["ld_3"] == 0
    assert {k: v for k, v in (await _delta_sums(api, rs)).items()} == after
    # an inactive ruleset is not rescored; an unknown one is 404
    await api.put(f"/rulesets/{rs}", json={"active": False})
    assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 409
    assert (await api.post("/rulesets/rs_nope/rescore")).status_code == 404


async def test_backtest_writes_nothing_and_reports_level_changes(api: Api) -> None:
    creds, rs = await _setup(api)
    await api.post("/levels/engagement", json={"name": "Cold", "min_score": 0, "max_score": 9})
    hot = (
        await api.post("/levels/engagement", json={"name": "Hot", "min_score": 10, "max_score": 1000})
    ).json()
    for lead, n in (("ld_1", 1), ("ld_2", 3)):
        for _ in range(n):
            await _ingest(api, creds, lead, "page_view")
    await _ingest(api, creds, "ld_3", "webinar_join")
    await wait_idle(api)
    assert (await api.patch("/leads/ld_2/metadata", json={"name": "Ada Lovelace"})).status_code == 200
    before = await _snapshot(api)
    # the current rules reproduce the stored scores
    r = await api.post(f"/rulesets/{rs}/backtest", json={"rules": [{"event_type": "page view", "weight": 5}]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["leads_evaluated"] == 3 and body["leads_changed"] == 0 and body["level_changes"] == 0
    assert body["total_old_score"] == body["total_new_score"] == 20
    # a draft doubles page views and scores webinars
    r = await api.post(
        f"/rulesets/{rs}/backtest",
        json={
            "rules": [
                {"event_type": "page_view", "weight": 10},
                {"event_type": "Webinar Join", "weight": 2},
                {"event_type": "page_view", "weight": 100, "active": False},
                {
                    "event_type": "page_view",
                    "weight": 100,
                    "start_at": "2000-01-01T00:00:00Z",
                    "end_at": "2000-01-02T00:00:00Z",
                },
            ]
        },
    )
    body = r.json()
    by_lead = {x["lead_id"]: x for x in body["leads"]}
    assert by_lead["ld_2"]["old_score"] == 15 and by_lead["ld_2"]["new_score"] == 30
    assert by_lead["ld_2"]["lead_name"] == "Ada Lovelace" and by_lead["ld_1"]["lead_name"] is None
    assert by_lead["ld_1"]["new_score"] == 10 and by_lead["ld_1"]["level_changed"] is True
    assert by_lead["ld_1"]["old_level"]["name"] == "Cold"
    assert by_lead["ld_1"]["new_level"] == {"stage_id": hot["stage_id"], "name": "Hot"}
    assert by_lead["ld_3"]["new_score"] == 2 and by_lead["ld_3"]["old_score"] == 0
    assert body["leads_changed"] == 3 and body["level_changes"] == 1 and body["total_new_score"] == 42
    assert body["leads"][0]["lead_id"] == "ld_2"  # largest change first
    # every lead is evaluated; `limit` bounds the list (largest changes first)
    r = await api.post(f"/rulesets/{rs}/backtest", json={"rules": [], "limit": 2})
    body = r.json()
    assert body["leads_evaluated"] == 3 and body["truncated"] is True and len(body["leads"]) == 2
    assert [x["lead_id"] for x in body["leads"]] == ["ld_2", "ld_1"]
    assert body["total_new_score"] == 0 and body["total_old_score"] == 20 and body["leads_changed"] == 2
    for bad, field in (
        ({"rules": [{"event_type": "", "weight": 1}]}, "rules[0].event_type"),
        ({"rules": [{"event_type": "x"}]}, "weight"),
        ({"rules": [], "limit": 0}, "limit"),
        ({}, "rules"),
        (
            {
                "rules": [
                    {
                        "event_type": "x",
                        "weight": 1,
                        "start_at": "2025-02-01T00:00:00Z",
                        "end_at": "2025-01-01T00:00:00Z",
                    }
                ]
            },
            "rules[0].start_at",
        ),
    ):
        r = await api.post(f"/rulesets/{rs}/backtest", json=bad)
        assert r.status_code == 400 and field in r.json()["error"], (bad, r.text)
    assert (await _snapshot(api)) == before


async def test_delete_event_type_reaches_events_not_scored_yet(api: Api) -> None:
    # Acknowledged events still in the inbox were stored after the answer said every event of the type was gone.
    creds, _ = await _setup(api)
    await _ingest(api, creds, "ld_1", "page_view")
    await wait_idle(api)
    worker = api.rt.worker
    assert worker is not None
    await on_app_loop(api, worker.stop)
    try:
        for lead, event_type in (("ld_1", "Page View"), ("ld_2", "page-view"), ("ld_2", "signup")):
            await _ingest(api, creds, lead, event_type)
        assert (await api.get("/settings/event-types/page_view/delete-preview")).json()["events_count"] == 3
        r = await api.delete("/settings/event-types/page_view")
        assert r.status_code == 200 and r.json()["events_deleted"] == 3, r.text
    finally:
        await on_app_loop(api, worker.start)
    await wait_idle(api)
    left = await api.rt.db.read(lambda c: c.execute(
        "SELECT type_key FROM events WHERE unit_id = 'unit_default' ORDER BY seq").fetchall())
    assert [tuple(x) for x in left] == [("signup",)]


async def test_delete_event_type_recomputes_scores(api: Api) -> None:
    creds, rs = await _setup(api)
    await api.post("/rules", json={"event_type": "signup", "weight": 20})
    await api.put("/settings/event-types/Page View", json={"hidden": True})
    for lead in ("ld_1", "ld_2"):
        await _ingest(api, creds, lead, "page_view")
        await _ingest(api, creds, lead, "Page View")
    await _ingest(api, creds, "ld_1", "signup")
    # Stored only: never the lead's activity, before the deletion or in its recompute.
    await api.put("/settings/event-types/visit", json={"max_processing_scope": "observe"})
    await _ingest(api, creds, "ld_1", "visit")
    await wait_idle(api)
    assert (await _scores(api, rs)) == {"ld_1": 30, "ld_2": 10}
    r = await api.get("/settings/event-types/page-view/delete-preview")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "event_type": "page_view",
        "events_count": 4,
        "event_scores_count": 4,
        "leads_affected": 2,
    }
    assert (await _scores(api, rs)) == {"ld_1": 30, "ld_2": 10}  # the preview changed nothing
    r = await api.delete("/settings/event-types/PAGE%20VIEW")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "event_type": "page_view",
        "events_deleted": 4,
        "event_scores_deleted": 4,
        "leads_rescored": 2,
    }
    after = await _scores(api, rs)
    assert after["ld_1"] == 20 and after.get("ld_2", 0) == 0
    assert {k: v for k, v in (await _delta_sums(api, rs)).items() if v} == {"ld_1": 20}
    left = await api.rt.db.read(
        lambda c: c.execute(
            "SELECT COUNT(*) FROM events WHERE unit_id = 'unit_default' AND type_key = 'page_view'"
        ).fetchone()[0]
    )
    assert left == 0
    activity = await api.rt.db.read(
        lambda c: c.execute(
            "SELECT id, last_event_type, last_event_at IS NULL FROM leads WHERE unit_id = 'unit_default'"
            " ORDER BY id"
        ).fetchall()
    )
    assert [tuple(x) for x in activity] == [("ld_1", "signup", 0), ("ld_2", None, 1)]
    same = await api.rt.db.read(lambda c: c.execute(
        "SELECT count(*) FROM leads WHERE last_event_at IS NOT last_organic_at").fetchone()[0])
    assert same == 0
    keys = await api.rt.db.read(lambda c: c.execute("SELECT id, last_type_key FROM leads ORDER BY id").fetchall())
    assert [tuple(k) for k in keys] == [("ld_1", "signup"), ("ld_2", None)]
    # the settings outlive the events
    listed = (await api.get("/settings/event-types")).json()
    assert [
        (x["type_key"], x["hidden"], x["event_count"]) for x in listed if x["type_key"] == "page_view"
    ] == [("page_view", True, 0)]
    r = await api.delete("/settings/event-types/page_view")
    assert r.json()["events_deleted"] == 0 and r.json()["leads_rescored"] == 0


async def test_delete_ruleset_takes_its_scores(api: Api) -> None:
    creds, rs = await _setup(api)
    second = (await api.post("/rulesets", json={"name": "Second"})).json()["ruleset_id"]
    await api.post("/rules", json={"ruleset_id": second, "event_type": "page_view", "weight": 3})
    await _ingest(api, creds, "ld_1", "page_view")
    await wait_idle(api)
    assert (await _scores(api, second)) == {"ld_1": 3}
    assert (await api.delete(f"/rulesets/{second}")).status_code == 204
    assert (await _scores(api, second)) == {} and (await _delta_sums(api, second)) == {}
    assert (await _scores(api, rs)) == {"ld_1": 5}


async def test_an_event_type_setting_of_neither_field_is_a_400_that_makes_no_type(api: Api) -> None:
    for body in ({}, {"scope": "decide"}):
        r = await api.put("/settings/event-types/never_sent", json=body)
        assert r.status_code == 400 and "give `hidden`" in r.json()["error"], (body, r.text)
    assert all(t["type_key"] != "never_sent" for t in (await api.get("/settings/event-types")).json())
