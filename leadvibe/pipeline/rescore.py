"""Replays: recompute leads' scores from their stored events, in arrival order, through the same engine code
the live worker uses (so an unchanged configuration reproduces the same scores).

Leads are replayed a few hundred at a time with set queries (their events, score rows and scores read at once),
and only what the replay changes is written: a rescore with unchanged rules writes nothing, and a rule change
rewrites the rows it moves. Each lead is replayed whole inside one transaction, so at every commit its score
equals the sum of its stored deltas.

A rescore of one ruleset replays only the leads a change can reach (`rescore_scope`): when nothing but rules
changed since the ruleset's rows were last made whole, a lead without an event of a type whose rules changed
would get back every row it has.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import apsw

from leadvibe.engine.bulk import OBSERVED, SCORED, Plan, StepEvent, replay_steps
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.surge import Session
from leadvibe.pipeline.scoring_config import OUConfig, load_config
from leadvibe.pipeline.worker import replay_event_from_row
from leadvibe.store import events as ev_store
from leadvibe.store import rescore_basis as basis
from leadvibe.store.scoring import live_lead_ids

CHUNK_LEADS = 100  # leads per set query: small enough to stop close to a step's time budget


_Stored = tuple[int, tuple[Any, ...], int]
"""What is stored of one event that a replay may change: ``(seq, (inorganic, filtered_by, grouped_with,
multiplier, session_index), has_delta)``."""


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _kind(event_id: str, key: str, ts: int, scope: str, decay_id: str | None, metadata: str | None) -> int:
    """engine.bulk's event kind of a stored event, read as the live worker reads it."""
    if decay_id is None:
        return OBSERVED if scope == "observe" else SCORED
    decrease = replay_event_from_row(event_id, key, ts, scope, decay_id, metadata).decay_decrease or 0
    if decrease < 0:  # the engine refuses it; OBSERVED and SCORED are negative numbers, so it must not pass
        raise ValueError(f"decay {decay_id!r}: decrease must be >= 0, not {decrease}")
    return decrease


class _Loaded:
    """What a chunk's replay reads of its leads' events: each lead's events in arrival order as the replay reads
    them and as they are stored, and their stored score rows by seq and ruleset."""

    __slots__ = ("events", "score_rows")

    def __init__(self, lead_ids: Sequence[str]) -> None:
        self.events: dict[str, tuple[list[StepEvent], list[_Stored]]] = {lead_id: ([], []) for lead_id in lead_ids}
        self.score_rows: dict[int, dict[str, tuple[Any, ...]]] = {}


def _load(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str], targets: set[str] | None) -> _Loaded:
    """The leads' events with their score rows (of the target rulesets only, when given), in one walk of the
    leads' events: an event comes once per score row it has, or once with none."""
    loaded = _Loaded(lead_ids)
    score_rows = loaded.score_rows
    only = f" AND s.ruleset_id IN ({_marks(len(targets))})" if targets is not None else ""
    last_seq = None
    for (lead_id, seq, event_id, key, ts, scope, decay_id, metadata, inorganic, filtered_by, grouped_with,
         multiplier, session_index, has_delta, same_owner, ruleset_id, *row) in conn.execute(
            "SELECT e.lead_id, e.seq, e.id, e.type_key, e.occurred_at, e.scope, e.decay_id,"
            " CASE WHEN e.decay_id IS NOT NULL THEN e.metadata END, e.inorganic, e.filtered_by, e.grouped_with,"
            " e.multiplier, e.session_index, e.has_delta, s.unit_id = e.unit_id AND s.lead_id = e.lead_id,"
            " s.ruleset_id, s.rule_ids, s.weight, s.multiplier, s.delta, s.before, s.after, s.filtered_by"
            f" FROM lead_events e LEFT JOIN event_scores s ON s.event_seq = e.seq{only}"
            f" WHERE e.unit_id = ? AND e.lead_id IN ({_marks(len(lead_ids))}) ORDER BY e.lead_id, e.seq",
            (*(sorted(targets) if targets is not None else ()), unit_id, *lead_ids)):
        if ruleset_id is not None:
            # As written (unit_id, lead_id: the event's); a row filed under another lead never equals a fresh one.
            owner = (unit_id, lead_id) if same_owner else (None, None)
            score_rows.setdefault(seq, {})[ruleset_id] = (seq, ruleset_id, *owner, *row)
        if seq == last_seq:
            continue
        last_seq = seq
        kind = SCORED if decay_id is None and scope != "observe" else _kind(event_id, key, ts, scope, decay_id,
                                                                             metadata)
        events, stored = loaded.events[lead_id]
        events.append((event_id, key, ts, kind))
        stored.append((seq, (inorganic, filtered_by, grouped_with, multiplier, session_index), has_delta))
    return loaded


