"""Orders and the unified activity stream (events + orders + timeline) with every filter."""

from __future__ import annotations

import time
from typing import Any

import pytest

from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, wait_idle

START = time.time_ns() // 1_000_000_000 * 1000  # real time: login tokens are checked against the wall clock
DAY_MS = 86_400_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def ago(days: float) -> str:
    return str(to_rfc3339(START - int(days * DAY_MS)))


@pytest.fixture
async def lead(api: Api) -> Api:
    """ld_a: a demo request 10 days ago, a page view 2 days ago (email channel), an unscored event now; one
    order 3 days ago and one 20 days ago."""
    await add_rules(api, {"demo_request": 20, "page_view": 5})
    for event in (
        {"event_type": "demo_request", "timestamp": ago(10)},
        {"event_type": "page_view", "timestamp": ago(2), "metadata": {"channel": "email"}},
        {"event_type": "webinar_join"},
    ):
        r = await api.post("/ingest", json={"lead_id": "ld_a", **event})
        assert r.status_code == 202, r.text
    await wait_idle(api)
    for order_id, days, amount in (("o-1", 3, 120.5), ("o-2", 20, 10)):
        r = await api.post(
            "/orders",
            json={
                "lead_id": "ld_a",
                "order_id": order_id,
                "amount": amount,
                "currency": "eur",
                "occurred_at": ago(days),
                "metadata": {"sku": "x"},
            },
        )
        assert r.status_code == 201, r.text
    return api


