"""What `/healthz` says of the scoring worker: whether it runs, and whether it keeps up.

A worker process can run and still score nothing (paused with SIGSTOP, stuck on a lock, swapped out): its process
is alive, events pile up in the inbox. It is *stalled* when an event has waited `worker_stall_s` seconds while no
batch has finished in as long. A worker draining a large backlog finishes a batch every fraction of a second, so
however old its oldest waiting event, it is not stalled; an idle worker that last finished a batch an hour ago is
not stalled by an event that arrived a moment ago.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from leadvibe.pipeline.inbox import oldest_pending_ms


class WorkerHealth(NamedTuple):
    """`state`: `not started`, `alive`, `stopped` or `stalled`; `waiting_s`: how long the oldest unscored event
    has waited, when stalled."""

    state: str
    waiting_s: float | None = None


def may_be_stalled(queue_depth: int, progressed_ms: int, now_ms: int, stall_s: float) -> bool:
    """Whether to look at the inbox at all: events are pending and no batch has finished within `stall_s` (0 turns
    the check off). Decided from memory, so a healthy server's /healthz reads nothing more."""
    return stall_s > 0 and queue_depth > 0 and now_ms - progressed_ms >= stall_s * 1000


async def worker_health(rt: Any) -> WorkerHealth:
    """The worker's state for /healthz (`rt.worker`, in-process or a process of its own)."""
    worker = rt.worker
    if worker is None:
        return WorkerHealth("not started")
    if not worker.alive:
        return WorkerHealth("stopped")
    now = rt.now_ms()
    stall_s = rt.settings.worker_stall_s
    if may_be_stalled(worker.queue_depth, worker.progressed_ms, now, stall_s):
        try:
            oldest = await oldest_pending_ms(rt)
        except Exception:
            # The count in memory says events wait and no batch has finished: without the inbox to say since when
            # (the database is failing, which /healthz reports beside this), that is the answer.
            return WorkerHealth("stalled")
        if oldest is not None and now - oldest >= stall_s * 1000:
            return WorkerHealth("stalled", round((now - oldest) / 1000, 1))
    return WorkerHealth("alive")
