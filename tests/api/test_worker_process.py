"""The worker in a process of its own (`LEADVIBE_WORKER_PROCESS`, the server's default): configuration changes,
triggers and `/stream` reach it and come back as they do in process; it is started again when it dies; the write
lock's waiting flag. The modules imported below run here a second time, each test against an app whose worker
is a real child process."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from leadvibe.config import Settings
from leadvibe.db.lock import WriteLock
from leadvibe.pipeline.worker_process import Frames, WorkerProcess, frame
from leadvibe.timeutil import ManualClock
from tests.api.test_config_effects import (  # noqa: F401  (run again against the worker process)
    test_delete_event_type_recomputes_scores,
    test_delete_ruleset_takes_its_scores,
    test_filters_and_observe_scope_apply_to_the_next_event,
    test_rescore_with_unchanged_rules_changes_nothing,
    test_rule_changes_apply_to_the_next_event,
)
from tests.api.test_ingest import basic, test_stream_delivers_scores_to_its_ou  # noqa: F401
from tests.api.test_triggers_api import (  # noqa: F401
    test_milestone_fires_once_per_crossing_through_ingest,
    test_sequence_fires_in_order_only_and_simulate_agrees,
)
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, wait_idle


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, worker_process=True)


async def _scores(api: Api) -> dict[str, int]:
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT lead_id, score FROM lead_scores WHERE unit_id = 'unit_default'").fetchall())
    return {r[0]: r[1] for r in rows}


async def test_the_worker_is_a_process_of_its_own(api: Api) -> None:
    worker = api.rt.worker
    assert isinstance(worker, WorkerProcess) and worker.pid is not None and worker.pid != os.getpid()
    health = (await api.get("/healthz")).json()
    assert health["worker"] == "alive" and health["status"] == "ok"


async def test_a_killed_worker_is_started_again_and_scores_what_waited(
        api: Api, basic: dict[str, str]) -> None:  # noqa: F811
    assert (await api.put("/settings/ou/surge-policy", json={"mode": "off"})).status_code == 200
    await add_rules(api, {"x": 2})
    worker = api.rt.worker
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    for _ in range(5):  # acknowledged while no worker runs: they wait in the inbox
        r = await api.client.post("/ingest", json={"lead_id": "ld_k", "event_type": "x"}, headers=basic)
        assert r.status_code == 202
    await wait_idle(api, timeout=30)
    assert worker.restarts == 1 and worker.pid not in (None, first)
    assert await _scores(api) == {"ld_k": 10}
    assert (await api.get("/healthz")).json()["worker"] == "alive"


async def test_a_paused_worker_process_is_stalled_until_it_goes_on(
        api: Api, basic: dict[str, str]) -> None:  # noqa: F811
    await add_rules(api, {"x": 2})
    worker = api.rt.worker
    pid = worker.pid
    assert pid is not None
    real_clock, clock = api.rt.clock, ManualClock()
    api.rt.clock = clock  # the server's side decides; the child never reads this clock
    os.kill(pid, signal.SIGSTOP)
    try:
        r = await api.client.post("/ingest", json={"lead_id": "ld_s", "event_type": "x"}, headers=basic)
        assert r.status_code == 202
        worker.progressed_ms = clock.now_ms()  # as if its last batch had just finished
        clock.advance(api.rt.settings.worker_stall_s)
        health = await api.client.get("/healthz")
        assert health.status_code == 503 and health.json()["worker"] == "stalled"
        assert health.json()["oldest_waiting_s"] == api.rt.settings.worker_stall_s
    finally:
        os.kill(pid, signal.SIGCONT)
    await wait_idle(api, timeout=30)
    health = await api.client.get("/healthz")
    api.rt.clock = real_clock
    assert health.status_code == 200 and health.json()["worker"] == "alive"
    assert worker.pid == pid and await _scores(api) == {"ld_s": 2}


async def test_the_worker_process_ends_with_the_server(data_dir: Path) -> None:
    from litestar.testing import AsyncTestClient

    from leadvibe.app import create_app

    app = create_app(make_settings(data_dir / "own", worker_process=True), announce_first_start=False)
    async with AsyncTestClient(app=app):
        pid = app.state.runtime.worker.pid
        assert pid is not None
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the worker process {pid} outlived the server")


_VALUES = st.one_of(st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=30), st.none())


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_VALUES, max_size=5), max_size=8),
       st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10))
def test_frames_come_back_whole_whatever_the_cuts(messages: list[list[Any]], cuts: list[int]) -> None:
    data = b"".join(frame(m) for m in messages)
    frames, out, at, i = Frames(), [], 0, 0
    while at < len(data):
        step = cuts[i % len(cuts)]
        out.extend(frames.feed(data[at:at + step]))
        at, i = at + step, i + 1
    assert out == messages


def test_the_write_lock_says_who_waits(tmp_path: Path) -> None:
    path = str(tmp_path / "x.db")
    server, worker = WriteLock(path, 0), WriteLock(path, 1)
    try:
        worker.acquire()
        assert not worker.others_waiting()
        got = threading.Event()

        def wait() -> None:
            server.acquire()
            got.set()

        waiter = threading.Thread(target=wait)
        waiter.start()
        for _ in range(200):
            if worker.others_waiting():
                break
            threading.Event().wait(0.01)
        assert worker.others_waiting() and not got.is_set()
        worker.release()
        assert got.wait(5)
        waiter.join()
        assert not worker.others_waiting() and not server.others_waiting()
        server.release()
    finally:
        server.close()
        worker.close()


async def test_the_queue_depth_counts_what_the_worker_had_not_heard_of(api: Api) -> None:
    """An empty batch says nothing of the events told to the worker after it began, nor of those not told yet."""
    wp = WorkerProcess(api.rt)  # not started: nothing is sent, only the counting runs
    wp.notify(3)
    await asyncio.sleep(0)  # told at the end of the loop's turn
    wp._batch_done(0, 0, [], [], False, 0, 0)
    assert wp.queue_depth == 3
    wp._batch_done(3, 3, [], [], False, 3, 0)
    assert wp.queue_depth == 0
    wp.notify(2)  # not told yet
    wp._batch_done(0, 0, [], [], False, 3, 0)
    assert wp.queue_depth == 2
    await asyncio.sleep(0)
    wp._batch_done(0, 0, [], [], False, 5, 0)
    assert wp.queue_depth == 0
