"""An inactive ruleset is not scored and keeps its scores frozen (docs/scoring.md), also through the replays a
merge or a deletion makes of a lead: its rows stay as stored (filed under the lead they now belong to) and its
score stays their sum, the scoring invariant."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, scores_of, wait_idle


async def _ingest(api: Api, lead_id: str, event_type: str) -> str:
    r = await api.post("/ingest", json={"lead_id": lead_id, "event_type": event_type})
    assert r.status_code == 202, r.text
    return str(r.json()["metadata"]["event_id"])


async def _invariant(api: Api, lead_id: str) -> dict[str, int]:
    scores, sums = await scores_of(api, lead_id), await delta_sums(api, lead_id)
    assert scores == {rs: total for rs, total in sums.items() if total or rs in scores}, (lead_id, scores, sums)
    return scores


async def test_an_inactive_rulesets_scores_stay_frozen_through_deletions_and_merges(api: Api) -> None:
    assert (await api.put("/settings/ou/surge-policy", json={"mode": "off"})).status_code == 200
    await add_rules(api, {"x": 1, "y": 2}, ruleset_id="rs_a")
    await add_rules(api, {"x": 10}, ruleset_id="rs_b", primary=False)
    first = await _ingest(api, "p1", "x")
    await _ingest(api, "p1", "x")
    await _ingest(api, "p1", "y")
    await _ingest(api, "p2", "x")
    await wait_idle(api)
    assert await _invariant(api, "p1") == {"rs_a": 4, "rs_b": 20}
    r = await api.put("/rulesets/rs_b", json={"active": False})
    assert r.status_code == 200, r.text
    await _ingest(api, "p1", "x")  # not scored in rs_b any more
    await wait_idle(api)
    assert await _invariant(api, "p1") == {"rs_a": 5, "rs_b": 20}

    # Deleting a type rs_b has no rule for leaves it as it was.
    r = await api.delete("/settings/event-types/y")
    assert r.status_code == 200, r.text
    assert await _invariant(api, "p1") == {"rs_a": 3, "rs_b": 20}
    # Deleting an event it scored takes that event's points with it, and nothing else.
    r = await api.request("DELETE", "/events/batch", json={"event_ids": [first]})
    assert r.json() == {"deleted": 1}
    assert await _invariant(api, "p1") == {"rs_a": 2, "rs_b": 10}
    # A merge brings the source's frozen points along, filed under the target.
    r = await api.post("/leads/merge", json={"targetLeadId": "p1", "sourceLeadIds": ["p2"]})
    assert r.status_code == 200, r.text
    assert await _invariant(api, "p1") == {"rs_a": 3, "rs_b": 20}

    # Rescoring the active ruleset changes nothing of the inactive one; reactivated and rescored, it is live again.
    def rows_of_b(c: Any) -> list[tuple[Any, ...]]:
        return c.execute("SELECT event_seq, lead_id, delta FROM event_scores WHERE ruleset_id = 'rs_b'"
                         " ORDER BY event_seq").fetchall()

    frozen = await api.rt.db.read(rows_of_b)
    assert (await api.post("/rulesets/rs_a/rescore")).status_code == 200
    await wait_idle(api)
    assert await api.rt.db.read(rows_of_b) == frozen
    assert (await api.put("/rulesets/rs_b", json={"active": True})).status_code == 200
    assert (await api.post("/rulesets/rs_b/rescore")).status_code == 200
    await wait_idle(api)
    assert await _invariant(api, "p1") == {"rs_a": 3, "rs_b": 30}
