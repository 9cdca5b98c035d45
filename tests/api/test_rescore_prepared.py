"""A rescore prepared on a read transaction and written later: chunks whose leads or configuration moved in
between are replayed again at write time, so the result is the one a rescore made entirely at write time gives."""

from __future__ import annotations

from typing import Any

import pytest

from leadvibe.api import rulesets as rulesets_api
from leadvibe.pipeline.rescore import PreparedRescore, prepare_rescore, rescore_leads
from leadvibe.pipeline.scoring_config import load_config
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, ingest_minutes, scores_of

LEADS = ["ld_p1", "ld_p2"]


async def _set_weight(api: Api, type_key: str, weight: int) -> None:
    await api.rt.db.write(lambda c: c.execute("UPDATE rules SET weight = ? WHERE ruleset_id = 'rs_test'"
                                              " AND type_key = ?", (weight, type_key)))
    api.rt.scoring_config.invalidate("unit_default")


async def _prepare(api: Api) -> PreparedRescore:
    return await api.rt.db.read(lambda c: prepare_rescore(
        c, load_config(c, "unit_default"), LEADS, api.rt.now_ms(), ["rs_test"]))


async def _apply(api: Api, prepared: PreparedRescore) -> int:
    return await api.rt.db.write(lambda c: rescore_leads(
        c, api.rt.scoring_config.get(c, "unit_default"), LEADS, api.rt.now_ms(), ["rs_test"], prepared=prepared))


async def _rows(api: Api) -> list[Any]:
    return await api.rt.db.read(lambda c: c.execute(
        "SELECT * FROM event_scores WHERE ruleset_id = 'rs_test' ORDER BY event_seq").fetchall())


async def _assert_settled(api: Api) -> None:
    """Score == sum of deltas, and a rescore made now at write time changes nothing more."""
    for lead in LEADS:
        assert await scores_of(api, lead) == await delta_sums(api, lead)
    rows = await _rows(api)
    scores = [await scores_of(api, lead) for lead in LEADS]
    await api.rt.db.write(lambda c: rescore_leads(
        c, api.rt.scoring_config.get(c, "unit_default"), LEADS, api.rt.now_ms(), ["rs_test"]))
    assert await _rows(api) == rows
    assert [await scores_of(api, lead) for lead in LEADS] == scores


async def test_prepared_writes_land_when_nothing_moved(api: Api) -> None:
    await add_rules(api, {"a": 4, "b": -3})
    await ingest_minutes(api, [("ld_p1", "a", 0), ("ld_p1", "b", 1), ("ld_p2", "a", 2), ("ld_p2", "a", 3)])
    await _set_weight(api, "a", 6)
    assert await _apply(api, await _prepare(api)) == 2
    assert await scores_of(api, "ld_p1") == {"rs_test": 3}  # 6 - 3
    assert await scores_of(api, "ld_p2") == {"rs_test": 12}
    await _assert_settled(api)


async def test_a_lead_that_got_an_event_meanwhile_is_replayed_at_write_time(api: Api) -> None:
    await add_rules(api, {"a": 4, "b": -3})
    await ingest_minutes(api, [("ld_p1", "a", 0), ("ld_p1", "b", 1), ("ld_p2", "a", 2)])
    await _set_weight(api, "a", 6)
    prepared = await _prepare(api)
    await ingest_minutes(api, [("ld_p1", "a", 200)])  # scored by the worker between the replay and its write
    assert await _apply(api, prepared) == 2
    assert await scores_of(api, "ld_p1") == {"rs_test": 9}
    await _assert_settled(api)


async def test_rules_changed_meanwhile_are_the_ones_written(api: Api) -> None:
    await add_rules(api, {"a": 4, "b": -3})
    await ingest_minutes(api, [("ld_p1", "a", 0), ("ld_p2", "a", 2), ("ld_p2", "b", 3)])
    await _set_weight(api, "a", 6)
    prepared = await _prepare(api)
    await _set_weight(api, "a", 10)
    await _apply(api, prepared)
    assert await scores_of(api, "ld_p1") == {"rs_test": 10}
    assert await scores_of(api, "ld_p2") == {"rs_test": 7}
    await _assert_settled(api)


async def test_the_endpoint_rescores_step_by_step(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulesets_api, "RESCORE_STEP_LEADS", 2)  # five leads: three steps
    await add_rules(api, {"a": 4, "b": -3})
    leads = [f"ld_s{i}" for i in range(5)]
    await ingest_minutes(api, [(lead, t, i * 3 + j) for i, lead in enumerate(leads) for j, t in enumerate("aab")])
    await _set_weight(api, "a", 6)
    r = await api.post("/rulesets/rs_test/rescore")
    assert r.status_code == 200, r.text
    assert (r.json()["leads_rescored"], r.json()["changed"]) == (5, 5)
    for lead in leads:
        assert await scores_of(api, lead) == {"rs_test": 9} == await delta_sums(api, lead)


async def test_a_step_stops_at_its_write_budget(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rulesets_api, "RESCORE_STEP_WRITES", 1)  # every chunk (of 100 leads) is a step
    await add_rules(api, {"a": 4})
    leads = [f"ld_w{i:03d}" for i in range(150)]
    await ingest_minutes(api, [(lead, "a", i % 500) for i, lead in enumerate(leads)])
    await _set_weight(api, "a", 5)
    prepared = await api.rt.db.read(lambda c: prepare_rescore(
        c, load_config(c, "unit_default"), leads, api.rt.now_ms(), ["rs_test"], max_writes=1))
    assert prepared.lead_count == 100
    r = await api.post("/rulesets/rs_test/rescore")
    assert (r.json()["leads_rescored"], r.json()["changed"]) == (150, 150)
    assert await scores_of(api, "ld_w149") == {"rs_test": 5} == await delta_sums(api, "ld_w149")
