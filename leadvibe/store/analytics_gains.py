"""Score gains (/analytics/score-gains): leads ranked by the net change of their score from the events of a window,
exactly `SUM(delta) GROUP BY lead` over the window's score rows, without summing every DECAY row of the window.

A lead's gain is the sum of its rows of engagement events (every type but DECAY) plus the sum of its DECAY rows.
A decay pass's rows never raise a score unless it was negative (they have weight = -decrease and are floored at 0),
so for a lead without such a raising row the engagement sum is an upper bound of the gain. The ranking therefore:
1. walks the window's engagement events type by type (`events_unit_type_time`) and sums their score rows per
   lead; the candidates are the leads with a positive sum, plus the leads with a DECAY row that may have raised
   their score (the two partial indexes of migration 0051). The score rows are read through an `IN` list, which
   SQLite sorts before probing, so they are read in `event_scores`' key order: where the window's events arrived
   at many different times (a history imported, events sent late), the probes otherwise land on pages at random;
2. settles candidates in order of that bound (raising ones first, their bound unknown): each one's DECAY rows in
   the window (one range of `events_lead_type_time`), whether it is live, its score; and stops as soon as the
   `limit`-th settled gain ranks before the next candidate's bound, which no later candidate can beat.
After a decay pass stamped most leads, step 1 reads the window's engagement events and step 2 a handful of probes,
instead of every DECAY row of the window. Score rows carry their event's lead (a merge moves both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import apsw

from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key

__all__ = ["Candidate", "Settled", "rank_gains", "score_gains"]

# A literal, not a parameter: the planner can then use the partial indexes whose WHERE names it.
_DECAY = f"'{type_key(DECAY_EVENT_TYPE)}'"
FIRST_CHUNK = 32

# (lead_id, engagement sum, may have been raised by a DECAY row): raising ones first, then by bound.
_CANDIDATES = f"""
WITH RECURSIVE type_keys(k) AS (
    SELECT (SELECT min(type_key) FROM events WHERE unit_id = ?1)
    UNION ALL
    SELECT (SELECT min(type_key) FROM events WHERE unit_id = ?1 AND type_key > type_keys.k)
    FROM type_keys WHERE type_keys.k IS NOT NULL),
engaged AS (
    SELECT s.lead_id, SUM(s.delta) AS gain, 0 AS raised
    FROM event_scores s WHERE s.ruleset_id = ?2 AND s.event_seq IN (
        SELECT e.seq FROM type_keys CROSS JOIN events e INDEXED BY events_unit_type_time
            ON e.unit_id = ?1 AND e.type_key = type_keys.k AND e.occurred_at >= ?3
        WHERE type_keys.k != {_DECAY})
    GROUP BY s.lead_id),
raised AS (
    SELECT s.lead_id, 0 AS gain, 1 AS raised
    FROM event_scores s INDEXED BY event_scores_decay_raises CROSS JOIN events e ON e.seq = s.event_seq
    WHERE s.unit_id = ?1 AND s.ruleset_id = ?2 AND s.delta > 0 AND s.before < 0 AND s.weight <= 0
      AND e.type_key = {_DECAY} AND e.occurred_at >= ?3
    UNION ALL
    SELECT e.lead_id, 0, 1 FROM events e INDEXED BY events_sent_as_decay
    WHERE e.unit_id = ?1 AND lower(e.type_key) = {_DECAY} AND e.decay_id IS NULL AND e.occurred_at >= ?3)
SELECT lead_id, SUM(gain) AS gain, MAX(raised) AS raised
FROM (SELECT * FROM engaged UNION ALL SELECT * FROM raised)
GROUP BY lead_id HAVING SUM(gain) > 0 OR MAX(raised) = 1
ORDER BY raised DESC, gain DESC, lead_id"""

# For each of the given leads that is live: its DECAY rows' sum in the window, its score, its last event.
_SETTLE = f"""
SELECT j.value, COALESCE((
        SELECT SUM(s.delta) FROM events e INDEXED BY events_lead_type_time
        CROSS JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = ?2
        WHERE e.unit_id = ?1 AND e.lead_id = j.value AND e.type_key = {_DECAY} AND e.occurred_at >= ?3), 0),
    COALESCE(ls.score, 0), l.last_event_at
FROM json_each(?4) j
CROSS JOIN leads l ON l.unit_id = ?1 AND l.id = j.value AND l.merged_into IS NULL
LEFT JOIN lead_scores ls ON ls.unit_id = ?1 AND ls.ruleset_id = ?2 AND ls.lead_id = j.value"""


@dataclass(frozen=True)
class Candidate:
    """A lead that may have gained: `bound` is its engagement sum, an upper bound of its gain unless `raised`."""

    lead_id: str
    bound: int
    raised: bool


@dataclass(frozen=True)
class Settled:
    """A live lead's DECAY rows' sum in the window, its score and its last event time."""

    decay: int
    score: int
    last_event_at: int | None


def rank_gains(candidates: Iterable[Candidate], settle: Callable[[Sequence[str]], dict[str, Settled]],
               limit: int) -> list[tuple[str, int, Settled]]:
    """The `limit` live leads with the biggest positive gain (ties by lead id). `candidates`: raised ones first,
    then by bound descending and lead id (the order of `_CANDIDATES`); the raised ones are settled at once (they
    have no bound), the others in growing chunks until none of the rest can rank before the `limit`-th gain found,
    so the rest are never read. `settle` leaves out leads that are not live."""
    found: list[tuple[int, str, Settled]] = []  # (-gain, lead_id, settled): sorts in answer order

    def add(batch: Sequence[Candidate]) -> None:
        settled = settle([c.lead_id for c in batch])
        for c in batch:
            s = settled.get(c.lead_id)
            if s is not None and c.bound + s.decay > 0:
                found.append((-(c.bound + s.decay), c.lead_id, s))
        found.sort(key=lambda f: f[:2])
        del found[limit:]

    rest = iter(candidates)
    nxt = next(rest, None)
    raised = []
    while nxt is not None and nxt.raised:
        raised.append(nxt)
        nxt = next(rest, None)
    if raised:
        add(raised)
    chunk = max(FIRST_CHUNK, 2 * limit)
    while nxt is not None:
        if len(found) >= limit and found[limit - 1][:2] < (-nxt.bound, nxt.lead_id):
            break
        batch = [nxt, *islice(rest, chunk - 1)]
        nxt = next(rest, None)
        add(batch)
        chunk *= 2
    return [(lead_id, -neg, s) for neg, lead_id, s in found]


def score_gains(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int, limit: int
                ) -> list[dict[str, Any]]:
    """Live leads by net score gain in `ruleset_id` from events with occurred_at >= start; only positive gains,
    biggest first (ties by lead id), at most `limit`: `{lead_id, gain, score, last_event_at}` rows."""
    cursor = conn.execute(_CANDIDATES, (unit_id, ruleset_id, start))

    def settle(lead_ids: Sequence[str]) -> dict[str, Settled]:
        return {r[0]: Settled(int(r[1]), int(r[2]), r[3])
                for r in conn.execute(_SETTLE, (unit_id, ruleset_id, start, json.dumps(list(lead_ids))))}

    try:
        ranked = rank_gains((Candidate(r[0], int(r[1]), bool(r[2])) for r in cursor), settle, limit)
    finally:
        cursor.close()
    return [{"lead_id": lead_id, "gain": gain, "score": s.score, "last_event_at": s.last_event_at}
            for lead_id, gain, s in ranked]
