"""The replay of :func:`engine.replay.replay_lead`, specialised for speed, for replays of many leads at once.

A whole-OU backtest or rescore replays every stored event of the OU, a million or more. ``replay_lead`` builds an
outcome object and an explanation object per event and ruleset; here the same decisions are taken on plain
integers and tuples: weights come from each ruleset's precomputed per-type index, the surge multiplier from a
table indexed by session position, rounding of surged weights is memoised, and filter windows are counted only
for types that have a filter, with the filters of each type found once per configuration.

Two forms: :func:`final_scores` (each lead's final score per ruleset: what a what-if needs) and
:func:`replay_steps` (every event's outcome as plain tuples: what a rescore compares with the stored rows). The
property tests hold both equal to ``replay_lead`` over random histories and configurations. Pure: no I/O, no
clock.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence

from leadvibe.engine.dispatch import ScoreRow
from leadvibe.engine.filters import InorganicFilter, fires, first_in_window
from leadvibe.engine.normalize import type_key as normalize_type
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.scoring import Ruleset, match, round_half_away
from leadvibe.engine.surge import Session, multiplier_table

__all__ = ["OBSERVED", "SCORED", "BulkEvent", "Plan", "Step", "StepEvent", "final_scores", "replay_steps"]

# The last field of a BulkEvent: an observe-scope event (stored, not processed), a processed organic event, or
# (any value >= 0) a DECAY event lowering scores by that much.
OBSERVED = -1
SCORED = -2

BulkEvent = tuple[str, str, int, int]
"""``(lead_id, type_key, ts_ms, kind)``; ``kind`` is OBSERVED, SCORED or a decay decrease (>= 0)."""

StepEvent = tuple[str, str, int, int]
"""``(event_id, type_key, ts_ms, kind)``: one event of one lead, ``kind`` as in :data:`BulkEvent`."""

Step = tuple[float, int, str | None, str | None, tuple[ScoreRow, ...]]
"""One event's outcome, the fields of ``EventOutcome`` in order (``event_id`` left out): ``(multiplier,
session_index, filtered_by, grouped_with, rows)``; each row holds the fields of an ``EventScore`` in order."""


class Plan:
    """What a replay derives from a configuration once, before the first event."""

    __slots__ = (
        "filters",
        "fixed",
        "floor",
        "idle",
        "ids",
        "positions",
        "rulesets",
        "static",
        "surged",
        "table",
        "tail",
        "windowed",
    )

    def __init__(self, config: ScoringConfig) -> None:
        self.rulesets: list[Ruleset] = [r for r in config.rulesets if r.active]
        self.ids = [r.ruleset_id for r in self.rulesets]
        self.windowed = [{k for k in r._index if k not in r._fixed} for r in self.rulesets]
        self.fixed = [r._fixed for r in self.rulesets]
        # Every band inside the table: a replay looks each position up (the live dispatch caps its table instead).
        table, tail = multiplier_table(config.policy, limit=sys.maxsize)
        assert tail is not None
        self.table, self.tail = list(table), tail
        self.positions = len(self.table)
        self.idle = config.policy.idle_reset_seconds * 1000
        self.floor = not config.allow_negative
        self.filters: dict[str, list[InorganicFilter]] = {}
        for f in config.filters:  # config order: the first filter that finds an event inorganic wins
            self.filters.setdefault(normalize_type(f.type_key), []).append(f)
        self.surged: dict[tuple[int, float], int] = {}
        # Types no ruleset has a time window for weigh the same at any time: (ruleset index, weight) of each
        # ruleset naming them, found with one lookup per event.
        timed = set().union(*self.windowed)
        self.static: dict[str, tuple[tuple[int, int], ...]] = {
            key: tuple((i, fixed[key][1]) for i, fixed in enumerate(self.fixed) if key in fixed)
            for key in set().union(*self.fixed) - timed
        }

    def weight(self, i: int, key: str, ts: int) -> tuple[tuple[str, ...], int] | None:
        """(rule ids, summed weight) of ruleset ``i`` for an event; None when no rule of it names the type."""
        if key in self.windowed[i]:
            return match(self.rulesets[i], key, ts)
        return self.fixed[i].get(key)

    def surge(self, weight: int, mult: float) -> int:
        """``round_half_away(weight * mult)``, remembered: an OU has few weights and bands."""
        delta = self.surged.get((weight, mult))
        if delta is None:
            delta = self.surged[(weight, mult)] = round_half_away(weight * mult)
        return delta


def final_scores(events: Iterable[BulkEvent], config: ScoringConfig) -> Iterator[tuple[str, dict[str, int]]]:
    """Replay events grouped by lead (each lead's events contiguous, in arrival order) from score 0 and no
    session; yield ``(lead_id, {ruleset_id: final score})`` per lead, as ``replay_lead(...)[1]`` would give.

    Raises ``ValueError`` for a negative decay decrease (as the engine does).
    """
    plan = Plan(config)
    ids, static, table, tail = plan.ids, plan.static, plan.table, plan.tail
    timed = set().union(*plan.windowed)
    positions, idle, floor, filters, surged = plan.positions, plan.idle, plan.floor, plan.filters, plan.surged
    count = len(ids)
    span = range(count)

    lead: str | None = None
    scores = [0] * count
    n = 0
    last = 0
    history: dict[str, list[tuple[int, str]]] = {}
    for lead_id, key, ts, kind in events:
        if lead_id != lead:
            if lead is not None:
                yield lead, dict(zip(ids, scores, strict=True))
            lead, scores, n, history = lead_id, [0] * count, 0, {}
        if kind == OBSERVED:
            continue
        if kind >= 0:  # DECAY: -decrease in every ruleset, floored; no session step, not in filter history
            for i in span:
                after = scores[i] - kind
                if kind and floor and after < 0:
                    after = 0
                scores[i] = after
            continue
        if kind != SCORED:
            raise ValueError(f"decay decrease must be >= 0, not {kind}")
        if n and abs(ts - last) <= idle:
            n += 1
            if ts > last:
                last = ts
        else:
            n, last = 1, ts
        mult = table[n] if n < positions else tail
        applicable = filters.get(key)
        if applicable is not None:
            past = history.setdefault(key, [])
            inorganic = any(fires(past, f, ts) for f in applicable)
            past.append((ts, ""))
            if inorganic:
                continue
        hits = static.get(key, ()) if key not in timed else [
            (i, hit[1]) for i in span if (hit := plan.weight(i, key, ts)) is not None]
        for i, weight in hits:
            if weight > 0 and mult != 1.0:
                delta = surged.get((weight, mult))
                if delta is None:
                    delta = plan.surge(weight, mult)
            else:
                delta = weight
            if delta:
                after = scores[i] + delta
                if floor and after < 0:
                    after = 0
                scores[i] = after
    if lead is not None:
        yield lead, dict(zip(ids, scores, strict=True))


_OBSERVED_STEP: Step = (1.0, 0, None, None, ())


def replay_steps(events: Sequence[StepEvent], plan: Plan) -> tuple[list[Step], dict[str, int], Session | None, int]:
    """Replay one lead's events in arrival order from score 0 and no session, as ``replay_lead`` does.

    Returns one :data:`Step` per event (equal to the engine's ``EventOutcome`` without its event id), the final
    score per ruleset (as ``replay_lead``'s: empty when no event scored), the session after the last event and
    how many sessions the events opened. Raises ``ValueError`` for a negative decay decrease.
    """
    ids, table, tail, positions, idle, floor = plan.ids, plan.table, plan.tail, plan.positions, plan.idle, plan.floor
    filters = plan.filters
    span = range(len(ids))
    scores = [0] * len(ids)
    scored = False
    n = last = started = sessions = 0
    history: dict[str, list[tuple[int, str]]] = {}
    steps: list[Step] = []
    for event_id, key, ts, kind in events:
        if kind == OBSERVED:
            steps.append(_OBSERVED_STEP)
            continue
        scored = True
        if kind >= 0:
            rows: list[ScoreRow] = []
            for i in span:
                before = scores[i]
                after = before - kind
                if kind and floor and after < 0:
                    after = 0
                scores[i] = after
                rows.append((ids[i], (), -kind, 1.0, after - before, before, after, None))
            steps.append((1.0, 0, None, None, tuple(rows)))
            continue
        if kind != SCORED:
            raise ValueError(f"decay decrease must be >= 0, not {kind}")
        if n and abs(ts - last) <= idle:
            n += 1
            if ts > last:
                last = ts
            if ts < started:
                started = ts
        else:
            n, last, started = 1, ts, ts
            sessions += 1
        mult = table[n] if n < positions else tail
        filtered_by = grouped_with = None
        applicable = filters.get(key)
        if applicable is not None:
            past = history.setdefault(key, [])
            for f in applicable:
                if fires(past, f, ts):
                    filtered_by = f.filter_id
                    if f.group_events:
                        grouped_with = first_in_window(past, f, ts)
                    break
            past.append((ts, event_id))
        rows = []
        for i in span:
            hit = plan.weight(i, key, ts)
            rule_ids, weight = hit if hit is not None else ((), 0)
            before = scores[i]
            if filtered_by is not None:
                rows.append((ids[i], rule_ids, weight, 1.0, 0, before, before, filtered_by))
                continue
            if weight > 0 and mult != 1.0:
                applied, raw = mult, plan.surge(weight, mult)
            else:
                applied, raw = 1.0, weight
            after = before + raw
            if raw and floor and after < 0:
                after = 0
            scores[i] = after
            rows.append((ids[i], rule_ids, weight, applied, after - before, before, after, None))
        steps.append((mult, n, filtered_by, grouped_with, tuple(rows)))
    session = Session(n, last, started) if n else None
    return steps, dict(zip(ids, scores, strict=True)) if scored and ids else {}, session, sessions
