"""The interpreter's cyclic garbage collector, set for a long-running server.

With the defaults, every full collection walked all the objects start-up built (the framework's routes, the
OpenAPI schema, imported modules): about 90 ms each, 23 of them in one `scripts/bench_ingest.py` run, stopping
the event loop and the writer thread alike, and 3.4 s of collector time in all. Frozen, those objects are never
walked again (they live as long as the process anyway); a larger young generation lets the many short-lived
objects of ingestion and scoring die by reference count before a collection ever looks at them.
"""

from __future__ import annotations

import gc

# Young-generation allocations between collections (the default is 700), then the defaults' ratios stretched.
THRESHOLDS = (10_000, 20, 100)


def settle_after_start_up() -> None:
    """Collect once, freeze what survives (start-up's objects) and raise the thresholds: call once a long-running
    process has started (the server right before it answers, a rescore's replay process once it is ready)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


def frozen_objects() -> int:
    """Objects moved out of the collector's reach by `settle_after_start_up` (0 before it ran)."""
    return gc.get_freeze_count()


def full_collections() -> int:
    """Full (oldest-generation) collections since the process started."""
    return int(gc.get_stats()[2]["collections"])
