"""A lead's score after each of its events, summed when read instead of taken from `event_scores.before/after`.

Every score row keeps the delta its event applied, and a lead's score in a ruleset is the sum of its rows' deltas
(SEMANTICS: score == Σ stored deltas), so the score right after an event is the lead's score now less the deltas
of the rows that arrived after it (replays follow arrival order, `events.seq`). The stored `before`/`after` columns
are what the writer of a row computed then: a rescore leaves a row alone when only those differ (a weight change
would otherwise rewrite every later row of the lead), so nothing reads them as the current totals.

Read from the end: what arrived after the earliest event asked about (one lead's through its index, an OU's by
arrival range), plus the leads' scores.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import apsw

from leadvibe.db.rows import placeholders
from leadvibe.store.events import lead_scores

__all__ = ["scores_after"]

Key = tuple[str, str, int]  # (lead_id, ruleset_id, event seq)


def scores_after(conn: apsw.Connection, unit_id: str, ruleset_ids: Sequence[str],
                 wanted: Mapping[str, Collection[int]]) -> dict[Key, int]:
    """The score of each lead of `wanted` (lead_id -> event seqs) in each ruleset right after each of the events:
    its current score less the deltas of its rows that arrived later. Leads and rulesets without a score count 0."""
    seqs = [s for lead_seqs in wanted.values() for s in lead_seqs]
    if not seqs or not ruleset_ids:
        return {}
    first = min(seqs)
    rs_marks = placeholders(len(ruleset_ids))
    later: list[tuple[Any, ...]]
    if len(wanted) == 1:
        (lead_id,) = wanted
        # The lead's entries in both lead indexes (lead_events); `+e.seq` keeps the planner off a range of the
        # table by arrival, which holds every lead's events.
        later = conn.execute(
            "SELECT e.lead_id, s.ruleset_id, e.seq, s.delta FROM lead_events e"
            f" JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id IN ({rs_marks})"
            " WHERE e.unit_id = ? AND e.lead_id = ? AND +e.seq > ?",
            (*ruleset_ids, unit_id, lead_id, first)).fetchall()
    else:
        # Arrival order is the table's own: a range of it from the first event asked about (often recent).
        later = conn.execute(
            "SELECT e.lead_id, s.ruleset_id, e.seq, s.delta FROM events e NOT INDEXED"
            f" JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id IN ({rs_marks})"
            " WHERE e.seq > ? AND e.unit_id = ?",
            (*ruleset_ids, first, unit_id)).fetchall()
    scores = lead_scores(conn, unit_id, list(wanted))
    by_lead: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for row in later:
        if row[0] in wanted:
            by_lead.setdefault((str(row[0]), str(row[1])), []).append((int(row[2]), int(row[3])))
    out: dict[Key, int] = {}
    for lead_id, lead_seqs in wanted.items():
        for ruleset_id in ruleset_ids:
            rows = sorted(by_lead.get((lead_id, ruleset_id), ()), reverse=True)
            total = scores.get((lead_id, ruleset_id), 0)
            i = 0
            # Newest first: take off each row that arrived after the event asked about.
            for seq in sorted(set(lead_seqs), reverse=True):
                while i < len(rows) and rows[i][0] > seq:
                    total -= rows[i][1]
                    i += 1
                out[(lead_id, ruleset_id, seq)] = total
    return out