def _others_score(conn: apsw.Connection, seq: int, targets: set[str]) -> bool:
    """Whether a ruleset outside `targets` has a non-zero delta on event `seq`."""
    return conn.execute(f"SELECT 1 FROM event_scores WHERE event_seq = ? AND ruleset_id NOT IN ({_marks(len(targets))})"
                        " AND delta != 0 LIMIT 1", (seq, *sorted(targets))).fetchone() is not None


def _load_sessions(conn: apsw.Connection, unit_id: str,
                   lead_ids: Sequence[str]) -> dict[str, tuple[int, int | None, int | None, int]]:
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in conn.execute(
        "SELECT id, session_n, session_last_ts, session_started_at, session_count FROM leads"
        f" WHERE unit_id = ? AND id IN ({_marks(len(lead_ids))})", (unit_id, *lead_ids))}


def _score_key(update: tuple[Any, ...]) -> tuple[int, str]:
    """(event_seq, ruleset_id): the primary key of an `event_scores` UPDATE's parameters (its last two)."""
    return update[-2], update[-1]


class _Writes:
    """Only the rows a replay changes, written with one statement per kind for a whole chunk of leads."""

    def __init__(self) -> None:
        self.score_inserts: list[tuple[Any, ...]] = []
        self.inserted_at: dict[int, int] = {}  # event seq -> occurred_at, for the inserted rows' totals
        self.score_updates: list[tuple[Any, ...]] = []
        self.score_deletes: list[tuple[int, str]] = []
        self.flags: list[tuple[Any, ...]] = []
        self.has_delta: list[tuple[int, int]] = []
        self.unsure: list[int] = []  # events whose has_delta depends on rulesets a partial replay did not read
        self.lead_upserts: list[tuple[str, str, str, int, int]] = []  # scores the lead had none of yet
        self.lead_updates: list[tuple[int, int, str, str, str]] = []
        self.lead_deletes: list[tuple[str, str, str]] = []
        self.sessions: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        """How many rows the flush writes (about: events whose flag is probed at flush count as one)."""
        return (len(self.score_inserts) + len(self.score_updates) + len(self.score_deletes) + len(self.flags)
                + len(self.has_delta) + len(self.unsure) + len(self.lead_upserts) + len(self.lead_updates)
                + len(self.lead_deletes) + len(self.sessions))

    def flush(self, conn: apsw.Connection, targets: set[str] | None) -> None:
        for seq in self.unsure:
            if targets is not None and not _others_score(conn, seq, targets):
                self.has_delta.append((0, seq))
        if self.score_deletes:
            conn.executemany("DELETE FROM event_scores WHERE event_seq = ? AND ruleset_id = ?", self.score_deletes)
        if self.score_inserts:
            # Rows the stored set lacked when the replay read it: each replaces one written since, if any.
            ev_store.replace_scores(conn, self.score_inserts, self.inserted_at)
        if self.score_updates:
            # An UPDATE, not a REPLACE: most rewritten rows only move their before/after, and a REPLACE would
            # fire the analytics triggers' delete-and-insert for each of them (an UPDATE does only when the
            # delta moves). In key order: a chunk's leads' rows lie all over the table, and neighbours in key
            # order share the pages the descent reads.
            self.score_updates.sort(key=_score_key)
            conn.executemany(
                "UPDATE event_scores SET rule_ids = ?, weight = ?, multiplier = ?, delta = ?, before = ?, after = ?,"
                " filtered_by = ?, unit_id = ?, lead_id = ? WHERE event_seq = ? AND ruleset_id = ?",
                self.score_updates)
        if self.flags:
            conn.executemany("UPDATE events SET inorganic = ?, filtered_by = ?, grouped_with = ?, multiplier = ?,"
                             " session_index = ? WHERE seq = ?", self.flags)
        if self.has_delta:
            conn.executemany("UPDATE events SET has_delta = ? WHERE seq = ?", self.has_delta)
        if self.lead_deletes:
            conn.executemany("DELETE FROM lead_scores WHERE unit_id = ? AND lead_id = ? AND ruleset_id = ?",
                             self.lead_deletes)
        ev_store.update_lead_scores(conn, self.lead_updates)
        ev_store.save_many_lead_scores(conn, self.lead_upserts)
        if self.sessions:
            conn.executemany("UPDATE leads SET session_n = ?, session_last_ts = ?, session_started_at = ?,"
                             " session_count = ?, updated_at = ? WHERE unit_id = ? AND id = ?", self.sessions)


