"""When the worker starts its next batch (`pipeline/worker_pace.py`): paced only while single events stream in
faster than the setting's rate and no backlog is waiting."""

from __future__ import annotations

import pytest

from leadvibe.config import load_settings
from leadvibe.pipeline.worker_pace import RATE_WINDOW_S, ArrivalRate, pause_before_batch


def test_the_rate_is_counted_over_windows_not_one_group_commit() -> None:
    rate = ArrivalRate()
    assert rate.per_second(0.0) == 0.0
    rate.add(30, 1.0)  # one group commit: no rate from a single instant
    assert rate.per_second(1.001) == 0.0
    # 6,000 events/s in groups of 30 every 5 ms for 0.2 s
    t = 1.0
    for _ in range(40):
        t += 0.005
        rate.add(30, t)
    assert rate.per_second(t) == pytest.approx(6000, rel=0.15)
    # the stream stops: once the open window has run a window's length, the rate falls with it
    assert rate.per_second(t + 0.001) == pytest.approx(6000, rel=0.15)
    assert rate.per_second(t + 10 * RATE_WINDOW_S) < 600


def test_a_steady_trickle_is_measured_as_such() -> None:
    rate = ArrivalRate()
    t = 0.0
    for _ in range(400):  # 2,000 events/s, one at a time
        t += 0.0005
        rate.add(1, t)
    assert rate.per_second(t) == pytest.approx(2000, rel=0.1)


@pytest.mark.parametrize("now,last_full,rate,pace_s,expected", [
    (10.005, False, 6000.0, 0.020, 0.015),  # streaming fast: wait out the pace from the last start
    (10.025, False, 6000.0, 0.020, 0.0),    # the pace has passed already
    (10.002, False, 2000.0, 0.020, 0.003),  # from a third of the rate: a quarter of the pace
    (10.006, False, 2000.0, 0.020, 0.0),    # ... which has passed already
    (10.002, False, 900.0, 0.020, 0.0),     # below a third of the rate: at once
    (10.005, True, 6000.0, 0.020, 0.0),     # the last batch was full (a backlog): at once
    (10.005, False, 6000.0, 0.0, 0.0),      # pacing off
])
def test_pause_before_batch(now: float, last_full: bool, rate: float, pace_s: float, expected: float) -> None:
    assert pause_before_batch(now, 10.0, last_full, rate, pace_s, 3000.0) == pytest.approx(expected)


def test_the_first_batch_never_waits() -> None:
    assert pause_before_batch(0.0, float("-inf"), False, 1e9, 0.020, 3000.0) == 0.0


@pytest.mark.parametrize("name", ["LEADVIBE_WORKER_PACE_MS", "LEADVIBE_WORKER_PACE_RATE"])
def test_negative_pace_settings_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="must be 0 or more"):
        load_settings({}, env={name: "-1"})
