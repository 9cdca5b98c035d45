"""Plans of the writer's per-event queries (each reads an index alone, never a row per matching event) and of reads
whose plan decides how they scale."""

from __future__ import annotations

import apsw

from leadvibe.db.migrate import apply_migrations
from leadvibe.store import analytics_gains, events


def test_the_filter_window_is_counted_from_the_index_alone() -> None:
    # It runs for every event of a filtered type, over every earlier event of the lead and type in the window:
    # a row fetch per counted event made a bot-like lead's events cost in proportion to its burst.
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + events.FILTER_WINDOW, ("u", "ld", "t", 0, 1, 9))]
    assert plan == ["SEARCH events USING COVERING INDEX events_lead_type_time"
                    " (unit_id=? AND lead_id=? AND type_key=? AND occurred_at>? AND occurred_at<?)"], plan


def test_the_capped_filter_window_reads_the_index_alone_and_stops_at_its_limit() -> None:
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + events.FILTER_WINDOW_UP_TO,
                                           ("u", "ld", "t", 0, 1, 9, 5))]
    assert plan == ["CO-ROUTINE (subquery-1)",
                    "SEARCH events USING COVERING INDEX events_lead_type_time"
                    " (unit_id=? AND lead_id=? AND type_key=? AND occurred_at>? AND occurred_at<?)",
                    "SCAN (subquery-1)"], plan
    conn.executemany(
        "INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
        " processed_at, channel, scope, decay_id) VALUES (?, 'o', 'u', 'ld', 't', 't', ?, 0, 0, 'web', ?, ?)",
        [(f"ev_{i}", 100 + i, "observe" if i % 10 == 9 else "activate", "dc_1" if i % 10 == 8 else None)
         for i in range(60)])
    # Events 0-59 at 100-159: in (109, 139] thirty, of which six are observe-scope or a decay pass's.
    exact = events.filter_window(conn, "u", "ld", "t", 109, 139)[0]
    assert exact == 24
    for limit in (0, 1, 5, 23, 24, 25, 1000):
        assert events.filter_window_up_to(conn, "u", "ld", "t", 109, 139, limit) == min(limit, exact), limit


def test_score_gains_read_the_windows_score_rows_in_key_order() -> None:
    # The window's events, walked by type and time, name score rows all over `event_scores` when they arrived at
    # many different times (an imported history): probing them as found read a page at random per event (1.0 s
    # at 10 M events); an IN list is sorted first, so the probes go through the table in key order.
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + analytics_gains._CANDIDATES, ("u", "rs", 0))]
    engaged = plan[plan.index("CO-ROUTINE engaged"):plan.index("SCAN engaged")]
    assert engaged[1] == "SEARCH s USING PRIMARY KEY (event_seq=? AND ruleset_id=?)", plan
    assert engaged[2].startswith("LIST SUBQUERY"), plan
    assert ("SEARCH e USING COVERING INDEX events_unit_type_time (unit_id=? AND type_key=? AND occurred_at>?)"
            in engaged), plan


def test_a_count_of_two_large_lead_ranges_merges_both_tables_in_lead_order() -> None:
    # Left to choose on a database without statistics, the planner read each range by its own index and sorted it
    # for the INTERSECT (1.3-7x slower at 1 M leads than merging the two tables as stored, in lead id order).
    from leadvibe.store import leads

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    sql, params = leads.scored_matching_sql("merge", "u", "rs", " AND s.score >= ?", [20],
                                            " AND l.last_event_at >= ?", [5])
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert plan == ["CO-ROUTINE (subquery-2)", "MERGE (INTERSECT)", "LEFT", "SEARCH s USING PRIMARY KEY (unit_id=?)",
                    "RIGHT", "SEARCH l USING INDEX sqlite_autoindex_leads_1 (unit_id=?)", "SCAN (subquery-2)"], plan