def _replay_one(unit_id: str, lead_id: str, events: list[StepEvent], stored: list[_Stored], plan: Plan,
                targets: set[str] | None, old_rows: dict[int, dict[str, tuple[Any, ...]]],
                old_scores: dict[str, int], old_session: tuple[Any, ...] | None, now: int, out: _Writes) -> None:
    """Replay one lead and queue the differences from what is stored. `targets` None: every ruleset; else only
    those rulesets, and the other rulesets' rows stay as they are. Either way the replay owns what belongs to the
    lead's events rather than to a ruleset: their filter and surge columns, and the lead's session, from which the
    worker scores its next event (a partial replay after a session timeout change that rewrote the events' session
    positions but kept the old session scored the next event in a session the replay had closed)."""
    steps, finals, last_session, session_count = replay_steps(events, plan)
    # The rulesets this replay scores: the targets, or every active one. An inactive ruleset's rows and scores are
    # frozen (docs/scoring.md): its rows stay as stored and its score stays their sum, also when a merge or a
    # deletion changes which events the lead has.
    owned = targets if targets is not None else set(plan.ids)
    frozen: dict[str, int] = {}
    ids_in_history: set[str] | None = None
    for (seq, stored_flags, has_delta), event, (multiplier, index, filtered_by, grouped_with, rows) in zip(
            stored, events, steps, strict=True):
        before = old_rows.get(seq, {})
        moved = False
        kept = 0
        for rs, rule_ids, weight, applied, delta, start, after, row_filter in rows:
            row = (seq, rs, unit_id, lead_id, ev_store.rule_ids_json(rule_ids), weight, applied, delta, start, after,
                   row_filter)
            stored_row = before.get(rs)
            if stored_row is None:
                out.score_inserts.append(row)
                out.inserted_at[seq] = event[2]
            else:
                kept += 1
                # Not the running totals (`before`, `after`, row[8:10]): readers sum them from the deltas
                # (store/running_totals.py), and a changed weight would move them on every later row of the lead.
                if stored_row[:8] != row[:8] or stored_row[10] != row[10]:
                    out.score_updates.append((*row[4:], unit_id, lead_id, seq, rs))
            moved = moved or bool(delta)
        if kept < len(before):
            for rs in before.keys() - {r[0] for r in rows}:
                if rs in owned:
                    out.score_deletes.append((seq, rs))  # a ruleset that no longer scores this event
                else:
                    kept_row = before[rs]
                    frozen[rs] = frozen.get(rs, 0) + kept_row[7]
                    moved = moved or bool(kept_row[7])
                    if kept_row[2:4] != (unit_id, lead_id):  # moved here by a merge: filed under this lead now
                        out.score_updates.append((*kept_row[4:], unit_id, lead_id, seq, rs))
        if moved:
            if not has_delta:
                out.has_delta.append((1, seq))
        elif has_delta:
            # Full replays read every row. A partial one read only its rulesets' rows: when those had no delta the
            # flag came from another ruleset and stays; otherwise the others decide (rare: probed at flush).
            if targets is None:
                out.has_delta.append((0, seq))
            elif any(row[7] for row in before.values()):
                out.unsure.append(seq)
        if event[3] != SCORED:
            continue
        # Filter and surge outcomes belong to the event, not to a ruleset: a partial replay decides them the same
        # way, so they are rewritten either way (a deleted filter must stop marking events inorganic).
        if grouped_with is not None:
            if ids_in_history is None:
                ids_in_history = {e[0] for e in events}
            if grouped_with not in ids_in_history:
                grouped_with = None
        flags = (int(filtered_by is not None), filtered_by, grouped_with, multiplier, index)
        if flags != stored_flags:
            out.flags.append((*flags, seq))
    for rs in (targets if targets is not None else old_scores.keys() | finals.keys() | frozen.keys()):
        old, new = old_scores.get(rs), finals.get(rs) if rs in owned else frozen.get(rs)
        if new is None:
            if old is not None:
                out.lead_deletes.append((unit_id, lead_id, rs))
        elif old is None:
            out.lead_upserts.append((unit_id, rs, lead_id, new, now))
        elif new != old:
            out.lead_updates.append((new, now, unit_id, lead_id, rs))
    session = _session_row(last_session, session_count)
    if old_session is None or session != old_session:
        out.sessions.append((*session, now, unit_id, lead_id))


