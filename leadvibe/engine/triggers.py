"""Trigger evaluation: milestone, sequence, pattern/frequency and surge triggers (SEMANTICS §8).

Pure: plain data in, decisions out. Times are int milliseconds since the Unix epoch and are always passed
in; no clock is read here. The live worker (inside its write transaction), the ``simulate`` endpoints and
the tests call the same step functions, so a simulation agrees with live firing by construction.

Conventions shared by every trigger:

- Event types are compared by their normalized key (``leadvibe.engine.normalize.type_key``). The caller
  normalizes both the trigger's configured types and the events' types; this module only compares keys.
- A lead's history is a sequence of ``HistEvent`` in **arrival order** with the event being processed
  **last**. Windows are measured on event timestamps and are **closed at both ends**: an event exactly
  ``window`` ms before the current one is inside ``[now - window, now]``. Events timestamped after ``now``
  (possible when events arrive out of order) are outside the window that ends at the current event.
- The caller decides which stored events belong in the history. The worker should leave out ``DECAY``
  events and events marked inorganic by a filter (they "fire no triggers", so they should not complete one
  either), and only call a step function for an event that may fire (scope ``activate``, not
  ``skip_triggers``).
- Each step function is **history-trim invariant**: passing only the events with
  ``ts >= current.ts - history_horizon_ms(triggers)`` (plus the current event) gives the same answer as
  passing the lead's full history. That is what lets the worker load a bounded history per lead; a property
  test pins it.
- States are small immutable values the worker stores per ``(trigger, lead)``; a lead without a stored state
  starts from ``initial_state(trigger)``.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

__all__ = [
    "FIRED_KEPT",
    "FIRE_MODES",
    "WINDOW_UNITS",
    "Fired",
    "Firing",
    "HistEvent",
    "Milestone",
    "PatternTrigger",
    "ScoredEvent",
    "SequenceState",
    "SequenceTrigger",
    "SimulationResult",
    "SurgeTrigger",
    "WindowTrigger",
    "history_horizon_ms",
    "initial_state",
    "milestone_rearm",
    "milestone_step",
    "pattern_step",
    "sequence_step",
    "simulate",
    "simulate_milestone",
    "step",
    "surge_step",
    "window_ms",
]

WINDOW_UNITS: dict[str, int] = {
    "seconds": 1_000,
    "minutes": 60_000,
    "hours": 3_600_000,
    "days": 86_400_000,
}
FIRE_MODES: tuple[str, ...] = ("once", "every")


def window_ms(amount: int, unit: str | None = "seconds") -> int:
    """Length of a trigger window in milliseconds.

    The API's ``window_seconds`` field is the window's **amount** and ``window_unit`` its unit (default
    ``seconds``), despite the field name: ``window_seconds=10, window_unit="minutes"`` is ten minutes
    (600 000 ms). Units: ``seconds``, ``minutes``, ``hours``, ``days`` (any case; ``None``/``""`` mean
    seconds). Raises ``ValueError`` for an amount below 1 (or not an integer) or an unknown unit.
    """
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError(f"window amount must be an integer >= 1, got {amount!r}")
    key = (unit or "seconds").strip().lower()
    if key not in WINDOW_UNITS:
        raise ValueError(f"unknown window unit {unit!r}; expected one of: {', '.join(WINDOW_UNITS)}")
    return amount * WINDOW_UNITS[key]


@dataclass(frozen=True, slots=True)
class HistEvent:
    """One event of a lead's history: its id, normalized type key and timestamp (ms since the epoch)."""

    event_id: str
    type_key: str
    ts_ms: int


