"""Inorganic filter windows and level bands."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.filters import (
    InorganicFilter,
    filters_for,
    fires,
    first_in_window,
    is_inorganic,
    window_stats,
)
from leadvibe.engine.levels import Level, level_for, validate_band

F = InorganicFilter("f1", "page_view", count_threshold=2, time_window_ms=1_000, group_events=True)


def test_filters_for_matches_normalized_type() -> None:
    g = InorganicFilter("f2", "Page View", 5, 10, False)
    h = InorganicFilter("f3", "demo", 5, 10, False)
    assert filters_for([F, g, h], "page_view") == (F, g)
    assert filters_for([F, g, h], "other") == ()


@pytest.mark.parametrize(("prior", "expected"), [(0, False), (1, False), (2, True), (10, True)])
def test_is_inorganic_threshold(prior: int, expected: bool) -> None:
    assert is_inorganic(F, prior) is expected


def test_threshold_zero_makes_every_event_inorganic() -> None:
    assert is_inorganic(InorganicFilter("z", "x", 0, 1_000, False), 0)


def test_window_is_trailing_and_half_open() -> None:
    history = [
        (4_000, "e_at_low_bound"),
        (4_001, "e_first_inside"),
        (5_000, "e_same_ts"),
        (5_001, "e_future"),
    ]
    # window (4000, 5000]: excludes ts-window, includes ts, excludes later timestamps that arrived earlier
    assert window_stats(history, F, 5_000) == (2, "e_first_inside")


def test_window_first_is_by_arrival_order() -> None:
    history = [(4_900, "late_ts_first_arrival"), (4_500, "earlier_ts_second_arrival")]
    assert window_stats(history, F, 5_000) == (2, "late_ts_first_arrival")


def test_window_empty() -> None:
    assert window_stats([], F, 5_000) == (0, None)
    assert window_stats([(1, "old")], F, 5_000) == (0, None)
    zero = InorganicFilter("z", "page_view", 1, 0, False)
    assert window_stats([(5_000, "same")], zero, 5_000) == (0, None)


LEVELS = [
    Level("lv_b", "Warm", 10, 49),
    Level("lv_a", "Cold", 0, 9),
    Level("lv_c", "Hot", 50, 1_000),
    Level("lv_overlap", "Hot-ish", 40, 60),
    Level("lv_a2", "Also cold", 0, 5),
]


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0, "lv_a"),  # lv_a and lv_a2 tie on min_score 0 → lowest level_id
        (5, "lv_a"),
        (9, "lv_a"),
        (10, "lv_b"),
        (45, "lv_b"),  # lv_b (10) beats lv_overlap (40)
        (49, "lv_b"),
        (50, "lv_overlap"),  # lv_overlap (40) beats lv_c (50)
        (60, "lv_overlap"),
        (61, "lv_c"),
        (1_000, "lv_c"),
    ],
)
def test_level_for(score: int, expected: str) -> None:
    level = level_for(LEVELS, score)
    assert level is not None
    assert level.level_id == expected


@pytest.mark.parametrize("score", [-1, 1_001])
def test_level_for_none(score: int) -> None:
    assert level_for(LEVELS, score) is None
    assert level_for([], 0) is None


def test_validate_band() -> None:
    validate_band(0, 0)
    validate_band(-5, 10)
    with pytest.raises(ValueError, match="min_score"):
        validate_band(11, 10)


# Small ranges, so that timestamps fall on the window's edges and counts on the threshold often.
@given(st.lists(st.integers(-8, 8), max_size=20), st.integers(0, 5), st.integers(0, 8), st.integers(-8, 8),
       st.booleans())
def test_fires_and_first_in_window_answer_as_the_whole_window_does(stamps: list[int], threshold: int, window: int,
                                                                   ts: int, group: bool) -> None:
    history = [(at, f"e{i}") for i, at in enumerate(stamps)]
    f = InorganicFilter("f", "page_view", threshold, window, group)
    count, first = window_stats(history, f, ts)
    assert fires(history, f, ts) == is_inorganic(f, count)
    assert first_in_window(history, f, ts) == first
