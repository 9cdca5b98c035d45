"""The one SQLite access layer: a writer thread with group commit and a pool of read-only connections.

Every write is a function `fn(conn) -> T` queued to the single writer thread. The writer drains whatever is
queued (up to `max_batch` functions), runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction and
commits once; so concurrent requests share an fsync (group commit) while a failing function rolls back only its
own savepoint. Futures are resolved only after COMMIT returns, so an awaited write is durable. A job that writes
many pages (a worker batch, a decay chunk) asks to run `alone`: a savepoint keeps a copy of every page it changes
in memory (`temp_store=MEMORY`) until it is released, which for such a job is tens of MB. Jobs queued while an
`alone` job runs join its transaction (each in its own savepoint) before it commits: requests waiting behind a
worker batch share its commit rather than paying for one of their own once it ends.

Reads run on a small thread pool, each thread with its own read-only connection, each call in one read
transaction (a consistent snapshot), optionally cut off at a deadline (a progress handler) so one runaway query
cannot hold a reader, or an old snapshot that keeps the checkpoint from resetting the WAL. Nothing here blocks the
event loop.

After `close()`, every call raises DatabaseClosed, and a write still queued when the writer stopped is settled
with that error rather than left waiting forever (as Datasette's database does with its write queue).

Read and write-job durations and the writer's queue length are kept here for `/metrics`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import apsw

from leadvibe.db.lock import WriteLock
from leadvibe.db.migrate import MIGRATIONS_DIR, apply_migrations
from leadvibe.metrics import Histogram
from leadvibe.ownership import give_database_to_directory_owner

T = TypeVar("T")

_STOP = object()
# The longest a yielding job waits for the other writing process to take the lock it waits for.
YIELD_WAIT_S = 0.05
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # the WAL file is truncated back to this after a checkpoint


class DatabaseClosed(RuntimeError):
    """The database was closed (the server is stopping): nothing more is read or written."""

    def __init__(self) -> None:
        super().__init__("the database is closed (the server is shutting down)")


class ReadTimeout(RuntimeError):
    """A read ran past the read deadline and was stopped."""


# A checkpoint is asked for once this many pages are in the WAL (SQLite's own default threshold).
WAL_CHECKPOINT_PAGES = 1_000
# Prepared statements the writer keeps (apsw's default: 100). apsw's cache is a ring that every execution passes
# through: a statement in use leaves it and goes back in at the next slot, evicting the oldest, so a statement
# survives as many executions of any statement as there are slots. A worker batch runs each of its multi-row writes
# once, after one or more statements per event (a filter window per event of a filtered type): with 100 slots the
# next batch parsed them all again (29 µs for one row of the events insert, 0.87 ms for 366 rows), ~15 per batch:
# about a tenth of the worker's CPU in batches of 30 events with a filtered type (docs/performance.md). Statements
# of 16 KB or more are never cached, and SQLite's heap stays under its soft limit either way.
WRITER_STATEMENT_CACHE = 1024

# Past this (~40 MB), the writer checkpoints itself: while the writer is never idle (a long decay pass, a backlog)
# the checkpoint thread's PASSIVE checkpoints never catch up with the end of the WAL, so it is never restarted.
WAL_HARD_LIMIT_PAGES = 10_000


class _Checkpointer:
    """PASSIVE checkpoints on a thread and connection of their own, woken by the writer's WAL hook.

    A checkpoint copies WAL pages into the database file and fsyncs it; done here it overlaps the writer's work
    (on the other core) instead of stalling every write queued behind the commit that crossed the threshold.
    """

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (its connection is opened there)."""
        self._thread = threading.Thread(target=self._run, name="leadvibe-checkpoint", daemon=True)
        self._thread.start()

    def on_commit(self, conn: apsw.Connection, dbname: str, pages: int) -> int:
        """The writer's WAL hook (after each commit, with the WAL's size in pages)."""
        if pages >= WAL_HARD_LIMIT_PAGES:
            # Busy when the checkpoint thread is in the middle of one: the next commit tries again. An error
            # raised here would fail the COMMIT that has just succeeded.
            with contextlib.suppress(apsw.Error):
                conn.wal_checkpoint(dbname)
        elif pages >= WAL_CHECKPOINT_PAGES:
            self._wake.set()
        return apsw.SQLITE_OK

    def _run(self) -> None:
        conn = apsw.Connection(self.path)
        conn.set_busy_timeout(10_000)
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    return
                # Busy or locked: the next commit past the threshold asks again.
                with contextlib.suppress(apsw.Error):
                    conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
        finally:
            conn.close()

    def stop(self) -> None:
        """Finish the checkpoint in progress, if any, and end the thread."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def sqlite_heap_limit(cache_size_mb: int) -> int:
    """Bytes of SQLite heap the process aims to stay under: the writer's cache and as much again for the readers."""
    return 2 * int(cache_size_mb) * 1024 * 1024


