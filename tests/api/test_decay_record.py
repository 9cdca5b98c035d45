"""The set-based decay recording (SQL) gives exactly the engine's decay arithmetic, on a real SQLite database, for
the candidates still due and no other."""

from __future__ import annotations

from typing import Any

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.db.migrate import apply_migrations
from leadvibe.engine.scoring import Ruleset, decay_scores
from leadvibe.store.decay import decayed_rows, decayed_scores, record_due

RULESETS = ("rs_a", "rs_b", "rs_c")
CUTOFF = 50
# A lead's last organic event: due at or before the cutoff (and after 0), not due after it or never.
LAST_ORGANIC = st.sampled_from((1, CUTOFF, CUTOFF + 1, 0))
leads = st.dictionaries(
    st.sampled_from(("ld_1", "ld_2", "ld_3", "ld_4", "ld_5")),
    st.tuples(
        LAST_ORGANIC,
        st.booleans(),  # merged into another lead
        st.booleans(),  # decayed by this rule since its last organic event
        st.dictionaries(st.sampled_from(RULESETS), st.integers(min_value=-50, max_value=50), max_size=3),
    ),
    min_size=1,
    max_size=5,
)


def _database(leads: dict[str, tuple[int, bool, bool, dict[str, int]]]) -> apsw.Connection:
    conn = apsw.Connection(":memory:")
    conn.execute("PRAGMA foreign_keys=ON")
    apply_migrations(conn)
    conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at) VALUES ('u', 'ld_x', 'o', 0, 0)")
    for n, (lead_id, (last_organic, merged, decayed, by_ruleset)) in enumerate(sorted(leads.items())):
        conn.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at, merged_into)"
                     " VALUES ('u', ?, 'o', 0, 0, ?, ?)", (lead_id, last_organic, "ld_x" if merged else None))
        if decayed:
            at = last_organic + 1
            conn.execute("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at,"
                         " received_at, processed_at, channel, decay_id)"
                         " VALUES (?, ?, 'o', 'u', ?, 'DECAY', 'decay', ?, ?, ?, 'system', 'dc_1')",
                         (n + 1, f"ev_old{n}", lead_id, at, at, at))
        for rs, score in by_ruleset.items():
            conn.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                         " VALUES ('u', ?, ?, ?, 0)", (rs, lead_id, score))
    return conn


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(leads, st.integers(min_value=0, max_value=40), st.booleans(), st.sets(st.sampled_from(RULESETS)),
       st.booleans())
def test_sql_decay_equals_the_engine(leads: dict[str, tuple[int, bool, bool, dict[str, int]]], decrease: int,
                                     allow_negative: bool, active: set[str], read_just_now: bool) -> None:
    conn = _database(leads)
    order = sorted(active)
    rowids = dict(conn.execute("SELECT id, rowid FROM leads"))
    due = [lead_id for lead_id, (last, merged, decayed, _) in sorted(leads.items())
           if 0 < last <= CUTOFF and not merged and not decayed]
    if read_just_now:
        # The due leads exactly, as a read with nothing committed since gives them: taken without a check.
        candidates = [(lead_id, f"ev_{i}", rowids[lead_id], "o") for i, lead_id in enumerate(due)]
    else:
        # Each lead with its rowid as read, and one whose row now holds another lead (never due).
        candidates = [("ld_0gone", "ev_gone", rowids[min(leads)], "o")] + [
            (lead_id, f"ev_{i}", rowids[lead_id], "o") for i, lead_id in enumerate(sorted(leads))]
    got = record_due(conn, "u", candidates, order, allow_negative, decay_id="dc_1", cutoff=CUTOFF,
                     decrease=decrease, first_seq=100, ts=CUTOFF + 5, now=CUTOFF + 9, metadata='{"decrease":1}',
                     still_due=read_just_now)
    assert got == len(due)
    if not candidates:
        return  # nothing to record, nothing read back
    assert conn.execute("SELECT count(*) FROM events WHERE id = 'ev_gone'").fetchone()[0] == 0
    event_ids = {lead_id: event_id for lead_id, event_id, _, _ in candidates}
    expected_rows = []
    for seq, lead_id in enumerate(due, start=100):  # arrival positions follow the lead ids, without gaps
        scores = leads[lead_id][3]
        rows = decay_scores([Ruleset(rs, True, ()) for rs in order], decrease, scores, allow_negative, "dc_1")
        expected_rows += [(lead_id, event_ids[lead_id], r.ruleset_id, r.before, r.after) for r in rows]
        stored = conn.execute("SELECT ruleset_id, weight, multiplier, delta, before, after FROM event_scores"
                              " WHERE event_seq = ? ORDER BY ruleset_id", (seq,)).fetchall()
        assert stored == [(r.ruleset_id, r.weight, r.multiplier, r.delta, r.before, r.after) for r in rows]
        event: Any = conn.execute("SELECT id, lead_id, event_type, type_key, decay_id, has_delta, occurred_at"
                                  " FROM events WHERE seq = ?", (seq,)).fetchone()
        assert event == (event_ids[lead_id], lead_id, "DECAY", "decay", "dc_1", int(any(r.delta for r in rows)),
                         CUTOFF + 5)
        after = dict(conn.execute("SELECT ruleset_id, score FROM lead_scores WHERE lead_id = ?", (lead_id,)))
        assert after == {**scores, **{r.ruleset_id: r.after for r in rows}}
    assert decayed_rows(conn) == expected_rows
    first = order[0] if order else None
    assert decayed_scores(conn, first) == [
        (lead_id, next((a for lid, _, rs, _, a in expected_rows if lid == lead_id and rs == first), 0))
        for lead_id in due]
    # The leads not due are untouched: no new event, the same scores.
    for lead_id, (_, _, _, scores) in leads.items():
        if lead_id not in due:
            assert conn.execute("SELECT count(*) FROM events WHERE lead_id = ? AND seq >= 100",
                                (lead_id,)).fetchone()[0] == 0
            assert dict(conn.execute("SELECT ruleset_id, score FROM lead_scores WHERE lead_id = ?",
                                     (lead_id,))) == scores
    earlier = sum(1 for _, _, decayed, _ in leads.values() if decayed)  # counted by the schema's triggers
    assert conn.execute("SELECT coalesce(sum(events), 0) FROM analytics_event_hours WHERE type_key = 'decay'"
                        ).fetchone()[0] == earlier + len(due)
