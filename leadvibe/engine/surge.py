"""Surge policy and sessions: how many events in a row a lead has, and what that multiplies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MODES",
    "PRESETS",
    "Band",
    "Session",
    "SurgePolicy",
    "advance_session",
    "build_policy",
    "multiplier_for",
    "multiplier_table",
]

MODES: tuple[str, ...] = ("off", "standard", "gentle", "custom")
CAP_MIN = 1.0
CAP_MAX = 3.0


@dataclass(frozen=True, slots=True)
class Band:
    """From the ``min_events``-th event of a session on, positive weights are multiplied by ``multiplier``."""

    min_events: int
    multiplier: float


@dataclass(frozen=True, slots=True)
class SurgePolicy:
    """A validated surge policy (bands sorted by ``min_events``); build it with :func:`build_policy`."""

    mode: str
    bands: tuple[Band, ...]
    idle_reset_seconds: int
    multiplier_cap: float


# Not frozen: one is built per scored event, and a frozen dataclass's __init__ costs several times a plain one's.
# Treated as immutable all the same (advance_session returns a new one); hashable as a frozen one would be.
@dataclass(slots=True, unsafe_hash=True)
class Session:
    """A lead's current session: events counted so far, latest timestamp seen, earliest timestamp seen."""

    count: int
    last_ts: int
    started_at: int


# (bands, cap) per preset mode (SEMANTICS §4). "off" keeps one neutral band so a saved policy reads sensibly.
PRESETS: dict[str, tuple[tuple[Band, ...], float]] = {
    "off": ((Band(1, 1.0),), 1.0),
    "standard": ((Band(1, 1.0), Band(3, 1.25), Band(6, 1.5)), 2.0),
    "gentle": ((Band(1, 1.0), Band(3, 1.1), Band(6, 1.2)), 1.5),
}


def _is_int(value: object) -> bool:
    # bool is an int subclass; `true` from JSON must not pass as 1.
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    # NaN and infinities would make every comparison below false, so they are refused outright.
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _validate_bands(bands: Sequence[Band]) -> tuple[Band, ...]:
    if not bands:
        raise ValueError("bands: custom mode needs at least one band")
    seen: set[int] = set()
    for i, band in enumerate(bands):
        if not _is_int(band.min_events) or band.min_events < 1:
            raise ValueError(f"bands[{i}].min_events must be an integer >= 1")
        if band.min_events in seen:
            raise ValueError(f"bands[{i}].min_events {band.min_events} is used by another band")
        seen.add(band.min_events)
        if not _is_number(band.multiplier) or band.multiplier <= 0:
            raise ValueError(f"bands[{i}].multiplier must be a number > 0")
    return tuple(sorted((Band(b.min_events, float(b.multiplier)) for b in bands), key=lambda b: b.min_events))


def build_policy(
    mode: str,
    bands: Sequence[Band] | None = None,
    idle_reset_seconds: int | None = None,
    multiplier_cap: float | None = None,
    *,
    default_idle_seconds: int = 1800,
) -> SurgePolicy:
    """Validate a surge policy and fill in what is missing.

    ``mode`` is one of ``off``, ``standard``, ``gentle``, ``custom``. A preset mode always uses its preset
    bands (bands sent along with it are ignored, so switching the mode in a form that still holds the old
    bands does what the mode's name says); its cap is the preset's unless ``multiplier_cap`` is given.
    ``custom`` needs at least one band, ``min_events`` >= 1 and unique, ``multiplier`` > 0; its cap defaults
    to 3. ``multiplier_cap`` must lie in [1, 3]; ``idle_reset_seconds`` >= 1, defaulting to
    ``default_idle_seconds``. Raises ``ValueError`` naming the offending field.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "custom":
        checked = _validate_bands(bands or ())
        preset_cap = CAP_MAX
    else:
        checked, preset_cap = PRESETS[mode]
    cap = preset_cap if multiplier_cap is None else multiplier_cap
    if not _is_number(cap) or not CAP_MIN <= cap <= CAP_MAX:
        raise ValueError(f"`multiplier_cap` must be a number between {CAP_MIN:g} and {CAP_MAX:g}")
    idle = default_idle_seconds if idle_reset_seconds is None else idle_reset_seconds
    if not _is_int(idle) or idle < 1:
        raise ValueError("`idle_reset_seconds` must be an integer >= 1")
    return SurgePolicy(mode=mode, bands=checked, idle_reset_seconds=idle, multiplier_cap=float(cap))


def advance_session(session: Session | None, ts_ms: int, idle_reset_ms: int) -> Session:
    """Return the session after one more event at ``ts_ms``.

    The event joins the current session when ``|ts_ms - session.last_ts| <= idle_reset_ms``; otherwise (or
    with no session yet) it opens a new one with count 1. Events are taken in arrival order, which may differ
    from timestamp order: a late event close to the session's latest timestamp still joins it, and joining
    never moves ``last_ts`` backwards (it is the latest timestamp seen, ``started_at`` the earliest). A late
    event far from the session opens a new session at its own timestamp, so the next on-time event usually
    opens another: the rule depends only on arrival order, which live scoring and replays share.
    """
    if session is not None and abs(ts_ms - session.last_ts) <= idle_reset_ms:
        return Session(
            count=session.count + 1,
            last_ts=max(session.last_ts, ts_ms),
            started_at=min(session.started_at, ts_ms),
        )
    return Session(count=1, last_ts=ts_ms, started_at=ts_ms)


def multiplier_table(policy: SurgePolicy, limit: int = 256) -> tuple[tuple[float, ...], float | None]:
    """Multipliers by session position, for scorers that look them up instead of asking :func:`multiplier_for`:
    ``(table, tail)`` where ``table[n]`` is the multiplier of position ``n`` for ``1 <= n < len(table)`` (index 0
    unused) and ``tail`` the one of every later position, or None when a band starts past ``limit`` positions
    (later positions must then be asked of :func:`multiplier_for`)."""
    top = max((b.min_events for b in policy.bands), default=1)
    table = (1.0, *(multiplier_for(policy, n) for n in range(1, min(top, limit) + 1)))
    return table, table[-1] if top <= limit else None


def multiplier_for(policy: SurgePolicy, n: int) -> float:
    """Multiplier of the ``n``-th event of a session.

    The band with the greatest ``min_events`` <= ``n`` (1.0 when no band qualifies), capped at
    ``multiplier_cap``; always 1.0 in mode ``off``.
    """
    if policy.mode == "off":
        return 1.0
    # No reliance on band order: a policy built by hand (tests, backtests) need not be sorted.
    best: Band | None = None
    for band in policy.bands:
        if band.min_events <= n and (best is None or band.min_events > best.min_events):
            best = band
    return min(1.0 if best is None else best.multiplier, policy.multiplier_cap)
