"""Triggers through HTTP: CRUD and validation of the four kinds, roles and tenancy, SSRF refusals at save
time,
live evaluation through /ingest (milestone once, sequence order, surge events), simulate agreeing with live
firing, emitted-event lists and formula-safe CSV exports, surge metrics."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from leadvibe.timeutil import to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, member_headers, wait_deleted, wait_idle

PUBLIC_HOOK = "https://93.184.216.34/hook"  # a public IP literal: passes the guard without DNS


async def _ingest(api: Api, lead: str, event_type: str, ts_ms: int | None = None, **extra: Any) -> None:
    body: dict[str, Any] = {"lead_id": lead, "event_type": event_type, **extra}
    if ts_ms is not None:
        body["timestamp"] = to_rfc3339(ts_ms)
    r = await api.post("/ingest", json=body)
    assert r.status_code == 202, r.text


# ------------------------------------------------------------------------------------------------ CRUD


async def test_milestone_crud_round_trip(api: Api) -> None:
    body = {
        "event_type": "Demo Request",
        "score_threshold": 50,
        "webhook_url": PUBLIC_HOOK,
        "emails": ["sales@example.com", "SALES@example.com", "ops@example.com"],
        "email_subject": "{{lead_id}} is hot",
        "email_preheader": "score {{score}}",
        "email_message": "Lead {{lead_id}} reached {{score}}",
        "slack_target_kind": "channel",
        "slack_target_id": "C123",
        "teams_target_kind": "channel",
        "teams_target_id": "T9",
        "lead_attribute_filters": [{"field": "country", "operator": "equals", "value": "DE"}],
        "profile_filters": [{"property": "size", "op": "Greater_Than", "value": 10}],
    }
    r = await api.post("/triggers/milestones", json=body)
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["trigger_id"].startswith("tr_") and t["org_id"] and t["unit_id"] == "unit_default"
    assert t["event_type"] == "Demo Request" and t["score_threshold"] == 50
    assert t["emails"] == ["sales@example.com", "ops@example.com"]
    assert t["name"] == "Score ≥ 50 on Demo Request" and t["active"] is True and t["fire_mode"] == "once"
    assert t["lead_attribute_filters"] == [{"field": "country", "operator": "equals", "value": "DE"}]
    assert t["profile_filters"] == [{"field": "size", "operator": "greater_than", "value": "10"}]
    assert t["slack_target_id"] == "C123" and t["teams_target_id"] == "T9"
    assert t["created_at"].endswith("Z") and t["created_by"]

    listed = (await api.get("/triggers/milestones")).json()
    assert [x["trigger_id"] for x in listed] == [t["trigger_id"]]

    r = await api.put(
        f"/triggers/milestones/{t['trigger_id']}",
        json={"score_threshold": 60, "name": "Hot", "webhook_url": ""},
    )
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["score_threshold"] == 60 and u["name"] == "Hot" and u["webhook_url"] is None
    assert u["event_type"] == "Demo Request" and u["emails"] == t["emails"]  # absent fields unchanged

    assert (await api.delete(f"/triggers/milestones/{t['trigger_id']}")).status_code == 204
    assert (await api.get("/triggers/milestones")).json() == []
    assert (await api.delete(f"/triggers/milestones/{t['trigger_id']}")).status_code == 404


async def test_sequence_pattern_and_surge_crud(api: Api) -> None:
    r = await api.post(
        "/triggers/sequences",
        json={
            "event_types": ["Page View", "Pricing", "Demo"],
            "window_seconds": 10,
            "window_unit": "minutes",
            "ordered": True,
            "fire_mode": "every",
            "emails": ["a@example.com"],
        },
    )
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["event_steps"] == s["event_types"] == ["Page View", "Pricing", "Demo"]
    assert s["window_seconds"] == 10 and s["window_unit"] == "minutes" and s["fire_mode"] == "every"
    assert s["name"] == "Page View → Pricing → Demo"
    r = await api.put(
        f"/triggers/sequences/{s['trigger_id']}", json={"ordered": False, "window_unit": "hours"}
    )
    assert r.status_code == 200 and r.json()["ordered"] is False and r.json()["window_unit"] == "hours"

    r = await api.post(
        "/triggers/patterns",
        json={
            "name": "Busy",
            "window_seconds": 3600,
            "conditions": [{"event_type": "page_view", "min_count": 3}],
        },
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["conditions"] == [{"event_type": "page_view", "min_count": 3}] and p["window_unit"] == "seconds"
    assert (await api.get("/triggers/patterns")).json()[0]["name"] == "Busy"
    # A condition's count under another name would have been a condition of one event: refused, nothing changed.
    for sent in ({"event_type": "page_view", "count": 3}, {"event_type": "page_view", "min_count": 2, "within": 5}):
        r = await api.put(f"/triggers/patterns/{p['trigger_id']}", json={"conditions": [sent]})
        unknown = next(k for k in sent if k not in ("event_type", "min_count"))
        assert (r.status_code, r.json()["error"]) == (400, f"`{unknown}` is not a known field of `conditions[0]`")
    assert (await api.get("/triggers/patterns")).json()[0]["conditions"] == p["conditions"]
    r = await api.post("/triggers/patterns",
                       json={"window_seconds": 60, "conditions": [{"event_type": "x", "count": 3}]})
    assert r.status_code == 400 and len((await api.get("/triggers/patterns")).json()) == 1
    assert (await api.delete(f"/triggers/patterns/{p['trigger_id']}")).status_code == 204

    r = await api.post(
        "/surge-triggers",
        json={
            "event_type": "page_view",
            "window_seconds": 5,
            "window_unit": "minutes",
            "threshold_count": 4,
            "webhook_url": PUBLIC_HOOK,
        },
    )
    assert r.status_code == 201, r.text
    g = r.json()
    assert g["threshold_count"] == 4 and g["webhook_url"] == PUBLIC_HOOK
    r = await api.put(f"/surge-triggers/{g['trigger_id']}", json={"threshold_count": 6})
    assert r.json()["threshold_count"] == 6
    assert [x["trigger_id"] for x in (await api.get("/surge-triggers")).json()] == [g["trigger_id"]]
    assert (await api.delete(f"/surge-triggers/{g['trigger_id']}")).status_code == 204


async def test_a_trigger_named_by_what_it_watches_is_named_as_the_ou_names_its_types(api: Api) -> None:
    await _ingest(api, "ld_1", "page_view")
    await wait_idle(api)
    r = await api.post("/surge-triggers", json={"event_type": "Page View", "window_seconds": 1,
                                                "window_unit": "days", "threshold_count": 3, "emails": ["a@b.co"]})
    assert r.status_code == 201, r.text
    surge = r.json()
    # The OU's spelling of the type, a window of one day in the singular.
    assert surge["name"] == "3+ page_view in 1 day" and surge["event_type"] == "Page View"
    # An edit of the definition renames a trigger named by it...
    r = await api.put(f"/surge-triggers/{surge['trigger_id']}", json={"threshold_count": 5, "window_seconds": 2})
    assert r.status_code == 200 and r.json()["name"] == "5+ page_view in 2 days"

    r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 100000})
    milestone = r.json()
    assert milestone["name"] == "Score ≥ 100,000"
    r = await api.put(f"/triggers/milestones/{milestone['trigger_id']}", json={"event_type": "PAGE-VIEW"})
    assert r.json()["name"] == "Score ≥ 100,000 on page_view"

    r = await api.post("/triggers/patterns", json={"window_seconds": 1, "window_unit": "hours",
                                                   "conditions": [{"event_type": "Page View", "min_count": 2},
                                                                  {"event_type": "Pricing", "min_count": 1}]})
    assert r.json()["name"] == "2 x page_view, 1 x Pricing in 1 hour"
    r = await api.post("/triggers/sequences", json={"event_types": ["page-view", "demo"], "window_seconds": 5,
                                                    "emails": ["a@b.co"]})
    assert r.json()["name"] == "page_view → demo"

    # ...and a name a person gave stays through any edit.
    r = await api.put(f"/surge-triggers/{surge['trigger_id']}", json={"name": "Pricing storm"})
    assert r.json()["name"] == "Pricing storm"
    r = await api.put(f"/surge-triggers/{surge['trigger_id']}", json={"threshold_count": 9})
    assert r.json()["name"] == "Pricing storm"


@pytest.mark.parametrize(
    "path,body,needle",
    [
        ("/triggers/milestones", {"score_threshold": 5}, "event_type"),
        ("/triggers/milestones", {"event_type": ""}, "score_threshold"),
        ("/triggers/milestones", {"event_type": "", "score_threshold": 5, "emails": ["nope"]}, "emails"),
        (
            "/triggers/milestones",
            {"event_type": "", "score_threshold": 5, "email_subject": "a\nb"},
            "email_subject",
        ),
        (
            "/triggers/milestones",
            {"event_type": "", "score_threshold": 5, "slack_target_kind": "room", "slack_target_id": "x"},
            "slack_target_kind",
        ),
        (
            "/triggers/milestones",
            {"event_type": "", "score_threshold": 5, "slack_target_kind": "channel"},
            "slack_target",
        ),
        (
            "/triggers/milestones",
            {
                "event_type": "",
                "score_threshold": 5,
                "lead_attribute_filters": [{"field": "x", "operator": "resembles"}],
            },
            "operator",
        ),
        ("/triggers/milestones", {"event_type": "", "score_threshold": 5, "fire_mode": "twice"}, "fire_mode"),
        (
            "/triggers/sequences",
            {"event_types": [], "window_seconds": 5, "emails": ["a@b.co"]},
            "event_types",
        ),
        (
            "/triggers/sequences",
            {"event_types": ["a", " "], "window_seconds": 5, "emails": ["a@b.co"]},
            "event_types",
        ),
        ("/triggers/sequences", {"event_types": ["a"], "window_seconds": 0, "emails": ["a@b.co"]}, "window"),
        (
            "/triggers/sequences",
            {"event_types": ["a"], "window_seconds": 5, "window_unit": "weeks", "emails": ["a@b.co"]},
            "unit",
        ),
        ("/triggers/sequences", {"event_types": ["a"], "emails": ["a@b.co"]}, "window_seconds"),
        ("/triggers/sequences", {"event_types": ["a", "b"], "window_seconds": 5}, "destination"),
        ("/triggers/patterns", {"conditions": [], "window_seconds": 5}, "conditions"),
        (
            "/triggers/patterns",
            {"conditions": [{"event_type": "a", "min_count": 0}], "window_seconds": 5},
            "min_count",
        ),
        ("/triggers/patterns", {"conditions": [{"event_type": "a"}], "window_seconds": -1}, "window"),
        ("/surge-triggers", {"window_seconds": 5, "threshold_count": 2}, "exactly one"),
        (
            "/surge-triggers",
            {"window_seconds": 5, "threshold_count": 2, "webhook_url": PUBLIC_HOOK, "emails": ["a@b.co"]},
            "exactly one",
        ),
        (
            "/surge-triggers",
            {"window_seconds": 5, "threshold_count": 0, "emails": ["a@b.co"]},
            "threshold_count",
        ),
        ("/surge-triggers", {"threshold_count": 2, "emails": ["a@b.co"]}, "window_seconds"),
    ],
)
async def test_validation_errors_are_400_naming_the_field(
    api: Api, path: str, body: dict[str, Any], needle: str
) -> None:
    r = await api.post(path, json=body)
    assert r.status_code == 400, r.text
    assert needle in r.json()["error"]


async def test_update_keeps_destination_rules(api: Api) -> None:
    r = await api.post(
        "/surge-triggers", json={"window_seconds": 5, "threshold_count": 2, "emails": ["a@b.co"]}
    )
    tid = r.json()["trigger_id"]
    r = await api.put(f"/surge-triggers/{tid}", json={"webhook_url": PUBLIC_HOOK})
    assert r.status_code == 400 and "exactly one" in r.json()["error"]
    r = await api.put(f"/surge-triggers/{tid}", json={"webhook_url": PUBLIC_HOOK, "emails": []})
    assert r.status_code == 200 and r.json()["emails"] == []
    # `null` clears a destination as `""` / `[]` do, so switching back is one natural request.
    r = await api.put(f"/surge-triggers/{tid}", json={"webhook_url": None, "emails": ["ops@example.com"]})
    assert r.status_code == 200, r.text
    assert r.json()["webhook_url"] is None and r.json()["emails"] == ["ops@example.com"]
    seq = (await api.post("/triggers/sequences", json={
        "event_types": ["a", "b"], "window_seconds": 1, "window_unit": "hours", "webhook_url": PUBLIC_HOOK,
        "email_subject": "Hot", "slack_target_kind": "channel", "slack_target_id": "C1"})).json()
    r = await api.put(f"/triggers/sequences/{seq['trigger_id']}", json={
        "webhook_url": None, "emails": ["ops@example.com"], "email_subject": None,
        "slack_target_kind": None, "slack_target_id": None})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["webhook_url"], got["emails"], got["email_subject"], got["slack_target_id"]) == (
        None, ["ops@example.com"], None, None)
    # Absent fields stay as they were.
    r = await api.put(f"/triggers/sequences/{seq['trigger_id']}", json={"name": "Renamed"})
    assert r.status_code == 200 and r.json()["emails"] == ["ops@example.com"]


@pytest.mark.parametrize(("path", "body"), [
    ("/triggers/milestones", {"event_type": "", "score_threshold": 5}),
    ("/triggers/patterns", {"window_seconds": 1, "window_unit": "hours",
                            "conditions": [{"event_type": "page_view", "min_count": 1}]}),
])
async def test_a_trigger_without_destination_says_so_and_its_firings_are_recorded(
    api: Api, path: str, body: dict[str, Any]
) -> None:
    """SEMANTICS §8: a firing is recorded, plus one delivery per destination; milestones and patterns may have
    none, and their answer says where (nowhere) a firing goes."""
    await add_rules(api, {"page_view": 10})
    r = await api.post(path, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["destinations"] == []
    assert (await api.get(path)).json()[0]["destinations"] == []
    await _ingest(api, "ld_1", "page_view")
    await wait_idle(api)
    # Patterns have no list of their firings (docs/notifications.md): the stored record is read directly.
    fired = await api.rt.db.read(lambda c: c.execute(
        "SELECT lead_id FROM trigger_events WHERE trigger_id = ?", (r.json()["trigger_id"],)).fetchall())
    assert [row[0] for row in fired] == ["ld_1"]
    assert (await api.get("/deliveries")).json()["total"] == 0


async def test_destinations_name_what_a_firing_is_sent_to(api: Api) -> None:
    r = await api.post("/triggers/milestones", json={
        "event_type": "", "score_threshold": 5, "webhook_url": PUBLIC_HOOK, "emails": ["a@b.co"],
        "slack_target_kind": "channel", "slack_target_id": "C1"})
    assert r.json()["destinations"] == ["webhook", "email", "slack"]
    tid = r.json()["trigger_id"]
    r = await api.put(f"/triggers/milestones/{tid}", json={"webhook_url": "", "slack_target_kind": "",
                                                           "slack_target_id": ""})
    assert r.status_code == 200, r.text
    assert r.json()["destinations"] == ["email"]
    r = await api.post("/surge-triggers", json={"window_seconds": 5, "threshold_count": 2,
                                                "webhook_url": PUBLIC_HOOK})
    assert r.json()["destinations"] == ["webhook"]


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://127.1/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://localhost./hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://100.64.0.1/hook", "carrier-grade"),
        ("ftp://93.184.216.34/x", "http or https"),
    ],
)
async def test_webhook_urls_to_internal_addresses_are_refused_at_save(
    api: Api, url: str, reason: str
) -> None:
    for path, body in (
        ("/triggers/milestones", {"event_type": "", "score_threshold": 1}),
        ("/triggers/sequences", {"event_types": ["a"], "window_seconds": 5}),
        ("/triggers/patterns", {"conditions": [{"event_type": "a"}], "window_seconds": 5}),
        ("/surge-triggers", {"window_seconds": 5, "threshold_count": 2}),
    ):
        r = await api.post(path, json={**body, "webhook_url": url})
        assert r.status_code == 400, (path, r.text)
        assert "webhook_url" in r.json()["error"] and reason in r.json()["error"]


async def test_private_webhooks_allowed_by_setting_but_never_metadata(tmp_path: Any) -> None:
    from litestar.testing import AsyncTestClient

    from leadvibe.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path / "d", webhook_allow_private=True), announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        api = Api(client, app)
        await api.login()
        ok = await api.post(
            "/triggers/milestones",
            json={"event_type": "", "score_threshold": 1, "webhook_url": "http://127.0.0.1:9/hook"},
        )
        assert ok.status_code == 201, ok.text
        meta = await api.post(
            "/triggers/milestones",
            json={"event_type": "", "score_threshold": 1, "webhook_url": "http://169.254.169.254/"},
        )
        assert meta.status_code == 400


async def test_roles_and_tenancy(api: Api) -> None:
    r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 10})
    tid = r.json()["trigger_id"]
    viewer = await member_headers(api)
    assert (await api.get("/triggers/milestones", headers=viewer)).status_code == 200
    assert (
        await api.post("/triggers/milestones", headers=viewer, json={"event_type": "", "score_threshold": 1})
    ).status_code == 403
    assert (
        await api.put(f"/triggers/milestones/{tid}", headers=viewer, json={"name": "x"})
    ).status_code == 403
    assert (await api.delete(f"/triggers/milestones/{tid}", headers=viewer)).status_code == 403
    r = await api.post(f"/triggers/milestones/{tid}/simulate", headers=viewer, json={})
    assert r.status_code == 200, r.text
    assert (await api.get("/surge-triggers", headers=viewer)).status_code == 200
    assert (
        await api.post(
            "/surge-triggers",
            headers=viewer,
            json={"window_seconds": 5, "threshold_count": 2, "emails": ["a@b.co"]},
        )
    ).status_code == 403

    # Another OU: the trigger is not there (404, never 403), and its lists are empty.
    other = (await api.post("/org-units", json={"name": "Other"})).json()["unit_id"]
    elsewhere = {**api.headers, "X-OU-ID": other}
    assert (await api.get("/triggers/milestones", headers=elsewhere)).json() == []
    assert (
        await api.put(f"/triggers/milestones/{tid}", headers=elsewhere, json={"name": "x"})
    ).status_code == 404
    assert (await api.delete(f"/triggers/milestones/{tid}", headers=elsewhere)).status_code == 404
    assert (
        await api.post(f"/triggers/milestones/{tid}/simulate", headers=elsewhere, json={})
    ).status_code == 404
    # Kinds are separate namespaces: a milestone id is not a sequence.
    assert (await api.put(f"/triggers/sequences/{tid}", json={"ordered": False})).status_code == 404

    # API credentials (Basic) may manage triggers; surge triggers are JWT only.
    basic = await api.credential("ci")
    basic.pop("X-Secret-Id")
    assert (await api.get("/triggers/milestones", headers=basic)).status_code == 200
    assert (await api.get("/surge-triggers", headers=basic)).status_code == 401


# ------------------------------------------------------------------------------------------------ live firing


async def test_milestone_fires_once_per_crossing_through_ingest(api: Api) -> None:
    await add_rules(api, {"page_view": 5, "demo_request": 20})
    r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 25, "name": "Hot"})
    tid = r.json()["trigger_id"]
    for t in ("page_view", "page_view", "demo_request", "page_view", "demo_request"):
        await _ingest(api, "ld_m1", t)
    await _ingest(api, "ld_m2", "page_view")
    await wait_idle(api)
    events = (await api.get("/triggers/milestones/events")).json()
    assert len(events) == 1
    e = events[0]
    assert e["trigger_id"] == tid and e["lead_id"] == "ld_m1" and e["event_type"] == "demo_request"
    assert e["trigger_name"] == "Hot" and e["kind"] == "milestone"
    assert e["score_before"] == 10 and e["score_after"] >= 25 and e["fired_at"].endswith("Z")
    assert (await api.get("/triggers/sequences/events")).json() == []
    # The milestone has no destinations: nothing to deliver.
    assert (await api.get("/deliveries")).json()["total"] == 0

    # Re-arm when the score falls below (as decay or a rescore reports it), then a new crossing fires again.
    svc = api.rt.triggers
    await api.rt.db.write(lambda c: svc.on_score_change(c, "unit_default", "ld_m1", 3, api.rt.now_ms()))
    await _ingest(api, "ld_m1", "page_view")
    await wait_idle(api)
    assert len((await api.get("/triggers/milestones/events")).json()) == 2


async def test_a_trigger_filter_without_a_value_is_refused_as_a_segment_rule_is(api: Api) -> None:
    # A half-filled filter row (a field and `equals`, no value) was stored and the trigger never fired.
    base = {"event_type": "", "score_threshold": 10}
    for key in ("profile_filters", "lead_attribute_filters"):
        for sent, error in (({"field": "country", "operator": "equals"}, "`{k}[0].value` is required for condition "
                                                                          "`equals`"),
                            ({"field": "country", "operator": "in", "value": " , "},
                             "`{k}[0].value` must list at least one value (comma-separated) for `in`")):
            r = await api.post("/triggers/milestones", json={**base, key: [sent]})
            assert (r.status_code, r.json()["error"]) == (400, error.format(k=key))
        r = await api.post("/triggers/milestones", json={**base, key: [{"field": "country", "operator": "exists"}]})
        assert r.status_code == 201, r.text
    assert len((await api.get("/triggers/milestones")).json()) == 2


async def test_deleting_a_merge_target_takes_its_sources_firings_too(api: Api) -> None:
    # Both leads crossed the milestone before the merge; the sources' firings stay under their ids (the merge does
    # not move history), so deleting the target must remove them too: they were left, naming no lead.
    await add_rules(api, {"demo_request": 20})
    await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 10, "name": "Warm"})
    for lead in ("ld_src_a", "ld_tgt_b"):
        await _ingest(api, lead, "demo_request")
    await wait_idle(api)
    assert sorted(e["lead_id"] for e in (await api.get("/triggers/milestones/events")).json()) == [
        "ld_src_a", "ld_tgt_b"]
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_tgt_b", "sourceLeadIds": ["ld_src_a"]})
    assert r.status_code == 200, r.text
    assert (await api.delete("/leads/ld_tgt_b")).status_code == 202
    await wait_deleted(api, "ld_tgt_b")
    assert (await api.get("/triggers/milestones/events")).json() == []
    assert (await api.get("/triggers/milestones/events", params={"lead_id": "ld_src_a"})).json() == []


async def test_milestone_lead_attribute_filters(api: Api) -> None:
    await add_rules(api, {"demo": 50})
    await api.post(
        "/triggers/milestones",
        json={
            "event_type": "demo",
            "score_threshold": 10,
            "lead_attribute_filters": [{"field": "country", "operator": "equals", "value": "de"}],
        },
    )
    await api.rt.db.write(
        lambda c: c.execute(
            "INSERT INTO leads (unit_id, id, org_id, metadata, created_at, updated_at)"
            " SELECT 'unit_default', ?, org_id, ?, 0, 0 FROM org_units WHERE id = 'unit_default'",
            ("ld_de", '{"country": "DE"}'),
        )
    )
    await api.rt.db.write(
        lambda c: c.execute(
            "INSERT INTO leads (unit_id, id, org_id, metadata, created_at, updated_at)"
            " SELECT 'unit_default', ?, org_id, ?, 0, 0 FROM org_units WHERE id = 'unit_default'",
            ("ld_fr", '{"country": "FR"}'),
        )
    )
    await _ingest(api, "ld_de", "demo")
    await _ingest(api, "ld_fr", "demo")
    await wait_idle(api)
    assert [e["lead_id"] for e in (await api.get("/triggers/milestones/events")).json()] == ["ld_de"]


async def test_sequence_fires_in_order_only_and_simulate_agrees(api: Api) -> None:
    await add_rules(api, {"a": 1, "b": 1, "c": 1})
    r = await api.post(
        "/triggers/sequences",
        json={
            "event_types": ["A", "B", "C"],
            "window_seconds": 10,
            "window_unit": "minutes",
            "ordered": True,
            "emails": ["sales@example.com"],
        },
    )
    tid = r.json()["trigger_id"]
    t0 = api.rt.now_ms() - 3_600_000
    for i, t in enumerate(("a", "b", "c")):
        await _ingest(api, "ld_fwd", t, t0 + i * 60_000)
    for i, t in enumerate(("c", "b", "a")):
        await _ingest(api, "ld_rev", t, t0 + i * 60_000)
    # In order but spread over more than 10 minutes: no firing.
    for i, t in enumerate(("a", "b", "c")):
        await _ingest(api, "ld_slow", t, t0 + i * 6 * 60_000)
    await wait_idle(api)
    fired = (await api.get("/triggers/sequences/events")).json()
    assert [(e["lead_id"], e["event_type"]) for e in fired] == [("ld_fwd", "c")]
    assert fired[0]["trigger_id"] == tid

    sim = (await api.post(f"/triggers/sequences/{tid}/simulate", json={"days": 30})).json()
    assert sim["would_fire"] is True and sim["matched_leads"] == ["ld_fwd"] and sim["total_matches"] == 1
    assert "Would fire 1 time" in sim["message"]
    assert (await api.put("/leads/ld_fwd", json={"metadata": {"name": "Fay Ward"}})).status_code == 200
    named = (await api.post(f"/triggers/sequences/{tid}/simulate", json={"lead_id": "ld_fwd", "days": 30})).json()
    assert named["message"] == "Would fire 1 time for 1 lead (lead Fay Ward (ld_fwd), last 30 days)", named
    one = (await api.post(f"/triggers/sequences/{tid}/simulate", json={"lead_id": "ld_rev"})).json()
    assert one == {"would_fire": False, "matched_leads": [], "total_matches": 0, "message": one["message"],
                   "lead_names": {}}
    assert (
        await api.post(f"/triggers/sequences/{tid}/simulate", json={"lead_id": "nobody"})
    ).status_code == 404
    assert (await api.post(f"/triggers/sequences/{tid}/simulate", json={"days": 0})).status_code == 400
    # Simulating fires nothing.
    assert len((await api.get("/triggers/sequences/events")).json()) == 1

    # One delivery (the email) for the one firing.
    deliveries = (await api.get("/deliveries")).json()
    assert deliveries["total"] == 1 and deliveries["deliveries"][0]["kind"] == "email"
    assert deliveries["deliveries"][0]["destination"] == "sales@example.com"


async def test_milestone_simulate_matches_live(api: Api) -> None:
    await add_rules(api, {"page_view": 5, "demo": 30})
    tid = (await api.post("/triggers/milestones", json={"event_type": "demo", "score_threshold": 30})).json()
    tid = tid["trigger_id"]
    for lead, types in (("ld_1", ["page_view", "demo"]), ("ld_2", ["page_view"]), ("ld_3", ["demo", "demo"])):
        for t in types:
            await _ingest(api, lead, t)
    await wait_idle(api)
    r = await api.patch("/leads/ld_1/metadata", json={"first_name": "Grace", "last_name": "Hopper"})
    assert r.status_code == 200, r.text
    await api.patch("/leads/ld_2/metadata", json={"name": "Not Matched"})
    live = sorted(e["lead_id"] for e in (await api.get("/triggers/milestones/events")).json())
    sim = (await api.post(f"/triggers/milestones/{tid}/simulate", json={})).json()
    assert sorted(sim["matched_leads"]) == live == ["ld_1", "ld_3"]
    assert sim["total_matches"] == 2
    # the matched leads' names, for those that have one (ld_3 has none)
    assert sim["lead_names"] == {"ld_1": "Grace Hopper"}


async def test_a_score_drop_by_an_event_that_fires_nothing_rearms_milestones(api: Api) -> None:
    """A `decide` type scores without firing, but its drop below a milestone arms it again (as decay does), so the
    next crossing fires; simulate agrees."""
    await add_rules(api, {"demo": 30, "page_view": 10, "unsubscribe": -40, "jump": 60})
    r = await api.put("/settings/event-types/unsubscribe", json={"max_processing_scope": "decide"})
    assert r.status_code == 200, r.text
    tid = (await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 50})).json()["trigger_id"]
    for t in ("demo", "page_view", "page_view", "unsubscribe", "jump"):  # 30, 40, 50 (fires), 10, 70 (fires again)
        await _ingest(api, "ld_d", t)
    await wait_idle(api)
    fired = (await api.get("/triggers/milestones/events", params={"lead_id": "ld_d"})).json()
    # Both fired (the list's order between firings of one millisecond is not the point here).
    assert sorted(e["event_type"] for e in fired) == ["jump", "page_view"]
    sim = (await api.post(f"/triggers/milestones/{tid}/simulate", json={"lead_id": "ld_d"})).json()
    assert sim["total_matches"] == len(fired) == 2


async def test_pattern_fires_once_per_window(api: Api) -> None:
    await add_rules(api, {"page_view": 1})
    await api.post(
        "/triggers/patterns",
        json={
            "window_seconds": 1,
            "window_unit": "hours",
            "conditions": [{"event_type": "Page View", "min_count": 3}],
        },
    )
    t0 = api.rt.now_ms() - 10 * 3_600_000
    for i in range(6):
        await _ingest(api, "ld_p", "page_view", t0 + i * 60_000)
    await _ingest(api, "ld_p", "page_view", t0 + 2 * 3_600_000)
    await wait_idle(api)
    rows = await api.rt.db.read(
        lambda c: c.execute("SELECT COUNT(*) FROM trigger_events WHERE kind = 'pattern'").fetchone()[0]
    )
    assert rows == 1


async def test_surge_trigger_records_surge_events_and_metrics(api: Api) -> None:
    await add_rules(api, {"page_view": 1})
    await api.post(
        "/surge-triggers",
        json={
            "event_type": "page_view",
            "window_seconds": 10,
            "window_unit": "minutes",
            "threshold_count": 3,
            "emails": ["ops@example.com"],
        },
    )
    base = api.rt.now_ms() - 2 * 3_600_000
    base -= base % 3_600_000
    for i in range(4):  # fires on the 3rd, not again within the window
        await _ingest(api, "ld_s1", "page_view", base + i * 1000, metadata={"channel": "email"})
    for i in range(3):
        await _ingest(api, "ld_s2", "page_view", base + 3_600_000 + i * 1000)
    await wait_idle(api)
    assert (await api.put("/leads/ld_s2", json={"metadata": {"name": "Sue Surge"}})).status_code == 200
    events = (await api.get("/surge-events")).json()
    assert [(e["lead_id"], e["channel"]) for e in events] == [("ld_s2", "web"), ("ld_s1", "email")]
    assert [e["lead_name"] for e in events] == ["Sue Surge", None]  # named as on /stream, in the same read
    assert events[0]["threshold_count"] == 3 and events[0]["window_seconds"] == 600
    assert [e["lead_id"] for e in (await api.get("/surge-events?channel=email")).json()] == ["ld_s1"]
    later = to_rfc3339(base + 1_800_000)
    assert [e["lead_id"] for e in (await api.get(f"/surge-events?start={later}")).json()] == ["ld_s2"]

    start, end = to_rfc3339(base), to_rfc3339(base + 3 * 3_600_000)
    r = await api.get(f"/surge/unit_default/metrics?start={start}&end={end}&interval=1h")
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["ou_id"] == "unit_default" and m["interval"] == "1h"
    assert m["totals"] == {"surges": 2, "leads": 2, "triggers": 1}
    assert [b["surges"] for b in m["series"]] == [1, 1, 0]
    assert m["peak"]["surges"] == 1 and m["peak"]["bucket_start"] == start
    assert {c["channel"]: c["surges"] for c in m["channels"]} == {"email": 1, "web": 1}
    r = await api.get(f"/surge/unit_default/metrics?start={start}&end={end}&interval=15m&channel=web")
    assert r.json()["totals"]["surges"] == 1 and len(r.json()["series"]) == 12
    assert (await api.get(f"/surge/unit_default/metrics?start={start}")).status_code == 400
    assert (await api.get(f"/surge/unit_default/metrics?start={end}&end={start}")).status_code == 400
    assert (
        await api.get(f"/surge/unit_default/metrics?start={start}&end={end}&interval=5m")
    ).status_code == 400
    assert (await api.get(f"/surge/unit_nope/metrics?start={start}&end={end}")).status_code == 404

    # SSE: a "surge" publication (stored deliveries: one email per surge).
    assert (await api.get("/deliveries?status=pending")).json()["total"] + (
        await api.get("/deliveries?status=failed")
    ).json()["total"] == 2


async def test_observe_scope_and_skip_triggers_fire_nothing(api: Api) -> None:
    await add_rules(api, {"demo": 50})
    await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 10})
    r = await api.put("/settings/event-types/demo", json={"max_processing_scope": "observe"})
    assert r.status_code == 200, r.text
    await _ingest(api, "ld_obs", "demo")
    await wait_idle(api)
    assert (await api.get("/triggers/milestones/events")).json() == []


# ------------------------------------------------------------------------------------------------ exports


async def test_events_export_is_formula_safe(api: Api) -> None:
    await add_rules(api, {"=cmd": 50})
    await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 10, "name": "@SUM(A1)"})
    await _ingest(api, '=HYPERLINK("x")', "=cmd")
    await wait_idle(api)
    r = await api.get("/triggers/milestones/events/export")
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0][:4] == ["id", "trigger_id", "trigger_name", "lead_id"]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["trigger_name"] == "'@SUM(A1)" and record["lead_id"] == '\'=HYPERLINK("x")'
    assert record["event_type"] == "'=cmd" and record["score_after"] == "50"
    r = await api.get("/triggers/sequences/events/export")
    assert list(csv.reader(io.StringIO(r.text)))[1:] == []


# (body field, the limit the document shows, one line or free text)
TRIGGER_TEXTS = [("name", 200, True), ("description", 5000, False), ("email_subject", 500, True),
                 ("email_preheader", 500, True), ("email_message", 20_000, False), ("slack_target_id", 200, True)]


@pytest.mark.parametrize("field,limit,one_line", TRIGGER_TEXTS)
async def test_trigger_texts_take_what_the_document_shows(api: Api, field: str, limit: int, one_line: bool) -> None:
    """A generated client sends nothing the server refuses for its length or characters: the document shows each
    text's limit as sent and its control characters, and the server takes exactly those."""
    doc = (await api.get("/schema/openapi.json")).json()
    prop = doc["components"]["schemas"]["MilestoneIn"]["properties"][field]
    assert prop["maxLength"] == limit
    refused = prop["not"]["pattern"]
    assert ("\\n" not in refused and "\\x0e" in refused) if not one_line else refused == "[\\x00-\\x1f\\x7f]"

    def body(value: str) -> dict[str, Any]:
        extra = {"slack_target_kind": "channel"} if field == "slack_target_id" else {}
        return {"event_type": "", "score_threshold": 5, field: value, **extra}

    kept = await api.post("/triggers/milestones", json=body(" " + "x" * (limit - 2) + " "))
    assert kept.status_code == 201, kept.text
    assert kept.json()[field] == "x" * (limit - 2)  # stored trimmed
    too_long = await api.post("/triggers/milestones", json=body(" " + "x" * (limit - 1) + " "))
    assert too_long.status_code == 400 and field in too_long.json()["error"], too_long.text  # counted as sent
    broken = await api.post("/triggers/milestones", json=body("a\nb"))
    assert (broken.status_code == 400) is one_line, broken.text
    assert (await api.post("/triggers/milestones", json=body("a\x07b"))).status_code == 400


