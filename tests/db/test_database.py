"""The database layer on a real SQLite file: closing, read deadlines, its own figures."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from leadvibe.db.database import JOURNAL_SIZE_LIMIT, Database, DatabaseClosed, ReadTimeout

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
