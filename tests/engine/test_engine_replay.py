"""LeadScorer and replay_lead: sessions, filters, observe and DECAY events."""

from __future__ import annotations

from leadvibe.engine.filters import InorganicFilter, window_stats
from leadvibe.engine.replay import EventOutcome, LeadScorer, ReplayEvent, ScoringConfig, replay_lead
from leadvibe.engine.scoring import Rule, Ruleset
from leadvibe.engine.surge import Session, build_policy

RS = Ruleset("rs", True, (Rule("r_view", "page_view", 2), Rule("r_demo", "demo", 10)))
RS2 = Ruleset("rs2", True, (Rule("r2_view", "page_view", 1),))
MIN = 60_000


def config(mode: str = "standard", filters: tuple[InorganicFilter, ...] = (), **kw: object) -> ScoringConfig:
    return ScoringConfig(
        rulesets=(RS, RS2),
        policy=build_policy(mode, idle_reset_seconds=1800),
        filters=filters,
        allow_negative=bool(kw.get("allow_negative", False)),
    )


def views(n: int, start: int = 0, step: int = MIN) -> list[ReplayEvent]:
    return [ReplayEvent(f"e{i}", "page_view", start + i * step) for i in range(n)]


def deltas(outcome: EventOutcome, ruleset_id: str = "rs") -> int:
    return next(s.delta for s in outcome.scores if s.ruleset_id == ruleset_id)


def test_standard_surge_over_a_session() -> None:
    outcomes, scores = replay_lead(views(7), config())
    assert [o.session_index for o in outcomes] == [1, 2, 3, 4, 5, 6, 7]
    assert [o.multiplier for o in outcomes] == [1.0, 1.0, 1.25, 1.25, 1.25, 1.5, 1.5]
    assert [deltas(o) for o in outcomes] == [2, 2, 3, 3, 3, 3, 3]  # 2 x 1.25 = 2.5 → 3
    assert [deltas(o, "rs2") for o in outcomes] == [1, 1, 1, 1, 1, 2, 2]  # 1.25 → 1, 1.5 → 2
    assert scores == {"rs": 19, "rs2": 9}


def test_idle_gap_resets_the_session() -> None:
    events = [*views(3), ReplayEvent("late", "page_view", 2 * MIN + 1800 * 1000 + 1)]
    outcomes, _ = replay_lead(events, config())
    assert [o.session_index for o in outcomes] == [1, 2, 3, 1]
    assert outcomes[-1].multiplier == 1.0


def test_observe_events_store_only() -> None:
    events = [*views(2), ReplayEvent("obs", "page_view", 2 * MIN, processed=False), *views(1, 3 * MIN)]
    outcomes, scores = replay_lead(events, config())
    assert outcomes[2] == EventOutcome("obs", 1.0, 0, None, None, ())
    assert outcomes[3].session_index == 3  # the observe event did not count
    assert scores["rs"] == 2 + 2 + 3


def test_decay_events_do_not_touch_session_or_filters() -> None:
    f = InorganicFilter("f", "page_view", 2, 10 * MIN, False)
    decay = ReplayEvent("d", "DECAY", 2 * MIN, decay_decrease=3, decay_id="dr1")
    outcomes, scores = replay_lead([*views(2), decay, *views(1, 3 * MIN)], config(filters=(f,)))
    d = outcomes[2]
    assert (d.session_index, d.multiplier, d.filtered_by) == (0, 1.0, None)
    assert [(s.ruleset_id, s.delta, s.before, s.after) for s in d.scores] == [
        ("rs", -3, 4, 1),
        ("rs2", -2, 2, 0),
    ]
    assert outcomes[3].session_index == 3
    assert outcomes[3].filtered_by == "f"  # third page_view in window; the DECAY did not count
    assert scores == {"rs": 1, "rs2": 0}


