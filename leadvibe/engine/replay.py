"""One lead's scoring state machine, used event by event by the live worker and in bulk by replays.

Rescore, merge, event deletion and backtests run :class:`LeadScorer` (or ``engine.bulk``'s specialised form of
it); the live worker runs ``engine.dispatch``, the same decisions compiled per configuration. Property tests
hold both equal to :class:`LeadScorer`, so they cannot disagree. The only thing the caller supplies is the filter
window counts (SQL live, :func:`window_stats` here; ``engine.bulk`` decides with ``filters.fires`` and
``filters.first_in_window``, which a property test holds equal to it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from leadvibe.engine.filters import InorganicFilter, filters_for, is_inorganic, window_stats
from leadvibe.engine.scoring import EventScore, Ruleset, decay_scores, score_event
from leadvibe.engine.surge import Session, SurgePolicy, advance_session, multiplier_for

__all__ = ["EventOutcome", "LeadScorer", "ReplayEvent", "ScoringConfig", "filter_hits_for", "replay_lead"]


@dataclass(frozen=True, slots=True)
class ScoringConfig:
    """An OU's scoring configuration, as the engine needs it."""

    rulesets: tuple[Ruleset, ...]
    policy: SurgePolicy
    filters: tuple[InorganicFilter, ...]
    allow_negative: bool


@dataclass(frozen=True, slots=True)
class ReplayEvent:
    """One stored event of a lead.

    ``processed=False``: stored with scope ``observe`` (no score rows, no session step, not counted by
    filters). ``decay_decrease`` set: a DECAY event (scores ``-decay_decrease``, no session step, not counted
    by filters).
    """

    event_id: str
    type_key: str
    ts_ms: int
    processed: bool = True
    decay_decrease: int | None = None
    decay_id: str | None = None

    @property
    def counts_for_filters(self) -> bool:
        """Whether this event belongs in the filter history of its type (organic and processed)."""
        return self.processed and self.decay_decrease is None


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What scoring one event decided.

    ``session_index`` is the event's 1-based position in its session (0 for events outside sessions: observe
    and DECAY). ``multiplier`` is the surge multiplier of that position (1.0 outside sessions); the multiplier
    each ruleset actually applied is in ``scores`` (1.0 for non-positive weights and inorganic events).
    """

    event_id: str
    multiplier: float
    session_index: int
    filtered_by: str | None
    grouped_with: str | None
    scores: tuple[EventScore, ...]


class LeadScorer:
    """Scoring state of one lead (score per ruleset, current session), advanced one event at a time.

    Pure: no I/O and no clock. Decisions:
    - inorganic events advance the session like any processed event: the session counts the lead's activity,
      and a filter only decides whether that activity scores;
    - observe-scope and DECAY events do not advance the session;
    - scores of rulesets that are inactive are left untouched (they get no rows).
    """

    __slots__ = ("config", "scores", "session")

    def __init__(
        self, config: ScoringConfig, scores: dict[str, int] | None = None, session: Session | None = None
    ) -> None:
        self.config = config
        self.scores: dict[str, int] = dict(scores) if scores else {}
        self.session: Session | None = session

    def score(self, event: ReplayEvent, filter_hits: Mapping[str, tuple[int, str | None]]) -> EventOutcome:
        """Score ``event`` and advance the state.

        ``filter_hits`` maps the id of each filter that applies to the event's type to ``(prior_in_window,
        first_event_id)``; a missing entry counts as ``(0, None)``. Filters are tried in config order and the
        first that finds the event inorganic wins: its id goes to ``filtered_by``, and ``grouped_with`` gets
        the burst's first event when that filter groups events (``None`` otherwise, or when there is no
        earlier one).
        """
        cfg = self.config
        if not event.processed:
            return EventOutcome(event.event_id, 1.0, 0, None, None, ())
        if event.decay_decrease is not None:
            rows = decay_scores(
                cfg.rulesets, event.decay_decrease, self.scores, cfg.allow_negative, event.decay_id or ""
            )
            self._store(rows)
            return EventOutcome(event.event_id, 1.0, 0, None, None, tuple(rows))

        self.session = advance_session(self.session, event.ts_ms, cfg.policy.idle_reset_seconds * 1000)
        multiplier = multiplier_for(cfg.policy, self.session.count)
        filtered_by, grouped_with = self._inorganic(event.type_key, filter_hits)
        rows = score_event(
            cfg.rulesets,
            event.type_key,
            event.ts_ms,
            multiplier,
            self.scores,
            cfg.allow_negative,
            filtered_by,
        )
        self._store(rows)
        n = self.session.count
        return EventOutcome(event.event_id, multiplier, n, filtered_by, grouped_with, tuple(rows))

    def _inorganic(
        self, type_key: str, filter_hits: Mapping[str, tuple[int, str | None]]
    ) -> tuple[str | None, str | None]:
        for f in filters_for(self.config.filters, type_key):
            prior, first_id = filter_hits.get(f.filter_id, (0, None))
            if is_inorganic(f, prior):
                return f.filter_id, first_id if f.group_events else None
        return None, None

    def _store(self, rows: Sequence[EventScore]) -> None:
        for row in rows:
            self.scores[row.ruleset_id] = row.after


def filter_hits_for(
    history: Sequence[tuple[int, str]], filters: Sequence[InorganicFilter], type_key: str, ts_ms: int
) -> dict[str, tuple[int, str | None]]:
    """Filter hits for an event from the in-memory history of its type (what SQL computes live)."""
    return {f.filter_id: window_stats(history, f, ts_ms) for f in filters_for(filters, type_key)}


def replay_lead(
    events: Sequence[ReplayEvent], config: ScoringConfig, start_scores: Mapping[str, int] | None = None
) -> tuple[list[EventOutcome], dict[str, int]]:
    """Replay one lead's events in arrival order, from ``start_scores`` (default 0) and no session.

    Filter hits come from the earlier processed, non-DECAY events of the same type key. Returns the outcomes,
    one per event, and the final score per ruleset.
    """
    scorer = LeadScorer(config, dict(start_scores) if start_scores else None)
    history: dict[str, list[tuple[int, str]]] = {}
    outcomes: list[EventOutcome] = []
    for event in events:
        hits: dict[str, tuple[int, str | None]] = {}
        if event.counts_for_filters:
            past = history.setdefault(event.type_key, [])
            hits = filter_hits_for(past, config.filters, event.type_key, event.ts_ms)
        outcomes.append(scorer.score(event, hits))
        if event.counts_for_filters:
            history[event.type_key].append((event.ts_ms, event.event_id))
    return outcomes, dict(scorer.scores)
