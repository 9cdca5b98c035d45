"""Surge policy presets, validation, sessions and multipliers."""

from __future__ import annotations

import pytest

from leadvibe.engine.surge import Band, Session, SurgePolicy, advance_session, build_policy, multiplier_for

EDGES = (1, 2, 3, 5, 6, 100)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("off", (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
        ("standard", (1.0, 1.0, 1.25, 1.25, 1.5, 1.5)),
        ("gentle", (1.0, 1.0, 1.1, 1.1, 1.2, 1.2)),
    ],
)
def test_preset_bands_at_edges(mode: str, expected: tuple[float, ...]) -> None:
    policy = build_policy(mode)
    assert tuple(multiplier_for(policy, n) for n in EDGES) == expected


def test_preset_defaults() -> None:
    standard = build_policy("standard")
    assert standard.bands == (Band(1, 1.0), Band(3, 1.25), Band(6, 1.5))
    assert standard.multiplier_cap == 2.0
    assert standard.idle_reset_seconds == 1800
    gentle = build_policy("gentle")
    assert gentle.bands == (Band(1, 1.0), Band(3, 1.1), Band(6, 1.2))
    assert gentle.multiplier_cap == 1.5
    assert build_policy("off", default_idle_seconds=600).idle_reset_seconds == 600


def test_preset_ignores_sent_bands_but_honours_cap_and_idle() -> None:
    policy = build_policy("standard", [Band(1, 3.0)], idle_reset_seconds=60, multiplier_cap=1.3)
    assert policy.bands == build_policy("standard").bands
    assert policy.idle_reset_seconds == 60
    assert tuple(multiplier_for(policy, n) for n in EDGES) == (1.0, 1.0, 1.25, 1.25, 1.3, 1.3)


def test_custom_bands_sorted_and_capped() -> None:
    policy = build_policy("custom", [Band(10, 5.0), Band(2, 1.5), Band(5, 2.5)], multiplier_cap=2.0)
    assert [b.min_events for b in policy.bands] == [2, 5, 10]
    assert tuple(multiplier_for(policy, n) for n in (1, 2, 4, 5, 9, 10, 100)) == (
        1.0,
        1.5,
        1.5,
        2.0,
        2.0,
        2.0,
        2.0,
    )


def test_custom_default_cap_is_three() -> None:
    policy = build_policy("custom", [Band(1, 5.0)])
    assert policy.multiplier_cap == 3.0
    assert multiplier_for(policy, 1) == 3.0


def test_custom_multiplier_below_one_is_kept() -> None:
    policy = build_policy("custom", [Band(1, 0.5), Band(4, 2.0)])
    assert multiplier_for(policy, 3) == 0.5
    assert multiplier_for(policy, 4) == 2.0


def test_multiplier_for_unsorted_hand_built_policy() -> None:
    policy = SurgePolicy("custom", (Band(6, 1.5), Band(1, 1.0), Band(3, 1.25)), 60, 2.0)
    assert multiplier_for(policy, 4) == 1.25
    assert multiplier_for(policy, 0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mode": "turbo"}, "mode"),
        ({"mode": "custom"}, "bands"),
        ({"mode": "custom", "bands": []}, "bands"),
        ({"mode": "custom", "bands": [Band(0, 1.0)]}, r"bands\[0\].min_events"),
        ({"mode": "custom", "bands": [Band(1, 1.0), Band(1, 2.0)]}, r"bands\[1\].min_events"),
        ({"mode": "custom", "bands": [Band(True, 1.0)]}, r"bands\[0\].min_events"),  # bool is not an int here
        ({"mode": "custom", "bands": [Band(1, 0.0)]}, r"bands\[0\].multiplier"),
        ({"mode": "custom", "bands": [Band(1, -1.0)]}, r"bands\[0\].multiplier"),
        ({"mode": "custom", "bands": [Band(1, float("nan"))]}, r"bands\[0\].multiplier"),
        ({"mode": "standard", "multiplier_cap": 0.99}, "multiplier_cap"),
        ({"mode": "standard", "multiplier_cap": 3.01}, "multiplier_cap"),
        ({"mode": "standard", "multiplier_cap": float("inf")}, "multiplier_cap"),
        ({"mode": "gentle", "idle_reset_seconds": 0}, "idle_reset_seconds"),
        ({"mode": "gentle", "idle_reset_seconds": -5}, "idle_reset_seconds"),
    ],
)
def test_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_policy(**kwargs)  # type: ignore[arg-type]


def test_cap_bounds_inclusive() -> None:
    assert build_policy("standard", multiplier_cap=1).multiplier_cap == 1.0
    assert build_policy("standard", multiplier_cap=3).multiplier_cap == 3.0
    assert build_policy("standard", idle_reset_seconds=1).idle_reset_seconds == 1


def test_cap_one_disables_surge() -> None:
    policy = build_policy("standard", multiplier_cap=1.0)
    assert all(multiplier_for(policy, n) == 1.0 for n in EDGES)


IDLE = 30 * 60 * 1000


def test_session_starts_and_continues() -> None:
    s = advance_session(None, 1_000, IDLE)
    assert s == Session(count=1, last_ts=1_000, started_at=1_000)
    s = advance_session(s, 1_000 + IDLE, IDLE)  # gap exactly the idle time still joins
    assert s == Session(count=2, last_ts=1_000 + IDLE, started_at=1_000)
    s = advance_session(s, 1_000 + 2 * IDLE + 1, IDLE)  # one ms more opens a new session
    assert s == Session(count=1, last_ts=1_000 + 2 * IDLE + 1, started_at=1_000 + 2 * IDLE + 1)


def test_session_late_event_joins_without_moving_last_ts_back() -> None:
    s = Session(count=3, last_ts=10_000_000, started_at=9_000_000)
    late = advance_session(s, 8_500_000, IDLE)
    assert late == Session(count=4, last_ts=10_000_000, started_at=8_500_000)


def test_session_late_event_far_away_opens_new_session() -> None:
    s = Session(count=3, last_ts=10_000_000, started_at=9_000_000)
    late = advance_session(s, 10_000_000 - IDLE - 1, IDLE)
    assert late.count == 1
    # The next on-time event is judged against the late one, in arrival order.
    assert advance_session(late, 10_000_000 + 1, IDLE).count == 1
