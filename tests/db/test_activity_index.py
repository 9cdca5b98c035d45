"""The lead's activity columns. One index orders the leads by activity (migration 0058): `last_event_at` and
`last_organic_at` hold the same time, the recency sort and the `last_active` filter read leads_unit_organic, and a
database whose two columns had drifted apart is recomputed the way the worker keeps them. The last event type's
key is stored beside its spelling (migration 0059) for the `event_type` filter, which still normalizes rows
without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw

from leadvibe.db.migrate import apply_migrations
from leadvibe.store import leads
from tests.db.test_query_plans import _statement_plans
from tests.helpers import database_before


def _lead_plans(conn: apsw.Connection, f: leads.LeadFilter) -> list[list[str]]:
    return _statement_plans(conn, lambda: leads.list_leads(conn, "u", None, f, 10, 0),
                            reads=lambda sql: "FROM leads" in sql and "count(" not in sql)


def test_recency_sort_and_filter_read_the_organic_index() -> None:
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leads'")}
    assert "leads_unit_activity" not in names and "leads_unit_organic" in names, names
    for f in (leads.LeadFilter(sort="recent"), leads.LeadFilter(sort="recent", active_since=5)):
        plans = _lead_plans(conn, f)
        assert plans and all(any("leads_unit_organic" in step for step in plan) for plan in plans), plans


def test_the_migration_recomputes_leads_whose_activity_columns_differ(tmp_path: Path) -> None:
    conn = database_before(tmp_path, 58)
    # ld_a: a DECAY and an observe-scope event after its last organic one, counted as activity by the old
    # recompute; ld_b: consistent already; ld_c: no events left; ld_m: merged (both NULL, left alone).
    conn.executemany(
        "INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at, last_event_type,"
        " last_organic_at, merged_into) VALUES ('u', ?, 'o', 0, 0, ?, ?, ?, ?)",
        [("ld_a", 300, "DECAY", 250, None), ("ld_b", 100, "signup", 100, None), ("ld_c", 50, "visit", None, None),
         ("ld_m", None, None, None, "ld_b")])
    conn.executemany(
        "INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
        " processed_at, channel, scope, decay_id) VALUES (?, 'o', 'u', ?, ?, ?, ?, 0, 0, 'web', ?, ?)",
        [("ev_1", "ld_a", "Page View", "page_view", 200, "activate", None),
         ("ev_2", "ld_a", "signup", "signup", 200, "activate", None),  # same time, later arrival: its type
         ("ev_3", "ld_a", "visit", "visit", 250, "observe", None),
         ("ev_4", "ld_a", "DECAY", "decay", 300, "activate", "dc_1"),
         ("ev_5", "ld_b", "signup", "signup", 100, "activate", None)])
    apply_migrations(conn)
    got: Any = conn.execute("SELECT id, last_event_at, last_event_type, last_organic_at FROM leads ORDER BY id")
    assert [tuple(r) for r in got] == [("ld_a", 200, "signup", 200), ("ld_b", 100, "signup", 100),
                                       ("ld_c", None, None, None), ("ld_m", None, None, None)]
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'leads_unit_activity'").fetchone()[0] == 0


def test_the_recompute_reads_the_leads_own_events() -> None:
    # Left to choose, the planner walked the OU's events by time (events_unit_time) until it met one of the lead's:
    # the whole OU for a lead with none left, inside a merge's or a deletion's write transaction.
    from leadvibe.store import events

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plans = _statement_plans(conn, lambda: events.refresh_lead_activity(conn, "u", ["ld_1", "ld_2"], 0))
    assert len(plans) == 2, plans
    for plan in plans:
        assert not any("events_unit_time" in step for step in plan), plan
        assert any("COVERING INDEX events_lead_type_time (unit_id=? AND lead_id=?)" in step for step in plan), plan


def test_the_type_filter_reads_the_stored_key_and_normalizes_rows_without_one(tmp_path: Path) -> None:
    conn = database_before(tmp_path, 59)
    rows = [("ld_snake", "page_view"), ("ld_spaced", "Page View"), ("ld_dashed", "page-view"), ("ld_other", "signup"),
            ("ld_none", None)]
    conn.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at, last_event_type,"
                     " last_organic_at) VALUES ('u', ?, 'o', 0, 0, 1, ?, 1)", rows)
    apply_migrations(conn)
    # Only spellings that are their own key are filled in; the rest wait for the lead's next event.
    keys: Any = conn.execute("SELECT id, last_type_key FROM leads ORDER BY id").fetchall()
    assert [tuple(k) for k in keys] == [("ld_dashed", None), ("ld_none", None), ("ld_other", "signup"),
                                        ("ld_snake", "page_view"), ("ld_spaced", None)]
    for asked in ("page_view", "PAGE VIEW", " page - view "):
        found, total = leads.list_leads(conn, "u", None, leads.LeadFilter(event_type=asked, sort="created"), 10, 0)
        assert sorted(r["id"] for r in found) == ["ld_dashed", "ld_snake", "ld_spaced"] and total == 3, asked
    conn.execute("UPDATE leads SET last_type_key = 'page_view' WHERE id = 'ld_spaced'")
    found, total = leads.list_leads(conn, "u", None, leads.LeadFilter(event_type="page view", sort="created"), 10, 0)
    assert total == 3
