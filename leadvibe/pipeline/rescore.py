"""Replays: recompute leads' scores from their stored events, in arrival order, through the same engine code
the live worker uses (so an unchanged configuration reproduces the same scores).

Leads are replayed a few hundred at a time with set queries (their events, score rows and scores read at once),
and only what the replay changes is written: a rescore with unchanged rules writes nothing, and a rule change
rewrites the rows it moves. Each lead is replayed whole inside one transaction, so at every commit its score
equals the sum of its stored deltas.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import apsw

from leadvibe.engine.replay import ReplayEvent, ScoringConfig, replay_lead
from leadvibe.engine.surge import Session, advance_session
from leadvibe.pipeline.scoring_config import OUConfig
from leadvibe.pipeline.worker import replay_event_from_row
from leadvibe.store import events as ev_store

CHUNK_LEADS = 100  # leads per set query: small enough to stop close to a step's time budget


@dataclass(slots=True)
class _Stored:
    """What is stored of one event that a replay may change."""

    seq: int
    event: ReplayEvent
    flags: tuple[Any, ...]  # inorganic, filtered_by, grouped_with, multiplier, session_index
    has_delta: int


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _load_events(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> dict[str, list[_Stored]]:
    out: dict[str, list[_Stored]] = {lead_id: [] for lead_id in lead_ids}
    for (lead_id, seq, event_id, key, ts, scope, decay_id, metadata, inorganic, filtered_by, grouped_with,
         multiplier, session_index, has_delta) in conn.execute(
            "SELECT lead_id, seq, id, type_key, occurred_at, scope, decay_id,"
            " CASE WHEN decay_id IS NOT NULL THEN metadata END, inorganic, filtered_by, grouped_with, multiplier,"
            f" session_index, has_delta FROM events WHERE unit_id = ? AND lead_id IN ({_marks(len(lead_ids))})"
            " ORDER BY lead_id, seq", (unit_id, *lead_ids)):
        out[lead_id].append(_Stored(seq, replay_event_from_row(event_id, key, ts, scope, decay_id, metadata),
                                    (inorganic, filtered_by, grouped_with, multiplier, session_index), has_delta))
    return out


def _load_score_rows(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str],
                     targets: set[str] | None) -> dict[tuple[int, str], tuple[Any, ...]]:
    """Stored score rows of the leads' events (of the target rulesets only, when given)."""
    only = f" AND s.ruleset_id IN ({_marks(len(targets))})" if targets is not None else ""
    return {(row[0], row[1]): row for row in conn.execute(
        "SELECT s.event_seq, s.ruleset_id, s.unit_id, s.lead_id, s.rule_ids, s.weight, s.multiplier, s.delta,"
        " s.before, s.after, s.filtered_by FROM events e JOIN event_scores s ON s.event_seq = e.seq"
        f" WHERE e.unit_id = ? AND e.lead_id IN ({_marks(len(lead_ids))}){only}",
        (unit_id, *lead_ids, *(sorted(targets) if targets is not None else ())))}


def _others_score(conn: apsw.Connection, seq: int, targets: set[str]) -> bool:
    """Whether a ruleset outside `targets` has a non-zero delta on event `seq`."""
    return conn.execute(f"SELECT 1 FROM event_scores WHERE event_seq = ? AND ruleset_id NOT IN ({_marks(len(targets))})"
                        " AND delta != 0 LIMIT 1", (seq, *sorted(targets))).fetchone() is not None


def _load_lead_scores(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    return {(lead_id, rs): int(score) for lead_id, rs, score in conn.execute(
        "SELECT lead_id, ruleset_id, score FROM lead_scores WHERE unit_id = ?"
        f" AND lead_id IN ({_marks(len(lead_ids))})", (unit_id, *lead_ids))}


def _load_sessions(conn: apsw.Connection, unit_id: str,
                   lead_ids: Sequence[str]) -> dict[str, tuple[int, int | None, int | None, int]]:
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT id, session_n, session_last_ts, session_started_at, session_count FROM leads"
        f" WHERE unit_id = ? AND id IN ({_marks(len(lead_ids))})", (unit_id, *lead_ids))}