def test_inorganic_burst_is_grouped_and_still_advances_the_session() -> None:
    f = InorganicFilter("f_burst", "Page View", 2, 10 * MIN, True)
    outcomes, scores = replay_lead(views(5), config(filters=(f,)))
    assert [o.filtered_by for o in outcomes] == [None, None, "f_burst", "f_burst", "f_burst"]
    assert [o.grouped_with for o in outcomes] == [None, None, "e0", "e0", "e0"]
    assert [o.session_index for o in outcomes] == [1, 2, 3, 4, 5]
    for o in outcomes[2:]:
        assert all(s.delta == 0 and s.multiplier == 1.0 and s.filtered_by == "f_burst" for s in o.scores)
        assert o.scores[0].rule_ids == ("r_view",)
    assert scores == {"rs": 4, "rs2": 2}


def test_window_slides_so_scoring_resumes() -> None:
    f = InorganicFilter("f", "page_view", 1, 2 * MIN, False)
    outcomes, _ = replay_lead(views(4, step=MIN), config("off", filters=(f,)))
    # window (ts - 2 min, ts]: e1 sees e0; e2 sees e1 only (e0 is exactly 2 min old); e3 sees e2
    assert [o.filtered_by for o in outcomes] == [None, "f", "f", "f"]
    outcomes, _ = replay_lead(views(3, step=2 * MIN), config("off", filters=(f,)))
    assert [o.filtered_by for o in outcomes] == [None, None, None]
    assert [o.grouped_with for o in outcomes] == [None, None, None]


def test_first_inorganic_filter_wins_and_grouping_follows_it() -> None:
    lenient = InorganicFilter("f_lenient", "page_view", 10, 10 * MIN, True)
    strict = InorganicFilter("f_strict", "page_view", 1, 10 * MIN, False)
    grouping = InorganicFilter("f_group", "page_view", 1, 10 * MIN, True)
    outcomes, _ = replay_lead(views(2), config(filters=(lenient, strict, grouping)))
    assert (outcomes[1].filtered_by, outcomes[1].grouped_with) == ("f_strict", None)
    outcomes, _ = replay_lead(views(2), config(filters=(lenient, grouping, strict)))
    assert (outcomes[1].filtered_by, outcomes[1].grouped_with) == ("f_group", "e0")


def test_filter_for_other_type_does_not_apply() -> None:
    f = InorganicFilter("f", "demo", 0, 10 * MIN, False)
    outcomes, _ = replay_lead(views(2), config(filters=(f,)))
    assert [o.filtered_by for o in outcomes] == [None, None]


def test_lead_scorer_live_usage_with_missing_hits_and_saved_state() -> None:
    f = InorganicFilter("f", "page_view", 0, MIN, True)
    scorer = LeadScorer(config(filters=(f,)), {"rs": 5}, Session(count=2, last_ts=0, started_at=0))
    first = scorer.score(ReplayEvent("x", "page_view", 1_000), {})  # no hit given → (0, None) → 1st > 0
    assert (first.filtered_by, first.grouped_with, first.session_index) == ("f", None, 3)
    other = scorer.score(ReplayEvent("y", "demo", 2_000), {})
    assert other.session_index == 4
    assert other.multiplier == 1.25
    assert [s.delta for s in other.scores] == [13, 0]  # 10 x 1.25 = 12.5 → 13
    assert scorer.scores == {"rs": 18, "rs2": 0}
    assert scorer.session == Session(count=4, last_ts=2_000, started_at=0)


def test_start_scores_and_floor() -> None:
    neg = Ruleset("neg", True, (Rule("u", "unsubscribe", -50),))
    cfg = ScoringConfig((neg,), build_policy("off"), (), allow_negative=False)
    outcomes, scores = replay_lead([ReplayEvent("u1", "unsubscribe", 0)], cfg, {"neg": 20})
    assert [(s.delta, s.before, s.after) for s in outcomes[0].scores] == [(-20, 20, 0)]
    assert scores == {"neg": 0}
    cfg = ScoringConfig((neg,), build_policy("off"), (), allow_negative=True)
    _, scores = replay_lead([ReplayEvent("u1", "unsubscribe", 0)], cfg, {"neg": 20})
    assert scores == {"neg": -30}


def test_window_stats_matches_replay_history() -> None:
    f = InorganicFilter("f", "page_view", 5, 3 * MIN, True)
    history = [(e.ts_ms, e.event_id) for e in views(4)]
    assert window_stats(history, f, 4 * MIN) == (2, "e2")
