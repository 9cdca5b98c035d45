"""Analytics, stats, top leads, score gains and usage on a small known dataset, for the active OU only."""

from __future__ import annotations

import time
from typing import Any

import pytest

from leadvibe.api.analytics import month_bounds
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, wait_idle

NOW = int(time.time()) * 1000  # frozen near real time: session tokens are checked against the wall clock
HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


async def ingest(api: Api, lead_id: str, event_type: str, hours_ago: float,
                 headers: dict[str, str] | None = None, **metadata: Any) -> str:
    body: dict[str, Any] = {"lead_id": lead_id, "event_type": event_type,
                            "timestamp": to_rfc3339(NOW - int(hours_ago * HOUR))}
    if metadata:
        body["metadata"] = metadata
    r = await api.client.post("/ingest", json=body, headers=headers or api.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["metadata"]["event_id"])


async def other_unit(api: Api) -> dict[str, str]:
    r = await api.post("/org-units", json={"name": "Elsewhere"})
    assert r.status_code in (200, 201), r.text
    return {**api.headers, "X-OU-ID": r.json()["unit_id"]}


@pytest.fixture
async def known(api: Api) -> dict[str, str]:
    """Three leads, events an hour or more apart (no surge), one hidden type, levels, and a noisy second OU.

    ld_hot:  page_view 1 h ago (+5), demo_request 2 h ago (+20), page_view 30 h ago (+5)  -> 30
    ld_warm: email_open 3 h ago (+2), page_view 10 d ago (+5)                           -> 7
    ld_cold: page_view 40 d ago (+5), internal_ping 5 h ago (hidden type, +0)            -> 5
    """
    await add_rules(api, {"page_view": 5, "demo_request": 20, "email_open": 2})
    await ingest(api, "ld_hot", "page_view", 30)
    await ingest(api, "ld_hot", "Demo Request", 2)
    await ingest(api, "ld_hot", "page_view", 1)
    await ingest(api, "ld_warm", "page_view", 240)
    await ingest(api, "ld_warm", "email_open", 3)
    await ingest(api, "ld_cold", "page_view", 960)
    await ingest(api, "ld_cold", "internal_ping", 5)
    now = api.rt.now_ms()

    def setup(c: Any) -> None:
        c.execute("INSERT INTO event_type_settings (unit_id, type_key, hidden, updated_at)"
                  " VALUES ('unit_default', 'internal_ping', 1, ?)", (now,))
        for i, (name, lo, hi) in enumerate((("Cold", 0, 9), ("Warm", 10, 24), ("Hot", 25, 1000))):
            c.execute("INSERT INTO levels (id, org_id, unit_id, kind, name, min_score, max_score, created_at,"
                      " updated_at) SELECT ?, org_id, id, 'engagement', ?, ?, ?, ?, ? FROM org_units"
                      " WHERE id = 'unit_default'", (f"lv_{i}", name, lo, hi, now, now))
    await api.rt.db.write(setup)
    api.rt.scoring_config.invalidate("unit_default")
    other = await other_unit(api)
    for i in range(4):
        await ingest(api, f"ld_other_{i}", "page_view", 1 + i, headers=other)
    await wait_idle(api)
    return other


async def test_analytics_totals_and_by_type(api: Api, known: dict[str, str]) -> None:
    r = await api.get("/analytics")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "totals": {"events": 7, "leads": 3, "events_last_24h": 4, "leads_active_7d": 3},
        "by_type": {"page_view": 4, "Demo Request": 1, "email_open": 1},
    }
    other = (await api.get("/analytics", headers=known)).json()
    assert other["totals"] == {"events": 4, "leads": 4, "events_last_24h": 4, "leads_active_7d": 4}


async def test_events_a_client_sent_as_decay_are_left_out_like_the_decay_pass_s(api: Api) -> None:
    # An export imported elsewhere brings its DECAY rows as events of that type: they are not engagement.
    for event_type in ("page_view", "DECAY", "decay"):
        assert (await api.post("/ingest", json={"lead_id": "ld_d", "event_type": event_type})).status_code == 202
    await wait_idle(api)
    body = (await api.get("/analytics")).json()
    assert body["totals"]["events"] == 1 and body["totals"]["events_last_24h"] == 1, body
    assert body["by_type"] == {"page_view": 1}
    stats = (await api.get("/analytics/stats")).json()
    assert stats["last_24h"]["events"] == 1 and stats["top_events"] == [{"event_type": "page_view", "count": 1}]