async def test_email_recipients_are_checked_as_the_document_shows(api: Api) -> None:
    """Each address at most 320 characters as sent and without control characters (it reaches the mail server as
    stored), at most 50 of them as sent; spaces around an address are dropped and a repeat in another case kept once."""
    doc = (await api.get("/schema/openapi.json")).json()
    prop = doc["components"]["schemas"]["MilestoneIn"]["properties"]["emails"]
    assert (prop["maxItems"], prop["items"]["maxLength"]) == (50, 320), prop
    assert prop["items"]["not"]["pattern"] == "[\\x00-\\x1f\\x7f]"

    async def status(emails: list[str]) -> int:
        r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 5, "emails": emails})
        assert r.status_code == 201 or "emails" in r.json()["error"], r.text
        return r.status_code

    longest = "a" * 308 + "@example.com"  # 320 characters
    assert await status([longest]) == 201
    assert await status([longest + "m"]) == 400
    for control in ("\x00", "\x07", "\x1b", "\x7f"):
        assert await status([f"a{control}b@example.com"]) == 400, repr(control)
    assert await status([f"sales{i}@example.com" for i in range(50)]) == 201
    assert await status(["sales@example.com"] * 51) == 400
    r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 5,
                                                     "emails": [" Sales@Example.com ", "sales@example.com"]})
    assert r.json()["emails"] == ["Sales@Example.com"]


