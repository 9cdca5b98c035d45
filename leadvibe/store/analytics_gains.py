"""Score gains (/analytics/score-gains): leads ranked by the net change of their score from the events of a window,
exactly `SUM(delta) GROUP BY lead` over the window's score rows, without summing every score row of the window.

Two ways to the same answer; both settle a few leads exactly (their score rows of the window) in order of an
upper bound of their gain, and stop once no lead still unsettled can rank among the first `limit`:

- **By days** (`walk_days`), for a window of many events that starts on a kept day of the ruleset's
  `score_gain_days` (migration 0060, kept for primary rulesets: per lead and UTC day, the sum of the positive
  deltas of its score rows, an upper bound of what those rows add to any window). The window touches a few days;
  each day's leads are read biggest rise first (`score_gain_days_rank`), a lead's bound is its rises over all
  those days, and a lead never read has a bound of at most the sum of the days' next rises. At 10 M events a
  day's window of 167,000 events settles a few dozen leads instead of summing every row (docs/performance.md,
  twenty-first round).
- **By candidates** (`rank_gains`), for the rest. A lead's gain is the sum of its rows of engagement events (every
  type but DECAY) plus the sum of its DECAY rows. A decay pass's rows never raise a score unless it was negative
  (they have weight = -decrease and are floored at 0), so for a lead without such a raising row the engagement
  sum is an upper bound of the gain. The ranking therefore:
  1. walks the window's engagement events type by type (`events_unit_type_time`) and sums their score rows per
     lead; the candidates are the leads with a positive sum, plus the leads with a DECAY row that may have raised
     their score (the two partial indexes of migration 0051). The score rows are read through an `IN` list, which
     SQLite sorts before probing, so they are read in `event_scores`' key order: where the window's events arrived
     at many different times (a history imported, events sent late), the probes otherwise land on pages at random;
  2. settles candidates in order of that bound (raising ones first, their bound unknown): each one's DECAY rows in
     the window (a range of `events_lead_type_time` and one of `events_lead_decay`), whether it is live, its
     score; and stops as soon as the `limit`-th settled gain ranks before the next candidate's bound, which no
     later candidate can beat.
  After a decay pass stamped most leads, step 1 reads the window's engagement events and step 2 a handful of
  probes, instead of every DECAY row of the window. Score rows carry their event's lead (a merge moves both).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import apsw

from leadvibe.db.rows import scalar
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key
from leadvibe.store.analytics_windows import HOUR_MS
from leadvibe.store.events import each_lead_half
from leadvibe.store.score_gain_days import day_of, kept

__all__ = ["Candidate", "Settled", "rank_gains", "score_gains", "walk_days"]

# A literal, not a parameter: the planner can then use the partial indexes whose WHERE names it.
_DECAY = f"'{type_key(DECAY_EVENT_TYPE)}'"
FIRST_CHUNK = 32
# By days only where summing the window would cost more: below this many engagement events in the window (a few
# milliseconds of candidates) a walk that gives up would cost more than it can save (docs/performance.md).
DAY_WALK_MIN_EVENTS = 5_000
# A window touching more days has a loose bound (the sum of that many days' next rises): ranked by candidates.
DAY_WALK_MAX_DAYS = 4
# Day-list entries read before the walk gives up for candidates (bounds too flat to stop early).
DAY_WALK_BUDGET = 20_000
# ...and window events per lead the walk may settle before it gives up: settling a lead (its rows of the window)
# costs about as much as summing seven of the window's events by candidates, so a walk that gives up has spent at
# most what candidates then cost again. A short window of a busy day ranks gains far below many leads' rises that
# day: at 10 M events an hour's window (8,000 events) settled 2,300 leads in 104 ms where candidates take 20 ms
# (docs/performance.md, twenty-eighth round).
DAY_WALK_EVENTS_PER_SETTLE = 7
DAY_WALK_CHUNK = 64

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

def _settle_sql(rows: str) -> str:
    """For each lead of the JSON array ?4 that is live: the sum of its score rows in ruleset ?2 of events from ?3
    on matching `rows` (SQL over `e`), its score, its last event. Each lead's events are read from both lead
    indexes, one sum each (DECAY rows are not in events_lead_type_time, migration 0061; the view lead_events
    cannot take a lead from the outer query)."""
    summed = each_lead_half(f"""COALESCE((
        SELECT SUM(s.delta) FROM events e INDEXED BY {{index}}
        CROSS JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = ?2
        WHERE e.unit_id = ?1 AND e.lead_id = j.value AND e.decay_id {{decay}} AND {rows}
        AND e.occurred_at >= ?3), 0)""", " + ")
    return f"""
SELECT j.value, {summed},
    COALESCE(ls.score, 0), l.last_event_at