async def test_stats_last_24h_and_top_events(api: Api, known: dict[str, str]) -> None:
    r = await api.get("/analytics/stats")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "last_24h": {"events": 4, "leads": 3, "score_delta": 5 + 20 + 2},
        "top_events": [{"event_type": "Demo Request", "count": 1}, {"event_type": "email_open", "count": 1},
                       {"event_type": "page_view", "count": 1}],
    }


async def test_top_leads_with_levels(api: Api, known: dict[str, str]) -> None:
    r = await api.get("/analytics/top-leads")
    assert r.status_code == 200, r.text
    # No profile rules or accounts here: every lead has profile score 0, no profile level, no account.
    fit = {"profile_score": 0, "profile_level": None, "account_id": None, "name": None}
    assert r.json() == [
        {"lead_id": "ld_hot", "score": 30, "level": "Hot", "last_event_at": to_rfc3339(NOW - HOUR), **fit},
        {"lead_id": "ld_warm", "score": 7, "level": "Cold", "last_event_at": to_rfc3339(NOW - 3 * HOUR), **fit},
        {"lead_id": "ld_cold", "score": 5, "level": "Cold", "last_event_at": to_rfc3339(NOW - 5 * HOUR), **fit},
    ]
    assert [x["lead_id"] for x in (await api.get("/analytics/top-leads?limit=1")).json()] == ["ld_hot"]
    await add_rules(api, {"email_open": 50}, ruleset_id="rs_email", primary=False)
    await ingest(api, "ld_warm", "email_open", 0.5)
    await wait_idle(api)
    other_rs = (await api.get("/analytics/top-leads?ruleset=rs_email")).json()
    assert (other_rs[0]["lead_id"], other_rs[0]["score"], other_rs[0]["level"]) == ("ld_warm", 50, "Hot")
    assert (await api.get("/analytics/top-leads?ruleset=rs_nope")).status_code == 404
    assert (await api.get("/analytics/top-leads?limit=0")).status_code == 400
    assert (await api.get("/analytics/top-leads?limit=501")).status_code == 400
    assert (await api.get("/analytics/top-leads?limit=500")).status_code == 200  # the lists' bound (ENDPOINTS.md)
    # another OU's ruleset is unknown here
    assert (await api.get("/analytics/top-leads?ruleset=rs_email", headers=known)).status_code == 404


async def test_score_gains_window(api: Api, known: dict[str, str]) -> None:
    r = await api.get("/analytics/score-gains")
    assert r.status_code == 200, r.text
    assert r.json() == [
        {"lead_id": "ld_hot", "gain": 25, "score": 30, "last_event_at": to_rfc3339(NOW - HOUR), "name": None},
        {"lead_id": "ld_warm", "gain": 2, "score": 7, "last_event_at": to_rfc3339(NOW - 3 * HOUR), "name": None},
    ]
    assert [(x["lead_id"], x["gain"]) for x in (await api.get("/analytics/score-gains?hours=48")).json()] == [
        ("ld_hot", 30), ("ld_warm", 2)]
    # 30 days: ld_warm's 10-day-old page view counts, ld_cold's 40-day-old one does not
    month = (await api.get("/analytics/score-gains?hours=720")).json()
    assert [(x["lead_id"], x["gain"]) for x in month] == [("ld_hot", 30), ("ld_warm", 7)]
    assert (await api.get("/analytics/score-gains?hours=2&limit=1")).json()[0]["lead_id"] == "ld_hot"
    assert (await api.get("/analytics/score-gains?limit=500")).status_code == 200
    for bad in ("hours=0", "hours=721", "hours=1000", "limit=0", "limit=501", "hours=abc"):
        assert (await api.get(f"/analytics/score-gains?{bad}")).status_code == 400, bad


async def test_no_primary_ruleset_means_empty_lists(api: Api) -> None:
    await ingest(api, "ld_x", "page_view", 1)
    await wait_idle(api)
    assert (await api.get("/analytics/top-leads")).json() == []
    assert (await api.get("/analytics/score-gains")).json() == []
    stats = (await api.get("/analytics/stats")).json()
    assert stats["last_24h"] == {"events": 1, "leads": 1, "score_delta": 0}


async def test_analytics_follow_batch_delete(api: Api, known: dict[str, str]) -> None:
    demo = (await api.get("/events?event_type=demo_request")).json()["events"][0]["id"]
    assert (await api.request("DELETE", "/events/batch", json={"ids": [demo]})).json() == {"deleted": 1}
    body = (await api.get("/analytics")).json()
    assert body["totals"]["events"] == 6 and "Demo Request" not in body["by_type"]
    assert (await api.get("/analytics/stats")).json()["last_24h"]["score_delta"] == 5 + 2
    assert (await api.get("/analytics/top-leads?limit=1")).json()[0]["score"] == 10


