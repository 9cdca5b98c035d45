"""How many rows a rescore's next write step may hold.

Ingestion's commits wait behind a write step, so a step should last about as long as a commit may wait; but
each step is a FULL commit of its own, so steps much shorter than that spend the rescore's time on commits. The
budget is learnt from the steps written so far: a step of r rows takes about a + b·r (a commit's fixed cost and
each row's), and scaling the rows by target / observed converges to the r that takes the target time; on a busy
machine the steps shrink, on a quiet one they grow. Pure: the caller measures.
"""

from __future__ import annotations

__all__ = ["WriteBudget"]


class WriteBudget:
    """Rows for the next write step, within [least, most], so that one step takes about `target_ms`."""

    __slots__ = ("least", "most", "rows", "target_ms")

    def __init__(self, target_ms: float, first: int, least: int, most: int) -> None:
        self.target_ms = target_ms
        self.least = least
        self.most = most
        self.rows = first

    def observe(self, rows: int, seconds: float) -> None:
        """A step of `rows` rows took `seconds` (as long as a commit queued behind it waited)."""
        if rows <= 0 or seconds <= 0:
            return
        wanted = rows * self.target_ms / (seconds * 1000)
        # Halfway from the current budget: one step slowed by a checkpoint or a worker batch ahead of it in the
        # writer's queue does not halve the next one.
        self.rows = max(self.least, min(self.most, round((self.rows + wanted) / 2)))
