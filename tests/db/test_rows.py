"""The writer's many-rows-per-statement helpers (db.rows) on a real SQLite file: every row written once, in order,
across statement boundaries."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import apsw
import pytest

from leadvibe.db.rows import ROWS_PER_STATEMENT, execute_rows, insert_rows


@pytest.fixture
def conn(tmp_path: Path) -> apsw.Connection:
    c = apsw.Connection(str(tmp_path / "rows.db"))
    c.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL UNIQUE, v INTEGER, x BLOB)")
    return c


SIZES = [0, 1, ROWS_PER_STATEMENT - 1, ROWS_PER_STATEMENT, ROWS_PER_STATEMENT + 1, 2 * ROWS_PER_STATEMENT + 7]


@pytest.mark.parametrize("n", SIZES)
def test_insert_rows_writes_each_row_once_in_order(conn: apsw.Connection, n: int) -> None:
    rows = [(f"k{i:05d}-é\"'", i * 3 - n, None if i % 3 else b"\x00\xff") for i in range(n)]
    insert_rows(conn, "INSERT INTO t (k, v, x) VALUES (?,?,?)", rows)
    stored = conn.execute("SELECT seq, k, v, x FROM t ORDER BY seq").fetchall()
    assert [r[1:] for r in stored] == rows
    assert [r[0] for r in stored] == list(range(1, n + 1))  # arrival order is the given order


@cache
def _set_v(n: int) -> str:
    return ("UPDATE t SET v = w.column1 FROM (VALUES " + ",".join(["(?,?)"] * n) + ") AS w WHERE t.k = w.column2")


@pytest.mark.parametrize("n", SIZES)
def test_execute_rows_runs_every_row(conn: apsw.Connection, n: int) -> None:
    insert_rows(conn, "INSERT INTO t (k, v) VALUES (?,?)", [(f"k{i}", 0) for i in range(n + 3)])
    execute_rows(conn, _set_v, [(i + 1, f"k{i}") for i in range(n)])
    assert conn.execute("SELECT k, v FROM t ORDER BY seq").fetchall() == (
        [(f"k{i}", i + 1) for i in range(n)] + [(f"k{i}", 0) for i in range(n, n + 3)])


def test_a_failing_chunk_raises_and_the_statement_before_it_stands(conn: apsw.Connection) -> None:
    conn.execute("INSERT INTO t (k, v) VALUES ('taken', 0)")
    rows = [(f"k{i}", i) for i in range(ROWS_PER_STATEMENT)] + [("taken", 1)]
    with pytest.raises(apsw.ConstraintError):
        insert_rows(conn, "INSERT INTO t (k, v) VALUES (?,?)", rows)
    # Callers run inside a transaction or savepoint and roll back on the error; the helper itself hides nothing.
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1 + ROWS_PER_STATEMENT