FROM json_each(?4) j
CROSS JOIN leads l ON l.unit_id = ?1 AND l.id = j.value AND l.merged_into IS NULL
LEFT JOIN lead_scores ls ON ls.unit_id = ?1 AND ls.ruleset_id = ?2 AND ls.lead_id = j.value"""


# By candidates: the DECAY rows a candidate's engagement sum leaves out (one range of the index per lead).
_SETTLE_DECAY = _settle_sql(f"e.type_key = {_DECAY}")
# By days: every row of the window (the lead's whole range of the index; its events in the window are few).
_SETTLE_ALL = _settle_sql("true")

# Engagement events in the window, from the hourly totals (the first hour whole: an estimate).
_WINDOW_EVENTS = f"""
SELECT COALESCE(SUM(events), 0) FROM analytics_event_hours WHERE unit_id = ?1 AND hour >= ?2 AND type_key != {_DECAY}"""
# The kept days of ruleset key ?1 a window from ?2 touches, in order (a skip along the key: one probe per day).
_NEXT_DAY = "SELECT min(day) FROM score_gain_days WHERE ruleset = ?1 AND day >= ?2"
# One day's leads, biggest rise first.
_DAY_LIST = """
SELECT lead_id, rises FROM score_gain_days INDEXED BY score_gain_days_rank
WHERE ruleset = ?1 AND day = ?2 AND rises > 0 ORDER BY rises DESC"""
# Each lead's rises over the given days (one probe of the key per lead and day).
_BOUNDS = """
SELECT g.lead_id, SUM(g.rises) FROM json_each(?3) j
CROSS JOIN score_gain_days g ON g.ruleset = ?1 AND g.lead_id = j.value AND g.day IN (SELECT value FROM json_each(?2))
GROUP BY g.lead_id"""


@dataclass(frozen=True)
class Candidate:
    """A lead that may have gained: `bound` is its engagement sum, an upper bound of its gain unless `raised`."""

    lead_id: str
    bound: int
    raised: bool


@dataclass(frozen=True)
class Settled:
    """A live lead's exact gain in the window, its score and its last event time."""

    gain: int
    score: int
    last_event_at: int | None


Ranked = list[tuple[str, int, Settled]]  # (lead_id, gain, settled), biggest gain first, ties by lead id
Settle = Callable[[Sequence[str]], dict[str, Settled]]  # leads -> the live ones, settled