def _check_window(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`window_ms` must be an integer >= 1, got {value!r}")


# ------------------------------------------------------------------------------------------- milestone


@dataclass(frozen=True, slots=True)
class Milestone:
    """Fires when a lead's primary score reaches ``threshold``; ``type_key`` None (or ``""``) means any type.

    State per (trigger, lead): ``armed: bool``, initially ``True``.
    """

    trigger_id: str
    type_key: str | None
    threshold: int

    def __post_init__(self) -> None:
        # "" arrives from the API for "any type"; one spelling of "any" keeps comparisons simple.
        object.__setattr__(self, "type_key", self.type_key or None)


def milestone_step(
    m: Milestone, armed: bool, type_key: str, score_after: int, *, can_fire: bool = True
) -> tuple[bool, bool]:
    """Process one event of a lead for a milestone trigger; returns ``(fire, armed_after)``.

    ``score_after`` is the lead's primary score after this event was scored. It fires when the trigger is
    armed, the event's type matches (or the trigger has no type) and ``score_after >= threshold``; firing
    disarms it, so it fires once per lead. Any event — of any type, fired or not — that leaves the score
    below the threshold re-arms it, so a later crossing fires again.

    Call it for **every** scored event of the lead, including ones that may not fire (``DECAY`` events, scopes
    ``decide``, imports with ``skip_triggers``, inorganic events): pass ``can_fire=False`` for those, so a
    drop below the threshold still re-arms. Such events never disarm: if the score crossed during a
    suppressed event, the lead's next eligible event of the type fires while the score is still at or above
    the threshold.
    """
    if score_after < m.threshold:
        return False, True
    if armed and can_fire and (m.type_key is None or type_key == m.type_key):
        return True, False
    return False, armed


def milestone_rearm(m: Milestone, armed: bool, score_after: int) -> bool:
    """``armed_after`` for an event that cannot fire (e.g. a ``DECAY`` event): re-armed when below threshold.

    Equivalent to ``milestone_step(m, armed, "", score_after, can_fire=False)[1]``.
    """
    return armed or score_after < m.threshold


# -------------------------------------------------------------------------------------------- sequence


@dataclass(frozen=True, slots=True)
class SequenceTrigger:
    """Fires when a lead's events contain every step within one window ending at the completing event.

    ``steps`` are normalized type keys; a repeated key must occur that many times (``(a, a, b)`` needs two
    ``a``). ``ordered``: the steps must occur as a subsequence in arrival order and the completing event is
    the last step. ``fire_mode``: ``once`` per lead, or ``every`` new completion (see ``sequence_step``).
    """

    trigger_id: str
    steps: tuple[str, ...]
    window_ms: int
    ordered: bool = True
    fire_mode: Literal["once", "every"] = "once"

    def __post_init__(self) -> None:
        steps = tuple(self.steps)
        if not steps or any(not isinstance(s, str) or not s for s in steps):
            raise ValueError("a sequence needs at least one step, each a non-empty event type")
        object.__setattr__(self, "steps", steps)
        _check_window(self.window_ms)
        mode = str(self.fire_mode).strip().lower()
        if mode not in FIRE_MODES:
            raise ValueError(
                f"unknown fire_mode {self.fire_mode!r}; expected one of: {', '.join(FIRE_MODES)}"
            )
        object.__setattr__(self, "fire_mode", mode)


@dataclass(frozen=True, slots=True)
class SequenceState:
    """Per (sequence trigger, lead): the event that completed the sequence last, if any.

    Both fields are kept so "after the previous completion" is exact even when several events share a
    millisecond: later timestamps count, and so do same-millisecond events that arrived after the
    completing one.
    """

    last_completion_ts: int | None = None
    last_completion_event_id: str | None = None

    @property
    def fired_once(self) -> bool:
        """Whether the sequence has completed (and so fired) for this lead at least once."""
        return self.last_completion_ts is not None


def _usable_after(history: Seq[HistEvent], state: SequenceState) -> list[bool]:
    """For each event, whether it came after the previous completion's completing event.

    By timestamp (which keeps the rule trim-invariant: the worker may drop old events) with arrival order
    as the tie-break inside the completing millisecond.
    """
    last_ts = state.last_completion_ts
    if last_ts is None:
        return [True] * len(history)
    cut = -1
    for index, event in enumerate(history):
        if event.event_id == state.last_completion_event_id and event.ts_ms == last_ts:
            cut = index
    return [e.ts_ms > last_ts or (e.ts_ms == last_ts and i > cut) for i, e in enumerate(history)]


def _is_subsequence(needle: Seq[str], haystack: Iterable[str]) -> bool:
    # Greedy earliest matching is optimal for subsequence tests, repeated items included.
    remaining = iter(haystack)
    return all(any(item == want for item in remaining) for want in needle)


def sequence_step(
    t: SequenceTrigger, history: Seq[HistEvent], state: SequenceState
) -> tuple[bool, SequenceState]:
    """Whether the current event (``history[-1]``) completes the sequence; returns ``(fire, state_after)``.

    Candidates are the events that arrived up to the current one, with ``ts`` in ``[current.ts - window,
    current.ts]``. ``ordered``: the current event is the last step and the other steps occur, in order,
    among the earlier candidates. Unordered: the current event is one of the steps and the candidates
    contain every step (with multiplicity). ``once``: after the first completion the trigger never fires
    again for the lead. ``every``: it fires again on each *new* completion, built only from events after
    the previous completion's completing event (so A→B→C→A→B→C fires twice, and A→B→C→C does not fire on
    the second C).
    """
    if not history:
        return False, state
    if t.fire_mode == "once" and state.fired_once:
        return False, state
    current = history[-1]
    if current.type_key not in t.steps or (t.ordered and current.type_key != t.steps[-1]):
        return False, state
    usable = _usable_after(history, state) if t.fire_mode == "every" else [True] * len(history)
    if not usable[-1]:
        # A late event timestamped before the last completion cannot start a new one.
        return False, state
    start = current.ts_ms - t.window_ms
    earlier = [
        e.type_key
        for e, ok in zip(history[:-1], usable[:-1], strict=True)
        if ok and start <= e.ts_ms <= current.ts_ms
    ]
    if t.ordered:
        complete = _is_subsequence(t.steps[:-1], earlier)
    else:
        have = Counter(earlier)
        have[current.type_key] += 1
        complete = all(have[key] >= need for key, need in Counter(t.steps).items())
    if not complete:
        return False, state
    return True, SequenceState(last_completion_ts=current.ts_ms, last_completion_event_id=current.event_id)


# ------------------------------------------------------------------------------------------ pattern and surge


@dataclass(frozen=True, slots=True)
class PatternTrigger:
    """Fires when every condition's type has at least ``min_count`` events within the trailing window.

    ``conditions``: ``((type_key, min_count), ...)``, non-empty, every ``min_count >= 1``. State per (trigger,
    lead): the timestamp of the last firing, ``int | None``.
    """

    trigger_id: str
    conditions: tuple[tuple[str, int], ...]
    window_ms: int

    def __post_init__(self) -> None:
        conditions = tuple((key, count) for key, count in self.conditions)
        if not conditions:
            raise ValueError("a pattern trigger needs at least one condition")
        for key, count in conditions:
            if not isinstance(key, str) or not key:
                raise ValueError("every pattern condition needs a non-empty event type")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ValueError(f"`min_count` must be an integer >= 1, got {count!r} for {key!r}")
        object.__setattr__(self, "conditions", conditions)
        _check_window(self.window_ms)


@dataclass(frozen=True, slots=True)
class SurgeTrigger:
    """Fires when the lead has ``threshold_count`` or more events (of ``type_key``, or of any type when
    None/``""``) within the trailing window. State per (trigger, lead): the timestamp of the last firing,
    ``int | None``.
    """

    trigger_id: str
    type_key: str | None
    window_ms: int
    threshold_count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "type_key", self.type_key or None)
        _check_window(self.window_ms)
        count = self.threshold_count
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"`threshold_count` must be an integer >= 1, got {count!r}")


