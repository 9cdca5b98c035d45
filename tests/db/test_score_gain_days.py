"""The score-gain days (migration 0060) against a recount from the rows, on real SQLite files: after random
histories written the worker's way, then changed by every other writer's statements (score rows added, replaced,
changed, moved to another lead, deleted; events deleted with their rows or moved in time; another ruleset made
primary, a ruleset deleted), after the days kept move on, and after the migration itself summed a history stored
before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.db.database import apply_pragmas
from leadvibe.db.migrate import apply_migrations
from leadvibe.store import events as ev_store
from leadvibe.store import score_gain_days as gain_days
from leadvibe.store import scoring
from tests.helpers import buffered_rows, database_before

DAY = 86_400_000
NOW = 1_800_000_000_000  # an instant mid-day
LEADS = ("ld_a", "ld_b", "ld_c")
RECOUNT = ("SELECT g.ruleset, e.occurred_at / 86400000 - (e.occurred_at < 0 AND e.occurred_at % 86400000 != 0),"
           " s.lead_id, sum(s.delta) FROM event_scores s JOIN events e ON e.seq = s.event_seq"
           " JOIN score_gain_rulesets g ON g.ruleset_id = s.ruleset_id"
           " WHERE s.delta > 0 AND e.occurred_at >= g.day * 86400000 GROUP BY 1, 2, 3")

# (unit, lead, occurred_at, [(ruleset, delta)]): instants on both sides of day edges, negative deltas too; an
# event has rows of its own OU's rulesets only.
OU_RULESETS = {"unit_a": ("rs_1", "rs_3"), "unit_b": ("rs_2",)}
EVENTS = st.lists(
    st.sampled_from(("unit_a", "unit_b")).flatmap(lambda unit: st.tuples(
        st.just(unit), st.sampled_from(LEADS),
        st.integers(min_value=-40, max_value=2).flatmap(
            lambda d: st.sampled_from((NOW + d * DAY - 1, NOW + d * DAY, NOW + d * DAY + DAY // 3))),
        st.lists(st.tuples(st.sampled_from(OU_RULESETS[unit]), st.integers(-20, 20)),
                 max_size=2, unique_by=lambda r: r[0]))),
    max_size=30)
# What other writers do, each to the score row or event picked by its number.
CHANGES = st.lists(st.tuples(
    st.sampled_from(("add_row", "replace_row", "change_delta", "move_lead", "delete_row", "delete_event",
                     "move_event", "prune", "switch_primary", "delete_ruleset")),
    st.integers(min_value=0, max_value=10**6), st.integers(min_value=-20, max_value=20)), max_size=12)


def _rulesets(conn: apsw.Connection) -> None:
    """The OU and rulesets the rows name (the migration sums each OU's events; rows are keyed by ruleset)."""
    conn.execute("INSERT INTO organizations (id, name, slug, created_at, updated_at)"
                 " VALUES ('org_1', 'Org', 'org', 0, 0)")
    conn.execute("INSERT INTO org_units (id, org_id, name, slug, created_at, updated_at)"
                 " VALUES ('unit_a', 'org_1', 'A', 'a', 0, 0)")
    conn.execute("INSERT INTO org_units (id, org_id, name, slug, created_at, updated_at)"
                 " VALUES ('unit_b', 'org_1', 'B', 'b', 0, 0)")
    # Each OU's primary has its days kept; rs_3 has not, until it becomes unit_a's primary.
    conn.executemany("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                     " VALUES (?, 'org_1', ?, ?, ?, 0, 0)",
                     [("rs_1", "unit_a", "a", 1), ("rs_2", "unit_b", "b", 1), ("rs_3", "unit_a", "c", 0)])


def _open(path: Path) -> apsw.Connection:
    conn = apsw.Connection(str(path))
    apply_pragmas(conn, synchronous="OFF")  # foreign keys on, as the server has them: an event's rows go with it
    apply_migrations(conn)
    _rulesets(conn)
    return conn


def _rows(events: list[tuple[str, str, int, list[tuple[str, int]]]], first_seq: int
          ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Event rows and score rows as the worker buffers them, every event of one type."""
    return buffered_rows([(unit, lead, at, "demo", scores) for unit, lead, at, scores in events], first_seq)


def _prune(conn: apsw.Connection, now: int) -> None:
    """What the server's hourly prune does, in one go."""
    while gain_days.prune_step(conn, now):
        pass


def _kept(conn: apsw.Connection) -> list[tuple[Any, ...]]:
    return sorted(r for r in conn.execute("SELECT * FROM score_gain_days") if r[-1])


def _recount(conn: apsw.Connection) -> list[tuple[Any, ...]]:
    return sorted(conn.execute(RECOUNT))


def _change(conn: apsw.Connection, kind: str, pick: int, value: int, now: int) -> int:
    """One other writer's statement on the row or event `pick` chooses; returns the clock after it."""
    rows = conn.execute("SELECT event_seq, ruleset_id, lead_id FROM event_scores ORDER BY 1, 2").fetchall()
    seqs = [s for (s,) in conn.execute("SELECT seq FROM events ORDER BY seq")]
    if kind == "prune":
        now += (pick % 5) * DAY
        _prune(conn, now)
    elif kind == "switch_primary":  # as store.scoring does it: the old primary cleared, then the new one set
        old, new = ("rs_1", "rs_3") if pick % 2 else ("rs_3", "rs_1")
        conn.execute("UPDATE rulesets SET is_primary = 0 WHERE id = ?", (old,))
        conn.execute("UPDATE rulesets SET is_primary = 1 WHERE id = ?", (new,))
    elif kind == "delete_ruleset":
        scoring.delete_ruleset(conn, "unit_b", "rs_2")
    elif kind == "add_row" and seqs:
        seq = seqs[pick % len(seqs)]
        unit, lead = conn.execute("SELECT unit_id, lead_id FROM events WHERE seq = ?", (seq,)).fetchone()
        # A plain INSERT of a row not there yet (never OR IGNORE: docs/internal-contracts.md).
        ruleset = OU_RULESETS[unit][-1]
        conn.execute("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight, multiplier,"
                     " delta, before, after) SELECT ?1, ?5, ?2, ?3, ?4, 1.0, ?4, 0, ?4 WHERE NOT EXISTS"
                     " (SELECT 1 FROM event_scores WHERE event_seq = ?1 AND ruleset_id = ?5)",
                     (seq, unit, lead, value, ruleset))
    elif rows and kind in ("replace_row", "change_delta", "move_lead", "delete_row"):
        seq, ruleset, lead = rows[pick % len(rows)]
        if kind == "replace_row":  # the rescore's INSERT OR REPLACE
            conn.execute("INSERT OR REPLACE INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight,"
                         " multiplier, delta, before, after) SELECT event_seq, ruleset_id, unit_id, lead_id, ?, 1.0,"
                         " ?, 0, ? FROM event_scores WHERE event_seq = ? AND ruleset_id = ?",
                         (value, value, value, seq, ruleset))
        elif kind == "change_delta":
            conn.execute("UPDATE event_scores SET delta = ? WHERE event_seq = ? AND ruleset_id = ?",
                         (value, seq, ruleset))
        elif kind == "move_lead":  # a merge moves the source's events and rows to the target
            target = LEADS[(LEADS.index(lead) + 1) % len(LEADS)]
            conn.execute("UPDATE event_scores SET lead_id = ? WHERE lead_id = ?", (target, lead))
            conn.execute("UPDATE events SET lead_id = ? WHERE lead_id = ?", (target, lead))
        else:
            conn.execute("DELETE FROM event_scores WHERE event_seq = ? AND ruleset_id = ?", (seq, ruleset))
    elif seqs and kind == "delete_event":
        conn.execute("DELETE FROM events WHERE seq = ?", (seqs[pick % len(seqs)],))
    elif seqs and kind == "move_event":
        conn.execute("UPDATE events SET occurred_at = occurred_at + ? WHERE seq = ?",
                     (value * DAY // 7, seqs[pick % len(seqs)]))
    return now


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=EVENTS, batch=EVENTS, changes=CHANGES)
def test_the_days_equal_a_recount_after_every_writer(tmp_path_factory: Any, before: list[Any], batch: list[Any],
                                                     changes: list[tuple[str, int, int]]) -> None:
    conn = _open(tmp_path_factory.mktemp("gains") / "t.db")
    now = NOW
    _prune(conn, now)  # keep from 32 days back: the oldest events fall before it
    assert gain_days.kept(conn, "rs_1") == gain_days.Kept(1, NOW // DAY - gain_days.KEEP_DAYS)
    old_events, old_scores = _rows(before, 1)
    for row in old_events:  # row by row, with the triggers
        ev_store.insert_event_with_seq(conn, row[0], row[1:])
    conn.executemany(ev_store._INSERT_SCORE, old_scores)
    assert _kept(conn) == _recount(conn)
    new_events, new_scores = _rows(batch, 1 + len(before))
    with conn:
        ev_store.insert_scored_events(conn, new_events, new_scores)  # the worker's way, triggers suspended
    assert _kept(conn) == _recount(conn)
    for kind, pick, value in changes:
        now = _change(conn, kind, pick, value, now)
        assert _kept(conn) == _recount(conn), kind
    assert conn.execute("SELECT count(*) FROM score_gain_days d JOIN score_gain_rulesets g ON g.ruleset = d.ruleset"
                        " WHERE d.day < g.day").fetchone()[0] == 0


def test_a_new_primary_keeps_the_days_a_window_can_reach_and_prunes_a_day_per_step(tmp_path: Path) -> None:
    import time

    conn = _open(tmp_path / "t.db")
    today = int(time.time() * 1000) // DAY
    assert gain_days.kept(conn, "rs_1") in (gain_days.Kept(1, today - 32), gain_days.Kept(1, today - 31))
    assert gain_days.kept(conn, "rs_3") is None
    history = [("unit_a", "ld_a", (today - d) * DAY + 5, [("rs_1", 5), ("rs_3", 4)]) for d in (40, 10, 9)]
    events, scores = _rows(history, 1)
    ev_store.insert_scored_events(conn, events, scores)
    assert _kept(conn) == [(1, today - 10, "ld_a", 5), (1, today - 9, "ld_a", 5)]  # 40 days back: not kept
    later = (today + 30) * DAY  # keeps from 2 days back
    assert gain_days.prune_step(conn, later) == 1 and _kept(conn) == [(1, today - 9, "ld_a", 5)]
    assert gain_days.kept(conn, "rs_1") == gain_days.Kept(1, today - 9)
    assert gain_days.prune_step(conn, later) == 1 and _kept(conn) == []
    assert gain_days.prune_step(conn, later) == 0
    assert gain_days.kept(conn, "rs_1") == gain_days.Kept(1, today - 2)


def test_a_ruleset_made_primary_again_keeps_its_days(tmp_path: Path) -> None:
    conn = _open(tmp_path / "t.db")
    events, scores = _rows([("unit_a", "ld_a", NOW - 20 * DAY, [("rs_1", 5)])], 1)
    ev_store.insert_scored_events(conn, events, scores)
    before = _kept(conn)
    scoring.update_ruleset(conn, "unit_a", "rs_1", {}, True, NOW)  # already the primary
    assert _kept(conn) == before != []
    scoring.update_ruleset(conn, "unit_a", "rs_3", {}, True, NOW)  # another one: rs_1's rows go
    assert gain_days.kept(conn, "rs_1") is None and gain_days.kept(conn, "rs_3") is not None
    assert conn.execute("SELECT count(*) FROM score_gain_days WHERE ruleset = 1").fetchone()[0] == 0
    assert _kept(conn) == _recount(conn)


def test_a_deleted_rulesets_rows_go_with_it(tmp_path: Path) -> None:
    conn = _open(tmp_path / "t.db")
    events, scores = _rows([("unit_b", "ld_a", NOW, [("rs_1", 5), ("rs_2", 7)])], 1)
    ev_store.insert_scored_events(conn, events, scores)
    scoring.delete_ruleset(conn, "unit_b", "rs_2")
    assert _kept(conn) == [(1, NOW // DAY, "ld_a", 5)] == _recount(conn)
    assert conn.execute("SELECT count(*) FROM score_gain_days").fetchone()[0] == 1
    assert gain_days.kept(conn, "rs_2") is None


def test_the_migration_sums_yesterday_and_today_of_a_stored_history(tmp_path: Path) -> None:
    import time

    conn = database_before(tmp_path, 60)
    _rulesets(conn)
    now = int(time.time() * 1000)
    history = [("unit_a", LEADS[i % 3], now - (i % 45) * DAY // 4 + i, [("rs_1", i % 17 - 4), ("rs_3", 3)])
               for i in range(200)]
    events, scores = _rows(history, 1)
    with conn:
        for row in events:
            ev_store.insert_event_with_seq(conn, row[0], row[1:])
        conn.executemany(ev_store._INSERT_SCORE, scores)
    apply_migrations(conn)
    first = gain_days.kept(conn, "rs_1")
    assert first is not None and first.first_day in (now // DAY - 1, now // DAY)  # the migration's clock
    assert gain_days.kept(conn, "rs_3") is None
    kept = _kept(conn)
    assert kept == _recount(conn) != []
    assert min(r[1] for r in kept) == first.first_day
