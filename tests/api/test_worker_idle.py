"""An idle worker looks at the inbox less and less often; an acknowledged event still wakes it at once."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

from litestar.testing import AsyncTestClient

from leadvibe.app import create_app
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, scores_of, wait_idle


async def test_an_idle_worker_looks_less_and_less_often(api: Api) -> None:
    await add_rules(api, {"page_view": 5})
    await wait_idle(api)
    worker = api.rt.worker
    looks: list[float] = []
    worker.before_batch = lambda: looks.append(time.monotonic())
    try:
        await asyncio.sleep(2.5)
    finally:
        worker.before_batch = None
    # Every 10 ms (the tests' worker_idle_poll) would be ~250 looks; doubling from there to 1 s is about ten, the
    # later ones a second apart.
    assert 2 <= len(looks) <= 14, looks
    assert max(b - a for a, b in itertools.pairwise(looks)) >= 0.5, looks


async def test_an_arrival_wakes_a_worker_whose_next_look_is_far_off(data_dir: Path) -> None:
    app = create_app(make_settings(data_dir, worker_idle_poll=60.0), announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        api = Api(client, app)
        await api.login()
        await add_rules(api, {"page_view": 5})
        basic = await api.credential("website")
        basic.pop("X-Secret-Id")
        score = 0
        for _ in range(3):
            await asyncio.sleep(0.2)  # the worker idle, its next look a minute away
            r = await client.post("/ingest", json={"lead_id": "ld_woken", "event_type": "page_view"}, headers=basic)
            assert r.status_code == 202, r.text
            # Read the score without `wait_idle`, which wakes the worker itself (the surge policy lifts the later
            # events above 5 points, so only a rise is checked).
            for _ in range(200):
                if (await scores_of(api, "ld_woken")).get("rs_test", 0) > score:
                    break
                await asyncio.sleep(0.05)
            new = (await scores_of(api, "ld_woken")).get("rs_test", 0)
            assert new > score, new
            score = new