class _Writes:
    """Only the rows a replay changes, written with one statement per kind for a whole chunk of leads."""

    def __init__(self) -> None:
        self.score_upserts: list[tuple[Any, ...]] = []
        self.score_deletes: list[tuple[int, str]] = []
        self.flags: list[tuple[Any, ...]] = []
        self.has_delta: list[tuple[int, int]] = []
        self.unsure: list[int] = []  # events whose has_delta depends on rulesets a partial replay did not read
        self.lead_upserts: list[tuple[str, str, str, int, int]] = []
        self.lead_deletes: list[tuple[str, str, str]] = []
        self.sessions: list[tuple[Any, ...]] = []

    def flush(self, conn: apsw.Connection, targets: set[str] | None) -> None:
        for seq in self.unsure:
            if targets is not None and not _others_score(conn, seq, targets):
                self.has_delta.append((0, seq))
        if self.score_deletes:
            conn.executemany("DELETE FROM event_scores WHERE event_seq = ? AND ruleset_id = ?", self.score_deletes)
        if self.score_upserts:
            conn.executemany(
                "INSERT OR REPLACE INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, rule_ids, weight,"
                " multiplier, delta, before, after, filtered_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)", self.score_upserts)
        if self.flags:
            conn.executemany("UPDATE events SET inorganic = ?, filtered_by = ?, grouped_with = ?, multiplier = ?,"
                             " session_index = ? WHERE seq = ?", self.flags)
        if self.has_delta:
            conn.executemany("UPDATE events SET has_delta = ? WHERE seq = ?", self.has_delta)
        if self.lead_deletes:
            conn.executemany("DELETE FROM lead_scores WHERE unit_id = ? AND lead_id = ? AND ruleset_id = ?",
                             self.lead_deletes)
        ev_store.save_many_lead_scores(conn, self.lead_upserts)
        if self.sessions:
            conn.executemany("UPDATE leads SET session_n = ?, session_last_ts = ?, session_started_at = ?,"
                             " session_count = ?, updated_at = ? WHERE unit_id = ? AND id = ?", self.sessions)


def _replay_one(unit_id: str, lead_id: str, events: list[_Stored], scoring: ScoringConfig,
                targets: set[str] | None, old_rows: dict[int, dict[str, tuple[Any, ...]]],
                old_scores: dict[str, int], old_session: tuple[Any, ...] | None, now: int, out: _Writes) -> None:
    """Replay one lead and queue the differences from what is stored. `targets` None: every ruleset (a full
    replay, which also owns the events' filter/surge columns and the session); else only those rulesets, and the
    other rulesets' rows stay as they are."""
    outcomes, finals = replay_lead([e.event for e in events], scoring)
    ids_in_history = {e.event.event_id for e in events}
    session_count, last_session = 0, None
    idle_ms = scoring.policy.idle_reset_seconds * 1000
    for stored, outcome in zip(events, outcomes, strict=True):
        seq, event = stored.seq, stored.event
        before = old_rows.get(seq, {})
        moved = False
        for row in ev_store.score_rows(unit_id, lead_id, seq, outcome.scores):
            if before.get(row[1]) != row:
                out.score_upserts.append(row)
            moved = moved or bool(row[7])
        fresh = {s.ruleset_id for s in outcome.scores}
        for rs in before.keys() - fresh:
            out.score_deletes.append((seq, rs))  # a (target) ruleset that no longer scores this event
        if moved:
            if not stored.has_delta:
                out.has_delta.append((1, seq))
        elif stored.has_delta:
            # Full replays read every row. A partial one read only its rulesets' rows: when those had no delta the
            # flag came from another ruleset and stays; otherwise the others decide (rare: probed at flush).
            if targets is None:
                out.has_delta.append((0, seq))
            elif any(row[7] for row in before.values()):
                out.unsure.append(seq)
        if not event.processed or event.decay_decrease is not None:
            continue
        if targets is None:  # the session is a full replay's to rewrite
            if outcome.session_index == 1:
                session_count += 1
            last_session = advance_session(last_session, event.ts_ms, idle_ms)
        # Filter and surge outcomes belong to the event, not to a ruleset: a partial replay decides them the same
        # way, so they are rewritten either way (a deleted filter must stop marking events inorganic).
        grouped = outcome.grouped_with if outcome.grouped_with in ids_in_history else None
        flags = (int(outcome.filtered_by is not None), outcome.filtered_by, grouped, outcome.multiplier,
                 outcome.session_index)
        if flags != stored.flags:
            out.flags.append((*flags, seq))
    for rs in (targets if targets is not None else old_scores.keys() | finals.keys()):
        old, new = old_scores.get(rs), finals.get(rs)
        if new is None:
            if old is not None:
                out.lead_deletes.append((unit_id, lead_id, rs))
        elif new != old:
            out.lead_upserts.append((unit_id, rs, lead_id, new, now))
    if targets is None:
        session = _session_row(last_session, session_count)
        if old_session is None or session != old_session:
            out.sessions.append((*session, now, unit_id, lead_id))


