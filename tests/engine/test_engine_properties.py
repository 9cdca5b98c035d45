"""Property tests: the invariants live scoring, replays and backtests rely on."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.engine.filters import InorganicFilter
from leadvibe.engine.replay import (
    EventOutcome,
    LeadScorer,
    ReplayEvent,
    ScoringConfig,
    filter_hits_for,
    replay_lead,
)
from leadvibe.engine.scoring import Rule, Ruleset, round_half_away, score_event
from leadvibe.engine.surge import Band, SurgePolicy, build_policy, multiplier_for

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TYPES = ("page_view", "email_open", "demo")
HORIZON_MS = 600_000  # ten minutes: sessions and windows below are of the same order, so both paths occur

timestamps = st.integers(min_value=0, max_value=HORIZON_MS)
optional_ts = st.none() | timestamps


@st.composite
def rules(draw: st.DrawFn, ruleset_id: str) -> Ruleset:
    n = draw(st.integers(min_value=0, max_value=4))
    items = tuple(
        Rule(
            rule_id=f"{ruleset_id}_r{i}",
            type_key=draw(st.sampled_from(TYPES)),
            weight=draw(st.integers(min_value=-25, max_value=25)),
            active=draw(st.booleans()),
            start_at=draw(optional_ts),
            end_at=draw(optional_ts),
        )
        for i in range(n)
    )
    return Ruleset(ruleset_id, draw(st.booleans()), items)


bands = st.lists(
    st.builds(
        Band,
        min_events=st.integers(min_value=1, max_value=8),
        multiplier=st.floats(min_value=0.1, max_value=4.0, allow_nan=False),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda b: b.min_events,
)
caps = st.floats(min_value=1.0, max_value=3.0, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> SurgePolicy:
    mode = draw(st.sampled_from(("off", "standard", "gentle", "custom")))
    return build_policy(
        mode,
        draw(bands) if mode == "custom" else None,
        idle_reset_seconds=draw(st.integers(min_value=1, max_value=300)),
        multiplier_cap=draw(st.none() | caps),
    )


filters = st.builds(
    InorganicFilter,
    filter_id=st.sampled_from(("f1", "f2", "f3")),
    type_key=st.sampled_from(TYPES),
    count_threshold=st.integers(min_value=0, max_value=4),
    time_window_ms=st.integers(min_value=0, max_value=HORIZON_MS // 2),
    group_events=st.booleans(),
)


@st.composite
def configs(draw: st.DrawFn) -> ScoringConfig:
    count = draw(st.integers(min_value=1, max_value=3))
    return ScoringConfig(
        rulesets=tuple(draw(rules(f"rs{i}")) for i in range(count)),
        policy=draw(policies()),
        filters=tuple(draw(st.lists(filters, max_size=3, unique_by=lambda f: f.filter_id))),
        allow_negative=draw(st.booleans()),
    )


@st.composite
def event_lists(draw: st.DrawFn) -> list[ReplayEvent]:
    n = draw(st.integers(min_value=0, max_value=30))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(("organic",) * 6 + ("observe", "decay")))
        ts = draw(timestamps)
        if kind == "decay":
            decrease = draw(st.integers(min_value=0, max_value=30))
            out.append(ReplayEvent(f"e{i}", "decay", ts, decay_decrease=decrease, decay_id="dr"))
        else:
            out.append(ReplayEvent(f"e{i}", draw(st.sampled_from(TYPES)), ts, processed=kind == "organic"))
    return out


start_scores = st.dictionaries(st.sampled_from(("rs0", "rs1", "rs2")), st.integers(0, 100), max_size=3)


def _active_ids(config: ScoringConfig) -> list[str]:
    return [r.ruleset_id for r in config.rulesets if r.active]


def _one_by_one(events: Sequence[ReplayEvent], config: ScoringConfig) -> list[EventOutcome]:
    """What the live worker does: a fresh scorer per event from saved state, filter hits from the store."""
    scores: dict[str, int] = {}
    session = None
    history: list[ReplayEvent] = []
    outcomes = []
    for event in events:
        same_type = [(e.ts_ms, e.event_id) for e in history if e.type_key == event.type_key]
        hits = filter_hits_for(same_type, config.filters, event.type_key, event.ts_ms)
        if not event.counts_for_filters:
            hits = {}
        scorer = LeadScorer(config, scores, session)
        outcomes.append(scorer.score(event, hits))
        scores, session = scorer.scores, scorer.session
        if event.counts_for_filters:
            history.append(event)
    return outcomes


@PROPS
@given(event_lists(), configs(), start_scores)
def test_score_is_sum_of_deltas_and_chain_is_consistent(
    events: list[ReplayEvent], config: ScoringConfig, start: dict[str, int]
) -> None:
    outcomes, final = replay_lead(events, config, start)
    for ruleset_id in _active_ids(config):
        running = start.get(ruleset_id, 0)
        total = 0
        for outcome in outcomes:
            for row in outcome.scores:
                if row.ruleset_id != ruleset_id:
                    continue
                assert row.before == running
                assert row.after == row.before + row.delta
                running = row.after
                total += row.delta
        assert final.get(ruleset_id, 0) == running == start.get(ruleset_id, 0) + total
    for ruleset in config.rulesets:
        if not ruleset.active:
            assert final.get(ruleset.ruleset_id, 0) == start.get(ruleset.ruleset_id, 0)


@PROPS
@given(event_lists(), configs())
def test_replay_is_deterministic_and_matches_live(events: list[ReplayEvent], config: ScoringConfig) -> None:
    first = replay_lead(events, config)
    assert replay_lead(events, config) == first
    assert _one_by_one(events, config) == first[0]


@PROPS
@given(event_lists(), configs(), start_scores)
def test_floor_keeps_scores_non_negative(
    events: list[ReplayEvent], config: ScoringConfig, start: dict[str, int]
) -> None:
    floored = ScoringConfig(config.rulesets, config.policy, config.filters, allow_negative=False)
    outcomes, final = replay_lead(events, floored, start)
    assert all(row.after >= 0 for o in outcomes for row in o.scores)
    assert all(v >= 0 for v in final.values())


@PROPS
@given(event_lists(), configs())
def test_inorganic_events_score_zero_everywhere(events: list[ReplayEvent], config: ScoringConfig) -> None:
    outcomes, _ = replay_lead(events, config)
    for outcome in outcomes:
        if outcome.filtered_by is not None:
            assert outcome.filtered_by in {f.filter_id for f in config.filters}
            assert [r.ruleset_id for r in outcome.scores] == _active_ids(config)
            assert all(r.delta == 0 and r.multiplier == 1.0 for r in outcome.scores)
            assert all(r.filtered_by == outcome.filtered_by for r in outcome.scores)
        else:
            assert outcome.grouped_with is None


@PROPS
@given(event_lists(), configs())
def test_observe_and_decay_events_leave_the_session_alone(
    events: list[ReplayEvent], config: ScoringConfig
) -> None:
    outcomes, _ = replay_lead(events, config)
    for event, outcome in zip(events, outcomes, strict=True):
        if not event.processed:
            assert outcome.scores == ()
        if not event.counts_for_filters:
            assert outcome.session_index == 0
        else:
            assert outcome.session_index >= 1
    organic = [o for e, o in zip(events, outcomes, strict=True) if e.counts_for_filters]
    if organic:
        assert organic[0].session_index == 1
    for prev, nxt in pairwise(organic):
        assert nxt.session_index in (1, prev.session_index + 1)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(("off", "standard", "gentle")), st.none() | caps)
def test_preset_multiplier_monotone_and_capped(mode: str, cap: float | None) -> None:
    policy = build_policy(mode, multiplier_cap=cap)
    values = [multiplier_for(policy, n) for n in range(0, 40)]
    assert values == sorted(values)
    assert all(1.0 <= v <= policy.multiplier_cap for v in values)


@settings(max_examples=100, deadline=None)
@given(bands, caps, st.integers(min_value=0, max_value=50))
def test_custom_multiplier_never_exceeds_cap(custom: list[Band], cap: float, n: int) -> None:
    policy = build_policy("custom", custom, multiplier_cap=cap)
    m = multiplier_for(policy, n)
    assert 0 < m <= cap
    eligible = [b for b in custom if b.min_events <= n]
    band = max(eligible, key=lambda b: b.min_events).multiplier if eligible else 1.0
    assert m == min(band, cap)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-100, max_value=100),
    st.sampled_from((1.0, 1.1, 1.2, 1.25, 1.5, 2.0, 2.5, 3.0)),
)
def test_weight_times_multiplier_rounding(weight: int, multiplier: float) -> None:
    ruleset = Ruleset("rs", True, (Rule("r", "t", weight),))
    [row] = score_event([ruleset], "t", 0, multiplier, {}, allow_negative=True)
    applied = multiplier if weight > 0 else 1.0
    assert row.multiplier == applied
    assert row.delta == round_half_away(weight * applied)
    exact = weight * applied
    assert abs(row.delta - exact) <= 0.5 + 1e-9
    if weight > 0:
        assert row.delta >= weight  # surge never lowers a positive score
    if weight < 0:
        assert row.delta == weight  # surge never amplifies a penalty
    # halves go away from zero: the distance is exactly .5 only when the sign agrees
    if abs(abs(row.delta - exact) - 0.5) < 1e-9:
        assert abs(row.delta) > abs(exact)
