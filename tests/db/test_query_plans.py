"""Plans of the writer's per-event queries (each reads an index alone, never a row per matching event) and of reads
whose plan decides how they scale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def test_score_gains_by_days_read_each_day_biggest_rise_first_and_probe_bounds_by_key() -> None:
    # The walk stops after a few dozen leads only if a day's list comes from the index in order of rise (no sort
    # of the day's rows) and each lead's bound is one probe per day, not a range of the ruleset's rows.
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)

    def plan(sql: str, params: tuple[Any, ...]) -> list[str]:
        return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]

    assert plan(analytics_gains._DAY_LIST, (1, 2)) == [
        "SEARCH score_gain_days USING COVERING INDEX score_gain_days_rank (ruleset=? AND day=? AND rises>?)"]
    assert "SEARCH g USING PRIMARY KEY (ruleset=? AND day=? AND lead_id=?)" in plan(
        analytics_gains._BOUNDS, (1, "[1, 2]", '["ld"]'))
    settle = plan(analytics_gains._SETTLE_ALL, ("u", "rs", 0, '["ld"]'))
    assert settle[-6:] == [  # the lead's two halves of events (migration 0061), each on its own index
        "CORRELATED SCALAR SUBQUERY 1",
        "SEARCH e USING COVERING INDEX events_lead_type_time (unit_id=? AND lead_id=?)",
        "SEARCH s USING PRIMARY KEY (event_seq=? AND ruleset_id=?)",
        "CORRELATED SCALAR SUBQUERY 2",
        "SEARCH e USING COVERING INDEX events_lead_decay (unit_id=? AND lead_id=? AND decay_id>?)",
        "SEARCH s USING PRIMARY KEY (event_seq=? AND ruleset_id=?)"], settle


def test_a_count_of_two_large_lead_ranges_merges_both_tables_in_lead_order() -> None:
    # Left to choose on a database without statistics, the planner read each range by its own index and sorted it
    # for the INTERSECT (1.3-7x slower at 1 M leads than merging the two tables as stored, in lead id order).
    from leadvibe.store import leads

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    sql, params = leads.scored_matching_sql("merge", "u", "rs", " AND s.score >= ?", [20],
                                            " AND l.last_organic_at >= ?", [5])
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    assert plan == ["CO-ROUTINE (subquery-2)", "MERGE (INTERSECT)", "LEFT", "SEARCH s USING PRIMARY KEY (unit_id=?)",
                    "RIGHT", "SEARCH l USING INDEX sqlite_autoindex_leads_1 (unit_id=?)", "SCAN (subquery-2)"], plan


def _statement_plans(conn: apsw.Connection, run: Callable[[], object],
                     reads: Callable[[str], bool] = lambda sql: "FROM events" in sql) -> list[list[str]]:
    """The plans of the statements `run` makes on `conn` that `reads` picks (those reading `events` unless told),
    each explained with its bindings."""
    seen: list[tuple[str, Any]] = []

    def trace(_cursor: apsw.Cursor, sql: str, bindings: Any) -> bool:
        if reads(sql) and not sql.startswith("EXPLAIN"):
            seen.append((sql, bindings))
        return True

    conn.exec_trace = trace
    try:
        run()
    finally:
        conn.exec_trace = None
    return [[row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, bindings)] for sql, bindings in seen]


def _one_ou_with_events(conn: apsw.Connection) -> None:
    apply_migrations(conn)
    # Every ninth a decay pass's DECAY event (indexed apart from the others, migration 0061).
    conn.executemany(
        "INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
        " processed_at, channel, metadata, decay_id) VALUES (?, 'o', 'u', ?, ?, ?, ?, 0, 0, 'web', ?, ?)",
        [(f"ev_{i}", f"ld_{i % 7}", *(("DECAY", "decay") if i % 9 == 4 else (t, t)), 1_000 * (50 - i),
          '{"decrease": 2}' if i % 9 == 4 else None, "dc_1" if i % 9 == 4 else None)
         for i, t in enumerate(["page_view", "email_open", "form_submit"] * 20)])


def test_events_keep_one_index_per_lead() -> None:
    # Every stored event writes an entry to each of these, and a lead-keyed one dirties a page of its own per lead
    # a worker batch touches (migration 0055 dropped the arrival-ordered twin): a new index here is a cost to every
    # event, to be measured with scripts/bench_worker.py.
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events'")}
    assert names == {"sqlite_autoindex_events_1", "events_unit_time", "events_unit_type_time",
                     "events_lead_type_time", "events_lead_decay", "events_sent_as_decay"}, names


def test_a_leads_events_in_arrival_order_are_sorted_lead_by_lead() -> None:
    # The backtest's walk and the rescore's read take the leads in the index's order and sort each lead's events
    # by arrival alone: a sort of the whole OU (or of a whole step) at once would hold it all in the sorter.
    from leadvibe.pipeline import rescore
    from leadvibe.store import scoring

    conn = apsw.Connection(":memory:")
    _one_ou_with_events(conn)
    walks = _statement_plans(conn, lambda: list(scoring.events_in_lead_order(conn, "u")))
    walks += _statement_plans(conn, lambda: rescore._load(conn, "u", ["ld_1", "ld_2", "ld_3"], None),
                              lambda sql: "FROM lead_events" in sql)
    assert len(walks) == 2, walks
    for plan in walks:  # the two halves of the events (migration 0061), each in lead order, merged
        assert "MERGE (UNION ALL)" in plan, plan
        left = plan[plan.index("LEFT") + 1:plan.index("RIGHT")]
        right = [step for step in plan[plan.index("RIGHT") + 1:] if not step.startswith("SCAN (subquery")]
        for half, index in ((left, "events_lead_type_time"), (right, "events_lead_decay")):
            assert half[0].startswith("SEARCH ") and f"INDEX {index} (unit_id=?" in half[0], plan
            assert half[-1] == "USE TEMP B-TREE FOR LAST TERM OF ORDER BY", plan
    order = [(lead, seq) for lead, seq, *_ in conn.execute("SELECT lead_id, seq FROM events ORDER BY lead_id, seq")]
    loaded = rescore._load(conn, "u", [f"ld_{i}" for i in range(7)], None)
    assert [(lead, s[0]) for lead in sorted(loaded.events) for s in loaded.events[lead][1]] == order
    kinds = [(lead, key, ts, kind) for lead, key, ts, kind in conn.execute(
        "SELECT lead_id, type_key, occurred_at, CASE WHEN decay_id IS NULL THEN -2 ELSE 2 END FROM events"
        " ORDER BY lead_id, seq")]
    assert list(scoring.events_in_lead_order(conn, "u")) == kinds


def test_a_leads_trigger_history_stays_on_the_leads_own_events() -> None:
    # A sequence or pattern trigger reads the lead's recent events for every event it sees: on the OU's time index
    # a wide window would walk every lead's events in it.
    from leadvibe.store import triggers

    conn = apsw.Connection(":memory:")
    _one_ou_with_events(conn)
    plans = _statement_plans(conn, lambda: triggers.lead_history(conn, "u", "ld_1", 0, 10**9))
    assert len(plans) == 1, plans
    assert any("USING INDEX events_lead_type_time (unit_id=? AND lead_id=?)" in step for step in plans[0]), plans
    assert not any("events_unit_time" in step for step in plans[0]), plans


def test_score_sorts_walk_the_primary_rulesets_ranking_and_others_are_read_by_key() -> None:
    # Only the primary ruleset's rows are in the partial index lead_scores_rank (migration 0057): its score sorts,
    # score filters and top leads must still walk it (no sort of the OU's scores), and a query for another ruleset
    # must not name the index's condition (it would find no rows).
    from leadvibe.store import analytics, leads

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    for rs, primary in (("rs_a", 1), ("rs_b", 0)):
        conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                     " VALUES (?, 'o', 'u', ?, ?, 0, 0)", (rs, rs, primary))
    for i in range(20):
        conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at) VALUES ('u', ?, 'o', 0, 0)",
                     (f"ld_{i}",))
        conn.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                         " VALUES ('u', ?, ?, ?, 0)", [("rs_a", f"ld_{i}", i % 7), ("rs_b", f"ld_{i}", i % 5)])

    def by_score(sql: str) -> bool:  # the statements that range over a ruleset's scores
        return "lead_scores s" in sql and ("ORDER BY s.score" in sql or "s.score >=" in sql) and "EXISTS" not in sql

    walks: list[list[str]] = []
    for f in (leads.LeadFilter(sort="score_desc"), leads.LeadFilter(sort="score_asc", min_score=3)):
        walks += _statement_plans(conn, lambda f=f: leads.list_leads(conn, "u", "rs_a", f, 10, 0), by_score)
    walks += _statement_plans(conn, lambda: analytics.top_leads(conn, "u", "rs_a", 10), by_score)
    assert len(walks) == 4, walks  # two pages, the filtered count, top leads
    for plan in walks:
        assert any("INDEX lead_scores_rank (unit_id=? AND ruleset_id=?" in step for step in plan), plan
        assert not any("TEMP B-TREE" in step for step in plan), plan
    other = _statement_plans(conn, lambda: analytics.top_leads(conn, "u", "rs_b", 10), by_score)
    assert len(other) == 1 and not any("lead_scores_rank" in step for step in other[0]), other
    assert [r["score"] for r in analytics.top_leads(conn, "u", "rs_b", 5)] == [4, 4, 4, 4, 3]


def test_every_read_of_one_leads_events_stays_on_its_lead_indexes() -> None:
    # A lead's DECAY events are indexed apart from its others (migration 0061): a query naming a lead that says
    # neither `decay_id IS NULL` nor reads both halves cannot use events_lead_type_time, and the planner then walks
    # the OU's events by time (every lead's) or the whole table.
    from leadvibe.engine.conditions import SegmentRule
    from leadvibe.pipeline import rescore
    from leadvibe.store import accounts, event_queries, leads, orders, running_totals, segments, triggers

    conn = apsw.Connection(":memory:")
    _one_ou_with_events(conn)
    segments.register_functions(conn)
    conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, account_id)"
                 " VALUES ('u', 'ld_1', 'o', 0, 0, 'acc_1')")
    event_rule = SegmentRule("sr_1", "plan", "equals", "pro", "event_metadata")
    reads = (
        lambda: event_queries.list_events(conn, "u", event_queries.EventFilter(lead_id="ld_1"), 10, 0),
        lambda: event_queries.count_events(conn, "u", event_queries.EventFilter(lead_id="ld_1", type_key="decay")),
        lambda: event_queries.events_after(conn, "u", event_queries.EventFilter(lead_id="ld_1"), (9, 9), 10),
        lambda: orders.lead_events(conn, "u", "ld_1", "rs", start=0, end=None, channel=None, min_score=None,
                                   max_latency=None, has_delta=None, limit=10),
        lambda: leads.explanation(conn, "u", "ld_1", "rs", 0),
        lambda: leads.score_sums(conn, "u", "ld_1"),
        lambda: running_totals.scores_after(conn, "u", ["rs"], {"ld_1": [3]}),
        lambda: triggers.scored_events(conn, "u", "rs", 0, "ld_1"),
        lambda: triggers.history_events(conn, "u", 0, "ld_1", ["page_view"]),
        lambda: triggers.lead_history(conn, "u", "ld_1", 0, 10**9),
        lambda: accounts.recent_events(conn, "u", "acc_1", 10),
        lambda: segments.count_members(conn, "u", [event_rule]),
        lambda: segments.lead_in_segments(conn, "u", "ld_1", {"sg": [event_rule]}),
        lambda: rescore._fingerprint(conn, "u", ["ld_1", "ld_2"]),
    )
    for read in reads:
        plans = _statement_plans(conn, read, lambda sql: "events" in sql and "lead_id" in sql)
        assert plans, read
        for plan in plans:
            assert not any("events_unit_time" in step or "events_unit_type_time" in step or "AUTOMATIC" in step
                           or step == "SCAN events" for step in plan), plan
            # `e` scanned is the view's rows for the lead (a co-routine), never the table
            assert "SCAN e" not in plan or "CO-ROUTINE lead_events" in plan, plan
            assert any("events_lead_type_time" in step or "events_lead_decay" in step for step in plan), plan


def test_writes_to_one_leads_events_find_them_on_its_lead_indexes() -> None:
    # A merge moves the sources' events, a lead deletion removes its events a batch at a time: both name leads.
    from leadvibe.store import leads

    conn = apsw.Connection(":memory:")
    _one_ou_with_events(conn)
    for lead_id in ("ld_1", "ld_2"):
        conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at) VALUES ('u', ?, 'o', 0, 0)",
                     (lead_id,))

    def merge_and_delete() -> None:
        leads.merge_into(conn, "u", "ld_1", ["ld_2"], 20_000, 1)
        leads.delete_batch(conn, "u", "ld_1", 10**9, 3, 1)

    plans = _statement_plans(conn, merge_and_delete, lambda sql: "lead_events" in sql)
    assert len(plans) >= 4, plans
    for plan in plans:
        assert not any("events_unit_time" in step or step.startswith(("SCAN events", "SCAN e")) for step in plan), plan
    left = conn.execute("SELECT lead_id, count(*) FROM events GROUP BY lead_id ORDER BY lead_id").fetchall()
    assert ("ld_2", 0) not in left and all(lead != "ld_2" for lead, _ in left), left
