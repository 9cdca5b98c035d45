"""Levels: named score bands (engagement, profile, account)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Level", "level_for", "named", "same_name", "score_ranges", "validate_band"]


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
        raise ValueError(f"`min_score` ({min_score}) must not be greater than `max_score` ({max_score})")


def same_name(a: str, b: str) -> bool:
    """Whether two level names are the same to a filter that names a level (trimmed, any case): a kind's names
    are unique by this rule."""
    return a.strip().lower() == b.strip().lower()


def named(levels: Sequence[Level], ref: str) -> Level | None:
    """The level a filter names by its id or its name (``same_name``); ``None`` when none is."""
    for level in levels:
        if level.level_id == ref.strip() or same_name(level.name, ref):
            return level
    return None


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


def score_ranges(levels: Sequence[Level], level: Level) -> list[tuple[int, int]]:
    """The inclusive score intervals whose level (by ``level_for``) is ``level``: its band minus the bands that
    win over it on overlap. Lets a "level = X" filter be written as score ranges over an indexed score."""
    parts = [(level.min_score, level.max_score)]
    for other in levels:
        if (other.min_score, other.level_id) >= (level.min_score, level.level_id):
            continue  # only bands with a lower min_score (then id) take scores away from this one
        cut: list[tuple[int, int]] = []
        for lo, hi in parts:
            if other.max_score < lo or other.min_score > hi:
                cut.append((lo, hi))
                continue
            if lo < other.min_score:
                cut.append((lo, other.min_score - 1))
            if hi > other.max_score:
                cut.append((other.max_score + 1, hi))
        parts = cut
    return parts
