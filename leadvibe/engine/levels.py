"""Levels: named score bands (engagement, profile, account)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Level", "level_for", "validate_band"]


@dataclass(frozen=True, slots=True)
class Level:
    """A named, inclusive band ``[min_score, max_score]``."""

    level_id: str
    name: str
    min_score: int
    max_score: int


def validate_band(min_score: int, max_score: int) -> None:
    """Raise ``ValueError`` when ``min_score > max_score`` (a band equal at both ends is one score wide)."""
    if min_score > max_score:
        raise ValueError(f"min_score ({min_score}) must not be greater than max_score ({max_score})")


def level_for(levels: Sequence[Level], score: int) -> Level | None:
    """The level whose band holds ``score``; on overlap the lowest ``min_score`` wins, then the lowest
    ``level_id``. ``None`` when no band holds it."""
    best: Level | None = None
    for level in levels:
        if level.min_score <= score <= level.max_score and (
            best is None or (level.min_score, level.level_id) < (best.min_score, best.level_id)
        ):
            best = level
    return best