def _window_counts(history: Seq[HistEvent], start: int, end: int) -> Counter[str]:
    return Counter(e.type_key for e in history if start <= e.ts_ms <= end)


# The firing times a pattern or surge trigger keeps per lead (the latest by event time): what "at most once per
# lead per window" is checked against on either side of an event, late ones included.
FIRED_KEPT = 64

Fired = tuple[int, ...]
"""A pattern or surge trigger's state for one lead: its firings' event times, ascending, at most FIRED_KEPT."""


def _cooled_down(fired: Fired, now_ts: int, window: int) -> bool:
    # "At most once per lead per window", windows measured on event timestamps: a firing blocks another whose
    # window would overlap its own, on either side. Events may arrive out of time order: a burst sent late, from
    # hours before the last firing, fires for its own window, and a firing dated ahead (up to a day is accepted)
    # does not mute the bursts of the present; each is checked against the nearest firing on each side, so the
    # late burst's firing does not free the present's window again. Windows are closed at both ends, so one exactly
    # a window after a firing still shares that firing's instant (and its events): it must be further away.
    i = bisect.bisect_left(fired, now_ts - window)
    return i == len(fired) or fired[i] > now_ts + window


def _with_firing(fired: Fired, now_ts: int) -> Fired:
    i = bisect.bisect_right(fired, now_ts)
    return (*fired[:i], now_ts, *fired[i:])[-FIRED_KEPT:]


