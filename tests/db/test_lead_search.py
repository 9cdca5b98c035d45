"""The full-text index of lead names and companies (migration 0062): filled for the leads stored before it, kept by
the triggers on every lead write, and read with the index driving, never a walk of the OU's leads."""

from __future__ import annotations

import json
from pathlib import Path

import apsw

from leadvibe.db.migrate import apply_migrations
from leadvibe.store import leads
from tests.db.test_query_plans import _statement_plans
from tests.helpers import database_before


def _add(conn: apsw.Connection, unit_id: str, lead_id: str, metadata: dict[str, object] | str,
         merged_into: str | None = None) -> None:
    conn.execute(
        "INSERT INTO leads (unit_id, id, org_id, metadata, merged_into, created_at, updated_at)"
        " VALUES (?, ?, 'o', ?, ?, 0, 0)",
        (unit_id, lead_id, metadata if isinstance(metadata, str) else json.dumps(metadata), merged_into))


def _found(conn: apsw.Connection, unit_id: str, q: str) -> list[tuple[str, str]]:
    return [(h["lead_id"], h["matched"]) for h in leads.search(conn, unit_id, q)]


def test_the_migration_indexes_the_leads_stored_before_it(tmp_path: Path) -> None:
    conn = database_before(tmp_path, 62)
    _add(conn, "u", "ld_a", {"first_name": "Grace", "last_name": "Hopper", "company": "Remington Rand"})
    _add(conn, "u", "ld_b", {"name": "Ada Lovelace"})
    _add(conn, "u", "ld_m", {"name": "Grace Merged"}, merged_into="ld_a")
    _add(conn, "u", "ld_e", {})
    _add(conn, "v", "ld_v", {"name": "Grace Elsewhere"})
    apply_migrations(conn)
    assert _found(conn, "u", "grace") == [("ld_a", "name")]
    assert _found(conn, "u", "rand") == [("ld_a", "company")]
    assert _found(conn, "u", "love") == [("ld_b", "name")]
    assert _found(conn, "v", "grace") == [("ld_v", "name")]
    indexed = conn.execute("SELECT count(*) FROM lead_search WHERE lead_search MATCH 'unit : 75'").fetchone()
    assert indexed == (2,)  # of u (hex 75): not the merged lead, nor the one without a name or company


def test_leads_written_without_the_api_are_indexed_too() -> None:
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    _add(conn, "u", "ld_a", {"name": "Grace Hopper"})
    _add(conn, "u", "ld_bad", "not json")  # written by hand: the write still succeeds, nothing indexed
    assert _found(conn, "u", "hop") == [("ld_a", "name")]
    conn.execute("UPDATE leads SET metadata = '{\"name\":\"Grace Murray\"}' WHERE id = 'ld_a'")
    assert _found(conn, "u", "hop") == [] and _found(conn, "u", "murr") == [("ld_a", "name")]
    conn.execute("DELETE FROM leads WHERE id = 'ld_a'")
    assert _found(conn, "u", "murr") == []


def test_a_name_search_is_driven_by_the_full_text_index() -> None:
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plans = _statement_plans(conn, lambda: leads.search(conn, "u", "grace hop"),
                             reads=lambda sql: "lead_search" in sql)
    assert len(plans) == 2, plans  # name, then company
    for plan in plans:
        assert "VIRTUAL TABLE" in plan[0] and "USING INTEGER PRIMARY KEY" in plan[1], plan