def sqlite_heap_bytes() -> tuple[int, int]:
    """SQLite's heap in this process: in use now, and the most it has held since the process started."""
    return apsw.memory_used(), apsw.memory_high_water(False)


def apply_pragmas(conn: apsw.Connection, *, synchronous: str = "FULL", cache_size_mb: int = 64,
                  readonly: bool = False) -> None:
    """PRAGMAs in the order docs/architecture.md gives: busy_timeout first, then WAL and the rest."""
    conn.set_busy_timeout(10_000)
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL").fetchall()
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        # A backstop for the WAL's size on disk: after a checkpoint it shrinks back to this, whatever a burst grew.
        conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}").fetchall()
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute(f"PRAGMA cache_size=-{int(cache_size_mb) * 1024}")
    # No memory-mapped I/O: mapped pages count toward the process's RSS on every connection (over 1 GB at a
    # million leads was measured), while the bounded page caches keep reads fast enough.
    conn.execute("PRAGMA mmap_size=0")
    if readonly:
        conn.execute("PRAGMA query_only=ON")


class _TransactionLost(Exception):
    """The shared transaction ended under a job; `cause` is what its jobs are failed with."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class WriteMark(NamedTuple):
    """`Database.write_mark`'s answer."""

    # Commits so far that held a job of another owner than `owner` (or a bare job).
    commits_besides: int
    data_version: int | None
    owner: str


# The owner of yielding jobs (`enqueue(yields=True)`: the steps of a decay pass) unless they name another.
STEPS = "steps"


class _Job:
    __slots__ = ("alone", "fn", "future", "loop", "owner", "transaction", "yields")

    def __init__(self, fn: Callable[[apsw.Connection], Any], future: Any, loop: asyncio.AbstractEventLoop | None,
                 transaction: bool, alone: bool = False, yields: bool = False, owner: str | None = None) -> None:
        self.fn = fn
        self.future = future
        self.loop = loop
        self.transaction = transaction
        self.alone = alone
        self.yields = yields
        self.owner = owner if owner is not None or not yields else STEPS


def _settle(job: _Job, ok: bool, value: Any) -> None:
    fut = job.future
    if job.loop is None:  # a concurrent.futures.Future from a blocking caller
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
        return
    if fut.done():  # the awaiting task was cancelled; the write still happened
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _then(batch: list[_Job], more: Callable[[], list[_Job]] | None) -> Iterator[_Job]:
    """The jobs of `batch` (which grows as they run), then those `more` gives once they have all run."""
    yield from batch
    if more is not None:
        extra = more()
        batch.extend(extra)
        yield from extra


def _let_other_process_write(lock: WriteLock) -> None:
    """Wait (at most YIELD_WAIT_S) until the other writing process, if it waits for the lock, has taken it. A lock
    just released is not handed to the process waiting for it: whoever asks first gets it, and this writer,
    running, would usually take it back before the waiting one has woken."""
    deadline = time.monotonic() + YIELD_WAIT_S
    while lock.others_waiting() and time.monotonic() < deadline:
        time.sleep(0.0002)


def _data_version(conn: apsw.Connection) -> int:
    row: Any = conn.execute("PRAGMA data_version").fetchone()
    return int(row[0])


def _settle_batch(jobs: list[tuple[_Job, bool, Any]]) -> None:
    for job, ok, value in jobs:
        _settle(job, ok, value)