async def test_a_late_burst_firing_does_not_let_the_present_window_fire_again(api: Api) -> None:
    # The stored state kept one firing time: the late burst's (09:02) replaced the present one's (12:02), and 12:03
    # fired again within 12:02's window (12:11 and 12:12 lie within it too; 12:13 is past it). Each event in a
    # worker batch of its own: the state goes through the store.
    await api.post("/surge-triggers", json={"event_type": "rp_view", "window_seconds": 10, "window_unit": "minutes",
                                            "threshold_count": 3, "emails": ["ops@example.com"]})
    noon = api.rt.now_ms() - 6 * 3_600_000
    noon -= noon % 3_600_000
    minute = 60_000
    for ts in [noon, noon + minute, noon + 2 * minute, *[noon - 3 * 3_600_000 + m * minute for m in range(3)],
               noon + 3 * minute, *[noon + m * minute for m in (11, 12, 13)]]:
        await _ingest(api, "ld_late", "rp_view", ts)
        await wait_idle(api)
    fired = sorted(e["occurred_at"] for e in (await api.get("/surge-events")).json() if e["lead_id"] == "ld_late")
    assert fired == [to_rfc3339(t) for t in (noon - 3 * 3_600_000 + 2 * minute, noon + 2 * minute, noon + 13 * minute)]


async def test_a_blank_trigger_history_filter_is_a_400_as_on_the_other_lists(api: Api) -> None:
    for path in ("/triggers/milestones/events", "/triggers/sequences/events/export", "/deliveries", "/events"):
        for name in ("lead_id", "trigger_id"):
            if name == "trigger_id" and path in ("/deliveries", "/events"):
                continue
            r = await api.get(path, params={name: " "})
            assert (r.status_code, r.json()) == (400, {"error": f"`{name}` must not be blank"}), (path, name)
