"""Every `score_update` on /stream names its lead (`lead_name`), whatever changed the score: an event (the
worker), a decay pass, a rescore, deleted events, a merge."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from leadvibe.pipeline.decay import run_pass
from leadvibe.timeutil import ManualClock
from tests.conftest import Api
from tests.helpers import add_rules, ingest, wait_idle

START = time.time_ns() // 1_000_000_000 * 1000
DAY = 86_400_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


class Listener:
    """The OU's /stream messages, collected as they come."""

    def __init__(self, api: Api) -> None:
        self.updates: list[dict[str, Any]] = []
        self._task = asyncio.create_task(self._listen(api))

    async def _listen(self, api: Api) -> None:
        async for frame in api.rt.stream.stream("unit_default"):
            for message in frame.decode().split("\n\n"):
                if message.startswith("event: score_update\n"):
                    self.updates.append(json.loads(message.split("\n", 1)[1][6:]))

    async def next_updates(self, count: int) -> list[dict[str, Any]]:
        """Wait for `count` more updates and take them."""
        for _ in range(500):
            if len(self.updates) >= count:
                break
            await asyncio.sleep(0.01)
        taken, self.updates = self.updates, []
        assert len(taken) == count, taken
        return taken

    def stop(self) -> None:
        self._task.cancel()


async def test_score_updates_outside_the_worker_name_their_lead(api: Api, clock: ManualClock) -> None:
    await add_rules(api, {"demo_request": 20, "page_view": 5})
    for lead_id, metadata in (("ld_grace", {"name": "Grace Hopper"}), ("ld_other", {})):
        r = await api.post("/leads", json={"id": lead_id, "metadata": metadata})
        assert r.status_code == 201, r.text
    listener = Listener(api)
    await asyncio.sleep(0.01)
    try:
        first = await ingest(api, "ld_grace", "demo_request")
        await ingest(api, "ld_grace", "page_view")
        await ingest(api, "ld_other", "page_view")
        await wait_idle(api)
        named = {u["lead_id"]: u["lead_name"] for u in await listener.next_updates(3)}
        assert named == {"ld_grace": "Grace Hopper", "ld_other": None}

        r = await api.request("DELETE", "/events/batch", json={"event_ids": [first]})
        assert r.status_code == 200, r.text
        (deleted,) = await listener.next_updates(1)
        assert (deleted["lead_id"], deleted["lead_name"], deleted["delta"]) == ("ld_grace", "Grace Hopper", -20)

        r = await api.post("/decays", json={"inactive_for": 7, "unit": "days", "decrease": 1})
        assert r.status_code == 201, r.text
        clock.advance(7 * DAY)
        assert (await run_pass(api.rt)).applied == 2
        decayed = {u["lead_id"]: u["lead_name"] for u in await listener.next_updates(2)}
        assert decayed == {"ld_grace": "Grace Hopper", "ld_other": None}

        rules = (await api.get("/rules", params={"ruleset_id": "rs_test"})).json()
        (page_view,) = [rule for rule in rules if rule["event_type"] == "page_view"]
        r = await api.put(f"/rules/{page_view['rule_id']}", json={"weight": 6})
        assert r.status_code == 200, r.text
        r = await api.post("/rulesets/rs_test/rescore")
        assert r.status_code == 200, r.text
        rescored = {u["lead_id"]: u["lead_name"] for u in await listener.next_updates(2)}
        assert rescored == {"ld_grace": "Grace Hopper", "ld_other": None}

        r = await api.post("/leads/merge", json={"targetLeadId": "ld_grace", "sourceLeadIds": ["ld_other"]})
        assert r.status_code == 200, r.text
        (merged,) = await listener.next_updates(1)
        assert (merged["lead_id"], merged["lead_name"], merged["reason"]) == ("ld_grace", "Grace Hopper", "merge")
    finally:
        listener.stop()


async def test_a_lead_known_by_an_email_alias_alone_is_named_by_it(api: Api) -> None:
    """A lead made from an email alias (no name, no email in its metadata) is named by the address as first seen,
    on /stream, in event lists and in search, and keeps the name once merged into an unnamed lead."""
    await add_rules(api, {"page_view": 5})
    r = await api.post("/leads", json={"id": "ld_bare", "metadata": {"company": "Acme"}})
    assert r.status_code == 201, r.text
    listener = Listener(api)
    await asyncio.sleep(0.01)
    try:
        await ingest(api, None, "page_view", email="Jo.Chen@Acme.io")
        await wait_idle(api)
        (update,) = await listener.next_updates(1)
        assert update["lead_name"] == "Jo.Chen@Acme.io"
        lead_id = update["lead_id"]

        events = (await api.get("/events", params={"lead_id": lead_id})).json()
        assert [e["lead_name"] for e in events["events"]] == ["Jo.Chen@Acme.io"], events
        (hit,) = (await api.get("/leads/search", params={"q": "jo.chen"})).json()
        assert (hit["id"], hit["name"]) == (lead_id, "Jo.Chen@Acme.io")

        r = await api.post("/leads/merge", json={"targetLeadId": "ld_bare", "sourceLeadIds": [lead_id]})
        assert r.status_code == 200, r.text
        (merged,) = await listener.next_updates(1)
        assert (merged["lead_id"], merged["lead_name"]) == ("ld_bare", "Jo.Chen@Acme.io")
    finally:
        listener.stop()
