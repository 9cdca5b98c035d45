"""Replay == live, through the real pipeline, over random histories: events ingested over HTTP and scored by the
worker, then the chunked rescore (which writes only what changes) must leave every stored row as it was, the
whole-OU backtest (engine.bulk, fed by SQL) must reproduce every stored score, and after a rule change the
rescore must land exactly on the scores the backtest predicted for the new rules."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from leadvibe.app import create_app
from leadvibe.pipeline.decay import run_pass
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api, make_settings
from tests.helpers import add_filter, add_rules, wait_idle

START = time.time_ns() // 1_000_000_000 * 1000
TYPES = ("page_view", "demo", "email_open", "webinar")
MINUTE = 60_000

events = st.lists(
    st.tuples(
        st.sampled_from(("ld_a", "ld_b", "ld_c")),
        st.sampled_from(TYPES),
        st.integers(min_value=-240, max_value=0),  # minutes before the clock: sessions split and join
    ),
    min_size=1,
    max_size=25,
)
weights = st.fixed_dictionaries({t: st.integers(min_value=-10, max_value=30) for t in TYPES})


async def _snapshot(api: Api) -> tuple[Any, ...]:
    def run(c: Any) -> tuple[Any, ...]:
        return tuple(
            tuple(c.execute(sql).fetchall())
            for sql in (
                "SELECT unit_id, ruleset_id, lead_id, score FROM lead_scores ORDER BY 1, 2, 3",
                "SELECT * FROM event_scores ORDER BY 1, 2",
                "SELECT * FROM events ORDER BY seq",
                "SELECT id, session_n, session_last_ts, session_started_at, session_count FROM leads ORDER BY id",
            )
        )

    return await api.rt.db.read(run)


async def _scores(api: Api, ruleset_id: str) -> dict[str, int]:
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT lead_id, score FROM lead_scores WHERE ruleset_id = ?", (ruleset_id,)).fetchall())
    return {lead: score for lead, score in rows if score}


async def _backtest(api: Api, ruleset_id: str, rules: dict[str, int]) -> dict[str, Any]:
    draft = [{"event_type": t, "weight": w} for t, w in rules.items()]
    r = await api.post(f"/rulesets/{ruleset_id}/backtest", json={"rules": draft, "limit": 100})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _scenario(history: list[tuple[str, str, int]], first: dict[str, int], second: dict[str, int],
                    decay_after: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings(Path(tmp) / "data"), clock=ManualClock(START), announce_first_start=False)
        async with AsyncTestClient(app=app) as client:
            api = Api(client, app)
            await api.login()
            await add_rules(api, first, "rs_one")
            await add_rules(api, {"page_view": 2, "demo": 7}, "rs_two", primary=False)
            await add_filter(api, "if_1", "email_open", 2, 30 * MINUTE, True)
            batch = [{"lead_id": lead, "event_type": t, "timestamp": to_rfc3339(START + m * MINUTE)}
                     for lead, t, m in history]
            r = await api.post("/ingest/batch", json={"events": batch})
            assert r.status_code == 202 and r.json()["accepted"] == len(batch), r.text
            await wait_idle(api)
            if decay_after:
                assert (await api.post("/decays", json={"inactive_for": 1, "unit": "hours",
                                                        "decrease": 9})).status_code == 201
                api.rt.clock.advance(3 * 3600)
                await run_pass(api.rt)
            live = await _snapshot(api)
            for rs in ("rs_one", "rs_two"):
                assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 200
            assert await _snapshot(api) == live  # replay == live, and nothing is rewritten needlessly
            body = await _backtest(api, "rs_one", first)
            assert body["leads_changed"] == 0 and body["total_new_score"] == body["total_old_score"]
            predicted = {x["lead_id"]: x["new_score"] for x in (await _backtest(api, "rs_one", second))["leads"]}

            def change_rules(c: Any) -> None:
                for t, w in second.items():
                    c.execute("UPDATE rules SET weight = ? WHERE ruleset_id = 'rs_one' AND type_key = ?", (w, t))

            await api.rt.db.write(change_rules)
            api.rt.scoring_config.invalidate("unit_default")
            r = await api.post("/rulesets/rs_one/rescore")
            assert r.status_code == 200, r.text
            assert await _scores(api, "rs_one") == {lead: s for lead, s in predicted.items() if s}
            sums = await api.rt.db.read(lambda c: c.execute(
                "SELECT s.lead_id, sum(s.delta) FROM event_scores s WHERE s.ruleset_id = 'rs_one'"
                " GROUP BY s.lead_id").fetchall())
            assert {lead: s for lead, s in sums if s} == await _scores(api, "rs_one")  # score == sum of deltas


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, weights, weights, st.booleans())
def test_rescore_and_backtest_agree_with_live_scoring(history: list[tuple[str, str, int]], first: dict[str, int],
                                                      second: dict[str, int], decay_after: bool) -> None:
    asyncio.run(_scenario(history, first, second, decay_after))
