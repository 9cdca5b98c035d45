"""Small query helpers shared by every store module: rows as dicts, one row, one value, many rows per statement."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, partial
from itertools import chain
from typing import Any

import apsw


def query(conn: apsw.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
    """All rows of `sql` as dicts keyed by column name."""
    cur = conn.execute(sql, params)
    try:
        names = [d[0] for d in cur.get_description()]
    except apsw.ExecutionCompleteError:
        return []
    return [dict(zip(names, r, strict=True)) for r in cur]


def query_one(conn: apsw.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
    """The first row as a dict, or None."""
    cur = conn.execute(sql, params)
    try:
        names = [d[0] for d in cur.get_description()]
    except apsw.ExecutionCompleteError:
        return None
    row = next(cur, None)
    return dict(zip(names, row, strict=True)) if row is not None else None


def scalar(conn: apsw.Connection, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
    """The first column of the first row, or None."""
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def placeholders(n: int) -> str:
    """`?,?,?` for an IN list of n items."""
    return ",".join("?" * n)


# Many rows per statement, for the writer's bulk writes: one statement per few hundred rows costs less CPU than an
# execution per row (1,000 inbox rows: about a quarter less), opens one statement journal where the table has
# triggers (about half of those inserts' cost, docs/performance.md), and makes one call into SQLite instead of one
# per row (apsw gives the interpreter lock up for each call, and the event loop may hold it when the writer wants
# it back: docs/performance.md, "The writer's calls into SQLite").
ROWS_PER_STATEMENT = 400


@cache
def multi_row_sql(sql: str, n: int) -> str:
    """`sql` (an INSERT of one `VALUES (...)` row) with `n` rows of placeholders."""
    head, marks = sql.split(" VALUES ", 1)
    return f"{head} VALUES {','.join([marks] * n)}"


def execute_rows(conn: apsw.Connection, sql_for: Callable[[int], str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Run `sql_for(n)` (a statement taking n rows of parameters) over `rows` in order, ROWS_PER_STATEMENT at a
    time."""
    for lo in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[lo:lo + ROWS_PER_STATEMENT]
        conn.execute(sql_for(len(chunk)), list(chain.from_iterable(chunk)))


def insert_rows(conn: apsw.Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert `rows` with `sql` (an INSERT of one `VALUES (...)` row), many rows per statement, in order."""
    execute_rows(conn, partial(multi_row_sql, sql), rows)


@contextmanager
def triggers_suspended(conn: apsw.Connection) -> Iterator[None]:
    """Run the block's statements without the schema's triggers firing (on this connection only; SQLite
    re-prepares the statements it runs). The caller must do the skipped triggers' work itself, in the same
    transaction."""
    conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 0)
    try:
        yield
    finally:
        conn.config(apsw.SQLITE_DBCONFIG_ENABLE_TRIGGER, 1)
