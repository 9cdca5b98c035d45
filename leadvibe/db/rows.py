"""Small query helpers shared by every store module: rows as dicts, one row, one value."""

from __future__ import annotations

from collections.abc import Sequence
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
