"""Final scores of many leads at once: the replay of :func:`engine.replay.replay_lead`, reduced to what a what-if
needs (each lead's final score per ruleset), specialised for speed.

A whole-OU backtest replays every stored event of the OU, a million or more. ``replay_lead`` builds an outcome
object and an explanation row per event and ruleset; here the same decisions are taken on plain integers:
weights come from each ruleset's precomputed per-type index, the surge multiplier from a table indexed by
session position, rounding of surged weights is memoised, and filter windows are counted only for types that
have a filter. The property tests hold it equal to ``replay_lead`` over random histories and configurations.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from leadvibe.engine.filters import filters_for, is_inorganic, window_stats
from leadvibe.engine.normalize import type_key as normalize_type
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.scoring import match, round_half_away
from leadvibe.engine.surge import multiplier_for

__all__ = ["OBSERVED", "SCORED", "BulkEvent", "final_scores"]

# The last field of a BulkEvent: an observe-scope event (stored, not processed), a processed organic event, or
# (any value >= 0) a DECAY event lowering scores by that much.
OBSERVED = -1
SCORED = -2

BulkEvent = tuple[str, str, int, int]
"""``(lead_id, type_key, ts_ms, kind)``; ``kind`` is OBSERVED, SCORED or a decay decrease (>= 0)."""


def _multipliers(config: ScoringConfig) -> tuple[list[float], float]:
    """Multiplier by session position 1..n (index 0 unused), and the one that holds from n+1 on."""
    policy = config.policy
    top = max((b.min_events for b in policy.bands), default=1)
    table = [1.0] + [multiplier_for(policy, n) for n in range(1, top + 1)]
    return table, table[-1]


def final_scores(events: Iterable[BulkEvent], config: ScoringConfig) -> Iterator[tuple[str, dict[str, int]]]:
    """Replay events grouped by lead (each lead's events contiguous, in arrival order) from score 0 and no
    session; yield ``(lead_id, {ruleset_id: final score})`` per lead, as ``replay_lead(...)[1]`` would give.

    Raises ``ValueError`` for a negative decay decrease (as the engine does).
    """
    rulesets = [r for r in config.rulesets if r.active]
    ids = [r.ruleset_id for r in rulesets]
    windowed = [{k for k in r._index if k not in r._fixed} for r in rulesets]
    fixed = [r._fixed for r in rulesets]
    table, tail = _multipliers(config)
    positions = len(table)
    idle = config.policy.idle_reset_seconds * 1000
    floor = not config.allow_negative
    filtered_types = {normalize_type(f.type_key) for f in config.filters}
    surged: dict[tuple[int, float], int] = {}
    count = len(rulesets)
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
        if key in filtered_types:
            past = history.setdefault(key, [])
            inorganic = any(is_inorganic(f, window_stats(past, f, ts)[0]) for f in filters_for(config.filters, key))
            past.append((ts, ""))
            if inorganic:
                continue
        for i in span:
            if key in windowed[i]:
                weight = match(rulesets[i], key, ts)[1]
            else:
                hit = fixed[i].get(key)
                if hit is None:
                    continue
                weight = hit[1]
            if weight > 0 and mult != 1.0:
                delta = surged.get((weight, mult))
                if delta is None:
                    delta = surged[(weight, mult)] = round_half_away(weight * mult)
            else:
                delta = weight
            if delta:
                after = scores[i] + delta
                if floor and after < 0:
                    after = 0
                scores[i] = after
    if lead is not None:
        yield lead, dict(zip(ids, scores, strict=True))
