"""The interpreter's cyclic garbage collector, set for a long-running server.

With the defaults, every full collection walked all the objects start-up built (the framework's routes, the
OpenAPI schema, imported modules): about 90 ms each, 23 of them in one `scripts/bench_ingest.py` run, stopping
the event loop and the writer thread alike, and 3.4 s of collector time in all. Frozen, those objects are never
walked again (they live as long as the process anyway); a larger young generation lets the many short-lived
objects of ingestion and scoring die by reference count before a collection ever looks at them. The server
freezes a few seconds after it starts, not before its first answer: collecting start-up's objects takes ~80 ms.
"""

from __future__ import annotations

import gc
import threading

# Young-generation allocations between collections (the default is 700), then the defaults' ratios stretched.
THRESHOLDS = (10_000, 20, 100)
# The server collects and freezes this long after start: the collection takes ~80 ms, which would otherwise
# delay its first answer (the executable's launch-to-healthy time).
SETTLE_AFTER_S = 3.0


def settle_after_start_up() -> None:
    """Collect once, freeze what survives (start-up's objects) and raise the thresholds: call once a long-running
    process has started (a rescore's replay process once it is ready; the server through `settle_once_serving`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def settle_once_serving(delay: float = SETTLE_AFTER_S) -> threading.Timer:
    """The server's settings: the thresholds now, the collection and freeze `delay` seconds later (on a timer
    thread; by then start-up has finished and the server answers)."""
    gc.set_threshold(*THRESHOLDS)
    timer = threading.Timer(delay, settle_after_start_up)
    timer.name = "leadvibe-gc-settle"
    timer.daemon = True
    timer.start()
    return timer


def frozen_objects() -> int:
    """Objects moved out of the collector's reach by `settle_after_start_up` (0 before it ran)."""
    return gc.get_freeze_count()


def full_collections() -> int:
    """Full (oldest-generation) collections since the process started."""
    return int(gc.get_stats()[2]["collections"])
