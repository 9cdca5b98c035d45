"""The server's collector settings (leadvibe/gc_policy.py): what start-up deferred runs, then the freeze."""

from __future__ import annotations

import gc

from leadvibe import gc_policy


def test_deferred_start_up_work_runs_before_the_freeze_and_its_objects_are_frozen() -> None:
    kept: list[object] = []
    seen: dict[str, int] = {}

    def first() -> None:
        seen["frozen_before"] = gc.get_freeze_count()
        kept.append([{"n": i} for i in range(1_000)])  # long-lived objects, as the OpenAPI document is

    thresholds = gc.get_threshold()
    try:
        timer = gc_policy.settle_once_serving(delay=0.0, first=first)
        timer.join(10)
        assert not timer.is_alive()
        assert "frozen_before" in seen
        # The thousand dicts made by `first` (and their list) are among what the freeze moved out of reach.
        assert gc.get_freeze_count() >= seen["frozen_before"] + 1_001
        assert gc.get_threshold() == gc_policy.THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