def pattern_step(
    t: PatternTrigger, history: Seq[HistEvent], fired: Fired, now_ts: int
) -> tuple[bool, Fired]:
    """Whether the pattern fires on the current event (``history[-1]``).

    Returns ``(fire, fired_after)``.

    ``now_ts`` is the current event's timestamp (not the wall clock, so replays and simulations agree with
    live processing). Fires when every condition holds within ``[now - window, now]``, the current event is
    of one of the conditions' types (the firing is attributed to an event that is part of the pattern,
    never to an unrelated one), and every earlier firing is more than a window away (``|now - fired| > window``:
    windows are closed at both ends; either side, so that events sent out of time order fire for their own window).
    """
    if not history or not _cooled_down(fired, now_ts, t.window_ms):
        return False, fired
    if history[-1].type_key not in {key for key, _ in t.conditions}:
        return False, fired
    counts = _window_counts(history, now_ts - t.window_ms, now_ts)
    if all(counts[key] >= need for key, need in t.conditions):
        return True, _with_firing(fired, now_ts)
    return False, fired


def surge_step(
    t: SurgeTrigger, history: Seq[HistEvent], fired: Fired, now_ts: int
) -> tuple[bool, Fired]:
    """Whether the surge trigger fires on the current event; returns ``(fire, fired_after)``.

    Fires when the current event counts (its type matches, or the trigger has none), at least
    ``threshold_count`` counted events lie within ``[now - window, now]`` (the current one included), and
    the trigger's firings for this lead are all more than a window away (either side) — so a sustained burst fires
    once per window, not on every event. ``now_ts`` is the current event's timestamp.
    """
    if not history or not _cooled_down(fired, now_ts, t.window_ms):
        return False, fired
    if t.type_key is not None and history[-1].type_key != t.type_key:
        return False, fired
    start = now_ts - t.window_ms
    count = sum(
        1 for e in history if start <= e.ts_ms <= now_ts and (t.type_key is None or e.type_key == t.type_key)
    )
    if count >= t.threshold_count:
        return True, _with_firing(fired, now_ts)
    return False, fired


# ------------------------------------------------------------------------------------------- shared plumbing

WindowTrigger = SequenceTrigger | PatternTrigger | SurgeTrigger
"""The triggers that look at a window of history (everything but milestones)."""


def initial_state(trigger: WindowTrigger) -> SequenceState | Fired:
    """The state of a lead for which nothing is stored yet (a fresh ``SequenceState``, or no firing)."""
    return SequenceState() if isinstance(trigger, SequenceTrigger) else ()


def step(
    trigger: WindowTrigger, history: Seq[HistEvent], state: SequenceState | Fired
) -> tuple[bool, SequenceState | Fired]:
    """Dispatch to ``sequence_step``/``pattern_step``/``surge_step``; ``now`` = the current event's time."""
    if isinstance(trigger, SequenceTrigger):
        if not isinstance(state, SequenceState):
            raise TypeError("a sequence trigger's state is a SequenceState")
        return sequence_step(trigger, history, state)
    if not isinstance(state, tuple):
        raise TypeError("a pattern/surge trigger's state is the tuple of its firing times")
    if not history:
        return False, state
    now_ts = history[-1].ts_ms
    if isinstance(trigger, PatternTrigger):
        return pattern_step(trigger, history, state, now_ts)
    if isinstance(trigger, SurgeTrigger):
        return surge_step(trigger, history, state, now_ts)
    raise TypeError(f"not a window trigger: {type(trigger).__name__}")


