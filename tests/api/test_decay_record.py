"""The set-based decay recording (SQL) gives exactly the engine's decay arithmetic, on a real SQLite database."""

from __future__ import annotations

from typing import Any

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.db.migrate import apply_migrations
from leadvibe.engine.scoring import Ruleset, decay_scores
from leadvibe.store.decay import record_decays

RULESETS = ("rs_a", "rs_b", "rs_c")
leads = st.dictionaries(
    st.sampled_from(("ld_1", "ld_2", "ld_3", "ld_4")),
    st.dictionaries(st.sampled_from(RULESETS), st.integers(min_value=-50, max_value=50), max_size=3),
    min_size=1,
    max_size=4,
)


def _database(scores: dict[str, dict[str, int]]) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    conn.execute("PRAGMA foreign_keys=ON")
    apply_migrations(conn)
    for lead_id, by_ruleset in scores.items():
        conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at) VALUES ('u', ?, 'o', 0, 0)",
                     (lead_id,))
        for rs, score in by_ruleset.items():
            conn.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                         " VALUES ('u', ?, ?, ?, 0)", (rs, lead_id, score))
    return conn


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads, st.integers(min_value=0, max_value=40), st.booleans(), st.sets(st.sampled_from(RULESETS)))
def test_sql_decay_equals_the_engine(scores: dict[str, dict[str, int]], decrease: int, allow_negative: bool,
                                     active: set[str]) -> None:
    conn = _database(scores)
    order = sorted(active)
    due = [(lead_id, "o", 100 + i, f"ev_{i}") for i, lead_id in enumerate(sorted(scores))]
    got = record_decays(conn, "u", due, order, allow_negative, decay_id="dc_1", decrease=decrease, ts=5, now=9,
                        metadata='{"decrease":1}')
    rulesets = [Ruleset(rs, True, ()) for rs in order]
    for lead_id, _, seq, event_id in due:
        rows = decay_scores(rulesets, decrease, scores[lead_id], allow_negative, "dc_1")
        assert got[lead_id] == (event_id, {r.ruleset_id: r.after for r in rows}, {r.ruleset_id: r.delta for r in rows})
        stored = conn.execute("SELECT ruleset_id, weight, multiplier, delta, before, after FROM event_scores"
                              " WHERE event_seq = ? ORDER BY ruleset_id", (seq,)).fetchall()
        assert stored == [(r.ruleset_id, r.weight, r.multiplier, r.delta, r.before, r.after) for r in rows]
        event: Any = conn.execute("SELECT id, lead_id, event_type, type_key, decay_id, has_delta, occurred_at"
                                  " FROM events WHERE seq = ?", (seq,)).fetchone()
        assert event == (event_id, lead_id, "DECAY", "decay", "dc_1", int(any(r.delta for r in rows)), 5)
        after = dict(conn.execute("SELECT ruleset_id, score FROM lead_scores WHERE lead_id = ?", (lead_id,)))
        assert after == {**scores[lead_id], **{r.ruleset_id: r.after for r in rows}}
