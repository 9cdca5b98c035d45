"""Score gains (`store.analytics_gains`) against the plain definition (`SUM(delta) GROUP BY lead` over the window,
positive only, live leads, biggest first, ties by lead id): the ranking from candidates and the walk over days
alone, over generated candidates and day lists, and the whole query both ways on a real SQLite database with the
product's schema over generated histories of up to a few hundred leads (so the ranking settles several chunks):
engagement events, a decay pass's DECAY rows (floored or not, so some raise a negative score), DECAY events sent
by a client, merged leads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.store.analytics_gains import Candidate, Settled, rank_gains, score_gains, walk_days

UNIT, RULESET = "unit_t", "rs_t"
HOUR = 3_600_000
DEFINITION = (
    "SELECT g.lead_id, g.gain, COALESCE(ls.score, 0), l.last_event_at FROM ("
    "  SELECT s.lead_id, SUM(s.delta) AS gain FROM events e JOIN event_scores s"
    "  ON s.event_seq = e.seq AND s.ruleset_id = ?2 WHERE e.unit_id = ?1 AND e.occurred_at >= ?3"
    "  GROUP BY s.lead_id HAVING gain > 0) g"
    " JOIN leads l ON l.unit_id = ?1 AND l.id = g.lead_id AND l.merged_into IS NULL"
    " LEFT JOIN lead_scores ls ON ls.unit_id = ?1 AND ls.ruleset_id = ?2 AND ls.lead_id = g.lead_id"
    " ORDER BY g.gain DESC, g.lead_id LIMIT ?4")


# -- the ranking alone ---------------------------------------------------------------------------------------
@st.composite
def candidate_sets(draw: st.DrawFn) -> tuple[list[Candidate], dict[str, Settled], int]:
    n = draw(st.integers(min_value=0, max_value=300))
    candidates, settled = [], {}
    for i in range(n):
        raised = draw(st.booleans()) if i % 7 == 0 else False
        bound = draw(st.integers(min_value=-5 if raised else 1, max_value=12))  # small: many ties
        decay = draw(st.integers(min_value=-6, max_value=6 if raised else 0))  # a bound is a bound
        lead_id = f"ld_{draw(st.integers(min_value=0, max_value=10**6)):07d}_{i}"
        candidates.append(Candidate(lead_id, bound, raised))
        if draw(st.integers(min_value=0, max_value=9)):  # one in ten is not live
            settled[lead_id] = Settled(bound + decay, 0, None)
    candidates.sort(key=lambda c: (not c.raised, -c.bound, c.lead_id))
    return candidates, settled, draw(st.integers(min_value=1, max_value=100))


@settings(max_examples=200, deadline=None)
@given(candidate_sets())
def test_ranking_equals_sorting_every_candidate(case: tuple[list[Candidate], dict[str, Settled], int]) -> None:
    candidates, settled, limit = case
    asked: list[str] = []

    def settle(batch: Sequence[Candidate]) -> dict[str, Settled]:
        asked.extend(c.lead_id for c in batch)
        return {c.lead_id: settled[c.lead_id] for c in batch if c.lead_id in settled}

    gains = [(c.lead_id, settled[c.lead_id].gain) for c in candidates if c.lead_id in settled]
    expected = sorted(((lead, g) for lead, g in gains if g > 0), key=lambda x: (-x[1], x[0]))[:limit]
    assert [(lead, g) for lead, g, _ in rank_gains(candidates, settle, limit)] == expected
    assert len(asked) == len(set(asked))  # nobody settled twice


@st.composite
def day_sets(draw: st.DrawFn) -> tuple[list[dict[str, int]], dict[str, int | None], int]:
    """Rises per day of up to 300 leads and each lead's exact gain (None: not live); a gain is at most the lead's
    rises over the days, and is often much less (a negative row, a row of the first day before the window)."""
    n_days = draw(st.integers(min_value=1, max_value=4))
    days: list[dict[str, int]] = [{} for _ in range(n_days)]
    gains: dict[str, int | None] = {}
    for i in range(draw(st.integers(min_value=0, max_value=300))):
        lead_id = f"ld_{draw(st.integers(min_value=0, max_value=10**6)):07d}_{i}"
        rises = [draw(st.integers(min_value=0, max_value=15)) for _ in range(n_days)]  # small: many ties
        for day, r in zip(days, rises, strict=True):
            if r or draw(st.booleans()):  # a row left at 0 by a subtraction
                day[lead_id] = r
        live = draw(st.integers(min_value=0, max_value=9)) > 0
        gains[lead_id] = sum(rises) - draw(st.integers(min_value=0, max_value=sum(rises) + 5)) if live else None
    return days, gains, draw(st.integers(min_value=1, max_value=100))


@settings(max_examples=200, deadline=None)
@given(day_sets(), st.sampled_from((10**9, 200, 1)), st.sampled_from((None, 0, 3, 50)))
def test_walking_days_equals_sorting_every_lead(case: tuple[list[dict[str, int]], dict[str, int | None], int],
                                                budget: int, settle_budget: int | None) -> None:
    days, gains, limit = case
    asked: list[str] = []

    def bounds(lead_ids: Sequence[str]) -> dict[str, int]:
        return {lead: sum(d.get(lead, 0) for d in days) for lead in lead_ids}

    def settle(lead_ids: Sequence[str]) -> dict[str, Settled]:
        asked.extend(lead_ids)
        return {lead: Settled(g, 0, None) for lead in lead_ids if (g := gains[lead]) is not None}

    lists = [iter(sorted(((lead, r) for lead, r in d.items() if r > 0), key=lambda x: -x[1])) for d in days]
    got = walk_days(lists, bounds, settle, limit, budget, settle_budget)
    expected = sorted(((lead, g) for lead, g in gains.items() if g is not None and g > 0),
                      key=lambda x: (-x[1], x[0]))[:limit]
    if got is None:  # gave up: only when a budget ran out
        assert budget < sum(len(d) for d in days) or (settle_budget is not None and len(asked) > settle_budget)
    else:
        assert [(lead, g) for lead, g, _ in got] == expected
    assert len(asked) == len(set(asked))  # nobody settled twice


# -- the whole query on real rows (tests/store/conftest.py's `conn`) ----------------------------------------


row = st.tuples(st.integers(min_value=0, max_value=299),  # lead
                st.sampled_from(("page_view", "demo", "pass", "sent")),  # sent: a client's "DECAY"
                st.integers(min_value=-800, max_value=0) | st.integers(min_value=-72, max_value=0),  # hours ago
                st.integers(min_value=-10, max_value=12),  # delta, or for a pass: the score before it
                st.integers(min_value=0, max_value=5),  # a pass's decrease
                st.booleans())  # a pass floors at 0 (negative scores not allowed)


def _write(c: apsw.Connection, rows: list[tuple[int, str, int, int, int, bool]], merged: set[int], now: int) -> None:
    for table in ("events", "event_scores", "leads", "lead_scores"):
        c.execute(f"DELETE FROM {table}")
    c.execute("INSERT OR IGNORE INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
              " VALUES (?, 'org_t', ?, 'Main', 1, 0, 0)", (RULESET, UNIT))  # a primary: its score-gain days are kept
    for seq, (lead, kind, hours, value, decrease, floored) in enumerate(rows, start=1):
        at = now + hours * HOUR + seq * 1000
        decay = kind in ("pass", "sent")
        c.execute("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at,"
                  " received_at, processed_at, channel, decay_id)"
                  " VALUES (?, ?, 'org_t', ?, ?, ?, ?, ?, ?, ?, 'web', ?)",
                  (seq, f"ev_{seq}", UNIT, f"ld_{lead:03d}", "DECAY" if decay else kind,
                   "decay" if decay else kind, at, at, at, "dc_t" if kind == "pass" else None))
        if kind == "pass":  # engine.scoring.decay_scores' arithmetic
            before, weight = value, -decrease
            after = max(0, before - decrease) if floored else before - decrease
        else:
            before, weight, after = 0, value, value
        c.execute("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight, multiplier, delta,"
                  " before, after) VALUES (?, ?, ?, ?, ?, 1.0, ?, ?, ?)",
                  (seq, RULESET, UNIT, f"ld_{lead:03d}", weight, after - before, before, after))
    for lead in {r[0] for r in rows}:
        c.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at, merged_into)"
                  " VALUES (?, ?, 'org_t', 0, 0, ?, ?)", (UNIT, f"ld_{lead:03d}", lead * 7, "ld_x" if lead in merged
                                                          else None))
        c.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at) VALUES (?, ?, ?, ?, 0)",
                  (UNIT, RULESET, f"ld_{lead:03d}", lead % 13))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=0, max_size=600), st.sets(st.integers(min_value=0, max_value=299), max_size=40),
       st.lists(st.tuples(st.integers(min_value=1, max_value=900) | st.integers(min_value=1, max_value=72),
                          st.integers(min_value=1, max_value=100)),
                min_size=1, max_size=4))
def test_score_gains_equal_the_definition(conn: apsw.Connection, rows: list[Any], merged: set[int],
                                          asks: list[tuple[int, int]]) -> None:
    now = 1_800_000_000_000
    with conn:
        _write(conn, rows, merged, now)
    for hours, limit in asks:
        start = now - hours * HOUR
        expected = conn.execute(DEFINITION, (UNIT, RULESET, start, limit)).fetchall()
        # Ranked by days; by days within a settle budget of a seventh of the window's events (candidates once it
        # runs out); by candidates.
        for walk_from in (0, 1, 10**9):
            got = [(r["lead_id"], r["gain"], r["score"], r["last_event_at"])
                   for r in score_gains(conn, UNIT, RULESET, start, limit, walk_min_events=walk_from)]
            assert got == expected, walk_from