def history_horizon_ms(triggers: Iterable[object]) -> int:
    """How far back (ms before the current event's timestamp) the worker must load a lead's history.

    The longest window among the sequence, pattern and surge triggers; milestones need no history; ``0`` when
    there is no window trigger. Passing the events with ``ts >= current.ts - horizon`` (in arrival order, the
    current event last) gives every step function the same answer as the full history.
    """
    return max(
        (t.window_ms for t in triggers if isinstance(t, SequenceTrigger | PatternTrigger | SurgeTrigger)),
        default=0,
    )


# ------------------------------------------------------------------------------------------------ simulation


@dataclass(frozen=True, slots=True)
class Firing:
    """One firing found by a simulation: the lead, the event that fired it and that event's time."""

    lead_id: str
    event_id: str
    ts_ms: int


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """What a trigger would have done over the given histories, without firing anything.

    ``matched_leads``: leads with at least one firing, in the order the histories were given.
    ``total_matches``: the number of firings (a lead may fire several times: ``every`` sequences, re-armed
    milestones, pattern/surge triggers in separate windows). ``firings``: each of them, in processing order.
    """

    would_fire: bool
    matched_leads: list[str]
    total_matches: int
    firings: list[Firing] = field(default_factory=list)


def _result(firings: list[Firing]) -> SimulationResult:
    leads = list(dict.fromkeys(f.lead_id for f in firings))
    return SimulationResult(
        would_fire=bool(firings), matched_leads=leads, total_matches=len(firings), firings=firings
    )


def _ascending(history: Seq[HistEvent]) -> bool:
    return all(a.ts_ms <= b.ts_ms for a, b in pairwise(history))


def simulate(trigger: WindowTrigger, histories: Mapping[str, Seq[HistEvent]]) -> SimulationResult:
    """Replay each lead's history (arrival order) event by event through ``step``, starting from
    ``initial_state``, exactly as the worker would have processed it; nothing is fired or stored.

    Each event sees the history up to and including itself. When a lead's timestamps never go backwards,
    only the events inside the trigger's window are passed (found by bisection), which is equivalent by
    trim invariance and keeps long histories linear.
    """
    firings: list[Firing] = []
    for lead_id, history in histories.items():
        state = initial_state(trigger)
        ascending = _ascending(history)
        timestamps = [e.ts_ms for e in history] if ascending else []
        for index, event in enumerate(history):
            lo = bisect.bisect_left(timestamps, event.ts_ms - trigger.window_ms, 0, index) if ascending else 0
            fire, state = step(trigger, history[lo : index + 1], state)
            if fire:
                firings.append(Firing(lead_id, event.event_id, event.ts_ms))
    return _result(firings)


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    """An event with the lead's primary score after it, for milestone replays.

    ``can_fire`` is False for events that may re-arm but never fire: ``DECAY`` events, scopes ``observe`` and
    ``decide``, ``skip_triggers`` imports, inorganic events.
    """

    event: HistEvent
    score_after: int
    can_fire: bool = True


def simulate_milestone(m: Milestone, lead_runs: Mapping[str, Seq[ScoredEvent]]) -> SimulationResult:
    """Replay each lead's scored events (arrival order) through ``milestone_step``, starting armed."""
    firings: list[Firing] = []
    for lead_id, run in lead_runs.items():
        armed = True
        for scored in run:
            fire, armed = milestone_step(
                m, armed, scored.event.type_key, scored.score_after, can_fire=scored.can_fire
            )
            if fire:
                firings.append(Firing(lead_id, scored.event.event_id, scored.event.ts_ms))
    return _result(firings)
