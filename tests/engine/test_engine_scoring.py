"""Rule matching, rounding, floor, per-event and decay scoring."""

from __future__ import annotations

import pytest

from leadvibe.engine.scoring import (
    EventScore,
    Rule,
    Ruleset,
    apply_floor,
    decay_scores,
    match,
    round_half_away,
    score_event,
)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0, 0),
        (0.5, 1),
        (-0.5, -1),
        (1.49, 1),
        (1.5, 2),
        (2.5, 3),
        (-2.5, -3),
        (3.5, 4),
        (-3.5, -4),
        (2.4999, 2),
        (1.25 * 2, 3),  # exactly 2.5
        (3 * 1.1, 3),  # 3.3000000000000003
        (5 * 1.1, 6),  # 5.5 with binary noise
        (15 * 1.1, 17),  # 16.5 with binary noise
        (45 * 1.1, 50),  # 49.50000000000001
        (-15 * 1.1, -17),
        (7 * 1.5, 11),  # 10.5
        (2 * 1.25, 3),
        (10 * 1.25, 13),  # 12.5
        (0.1 + 0.2, 0),
        (1e12 + 0.5, 1_000_000_000_001),
    ],
)
def test_round_half_away(x: float, expected: int) -> None:
    assert round_half_away(x) == expected
    assert isinstance(round_half_away(x), int)


@pytest.mark.parametrize("x", [float("nan"), float("inf"), float("-inf")])
def test_round_half_away_rejects_non_finite(x: float) -> None:
    with pytest.raises(ValueError):
        round_half_away(x)


@pytest.mark.parametrize(
    ("before", "delta", "allow_negative", "expected"),
    [
        (10, 5, False, (5, 15)),
        (10, -4, False, (-4, 6)),
        (10, -10, False, (-10, 0)),
        (10, -25, False, (-10, 0)),  # the floor cuts the delta; the applied one is returned
        (0, -5, False, (0, 0)),
        (10, -25, True, (-25, -15)),
        (-10, -5, True, (-5, -15)),
        (-10, 3, False, (10, 0)),  # leftover negative snaps to 0 on the next move
        (-10, -5, False, (10, 0)),
        (-10, 15, False, (15, 5)),
        (-10, 0, False, (0, -10)),  # a zero delta changes nothing
    ],
)
def test_apply_floor(before: int, delta: int, allow_negative: bool, expected: tuple[int, int]) -> None:
    applied, after = apply_floor(before, delta, allow_negative)
    assert (applied, after) == expected
    assert after == before + applied


RULES = Ruleset(
    "rs_main",
    True,
    (
        Rule("r_view", "page_view", 5),
        Rule("r_view2", "Page View", 2),  # raw spelling is normalized at index time
        Rule("r_off", "page_view", 100, active=False),
        Rule("r_window", "page_view", 10, start_at=1_000, end_at=2_000),
        Rule("r_from", "demo", 20, start_at=5_000),
        Rule("r_until", "demo", 7, end_at=5_000),
        Rule("r_neg", "unsubscribe", -30),
    ),
)


def test_match_sums_active_rules_in_window() -> None:
    assert match(RULES, "page_view", 500) == (("r_view", "r_view2"), 7)
    assert match(RULES, "page_view", 1_000) == (("r_view", "r_view2", "r_window"), 17)
    assert match(RULES, "page_view", 1_999) == (("r_view", "r_view2", "r_window"), 17)
    assert match(RULES, "page_view", 2_000) == (("r_view", "r_view2"), 7)
    assert match(RULES, "demo", 4_999) == (("r_until",), 7)
    assert match(RULES, "demo", 5_000) == (("r_from",), 20)
    assert match(RULES, "nothing", 0) == ((), 0)


def test_score_event_surge_applies_to_positive_weights_only() -> None:
    neg = Ruleset("rs_neg", True, (Rule("n", "unsubscribe", -30), Rule("p", "page_view", 3)))
    rows = score_event([RULES, neg], "page_view", 500, 1.25, {"rs_main": 10}, False)
    assert rows == [
        EventScore("rs_main", ("r_view", "r_view2"), 7, 1.25, 9, 10, 19, None),  # 8.75 → 9
        EventScore("rs_neg", ("p",), 3, 1.25, 4, 0, 4, None),  # 3.75 → 4; missing before → 0
    ]
    rows = score_event([neg], "unsubscribe", 500, 1.5, {"rs_neg": 50}, False)
    assert rows == [EventScore("rs_neg", ("n",), -30, 1.0, -30, 50, 20, None)]


def test_score_event_zero_weight_records_multiplier_one() -> None:
    rows = score_event([RULES], "nothing", 0, 1.5, {"rs_main": 4}, False)
    assert rows == [EventScore("rs_main", (), 0, 1.0, 0, 4, 4, None)]


def test_score_event_skips_inactive_rulesets() -> None:
    off = Ruleset("rs_off", False, (Rule("x", "page_view", 1),))
    rows = score_event([off, RULES], "page_view", 0, 1.0, {}, False)
    assert [r.ruleset_id for r in rows] == ["rs_main"]


def test_score_event_floor_cuts_negative_delta() -> None:
    rows = score_event([RULES], "unsubscribe", 0, 1.0, {"rs_main": 12}, False)
    assert rows == [EventScore("rs_main", ("r_neg",), -30, 1.0, -12, 12, 0, None)]
    rows = score_event([RULES], "unsubscribe", 0, 1.0, {"rs_main": 12}, True)
    assert rows == [EventScore("rs_main", ("r_neg",), -30, 1.0, -30, 12, -18, None)]


def test_score_event_inorganic_records_what_was_suppressed() -> None:
    rows = score_event([RULES], "page_view", 1_500, 1.5, {"rs_main": 3}, False, filtered_by="f1")
    assert rows == [EventScore("rs_main", ("r_view", "r_view2", "r_window"), 17, 1.0, 0, 3, 3, "f1")]


def test_decay_scores() -> None:
    other = Ruleset("rs_b", True, ())
    off = Ruleset("rs_off", False, ())
    rows = decay_scores([RULES, other, off], 5, {"rs_main": 12, "rs_b": 3}, False, "decay_7d")
    assert rows == [
        EventScore("rs_main", (), -5, 1.0, -5, 12, 7, None),
        EventScore("rs_b", (), -5, 1.0, -3, 3, 0, None),
    ]
    rows = decay_scores([other], 5, {"rs_b": 3}, True, "decay_7d")
    assert rows == [EventScore("rs_b", (), -5, 1.0, -5, 3, -2, None)]


def test_decay_rejects_negative_decrease() -> None:
    with pytest.raises(ValueError, match="decrease"):
        decay_scores([RULES], -1, {}, False, "d")


def test_ruleset_is_hashable_and_comparable() -> None:
    a = Ruleset("r", True, (Rule("x", "a", 1),))
    b = Ruleset("r", True, (Rule("x", "a", 1),))
    assert a == b
    assert hash(a) == hash(b)
