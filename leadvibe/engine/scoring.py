"""Rules, rulesets and the per-event score arithmetic (weights, surge, rounding, floor)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from leadvibe.engine.normalize import type_key as normalize_type

__all__ = [
    "EventScore",
    "Rule",
    "Ruleset",
    "apply_floor",
    "decay_scores",
    "match",
    "round_half_away",
    "score_event",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """A scoring rule; it matches events of ``type_key`` whose timestamp lies in ``[start_at, end_at)``."""

    rule_id: str
    type_key: str
    weight: int
    active: bool = True
    start_at: int | None = None
    end_at: int | None = None


_NO_MATCH: tuple[tuple[str, ...], int] = ((), 0)


@dataclass(frozen=True, slots=True)
class Ruleset:
    """A ruleset and an index ``type_key -> rules``, built once at construction for fast matching.

    Types whose rules have no time window always match the same way, so their ``(rule ids, summed weight)`` is
    computed here once (``_fixed``) and matching an event of such a type is one dict lookup; only types with a
    windowed rule look at the event's timestamp.
    """

    ruleset_id: str
    active: bool
    rules: tuple[Rule, ...]
    _index: dict[str, tuple[Rule, ...]] = field(init=False, repr=False, compare=False)
    _fixed: dict[str, tuple[tuple[str, ...], int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[Rule]] = {}
        for rule in self.rules:
            # Inactive rules never match, so they stay out of the index; the key is re-normalized so a rule
            # stored with a raw spelling still matches.
            if rule.active:
                index.setdefault(normalize_type(rule.type_key), []).append(rule)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})
        fixed = {
            key: (tuple(r.rule_id for r in rules), sum(r.weight for r in rules))
            for key, rules in index.items()
            if all(r.start_at is None and r.end_at is None for r in rules)
        }
        object.__setattr__(self, "_fixed", fixed)

    def rules_for(self, type_key: str) -> tuple[Rule, ...]:
        """Active rules of this ruleset for a (normalized) type key, in ruleset order."""
        return self._index.get(type_key, ())


# Not frozen: the worker builds one per event and ruleset, and a frozen dataclass's __init__ costs ~8x a plain
# one's. Treated as immutable all the same (nothing assigns to its fields); hashable as a frozen one would be.
@dataclass(slots=True, unsafe_hash=True)
class EventScore:
    """What one event did to one ruleset's score; this is what the event's explanation shows."""

    ruleset_id: str
    rule_ids: tuple[str, ...]
    weight: int
    multiplier: float
    delta: int
    before: int
    after: int
    filtered_by: str | None


def match(ruleset: Ruleset, type_key: str, ts_ms: int) -> tuple[tuple[str, ...], int]:
    """Return (ids, summed weight) of the active rules for ``type_key`` whose window holds ``ts_ms``.

    A rule's window is ``[start_at, end_at)``; ``None`` leaves that side open. The ruleset's own ``active``
    flag is not checked here (see :func:`score_event`).
    """
    fixed = ruleset._fixed.get(type_key)
    if fixed is not None:
        return fixed
    rules = ruleset._index.get(type_key)
    if rules is None:
        return _NO_MATCH
    ids: list[str] = []
    weight = 0
    for rule in rules:
        if rule.start_at is not None and ts_ms < rule.start_at:
            continue
        if rule.end_at is not None and ts_ms >= rule.end_at:
            continue
        ids.append(rule.rule_id)
        weight += rule.weight
    return tuple(ids), weight


_ONE = Decimal(1)


def round_half_away(x: float) -> int:
    """Round to the nearest integer, halves away from zero (2.5 → 3, -2.5 → -3).

    The product is first rounded to 9 decimals so binary noise does not decide: ``3 * 1.1`` is
    3.3000000000000003 and gives 3, ``15 * 1.1`` is 16.5 (give or take an ulp) and gives 17. Weights are
    integers and multipliers have few decimals, so a genuine fraction is never within 1e-9 of a half.
    """
    if not math.isfinite(x):
        raise ValueError(f"cannot round {x!r} to an integer")
    y = round(x, 9)
    if y == int(y):  # whole numbers (the common case: multiplier 1.0) need no decimal arithmetic
        return int(y)
    return int(Decimal(repr(y)).quantize(_ONE, rounding=ROUND_HALF_UP))


@lru_cache(maxsize=4096)
def _surged(weight: int, multiplier: float) -> int:
    # An OU has a handful of weights and surge bands, so the same products recur on every event: remember them.
    return round_half_away(weight * multiplier)


def apply_floor(before: int, delta: int, allow_negative: bool) -> tuple[int, int]:
    """Return ``(applied_delta, after)`` for a score moving by ``delta``.

    With ``allow_negative`` the delta applies as is. Otherwise ``after = max(0, before + delta)`` and the
    applied delta is ``after - before``, so the score always equals the sum of applied deltas. A score left
    below zero from when negatives were allowed therefore snaps to 0 on the next event that moves it (even one
    that would lower it further: the applied delta is then positive). A zero delta changes nothing, so events
    that match no rule never move a score.
    """
    if allow_negative or delta == 0:
        return delta, before + delta
    after = max(0, before + delta)
    return after - before, after


def score_event(
    rulesets: Sequence[Ruleset],
    type_key: str,
    ts_ms: int,
    multiplier: float,
    before: Mapping[str, int],
    allow_negative: bool,
    filtered_by: str | None = None,
) -> list[EventScore]:
    """Score one event in every active ruleset (inactive rulesets are skipped and get no row).

    ``weight`` is the sum of matching rules (0 if none). The surge ``multiplier`` applies to positive weights
    only; otherwise the recorded multiplier is 1.0. ``delta = round_half_away(weight * multiplier)``, then
    floored (:func:`apply_floor`). An inorganic event (``filtered_by`` set) gets delta 0 and multiplier 1.0
    but keeps its rule ids and weight, so the explanation shows what the filter suppressed. ``before`` lacking
    a ruleset means 0.
    """
    out: list[EventScore] = []
    for ruleset in rulesets:
        if not ruleset.active:
            continue
        # match() inlined for the common case (a type whose rules have no time window): this runs per event
        # and ruleset.
        fixed = ruleset._fixed.get(type_key)
        rule_ids, weight = fixed if fixed is not None else match(ruleset, type_key, ts_ms)
        start = before.get(ruleset.ruleset_id, 0)
        if filtered_by is not None:
            applied_mult, delta, after = 1.0, 0, start
        else:
            applied_mult = multiplier if weight > 0 else 1.0
            raw = weight if applied_mult == 1.0 else _surged(weight, applied_mult)
            if allow_negative or raw == 0:
                delta, after = raw, start + raw
            else:
                delta, after = apply_floor(start, raw, allow_negative)
        out.append(
            EventScore(ruleset.ruleset_id, rule_ids, weight, applied_mult, delta, start, after, filtered_by)
        )
    return out


def decay_scores(
    rulesets: Sequence[Ruleset],
    decrease: int,
    before: Mapping[str, int],
    allow_negative: bool,
    decay_id: str,
) -> list[EventScore]:
    """Score a DECAY event: ``-decrease`` in every active ruleset, floored like any other delta.

    Rows carry no rule ids, ``weight = -decrease``, multiplier 1.0 and no filter. ``decay_id`` names the decay
    rule; the caller records it in the event's metadata (the score rows have no place for it). Raises
    ``ValueError`` for a negative ``decrease``: a decay rule that adds points is a configuration error.
    """
    if decrease < 0:
        raise ValueError(f"decay {decay_id!r}: decrease must be >= 0, not {decrease}")
    out: list[EventScore] = []
    for ruleset in rulesets:
        if not ruleset.active:
            continue
        start = before.get(ruleset.ruleset_id, 0)
        delta, after = apply_floor(start, -decrease, allow_negative)
        out.append(EventScore(ruleset.ruleset_id, (), -decrease, 1.0, delta, start, after, None))
    return out