class _Found:
    """The best `limit` settled gains so far, in answer order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.rows: list[tuple[int, str, Settled]] = []  # (-gain, lead_id, settled): sorts in answer order

    def add(self, settled: Iterable[tuple[str, Settled]]) -> None:
        self.rows.extend((-s.gain, lead_id, s) for lead_id, s in settled if s.gain > 0)
        self.rows.sort(key=lambda f: f[:2])
        del self.rows[self.limit:]

    def beaten_by(self, bound: int, lead_id: str) -> bool:
        """Could a lead with this bound still rank among the first `limit`?"""
        return len(self.rows) < self.limit or (-bound, lead_id) < self.rows[self.limit - 1][:2]

    def above(self, bound: int) -> bool:
        """Are the first `limit` gains found, each bigger than `bound`?"""
        return len(self.rows) >= self.limit and -self.rows[self.limit - 1][0] > bound

    def ranked(self) -> Ranked:
        return [(lead_id, -neg, s) for neg, lead_id, s in self.rows]


def rank_gains(candidates: Iterable[Candidate], settle: Callable[[Sequence[Candidate]], dict[str, Settled]],
               limit: int) -> Ranked:
    """The `limit` live leads with the biggest positive gain (ties by lead id). `candidates`: raised ones first,
    then by bound descending and lead id (the order of `_CANDIDATES`); the raised ones are settled at once (they
    have no bound), the others in growing chunks until none of the rest can rank before the `limit`-th gain found,
    so the rest are never read. `settle` leaves out leads that are not live."""
    found = _Found(limit)

    def add(batch: Sequence[Candidate]) -> None:
        found.add(settle(batch).items())

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
        if not found.beaten_by(nxt.bound, nxt.lead_id):
            break
        batch = [nxt, *islice(rest, chunk - 1)]
        nxt = next(rest, None)
        add(batch)
        chunk *= 2
    return found.ranked()


def walk_days(days: Sequence[Iterator[tuple[str, int]]], bounds: Callable[[Sequence[str]], dict[str, int]],
              settle: Settle, limit: int, budget: int, settle_budget: int | None = None) -> Ranked | None:
    """The `limit` live leads with the biggest positive gain (ties by lead id), from `days`: per day its leads'
    rises, biggest first; `bounds(leads)`: each lead's rises over all the days (an upper bound of its gain).

    The day with the biggest next rise is read a chunk at a time; a lead never read has a bound of at most the sum
    of the days' next rises (`ceiling`). Leads read are settled in order of their bound once it is above the
    ceiling (no lead unread can come before them), skipping those that can no longer rank; the walk ends when the
    `limit`-th gain found is above the ceiling (nobody unread or waiting can beat it). None when more than `budget`
    entries would be read, or more than `settle_budget` leads settled: the bounds are too flat for the walk to end
    early."""
    heads: list[tuple[str, int] | None] = [next(d, None) for d in days]
    found = _Found(limit)
    seen: set[str] = set()
    waiting: list[tuple[int, str]] = []  # (-bound, lead_id) of leads read, not yet settled
    read = settled = 0

    def settle_down_to(ceiling: int) -> bool:
        nonlocal settled
        while waiting and -waiting[0][0] > ceiling:
            if settle_budget is not None and settled > settle_budget:
                return False
            batch: list[str] = []
            while waiting and -waiting[0][0] > ceiling and len(batch) < DAY_WALK_CHUNK:
                neg, lead_id = heapq.heappop(waiting)
                if found.beaten_by(-neg, lead_id):
                    batch.append(lead_id)
            if batch:
                settled += len(batch)
                found.add(settle(batch).items())
        return True

    while True:
        ceiling = sum(h[1] for h in heads if h is not None)
        if not settle_down_to(ceiling):
            return None
        if ceiling <= 0 or found.above(ceiling):
            # Nobody unread can rank, nor anyone waiting: each one's bound is at most the ceiling.
            return found.ranked()
        if read >= budget:
            return None
        i = max(range(len(heads)), key=lambda k: -1 if heads[k] is None else heads[k][1])  # type: ignore[index]
        fresh = []
        for _ in range(DAY_WALK_CHUNK):
            head = heads[i]
            if head is None:
                break
            read += 1
            if head[0] not in seen:
                seen.add(head[0])
                fresh.append(head[0])
            heads[i] = next(days[i], None)
        for lead_id, bound in bounds(fresh).items():
            if bound > 0:
                heapq.heappush(waiting, (-bound, lead_id))


def _by_days(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int, limit: int, *,
             min_events: int, budget: int) -> Ranked | None:
    """`walk_days` over the kept days the window touches; None where the window is not for it (too few events,
    too many days, a day no longer kept) or the walk gave up."""
    first = day_of(start)
    kept_days = kept(conn, ruleset_id)
    if kept_days is None or first < kept_days.first_day:
        return None
    key = kept_days.key
    settle_budget = None
    if min_events > 0:
        window_events = int(scalar(conn, _WINDOW_EVENTS, (unit_id, start // HOUR_MS)))
        if window_events < min_events:
            return None
        settle_budget = window_events // DAY_WALK_EVENTS_PER_SETTLE
    days: list[int] = []
    while len(days) <= DAY_WALK_MAX_DAYS:
        day = scalar(conn, _NEXT_DAY, (key, days[-1] + 1 if days else first))
        if day is None:
            break
        days.append(int(day))
    if len(days) > DAY_WALK_MAX_DAYS:
        return None
    day_list = json.dumps(days)

    def bounds(lead_ids: Sequence[str]) -> dict[str, int]:
        if not lead_ids:
            return {}
        return {r[0]: int(r[1]) for r in conn.execute(_BOUNDS, (key, day_list, json.dumps(lead_ids)))}

    def settle(lead_ids: Sequence[str]) -> dict[str, Settled]:
        return {r[0]: Settled(int(r[1]), int(r[2]), r[3])
                for r in conn.execute(_SETTLE_ALL, (unit_id, ruleset_id, start, json.dumps(list(lead_ids))))}

    cursors = [conn.execute(_DAY_LIST, (key, d)) for d in days]
    try:
        return walk_days([((r[0], int(r[1])) for r in c) for c in cursors], bounds, settle, limit, budget,
                         settle_budget)
    finally:
        for c in cursors:
            c.close()


def _by_candidates(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int, limit: int) -> Ranked:
    """`rank_gains` over the window's engagement events' sums per lead."""
    cursor = conn.execute(_CANDIDATES, (unit_id, ruleset_id, start))

    def settle(batch: Sequence[Candidate]) -> dict[str, Settled]:
        bound = {c.lead_id: c.bound for c in batch}
        return {r[0]: Settled(bound[r[0]] + int(r[1]), int(r[2]), r[3]) for r in conn.execute(
            _SETTLE_DECAY, (unit_id, ruleset_id, start, json.dumps(list(bound))))}

    try:
        return rank_gains((Candidate(r[0], int(r[1]), bool(r[2])) for r in cursor), settle, limit)
    finally:
        cursor.close()


def score_gains(conn: apsw.Connection, unit_id: str, ruleset_id: str, start: int, limit: int, *,
                walk_min_events: int = DAY_WALK_MIN_EVENTS, walk_budget: int = DAY_WALK_BUDGET
                ) -> list[dict[str, Any]]:
    """Live leads by net score gain in `ruleset_id` from events with occurred_at >= start; only positive gains,
    biggest first (ties by lead id), at most `limit`: `{lead_id, gain, score, last_event_at}` rows.
    `walk_min_events`, `walk_budget`: when to rank by days (tests use both ways on small data)."""
    ranked = _by_days(conn, unit_id, ruleset_id, start, limit, min_events=walk_min_events, budget=walk_budget)
    if ranked is None:
        ranked = _by_candidates(conn, unit_id, ruleset_id, start, limit)
    return [{"lead_id": lead_id, "gain": gain, "score": s.score, "last_event_at": s.last_event_at}
            for lead_id, gain, s in ranked]
