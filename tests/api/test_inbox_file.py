"""The inbox file (`inbox.db`): rows past the worker's mark are what is pending; rows parked in the main database
(an older version's inbox, a restored backup's) are moved in at start, in order, once, even when a start is
interrupted between its two commits; a lost inbox file never numbers new rows as handled ones; a backup carries
the pending rows and keys, and a restore brings them back to be scored exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import pytest

from leadvibe.backup import backup_database, restore_database
from leadvibe.bootstrap import DEFAULT_UNIT, bootstrap
from leadvibe.db.database import Database
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.sample_data import settle
from leadvibe.pipeline.worker import process_batch
from leadvibe.runtime import Runtime
from leadvibe.runtime_build import build_runtime
from leadvibe.store import inbox as inbox_store
from tests.conftest import Api, make_settings
from tests.helpers import wait_idle


@contextlib.contextmanager
def _started(data: Path) -> Iterator[Runtime]:
    """A start of the data directory without the server: databases opened (the inbox file settled), the first
    organization made; closed at the end as a stop would."""
    rt = build_runtime(make_settings(data))
    rt.open_databases()
    try:
        rt.db.write_blocking(lambda c: bootstrap(c, rt.settings, rt.now_ms()))
        yield rt
    finally:
        rt.close_databases()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    with _started(tmp_path / "data") as runtime:
        yield runtime


def _org(rt: Runtime) -> str:
    return str(rt.db.read_blocking(lambda c: c.execute(
        "SELECT org_id FROM org_units WHERE id = ?", (DEFAULT_UNIT,)).fetchone()[0]))


def _queued(rt: Runtime, *leads: str, key: str | None = None) -> list[inbox_mod.QueuedEvent]:
    return [inbox_mod.validate(inbox_mod.IngestEvent(event_type="page_view", lead_id=lead, event_id=key),
                               rt.now_ms()) for lead in leads]


def _store(rt: Runtime, db: Database, leads: tuple[str, ...], key: str | None) -> list[str]:
    org = _org(rt)
    events = _queued(rt, *leads, key=key)
    accepted = db.write_blocking(lambda c: inbox_mod.store_events(c, org, DEFAULT_UNIT, events, "api", False,
                                                                  rt.now_ms()))
    return [event_id for event_id, _ in accepted]


def _queue(rt: Runtime, *leads: str, key: str | None = None) -> list[str]:
    """Events committed to the inbox file as the server's ingestion does; their ids."""
    return _store(rt, rt.inbox_db, leads, key)


def _park(rt: Runtime, *leads: str, key: str | None = None) -> list[str]:
    """Events written to the main database's inbox table, as an older version kept them."""
    return _store(rt, rt.db, leads, key)


def _score(rt: Runtime, limit: int = 500) -> int:
    return int(rt.db.write_blocking(lambda c: process_batch(rt, c, limit), alone=True).processed)


def _scored(rt: Runtime) -> list[str]:
    return [r[0] for r in rt.db.read_blocking(lambda c: c.execute("SELECT id FROM events ORDER BY seq").fetchall())]


def _pending(rt: Runtime) -> int:
    return asyncio.run(_count(rt))


async def _count(rt: Runtime) -> int:
    return await inbox_mod.pending_count(rt)


def _inbox_rows(rt: Runtime) -> list[tuple[Any, ...]]:
    return rt.inbox_db.read_blocking(lambda c: c.execute("SELECT seq, event_id FROM inbox ORDER BY seq").fetchall())


def test_the_worker_takes_rows_past_its_mark_and_moves_it_with_the_scores(rt: Runtime) -> None:
    ids = _queue(rt, "ld_a", "ld_b", "ld_c")
    assert _score(rt, 2) == 2
    assert rt.db.read_blocking(inbox_store.progress) == _inbox_rows(rt)[1][0]
    assert _pending(rt) == 1
    assert _score(rt) == 1 and _score(rt) == 0
    assert _scored(rt) == ids and _pending(rt) == 0
    # Handled rows stay until the server deletes them; they are never taken again.
    assert len(_inbox_rows(rt)) == 3
    mark = rt.db.read_blocking(inbox_store.progress)
    assert rt.inbox_db.write_blocking(lambda c: inbox_store.delete_handled(c, mark)) == 3


def test_rows_an_older_version_left_in_the_main_database_are_moved_in_order_then_scored_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _started(data) as rt:
        first = _queue(rt, "ld_a")
        assert _score(rt) == 1
        parked = _park(rt, "ld_p1", "ld_p2", "ld_p3", key=None) + _park(rt, "ld_p4", key="client-key")
    with _started(data) as rt:
        rows = _inbox_rows(rt)
        mark = rt.db.read_blocking(inbox_store.progress)
        assert [event_id for seq, event_id in rows if seq > mark] == parked
        assert rt.db.read_blocking(lambda c: c.execute("SELECT count(*) FROM inbox").fetchone()[0]) == 0
        assert _score(rt) == 4
        assert _scored(rt) == first + parked
        # The parked key moved with its event: a repeat answers the original.
        again = _queue(rt, "ld_p4", key="client-key")
        assert again == [parked[-1]]


