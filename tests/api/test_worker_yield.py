"""A worker batch gives the writer back to queued writes (an inbox commit holding a 202) after a short slice, and
the events it did not reach are scored by the next batches exactly as if it had not stopped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.worker import process_batch
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, scores_of, wait_idle


def _events(prefix: str, now: int) -> list[inbox_mod.QueuedEvent]:
    return [inbox_mod.validate(inbox_mod.IngestEvent(event_type=("page_view", "email_open", "demo")[i % 3],
                                                     lead_id=f"{prefix}{i % 7}"), now + i // 20) for i in range(200)]


async def test_a_batch_yields_to_a_queued_write_and_the_rest_is_scored_later(api: Api) -> None:
    await add_rules(api, {"page_view": 3, "email_open": 1, "demo": -2})
    rt = api.rt
    loop = asyncio.get_running_loop()
    now = rt.now_ms()
    queued: list[Any] = []

    def store(c: Any, events: list[inbox_mod.QueuedEvent]) -> None:
        org_id = c.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
        inbox_mod.store_events(c, org_id, "unit_default", events, "api", False, now)

    def yielding(c: Any) -> Any:
        store(c, _events("ld_y", now))
        # A write that arrives while the batch runs (as an inbox commit does under load).
        queued.append(asyncio.run_coroutine_threadsafe(rt.db.write(lambda _c: None), loop))
        limit = time.monotonic() + 10
        while not rt.db.queue_length and time.monotonic() < limit:
            time.sleep(0.001)
        return process_batch(rt, c, 2000, budget_ms=60_000, yield_ms=0)

    result = await rt.db.write(yielding)
    await asyncio.wrap_future(queued[0])
    assert result.yielded
    assert 0 < result.processed < 200
    # The running worker takes the rest from the inbox.
    rt.worker.notify(200 - result.processed)
    await wait_idle(api)

    # The same history for other leads, in one batch that never yields.
    def whole(c: Any) -> Any:
        store(c, _events("ld_w", now))
        return process_batch(rt, c, 2000, budget_ms=60_000)

    assert (await rt.db.write(whole)).processed == 200
    assert await rt.db.read(lambda c: c.execute("SELECT count(*) FROM inbox").fetchone()[0]) == 0
    for i in range(7):
        yielded = await scores_of(api, f"ld_y{i}")
        assert yielded == await scores_of(api, f"ld_w{i}")
        assert yielded == await delta_sums(api, f"ld_y{i}")
