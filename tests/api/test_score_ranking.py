"""Only the primary ruleset's scores are ranked (migration 0057): `lead_scores.ranked` marks its rows, the partial
index `lead_scores_rank` holds them, and what sorts or filters by score reads the ruleset it is asked for whatever
is primary. Checked through HTTP against each lead's own score (`GET /leads/{id}/score`), across primary switches
made through the API, and on a database migrated from before the column existed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leadvibe.db.migrate import apply_migrations
from tests.conftest import Api
from tests.helpers import database_before, wait_idle

LEADS = [f"ld_{i:02d}" for i in range(12)]


async def _ruleset(api: Api, name: str, weights: dict[str, int]) -> str:
    r = await api.post("/rulesets", json={"name": name})
    assert r.status_code == 201, r.text
    ruleset_id = str(r.json()["ruleset_id"])
    for event_type, weight in weights.items():
        r = await api.post("/rules", json={"ruleset_id": ruleset_id, "event_type": event_type, "weight": weight})
        assert r.status_code == 201, r.text
    return ruleset_id


async def _ingest(api: Api, leads: list[str]) -> None:
    # Lead i sends i % 5 page views and i % 3 demo requests: the two rulesets below order them differently.
    events = [{"lead_id": lead, "event_type": t}
              for i, lead in enumerate(leads) for t in ["page_view"] * (i % 5) + ["demo_request"] * (i % 3)]
    r = await api.post("/ingest/batch", json={"events": events})
    assert r.status_code == 202, r.text
    await wait_idle(api)


async def _scores(api: Api, ruleset_id: str, leads: list[str]) -> dict[str, int]:
    out = {}
    for lead in leads:
        r = await api.get(f"/leads/{lead}/score", params={"ruleset_id": ruleset_id})
        if r.status_code == 200:
            out[lead] = int(r.json()["score"])
    return out


def _ranked_rows_wrong(api: Api) -> int:
    """Score rows whose `ranked` is not 'its ruleset is its OU's primary'."""
    return int(api.rt.db.read_blocking(lambda c: c.execute(
        "SELECT count(*) FROM lead_scores s WHERE s.ranked IS NOT EXISTS (SELECT 1 FROM rulesets r"
        " WHERE r.id = s.ruleset_id AND r.unit_id = s.unit_id AND r.is_primary = 1)").fetchone()[0]))


async def _check_orders(api: Api, primary: str, other: str, leads: list[str]) -> None:
    """The lead list (primary scores) and top leads (either ruleset) against each lead's own score."""
    mine = await _scores(api, primary, leads)
    theirs = await _scores(api, other, leads)
    for sort, reverse in (("score_desc", True), ("score_asc", False)):
        listed = []
        for page in (1, 2, 3):
            r = await api.get("/leads", params={"sort": sort, "limit": 5, "page": page})
            assert r.status_code == 200, r.text
            listed += [(x["id"], x["score"]) for x in r.json()["leads"]]
        assert [s for _, s in listed] == sorted(mine.values(), reverse=reverse)
        assert all(mine.get(lead, 0) == s for lead, s in listed)
    r = await api.get("/leads", params={"min_score": 6, "limit": 100})
    assert r.json()["total"] == sum(1 for s in mine.values() if s >= 6)
    assert sorted(x["id"] for x in r.json()["leads"]) == sorted(lead for lead, s in mine.items() if s >= 6)
    for ruleset_id, expected in ((primary, mine), (other, theirs)):
        top = (await api.get("/analytics/top-leads", params={"ruleset": ruleset_id, "limit": 5})).json()
        # A lead none of whose events a ruleset's rules match has no row there: compare the scores above 0.
        best = sorted(((s, lead) for lead, s in expected.items()), reverse=True)[:5]
        assert [(x["lead_id"], x["score"]) for x in top if x["score"] > 0] == [(lead, s) for s, lead in best if s > 0]
        assert len(best) >= 5 and best[4][0] > 0, "the check needs five scored leads"
    assert [x["lead_id"] for x in (await api.get("/analytics/top-leads", params={"limit": 5})).json()] == [
        x["lead_id"] for x in (await api.get("/analytics/top-leads", params={"ruleset": primary, "limit": 5})).json()]


async def test_the_ranking_follows_the_primary_ruleset(api: Api) -> None:
    first = await _ruleset(api, "Marketing", {"page_view": 3, "demo_request": 1})
    second = await _ruleset(api, "Sales", {"page_view": 1, "demo_request": 7})
    await _ingest(api, LEADS[:8])
    assert _ranked_rows_wrong(api) == 0
    await _check_orders(api, first, second, LEADS[:8])

    r = await api.put(f"/rulesets/{second}", json={"is_primary": True})
    assert r.status_code == 200 and r.json()["is_primary"] is True, r.text
    assert _ranked_rows_wrong(api) == 0
    await _check_orders(api, second, first, LEADS[:8])

    # New leads after the switch, and more events for known ones: their new rows are ranked as they are written.
    await _ingest(api, LEADS)
    assert _ranked_rows_wrong(api) == 0
    await _check_orders(api, second, first, LEADS)

    # A third ruleset made primary as it is created has no rows yet; the ones it gets are ranked.
    third = await _ruleset(api, "Product", {"page_view": 2})
    assert (await api.put(f"/rulesets/{third}", json={"is_primary": True})).status_code == 200
    await _ingest(api, LEADS)
    assert _ranked_rows_wrong(api) == 0
    await _check_orders(api, third, second, LEADS)


def test_the_migration_ranks_the_primary_rulesets_stored_scores(tmp_path: Path) -> None:
    conn = database_before(tmp_path, 57)
    for unit, primary in (("u1", "rs_a"), ("u2", "rs_c")):
        for rs in ("rs_a", "rs_b") if unit == "u1" else ("rs_c", "rs_d"):
            conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                         " VALUES (?, 'o', ?, ?, ?, 0, 0)", (rs, unit, rs, int(rs == primary)))
            conn.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                             " VALUES (?, ?, ?, ?, 0)", [(unit, rs, f"ld_{i}", i) for i in range(5)])
    apply_migrations(conn)
    ranked: Any = conn.execute("SELECT unit_id, ruleset_id, count(*) FROM lead_scores WHERE ranked = 1"
                               " GROUP BY unit_id, ruleset_id ORDER BY unit_id").fetchall()
    assert ranked == [("u1", "rs_a", 5), ("u2", "rs_c", 5)]
    plan = [r[3] for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT lead_id FROM lead_scores s WHERE s.unit_id = ? AND s.ruleset_id = ?"
        " AND s.ranked = 1 ORDER BY s.score DESC", ("u1", "rs_a"))]
    assert plan == ["SEARCH s USING COVERING INDEX lead_scores_rank (unit_id=? AND ruleset_id=?)"], plan
