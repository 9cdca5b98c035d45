"""The bulk final-score replay (whole-OU backtests) gives exactly what the engine's replay gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.bulk import OBSERVED, SCORED, BulkEvent, Plan, StepEvent, final_scores, replay_steps
from leadvibe.engine.replay import ReplayEvent, ScoringConfig, replay_lead
from leadvibe.engine.scoring import Rule, Ruleset
from leadvibe.engine.surge import Session, advance_session, build_policy
from tests.engine.test_engine_properties import PROPS, configs, event_lists


def _bulk(lead_id: str, events: list[ReplayEvent]) -> list[BulkEvent]:
    out: list[BulkEvent] = []
    for e in events:
        kind = e.decay_decrease if e.decay_decrease is not None else SCORED if e.processed else OBSERVED
        out.append((lead_id, e.type_key, e.ts_ms, kind))
    return out


def _engine_finals(events: list[ReplayEvent], config: ScoringConfig) -> dict[str, int]:
    _, finals = replay_lead(events, config)
    # replay_lead only names rulesets an event touched; the bulk replay names every active one (0 if untouched)
    active = [r.ruleset_id for r in config.rulesets if r.active]
    return {rs: finals.get(rs, 0) for rs in active}


@PROPS
@given(configs(), st.lists(event_lists(), min_size=1, max_size=4))
def test_bulk_final_scores_equal_the_engine_replay(config: ScoringConfig, histories: list[list[ReplayEvent]]) -> None:
    stream: list[BulkEvent] = []
    expected: dict[str, dict[str, int]] = {}
    for i, events in enumerate(histories):
        lead = f"ld_{i}"
        stream += _bulk(lead, events)
        if events:
            expected[lead] = _engine_finals(events, config)
    assert dict(final_scores(stream, config)) == expected


def test_a_surge_and_a_floor_in_one_history() -> None:
    config = ScoringConfig(
        (Ruleset("rs", True, (Rule("r1", "page_view", 4), Rule("r2", "demo", 10, start_at=100, end_at=200))),),
        build_policy("standard"),
        (),
        False,
    )
    events = [("ld", "page_view", t, SCORED) for t in (0, 1000, 2000, 3000)]  # x1, x1, x1.25, x1.25
    events += [("ld", "demo", 150, SCORED), ("ld", "demo", 250, SCORED), ("ld", "decay", 9_000_000, 100)]
    events += [("ld", "page_view", 9_000_001, SCORED), ("ld", "page_view", 9_000_002, OBSERVED)]
    assert list(final_scores(events, config)) == [("ld", {"rs": 4})]
    assert list(final_scores(events[:5], config)) == [("ld", {"rs": 4 + 4 + 5 + 5 + 13})]


def test_no_events_no_leads() -> None:
    config = ScoringConfig((), build_policy("off"), (), False)
    assert list(final_scores([], config)) == []


def _steps_input(events: list[ReplayEvent]) -> list[StepEvent]:
    return [(e.event_id, key, ts, kind) for (_, key, ts, kind), e in zip(_bulk("", events), events, strict=True)]


def _engine_session(events: list[ReplayEvent], config: ScoringConfig) -> tuple[Session | None, int]:
    """The session state a full rescore stores: advanced over processed organic events, and how many began."""
    outcomes, _ = replay_lead(events, config)
    session, opened = None, 0
    for event, outcome in zip(events, outcomes, strict=True):
        if event.counts_for_filters:
            session = advance_session(session, event.ts_ms, config.policy.idle_reset_seconds * 1000)
            opened += outcome.session_index == 1
    return session, opened


@PROPS
@given(configs(), event_lists())
def test_replay_steps_equal_the_engine_outcomes(config: ScoringConfig, events: list[ReplayEvent]) -> None:
    outcomes, finals = replay_lead(events, config)
    steps, scores, session, opened = replay_steps(_steps_input(events), Plan(config))
    expected = [(o.multiplier, o.session_index, o.filtered_by, o.grouped_with,
                 tuple((s.ruleset_id, s.rule_ids, s.weight, s.multiplier, s.delta, s.before, s.after, s.filtered_by)
                       for s in o.scores)) for o in outcomes]
    assert steps == expected
    assert scores == finals
    assert (session, opened) == _engine_session(events, config)


def test_replay_steps_refuse_a_negative_decay_like_the_engine() -> None:
    config = ScoringConfig((Ruleset("rs", True, ()),), build_policy("off"), (), False)
    with pytest.raises(ValueError):
        replay_steps([("e1", "decay", 0, -5)], Plan(config))
