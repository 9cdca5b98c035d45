"""The scoring worker: takes inbox rows in arrival order, in batches, and for each event resolves the lead,
applies filters, scores every active ruleset, records explanations, evaluates triggers and removes the inbox
row — all in one write transaction, so a crash never double-counts or drops an event. SSE publications go out
after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import apsw
import msgspec
import structlog

from leadvibe.engine.levels import level_for
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, channel_for, type_key
from leadvibe.engine.replay import LeadScorer, ReplayEvent
from leadvibe.engine.surge import Session
from leadvibe.ids import new_id
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.scoring_config import OUConfig
from leadvibe.store import events as ev_store

log = structlog.get_logger("leadvibe.worker")
_json = msgspec.json.Encoder()


@dataclass(slots=True)
class EventContext:
    """What trigger evaluation sees for one scored event (inside the worker's transaction)."""

    org_id: str
    unit_id: str
    lead_id: str
    event_id: str
    event_seq: int
    event_type: str
    type_key: str
    occurred_at: int
    received_at: int
    metadata: dict[str, Any] | None
    channel: str
    primary_ruleset_id: str | None
    primary_before: int
    primary_after: int
    level_name: str | None
    now: int


@dataclass
class _LeadWork:
    """A lead's state while a batch runs; written back once at the end of the batch."""

    scorer: LeadScorer
    session_count: int
    last_event_at: int | None = None
    last_event_type: str | None = None
    last_organic_at: int | None = None
    touched_scores: bool = False


@dataclass
class BatchResult:
    """What one batch did."""

    processed: int = 0
    failed: int = 0
    fired: int = 0
    publications: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


class _Discard(list):  # type: ignore[type-arg]
    """A publication list for OUs nobody is streaming: appends go nowhere."""

    def append(self, _: Any) -> None:
        return None


def _level_name(cfg: OUConfig, score: int) -> str | None:
    lv = level_for(cfg.levels, score)
    return lv.name if lv else None


class BatchProcessor:
    """Processes one batch of inbox rows inside the writer's transaction."""

    def __init__(self, rt: Any, conn: apsw.Connection, now: int) -> None:
        self.rt = rt
        self.conn = conn
        self.now = now
        self.configs = rt.scoring_config
        self.triggers = rt.triggers
        self.leads: dict[tuple[str, str], _LeadWork] = {}
        self.type_counts: dict[str, dict[str, tuple[str, int, int]]] = {}
        self.properties: dict[str, set[tuple[str, str]]] = {}
        self.result = BatchResult()
        # Arrival order is assigned here, so rows of OUs that never read events back mid-batch (no filters, no
        # triggers) can be written with one executemany per batch instead of one statement per event.
        self.next_seq = ev_store.next_event_seq(conn)
        self.event_rows: list[tuple[Any, ...]] = []
        self.score_rows: list[tuple[Any, ...]] = []
        self.resolved: dict[tuple[str, str], str] = {}
        self.prefetched: dict[tuple[str, str], tuple[dict[str, int], Session | None, int]] = {}
        hub = rt.stream
        self._listening = (lambda unit: hub.subscriber_count(unit) > 0) if hub is not None else (lambda unit: False)

    def prefetch(self, rows: list[tuple[Any, ...]], decoded: list[inbox_mod.QueuedEvent]) -> None:
        """Load the state of every lead named by id in the batch with a few set queries, not two per lead."""
        by_unit: dict[str, set[str]] = {}
        for row, q in zip(rows, decoded, strict=True):
            if q.lead_id:
                by_unit.setdefault(row[2], set()).add(q.lead_id)
        for unit_id, ids in by_unit.items():
            self.prefetched.update(ev_store.lead_states(self.conn, unit_id, sorted(ids)))

    def _work(self, cfg: OUConfig, lead_id: str) -> _LeadWork:
        key = (cfg.unit_id, lead_id)
        work = self.leads.get(key)
        if work is None:
            known = self.prefetched.pop(key, None)
            scores, session, count = known if known is not None else ev_store.lead_state(
                self.conn, cfg.unit_id, lead_id)
            work = _LeadWork(LeadScorer(cfg.scoring, scores, session), count)
            self.leads[key] = work
        return work

    def process(self, row: tuple[Any, ...], q: inbox_mod.QueuedEvent | None = None) -> None:
        """One inbox row (decoded already, or decoded here); raises on failure (the caller rolls back)."""
        _seq, org_id, unit_id, _event_id, payload, source, skip_triggers, received_at = row
        if q is None:
            q = inbox_mod.decode(payload)
        cfg = self.configs.get(self.conn, unit_id)
        conn, now = self.conn, self.now
        lead_id = self._resolve(unit_id, org_id, q.lead_id, q.aliases, source)
        key = type_key(q.event_type)
        immediate = bool(cfg.scoring.filters) or (
            self.triggers is not None and not self.triggers.triggers_for(conn, unit_id).empty)
        scope = cfg.scope_for(key)
        channel = channel_for(q.event_type, q.metadata)
        metadata_json = _json.encode(q.metadata).decode() if q.metadata is not None else None
        self._catalogue(unit_id, key, q.event_type, q.ts, q.metadata)
        pubs = self.result.publications if self._listening(unit_id) else _Discard()
        if scope == "observe":
            self._event_row(immediate, (q.event_id, org_id, unit_id, lead_id, q.event_type, key, q.ts, received_at,
                                        now, metadata_json, channel, source, scope, 0, None, None, 1.0, None, 0,
                                        None))
            pubs.append((unit_id, "event_ingested", {"event_id": q.event_id, "lead_id": lead_id,
                                                     "event_type": q.event_type, "scope": scope}))
            return
        work = self._work(cfg, lead_id)
        hits: dict[str, tuple[int, str | None]] = {}
        first_seqs: dict[str, int | None] = {}
        for f in cfg.scoring.filters:
            if f.type_key == key:
                n, first_seq = ev_store.filter_window(conn, unit_id, lead_id, key, q.ts - f.time_window_ms, q.ts)
                hits[f.filter_id] = (n, None)
                first_seqs[f.filter_id] = first_seq
        primary = cfg.primary_ruleset_id
        before_primary = work.scorer.scores.get(primary, 0) if primary else 0
        outcome = work.scorer.score(ReplayEvent(q.event_id, key, q.ts), hits)
        grouped_with = None
        if outcome.filtered_by is not None:
            f_seq = first_seqs.get(outcome.filtered_by)
            flt = next(f for f in cfg.scoring.filters if f.filter_id == outcome.filtered_by)
            if flt.group_events and f_seq is not None:
                grouped_with = ev_store.event_id_by_seq(conn, f_seq)
        has_delta = int(any(s.delta for s in outcome.scores))
        event_seq = self._event_row(immediate, (
            q.event_id, org_id, unit_id, lead_id, q.event_type, key, q.ts, received_at, now, metadata_json, channel,
            source, scope, int(outcome.filtered_by is not None), outcome.filtered_by, grouped_with,
            outcome.multiplier, outcome.session_index, has_delta, None))
        if immediate:
            ev_store.insert_scores(conn, unit_id, lead_id, event_seq, outcome.scores)
        else:
            self.score_rows.extend(ev_store.score_rows(unit_id, lead_id, event_seq, outcome.scores))
        if outcome.session_index == 1:
            work.session_count += 1
        work.touched_scores = True
        if work.last_event_at is None or q.ts >= work.last_event_at:
            work.last_event_at, work.last_event_type = q.ts, q.event_type
        work.last_organic_at = max(work.last_organic_at or 0, q.ts)
        after_primary = work.scorer.scores.get(primary, 0) if primary else 0
        pubs.append((unit_id, "event_ingested", {"event_id": q.event_id, "lead_id": lead_id,
                                                 "event_type": q.event_type, "channel": channel}))
        for s in outcome.scores:
            if s.delta:
                pubs.append((unit_id, "score_update", {"lead_id": lead_id, "ruleset_id": s.ruleset_id,
                                                       "delta": s.delta, "score": s.after}))
        self.result.latencies.append(max(0.0, (now - received_at) / 1000))
        if (self.triggers is not None and scope == "activate" and outcome.filtered_by is None
                and not skip_triggers):
            ctx = EventContext(org_id, unit_id, lead_id, q.event_id, event_seq, q.event_type, key, q.ts, received_at,
                               q.metadata, channel, primary, before_primary, after_primary,
                               _level_name(cfg, after_primary), now)
            fired = self.triggers.on_event(conn, ctx)
            for name, data in fired or ():
                pubs.append((unit_id, name, data))
                self.result.fired += 1

    def _resolve(self, unit_id: str, org_id: str, lead_id: str | None, aliases: list[tuple[str, str, str]],
                 source: str) -> str:
        # Within a batch a named lead resolves the same way every time (merges run in other transactions).
        if lead_id and not aliases:
            key = (unit_id, lead_id)
            hit = self.resolved.get(key)
            if hit is None:
                hit = ev_store.resolve_lead(self.conn, unit_id, org_id, lead_id, aliases, self.now, source)
                self.resolved[key] = hit
            return hit
        return ev_store.resolve_lead(self.conn, unit_id, org_id, lead_id, aliases, self.now, source)

    def _event_row(self, immediate: bool, row: tuple[Any, ...]) -> int:
        seq = self.next_seq
        self.next_seq += 1
        if immediate:
            ev_store.insert_event_with_seq(self.conn, seq, row)
        else:
            self.event_rows.append((seq, *row))
        return seq

    def _catalogue(self, unit_id: str, key: str, name: str, ts: int, metadata: dict[str, Any] | None) -> None:
        counts = self.type_counts.setdefault(unit_id, {})
        first, n, last = counts.get(key, (name, 0, ts))
        counts[key] = (first, n + 1, max(last, ts))
        if metadata:
            props = self.properties.setdefault(unit_id, set())
            for k in metadata:
                props.add((key, str(k)[:200]))

    def discard(self) -> None:
        """Drop cached state (after a failed event its in-memory updates are rolled back with it)."""
        self.prefetched.clear()
        self.event_rows.clear()
        self.score_rows.clear()
        self.resolved.clear()
        self.leads.clear()
        self.type_counts.clear()
        self.properties.clear()

    def finish(self) -> None:
        """Write the buffered rows, the per-lead state and the event-type catalogue."""
        conn, now = self.conn, self.now
        ev_store.insert_events_with_seq(conn, self.event_rows)
        ev_store.insert_score_rows(conn, self.score_rows)
        score_rows: list[tuple[str, str, str, int, int]] = []
        activity: list[tuple[Any, ...]] = []
        for (unit_id, lead_id), work in self.leads.items():
            if work.touched_scores:
                score_rows.extend((unit_id, rs, lead_id, score, now) for rs, score in work.scorer.scores.items())
            activity.append(ev_store.activity_row(
                unit_id, lead_id, last_event_at=work.last_event_at, last_event_type=work.last_event_type,
                last_organic_at=work.last_organic_at, session=work.scorer.session, session_count=work.session_count,
                now=now))
        ev_store.save_many_lead_scores(conn, score_rows)
        ev_store.save_lead_activity(conn, activity)
        for unit_id, counts in self.type_counts.items():
            ev_store.bump_event_types(conn, unit_id, counts)
        for unit_id, pairs in self.properties.items():
            ev_store.add_properties(conn, unit_id, pairs)
        self.discard()


def process_batch(rt: Any, conn: apsw.Connection, limit: int, careful: bool = False) -> BatchResult:
    """Take up to `limit` inbox rows in arrival order and process them (called on the writer thread).

    The fast path runs the whole batch without per-event savepoints; if any event raises, the whole batch is
    rolled back by the caller and re-run with `careful=True`, where each event has its own savepoint and a
    failing one is set aside in `inbox_dead` (with its error) instead of blocking the queue.
    """
    rows = conn.execute("SELECT seq, org_id, unit_id, event_id, payload, source, skip_triggers, received_at"
                        " FROM inbox ORDER BY seq LIMIT ?", (limit,)).fetchall()
    proc = BatchProcessor(rt, conn, rt.now_ms())
    if not rows:
        return proc.result
    if not careful:
        decoded = [inbox_mod.decode(row[4]) for row in rows]
        proc.prefetch(rows, decoded)
        for row, q in zip(rows, decoded, strict=True):
            proc.process(row, q)
        proc.result.processed = len(rows)
        proc.finish()
    else:
        for row in rows:
            conn.execute("SAVEPOINT ev")
            try:
                proc.process(row)
                # Write the lead state back inside the savepoint, so a later failure can never discard
                # in-memory updates of events that are already committed to the savepoint chain.
                proc.finish()
                conn.execute("RELEASE ev")
                proc.result.processed += 1
            except Exception as exc:
                conn.execute("ROLLBACK TO ev")
                conn.execute("RELEASE ev")
                proc.discard()
                proc.result.failed += 1
                log.error("event_processing_failed", event_id=row[3], unit_id=row[2], error=repr(exc))
                conn.execute("INSERT OR REPLACE INTO inbox_dead (seq, org_id, unit_id, event_id, payload, source,"
                             " skip_triggers, received_at, error, failed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (*row, repr(exc)[:2000], proc.now))
    conn.execute("DELETE FROM inbox WHERE seq <= ?", (rows[-1][0],))
    return proc.result


def apply_decay(conn: apsw.Connection, cfg: OUConfig, lead_id: str, decay_id: str, decrease: int, ts: int,
                now: int) -> dict[str, Any] | None:
    """Record one DECAY event for a lead with its (floored) deltas in every active ruleset.

    Returns `{"event_id", "scores", "primary_score", "deltas"}`, or None when the lead does not exist or is merged.
    """
    return apply_decay_many(conn, cfg, [lead_id], decay_id, decrease, ts, now).get(lead_id)


def apply_decay_many(conn: apsw.Connection, cfg: OUConfig, lead_ids: list[str], decay_id: str, decrease: int,
                     ts: int, now: int) -> dict[str, dict[str, Any]]:
    """`apply_decay` for many leads at once: one read of their scores, one write per table.

    Leads that do not exist or are merged are skipped. Returns lead_id -> what apply_decay returns.
    """
    unit_id = cfg.unit_id
    decay_key = type_key(DECAY_EVENT_TYPE)
    metadata = _json.encode({"channel": "system", "decay_id": decay_id, "decrease": decrease}).decode()
    out: dict[str, dict[str, Any]] = {}
    next_seq = ev_store.next_event_seq(conn)
    for i in range(0, len(lead_ids), 500):
        chunk = list(dict.fromkeys(lead_ids[i:i + 500]))
        marks = ",".join("?" * len(chunk))
        live = dict(conn.execute(f"SELECT id, org_id FROM leads WHERE unit_id = ? AND id IN ({marks})"
                                 " AND merged_into IS NULL", (unit_id, *chunk)).fetchall())
        scores: dict[str, dict[str, int]] = {}
        for lead_id, ruleset_id, score in conn.execute(
                f"SELECT lead_id, ruleset_id, score FROM lead_scores WHERE unit_id = ? AND lead_id IN ({marks})",
                (unit_id, *chunk)):
            scores.setdefault(lead_id, {})[ruleset_id] = int(score)
        event_rows, score_rows, lead_rows = [], [], []
        for lead_id in chunk:
            org_id = live.get(lead_id)
            if org_id is None:
                continue
            scorer = LeadScorer(cfg.scoring, scores.get(lead_id))
            event_id = new_id("ev")
            outcome = scorer.score(ReplayEvent(event_id, decay_key, ts, decay_decrease=decrease, decay_id=decay_id),
                                   {})
            event_rows.append((next_seq, event_id, org_id, unit_id, lead_id, DECAY_EVENT_TYPE, decay_key, ts, now,
                               now, metadata, "system", "system", "activate", 0, None, None, 1.0, None,
                               int(any(sc.delta for sc in outcome.scores)), decay_id))
            score_rows.extend(ev_store.score_rows(unit_id, lead_id, next_seq, outcome.scores))
            lead_rows.extend((unit_id, rs, lead_id, score, now) for rs, score in scorer.scores.items())
            next_seq += 1
            primary = scorer.scores.get(cfg.primary_ruleset_id, 0) if cfg.primary_ruleset_id else 0
            out[lead_id] = {"event_id": event_id, "scores": dict(scorer.scores), "primary_score": primary,
                            "deltas": {sc.ruleset_id: sc.delta for sc in outcome.scores}}
        ev_store.insert_events_with_seq(conn, event_rows)
        ev_store.insert_score_rows(conn, score_rows)
        ev_store.save_many_lead_scores(conn, lead_rows)
    return out


def replay_event_from_row(seq_id: str, key: str, ts: int, scope: str, decay_id: str | None,
                          metadata: str | None) -> ReplayEvent:
    """A stored event as the replay engine sees it (DECAY events carry their decrease in metadata)."""
    if decay_id is not None:
        decrease = int(msgspec.json.decode(metadata or "{}").get("decrease", 0))
        return ReplayEvent(seq_id, key, ts, decay_decrease=decrease, decay_id=decay_id)
    return ReplayEvent(seq_id, key, ts, processed=(scope != "observe"))


class Worker:
    """The background task that drains the inbox."""

    name = "worker"

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.queue_depth = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self.processed_total = 0

    @property
    def alive(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Count what is pending (resumes unfinished rows after a crash) and start the loop."""
        self.queue_depth = int(await self.rt.db.read(
            lambda c: c.execute("SELECT count(*) FROM inbox").fetchone()[0]))
        self.rt.metrics.queue_depth.fn = lambda: float(self.queue_depth)
        self._task = asyncio.create_task(self._loop(), name="worker")
        if self.queue_depth:
            log.info("worker_resuming", pending=self.queue_depth)

    def notify(self, n: int) -> None:
        """New events were committed to the inbox."""
        self.queue_depth += n
        self._wake.set()

    async def _loop(self) -> None:
        settings = self.rt.settings
        hub = self.rt.stream
        while True:
            self._wake.clear()
            self._busy = True
            try:
                try:
                    result = await self.rt.db.write(
                        lambda c: process_batch(self.rt, c, settings.worker_batch_size))
                except asyncio.CancelledError:
                    raise
                except Exception:
                    result = await self.rt.db.write(
                        lambda c: process_batch(self.rt, c, settings.worker_batch_size, careful=True))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("worker_batch_failed")
                self._busy = False
                await asyncio.sleep(0.5)
                continue
            handled = result.processed + result.failed
            self.queue_depth = max(0, self.queue_depth - handled)
            self.processed_total += result.processed
            self._busy = False
            if hub is not None:
                for unit_id, name, data in result.publications:
                    hub.publish(unit_id, name, data)
            for latency in result.latencies:
                self.rt.metrics.processing_latency.observe(latency)
            if result.fired and self.rt.delivery is not None:
                self.rt.delivery.poke()
            if handled == 0:
                self.queue_depth = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=settings.worker_idle_poll)

    async def wait_idle(self) -> None:
        """Return once everything committed to the inbox so far has been processed."""
        while self.queue_depth > 0 or self._busy:
            self._wake.set()
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Stop after the batch in flight (its transaction commits or rolls back as a whole)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
