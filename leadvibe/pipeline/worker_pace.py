"""When the worker starts its next batch: at once, or after a short pause that lets a stream of single events
gather into fewer, larger batches.

Under a stream of single-event requests each batch used to hold the ~30 events that one group commit of the
inbox had brought, and cost ~3.6 ms: a third of that was the batch's own set-up and commit, and the next group of
requests waited for it to finish to ride its commit (a writer trace of `bench_request_cpu.py`'s load: one such
batch every 5.5 ms). Starting batches at most every `worker_pace_ms` while events arrive faster than
`worker_pace_rate` per second lets each batch score more events for the same fixed cost, and the inbox's commits
wait behind fewer batches. From a third of that rate a quarter of the pause applies (5 ms from 1,000 events/s with
the defaults): since the inbox has a file of its own, nothing holds the worker back at a moderate rate, and it ran a
batch for every one or two arrivals (2,000 single events/s: ~140 batches/s, a quarter more CPU than when inbox
commits made it wait, and a client sharing the two cores saw 202 -> score p99 of 50-100 ms in a third of its
rounds; with the short pause 23-36 ms; performance.md, fourteenth round). Below that (a few events at a time, the
202 -> score latency the dashboard shows) and while a backlog drains (every batch full anyway), batches start at
once. Pure: the worker passes the clock in.
"""

from __future__ import annotations

# Arrivals are counted over windows of at least this many seconds: a single group commit of 30 events would
# otherwise look like a rate of tens of thousands per second.
RATE_WINDOW_S = 0.05


class ArrivalRate:
    """Events per second committed to the inbox, over the last complete window of at least RATE_WINDOW_S (or the
    current one, once it has run longer than that: arrivals that stop show as a falling rate)."""

    __slots__ = ("_count", "_rate", "_start")

    def __init__(self) -> None:
        self._start: float | None = None
        self._count = 0
        self._rate = 0.0

    def add(self, n: int, now: float) -> None:
        """`n` events were committed at `now` (seconds, monotonic)."""
        if self._start is None:
            self._start = now
        self._count += n
        if now - self._start >= RATE_WINDOW_S:
            self._rate = self._count / (now - self._start)
            self._start, self._count = now, 0

    def per_second(self, now: float) -> float:
        """The rate as of `now`."""
        if self._start is not None and now - self._start >= RATE_WINDOW_S:
            return self._count / (now - self._start)
        return self._rate


def pause_before_batch(now: float, last_start: float, last_full: bool, rate: float, pace_s: float,
                       pace_rate: float) -> float:
    """Seconds to wait before the next batch (0: start it now). `last_start`: when the previous batch started;
    `last_full`: it took as many rows as it fetched (a backlog: no pause); `rate`: events arriving per second;
    `pace_s` (0: never pause) and `pace_rate`: the settings (a quarter of the pace from a third of the rate)."""
    if pace_s <= 0 or last_full or rate < pace_rate / 3:
        return 0.0
    pace = pace_s if rate >= pace_rate else pace_s / 4
    return max(0.0, last_start + pace - now)