async def test_create_order(api: Api) -> None:
    r = await api.post(
        "/orders",
        json={
            "order_id": "A-1",
            "amount": 0,
            "currency": "USD",
            "aliases": [{"alias_kind": "email", "raw_value": "Buyer@Example.com"}],
        },
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["id"].startswith("or_") and order["type"] == "order" and order["currency"] == "USD"
    assert order["amount"] == 0 and order["metadata"] == {} and order["occurred_at"] == to_rfc3339(START)
    # an unknown alias creates the lead, as on ingest; the same alias resolves to it next time
    hits = (await api.get("/leads/search", params={"q": "buyer@"})).json()
    assert [h["id"] for h in hits] == [order["lead_id"]]
    r = await api.post(
        "/orders",
        json={
            "order_id": "A-2",
            "amount": 5,
            "currency": "usd",
            "alias_kind": "email",
            "alias": "buyer@example.com",
        },
    )
    assert r.json()["lead_id"] == order["lead_id"]
    assert (
        await api.post("/orders", json={"order_id": "A-1", "amount": 1, "currency": "USD", "lead_id": "x"})
    ).status_code == 409


@pytest.mark.parametrize(
    "body,status",
    [
        ({"amount": 1, "currency": "USD", "lead_id": "a"}, 400),
        ({"order_id": "", "amount": 1, "currency": "USD", "lead_id": "a"}, 400),
        ({"order_id": "o", "amount": -1, "currency": "USD", "lead_id": "a"}, 400),
        ({"order_id": "o", "amount": "many", "currency": "USD", "lead_id": "a"}, 400),
        ({"order_id": "o", "amount": 1, "currency": "US", "lead_id": "a"}, 400),
        ({"order_id": "o", "amount": 1, "currency": "US1", "lead_id": "a"}, 400),
        ({"order_id": "o", "amount": 1, "currency": "USD"}, 400),
        ({"order_id": "o", "amount": 1, "currency": "USD", "alias_kind": "email"}, 400),
        (
            {
                "order_id": "o",
                "amount": 1,
                "currency": "USD",
                "aliases": [{"alias_kind": "fax", "raw_value": "1"}],
            },
            400,
        ),
        ({"order_id": "o", "amount": 1, "currency": "USD", "lead_id": "a", "occurred_at": "yesterday"}, 400),
        (
            {
                "order_id": "o",
                "amount": 1,
                "currency": "USD",
                "lead_id": "a",
                "occurred_at": "2999-01-01T00:00:00Z",
            },
            400,
        ),
        (
            {
                "order_id": "o",
                "amount": 1,
                "currency": "USD",
                "lead_id": "a",
                "metadata": {"b": "y" * 110_000},
            },
            413,
        ),
    ],
)
async def test_order_bad_inputs(api: Api, body: dict[str, Any], status: int) -> None:
    r = await api.post("/orders", json=body)
    assert r.status_code == status, r.text
    assert "error" in r.json()
    count = await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM orders").fetchone()[0])
    assert count == 0


async def test_activity_default_range_is_last_7_days(lead: Api) -> None:
    r = await lead.get("/leads/ld_a/activity")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["range"] == "last_7d"
    assert [e["event_type"] for e in body["events"]] == ["webinar_join", "page_view"]  # newest first
    page_view = body["events"][1]
    assert page_view["channel"] == "email" and page_view["score_delta"] == 5 and page_view["score"] == 25
    assert page_view["has_delta"] is True and page_view["latency_ms"] >= 0 and page_view["type"] == "event"
    assert (page_view["applied_multiplier"], page_view["scope"]) == (1.0, "activate")
    # the rules that matched, as GET /events/{id}/explanation has them for the primary ruleset
    explained = (await lead.get(f"/events/{page_view['id']}/explanation")).json()["rulesets"][0]
    assert page_view["rule_ids"] == explained["rule_ids"] and len(page_view["rule_ids"]) == 1
    assert page_view["weight"] == explained["weight"] == 5
    assert body["events"][0]["rule_ids"] == [] and body["events"][0]["weight"] == 0  # no rule for webinar_join
    assert [o["order_id"] for o in body["orders"]] == ["o-1"]
    assert body["orders"][0]["amount"] == 120.5 and body["orders"][0]["currency"] == "EUR"
    # the timeline merges both, oldest first; orders are not scored
    assert [(t["type"], t["title"], t["score_delta"]) for t in body["timeline"]] == [
        ("order", "Order o-1", None),
        ("event", "page_view", 5),
        ("event", "webinar_join", 0),
    ]


async def test_activity_filters(lead: Api) -> None:
    async def events(**params: Any) -> list[str]:
        r = await lead.get("/leads/ld_a/activity", params=params)
        assert r.status_code == 200, r.text
        return [e["event_type"] for e in r.json()["events"]]

    assert await events(range="all") == ["webinar_join", "page_view", "demo_request"]
    assert await events(range="all", channel="web") == ["demo_request"]
    assert await events(range="all", channel="webinar") == ["webinar_join"]
    assert await events(range="all", channel="all") == ["webinar_join", "page_view", "demo_request"]
    assert await events(range="all", minScore=10) == ["demo_request"]
    assert await events(range="all", hasDelta="true") == ["page_view", "demo_request"]
    assert await events(range="all", hasDelta="0") == ["webinar_join"]
    assert len(await events(range="all", maxLatency=3_600_000)) == 3
    assert await events(range="last_24h") == ["webinar_join"]
    r = await lead.get("/leads/ld_a/activity", params={"range": "custom", "start": ago(15), "end": ago(5)})
    body = r.json()
    assert [e["event_type"] for e in body["events"]] == ["demo_request"] and body["orders"] == []
    assert body["start"] == ago(15) and body["end"] == ago(5)
    # A history filter's bound before 1970 starts at 1970, as on the other history lists (it was a 400).
    r = await lead.get("/leads/ld_a/activity", params={"range": "custom", "start": "1900-01-01T00:00:00Z",
                                                       "end": ago(5)})
    assert r.status_code == 200, r.text
    assert [e["event_type"] for e in r.json()["events"]] == ["demo_request"]
    r = await lead.get("/leads/ld_a/activity", params={"range": "custom", "start": "1900-01-01T00:00:00Z",
                                                       "end": "1950-01-01T00:00:00Z"})
    assert r.status_code == 200 and r.json()["events"] == [] and r.json()["orders"] == []
    r = await lead.get("/leads/ld_a/activity", params={"range": "custom", "start": ago(1), "end": ago(1)})
    assert r.status_code == 400 and r.json()["error"] == "`start` must be before `end`"
    # channel etc. filter events only: orders in the range stay
    r = await lead.get("/leads/ld_a/activity", params={"range": "all", "channel": "crm"})
    assert r.json()["events"] == [] and [o["order_id"] for o in r.json()["orders"]] == ["o-1", "o-2"]


@pytest.mark.parametrize(
    "params",
    [
        {"range": "custom"},
        {"range": "custom", "start": ago(5)},
        {"range": "custom", "start": "nope", "end": ago(1)},
        {"range": "custom", "start": ago(1), "end": ago(5)},
        {"range": "last_7d", "start": ago(5)},
        {"range": "forever"},
        {"channel": "x" * 65},
        {"minScore": -1},
        {"maxLatency": 0},
        {"hasDelta": "maybe"},
    ],
)
async def test_activity_bad_inputs(lead: Api, params: dict[str, Any]) -> None:
    r = await lead.get("/leads/ld_a/activity", params=params)
    assert r.status_code == 400, r.text


async def test_activity_of_unknown_or_merged_lead(lead: Api) -> None:
    assert (await lead.get("/leads/nope/activity")).status_code == 404
    assert (await lead.post("/leads", json={"id": "ld_t"})).status_code == 201
    r = await lead.post("/leads/merge", json={"targetLeadId": "ld_t", "sourceLeadIds": ["ld_a"]})
    assert r.status_code == 200, r.text
    assert (await lead.get("/leads/ld_a/activity")).status_code == 404
    body = (await lead.get("/leads/ld_t/activity", params={"range": "all"})).json()
    assert len(body["events"]) == 3 and len(body["orders"]) == 2  # orders move with the merge


async def test_activity_filters_by_a_custom_channel(lead: Api) -> None:
    # Channels are open-ended: any metadata.channel value listed by /channels can be filtered on.
    r = await lead.get("/leads/ld_a/activity", params={"range": "all", "channel": "partner"})
    assert r.status_code == 200
    assert r.json()["events"] == []