def test_a_start_interrupted_between_the_two_commits_of_a_move_moves_nothing_twice(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _started(data) as rt:
        parked = _park(rt, "ld_p1", "ld_p2")
        rows = rt.db.read_blocking(lambda c: inbox_store.parked(c, 0))
        # The inbox file took the rows and marked them; the process died before the main database forgot them.
        rt.inbox_db.write_blocking(lambda c: inbox_store.take_parked(c, rows, []))
    with _started(data) as rt:
        assert [event_id for _, event_id in _inbox_rows(rt)] == parked
        assert _score(rt) == 2 and _scored(rt) == parked


def test_a_lost_inbox_file_never_numbers_new_rows_as_handled_ones(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _started(data) as rt:
        _queue(rt, "ld_a", "ld_b", "ld_c")
        assert _score(rt) == 3
    for suffix in ("", "-wal", "-shm"):
        (data / f"inbox.db{suffix}").unlink(missing_ok=True)
    with _started(data) as rt:
        ids = _queue(rt, "ld_new")
        assert _inbox_rows(rt)[0][0] > rt.db.read_blocking(inbox_store.progress)
        assert _score(rt) == 1 and _scored(rt)[-1:] == ids


def test_a_backup_carries_pending_rows_and_keys_and_a_restore_scores_them_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _started(data) as rt:
        scored = _queue(rt, "ld_a", "ld_b")
        assert _score(rt) == 2
        pending = _queue(rt, "ld_c", "ld_d") + _queue(rt, "ld_e", key="k-1")
        assert backup_database(rt.settings.db_path, tmp_path / "b.db").pending_events == 3
    copy = apsw.Connection(str(tmp_path / "b.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        assert [r[0] for r in copy.execute("SELECT event_id FROM inbox ORDER BY seq")] == pending
        assert [r[0] for r in copy.execute("SELECT key FROM idempotency_keys")] == ["k-1"]
    finally:
        copy.close()

    res = restore_database(tmp_path / "b.db", data)
    assert res.moved_aside is not None
    stamp = res.moved_aside.name.rsplit("-", 1)[-1]
    assert res.inbox_moved_aside == data / f"inbox.db.before-restore-{stamp}"  # the replaced database's inbox
    assert res.inbox_moved_aside.exists()
    with _started(data) as rt:
        assert asyncio.run(settle(rt)) == 3
        assert _scored(rt) == scored + pending
        assert _queue(rt, "ld_e", key="k-1") == pending[-1:]


async def test_the_server_deletes_the_rows_the_worker_handled_a_chunk_at_a_time(api: Api) -> None:
    headers = await api.credential("ingest")
    headers.pop("X-Secret-Id")
    events = [{"lead_id": f"ld_{i % 50}", "event_type": "page_view"} for i in range(1000)]
    for _ in range(inbox_mod.DELETE_CHUNK // 1000 + 1):  # more rows than one deletion job takes
        r = await api.client.post("/ingest/batch", json={"events": events}, headers=headers)
        assert r.status_code == 202, r.text
    await wait_idle(api)
    deadline = time.monotonic() + 15
    while left := await api.rt.inbox_db.read(lambda c: c.execute("SELECT count(*) FROM inbox").fetchone()[0]):
        assert time.monotonic() < deadline, f"{left} handled rows never deleted"
        await asyncio.sleep(0.1)


async def test_an_event_committed_while_a_batch_that_found_nothing_runs_stays_pending(api: Api) -> None:
    # The inbox file has a writer of its own, so an event can commit and be told while a worker batch that read
    # the inbox before it is still running: the worker must still count it as pending (wait_idle, /healthz and
    # the queue depth metric read that count).
    import threading

    headers = await api.credential("ingest")
    headers.pop("X-Secret-Id")
    # A first request records the credential's use (a write to the main database, which the held batch blocks).
    r = await api.client.post("/ingest", json={"lead_id": "ld_before", "event_type": "page_view"}, headers=headers)
    assert r.status_code == 202
    worker = api.rt.worker
    await wait_idle(api)
    loop = asyncio.get_running_loop()
    read, release = threading.Event(), threading.Event()
    depth_after: list[int] = []
    noted: list[bool] = []
    after_batch = worker.after_batch

    def hold() -> None:  # on the writer thread, once the batch has read the (empty) inbox
        read.set()
        release.wait(5)

    def note_depth(result: Any, handled: int) -> None:
        after_batch(result, handled)
        if release.is_set() and not noted:
            # Runs on the worker's loop once it has settled this batch and waits for its next turn.
            noted.append(True)
            asyncio.get_running_loop().call_soon(lambda: depth_after.append(worker.queue_depth))

    worker.after_fetch, worker.after_batch = hold, note_depth
    try:  # the app (and its worker) is shared with other tests: its hooks are put back whatever happens
        try:
            worker.notify(0)  # wakes the worker: a batch with nothing to take
            assert await loop.run_in_executor(None, read.wait, 5)
            worker.after_fetch = None
            r = await api.client.post("/ingest", json={"lead_id": "ld_meanwhile", "event_type": "page_view"},
                                      headers=headers)
            assert r.status_code == 202
            event_id = r.json()["metadata"]["event_id"]
        finally:
            worker.after_fetch = None
            release.set()
        await wait_idle(api)
    finally:
        worker.after_batch = after_batch
    assert depth_after == [1]
    stored = await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM events WHERE id = ?",
                                                      (event_id,)).fetchone()[0])
    assert stored == 1


def test_idempotency_keys_live_in_the_inbox_file_and_expire_after_the_window(rt: Runtime) -> None:
    first = _queue(rt, "ld_a", key="k-old")
    assert _queue(rt, "ld_a", key="k-old") == first  # a repeat answers the original
    later = rt.now_ms() + inbox_mod.IDEMPOTENCY_TTL_MS + 1
    assert rt.inbox_db.write_blocking(lambda c: inbox_mod.purge_idempotency_keys(c, later)) == 1
    assert _queue(rt, "ld_a", key="k-old") != first  # past the window the key is new again
