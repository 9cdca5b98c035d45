"""The database layer on a real SQLite file: closing, read deadlines, its own figures."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import pytest

from leadvibe.db.database import (
    JOURNAL_SIZE_LIMIT,
    Database,
    DatabaseClosed,
    ReadTimeout,
    WriteMark,
    sqlite_heap_limit,
)

RUNAWAY = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    d = Database(tmp_path / "t.db", synchronous="NORMAL", read_pool_size=2, read_deadline=0.3)
    d.open()
    d.write_blocking(lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)"))
    return d


async def test_a_closed_database_says_so_instead_of_hanging(db: Database) -> None:
    db.close()
    with pytest.raises(DatabaseClosed, match="closed"):
        await asyncio.wait_for(db.write(lambda c: c.execute("INSERT INTO t VALUES (1)")), 2)
    with pytest.raises(DatabaseClosed):
        await db.read(lambda c: c.execute("SELECT 1").fetchall())
    with pytest.raises(DatabaseClosed):
        db.write_blocking(lambda c: None)
    with pytest.raises(DatabaseClosed):
        db.read_blocking(lambda c: None)


async def test_writes_racing_a_close_are_all_settled(db: Database) -> None:
    started = threading.Event()

    def slow(c: object) -> None:
        started.set()
        time.sleep(0.2)

    first = asyncio.ensure_future(db.write(slow))
    await asyncio.to_thread(started.wait, 2)
    racing = [asyncio.ensure_future(db.write(lambda c, i=i: c.execute("INSERT INTO t VALUES (?)", (i,))))
              for i in range(20)]
    closer = asyncio.get_running_loop().run_in_executor(None, db.close)
    late = [asyncio.ensure_future(_late_write(db)) for _ in range(20)]
    outcomes = await asyncio.wait_for(asyncio.gather(first, *racing, *late, return_exceptions=True), 5)
    await closer
    # Every caller got an answer: committed or a clear DatabaseClosed; no other error, nothing left pending.
    assert all(not isinstance(o, BaseException) or isinstance(o, DatabaseClosed) for o in outcomes), outcomes


async def _late_write(db: Database) -> None:
    await asyncio.sleep(0.05)
    await db.write(lambda c: c.execute("INSERT INTO t VALUES (0)"))


async def test_a_runaway_read_is_stopped_at_the_deadline(db: Database) -> None:
    with pytest.raises(ReadTimeout, match=r"longer than 0\.3 s"):
        await db.read(lambda c: c.execute(RUNAWAY).fetchall())
    # The reader is usable again at once.
    assert await db.read(lambda c: c.execute("SELECT 1").fetchone()[0]) == 1
    db.close()


async def test_figures_and_wal_backstop(db: Database) -> None:
    before = db.read_seconds.count, db.write_job_seconds.count
    await db.write(lambda c: c.execute("INSERT INTO t VALUES (1)"))
    await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone())
    assert db.write_job_seconds.count == before[1] + 1 and db.read_seconds.count == before[0] + 1
    assert db.queue_length == 0
    limit = db.write_blocking(lambda c: c.execute("PRAGMA journal_size_limit").fetchone()[0], transaction=False)
    assert limit == JOURNAL_SIZE_LIMIT
    db.close()


async def test_sqlite_memory_stays_near_twice_the_cache_setting_with_every_reader_busy(tmp_path: Path) -> None:
    # Five 8 MB page caches could hold 40 MB between them; the process-wide soft limit keeps the total near 16 MB.
    d = Database(tmp_path / "big.db", synchronous="OFF", read_pool_size=4, cache_size_mb=8)
    d.open()
    try:
        def fill(c: apsw.Connection) -> None:
            c.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)")
            c.executemany("INSERT INTO blobs (b) VALUES (randomblob(3000))", [()] * 12_000)  # ~36 MB

        d.write_blocking(fill)
        barrier = threading.Barrier(4)

        def scan(c: apsw.Connection) -> int:
            barrier.wait(5)  # four readers at once, so four caches fill side by side
            return int(c.execute("SELECT sum(length(b)) FROM blobs").fetchall()[0][0])

        totals = await asyncio.gather(*(d.read(scan) for _ in range(4)))
        assert totals == [36_000_000] * 4
        assert apsw.memory_used() < sqlite_heap_limit(8) + 6 * 1024 * 1024, apsw.memory_used()
    finally:
        d.close()


async def test_a_job_that_runs_alone_keeps_no_copy_of_the_pages_it_changes(tmp_path: Path) -> None:
    # In a shared transaction every job is a savepoint, which keeps the original of each page it changes in memory
    # until it is released; a job queued with alone=True gets a transaction of its own and no savepoint.
    d = Database(tmp_path / "alone.db", synchronous="OFF", read_pool_size=1, cache_size_mb=8)
    d.open()
    try:
        d.write_blocking(lambda c: (c.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)"),
                                    c.executemany("INSERT INTO blobs (b) VALUES (randomblob(3000))", [()] * 10_000)))
        held = threading.Event()
        seen: dict[str, int] = {}

        def hold(c: apsw.Connection) -> None:
            held.wait(5)

        def rewrite(name: str) -> Callable[[apsw.Connection], int]:
            def fn(c: apsw.Connection) -> int:
                c.execute("UPDATE blobs SET b = randomblob(3000)")  # every page of a 30 MB table
                seen[name] = apsw.memory_used()
                return int(c.execute("SELECT count(*) FROM blobs").fetchall()[0][0])
            return fn

        blocker = asyncio.ensure_future(d.write(hold))
        await asyncio.sleep(0.1)
        small = asyncio.ensure_future(d.write(lambda c: c.execute("INSERT INTO blobs (b) VALUES (x'00')")))
        shared = asyncio.ensure_future(d.write(rewrite("shared")))
        alone = asyncio.ensure_future(d.write(rewrite("alone"), alone=True))
        held.set()
        await asyncio.gather(blocker, small)
        assert await shared == 10_001 and await alone == 10_001
        assert seen["shared"] > 30 * 1024 * 1024  # the savepoint's copies: the reason `alone` exists
        assert seen["alone"] < sqlite_heap_limit(8) + 6 * 1024 * 1024, seen
    finally:
        d.close()


async def test_a_transaction_ended_under_a_job_fails_its_group_and_the_writer_carries_on(db: Database) -> None:
    # SQLite ends the whole transaction itself on a full disk, an I/O error or no memory; a job that ends it
    # stands in for that. The jobs before it in the group are rolled back with it and fail; those after it run.
    held = threading.Event()
    blocker = asyncio.ensure_future(db.write(lambda c: held.wait(5)))
    await asyncio.sleep(0.1)
    before = asyncio.ensure_future(db.write(lambda c: c.execute("INSERT INTO t VALUES (1)")))
    ender = asyncio.ensure_future(db.write(lambda c: (c.execute("INSERT INTO t VALUES (2)"), c.execute("ROLLBACK"))))
    after = asyncio.ensure_future(db.write(lambda c: c.execute("INSERT INTO t VALUES (3)")))
    held.set()
    await blocker
    for fut in (before, ender):
        with pytest.raises(apsw.Error):
            await asyncio.wait_for(fut, 5)
    await asyncio.wait_for(after, 5)
    await asyncio.wait_for(db.write(lambda c: c.execute("INSERT INTO t VALUES (4)")), 5)
    assert await db.read(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")]) == [3, 4]


async def _while_alone_job_runs(db: Database, fn: Callable[[apsw.Connection], object]) -> tuple[
        asyncio.Future[object], Callable[[], None]]:
    """An `alone` job that inserts 10 and then waits: returns its future and what releases it."""
    running, go = threading.Event(), threading.Event()

    def lone(c: apsw.Connection) -> object:
        c.execute("INSERT INTO t VALUES (10)")
        running.set()
        go.wait(5)
        return fn(c)

    fut = asyncio.ensure_future(db.write(lone, alone=True))
    assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
    return fut, go.set


async def test_writes_queued_behind_an_alone_job_share_its_commit(db: Database) -> None:
    lone, release = await _while_alone_job_runs(db, lambda c: "lone")
    commits = db.writes_committed
    riders = [asyncio.ensure_future(db.write(lambda c, v=v: c.execute("INSERT INTO t VALUES (?)", (v,))))
              for v in (1, 2)]
    failing = asyncio.ensure_future(db.write(lambda c: (c.execute("INSERT INTO t VALUES (3)"), 1 / 0)))
    await asyncio.sleep(0.1)  # the three are queued while the lone job still runs
    release()
    assert await asyncio.wait_for(lone, 5) == "lone"
    await asyncio.wait_for(asyncio.gather(*riders), 5)
    with pytest.raises(ZeroDivisionError):
        await asyncio.wait_for(failing, 5)
    assert db.writes_committed == commits + 1  # one commit for the lone job and the writes behind it
    assert await db.read(lambda c: sorted(r[0] for r in c.execute("SELECT v FROM t"))) == [1, 2, 10]


async def test_a_write_that_ends_the_transaction_behind_an_alone_job_fails_both_and_the_writer_carries_on(
        db: Database) -> None:
    lone, release = await _while_alone_job_runs(db, lambda c: "lone")
    ender = asyncio.ensure_future(db.write(lambda c: (c.execute("INSERT INTO t VALUES (2)"), c.execute("ROLLBACK"))))
    after = asyncio.ensure_future(db.write(lambda c: c.execute("INSERT INTO t VALUES (3)")))
    await asyncio.sleep(0.1)
    release()
    for fut in (lone, ender):
        with pytest.raises(apsw.Error):
            await asyncio.wait_for(fut, 5)
    await asyncio.wait_for(after, 5)
    assert await db.read(lambda c: [r[0] for r in c.execute("SELECT v FROM t ORDER BY v")]) == [3]


async def test_a_yielding_job_lets_every_write_queued_after_it_go_first(db: Database) -> None:
    ran: list[str] = []

    def job(name: str) -> Callable[[apsw.Connection], str]:
        def fn(c: apsw.Connection) -> str:
            ran.append(name)
            c.execute("INSERT INTO t VALUES (?)", (len(ran),))
            return name
        return fn

    lone, release = await _while_alone_job_runs(db, job("lone"))
    commits = db.writes_committed
    futures = [db.enqueue(job("yield-1"), yields=True), db.enqueue(job("joins-lone")),
               db.enqueue(job("alone"), alone=True), db.enqueue(job("yield-2"), yields=True),
               db.enqueue(job("joins-alone"))]
    await asyncio.sleep(0.1)  # all queued while the lone job still runs
    release()
    await asyncio.wait_for(asyncio.gather(lone, *futures), 5)
    # The others in the order they came, sharing commits as before; the yielding ones last, in their order, each
    # in a transaction of its own.
    assert ran == ["lone", "joins-lone", "alone", "joins-alone", "yield-1", "yield-2"]
    assert db.writes_committed == commits + 4


async def test_a_yielding_job_queued_alone_runs_at_once(db: Database) -> None:
    assert await asyncio.wait_for(db.enqueue(lambda c: "done", yields=True), 5) == "done"
    db.close()
    with pytest.raises(DatabaseClosed):
        await asyncio.wait_for(db.enqueue(lambda c: None, yields=True), 2)


async def test_a_yielding_job_lets_the_other_writing_process_go_first(tmp_path: Path) -> None:
    # The worker process's write lock, taken from a thread here (flock locks of two open files exclude each other
    # as two processes' do): it waits for the lock while one yielding job runs and the next is queued. Released,
    # the lock goes to it before the next job, not back to this writer at once.
    from leadvibe.db.lock import WriteLock

    d = Database(tmp_path / "y.db", synchronous="NORMAL", read_pool_size=1, shared_writes=True)
    d.open()
    other = WriteLock(str(tmp_path / "y.db"), 1)
    watch = WriteLock(str(tmp_path / "y.db"), 0)  # reads who waits; never locks
    ran: list[str] = []
    running, go = threading.Event(), threading.Event()

    def first(c: apsw.Connection) -> None:
        ran.append("first")
        running.set()
        go.wait(5)

    def second(c: apsw.Connection) -> None:
        ran.append("second")

    def other_process() -> None:
        other.acquire()
        ran.append("other")
        time.sleep(0.05)
        other.release()

    try:
        jobs = [d.enqueue(first, yields=True), d.enqueue(second, yields=True)]
        assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
        waiter = threading.Thread(target=other_process)
        waiter.start()
        for _ in range(500):  # until it waits for the lock
            if watch.others_waiting():
                break
            await asyncio.sleep(0.01)
        assert watch.others_waiting()
        go.set()
        await asyncio.wait_for(asyncio.gather(*jobs), 5)
        waiter.join(5)
        assert ran == ["first", "other", "second"]
    finally:
        go.set()
        d.close()
        other.close()
        watch.close()


async def test_unchanged_since_a_mark_counts_every_commit_but_the_yielding_ones(db: Database) -> None:
    def unchanged(mark: WriteMark) -> asyncio.Future[bool]:
        return db.enqueue(lambda c: db.unchanged_since(c, mark), yields=True)

    mark = db.write_mark()
    await db.enqueue(lambda c: c.execute("INSERT INTO t VALUES (1)"), yields=True)
    assert await unchanged(mark)  # only a yielding job committed since
    await db.write(lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert not await unchanged(mark)
    mark = db.write_mark()
    await db.write(lambda c: None, transaction=False)  # a bare job may write anything
    assert not await unchanged(mark)
    # A write that rides along in a yielding job's commit counts.
    mark = db.write_mark()
    running, go = threading.Event(), threading.Event()

    def step(c: apsw.Connection) -> None:
        c.execute("INSERT INTO t VALUES (3)")
        running.set()
        go.wait(5)

    stepped = db.enqueue(step, yields=True)
    assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
    rider = db.enqueue(lambda c: c.execute("INSERT INTO t VALUES (4)"))
    await asyncio.sleep(0.05)
    commits = db.writes_committed
    go.set()
    await asyncio.wait_for(asyncio.gather(stepped, rider), 5)
    assert db.writes_committed == commits + 1  # one commit for both
    assert not await unchanged(mark)


def test_a_mark_taken_before_the_writer_has_run_tells_nothing(tmp_path: Path) -> None:
    db = Database(tmp_path / "fresh.db", migrations=tmp_path)  # no migrations: no transaction yet
    db.open()
    try:
        mark = db.write_mark()
        assert mark.data_version is None
        assert not db.write_blocking(lambda c: db.unchanged_since(c, mark))
    finally:
        db.close()


async def test_a_mark_taken_inside_an_owners_job_survives_only_that_owners_commits(db: Database) -> None:
    """The worker takes its mark at the end of its own batch job: its commit leaves the mark holding, any other
    commit (another owner's, an owner-less one, a rider in its own commit) ends it."""
    def own(c: apsw.Connection) -> WriteMark:
        c.execute("INSERT INTO t VALUES (10)")
        return db.write_mark("worker")

    def still(mark: WriteMark) -> asyncio.Future[bool]:
        return db.enqueue(lambda c: db.unchanged_since(c, mark), owner="worker")

    mark = await db.write(own, alone=True, owner="worker")
    assert await still(mark)
    mark = await db.write(own, alone=True, owner="worker")
    await db.enqueue(lambda c: c.execute("INSERT INTO t VALUES (11)"), yields=True)  # a decay step is not ours
    assert not await still(mark)
    mark = await db.write(own, alone=True, owner="worker")
    await db.write(lambda c: c.execute("INSERT INTO t VALUES (12)"), owner="someone else")
    assert not await still(mark)
    # A write that rides in the worker's own commit counts.
    running, go = threading.Event(), threading.Event()

    def slow(c: apsw.Connection) -> WriteMark:
        out = own(c)
        running.set()
        go.wait(5)
        return out

    batch = db.write(slow, alone=True, owner="worker")
    task = asyncio.ensure_future(batch)
    assert await asyncio.get_running_loop().run_in_executor(None, running.wait, 5)
    rider = db.enqueue(lambda c: c.execute("INSERT INTO t VALUES (13)"))
    await asyncio.sleep(0.05)
    go.set()
    mark, _ = await asyncio.wait_for(asyncio.gather(task, rider), 5)
    assert not await still(mark)
    # ...and the default mark (the decay steps') is ended by the worker's commits.
    steps = db.write_mark()
    await db.write(own, alone=True, owner="worker")
    assert not await db.enqueue(lambda c: db.unchanged_since(c, steps), yields=True)
