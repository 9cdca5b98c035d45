"""A ruleset rescore replays only the leads a change can reach: every live lead unless the ruleset's rows were
made whole under the current scoring epoch, then only those with an event of a type whose rules changed. The
triggers of migration 0052 record every change whatever path makes it; a rescore that saw the epoch move records
nothing."""

from __future__ import annotations

from typing import Any

from leadvibe.pipeline.rescore import finish_rescore, rescore_scope
from leadvibe.store import rescore_basis as basis
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, ingest_minutes, scores_of

UNIT = "unit_default"


async def _epoch(api: Api) -> int:
    return int(await api.rt.db.read(lambda c: basis.scoring_epoch(c, UNIT)))


async def _to_replay(api: Api, ruleset_id: str = "rs_test") -> list[str]:
    return list((await api.rt.db.read(lambda c: rescore_scope(c, UNIT, ruleset_id))).lead_ids)


async def _rule_id(api: Api, type_key: str) -> str:
    row = await api.rt.db.read(lambda c: c.execute("SELECT id FROM rules WHERE type_key = ?", (type_key,)).fetchone())
    return str(row[0])


async def _rescore(api: Api, ruleset_id: str = "rs_test") -> dict[str, Any]:
    r = await api.post(f"/rulesets/{ruleset_id}/rescore")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_every_change_but_rules_moves_the_epoch(api: Api) -> None:
    await add_rules(api, {"a": 1})
    changes: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/filters", {"event_type": "a", "count_threshold": 3, "time_window_ms": 60_000}),
        ("PUT", "/settings/ou/surge-policy", {"mode": "gentle"}),
        ("PUT", "/settings/scoring", {"session_timeout_minutes": 45}),
        ("PUT", "/settings/scoring", {"allow_negative_scores": True}),
        ("PUT", "/rulesets/rs_test", {"active": False}),
        ("PUT", "/rulesets/rs_test", {"active": True}),
    ]
    for method, path, body in changes:
        before = await _epoch(api)
        r = await api.request(method, path, json=body)
        assert r.status_code in (200, 201), (path, r.text)
        assert await _epoch(api) > before, path
    filter_id = (await api.get("/filters")).json()[0]["filter_id"]
    for method, path, body in (("PUT", f"/filters/{filter_id}", {"count_threshold": 4}),
                               ("DELETE", f"/filters/{filter_id}", None)):
        before = await _epoch(api)
        assert (await api.request(method, path, json=body)).status_code in (200, 204), path
        assert await _epoch(api) > before, path
    before = await _epoch(api)  # the same value sent back is no change; nor is a rule
    assert (await api.put("/settings/scoring", json={"session_timeout_minutes": 45})).status_code == 200
    assert (await api.put(f"/rules/{await _rule_id(api, 'a')}", json={"weight": 5})).status_code == 200
    assert await _epoch(api) == before


async def test_only_leads_with_a_changed_type_are_replayed(api: Api) -> None:
    await add_rules(api, {"a": 4, "b": 2, "c": 1})
    await ingest_minutes(api, [("ld_1", "a", 0), ("ld_2", "b", 1), ("ld_3", "a", 2), ("ld_3", "b", 3),
                               ("ld_4", "c", 4)])
    leads = ["ld_1", "ld_2", "ld_3", "ld_4"]
    assert await _to_replay(api) == leads  # never made whole: every lead
    assert (await _rescore(api))["leads_rescored"] == 4
    assert await _to_replay(api) == []  # whole, and no rule changed since
    assert (await api.put(f"/rules/{await _rule_id(api, 'b')}", json={"weight": 7})).status_code == 200
    assert await _to_replay(api) == ["ld_2", "ld_3"]
    r = await api.post("/rules", json={"ruleset_id": "rs_test", "event_type": "d", "weight": 3})
    assert r.status_code == 201, r.text
    assert await _to_replay(api) == ["ld_2", "ld_3"]  # no lead has a "d" event
    assert await _rescore(api) == {"ruleset_id": "rs_test", "leads_rescored": 4, "changed": 2}
    assert await scores_of(api, "ld_3") == {"rs_test": 11} == await delta_sums(api, "ld_3")
    assert await _to_replay(api) == []
    assert (await api.put("/settings/ou/surge-policy", json={"mode": "off"})).status_code == 200
    assert await _to_replay(api) == leads  # the epoch moved: every lead again


async def test_a_rescore_that_saw_the_epoch_move_records_nothing(api: Api) -> None:
    await add_rules(api, {"a": 4})
    await ingest_minutes(api, [("ld_1", "a", 0), ("ld_2", "a", 1)])
    scope = await api.rt.db.read(lambda c: rescore_scope(c, UNIT, "rs_test"))
    assert (await api.put("/settings/scoring", json={"session_timeout_minutes": 5})).status_code == 200
    assert not await api.rt.db.write(lambda c: finish_rescore(c, UNIT, "rs_test", scope))
    assert await _to_replay(api) == ["ld_1", "ld_2"]


async def test_a_rule_changed_during_a_rescore_stays_pending(api: Api) -> None:
    await add_rules(api, {"a": 4, "b": 1})
    await ingest_minutes(api, [("ld_1", "a", 0), ("ld_2", "b", 1)])
    scope = await api.rt.db.read(lambda c: rescore_scope(c, UNIT, "rs_test"))
    assert (await api.put(f"/rules/{await _rule_id(api, 'b')}", json={"weight": 2})).status_code == 200
    assert await api.rt.db.write(lambda c: finish_rescore(c, UNIT, "rs_test", scope))
    assert await _to_replay(api) == ["ld_2"]


async def test_a_ruleset_switched_on_again_replays_every_lead(api: Api) -> None:
    await add_rules(api, {"a": 4})
    await ingest_minutes(api, [("ld_1", "a", 0)])
    await _rescore(api)
    assert (await api.put("/rulesets/rs_test", json={"active": False})).status_code == 200
    await ingest_minutes(api, [("ld_2", "a", 5)])  # no row in rs_test while it is off
    assert (await api.put("/rulesets/rs_test", json={"active": True})).status_code == 200
    assert await _to_replay(api) == ["ld_1", "ld_2"]
    await _rescore(api)
    assert await scores_of(api, "ld_2") == {"rs_test": 4} == await delta_sums(api, "ld_2")