def _session_row(session: Session | None, session_count: int) -> tuple[int, int | None, int | None, int]:
    if session is None:
        return 0, None, None, session_count
    return session.count, session.last_ts, session.started_at, session_count


def _replay_chunk(conn: apsw.Connection, unit_id: str, plan: Plan, lead_ids: Sequence[str],
                  targets: set[str] | None, now: int) -> _Writes:
    """Replay a chunk of leads and return what differs from what is stored (written by `_Writes.flush`)."""
    loaded = _load(conn, unit_id, lead_ids, targets)
    old_scores: dict[str, dict[str, int]] = {}
    for (lead_id, rs), score in ev_store.lead_scores(conn, unit_id, lead_ids).items():
        old_scores.setdefault(lead_id, {})[rs] = score
    sessions = _load_sessions(conn, unit_id, lead_ids)
    out = _Writes()
    for lead_id in lead_ids:
        lead_events, stored = loaded.events[lead_id]
        _replay_one(unit_id, lead_id, lead_events, stored, plan, targets, loaded.score_rows,
                    old_scores.get(lead_id, {}), sessions.get(lead_id), now, out)
    return out


def _fingerprint(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> tuple[Any, ...]:
    """What a replay of these leads depends on besides the configuration, cheap to compare: their events. Events
    only come and go (seqs are never reused and no column a replay reads is ever updated; a merge moves events
    to another lead, a deletion removes them, a decay adds one), and every other change to a lead's scores or
    session comes from an event or from a replay, which gives the same rows under the same configuration."""
    return tuple(conn.execute("SELECT lead_id, count(*), max(seq), total(seq) FROM lead_events WHERE unit_id = ?"
                              f" AND lead_id IN ({_marks(len(lead_ids))}) GROUP BY lead_id ORDER BY lead_id",
                              (unit_id, *lead_ids)))


@dataclass(slots=True)
class PreparedRescore:
    """Replays computed on a read transaction, for `rescore_leads` to write in a later write transaction: the
    writer then spends its time writing, not replaying. A chunk whose leads changed in between, or all of them
    when the scoring configuration did, is replayed again there."""

    scoring: ScoringConfig
    chunks: list[tuple[list[str], tuple[Any, ...], _Writes]]

    @property
    def lead_count(self) -> int:
        """How many leads the prepared chunks cover (a prefix of the leads asked for)."""
        return sum(len(chunk) for chunk, _, _ in self.chunks)

    @property
    def write_count(self) -> int:
        """About how many rows writing the prepared chunks writes (see `_Writes.__len__`)."""
        return sum(len(writes) for _, _, writes in self.chunks)


def _chunks(lead_ids: Iterable[str], budget_ms: float | None,
            size: Callable[[], int] = lambda: CHUNK_LEADS) -> Iterator[list[str]]:
    """The leads, deduplicated, `size()` at a time (asked before each chunk); with a budget, no new chunk once it
    has passed."""
    ids = list(dict.fromkeys(lead_ids))
    deadline = time.perf_counter() + budget_ms / 1000 if budget_ms is not None else None
    start = 0
    while start < len(ids):
        chunk = ids[start:start + size()]
        start += len(chunk)
        yield chunk
        if deadline is not None and time.perf_counter() > deadline:
            return


def _plan(cfg: OUConfig, targets: set[str] | None) -> Plan:
    scoring = cfg.scoring
    if targets is not None:
        scoring = replace(scoring, rulesets=tuple(r for r in scoring.rulesets if r.ruleset_id in targets))
    return Plan(scoring)


def prepare_rescore(conn: apsw.Connection, cfg: OUConfig, lead_ids: Sequence[str], now: int,
                    ruleset_ids: Collection[str] | None = None, budget_ms: float | None = None,
                    max_writes: int | None = None) -> PreparedRescore:
    """Inside a read transaction: replay the leads as `rescore_leads` would (the first ones within `budget_ms`,
    and, with `max_writes`, no new chunk once about that many rows are to be written; whole chunks) and keep what
    their writes would be, with what the replays depended on. `cfg` is the one this transaction sees
    (`load_config`, not a cache a reader could fill with a configuration older than the cache's)."""
    targets = set(ruleset_ids) if ruleset_ids is not None else None
    plan = _plan(cfg, targets)
    prepared = PreparedRescore(cfg.scoring, [])
    done = writes = 0

    def next_size() -> int:
        if max_writes is None or not writes:
            return CHUNK_LEADS
        # As many leads as the rows still allowed need at the rows per lead seen so far: a chunk of leads that all
        # change writes several hundred rows, too coarse a unit for the budget.
        return max(1, min(CHUNK_LEADS, (max_writes - writes) * done // writes))

    for chunk in _chunks(lead_ids, budget_ms, next_size):
        out = _replay_chunk(conn, cfg.unit_id, plan, chunk, targets, now)
        prepared.chunks.append((chunk, _fingerprint(conn, cfg.unit_id, chunk), out))
        done += len(chunk)
        writes += len(out)
        if max_writes is not None and writes >= max_writes:
            break  # the write step, which ingestion waits behind, stays short
    return prepared


def rescore_leads(conn: apsw.Connection, cfg: OUConfig, lead_ids: Iterable[str] | None, now: int,
                  ruleset_ids: Collection[str] | None = None, budget_ms: float | None = None,
                  prepared: PreparedRescore | None = None) -> int:
    """Rewrite event_scores, lead_scores (and, for a full rescore, the events' filter/surge columns and the lead
    session state) of the given leads (None: every live lead of the OU), writing only what changes. Returns how
    many leads were replayed: all of them, or, with `budget_ms`, the first ones replayed before that much time
    had passed (whole chunks; the caller continues with the rest in a later transaction).

    With `prepared` (from `prepare_rescore` with the same leads and rulesets), its chunks are written as they
    were prepared unless the scoring configuration or a chunk's leads changed since, in which case that chunk is
    replayed here; the leads replayed are the prepared ones (`budget_ms` does not apply)."""
    unit_id = cfg.unit_id
    targets = set(ruleset_ids) if ruleset_ids is not None else None
    plan = _plan(cfg, targets)
    if prepared is not None:
        for chunk, fingerprint, writes in prepared.chunks:
            if prepared.scoring != cfg.scoring or _fingerprint(conn, unit_id, chunk) != fingerprint:
                writes = _replay_chunk(conn, unit_id, plan, chunk, targets, now)
            writes.flush(conn, targets)
        return prepared.lead_count
    whole_ou = lead_ids is None and budget_ms is None and conn.in_transaction
    if lead_ids is None:
        lead_ids = live_lead_ids(conn, unit_id)
    done = 0
    for chunk in _chunks(lead_ids, budget_ms):
        _replay_chunk(conn, unit_id, plan, chunk, targets, now).flush(conn, targets)
        done += len(chunk)
    if whole_ou and load_config(conn, unit_id).scoring == cfg.scoring:
        # Every live lead replayed in one transaction under the configuration it holds: the rows are whole.
        ids = cfg.active_ruleset_ids if targets is None else [r for r in cfg.active_ruleset_ids if r in targets]
        basis.record_basis(conn, unit_id, ids, basis.scoring_epoch(conn, unit_id), None)
    return done


@dataclass(frozen=True, slots=True)
class RescoreScope:
    """The leads a rescore of one ruleset replays, and what it records once every one of them is written."""

    lead_ids: list[str]
    live_leads: int
    """Every live lead of the OU: those not in `lead_ids` would get back the rows they have."""
    epoch: int
    pending_through: int


def rescore_scope(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> RescoreScope:
    """Inside a read transaction: the leads a rescore of the ruleset must replay. Every live lead, unless the
    ruleset's rows were made whole under the OU's current scoring epoch (no change since to the surge policy,
    session timeout, filters, floor or active rulesets); then only the leads with an event of a type whose rules
    in the ruleset changed since (a rule's match depends on its event's type and time alone)."""
    epoch = basis.scoring_epoch(conn, unit_id)
    through, types = basis.pending_types(conn, unit_id, ruleset_id)
    live = live_lead_ids(conn, unit_id)
    if basis.basis_epoch(conn, unit_id, ruleset_id) != epoch:
        return RescoreScope(live, len(live), epoch, through)
    return RescoreScope(basis.live_leads_with_types(conn, unit_id, types), len(live), epoch, through)


def finish_rescore(conn: apsw.Connection, unit_id: str, ruleset_id: str, scope: RescoreScope) -> bool:
    """Inside a write, after every lead of `scope` was replayed and written: record that the ruleset's rows are
    whole, so that the next rescore can leave alone the leads no later rule change reaches. False (nothing
    recorded) when the scoring epoch moved meanwhile."""
    return basis.record_basis(conn, unit_id, [ruleset_id], scope.epoch, scope.pending_through)
