"""Table-driven CRUD for OU-scoped configuration rows (mappings, profile/account rulesets and rules, segments
and their rules): one implementation of list/get/insert/update/delete, every statement filtered by the OU.

Column names come from the table definitions here and from the callers' code, never from user input; the
values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import apsw

from leadvibe.db.rows import query, query_one


@dataclass(frozen=True)
class ConfigTable:
    """One configuration table: its name, the columns an update may set, and its list order."""

    name: str
    updatable: frozenset[str]
    order: str = "created_at, id"
    # Extra columns a list may be narrowed by (e.g. `target`, `ruleset_id`, `segment_id`).
    filters: frozenset[str] = frozenset()

    def _where(self, unit_id: str, where: Mapping[str, Any]) -> tuple[str, list[Any]]:
        unknown = set(where) - self.filters - {"id"}
        if unknown:  # a programming error, never user input
            raise ValueError(f"{self.name} cannot be filtered by {sorted(unknown)}")
        names = sorted(where)
        sql = " AND ".join(["unit_id = ?", *(f"{n} = ?" for n in names)])
        return sql, [unit_id, *(where[n] for n in names)]

    def list(self, conn: apsw.Connection, unit_id: str, **where: Any) -> list[dict[str, Any]]:
        """Rows of the OU (narrowed by `where`), in the table's order."""
        sql, params = self._where(unit_id, where)
        return query(conn, f"SELECT * FROM {self.name} WHERE {sql} ORDER BY {self.order}", params)

    def get(self, conn: apsw.Connection, unit_id: str, row_id: str, **where: Any) -> dict[str, Any] | None:
        """One row of the OU by id (None for an unknown id or one of another OU)."""
        sql, params = self._where(unit_id, {**where, "id": row_id})
        return query_one(conn, f"SELECT * FROM {self.name} WHERE {sql}", params)

    def insert(self, conn: apsw.Connection, row: Mapping[str, Any]) -> None:
        """Insert a row given as column -> value (it must carry `id` and `unit_id`)."""
        names = sorted(row)
        conn.execute(
            f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[n] for n in names],
        )

    def update(
        self, conn: apsw.Connection, unit_id: str, row_id: str, fields: Mapping[str, Any], **where: Any
    ) -> bool:
        """Set `fields` (plus whatever bookkeeping columns the caller passes, e.g. `updated_at`) on one row;
        False when the OU has no such row."""
        unknown = set(fields) - self.updatable - {"updated_at", "updated_by"}
        if unknown:  # a programming error, never user input
            raise ValueError(f"{self.name} cannot update {sorted(unknown)}")
        if not fields:
            return self.get(conn, unit_id, row_id, **where) is not None
        names = sorted(fields)
        sql, params = self._where(unit_id, {**where, "id": row_id})
        conn.execute(
            f"UPDATE {self.name} SET {', '.join(f'{n} = ?' for n in names)} WHERE {sql}",
            [*(fields[n] for n in names), *params],
        )
        return conn.changes() > 0

    def delete(self, conn: apsw.Connection, unit_id: str, row_id: str, **where: Any) -> bool:
        """Delete one row; False when the OU has no such row."""
        sql, params = self._where(unit_id, {**where, "id": row_id})
        conn.execute(f"DELETE FROM {self.name} WHERE {sql}", params)
        return conn.changes() > 0
