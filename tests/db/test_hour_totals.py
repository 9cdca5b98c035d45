"""Events and score rows written with the analytics triggers suspended (the worker's batches, decay passes) must
leave the hourly totals of migration 0041 and the score-gain days of migration 0060 exactly as the triggers leave
them, on real SQLite files."""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadvibe.db.migrate import apply_migrations
from leadvibe.db.rows import triggers_suspended
from leadvibe.store import events as ev_store
from tests.helpers import buffered_rows

HOUR = 3_600_000
TABLES = ("analytics_event_hours", "analytics_score_hours", "score_gain_days")
# (unit, occurred_at, type_key, [(ruleset, delta)]): instants on both sides of hour edges, before 1970 too.
EVENTS = st.lists(
    st.tuples(st.sampled_from(("unit_a", "unit_b")),
              st.integers(min_value=-3, max_value=3).flatmap(
                  lambda h: st.sampled_from((h * HOUR - 1, h * HOUR, h * HOUR + 1, h * HOUR + HOUR // 2))),
              st.sampled_from(("page_view", "demo", "decay")),
              st.lists(st.tuples(st.sampled_from(("rs_1", "rs_2", "rs_3")), st.integers(-20, 20)),
                       max_size=3, unique_by=lambda r: r[0])),
    max_size=40)


def _open(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    apply_migrations(conn)
    # Two primaries, whose score-gain days are kept; rs_3's are not.
    conn.executemany("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                     " VALUES (?, 'org_1', ?, ?, ?, 0, 0)",
                     [("rs_1", "unit_a", "a", 1), ("rs_2", "unit_b", "b", 1), ("rs_3", "unit_a", "c", 0)])
    return conn


def _rows(events: list[tuple[str, int, str, list[tuple[str, int]]]], first_seq: int
          ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Event rows and score rows as the worker buffers them, all of one lead."""
    return buffered_rows([(unit, "ld_1", at, key, scores) for unit, at, key, scores in events], first_seq)


def _tables(conn: apsw.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}


def test_events_and_scores_have_no_insert_triggers_but_the_hourly_totals() -> None:
    """insert_scored_events skips every INSERT trigger on the two tables and does only the hourly totals' work:
    a trigger added to either table must be done there too (or the tables written another way)."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = _open(Path(tmp) / "t.db")
        names = [n for (n,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('events', 'event_scores')"
            " AND upper(sql) LIKE '% INSERT ON %' ORDER BY name")]
        assert names == sorted(ev_store.INSERT_TRIGGERS)


@settings(max_examples=40, deadline=None)
@given(before=EVENTS, batch=EVENTS, cuts=st.lists(st.integers(0, 40), max_size=3))
def test_batch_inserts_leave_the_totals_the_triggers_leave(before: list[Any], batch: list[Any],
                                                           cuts: list[int]) -> None:
    """A worker batch's flushes (the batch cut at `cuts`) with their totals counted across them and written once,
    against the same rows inserted one by one with the triggers."""
    with tempfile.TemporaryDirectory() as tmp:
        by_trigger, by_batch = _open(Path(tmp) / "a.db"), _open(Path(tmp) / "b.db")
        old_events, old_scores = _rows(before, 1)
        new_events, new_scores = _rows(batch, 1 + len(before))
        for conn in (by_trigger, by_batch):  # history written row by row, with the triggers
            for row in old_events:
                ev_store.insert_event_with_seq(conn, row[0], row[1:])
            conn.executemany(ev_store._INSERT_SCORE, old_scores)
        for row in new_events:
            ev_store.insert_event_with_seq(by_trigger, row[0], row[1:])
        by_trigger.executemany(ev_store._INSERT_SCORE, new_scores)
        totals = ev_store.PendingTotals()
        bounds = [0, *sorted(min(c, len(new_events)) for c in cuts), len(new_events)]
        for lo, hi in itertools.pairwise(bounds):
            part = new_events[lo:hi]
            seqs = {e[0] for e in part}
            ev_store.insert_scored_events(by_batch, part, [s for s in new_scores if s[0] in seqs], totals)
        totals.write(by_batch)
        assert _tables(by_batch) == _tables(by_trigger)
        recount = sorted(r for r in by_batch.execute(
            "SELECT e.unit_id, s.ruleset_id, e.occurred_at / 3600000 - (e.occurred_at < 0 AND"
            " e.occurred_at % 3600000 != 0), sum(s.delta) FROM event_scores s JOIN events e ON e.seq = s.event_seq"
            " GROUP BY 1, 2, 3"))
        assert sorted(r for r in _tables(by_batch)["analytics_score_hours"] if r[-1]) == [r for r in recount if r[-1]]


@settings(max_examples=40, deadline=None)
@given(before=EVENTS, rewrites=st.lists(st.tuples(st.integers(0, 39), st.sampled_from(("rs_1", "rs_2", "rs_3")),
                                                  st.integers(-20, 20)), max_size=30,
                                        unique_by=lambda r: (r[0], r[1])))
def test_rescore_rows_replacing_stored_ones_leave_the_totals_the_replace_triggers_leave(
        before: list[Any], rewrites: list[tuple[int, str, int]]) -> None:
    """replace_scores (a rescore's new rows, some replacing a stored row of the same event and ruleset, some for a
    ruleset the event had none in) against INSERT OR REPLACE with the triggers."""
    if not before:
        return
    with tempfile.TemporaryDirectory() as tmp:
        by_trigger, by_batch = _open(Path(tmp) / "a.db"), _open(Path(tmp) / "b.db")
        events, scores = _rows(before, 1)
        for conn in (by_trigger, by_batch):
            for row in events:
                ev_store.insert_event_with_seq(conn, row[0], row[1:])
            conn.executemany(ev_store._INSERT_SCORE, scores)
        rows = []
        for i, rs, delta in rewrites:
            event = events[i % len(events)]
            rows.append((event[0], rs, event[3], event[4], "[]", delta, 1.0, delta, 0, delta, None))
        rows = list({r[:2]: r for r in rows}.values())  # one row per (event, ruleset), as a replay writes them
        by_trigger.executemany(ev_store._INSERT_SCORE.replace("INSERT INTO", "INSERT OR REPLACE INTO"), rows)
        ev_store.replace_scores(by_batch, rows, {e[0]: e[7] for e in events})
        assert _tables(by_batch) == _tables(by_trigger)
        assert sorted(by_batch.execute("SELECT * FROM event_scores")) == sorted(
            by_trigger.execute("SELECT * FROM event_scores"))


def test_triggers_fire_again_after_a_suspended_block_fails(tmp_path: Path) -> None:
    conn = _open(tmp_path / "t.db")
    event_rows, _ = _rows([("unit_a", 5, "demo", [])], 1)
    with pytest.raises(RuntimeError), triggers_suspended(conn):
        raise RuntimeError("a statement failed")
    ev_store.insert_event_with_seq(conn, event_rows[0][0], event_rows[0][1:])
    assert conn.execute("SELECT events FROM analytics_event_hours").fetchall() == [(1,)]
