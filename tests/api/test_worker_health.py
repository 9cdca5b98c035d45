"""/healthz tells a worker that scores nothing while events wait (`stalled`, 503) from one that is merely busy."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from leadvibe.config import Settings, load_settings
from leadvibe.pipeline.worker_health import may_be_stalled
from leadvibe.timeutil import ManualClock
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, scores_of, wait_idle


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # An app of its own: its worker knows only the test's clock.
    return make_settings(data_dir)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def _hold_writer(api: Api, running: threading.Event | None = None) -> tuple[threading.Event, asyncio.Future[Any]]:
    """Queue a write that keeps the main database's writer until released: the worker's next batch waits.

    Queued `alone`: a write queued while a worker batch runs would otherwise join that batch's transaction and
    hold back its commit, so the batch would end only once the test releases the gate."""
    gate = threading.Event()

    def hold(_conn: Any) -> None:
        if running is not None:
            running.set()
        gate.wait(30)

    return gate, api.rt.db.enqueue(hold, alone=True)


async def _writer_held(api: Api) -> tuple[threading.Event, asyncio.Future[Any]]:
    """`_hold_writer` once the hold runs: a worker batch that was already running has ended, so none reads the
    events sent next."""
    running = threading.Event()
    held = _hold_writer(api, running)
    while not running.is_set():
        await asyncio.sleep(0.002)
    return held


async def _health(api: Api) -> tuple[int, dict[str, Any]]:
    r = await api.client.get("/healthz")
    return r.status_code, r.json()


async def test_a_worker_that_finishes_no_batch_while_an_event_waits_is_stalled_until_it_scores_again(
        api: Api, clock: ManualClock) -> None:
    await add_rules(api, {"x": 4})
    assert (await api.post("/ingest", json={"lead_id": "ld_h", "event_type": "x"})).status_code == 202
    await wait_idle(api)
    clock.advance(3600)  # an hour without events: an idle worker is not stalled by the next one
    gate, held = await _writer_held(api)
    assert (await api.post("/ingest", json={"lead_id": "ld_h", "event_type": "x"})).status_code == 202
    status, body = await _health(api)
    assert (status, body["worker"]) == (200, "alive") and "oldest_waiting_s" not in body
    clock.advance(29)
    assert (await _health(api))[1]["worker"] == "alive"
    clock.advance(2)
    status, body = await _health(api)
    assert status == 503
    assert body["status"] == "degraded" and body["worker"] == "stalled" and body["database"] == "ok"
    assert body["oldest_waiting_s"] == 31.0 and body["queue_depth"] == 1
    gate.set()
    await held
    await wait_idle(api)
    status, body = await _health(api)
    assert (status, body["status"], body["worker"]) == (200, "ok", "alive") and "oldest_waiting_s" not in body
    assert await scores_of(api, "ld_h") == {"rs_test": 8}


async def test_a_worker_draining_an_old_backlog_batch_after_batch_is_not_stalled(
        api: Api, clock: ManualClock) -> None:
    gate, held = await _writer_held(api)
    r = await api.post("/ingest/batch", json={"events": [{"lead_id": f"ld_{i}", "event_type": "x"} for i in range(3)]})
    assert r.status_code == 202
    clock.advance(40)
    assert (await _health(api))[1]["worker"] == "stalled"
    worker = api.rt.worker
    fetch, done = worker._batch, worker.after_batch
    second: list[tuple[threading.Event, asyncio.Future[Any]]] = []

    def after_first(result: Any, handled: int) -> None:
        done(result, handled)
        if not second:  # hold the writer again before the worker queues its next batch
            second.append(_hold_writer(api))

    # One event per batch, so the backlog drains in several batches the test can stop between.
    worker._batch = lambda conn, _limit, **kw: fetch(conn, 1, **kw)
    worker.after_batch = after_first
    gate.set()
    await held
    while not second:
        await asyncio.sleep(0.005)
    # The oldest waiting event is 40 s old, but a batch has just finished: a busy worker, not a stalled one.
    status, body = await _health(api)
    assert (status, body["worker"], body["queue_depth"]) == (200, "alive", 2)
    second[0][0].set()  # (its future belongs to the app's loop, where the worker runs: wait_idle waits for it)
    await wait_idle(api)
    assert (await _health(api))[1]["queue_depth"] == 0


def test_the_stall_check_reads_the_inbox_only_when_events_wait_and_no_batch_finished_in_time() -> None:
    now = 1_000_000
    assert may_be_stalled(1, now - 30_000, now, 30)
    assert not may_be_stalled(1, now - 29_999, now, 30)  # a batch finished within the threshold
    assert not may_be_stalled(0, now - 3_600_000, now, 30)  # nothing waits
    assert not may_be_stalled(5, now - 3_600_000, now, 0)  # turned off


def test_the_stall_threshold_is_a_setting() -> None:
    assert load_settings({}, env={"LEADVIBE_WORKER_STALL_S": "5"}).worker_stall_s == 5
    with pytest.raises(ValueError, match="LEADVIBE_WORKER_STALL_S"):
        load_settings({}, env={"LEADVIBE_WORKER_STALL_S": "-1"})
