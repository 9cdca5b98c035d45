"""Submissions that wait for the writer together are stored by one write job: each caller still gets its own
answer, idempotency keys still hold across callers, and one caller's failure reaches nobody else."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import apsw
import pytest

from leadvibe.pipeline import inbox as inbox_mod
from tests.conftest import Api
from tests.helpers import wait_idle

ORG = "org_test"  # the inbox does not check it; the worker takes the org from the OU


def _event(lead_id: str, key: str | None = None, metadata: dict[str, Any] | None = None) -> inbox_mod.QueuedEvent:
    return inbox_mod.validate(inbox_mod.IngestEvent(event_type="page_view", lead_id=lead_id, event_id=key,
                                                    metadata=metadata), 0)


async def _stored(api: Api) -> set[str]:
    """The ids of the events the worker stored, once it has taken everything from the inbox."""
    await wait_idle(api)
    return set(await api.rt.db.read(lambda c: [r[0] for r in c.execute("SELECT id FROM events")]))


async def _with_writer_held(api: Api, calls: list[Any],
                            meanwhile: Callable[[list[asyncio.Future[Any]]], None] | None = None) -> list[Any]:
    """Start `calls` (coroutines) while the inbox writer is busy with another job (then `meanwhile`, given their
    tasks), then let it go; their outcomes."""
    held, running = threading.Event(), threading.Event()

    def hold(_: Any) -> None:
        running.set()
        held.wait(5)

    blocker = asyncio.ensure_future(api.rt.inbox_db.write(hold))
    assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0.05)  # every call has queued its events before the writer is free again
    if meanwhile is not None:
        meanwhile(tasks)
        await asyncio.sleep(0.01)
    held.set()
    await blocker
    out = await asyncio.gather(*tasks, return_exceptions=True)
    return out


async def test_callers_waiting_together_each_get_their_own_answer(api: Api) -> None:
    inbox = api.rt.inbox
    calls = [inbox.submit(ORG, "unit_default", [_event(f"ld_g{i}"), _event(f"ld_g{i}b")])
             for i in range(5)]
    calls.append(inbox.submit(ORG, "unit_default", [_event("ld_gk", "key-1")]))
    calls.append(inbox.submit(ORG, "unit_default", [_event("ld_gk", "key-1")]))
    out = await _with_writer_held(api, calls)
    assert all(len(o) == 2 and not any(duplicate for _, duplicate in o) for o in out[:5])
    assert len({event_id for o in out[:5] for event_id, _ in o}) == 10
    (first_id, first_dup), (again_id, again_dup) = out[5][0], out[6][0]
    assert not first_dup and again_dup and again_id == first_id
    assert await _stored(api) == {event_id for o in out[:5] for event_id, _ in o} | {first_id}


async def test_one_callers_failure_reaches_nobody_else(api: Api) -> None:
    inbox = api.rt.inbox
    bad, beside_bad = _event("ld_bad", metadata={"x": 1}), _event("ld_ok2")
    assert bad.metadata is not None
    bad.metadata["x"] = object()  # cannot be encoded: storing this submission raises
    calls = [inbox.submit(ORG, "unit_default", [_event("ld_ok1")]),
             inbox.submit(ORG, "unit_default", [beside_bad, bad]),
             inbox.submit(ORG, "unit_default", [_event("ld_ok3")])]
    ok1, failed, ok3 = await _with_writer_held(api, calls)
    assert isinstance(failed, TypeError)
    assert [duplicate for _, duplicate in ok1 + ok3] == [False, False]
    # Nothing of the failed submission is stored, not even its valid event.
    assert await _stored(api) == {ok1[0][0], ok3[0][0]}


async def test_a_caller_that_goes_away_leaves_the_others_and_its_own_write(api: Api) -> None:
    inbox = api.rt.inbox
    calls = [inbox.submit(ORG, "unit_default", [_event("ld_gone")]),
             inbox.submit(ORG, "unit_default", [_event("ld_stays")])]
    gone, stays = await _with_writer_held(api, calls, meanwhile=lambda tasks: tasks[0].cancel())
    assert isinstance(gone, asyncio.CancelledError)
    assert stays[0][1] is False
    # No answer went out, but the write had been queued and stands, as when a client hangs up on a 202.
    assert len(await _stored(api)) == 2


async def test_a_write_refused_before_it_ran_fails_its_callers_and_the_next_caller_gets_a_new_one(api: Api) -> None:
    db = api.rt.inbox_db
    await db.write(lambda c: c.set_busy_timeout(50), transaction=False)
    other = apsw.Connection(db.path)
    other.set_busy_timeout(10_000)  # the app's own writer may be finishing a write (a periodic job) just now
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock: the writer's BEGIN is refused
    try:
        with pytest.raises(apsw.BusyError):
            await asyncio.wait_for(api.rt.inbox.submit(ORG, "unit_default", [_event("ld_refused")]), 5)
    finally:
        other.execute("ROLLBACK")
        other.close()
        await db.write(lambda c: c.set_busy_timeout(10_000), transaction=False)
    ((event_id, _),) = await asyncio.wait_for(api.rt.inbox.submit(ORG, "unit_default", [_event("ld_after")]), 5)
    assert await _stored(api) == {event_id}
