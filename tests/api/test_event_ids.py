"""Time-ordered event ids next to the random ids an older database stored: both kinds are found, deduplicated,
explained and deleted alike, and the scores stay the sums of the stored deltas."""

from __future__ import annotations

import re
from typing import Any

from leadvibe.ids import new_id
from leadvibe.pipeline import inbox as inbox_mod
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, scores_of, wait_idle


async def _ingest(api: Api, lead_id: str, event_type: str, event_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"lead_id": lead_id, "event_type": event_type}
    if event_id is not None:
        body["event_id"] = event_id
    r = await api.post("/ingest", json=body)
    assert r.status_code == 202, r.text
    return dict(r.json()["metadata"])


async def _store_as_older_code_did(api: Api, lead_id: str, event_type: str, key: str | None) -> str:
    """Queue an event the way the ingest path did before ids were time-ordered: a random `ev_` id."""
    org_id = await api.rt.db.read(lambda c: c.execute(
        "SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0])
    queued = inbox_mod.validate(inbox_mod.IngestEvent(event_type=event_type, lead_id=lead_id, event_id=key),
                                api.rt.now_ms())
    queued.event_id = new_id("ev")
    accepted = await api.rt.inbox_db.write(lambda c: inbox_mod.store_events(
        c, str(org_id), "unit_default", [queued], "api", False, api.rt.now_ms()))
    event_id, _ = accepted[0]
    return event_id


async def test_new_ids_work_beside_random_ids_already_stored(api: Api) -> None:
    await add_rules(api, {"page_view": 5, "email_open": 2})
    old = [await _store_as_older_code_did(api, "ld_mix", "page_view", None),
           await _store_as_older_code_did(api, "ld_mix", "email_open", "client-key-1")]
    await wait_idle(api)
    new = [(await _ingest(api, "ld_mix", "page_view"))["event_id"],
           (await _ingest(api, "ld_mix", "email_open", "client-key-2"))["event_id"]]
    await wait_idle(api)
    assert all(re.fullmatch(r"ev_[a-z2-7]{16}", i) for i in old + new) and len(set(old + new)) == 4

    # A repeat of a client key answers the id stored for it, whichever kind it is.
    assert await _ingest(api, "ld_mix", "email_open", "client-key-1") == {"event_id": old[1], "duplicate": True}
    assert await _ingest(api, "ld_mix", "email_open", "client-key-2") == {"event_id": new[1], "duplicate": True}
    await wait_idle(api)

    r = await api.get("/events?lead_id=ld_mix")
    assert r.status_code == 200 and sorted(e["id"] for e in r.json()["events"]) == sorted(old + new)
    for event_id in (old[0], new[0]):
        assert (await api.get(f"/events/{event_id}/explanation")).status_code == 200
    # Four events a moment apart: surge multipliers apply, so the score is at least the plain weights.
    before = await scores_of(api, "ld_mix")
    assert before == await delta_sums(api, "ld_mix") and before["rs_test"] >= 5 + 2 + 5 + 2

    r = await api.request("DELETE", "/events/batch", json={"event_ids": [old[0], new[1]]})
    assert r.status_code == 200 and r.json() == {"deleted": 2}
    after = await scores_of(api, "ld_mix")
    assert after == await delta_sums(api, "ld_mix") and 2 + 5 <= after["rs_test"] < before["rs_test"]
    r = await api.get("/events?lead_id=ld_mix")
    assert sorted(e["id"] for e in r.json()["events"]) == sorted([old[1], new[0]])


async def test_a_batch_delete_says_what_is_wrong_with_its_ids(api: Api) -> None:
    for body, error in [
        ({}, "give the events to delete as `event_ids` (or `ids`): a list of event ids"),
        ({"event_ids": []}, "`event_ids` must hold at least one event id"),
        ({"event_ids": [""]}, "`event_ids` must hold at least one event id (an empty string names no event)"),
        ({"ids": ["", ""]}, "`ids` must hold at least one event id (an empty string names no event)"),
        ({"event_ids": [f"ev_{i}" for i in range(600)], "ids": [f"ev_x{i}" for i in range(600)]},
         "`event_ids` and `ids` together must hold at most 1000 event ids"),
    ]:
        r = await api.request("DELETE", "/events/batch", json=body)
        assert (r.status_code, r.json()["error"]) == (400, error), body
