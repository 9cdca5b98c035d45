"""The server's collector settings (leadvibe/gc_policy.py): the thresholds at once, the freeze once it answers."""

from __future__ import annotations

import gc

from leadvibe import gc_policy


def test_start_up_objects_are_frozen_once_the_server_has_settled() -> None:
    # Long-lived objects made at start-up, as the app's routes are (each dict holds a list, so the collector
    # tracks it: a dict of plain numbers is never tracked, and would count only by chance).
    kept = [{"n": [i]} for i in range(1_000)]
    thresholds = gc.get_threshold()
    before = gc.get_freeze_count()
    try:
        timer = gc_policy.settle_once_serving(delay=0.0)
        timer.join(10)
        assert not timer.is_alive()
        # The thousand dicts (and their list) are among what the freeze moved out of the collector's reach.
        assert gc.get_freeze_count() >= before + 1_001
        assert gc.get_threshold() == gc_policy.THRESHOLDS
        assert kept
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        if before:  # the test session had frozen its own start-up (tests/conftest.py): as it was
            gc.freeze()
