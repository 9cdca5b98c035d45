"""Live scoring compiled per configuration: what an event of each type does to every active ruleset.

The worker scores events one at a time, each against the lead's saved state. :class:`LeadScorer` takes every
decision again per event (each ruleset's rule match, the surge band, the rounding of the surged weight, the filters
of the type) and builds an outcome object and an explanation object per ruleset. A :class:`Dispatch` takes those
decisions once per configuration: for a type no active ruleset times, the row plan of every ruleset (rule ids,
weight, applied multiplier, rounded delta) per session position is computed on first use and reused; an event is
then a session step, a table lookup and one tuple per ruleset. Types with a windowed rule are matched per event.

The property tests hold :meth:`Dispatch.score` equal to ``LeadScorer.score`` (outcome, rows, state) over random
configurations, starting states and histories. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from leadvibe.engine.filters import InorganicFilter
from leadvibe.engine.normalize import type_key as normalize_type
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.scoring import Ruleset, match, round_half_away
from leadvibe.engine.surge import Session, multiplier_for, multiplier_table

__all__ = ["Dispatch", "LeadState", "ScoreRow"]

ScoreRow = tuple[str, tuple[str, ...], int, float, int, int, int, str | None]
"""One ruleset's row of a scored event: the fields of an ``EventScore`` in order (ruleset_id, rule_ids, weight,
multiplier, delta, before, after, filtered_by)."""

# (ruleset_id, rule ids, weight, applied multiplier, delta before the floor): one ruleset's part of an event of a
# known type at a known session position.
_RowPlan = tuple[str, tuple[str, ...], int, float, int]


class LeadState:
    """One lead's live scoring state, advanced in place: score per ruleset, the current session (count, latest and
    earliest timestamp; count 0 = none) and how many sessions it opened since it was loaded."""

    __slots__ = ("last", "n", "opened", "scores", "started")

    def __init__(self, scores: dict[str, int], session: Session | None) -> None:
        self.scores = scores
        self.n, self.last, self.started = (session.count, session.last_ts, session.started_at) if session else (0, 0, 0)
        self.opened = 0

    @property
    def session(self) -> Session | None:
        """The current session as the engine's value (None before the lead's first processed event)."""
        return Session(self.n, self.last, self.started) if self.n else None


# Types whose row plans a Dispatch remembers (clients name types freely; past this many, plans are built per event).
_MAX_PLANNED_TYPES = 4096


class Dispatch:
    """A configuration compiled for live scoring (build one per configuration and reuse it)."""

    __slots__ = ("_floor", "_idle", "_plans", "_policy", "_positions", "_rulesets", "_table", "_tail", "_timed",
                 "filters", "group_ms", "ruleset_ids")

    def __init__(self, config: ScoringConfig) -> None:
        self._rulesets: tuple[Ruleset, ...] = tuple(r for r in config.rulesets if r.active)
        self.ruleset_ids: tuple[str, ...] = tuple(r.ruleset_id for r in self._rulesets)
        self._policy = config.policy
        self._table, self._tail = multiplier_table(config.policy)
        self._positions = len(self._table)
        self._idle = config.policy.idle_reset_seconds * 1000
        self._floor = not config.allow_negative
        filters: dict[str, list[InorganicFilter]] = {}
        for f in config.filters:  # config order: the first filter that finds an event inorganic wins
            filters.setdefault(normalize_type(f.type_key), []).append(f)
        self.filters: dict[str, tuple[InorganicFilter, ...]] = {k: tuple(v) for k, v in filters.items()}
        # type key -> the longest window of its grouping filters (only those need a window's first arrival, which
        # the worker holds in memory for a lead's burst: pipeline/filter_windows.py).
        self.group_ms: dict[str, int] = {k: max(f.time_window_ms for f in v if f.group_events)
                                         for k, v in self.filters.items() if any(f.group_events for f in v)}
        # Types some active ruleset has a time window for: matched per event (their weight depends on the time).
        self._timed = frozenset(k for r in self._rulesets for k in r._index if k not in r._fixed)
        # type key -> row plans by session position (index = position; the last index serves every later position
        # when the surge bands end inside the table).
        self._plans: dict[str, list[tuple[_RowPlan, ...] | None]] = {}

    def _plan(self, key: str, ts: int, multiplier: float) -> tuple[_RowPlan, ...]:
        rows = []
        for ruleset in self._rulesets:
            rule_ids, weight = match(ruleset, key, ts)
            if weight > 0 and multiplier != 1.0:
                rows.append((ruleset.ruleset_id, rule_ids, weight, multiplier, round_half_away(weight * multiplier)))
            else:
                rows.append((ruleset.ruleset_id, rule_ids, weight, 1.0, weight))
        return tuple(rows)

    def _planned(self, key: str, ts: int, n: int, multiplier: float) -> tuple[_RowPlan, ...]:
        """The row plans of an event of type ``key`` at position ``n`` of its session."""
        position = n if n < self._positions else self._positions
        if key in self._timed or (position == self._positions and self._tail is None):
            return self._plan(key, ts, multiplier)
        by_position = self._plans.get(key)
        if by_position is None:
            if len(self._plans) >= _MAX_PLANNED_TYPES:
                return self._plan(key, ts, multiplier)
            by_position = self._plans[key] = [None] * (self._positions + 1)
        plan = by_position[position]
        if plan is None:
            plan = by_position[position] = self._plan(key, ts, multiplier)
        return plan

    def score(self, lead: LeadState, key: str, ts: int,
              counts: Mapping[str, int] | None) -> tuple[float, int, InorganicFilter | None, list[ScoreRow]]:
        """Score a processed organic event of type ``key`` at ``ts`` and advance ``lead``, as ``LeadScorer.score``
        does. ``counts``: the lead's earlier events of the type inside each of its filters' windows, by filter id
        (missing: 0; None when the type has no filter). Returns the session's multiplier, the event's position in
        its session, the filter that found it inorganic (None if none) and a row per active ruleset."""
        n = lead.n
        if n and abs(ts - lead.last) <= self._idle:
            n += 1
            if ts > lead.last:
                lead.last = ts
            if ts < lead.started:
                lead.started = ts
        else:
            n = 1
            lead.last = lead.started = ts
            lead.opened += 1
        lead.n = n
        if n < self._positions:
            multiplier = self._table[n]
        else:
            multiplier = self._tail if self._tail is not None else multiplier_for(self._policy, n)
        flt = None
        if counts is not None:
            for f in self.filters.get(key, ()):
                if counts.get(f.filter_id, 0) + 1 > f.count_threshold:
                    flt = f
                    break
        plan = self._planned(key, ts, n, multiplier)
        scores = lead.scores
        rows: list[ScoreRow] = []
        if flt is not None:
            # Inorganic: no points, multiplier 1.0, but the rule ids and weight the filter suppressed are kept.
            filter_id = flt.filter_id
            for ruleset_id, rule_ids, weight, _, _ in plan:
                before = scores.get(ruleset_id, 0)
                scores[ruleset_id] = before
                rows.append((ruleset_id, rule_ids, weight, 1.0, 0, before, before, filter_id))
            return multiplier, n, flt, rows
        floor = self._floor
        for ruleset_id, rule_ids, weight, applied, raw in plan:
            before = scores.get(ruleset_id, 0)
            after = before + raw
            if floor and raw and after < 0:
                after = 0
            scores[ruleset_id] = after
            rows.append((ruleset_id, rule_ids, weight, applied, after - before, before, after, None))
        return multiplier, n, flt, rows
