"""A rescore replayed in a child process (pipeline.rescore_process), each step's replay overlapping the write of
the one before: it prepares what a reader thread prepares, and over random histories, with events ingested while
the rescore runs (between a step's replay and its write), it ends where a replay of every lead made at write
time ends."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from leadvibe.api import rulesets as rulesets_api
from leadvibe.app import create_app
from leadvibe.pipeline.inbox import IngestEvent, validate
from leadvibe.pipeline.rescore import PreparedRescore, prepare_rescore, rescore_leads
from leadvibe.pipeline.rescore_process import ReplayProcess
from leadvibe.pipeline.scoring_config import load_config
from leadvibe.store.scoring import live_lead_ids
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, ingest_minutes, wait_idle

UNIT = "unit_default"
TYPES = ("page_view", "demo", "email_open")
LEADS = tuple(f"ld_{i}" for i in range(6))
MINUTE = 60_000
START = time.time_ns() // 1_000_000_000 * 1000


def _plain(prepared: PreparedRescore) -> list[tuple[Any, ...]]:
    return [(chunk, fingerprint, vars(writes)) for chunk, fingerprint, writes in prepared.chunks]


async def test_the_child_prepares_what_a_reader_prepares(api: Api) -> None:
    await add_rules(api, {"page_view": 2, "demo": -3})
    await ingest_minutes(api, [(lead, t, i * 5 + j) for i, lead in enumerate(LEADS)
                               for j, t in enumerate(("page_view", "demo", "page_view"))])
    await api.rt.db.write(lambda c: c.execute("UPDATE rules SET weight = 7 WHERE type_key = 'page_view'"))
    now = api.rt.now_ms()
    by_reader = await api.rt.db.read(lambda c: prepare_rescore(c, load_config(c, UNIT), LEADS, now, ["rs_test"]))
    child = ReplayProcess(api.rt.db.path, 8)
    try:
        by_child = await child.prepare(UNIT, LEADS, now, ["rs_test"])
    finally:
        await child.close()
    assert by_child.scoring == by_reader.scoring
    assert _plain(by_child) == _plain(by_reader)
    assert len(by_child.chunks[0][2].score_updates) == 18  # each lead starts with a page_view: every row moves


async def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201, 202, 204), response.text
    return response.json() if response.status_code != 204 else None


async def _ingest(api: Api, events: list[tuple[str, str, int]]) -> None:
    now = api.rt.now_ms()
    await _ok(await api.post("/ingest/batch", json={"events": [
        {"lead_id": lead, "event_type": t, "timestamp": to_rfc3339(now + m * MINUTE)} for lead, t, m in events]}))


class _Interleaved(ReplayProcess):
    """The child's replay of a step, then `meanwhile`'s events of the step's leads ingested and scored before the
    step is written: every step's write finds leads that moved since their replay."""

    api: Api
    meanwhile: list[tuple[str, str, int]]

    async def prepare(self, unit_id: str, lead_ids: Sequence[str], *args: Any, **kw: Any) -> PreparedRescore:
        prepared = await super().prepare(unit_id, lead_ids, *args, **kw)
        arriving = [e for e in self.meanwhile if e[0] in lead_ids]
        if arriving:  # through the inbox the ingest routes write to (a request from inside one cannot be sent)
            rt, now = self.api.rt, self.api.rt.now_ms()
            org = await rt.db.read(lambda c: c.execute("SELECT org_id FROM org_units WHERE id = ?", (UNIT,)).fetchone())
            await rt.inbox.submit(org[0], UNIT, [validate(IngestEvent(lead_id=lead, event_type=t, timestamp=to_rfc3339(
                now + m * MINUTE)), now) for lead, t, m in arriving])
            await wait_idle(self.api)
        return prepared


async def _scenario(history: list[tuple[str, str, int]], weights: dict[str, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings(Path(tmp) / "data"), clock=ManualClock(START), announce_first_start=False)
        async with AsyncTestClient(app=app) as client:
            api = _Interleaved.api = Api(client, app)
            await api.login()
            await add_rules(api, {"page_view": 2, "demo": 9, "email_open": -3})
            await _ok(await api.post("/rulesets/rs_test/rescore"))  # the rows are whole: the next one is scoped
            await _ingest(api, history)
            await wait_idle(api)
            rules = {r["event_type"]: r["rule_id"] for r in await _ok(await api.get("/rules"))}
            for type_key, weight in weights.items():
                await _ok(await api.put(f"/rules/{rules[type_key]}", json={"weight": weight}))
            await _ok(await api.post("/rulesets/rs_test/rescore"))
            live = await api.rt.db.read(lambda c: live_lead_ids(c, UNIT))
            before = await api.rt.db.read(lambda c: c.execute("SELECT * FROM event_scores ORDER BY 1, 2").fetchall())
            await api.rt.db.write(lambda c: rescore_leads(c, api.rt.scoring_config.get(c, UNIT), live,
                                                          api.rt.now_ms(), ["rs_test"]))
            after = await api.rt.db.read(lambda c: c.execute("SELECT * FROM event_scores ORDER BY 1, 2").fetchall())
            assert after == before  # a replay of every lead at write time finds nothing to change
            scores, sums = await api.rt.db.read(lambda c: (
                c.execute("SELECT lead_id, score FROM lead_scores WHERE ruleset_id = 'rs_test'").fetchall(),
                c.execute("SELECT lead_id, sum(delta) FROM event_scores WHERE ruleset_id = 'rs_test'"
                          " GROUP BY lead_id").fetchall()))
            assert {lead: s for lead, s in scores if s} == {lead: s for lead, s in sums if s}


events = st.lists(st.tuples(st.sampled_from(LEADS), st.sampled_from(TYPES), st.integers(min_value=-300, max_value=0)),
                  min_size=1, max_size=25)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(events, st.dictionaries(st.sampled_from(TYPES), st.integers(min_value=-10, max_value=20), min_size=1),
       events)
def test_a_rescore_replayed_in_a_child_ends_where_a_full_replay_ends(
        monkeypatch: pytest.MonkeyPatch, history: list[tuple[str, str, int]], weights: dict[str, int],
        meanwhile: list[tuple[str, str, int]]) -> None:
    monkeypatch.setattr(rulesets_api, "RESCORE_PROCESS_LEADS", 0)
    monkeypatch.setattr(rulesets_api, "RESCORE_STEP_LEADS", 1)  # each lead a step, replayed beside a write
    monkeypatch.setattr(rulesets_api, "ReplayProcess", _Interleaved)
    monkeypatch.setattr(_Interleaved, "meanwhile", meanwhile, raising=False)
    asyncio.run(_scenario(history, weights))
