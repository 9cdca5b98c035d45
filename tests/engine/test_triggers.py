"""Trigger evaluation: windows, milestone, sequence, pattern and surge triggers, and simulation."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadvibe.engine.triggers import (
    FIRED_KEPT,
    Firing,
    HistEvent,
    Milestone,
    PatternTrigger,
    ScoredEvent,
    SequenceState,
    SequenceTrigger,
    SimulationResult,
    SurgeTrigger,
    WindowTrigger,
    history_horizon_ms,
    initial_state,
    milestone_rearm,
    milestone_step,
    pattern_step,
    sequence_step,
    simulate,
    simulate_milestone,
    step,
    surge_step,
    window_ms,
)

SEC = 1_000
MIN = 60 * SEC
T0 = 1_700_000_000_000  # an arbitrary epoch-ms origin


def history(*items: tuple[str, int]) -> list[HistEvent]:
    """Events ``(type_key, offset_ms)`` in arrival order, with ids e0, e1, ..."""
    return [HistEvent(f"e{i}", key, T0 + offset) for i, (key, offset) in enumerate(items)]


def run(trigger: WindowTrigger, events: Sequence[HistEvent]) -> list[str]:
    """Ids of the events that fire, calling ``step`` event by event with the full history so far."""
    state = initial_state(trigger)
    fired: list[str] = []
    for index in range(len(events)):
        fire, state = step(trigger, events[: index + 1], state)
        if fire:
            fired.append(events[index].event_id)
    return fired


# ---------------------------------------------------------------------------------------------------- windows


@pytest.mark.parametrize(
    ("amount", "unit", "expected"),
    [
        (1, "seconds", 1_000),
        (10, "minutes", 600_000),  # window_seconds=10, window_unit=minutes: ten minutes
        (2, "hours", 7_200_000),
        (30, "days", 2_592_000_000),
        (5, None, 5_000),  # the API default unit is seconds
        (5, "", 5_000),
        (3, " Minutes ", 180_000),
    ],
)
def test_window_ms(amount: int, unit: str | None, expected: int) -> None:
    assert window_ms(amount, unit) == expected


def test_window_ms_defaults_to_seconds() -> None:
    assert window_ms(7) == 7_000


@pytest.mark.parametrize(
    ("amount", "unit"), [(0, "seconds"), (-1, "minutes"), (True, "seconds"), (1, "weeks")]
)
def test_window_ms_rejects(amount: int, unit: str) -> None:
    with pytest.raises(ValueError):
        window_ms(amount, unit)


# -------------------------------------------------------------------------------------------------- milestone


def test_milestone_fires_once_on_crossing_and_rearms_after_a_drop() -> None:
    m = Milestone("t", "form_submit", 50)
    armed = True
    outcomes = []
    for key, score in [
        ("form_submit", 40),  # below
        ("form_submit", 50),  # exactly the threshold: fires
        ("form_submit", 70),  # still above: once per lead
        ("page_view", 45),  # another type drops it below: re-arms
        ("form_submit", 55),  # crosses again: fires again
    ]:
        fire, armed = milestone_step(m, armed, key, score)
        outcomes.append(fire)
    assert outcomes == [False, True, False, False, True]
    assert armed is False


def test_milestone_other_type_crossing_waits_for_the_configured_type() -> None:
    m = Milestone("t", "form_submit", 50)
    fire, armed = milestone_step(m, True, "page_view", 60)
    assert (fire, armed) == (False, True)
    fire, armed = milestone_step(m, armed, "page_view", 65)
    assert (fire, armed) == (False, True)
    # The first event of the type after which the score is >= threshold.
    assert milestone_step(m, armed, "form_submit", 65) == (True, False)


@pytest.mark.parametrize("any_type", [None, ""])
def test_milestone_without_type_fires_on_any_event(any_type: str | None) -> None:
    m = Milestone("t", any_type, 10)
    assert m.type_key is None
    assert milestone_step(m, True, "whatever", 10) == (True, False)
    assert milestone_step(m, True, "whatever", 9) == (False, True)


def test_milestone_decay_rearms_and_a_later_crossing_fires_again() -> None:
    m = Milestone("t", None, 50)
    fire, armed = milestone_step(m, True, "page_view", 60)
    assert fire and not armed
    # A decay that leaves the score above the threshold changes nothing.
    assert milestone_rearm(m, armed, 55) is False
    # A decay that drops it below re-arms.
    armed = milestone_rearm(m, armed, 40)
    assert armed is True
    assert milestone_step(m, armed, "page_view", 52) == (True, False)


def test_milestone_events_that_cannot_fire_never_fire_nor_disarm() -> None:
    m = Milestone("t", None, 50)
    # A suppressed event (decay, decide scope, skip_triggers) above the threshold leaves the trigger armed...
    assert milestone_step(m, True, "decay", 80, can_fire=False) == (False, True)
    # ...and one below re-arms a disarmed trigger, exactly like milestone_rearm.
    assert milestone_step(m, False, "decay", 10, can_fire=False) == (False, True)
    assert milestone_step(m, False, "decay", 60, can_fire=False) == (False, False)
    for armed, score in itertools.product([True, False], [0, 49, 50, 51]):
        assert milestone_rearm(m, armed, score) == milestone_step(m, armed, "", score, can_fire=False)[1]


def test_milestone_negative_threshold_and_scores() -> None:
    m = Milestone("t", None, -5)
    assert milestone_step(m, True, "x", -5) == (True, False)
    assert milestone_step(m, False, "x", -6) == (False, True)


def test_simulate_milestone() -> None:
    m = Milestone("t", "demo", 50)
    ev = history(("demo", 0), ("demo", 1), ("decay", 2), ("demo", 3), ("demo", 4))
    runs = {
        "lead-a": [
            ScoredEvent(ev[0], 60),
            ScoredEvent(ev[1], 70),
            ScoredEvent(ev[2], 30, can_fire=False),
            ScoredEvent(ev[3], 55),
        ],
        "lead-b": [ScoredEvent(ev[0], 10), ScoredEvent(ev[1], 20)],
        "lead-c": [ScoredEvent(ev[4], 99)],
    }
    result = simulate_milestone(m, runs)
    assert result == SimulationResult(
        would_fire=True,
        matched_leads=["lead-a", "lead-c"],
        total_matches=3,
        firings=[
            Firing("lead-a", "e0", T0),
            Firing("lead-a", "e3", T0 + 3),
            Firing("lead-c", "e4", T0 + 4),
        ],
    )
    empty = simulate_milestone(m, {"lead-b": runs["lead-b"]})
    assert (empty.would_fire, empty.matched_leads, empty.total_matches) == (False, [], 0)


# --------------------------------------------------------------------------------------------------- sequence

ABC_ORDERED = SequenceTrigger("s", ("a", "b", "c"), 10 * MIN, ordered=True, fire_mode="once")


def test_sequence_ordered_in_order_fires() -> None:
    assert run(ABC_ORDERED, history(("a", 0), ("b", MIN), ("c", 2 * MIN))) == ["e2"]


def test_sequence_ordered_reverse_order_does_not_fire() -> None:
    assert run(ABC_ORDERED, history(("c", 0), ("b", MIN), ("a", 2 * MIN))) == []


def test_sequence_outside_window_does_not_fire() -> None:
    assert run(ABC_ORDERED, history(("a", 0), ("b", 11 * MIN), ("c", 11 * MIN + SEC))) == []


def test_sequence_window_is_closed_at_its_start() -> None:
    assert run(ABC_ORDERED, history(("a", 0), ("b", MIN), ("c", 10 * MIN))) == ["e2"]
    assert run(ABC_ORDERED, history(("a", 0), ("b", MIN), ("c", 10 * MIN + 1))) == []


def test_sequence_a_later_first_step_can_complete() -> None:
    # The first a is too old, a second one inside the window completes the sequence.
    events = history(("a", 0), ("a", 9 * MIN), ("b", 12 * MIN), ("c", 13 * MIN))
    assert run(ABC_ORDERED, events) == ["e3"]


def test_sequence_ordered_interleaved_other_events_are_fine() -> None:
    events = history(("a", 0), ("x", 1), ("b", 2), ("a", 3), ("c", 4))
    assert run(ABC_ORDERED, events) == ["e4"]


def test_sequence_ordered_requires_the_current_event_to_be_the_last_step() -> None:
    events = history(("a", 0), ("b", 1), ("c", 2))
    # Each prefix is evaluated on its own: only the c completes.
    assert sequence_step(ABC_ORDERED, events[:2], SequenceState()) == (False, SequenceState())
    assert sequence_step(ABC_ORDERED, events, SequenceState())[0] is True
    # Unrelated events never complete anything.
    assert sequence_step(ABC_ORDERED, [*events, HistEvent("x", "x", T0 + 3)], SequenceState())[0] is False


def test_sequence_every_fires_per_new_completion_once_fires_once() -> None:
    events = history(("a", 0), ("b", 1), ("c", 2), ("a", 3), ("b", 4), ("c", 5))
    every = SequenceTrigger("s", ("a", "b", "c"), 10 * MIN, ordered=True, fire_mode="every")
    assert run(every, events) == ["e2", "e5"]
    assert run(ABC_ORDERED, events) == ["e2"]


def test_sequence_every_needs_fresh_steps_after_the_previous_completion() -> None:
    every = SequenceTrigger("s", ("a", "b", "c"), 10 * MIN, ordered=True, fire_mode="every")
    assert run(every, history(("a", 0), ("b", 1), ("c", 2), ("c", 3))) == ["e2"]
    assert run(every, history(("a", 0), ("b", 1), ("c", 2), ("b", 3), ("c", 4))) == ["e2"]
    assert run(every, history(("a", 0), ("b", 1), ("c", 2), ("a", 3), ("b", 4), ("c", 4))) == ["e2", "e5"]


def test_sequence_every_same_millisecond_uses_arrival_order() -> None:
    every = SequenceTrigger("s", ("a", "b"), MIN, ordered=True, fire_mode="every")
    events = history(("a", 0), ("b", 0), ("a", 0), ("b", 0))
    assert run(every, events) == ["e1", "e3"]


def test_sequence_every_ignores_late_events_from_before_the_completion() -> None:
    every = SequenceTrigger("s", ("a", "b"), 10 * MIN, ordered=True, fire_mode="every")
    # The second a arrives late, timestamped before the first completion: it cannot start a new one.
    events = history(("a", 0), ("b", 2 * MIN), ("a", MIN), ("b", 3 * MIN))
    assert run(every, events) == ["e1"]


def test_sequence_every_counts_events_timestamped_after_the_completion() -> None:
    # "After the previous completion" is by timestamp (arrival order only breaks ties inside a millisecond),
    # so the rule survives the worker trimming old history: a@5 arrived before the completing b@1 but
    # happened after it, and counts towards the next completion.
    every = SequenceTrigger("s", ("a", "b"), 10 * MIN, ordered=False, fire_mode="every")
    assert run(every, history(("a", 0), ("a", 5), ("b", 1), ("b", 6))) == ["e2", "e3"]


@pytest.mark.parametrize(
    ("steps", "types", "fires"),
    [
        (("a", "a", "b"), ["a", "b"], []),  # a repeated step needs two events
        (("a", "a", "b"), ["a", "a", "b"], ["e2"]),
        (("a", "a", "b"), ["a", "b", "a"], []),  # ordered: the second a comes too late
        (("a", "b", "a"), ["a", "b", "a"], ["e2"]),
        (("a", "b", "a"), ["a", "a", "b"], []),
        (("a",), ["x", "a", "a"], ["e1"]),  # single-step sequence, once
    ],
)
def test_sequence_ordered_repeated_steps(steps: tuple[str, ...], types: list[str], fires: list[str]) -> None:
    trigger = SequenceTrigger("s", steps, MIN, ordered=True)
    assert run(trigger, history(*[(key, i) for i, key in enumerate(types)])) == fires


@pytest.mark.parametrize(
    ("types", "fires"),
    [
        (["c", "b", "a"], ["e2"]),  # any order
        (["b", "a", "c"], ["e2"]),
        (["a", "b", "x"], []),
        (["a", "b", "b", "c"], ["e3"]),
        (["a", "a", "c"], []),
    ],
)
def test_sequence_unordered(types: list[str], fires: list[str]) -> None:
    trigger = SequenceTrigger("s", ("a", "b", "c"), MIN, ordered=False)
    assert run(trigger, history(*[(key, i) for i, key in enumerate(types)])) == fires


def test_sequence_unordered_repeated_steps_and_every() -> None:
    trigger = SequenceTrigger("s", ("a", "a", "b"), MIN, ordered=False, fire_mode="every")
    events = history(("b", 0), ("a", 1), ("a", 2), ("a", 3), ("b", 4), ("a", 5), ("a", 6))
    # e2 completes {b, a, a}; then a, b, a completes again at e5; e6 has only itself after e5.
    assert run(trigger, events) == ["e2", "e5"]


def test_sequence_unordered_window_boundary() -> None:
    trigger = SequenceTrigger("s", ("a", "b"), 10 * SEC, ordered=False)
    assert run(trigger, history(("b", 0), ("a", 10 * SEC))) == ["e1"]
    assert run(trigger, history(("b", 0), ("a", 10 * SEC + 1))) == []


def test_sequence_events_timestamped_after_the_current_one_are_outside_its_window() -> None:
    # a (t=5 min) arrived first; b arrives late with t=4 min: a is after b's window end, and ordered needs a
    # first in arrival order anyway; unordered also refuses because a lies outside [b - w, b].
    unordered = SequenceTrigger("s", ("a", "b"), 10 * MIN, ordered=False)
    assert run(unordered, history(("a", 5 * MIN), ("b", 4 * MIN))) == []
    assert run(unordered, history(("a", 4 * MIN), ("b", 5 * MIN))) == ["e1"]


def test_sequence_state_and_validation() -> None:
    state = SequenceState()
    assert not state.fired_once
    fire, state = sequence_step(ABC_ORDERED, history(("a", 0), ("b", 1), ("c", 2)), state)
    assert fire and state == SequenceState(T0 + 2, "e2") and state.fired_once
    assert sequence_step(ABC_ORDERED, [], SequenceState()) == (False, SequenceState())
    assert SequenceTrigger("s", ["a"], 1, fire_mode="EVERY").fire_mode == "every"  # type: ignore[arg-type]
    for bad in [
        lambda: SequenceTrigger("s", (), MIN),
        lambda: SequenceTrigger("s", ("a", ""), MIN),
        lambda: SequenceTrigger("s", ("a",), 0),
        lambda: SequenceTrigger("s", ("a",), MIN, fire_mode="twice"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(ValueError):
            bad()


# ---------------------------------------------------------------------------------------------------- pattern

PATTERN = PatternTrigger("p", (("page_view", 3), ("pricing", 1)), 10 * MIN)


def test_pattern_fires_when_every_condition_holds_in_the_window() -> None:
    events = history(("page_view", 0), ("page_view", MIN), ("pricing", 2 * MIN), ("page_view", 3 * MIN))
    assert run(PATTERN, events) == ["e3"]


def test_pattern_needs_every_condition() -> None:
    assert run(PATTERN, history(("page_view", 0), ("page_view", 1), ("page_view", 2))) == []


def test_pattern_window_boundary_is_inclusive() -> None:
    on_edge = history(("page_view", 0), ("page_view", 1), ("pricing", 2), ("page_view", 10 * MIN))
    assert run(PATTERN, on_edge) == ["e3"]
    past_edge = history(("page_view", 0), ("page_view", 1), ("pricing", 2), ("page_view", 10 * MIN + 1))
    assert run(PATTERN, past_edge) == []


def test_pattern_fires_at_most_once_per_window() -> None:
    events = history(
        ("page_view", 0),
        ("page_view", 1),
        ("page_view", 2),
        ("pricing", 3),  # holds: fires at t=3
        ("page_view", 5 * MIN),  # still holds, same window: no
        ("page_view", 6 * MIN),
        ("pricing", 10 * MIN + 2),  # holds, but one ms short of a whole window since the firing: no
        ("page_view", 10 * MIN + 3),  # exactly a window later: its window shares the firing's instant (t=3): no
        ("page_view", 10 * MIN + 4),  # more than a window later; holds without the events of the first window
    )
    assert run(PATTERN, events) == ["e3", "e8"]


def test_pattern_step_state() -> None:
    events = history(("page_view", 0), ("page_view", 1), ("page_view", 2), ("pricing", 3))
    assert pattern_step(PATTERN, events, (), T0 + 3) == (True, (T0 + 3,))
    assert pattern_step(PATTERN, events, (T0 + 3,), T0 + 3) == (False, (T0 + 3,))
    # Exactly one window after the last firing the windows still share its instant: no firing yet.
    later = [*events, HistEvent("e9", "pricing", T0 + 3 + 10 * MIN)]
    assert pattern_step(PATTERN, later, (T0 + 3,), T0 + 3 + 10 * MIN) == (False, (T0 + 3,))
    ready = [*events[:3], HistEvent("e8", "page_view", T0 + 10 * MIN), HistEvent("e9", "pricing", T0 + 4 + 10 * MIN)]
    assert pattern_step(PATTERN, ready, (T0 + 3,), T0 + 4 + 10 * MIN) == (False, (T0 + 3,))  # page_views aged out
    assert pattern_step(PATTERN, [], (), T0) == (False, ())


def test_pattern_does_not_fire_on_an_unrelated_event() -> None:
    events = history(("page_view", 0), ("page_view", 1), ("page_view", 2), ("pricing", 3), ("email_open", 4))
    assert pattern_step(PATTERN, events, (), T0 + 4) == (False, ())


@pytest.mark.parametrize("kind", ["pattern", "surge"])
def test_a_late_burst_firing_does_not_free_the_present_window_again(kind: str) -> None:
    # Fires at 12:02; a burst sent late from 09:00-09:02 fires for its own window; 12:03 shares 12:02's window on
    # its left and must not fire (it did when the late firing replaced the one remembered).
    trigger: WindowTrigger = (PatternTrigger("p", (("x", 3),), 10 * MIN) if kind == "pattern"
                              else SurgeTrigger("s", "x", 10 * MIN, 3))
    hour = 60 * MIN
    events = history(*[("x", 12 * hour + m * MIN) for m in (0, 1, 2)], *[("x", 9 * hour + m * MIN) for m in (0, 1, 2)],
                     ("x", 12 * hour + 3 * MIN), ("x", 9 * hour + 3 * MIN),
                     *[("x", 12 * hour + m * MIN) for m in (11, 12, 13)])
    # 12:11 and 12:12 lie within a window of 12:02 (closed windows); 12:13 is past it and fires.
    assert run(trigger, events) == ["e2", "e5", "e10"]


def test_the_firings_kept_are_the_latest_by_time() -> None:
    trigger = SurgeTrigger("s", None, MIN, 1)
    state: tuple[int, ...] = ()
    for i in range(FIRED_KEPT + 5):
        fire, after = surge_step(trigger, [HistEvent(f"e{i}", "x", T0 + i * 2 * MIN)], state, T0 + i * 2 * MIN)
        assert fire and isinstance(after, tuple)
        state = after
    assert len(state) == FIRED_KEPT and state == tuple(T0 + i * 2 * MIN for i in range(5, FIRED_KEPT + 5))
    # A firing dated before every kept one is placed in time order and, being the earliest, is the one let go.
    fire, after = surge_step(trigger, [HistEvent("old", "x", T0 - 10 * MIN)], state, T0 - 10 * MIN)
    assert fire and after == state


def test_pattern_validation() -> None:
    for bad in [
        lambda: PatternTrigger("p", (), MIN),
        lambda: PatternTrigger("p", (("a", 0),), MIN),
        lambda: PatternTrigger("p", (("", 1),), MIN),
        lambda: PatternTrigger("p", (("a", 1),), 0),
    ]:
        with pytest.raises(ValueError):
            bad()


# ------------------------------------------------------------------------------------------------------ surge


def test_surge_counts_events_of_its_type_in_the_window() -> None:
    trigger = SurgeTrigger("g", "page_view", MIN, 3)
    events = history(("page_view", 0), ("email_open", 1), ("page_view", 2), ("page_view", MIN))
    assert run(trigger, events) == ["e3"]
    assert run(trigger, history(("page_view", 0), ("page_view", 2), ("page_view", MIN + 1))) == []


@pytest.mark.parametrize("any_type", [None, ""])
def test_surge_without_type_counts_everything(any_type: str | None) -> None:
    trigger = SurgeTrigger("g", any_type, MIN, 3)
    assert run(trigger, history(("a", 0), ("b", 1), ("c", 2))) == ["e2"]


def test_surge_fires_once_per_window() -> None:
    trigger = SurgeTrigger("g", None, MIN, 2)
    offsets = [0, 1, 2, 3, MIN, MIN + 1, MIN + 2]
    events = history(*[("x", offset) for offset in offsets])
    # Fires at t=1; then not until t - 1 > one minute (the windows are closed: at t = MIN + 1 the new one would still
    # hold the firing's event), i.e. at t = MIN + 2.
    assert run(trigger, events) == ["e1", "e6"]


def test_surge_step_state_and_type_gate() -> None:
    trigger = SurgeTrigger("g", "page_view", MIN, 2)
    events = history(("page_view", 0), ("page_view", 1), ("email_open", 2))
    assert surge_step(trigger, events[:2], (), T0 + 1) == (True, (T0 + 1,))
    assert surge_step(trigger, events, (), T0 + 2) == (False, ())  # current event does not count
    with pytest.raises(ValueError):
        SurgeTrigger("g", None, MIN, 0)
    with pytest.raises(ValueError):
        SurgeTrigger("g", None, 0, 1)


# -------------------------------------------------------------------------------------------- helpers


def test_history_horizon_is_the_longest_window() -> None:
    triggers = [
        Milestone("m", None, 10),
        SequenceTrigger("s", ("a",), 5 * MIN),
        PatternTrigger("p", (("a", 1),), 30 * MIN),
        SurgeTrigger("g", None, 20 * MIN, 2),
    ]
    assert history_horizon_ms(triggers) == 30 * MIN
    assert history_horizon_ms([Milestone("m", None, 10)]) == 0
    assert history_horizon_ms([]) == 0


def test_step_dispatch_checks_state_types() -> None:
    events = history(("a", 0))
    with pytest.raises(TypeError):
        step(SequenceTrigger("s", ("a",), MIN), events, None)
    with pytest.raises(TypeError):
        step(SurgeTrigger("g", None, MIN, 1), events, SequenceState())
    with pytest.raises(TypeError):
        step(Milestone("m", None, 1), events, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        step(SurgeTrigger("g", None, MIN, 1), events, None)  # type: ignore[arg-type]
    assert step(SurgeTrigger("g", None, MIN, 1), [], ()) == (False, ())


def test_simulate_reports_leads_in_input_order_and_counts_firings() -> None:
    every = SequenceTrigger("s", ("a", "b"), MIN, ordered=True, fire_mode="every")
    histories = {
        "lead-z": history(("a", 0), ("b", 1), ("a", 2), ("b", 3)),
        "lead-none": history(("b", 0), ("a", 1)),
        "lead-a": history(("a", 0), ("b", 1)),
    }
    result = simulate(every, histories)
    assert result.would_fire is True
    assert result.matched_leads == ["lead-z", "lead-a"]
    assert result.total_matches == 3
    assert result.firings == [
        Firing("lead-z", "e1", T0 + 1),
        Firing("lead-z", "e3", T0 + 3),
        Firing("lead-a", "e1", T0 + 1),
    ]
    assert simulate(every, {}) == SimulationResult(False, [], 0, [])


# ------------------------------------------------------------------------------------------------- properties

KEYS = ("a", "b", "c")


@st.composite
def histories(draw: st.DrawFn, *, ascending: bool | None = None) -> list[HistEvent]:
    """Short histories with small timestamp gaps (so windows matter), sometimes out of order."""
    size = draw(st.integers(0, 12))
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=size, max_size=size))
    if ascending is None:
        ascending = draw(st.booleans())
    if ascending:
        gaps = draw(st.lists(st.integers(0, 4), min_size=size, max_size=size))
        stamps = list(itertools.accumulate(gaps))
    else:
        stamps = draw(st.lists(st.integers(0, 20), min_size=size, max_size=size))
    return [HistEvent(f"e{i}", key, T0 + ts) for i, (key, ts) in enumerate(zip(keys, stamps, strict=True))]


sequence_triggers = st.builds(
    SequenceTrigger,
    trigger_id=st.just("s"),
    steps=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(tuple),
    window_ms=st.integers(1, 12),
    ordered=st.booleans(),
    fire_mode=st.sampled_from(["once", "every"]),
)
pattern_triggers = st.builds(
    PatternTrigger,
    trigger_id=st.just("p"),
    conditions=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 3)), min_size=1, max_size=3).map(
        tuple
    ),
    window_ms=st.integers(1, 12),
)
surge_triggers = st.builds(
    SurgeTrigger,
    trigger_id=st.just("g"),
    type_key=st.sampled_from([None, *KEYS]),
    window_ms=st.integers(1, 12),
    threshold_count=st.integers(1, 4),
)
window_triggers = st.one_of(sequence_triggers, pattern_triggers, surge_triggers)


@settings(max_examples=300)
@given(trigger=window_triggers, leads=st.dictionaries(st.sampled_from(["l1", "l2", "l3"]), histories()))
def test_simulate_equals_stepping_event_by_event(
    trigger: WindowTrigger, leads: dict[str, list[HistEvent]]
) -> None:
    result = simulate(trigger, leads)
    expected = [
        Firing(lead, event_id, 0) for lead, events in leads.items() for event_id in run(trigger, events)
    ]
    assert [(f.lead_id, f.event_id) for f in result.firings] == [(f.lead_id, f.event_id) for f in expected]
    assert result.total_matches == len(expected)
    assert result.would_fire is bool(expected)
    assert result.matched_leads == [lead for lead, events in leads.items() if run(trigger, events)]


@settings(max_examples=300)
@given(trigger=window_triggers, events=histories(), slack=st.integers(0, 5))
def test_steps_are_history_trim_invariant(
    trigger: WindowTrigger, events: list[HistEvent], slack: int
) -> None:
    # The worker loads only events with ts >= current.ts - horizon; any horizon >= the window must agree with
    # the full history at every step, with the state threaded through.
    horizon = trigger.window_ms + slack
    full_state = trimmed_state = initial_state(trigger)
    for index, current in enumerate(events):
        prefix = events[: index + 1]
        trimmed = [e for e in prefix[:-1] if e.ts_ms >= current.ts_ms - horizon] + [current]
        full_fire, full_state = step(trigger, prefix, full_state)
        trimmed_fire, trimmed_state = step(trigger, trimmed, trimmed_state)
        assert full_fire == trimmed_fire
        assert full_state == trimmed_state


@given(trigger=sequence_triggers, events=histories())
def test_once_fires_at_most_once_per_lead(trigger: SequenceTrigger, events: list[HistEvent]) -> None:
    once = SequenceTrigger(trigger.trigger_id, trigger.steps, trigger.window_ms, trigger.ordered, "once")
    assert simulate(once, {"l": events}).total_matches <= 1


def _completes(trigger: SequenceTrigger, events: list[HistEvent], index: int) -> bool:
    """Brute force: some choice of earlier events plus events[index] forms the sequence within the window."""
    current = events[index]
    if current.type_key not in trigger.steps:
        return False
    start = current.ts_ms - trigger.window_ms
    earlier = [i for i in range(index) if start <= events[i].ts_ms <= current.ts_ms]
    want = Counter(trigger.steps)
    for chosen in itertools.combinations(earlier, len(trigger.steps) - 1):
        keys = [events[i].type_key for i in chosen] + [current.type_key]
        if trigger.ordered and tuple(keys) == trigger.steps:
            return True
        if not trigger.ordered and Counter(keys) == want:
            return True
    return False


@settings(max_examples=300)
@given(trigger=sequence_triggers, events=histories())
def test_sequence_once_matches_a_brute_force_oracle(
    trigger: SequenceTrigger, events: list[HistEvent]
) -> None:
    once = SequenceTrigger(trigger.trigger_id, trigger.steps, trigger.window_ms, trigger.ordered, "once")
    first = next((events[i].event_id for i in range(len(events)) if _completes(once, events, i)), None)
    assert run(once, events) == ([] if first is None else [first])


@given(trigger=st.one_of(pattern_triggers, surge_triggers), events=histories(ascending=True))
def test_pattern_and_surge_firings_are_a_window_apart(
    trigger: PatternTrigger | SurgeTrigger, events: list[HistEvent]
) -> None:
    stamps = [f.ts_ms for f in simulate(trigger, {"l": events}).firings]
    assert all(later - earlier >= trigger.window_ms for earlier, later in itertools.pairwise(stamps))


@given(
    threshold=st.integers(-5, 30),
    type_key=st.sampled_from([None, *KEYS]),
    run_items=st.lists(st.tuples(st.sampled_from([*KEYS, "decay"]), st.integers(-10, 40), st.booleans())),
)
def test_simulate_milestone_equals_stepping_and_fires_once_per_crossing(
    threshold: int, type_key: str | None, run_items: list[tuple[str, int, bool]]
) -> None:
    m = Milestone("m", type_key, threshold)
    scored = [
        ScoredEvent(HistEvent(f"e{i}", key, T0 + i), score, can_fire)
        for i, (key, score, can_fire) in enumerate(run_items)
    ]
    armed = True
    manual: list[str] = []
    for item in scored:
        fire, armed = milestone_step(m, armed, item.event.type_key, item.score_after, can_fire=item.can_fire)
        if fire:
            manual.append(item.event.event_id)
    result = simulate_milestone(m, {"l": scored})
    assert [f.event_id for f in result.firings] == manual
    # Between two firings the score must have been below the threshold at some event.
    fired_at = [i for i, item in enumerate(scored) if item.event.event_id in manual]
    for earlier, later in itertools.pairwise(fired_at):
        assert any(item.score_after < threshold for item in scored[earlier + 1 : later])
    # Every firing is an eligible event of the type, at or above the threshold.
    for i in fired_at:
        assert scored[i].can_fire and scored[i].score_after >= threshold
        assert type_key is None or scored[i].event.type_key == type_key


def test_a_window_trigger_fires_for_a_burst_sent_out_of_time_order() -> None:
    """Windows are measured on event timestamps: a burst sent late, from two hours before the last firing, fires
    for its own window; a firing dated ahead does not mute the present; a burst overlapping a firing's window on
    either side does not fire."""
    hours2 = 2 * 60 * MIN
    burst = [("page_view", 0), ("page_view", 1), ("page_view", 2), ("pricing", 3)]
    late = [(t, ms - hours2) for t, ms in burst]
    assert run(PATTERN, history(*burst, *late)) == ["e3", "e7"]
    ahead = [(t, ms + hours2) for t, ms in burst]
    assert run(PATTERN, history(*ahead, *burst)) == ["e3", "e7"]
    overlapping = [(t, ms - 5 * MIN) for t, ms in burst]
    assert run(PATTERN, history(*burst, *overlapping)) == ["e3"]
