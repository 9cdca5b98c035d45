"""The hourly analytics totals (migration 0041) against the definitions they replace, over random histories run
through the real pipeline: events ingested over HTTP at random instants around the window edges, then random
deletions, merges, lead deletions, rule changes with rescore, decay passes and event type deletions. After each
step every analytics endpoint must answer what the plain queries over the rows answer, the totals (and the
score-gain days of migration 0060) must equal a recount from scratch, and a database migrated with data already in
it must hold the same totals."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import apsw
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from leadvibe.api.analytics import DAY, TOP_EVENTS, month_bounds
from leadvibe.app import create_app
from leadvibe.db.migrate import apply_migrations
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key
from leadvibe.pipeline.decay import run_pass
from leadvibe.store import analytics as store
from leadvibe.store.analytics_gains import DAY_WALK_MIN_EVENTS
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, running_totals_mismatches, wait_idle

START = time.time_ns() // 1_000_000_000 * 1000
MINUTE = 60_000
LEADS = ("ld_a", "ld_b", "ld_c", "ld_d")
# "Decay" is sent by a client (no decay_id): scored by its rule like any type, unlike a decay pass's DECAY events,
# and, like them, not an engagement event in the counts.
TYPES = ("page_view", "demo", "email_open", "webinar", "Decay")
DECAY_KEY = type_key(DECAY_EVENT_TYPE)
GAIN_HOURS = (1, 3, 24, 720)
TABLES = {
    "analytics_event_hours": "SELECT unit_id, occurred_at / 3600000 - (occurred_at < 0 AND occurred_at % 3600000"
                             " != 0), type_key, count(*) FROM events GROUP BY 1, 2, 3",
    "analytics_score_hours": "SELECT e.unit_id, s.ruleset_id, e.occurred_at / 3600000 - (e.occurred_at < 0 AND"
                             " e.occurred_at % 3600000 != 0), sum(s.delta) FROM event_scores s"
                             " JOIN events e ON e.seq = s.event_seq GROUP BY 1, 2, 3",
    "analytics_active_hours": "SELECT unit_id, last_organic_at / 3600000 - (last_organic_at < 0 AND"
                              " last_organic_at % 3600000 != 0), count(*) FROM leads WHERE merged_into IS NULL"
                              " AND last_organic_at IS NOT NULL GROUP BY 1, 2",
}
# The score-gain days (migration 0060): per lead and UTC day, its score rows' positive deltas in a primary ruleset,
# from the ruleset's first day kept.
GAIN_DAYS = ("SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),"
             " s.lead_id, sum(s.delta) FROM event_scores s JOIN events e ON e.seq = s.event_seq"
             " JOIN score_gain_rulesets g ON g.ruleset_id = s.ruleset_id"
             " WHERE s.delta > 0 AND e.occurred_at >= g.day * 86400000 GROUP BY 1, 2, 3")

history = st.lists(st.tuples(st.sampled_from(LEADS), st.sampled_from(TYPES),
                             st.integers(min_value=-30 * 60, max_value=5)),  # minutes around the clock
                   min_size=1, max_size=30)
steps = st.lists(st.sampled_from(("delete_events", "merge", "delete_lead", "rescore", "decay", "delete_type",
                                  "more_events", "later", "next_day")), max_size=4)


# -- the definitions the totals replace: plain queries over the rows ---------------------------------------
def _events(c: Any, unit_id: str, start: int, end: int | None) -> int:
    bound = " AND occurred_at < ?" if end is not None else ""
    params = (unit_id, DECAY_KEY, start) + ((end,) if end is not None else ())
    return int(c.execute(f"SELECT COUNT(*) FROM events WHERE unit_id = ? AND type_key != ? AND occurred_at >= ?{bound}",
                         params).fetchone()[0])


def _active(c: Any, unit_id: str, start: int, end: int | None) -> int:
    bound = " AND last_organic_at < ?" if end is not None else ""
    params = (unit_id, start) + ((end,) if end is not None else ())
    return int(c.execute("SELECT COUNT(*) FROM leads WHERE unit_id = ? AND merged_into IS NULL"
                         f" AND last_organic_at >= ?{bound}", params).fetchone()[0])


def _delta(c: Any, unit_id: str, ruleset_id: str, start: int) -> int:
    return int(c.execute("SELECT COALESCE(SUM(s.delta), 0) FROM events e JOIN event_scores s"
                         " ON s.event_seq = e.seq AND s.ruleset_id = ? WHERE e.unit_id = ? AND e.occurred_at >= ?",
                         (ruleset_id, unit_id, start)).fetchone()[0])


def _top_types(c: Any, unit_id: str, start: int) -> list[dict[str, Any]]:
    rows = c.execute(
        "SELECT t.display_name, COUNT(*) AS n FROM events e JOIN event_types t"
        " ON t.unit_id = e.unit_id AND t.type_key = e.type_key"
        " WHERE e.unit_id = ? AND e.occurred_at >= ? AND e.type_key != ? AND NOT EXISTS (SELECT 1"
        "  FROM event_type_settings s WHERE s.unit_id = t.unit_id AND s.type_key = t.type_key AND s.hidden = 1)"
        " GROUP BY t.type_key ORDER BY n DESC, lower(t.display_name) LIMIT ?", (unit_id, start, DECAY_KEY, TOP_EVENTS))
    return [{"event_type": name, "count": n} for name, n in rows]


def _gains(c: Any, unit_id: str, ruleset_id: str, start: int, limit: int = 10, raw: bool = False
           ) -> list[dict[str, Any]]:
    rows = c.execute(
        "SELECT g.lead_id, g.gain, COALESCE(ls.score, 0), l.last_event_at FROM ("
        "  SELECT s.lead_id, SUM(s.delta) AS gain FROM events e JOIN event_scores s"
        "  ON s.event_seq = e.seq AND s.ruleset_id = ? WHERE e.unit_id = ? AND e.occurred_at >= ?"
        "  GROUP BY s.lead_id HAVING gain > 0) g"
        " JOIN leads l ON l.unit_id = ? AND l.id = g.lead_id AND l.merged_into IS NULL"
        " LEFT JOIN lead_scores ls ON ls.unit_id = l.unit_id AND ls.ruleset_id = ? AND ls.lead_id = g.lead_id"
        " ORDER BY g.gain DESC, g.lead_id LIMIT ?", (ruleset_id, unit_id, start, unit_id, ruleset_id, limit))
    return [{"lead_id": lead, "gain": gain, "score": score, "last_event_at": at if raw else to_rfc3339(at)}
            for lead, gain, score, at in rows]


def _expected(c: Any, now: int) -> dict[str, Any]:
    unit, since = "unit_default", now - DAY
    live = c.execute("SELECT COUNT(*) FROM leads WHERE unit_id = ? AND merged_into IS NULL", (unit,)).fetchone()[0]
    start, end = month_bounds(now)
    units = [u for (u,) in c.execute("SELECT id FROM org_units WHERE org_id ="
                                     " (SELECT org_id FROM org_units WHERE id = ?)", (unit,))]
    return {
        "totals": {"events": store.catalogue_counts(c, unit)[0],  # the type catalogue's count, unchanged
                   "leads": live, "events_last_24h": _events(c, unit, since, None),
                   "leads_active_7d": _active(c, unit, now - 7 * DAY, None)},
        "last_24h": {"events": _events(c, unit, since, None), "leads": _active(c, unit, since, None),
                     "score_delta": _delta(c, unit, "rs_one", since)},
        "top_events": _top_types(c, unit, since),
        "gains": {h: _gains(c, unit, "rs_one", now - h * 3_600_000) for h in GAIN_HOURS},
        "usage": ({"events": sum(_events(c, u, start, end) for u in units),
                   "leads": sum(_active(c, u, start, end) for u in units)},
                  (_events(c, unit, start, end), _active(c, unit, start, end))),
    }


async def _answers(api: Api) -> dict[str, Any]:
    analytics = (await api.get("/analytics")).json()
    stats = (await api.get("/analytics/stats")).json()
    usage = (await api.get("/usage")).json()
    # Each row's `name` (the lead's, from its metadata) is no part of what the row queries define.
    gains = {h: [{k: v for k, v in row.items() if k != "name"}
                 for row in (await api.get(f"/analytics/score-gains?hours={h}")).json()] for h in GAIN_HOURS}
    return {"totals": analytics["totals"], "last_24h": stats["last_24h"], "top_events": stats["top_events"],
            "gains": gains,
            "usage": (usage["org"], (usage["ou"]["events"], usage["ou"]["leads"]))}


def _totals(c: Any) -> dict[str, list[Any]]:
    """Each totals table without its zero rows."""
    return {t: sorted(r for r in c.execute(f"SELECT * FROM {t}") if r[-1]) for t in TABLES}


def _recount(c: Any) -> dict[str, list[Any]]:
    return {t: sorted(r for r in c.execute(sql) if r[-1]) for t, sql in TABLES.items()}


async def _check(api: Api, windows: list[tuple[int, int]]) -> None:
    now = api.rt.now_ms()
    assert await _answers(api) == await api.rt.db.read(lambda c: _expected(c, now))

    def closed_windows(c: Any) -> None:  # unaligned [start, end) windows, both edges inside an hour
        assert _totals(c) == _recount(c)
        assert sorted(r for r in c.execute("SELECT * FROM score_gain_days") if r[-1]) == sorted(c.execute(GAIN_DAYS))
        for a, b in windows:
            start, end = now + a * MINUTE, now + (a + b) * MINUTE
            assert store.window_events(c, "unit_default", start, end) == _events(c, "unit_default", start, end)
            assert store.active_leads(c, "unit_default", start, end) == _active(c, "unit_default", start, end)
            assert store.score_delta(c, "unit_default", "rs_two", start) == _delta(c, "unit_default", "rs_two", start)
            for ruleset in ("rs_one", "rs_two"):
                for limit in (1, 2, 10):
                    expected = [tuple(r.values()) for r in _gains(c, "unit_default", ruleset, start, limit, raw=True)]
                    for walk_from in (0, DAY_WALK_MIN_EVENTS):  # ranked by days, and by candidates
                        assert [tuple(r.values()) for r in store.score_gains(
                            c, "unit_default", ruleset, start, limit, walk_min_events=walk_from)] == expected
    await api.rt.db.read(closed_windows)


async def _ingest(api: Api, events: list[tuple[str, str, int]], headers: dict[str, str] | None = None) -> None:
    now = api.rt.now_ms()
    batch = [{"lead_id": lead, "event_type": t, "timestamp": to_rfc3339(now + m * MINUTE)} for lead, t, m in events]
    r = await api.client.post("/ingest/batch", json={"events": batch}, headers=headers or api.headers)
    assert r.status_code == 202 and r.json()["accepted"] == len(batch), r.text
    await wait_idle(api)


async def _step(api: Api, step: str, events: list[tuple[str, str, int]]) -> None:
    if step == "delete_events":
        ids = [e["id"] for e in (await api.get("/events?limit=100")).json()["events"]][::2]
        if ids:
            assert (await api.request("DELETE", "/events/batch", json={"ids": ids})).status_code == 200
    elif step == "merge":
        r = await api.post("/leads/merge", json={"targetLeadId": "ld_a", "sourceLeadIds": ["ld_b"]})
        assert r.status_code in (200, 404), r.text
    elif step == "delete_lead":
        if (await api.request("DELETE", "/leads/ld_c")).status_code == 202:
            for _ in range(300):
                if (await api.get("/leads/ld_c/deletion")).json()["status"] == "completed":
                    break
                await asyncio.sleep(0.02)
    elif step == "rescore":
        def change_rules(c: Any) -> None:
            c.execute("UPDATE rules SET weight = weight * 2 - 3 WHERE ruleset_id = 'rs_one'")
        await api.rt.db.write(change_rules)
        api.rt.scoring_config.invalidate("unit_default")
        assert (await api.post("/rulesets/rs_one/rescore")).status_code == 200
    elif step == "decay":  # negatives off first: a negative score snaps up to 0, a DECAY row that rises
        assert (await api.put("/settings/scoring", json={"allow_negative_scores": False})).status_code == 200
        await api.post("/decays", json={"inactive_for": 1, "unit": "hours", "decrease": 4})
        api.rt.clock.advance(2 * 3600)
        await run_pass(api.rt)
    elif step == "delete_type":
        assert (await api.request("DELETE", "/settings/event-types/webinar")).status_code == 200
    elif step == "more_events":
        await _ingest(api, events[:10])
    elif step == "later":
        api.rt.clock.advance(7 * 60 * 37)
    elif step == "next_day":
        api.rt.clock.advance(23 * 3600 + 17 * 60)


async def _scenario(offset: int, events: list[tuple[str, str, int]], plan: list[str],
                    windows: list[tuple[int, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        app = create_app(make_settings(data), clock=ManualClock(START - offset * MINUTE), announce_first_start=False)
        async with AsyncTestClient(app=app) as client:
            api = Api(client, app)
            await api.login()
            await add_rules(api, {"page_view": 3, "demo": 11, "email_open": -2, "webinar": 5, "Decay": 6}, "rs_one")
            await add_rules(api, {"page_view": 1, "demo": 7}, "rs_two", primary=False)
            assert (await api.put("/settings/scoring", json={"allow_negative_scores": True})).status_code == 200
            r = await api.post("/org-units", json={"name": "Elsewhere"})
            assert r.status_code == 201, r.text
            other = {**api.headers, "X-OU-ID": r.json()["unit_id"]}
            await _ingest(api, events)
            await _ingest(api, events[::3], other)
            await _check(api, windows)
            for step in plan:
                await _step(api, step, events)
                await _check(api, windows)
                # Merges, deletions and rescores keep each lead's running scores the prefix sums of its deltas.
                for unit in ("unit_default", other["X-OU-ID"]):
                    assert await api.rt.db.read(lambda c, u=unit: running_totals_mismatches(c, u)) == [], step
            before = await api.rt.db.read(_totals)

            def forget(c: Any) -> None:  # as if the data had been written before migration 0041 existed
                for t in TABLES:
                    c.execute(f"DELETE FROM {t}")
                triggers = [n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                                    " AND name LIKE 'analytics_%'")]
                for name in triggers:
                    c.execute(f"DROP TRIGGER {name}")
                for t in TABLES:
                    c.execute(f"DROP TABLE {t}")
                c.execute("DELETE FROM schema_migrations WHERE version = 41")
            await api.rt.db.write(forget)
        conn = apsw.Connection(str(data / "leadvibe.db"))
        apply_migrations(conn)
        assert _totals(conn) == before
        conn.close()


# Each example runs a whole app: a failure is reported as found, without the (minutes long) shrinking.
@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=(Phase.explicit, Phase.reuse, Phase.generate))
@given(st.integers(min_value=0, max_value=59), history, steps,
       st.lists(st.tuples(st.integers(min_value=-40 * 60, max_value=60), st.integers(min_value=0, max_value=30 * 60)),
                min_size=1, max_size=4))
def test_analytics_answers_match_the_row_queries(offset: int, events: list[tuple[str, str, int]], plan: list[str],
                                                  windows: list[tuple[int, int]]) -> None:
    asyncio.run(_scenario(offset, events, plan, windows))
