"""The totals of filtered lead lists (`store.leads.list_leads`): every way `scored_matching` can count gives the
count of its definition, and so does the total of each list order, on a real SQLite database with the product's
schema, for generated leads, scores and filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.db.migrate import apply_migrations
from leadvibe.db.rows import scalar
from leadvibe.store import leads as lead_store

UNIT = "unit_t"
RULESET = "rs_t"


# (score or None for no score row, last activity or None, merged)
lead_rows = st.lists(st.tuples(st.one_of(st.none(), st.integers(-5, 30)), st.one_of(st.none(), st.integers(0, 20)),
                               st.booleans()), max_size=40)
bounds = st.one_of(st.none(), st.integers(-6, 31))


def _load(conn: apsw.Connection, leads: list[tuple[int | None, int | None, bool]]) -> None:
    with conn:
        for table in ("lead_scores", "leads"):
            conn.execute(f"DELETE FROM {table}")
        for i, (score, active, merged) in enumerate(leads):
            conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at,"
                         " last_organic_at, merged_into) VALUES (?, ?, 'org_t', ?, 0, ?, ?, ?)",
                         (UNIT, f"l{i:02d}", i, active, active, "l00" if merged and i else None))
            # lead_scores only holds live leads (merge and delete remove the others' rows)
            if score is not None and not (merged and i):
                conn.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                             " VALUES (?, ?, ?, ?, 0)", (UNIT, RULESET, f"l{i:02d}", score))


def _expected(leads: list[tuple[int | None, int | None, bool]], lo: int | None, hi: int | None,
              since: int | None) -> tuple[int, int]:
    """(scored, all) live leads matching: a lead without a score row counts as 0 in `all`."""
    scored = every = 0
    for i, (score, active, merged) in enumerate(leads):
        if (merged and i) or (since is not None and (active is None or active < since)):
            continue
        value = score if score is not None else 0
        if (lo is None or value >= lo) and (hi is None or value <= hi):
            every += 1
            scored += score is not None
    return scored, every


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leads=lead_rows, lo=bounds, hi=bounds, since=st.integers(0, 21))
def test_every_way_of_counting_scored_leads_agrees(conn: apsw.Connection, leads: list[Any], lo: int | None,
                                                    hi: int | None, since: int) -> None:
    _load(conn, leads)
    score_params: list[Any] = []
    score_sql = lead_store._score_where(lead_store.LeadFilter(min_score=lo, max_score=hi), score_params)
    want = _expected(leads, lo, hi, since)[0]
    for way in ("scores", "leads", "merge"):
        sql, params = lead_store.scored_matching_sql(way, UNIT, RULESET, score_sql, score_params,
                                                     " AND l.last_organic_at >= ?", [since])
        assert scalar(conn, sql, params) == want, way
    assert lead_store.scored_matching(conn, UNIT, RULESET, score_sql, score_params, " AND l.last_organic_at >= ?",
                                      [since]) == want


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leads=lead_rows, lo=bounds, hi=bounds, since=st.one_of(st.none(), st.integers(0, 21)),
       sort=st.sampled_from(["score_desc", "score_asc", "recent", "created"]), small_range=st.sampled_from([3, 1000]))
def test_list_totals_count_what_the_filters_define(conn: apsw.Connection, leads: list[Any], lo: int | None,
                                                   hi: int | None, since: int | None, sort: str,
                                                   small_range: int) -> None:
    # small_range 3: most lead filter ranges are counted by the ways of `scored_matching`; 1,000: every one is read
    # by id and its scores probed (`_scored_among`).
    _load(conn, leads)
    f = lead_store.LeadFilter(min_score=lo, max_score=hi, active_since=since, sort=sort)
    default, lead_store.SMALL_RANGE = lead_store.SMALL_RANGE, small_range
    try:
        rows, total = lead_store.list_leads(conn, UNIT, RULESET, f, 100, 0)
    finally:
        lead_store.SMALL_RANGE = default
    assert total == _expected(leads, lo, hi, since)[1]
    assert len(rows) == total


def test_the_count_probes_a_small_range_and_merges_two_large_ones(tmp_path: Path) -> None:
    c = apsw.Connection(str(tmp_path / "t.db"))
    apply_migrations(c)
    _load(c, [(i % 100, i % 50, False) for i in range(3000)])
    plans: list[str] = []
    c.set_exec_trace(lambda _cur, sql, _params: plans.append(sql) or True)

    def way(score_sql: str, score_params: list[Any], since: int) -> str:
        plans.clear()
        lead_store.scored_matching(c, UNIT, RULESET, score_sql, score_params, " AND l.last_organic_at >= ?", [since])
        last = plans[-1]
        return "merge" if "INTERSECT" in last else "scores" if "FROM lead_scores s CROSS" in last else "leads"

    assert way(" AND s.score >= ?", [98], 0) == "scores"  # 60 of 3,000 scores, every lead active
    assert way(" AND s.score >= ?", [0], 49) == "leads"  # every score, 60 leads active
    assert way(" AND s.score >= ?", [50], 25) == "merge"  # half of each
    c.close()


def test_first_pages_under_lead_filters_alone_stop_counting_and_walk_the_ranking_at_the_page(
        conn: apsw.Connection) -> None:
    # Descending without a score filter, the total is the live leads matching and the scored ones are counted only
    # up to the page's end where both ranges are large (`scored_matching(at_least=...)`), and a page may come from
    # the ranking's first entries (`_ranking_walk`). The pages and totals are those of the definition: scored
    # leads by score then id, descending, then the unscored ones by id.
    import random

    rnd = random.Random(5)
    # Scores from 0 up: the bounded count and the walk of the ranking serve an OU without negative scores (one
    # with them is the test below).
    leads = [(rnd.choice([None, *range(0, 30)]), rnd.choice([None, *range(0, 21)]), rnd.random() < 0.05)
             for _ in range(700)]
    # The primary ruleset's scores are ranked (lead_scores_rank), which a page may walk (`_ranking_walk`).
    conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                 " VALUES (?, 'org_t', ?, 'r', 1, 0, 0)", (RULESET, UNIT))
    _load(conn, leads)
    walked: list[str] = []
    conn.exec_trace = lambda _c, sql, _b: walked.append(sql) or True
    # Ranges of up to SMALL_RANGE leads are read by id (`_scored_among`): lowered here so that the larger ones
    # take the bounded count, and kept for the rarest filters.
    default, lead_store.SMALL_RANGE = lead_store.SMALL_RANGE, 40
    try:
        for since in (None, 0, 3, 10, 19, 20, 21):
            live = [(f"l{i:02d}", score) for i, (score, active, merged) in enumerate(leads)
                    if not (merged and i) and (since is None or (active is not None and active >= since))]
            order = _score_order(live)
            for limit, offset in ((1, 0), (2, 0), (3, 1), (1, 2), (50, 0), (3, len(order) - 2)):
                f = lead_store.LeadFilter(active_since=since, sort="score_desc")
                rows, total = lead_store.list_leads(conn, UNIT, RULESET, f, limit, offset)
                assert total == len(order), (since, limit, offset)
                assert [r["id"] for r in rows] == [lead for _, lead in order[offset:offset + limit]], (since, limit)
    finally:
        conn.exec_trace = None
        lead_store.SMALL_RANGE = default
        conn.execute("DELETE FROM rulesets WHERE id = ?", (RULESET,))
    assert any("LIMIT" in sql and "CROSS JOIN leads l" in sql and "count(*) FROM (SELECT 1" in sql
               for sql in walked), "no count took the bounded walk"
    assert any("INDEXED BY lead_scores_rank" in sql for sql in walked), "no page walked the ranking"
    assert any("json_each" in sql for sql in walked), "no small range was probed by id"


def _score_order(live: list[tuple[str, int | None]]) -> list[tuple[int, str]]:
    """The lead list's score order, descending, by its definition: scores from 0 up (then lead id), the unscored
    leads (by id: they sit at 0, after the scored 0s), then the scores below 0."""
    return (sorted(((s, lead) for lead, s in live if s is not None and s >= 0), reverse=True)
            + sorted(((0, lead) for lead, s in live if s is None), key=lambda x: x[1], reverse=True)
            + sorted(((s, lead) for lead, s in live if s is not None and s < 0), reverse=True))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_with_scores_below_0_the_unscored_leads_sort_at_0(conn: apsw.Connection, seed: int) -> None:
    # Negative scores allowed: each page, both ways, under lead and score filters, is the definition's.
    import random

    rnd = random.Random(seed)
    leads = [(rnd.choice([None, *range(-6, 7)]), rnd.choice([None, *range(0, 21)]), rnd.random() < 0.05)
             for _ in range(120)]
    conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                 " VALUES (?, 'org_t', ?, 'r', 1, 0, 0)", (RULESET, UNIT))
    _load(conn, leads)
    try:
        for since, lo, hi in ((None, None, None), (5, None, None), (None, -3, None), (None, None, 0), (10, -6, 3)):
            live = [(f"l{i:02d}", score) for i, (score, active, merged) in enumerate(leads)
                    if not (merged and i) and (since is None or (active is not None and active >= since))
                    and (lo is None or (score or 0) >= lo) and (hi is None or (score or 0) <= hi)]
            order = [lead for _, lead in _score_order(live)]
            for sort, want in (("score_desc", order), ("score_asc", order[::-1])):
                f = lead_store.LeadFilter(active_since=since, min_score=lo, max_score=hi, sort=sort)
                for limit, offset in ((7, 0), (7, 7), (50, 3), (3, max(0, len(want) - 2))):
                    rows, total = lead_store.list_leads(conn, UNIT, RULESET, f, limit, offset)
                    assert total == len(want), (since, lo, hi, sort)
                    assert [r["id"] for r in rows] == want[offset:offset + limit], (since, lo, hi, sort, offset)
    finally:
        conn.execute("DELETE FROM rulesets WHERE id = ?", (RULESET,))