async def test_usage_current_month(api: Api, known: dict[str, str]) -> None:
    await api.credential("usage")
    r = await api.get("/usage")
    assert r.status_code == 200, r.text
    body = r.json()
    start, end = month_bounds(NOW)
    assert body["period"] == {"start": to_rfc3339(start), "end": to_rfc3339(end)}
    in_month = [h for h in (30, 2, 1, 240, 3, 960, 5) if NOW - h * HOUR >= start]
    other_in_month = [h for h in (1, 2, 3, 4) if NOW - h * HOUR >= start]
    assert body["ou"]["unit_id"] == "unit_default"
    assert body["ou"]["events"] == len(in_month)
    assert body["org"]["events"] == len(in_month) + len(other_in_month)
    members = await api.rt.db.read(lambda c: c.execute(
        "SELECT COUNT(*) FROM ou_memberships WHERE unit_id = 'unit_default'").fetchone()[0])
    assert body["ou"]["api_credentials"] == 1 and body["ou"]["members"] == members >= 1
    # active leads: the latest organic events of ld_hot, ld_warm, ld_cold are 1, 3 and 5 hours old
    leads_in_month = [h for h in (1, 3, 5) if NOW - h * HOUR >= start]
    assert body["ou"]["leads"] == len(leads_in_month)
    assert body["org"]["leads"] == len(leads_in_month) + len(other_in_month)


async def test_usage_needs_a_session_and_analytics_need_auth(api: Api, known: dict[str, str]) -> None:
    basic = await api.credential("basic")
    basic.pop("X-Secret-Id")
    assert (await api.client.get("/usage", headers=basic)).status_code == 401
    assert (await api.client.get("/analytics", headers=basic)).status_code == 200
    for path in ("/analytics", "/analytics/stats", "/analytics/top-leads", "/analytics/score-gains",
                 "/usage"):
        assert (await api.client.get(path)).status_code == 401, path


def test_month_bounds_roll_over_the_year() -> None:
    from leadvibe.timeutil import parse_rfc3339

    start, end = month_bounds(parse_rfc3339("2025-12-31T23:59:59Z"))
    assert (to_rfc3339(start), to_rfc3339(end)) == ("2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z")
    start, end = month_bounds(parse_rfc3339("2025-02-01T00:00:00Z"))
    assert (to_rfc3339(start), to_rfc3339(end)) == ("2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z")


async def test_top_leads_and_gains_name_their_leads(api: Api) -> None:
    """The overview lists people: each row carries the lead's name from its metadata (name, first and last name,
    or email, in that order), null when the metadata has none."""
    leads = {"ld_named": {"name": "Ada Lovelace", "email": "ada@example.com"},
             "ld_parts": {"first_name": "Grace", "last_name": " Hopper "},
             "ld_mail": {"email": "linus@example.com"}, "ld_none": {"company": "Acme"}}
    for lead_id, metadata in leads.items():
        assert (await api.post("/leads", json={"id": lead_id, "metadata": metadata})).status_code == 201
    await add_rules(api, {"page_view": 5})
    for lead_id in leads:
        await ingest(api, lead_id, "page_view", 0.1)
    await wait_idle(api)
    want = {"ld_named": "Ada Lovelace", "ld_parts": "Grace Hopper", "ld_mail": "linus@example.com", "ld_none": None}
    top = (await api.get("/analytics/top-leads")).json()
    assert {x["lead_id"]: x["name"] for x in top} == want
    gains = (await api.get("/analytics/score-gains")).json()
    assert {x["lead_id"]: x["name"] for x in gains} == want


async def test_event_pages_and_trigger_firings_name_their_leads(api: Api) -> None:
    """The events list and the fired-trigger lists carry each row's lead name, as the overview's lists do."""
    await api.post("/leads", json={"id": "ld_named2", "metadata": {"name": "Ada Lovelace"}})
    await add_rules(api, {"page_view": 60})
    r = await api.post("/triggers/milestones", json={"event_type": "", "name": "Hot", "score_threshold": 50})
    assert r.status_code in (200, 201), r.text
    await ingest(api, "ld_named2", "page_view", 0.1)
    await ingest(api, "ld_plain", "page_view", 0.1)
    await wait_idle(api)
    events = (await api.get("/events")).json()["events"]
    assert {e["lead_id"]: e["lead_name"] for e in events} == {"ld_named2": "Ada Lovelace", "ld_plain": None}
    fired = (await api.get("/triggers/milestones/events")).json()
    assert {e["lead_id"]: e["lead_name"] for e in fired} == {"ld_named2": "Ada Lovelace", "ld_plain": None}
