"""The compiled live scorer decides every event exactly as the engine's LeadScorer does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.dispatch import Dispatch, LeadState
from leadvibe.engine.filters import window_stats
from leadvibe.engine.replay import LeadScorer, ReplayEvent, ScoringConfig
from leadvibe.engine.scoring import Rule, Ruleset
from leadvibe.engine.surge import Band, Session, build_policy
from tests.engine.test_engine_properties import HORIZON_MS, PROPS, TYPES, configs

sessions = st.none() | st.builds(
    lambda count, last, back: Session(count, last, last - back),
    st.integers(min_value=1, max_value=9), st.integers(min_value=0, max_value=HORIZON_MS),
    st.integers(min_value=0, max_value=60_000))
# Scores a lead may hold: negative ones too (left from when the OU allowed them, then floored on the next move).
held_scores = st.dictionaries(st.sampled_from(("rs0", "rs1", "rs2")), st.integers(-40, 100), max_size=3)


@st.composite
def live_events(draw: st.DrawFn) -> list[ReplayEvent]:
    """What the worker meets: processed and observe-scope events (DECAY events are recorded by the decay pass)."""
    return [ReplayEvent(f"e{i}", draw(st.sampled_from(TYPES)), draw(st.integers(0, HORIZON_MS)),
                        processed=draw(st.sampled_from((True,) * 5 + (False,))))
            for i in range(draw(st.integers(min_value=0, max_value=40)))]


def _both(config: ScoringConfig, start: dict[str, int], session: Session | None, events: list[ReplayEvent]) -> None:
    scorer = LeadScorer(config, start, session)
    dispatch = Dispatch(config)
    lead = LeadState(dict(start), session)
    opened = 0
    history: list[tuple[str, int, str]] = []
    for event in events:
        if not event.processed:  # the worker stores these without scoring them
            assert scorer.score(event, {}).scores == ()
            continue
        past = [(ts, event_id) for key, ts, event_id in history if key == event.type_key]
        stats = {f.filter_id: window_stats(past, f, event.ts_ms) for f in dispatch.filters.get(event.type_key, ())}
        outcome = scorer.score(event, stats)
        counts = {fid: n for fid, (n, _) in stats.items()} if event.type_key in dispatch.filters else None
        multiplier, position, flt, rows = dispatch.score(lead, event.type_key, event.ts_ms, counts)
        grouped_with = stats[flt.filter_id][1] if flt is not None and flt.group_events else None
        assert (multiplier, position, flt.filter_id if flt else None, grouped_with) == (
            outcome.multiplier, outcome.session_index, outcome.filtered_by, outcome.grouped_with)
        assert rows == [(s.ruleset_id, s.rule_ids, s.weight, s.multiplier, s.delta, s.before, s.after, s.filtered_by)
                        for s in outcome.scores]
        assert lead.scores == scorer.scores
        assert lead.session == scorer.session
        opened += position == 1
        history.append((event.type_key, event.ts_ms, event.event_id))
    assert lead.opened == opened


@PROPS
@given(configs(), held_scores, sessions, live_events())
def test_the_dispatch_scores_every_event_as_the_engine(config: ScoringConfig, start: dict[str, int],
                                                       session: Session | None, events: list[ReplayEvent]) -> None:
    _both(config, start, session, events)


def test_a_band_past_the_multiplier_table_is_still_applied() -> None:
    policy = build_policy("custom", [Band(1, 1.0), Band(300, 2.0)], idle_reset_seconds=3600)
    config = ScoringConfig((Ruleset("rs0", True, (Rule("r", "page_view", 3),)),), policy, (), False)
    events = [ReplayEvent(f"e{i}", "page_view", i) for i in range(305)]
    _both(config, {}, None, events)
    lead = LeadState({}, None)
    deltas = [Dispatch(config).score(lead, "page_view", i, None)[3][0][4] for i in range(305)]
    assert deltas[298:] == [3, 6, 6, 6, 6, 6, 6]


def test_raw_spellings_of_rule_and_filter_types_match_their_key() -> None:
    from leadvibe.engine.filters import InorganicFilter

    config = ScoringConfig((Ruleset("rs0", True, (Rule("r", "Page View", 3),)),), build_policy("off"),
                           (InorganicFilter("f", "page-view", 1, 1000, True),), False)
    events = [ReplayEvent(f"e{i}", "page_view", i) for i in range(4)]
    _both(config, {}, None, events)