class Database:
    """The database of one data directory. `open()` migrates and starts the writer; `close()` stops it."""

    def __init__(self, path: Path | str, *, synchronous: str = "FULL", read_pool_size: int = 4,
                 cache_size_mb: int = 64, max_batch: int = 512, read_deadline: float = 0.0,
                 shared_writes: bool = False, migrations: Path = MIGRATIONS_DIR,
                 reader_cache_mb: int | None = None, sets_heap_limit: bool = True) -> None:
        self.path = str(path)
        self.migrations = migrations
        self.reader_cache_mb = reader_cache_mb if reader_cache_mb is not None else max(8, cache_size_mb // 4)
        # SQLite's soft heap limit is one per process: the main database sets it, a second one (the inbox file)
        # opened in the same process must not lower it to its own small caches' measure.
        self.sets_heap_limit = sets_heap_limit
        # Another process writes this database too (the worker process): every write transaction holds WriteLock.
        self.shared_writes = shared_writes
        self.write_slot = 0  # the worker process's database takes slot 1 (db.lock.WriteLock)
        self._write_lock: WriteLock | None = None
        self.read_deadline = read_deadline
        self.read_seconds = Histogram("db_read_seconds", "Seconds per database read (one read transaction).")
        self.write_job_seconds = Histogram(
            "db_write_job_seconds", "Seconds per write job on the writer thread (inside its group commit).")
        self._closed = False
        self._closing = threading.Lock()
        self.synchronous = synchronous
        self.cache_size_mb = cache_size_mb
        self.read_pool_size = read_pool_size
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: apsw.Connection | None = None
        self._thread: threading.Thread | None = None
        self._readers: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[apsw.Connection] = []
        self._reader_lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None
        self.writes_committed = 0
        self.last_commit_at = 0.0
        # For `write_mark` / `unchanged_since`: every commit (a bare job counts as one), the commits whose jobs all
        # had one owner, by owner, and the writer connection's `PRAGMA data_version` (it changes when another
        # connection, the worker process's, commits) as of its latest transaction's start.
        self._commits = 0
        self._owned: dict[str, int] = {}
        self._data_version: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Open the writer connection, apply migrations, start the writer thread and the read pool."""
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._closing:
            self._closed = False  # a database may be opened again after a close (a restarted app)
        # Each connection's page cache is bounded by cache_size, but five of them plus sorts and statement memory
        # can add up past what the setting promises when every reader is busy at once (60 MB of SQLite heap was
        # measured with 8 MB caches during an import on a loaded machine). The soft limit makes SQLite recycle
        # clean cache pages instead of allocating once the process as a whole is over it.
        if self.sets_heap_limit:
            apsw.soft_heap_limit(sqlite_heap_limit(self.cache_size_mb))
        conn = apsw.Connection(self.path, statementcachesize=WRITER_STATEMENT_CACHE)
        apply_pragmas(conn, synchronous=self.synchronous, cache_size_mb=self.cache_size_mb)
        give_database_to_directory_owner(self.path)  # `sudo leadvibe migrate` in a new data directory
        if self.shared_writes:
            self._write_lock = WriteLock(self.path, self.write_slot)
        self._locked(lambda: apply_migrations(conn, self.migrations))
        # SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold, on the writer thread:
        # every write queued behind that commit waits for the copy and its fsync. Checkpoints are made by their own
        # thread and connection instead (PASSIVE: they never block the writer or readers), woken by the writer's
        # WAL hook; the writer only checkpoints itself if the WAL outgrows WAL_HARD_LIMIT_PAGES.
        self._checkpointer = _Checkpointer(self.path, self.synchronous)
        conn.set_wal_hook(self._checkpointer.on_commit)
        self._writer = conn
        self._thread = threading.Thread(target=self._write_loop, name="leadvibe-writer", daemon=True)
        self._thread.start()
        self._checkpointer.start()
        self._start_readers()

    def open_readonly(self) -> None:
        """Only the read pool: for a process that reads a database another one writes (the worker process reads
        the inbox file, which the server alone writes). Writes raise DatabaseClosed."""
        with self._closing:
            self._closed = False
        self._start_readers()

    def _start_readers(self) -> None:
        self._readers = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.read_pool_size, thread_name_prefix="leadvibe-reader")

    def close(self) -> None:
        """Finish queued writes, stop the writer, close every connection. Later calls raise DatabaseClosed."""
        with self._closing:
            self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._settle_leftovers()
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._reader_lock:
            for c in self._reader_conns:
                with contextlib.suppress(apsw.Error):
                    c.close()
            self._reader_conns.clear()
        if self._writer is not None:
            writer = self._writer
            with contextlib.suppress(apsw.Error):
                self._locked(lambda: writer.execute("PRAGMA optimize"))
            writer.close()
            self._writer = None
        if self._write_lock is not None:
            self._write_lock.close()
            self._write_lock = None

    def _settle_leftovers(self) -> None:
        # Anything still queued after the writer stopped will never run: tell its caller instead of letting it wait.
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                self._dispatch([(job, False, DatabaseClosed())])

    @property
    def queue_length(self) -> int:
        """Write jobs waiting for the writer thread."""
        return self._queue.qsize()

    def queue_length_fn(self) -> int:
        """`queue_length` as a plain call (the worker asks it every few events from the writer thread), plus one
        while the other process that writes this database waits for the write lock."""
        lock = self._write_lock
        return self._queue.qsize() + (1 if lock is not None and lock.others_waiting() else 0)

    def _enqueue(self, job: _Job) -> None:
        with self._closing:
            if self._closed or self._thread is None:
                raise DatabaseClosed()
            self._queue.put(job)

    @property
    def writer_alive(self) -> bool:
        """True while the writer thread runs."""
        return self._thread is not None and self._thread.is_alive()

    # -- writes ----------------------------------------------------------------------------------------------
    async def write(self, fn: Callable[[apsw.Connection], T], *, transaction: bool = True, alone: bool = False,
                    owner: str | None = None) -> T:
        """Run `fn(conn)` on the writer thread inside a transaction; return once it is committed.

        `alone=True` gives it a transaction of its own instead of a savepoint in a shared one: for jobs that change
        many pages, whose savepoint would hold a copy of each in memory until the group commits. `owner` names
        whose write it is for `write_mark`.
        """
        return await self.enqueue(fn, transaction=transaction, alone=alone, owner=owner)

    def enqueue(self, fn: Callable[[apsw.Connection], T], *, transaction: bool = True,
                alone: bool = False, yields: bool = False, owner: str | None = None) -> asyncio.Future[T]:
        """`write` without waiting: queue `fn` now and return the future its committed result settles (on the
        running loop), which several callers may await.

        `yields=True` (a transaction of its own) lets every job queued after it run first, as long as any is
        queued, and the other writing process take the lock first if it waits for it: a long task queues its next
        step while this one runs, so the writer goes straight on to it, and a write queued meanwhile still waits
        for one step at most."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        # A yielding job runs in a transaction of its own: it never holds others' savepoints.
        self._enqueue(_Job(fn, fut, loop, transaction, alone or yields, yields, owner))
        return fut

    def write_mark(self, owner: str = STEPS) -> WriteMark:
        """What has been committed so far besides `owner`'s own writes, as the writer knows it: take it before a
        read whose answer a later write job means to rely on, and ask `unchanged_since` in that job. The default
        owner is the yielding jobs' (a decay pass's steps, one pass at a time per process). A job may take it
        inside itself too: its own commit, if it held only `owner`'s jobs, leaves the mark holding."""
        return WriteMark(self._commits - self._owned.get(owner, 0), self._data_version, owner)

    def unchanged_since(self, conn: apsw.Connection, mark: WriteMark) -> bool:
        """Inside a write job: True if nothing but `mark.owner`'s jobs has committed since `mark`, in this process
        or another (each commit holding any other job counts, riders included), so a read started after `mark`
        still holds except for what that owner wrote. False whenever that cannot be told."""
        if mark.data_version is None or mark.commits_besides != self._commits - self._owned.get(mark.owner, 0):
            return False
        return _data_version(conn) == mark.data_version

    def write_blocking(self, fn: Callable[[apsw.Connection], T], *, transaction: bool = True,
                       alone: bool = False, owner: str | None = None) -> T:
        """`write` for synchronous callers (CLI, tests)."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._enqueue(_Job(fn, fut, None, transaction, alone, owner=owner))
        return fut.result()

    def _write_loop(self) -> None:
        conn = self._writer
        assert conn is not None
        pending: collections.deque[Any] = collections.deque()
        # Jobs queued with `yields=True`, set aside while any other job is queued (see `enqueue`).
        waiting: collections.deque[_Job] = collections.deque()
        stop = False
        while not stop:
            item = self._next_job(pending, waiting)
            if item is _STOP:
                break
            if not item.transaction:
                self._run_bare(conn, item)
                continue
            if not item.alone:
                batch = [item]
                stop = self._take_queued(batch, pending, waiting)
                self._run_transaction(conn, batch)
                continue

            def riders() -> list[_Job]:
                nonlocal stop
                more: list[_Job] = []
                stop = self._take_queued(more, pending, waiting, 1)
                return more

            self._run_transaction(conn, [item], riders)
        # Drain anything left so no awaiting caller hangs forever.
        for job in (*pending, *waiting):
            self._run_bare(conn, job) if not job.transaction else self._run_transaction(conn, [job])

    def _next_job(self, pending: collections.deque[Any], waiting: collections.deque[_Job]) -> Any:
        """The next job to run: one held back, else the queue's next, a yielding one only when nothing else is
        queued."""
        while True:
            if pending:
                return pending.popleft()
            try:
                item = self._queue.get_nowait() if waiting else self._queue.get()
            except queue.Empty:
                return waiting.popleft()
            if item is not _STOP and item.yields:
                waiting.append(item)
                continue
            return item

    def _take_queued(self, batch: list[_Job], pending: collections.deque[Any], waiting: collections.deque[_Job],
                     already: int = 0) -> bool:
        """Move queued jobs that may share a transaction into `batch` (up to `max_batch` with `already` taken),
        stopping at the first that may not (kept in `pending`, in order); yielding jobs met on the way go to
        `waiting`. True when the stop marker was met."""
        while already + len(batch) < self.max_batch:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is _STOP:
                return True
            if nxt.yields:
                waiting.append(nxt)
                continue
            if not nxt.transaction or nxt.alone:
                pending.append(nxt)
                return False
            batch.append(nxt)
        return False

    def _locked(self, fn: Callable[[], Any], yielding: bool = False) -> Any:
        """`fn()` holding the write lock shared with another writing process, if there is one. `yielding`: first
        let that process take the lock if it waits for it (see `_let_other_process_write`)."""
        lock = self._write_lock
        if lock is None:
            return fn()
        if yielding:
            _let_other_process_write(lock)
        lock.acquire()
        try:
            return fn()
        finally:
            lock.release()

    def _run_bare(self, conn: apsw.Connection, job: _Job) -> None:
        self._locked(lambda: self._run_bare_unlocked(conn, job))

    def _run_transaction(self, conn: apsw.Connection, batch: list[_Job],
                         riders: Callable[[], list[_Job]] | None = None) -> None:
        self._locked(lambda: self._run_transaction_unlocked(conn, batch, riders), yielding=batch[0].yields)

    def _run_bare_unlocked(self, conn: apsw.Connection, job: _Job) -> None:
        started = time.perf_counter()
        try:
            out = (True, job.fn(conn))
        except BaseException as exc:
            out = (False, exc)
        self._commits += 1  # whatever it did, it may have written
        self.write_job_seconds.observe(time.perf_counter() - started)
        self._dispatch([(job, *out)])

    def _run_transaction_unlocked(self, conn: apsw.Connection, batch: list[_Job],
                                  riders: Callable[[], list[_Job]] | None = None) -> None:
        """Run `batch` in one transaction and commit once. A lone first job runs without a savepoint (a failure
        rolls back nothing else). `riders` (given after an `alone` job) is asked, once the batch has run, for the
        jobs queued meanwhile: they join its commit, each in a savepoint, instead of waiting for it and then paying
        for a commit of their own (an inbox write queued behind a worker batch is committed with it). A rider that
        loses the transaction (a full disk) fails the job it joined too, as a failed COMMIT would have."""
        results: list[tuple[_Job, bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._data_version = _data_version(conn)
        except BaseException as exc:
            self._dispatch([(job, False, exc) for job in batch])
            return
        single = len(batch) == 1
        for job in _then(batch, riders):
            started = time.perf_counter()
            if single:
                single = False
                try:
                    results.append((job, True, job.fn(conn)))
                except BaseException as exc:
                    with contextlib.suppress(apsw.Error):
                        conn.execute("ROLLBACK")
                    self._dispatch([(job, False, exc)])
                    return
                finally:
                    self.write_job_seconds.observe(time.perf_counter() - started)
                continue
            try:
                results.append(self._run_savepoint(conn, job))
            except _TransactionLost as lost:
                # Nothing this group wrote so far is kept: those jobs and this one fail; the jobs not yet run go on
                # in a new transaction, and the writer carries on.
                with contextlib.suppress(apsw.Error):
                    conn.execute("ROLLBACK")
                self._dispatch([(j, False, lost.cause) for j, _, _ in results] + [(job, False, lost.cause)])
                rest = batch[len(results) + 1:]
                if rest:
                    self._run_transaction_unlocked(conn, rest)
                return
            finally:
                self.write_job_seconds.observe(time.perf_counter() - started)
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(apsw.Error):
                conn.execute("ROLLBACK")
            self._dispatch([(job, False, exc) for job, _, _ in results])
            return
        self.writes_committed += 1
        self._commits += 1
        owner = results[0][0].owner if results else None
        if owner is not None and all(job.owner == owner for job, _, _ in results):
            self._owned[owner] = self._owned.get(owner, 0) + 1
        self.last_commit_at = time.monotonic()
        self._dispatch(results)

    @staticmethod
    def _run_savepoint(conn: apsw.Connection, job: _Job) -> tuple[_Job, bool, Any]:
        """One job of a shared transaction in its own savepoint; raises _TransactionLost when the transaction
        itself is gone (SQLite rolls it back on a full disk, an I/O error or no memory), not just this job."""
        try:
            conn.execute("SAVEPOINT job")
        except apsw.Error as exc:
            raise _TransactionLost(exc) from exc
        try:
            value = job.fn(conn)
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            except apsw.Error:
                raise _TransactionLost(exc) from exc
            return job, False, exc
        try:
            conn.execute("RELEASE job")
        except apsw.Error as exc:
            raise _TransactionLost(exc) from exc
        return job, True, value

    @staticmethod
    def _dispatch(results: list[tuple[_Job, bool, Any]]) -> None:
        by_loop: dict[Any, list[tuple[_Job, bool, Any]]] = {}
        for r in results:
            if r[0].loop is None:
                _settle(*r)
            else:
                by_loop.setdefault(r[0].loop, []).append(r)
        for loop, items in by_loop.items():
            # One wake-up per loop per commit, not one per request.
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(_settle_batch, items)

    # -- reads -----------------------------------------------------------------------------------------------
    def _reader(self) -> apsw.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = apsw.Connection(self.path, flags=apsw.SQLITE_OPEN_READONLY)
            apply_pragmas(conn, cache_size_mb=self.reader_cache_mb, readonly=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _run_read(self, fn: Callable[[apsw.Connection], T]) -> T:
        conn = self._reader()
        started = time.perf_counter()
        if self.read_deadline > 0:
            deadline = time.monotonic() + self.read_deadline
            # Called every N virtual-machine steps; a true answer interrupts the statement.
            conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        conn.execute("BEGIN")
        try:
            return fn(conn)
        except apsw.InterruptError:
            raise ReadTimeout(f"the query took longer than {self.read_deadline:g} s and was stopped; "
                              "narrow it (a shorter range, fewer filters)") from None
        finally:
            with contextlib.suppress(apsw.Error):
                conn.execute("COMMIT")
            if self.read_deadline > 0:
                conn.set_progress_handler(None)
            self.read_seconds.observe(time.perf_counter() - started)

    def _read_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        readers = self._readers
        if readers is None or self._closed:
            raise DatabaseClosed()
        return readers

    async def read(self, fn: Callable[[apsw.Connection], T]) -> T:
        """Run `fn(conn)` on a read-only connection in one read transaction."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool(), self._run_read, fn)

    def read_blocking(self, fn: Callable[[apsw.Connection], T]) -> T:
        """`read` for synchronous callers."""
        return self._read_pool().submit(self._run_read, fn).result()

    def read_here(self, fn: Callable[[apsw.Connection], T]) -> T:
        """`read` on the calling thread, with a read-only connection of that thread's own: for a writer thread
        that reads another database inside its own transaction (the worker reads the inbox file)."""
        if self._closed:
            raise DatabaseClosed()
        return self._run_read(fn)

    # -- maintenance -----------------------------------------------------------------------------------------
    async def checkpoint(self) -> tuple[int, int, int]:
        """`wal_checkpoint(TRUNCATE)` + `optimize` on the writer so the WAL stays bounded under readers."""

        def run(conn: apsw.Connection) -> tuple[int, int, int]:
            # A reader holding an old snapshot (a long export, a backup) would make TRUNCATE wait out the whole
            # busy timeout on the writer thread, stalling every write behind it. Try briefly; the WAL is
            # truncated on a later round once the reader is gone.
            conn.set_busy_timeout(200)
            try:
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                conn.set_busy_timeout(10_000)
            conn.execute("PRAGMA optimize")
            return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

        return await self.write(run, transaction=False)
