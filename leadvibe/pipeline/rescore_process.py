"""A rescore's replays in a process of their own.

`prepare_rescore` is Python from end to end, and on a reader thread of the server it holds the interpreter lock
that the request path and the writer need: the writer gives the lock back around every SQLite call and must win
it back each time, so a replay running beside a write step slows the step and the ingestion commits queued
behind it. In a child process the replay of the next step runs on the other core while the server's writer
writes the current one; the server only unpickles the rows to write (a few kB per step).

The child opens its own read-only connection to the database file and loads the configuration in the same read
transaction as its replay, exactly as a reader thread does; the writer checks every prepared chunk against what
it sees before writing it (`rescore_leads`), whichever process prepared it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import apsw

from leadvibe import gc_policy
from leadvibe.db.database import apply_pragmas
from leadvibe.pipeline.rescore import PreparedRescore, prepare_rescore
from leadvibe.pipeline.scoring_config import load_config

_conn: apsw.Connection | None = None  # the child's read connection, opened once by `_open`


def _open(path: str, cache_size_mb: int) -> None:
    global _conn
    _conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    apply_pragmas(_conn, cache_size_mb=cache_size_mb, readonly=True)
    gc_policy.settle_after_start_up()  # replays allocate much: the server's collector settings (4 % of a rescore)


def _prepare(unit_id: str, lead_ids: Sequence[str], now: int, ruleset_ids: Sequence[str] | None,
             budget_ms: float | None, max_writes: int | None) -> PreparedRescore:
    conn = _conn
    assert conn is not None, "the child's connection is opened by the pool's initializer"
    conn.execute("BEGIN")
    try:
        return prepare_rescore(conn, load_config(conn, unit_id), lead_ids, now, ruleset_ids, budget_ms, max_writes)
    finally:
        conn.execute("COMMIT")


class ReplayProcess:
    """One child process replaying rescore steps of the database at `path`; `close` ends it."""

    def __init__(self, path: str, cache_size_mb: int) -> None:
        # spawn, not fork: the server has threads (the writer, readers, the loop) whose locks a fork would copy.
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_open,
                                         initargs=(path, cache_size_mb))

    async def prepare(self, unit_id: str, lead_ids: Sequence[str], now: int, ruleset_ids: Sequence[str] | None,
                      budget_ms: float | None = None, max_writes: int | None = None) -> PreparedRescore:
        """`prepare_rescore` of the leads on a read transaction of the child's own (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _prepare, unit_id, list(lead_ids), now,
                                          None if ruleset_ids is None else list(ruleset_ids), budget_ms, max_writes)

    async def close(self) -> None:
        """End the child (after the replay it is running, if any: at most one step's) and wait for it to exit."""
        # Waited for, on a thread: an executor left to wind down on its own can still be running when the server
        # exits, and the interpreter's exit hook then writes to its closed wake-up pipe.
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
