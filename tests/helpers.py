"""Test helpers shared across domains."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_idle(api: Any, timeout: float = 10.0) -> None:
    """Wait until the scoring worker has processed every acknowledged event."""
    worker = api.rt.worker
    if worker is None:
        raise AssertionError("the scoring worker is not running")
    await asyncio.wait_for(worker.wait_idle(), timeout)


async def add_rules(api: Any, weights: dict[str, int], ruleset_id: str = "rs_test", primary: bool = True,
                    unit_id: str = "unit_default") -> str:
    """Insert a ruleset with rules directly (pipeline tests that must not depend on the config endpoints)."""
    from leadvibe.engine.normalize import type_key

    now = api.rt.now_ms()

    def run(c: Any) -> None:
        c.execute("INSERT OR IGNORE INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                  " SELECT ?, org_id, id, ?, ?, ?, ? FROM org_units WHERE id = ?",
                  (ruleset_id, ruleset_id, int(primary), now, now, unit_id))
        for i, (event_type, weight) in enumerate(weights.items()):
            c.execute("INSERT INTO rules (id, ruleset_id, org_id, unit_id, event_type, type_key, weight, created_at,"
                      " updated_at) SELECT ?, ?, org_id, id, ?, ?, ?, ?, ? FROM org_units WHERE id = ?",
                      (f"rl_{ruleset_id}_{i}_{now}", ruleset_id, event_type, type_key(event_type), weight, now, now,
                       unit_id))

    await api.rt.db.write(run)
    api.rt.scoring_config.invalidate(unit_id)
    return ruleset_id


async def scores_of(api: Any, lead_id: str, unit_id: str = "unit_default") -> dict[str, int]:
    """ruleset_id -> score of a lead."""
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT ruleset_id, score FROM lead_scores WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id)).fetchall())
    return {r[0]: r[1] for r in rows}


async def delta_sums(api: Any, lead_id: str, unit_id: str = "unit_default") -> dict[str, int]:
    """ruleset_id -> SUM(delta) of a lead's stored event scores (the scoring invariant's other side)."""
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT ruleset_id, SUM(delta) FROM event_scores WHERE unit_id = ? AND lead_id = ? GROUP BY ruleset_id",
        (unit_id, lead_id)).fetchall())
    return {r[0]: r[1] for r in rows}


async def member_headers(api: Any, email: str, role: str = "Viewer", unit_id: str = "unit_default",
                         password: str = "member-password-1") -> dict[str, str]:
    """Create an org member with `role` in the OU and return their session headers (the admin stays logged in)."""
    r = await api.post("/members", json={"first_name": "Pat", "last_name": "Lee", "email": email,
                                         "password": password, "role": "member"})
    assert r.status_code == 201, r.text
    r = await api.post(f"/org-units/{unit_id}/memberships",
                       json={"org_member_id": r.json()["org_member_id"], "role": role})
    assert r.status_code == 200, r.text
    saved = api.headers
    headers = await api.login(email, password, unit_id)
    api.headers = saved
    return dict(headers)


async def add_filter(api: Any, filter_id: str, event_type: str, threshold: int, window_ms: int, group: bool,
                     unit_id: str = "unit_default") -> None:
    """Insert an inorganic filter directly (pipeline tests that must not depend on the config endpoints)."""
    from leadvibe.engine.normalize import type_key

    await api.rt.db.write(lambda c: c.execute(
        "INSERT INTO inorganic_filters (id, org_id, unit_id, event_type, type_key, count_threshold, time_window_ms,"
        " group_events, created_at, updated_at) SELECT ?, org_id, id, ?, ?, ?, ?, ?, 0, 0 FROM org_units WHERE id = ?",
        (filter_id, event_type, type_key(event_type), threshold, window_ms, int(group), unit_id)))
    api.rt.scoring_config.invalidate(unit_id)