def _session_row(session: Session | None, session_count: int) -> tuple[int, int | None, int | None, int]:
    if session is None:
        return 0, None, None, session_count
    return session.count, session.last_ts, session.started_at, session_count


def _rescore_chunk(conn: apsw.Connection, unit_id: str, scoring: ScoringConfig, lead_ids: Sequence[str],
                   targets: set[str] | None, now: int) -> None:
    events = _load_events(conn, unit_id, lead_ids)
    old_rows: dict[int, dict[str, tuple[Any, ...]]] = {}
    for (seq, rs), row in _load_score_rows(conn, unit_id, lead_ids, targets).items():
        old_rows.setdefault(seq, {})[rs] = row
    old_scores: dict[str, dict[str, int]] = {}
    for (lead_id, rs), score in _load_lead_scores(conn, unit_id, lead_ids).items():
        old_scores.setdefault(lead_id, {})[rs] = score
    sessions = _load_sessions(conn, unit_id, lead_ids) if targets is None else {}
    out = _Writes()
    for lead_id in lead_ids:
        _replay_one(unit_id, lead_id, events[lead_id], scoring, targets, old_rows, old_scores.get(lead_id, {}),
                    sessions.get(lead_id), now, out)
    out.flush(conn, targets)


def rescore_leads(conn: apsw.Connection, cfg: OUConfig, lead_ids: Iterable[str] | None, now: int,
                  ruleset_ids: Collection[str] | None = None, budget_ms: float | None = None) -> int:
    """Rewrite event_scores, lead_scores (and, for a full rescore, the events' filter/surge columns and the lead
    session state) of the given leads (None: every live lead of the OU), writing only what changes. Returns how
    many leads were replayed: all of them, or, with `budget_ms`, the first ones replayed before that much time
    had passed (whole chunks; the caller continues with the rest in a later transaction)."""
    unit_id = cfg.unit_id
    if lead_ids is None:
        lead_ids = [str(r[0]) for r in conn.execute(
            "SELECT id FROM leads WHERE unit_id = ? AND merged_into IS NULL", (unit_id,)).fetchall()]
    scoring = cfg.scoring
    targets = set(ruleset_ids) if ruleset_ids is not None else None
    if targets is not None:
        scoring = replace(scoring, rulesets=tuple(r for r in scoring.rulesets if r.ruleset_id in targets))
    ids = list(dict.fromkeys(lead_ids))
    deadline = time.perf_counter() + budget_ms / 1000 if budget_ms is not None else None
    done = 0
    for start in range(0, len(ids), CHUNK_LEADS):
        chunk = ids[start:start + CHUNK_LEADS]
        _rescore_chunk(conn, unit_id, scoring, chunk, targets, now)
        done += len(chunk)
        if deadline is not None and time.perf_counter() > deadline:
            break
    return done
