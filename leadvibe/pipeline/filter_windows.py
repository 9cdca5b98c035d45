"""A lead's events of a grouping-filtered type held in memory by time, within a worker batch and across batches.

An event of a type with a grouping inorganic filter needs how many of its lead's earlier events of the type lie in
the filter's window and the first of them to arrive (`engine.filters.window_stats`). Counted in SQL, that walks
the whole window for every event: in a sustained burst, or where many leads each send dozens of the type an hour,
the walk was a quarter of the worker's time. Once a lead has sent `HOLD_AFTER` events of the type, the worker
reads the window's stored events once and answers from memory by bisection (`ByTime`).

Within one batch that is `BatchProcessor.stored`. Across batches a `WindowHold` keeps those windows and adds each
committed batch's own events to them, for as long as nothing but the worker's own batches changed the stored
events: every batch checks, inside its transaction, that the next arrival position is where its last batch
ended (no one else inserted an event: a decay pass's DECAY rows move it too, which only costs a re-read) and that
the `events_epoch` counter (migration 0056: raised by every delete of an event and every change of its lead, type,
time, scope or decay) has not moved; otherwise the hold starts empty.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

# A lead's stored window of a grouping-filtered type is read and held from its this-many-th event of the type
# (counted across the worker's batches while they are held): reading the window's rows into Python costs about
# twenty counts of them in SQL (an index walk in C), so holding them pays only in a burst (measured: held from the
# second event, a drain whose leads each sent two events per batch against windows of hundreds lost a fifth of
# its rate).
HOLD_AFTER = 16
# Beyond these the hold is emptied (memory: ~70 bytes an event held), or its counts of keys not held yet.
MAX_HELD_EVENTS = 250_000
MAX_KEYS = 100_000
# A held window drops the events before the oldest start its filters ask for once that many lie there.
_TRIM_AFTER = 64

WindowKey = tuple[str, str, str]  # (unit_id, lead_id, type_key)


class ByTime:
    """Events of one lead and type sorted by occurred_at, with their arrival positions (seq): how many lie in a
    time range and the first of them to arrive, in logarithmic time while the positions rise with the times (a
    burst sent in time order), in one C-level pass over the range otherwise."""

    __slots__ = ("seq_ordered", "seqs", "times")

    def __init__(self, rows: list[tuple[int, int]]) -> None:
        self.times = [ts for ts, _ in rows]
        self.seqs = [seq for _, seq in rows]
        self.seq_ordered = all(a < b for a, b in zip(self.seqs, self.seqs[1:], strict=False))

    def add(self, ts: int, seq: int) -> None:
        """One more event, arrived after every one held."""
        i = bisect_right(self.times, ts)
        if i < len(self.times):
            self.seq_ordered = False
        self.times.insert(i, ts)
        self.seqs.insert(i, seq)

    def in_range(self, start_excl: int, end_incl: int) -> tuple[int, int | None]:
        """(count, first seq) of the events with occurred_at in (start, end]."""
        i = bisect_right(self.times, start_excl)
        j = bisect_right(self.times, end_incl)
        if i >= j:
            return 0, None
        return j - i, self.seqs[i] if self.seq_ordered else min(self.seqs[i:j])

    def drop_through(self, ts: int) -> bool:
        """Forget the events with occurred_at <= ts when there are enough of them to be worth a copy; True if it
        did."""
        i = bisect_right(self.times, ts)
        if i < _TRIM_AFTER:
            return False
        del self.times[:i]
        del self.seqs[:i]
        return True


@dataclass
class HeldNews:
    """What a finished batch hands its worker's hold: its own events of grouping-filtered types by window, the
    `events_epoch` when it began and when it ended, and the next arrival position after it."""

    windows: dict[WindowKey, ByTime]
    epoch_at_start: int
    epoch_at_end: int
    next_seq: int


class WindowHold:
    """Grouping-filter windows a worker keeps across its batches (see the module's docstring)."""

    def __init__(self) -> None:
        # (start of what was read, exclusive; the stored events from there on): BatchProcessor.stored's entries.
        self.windows: dict[WindowKey, tuple[int, ByTime]] = {}
        # Events of each key not held yet that committed batches stored: a key is held once it reaches HOLD_AFTER.
        self.seen: dict[WindowKey, int] = {}
        self._epoch: int | None = None
        self._next_seq: int | None = None

    def begin(self, epoch: int, next_seq: int) -> None:
        """At the start of a batch, inside its transaction: keep what is held only if the stored events are the
        ones the last committed batch left."""
        if epoch != self._epoch or next_seq != self._next_seq:
            self.clear()

    def committed(self, news: HeldNews | None) -> None:
        """After a batch committed: its own events join the windows held (they are stored now). None: a batch
        that ran without the hold (it found nothing, or ran event by event); the next one's `begin` decides."""
        if news is None:
            return
        if news.epoch_at_end != news.epoch_at_start:
            # Events were deleted or moved inside the batch's own transaction (nothing a batch does today: it follows
            # merges, it does not make them): nothing held can be trusted.
            self.clear()
            return
        windows, seen = self.windows, self.seen
        for key, batch in news.windows.items():
            held = windows.get(key)
            if held is not None:
                start, window = held
                for seq, ts in sorted(zip(batch.seqs, batch.times, strict=True)):  # in arrival order, as `add` needs
                    # One at or before where the held window starts is not held: a window reaching back there
                    # reads that stretch from the table, this event with it.
                    if ts > start:
                        window.add(ts, seq)
            else:
                seen[key] = seen.get(key, 0) + len(batch.times)
        if len(seen) > MAX_KEYS:
            seen.clear()  # many leads with a few events each: counting starts again, what is held stays
        if len(windows) > MAX_KEYS or sum(len(w.times) for _, w in windows.values()) > MAX_HELD_EVENTS:
            self.clear()
            return
        self._epoch, self._next_seq = news.epoch_at_end, news.next_seq

    def clear(self) -> None:
        """Forget everything (the next batch counts in SQL until keys are held again)."""
        self.windows.clear()
        self.seen.clear()
        self._epoch = self._next_seq = None
