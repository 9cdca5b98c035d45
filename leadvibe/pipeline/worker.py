"""The scoring worker: takes inbox rows in arrival order, in batches, and for each event resolves the lead,
applies filters, scores every active ruleset, records explanations, evaluates triggers and moves the inbox mark
past the row — all in one write transaction, so a crash never double-counts or drops an event (the rows are read
from the inbox file; the server deletes those behind the mark later). SSE publications go out after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import apsw
import msgspec
import structlog

from leadvibe.db.damage import DAMAGE_ERRORS
from leadvibe.db.database import WriteMark
from leadvibe.engine.dispatch import Dispatch, LeadState
from leadvibe.engine.levels import level_for
from leadvibe.engine.normalize import channel_for_key, type_key
from leadvibe.engine.replay import ReplayEvent
from leadvibe.engine.surge import Session
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.filter_windows import HOLD_AFTER, ByTime, HeldNews, WindowHold
from leadvibe.pipeline.lead_cache import WORKER, LeadCache, WarmLead
from leadvibe.pipeline.scoring_config import OUConfig
from leadvibe.pipeline.stream import name_leads
from leadvibe.pipeline.worker_pace import ArrivalRate, pause_before_batch
from leadvibe.store import events as ev_store
from leadvibe.store import inbox as inbox_store

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


@dataclass(slots=True)
class _LeadWork:
    """A lead's state while a batch runs; written back by the batch's flushes (`BatchProcessor.flush`)."""

    state: LeadState
    # session_count as stored when the batch loaded the lead (the sessions the batch opens are in `state.opened`).
    session_count: int
    # Scores as stored when the batch loaded the lead or last wrote it: only rulesets whose score moved since (or
    # that had no row) are written back.
    stored: dict[str, int]
    last_event_at: int | None = None
    last_event_type: str | None = None
    last_type_key: str | None = None
    last_organic_at: int | None = None
    # Scored since the batch last wrote its lead state (`BatchProcessor.flush`).
    dirty: bool = False


@dataclass(slots=True)
class _UnitPlan:
    """What a batch needs to know about one OU, looked up once per batch rather than once per event."""

    cfg: OUConfig
    dispatch: Dispatch
    has_triggers: bool
    # Trigger histories read the events table mid-batch, so OUs with triggers insert each event as it is processed.
    # Elsewhere every event's rows are buffered and written with a few statements per batch. Either way filter
    # windows count the events stored before the batch from the table and the batch's own in memory
    # (`BatchProcessor.windows`).
    immediate: bool
    listening: bool
    # The OU has no profile mappings and ABM is off: events need not pass through the fit writer.
    fit_idle: bool
    # event_type as sent -> (type key, scope, channel when the metadata names none): the same few spellings recur on
    # every event, so each is normalized once per batch.
    types: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def type_info(self, event_type: str) -> tuple[str, str, str]:
        """(type key, scope, default channel) of an event type as sent."""
        info = self.types.get(event_type)
        if info is None:
            key = type_key(event_type)
            info = (key, self.cfg.scope_for(key), channel_for_key(key, None))
            self.types[event_type] = info
        return info


@dataclass
class BatchResult:
    """What one batch did."""

    processed: int = 0
    failed: int = 0
    # The batch ended early to let queued writes through (see process_batch's `yield_ms`).
    yielded: bool = False
    # The batch ended before the last row it fetched (its budget, or `yielded`): rows are waiting.
    cut_short: bool = False
    fired: int = 0
    # perf_counter() when the batch began and milliseconds until its last event was scored: what came after (the
    # buffered writes, the commit) is the batch's tail, which the worker learns per event (`Worker.tail_ms`).
    started: float = 0.0
    loop_ms: float = 0.0
    # Milliseconds of the loop spent writing what was buffered so far (`BatchProcessor.flush`): part of the writes.
    flush_ms: float = 0.0
    publications: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    # The last inbox row handled (0 when none was): rows up to it may be deleted from the inbox file.
    last_seq: int = 0
    # For the worker's filter-window hold once the batch has committed (`WindowHold.committed`).
    held: HeldNews | None = None
    # For the worker's lead cache once the batch has committed (`LeadCache.committed`): the state the batch wrote
    # of its leads, and the write mark taken at its end.
    leads: dict[tuple[str, str], WarmLead] = field(default_factory=dict)
    mark: WriteMark | None = None


class _Discard(list[tuple[str, str, dict[str, Any]]]):
    """A publication list for OUs nobody is streaming: appends go nowhere."""

    def append(self, _: Any) -> None:
        return None


_NOWHERE = _Discard()


# Past any occurred_at: the open end of a lead's stored window held by a batch.
_NO_END = 2**62


def _level_name(cfg: OUConfig, score: int) -> str | None:
    lv = level_for(cfg.levels, score)
    return lv.name if lv else None


class BatchProcessor:
    """Processes one batch of inbox rows inside the writer's transaction.

    Per event, in this order (`process`): resolve the lead, catalogue the type, score it (the OU's compiled
    `Dispatch`, held equal to the `LeadScorer` every replay uses by a property test), record the event and its
    score rows, then the per-event side effects inside the same transaction (`_side_effects`: triggers today).
    `prepare` front-loads the set work of a batch (every lead named by id resolved and its state loaded in a few
    queries) and `finish` writes what was buffered: new leads, event and score rows, lead scores, lead activity,
    the type catalogue.
    """

    def __init__(self, rt: Any, conn: apsw.Connection, now: int, hold: WindowHold | None = None,
                 cache: LeadCache | None = None) -> None:
        self.rt = rt
        # Lead state the worker's earlier batches wrote, still what is stored (pipeline/lead_cache.py).
        self.cache = cache
        self.conn = conn
        self.now = now
        self.configs = rt.scoring_config
        self.triggers = rt.triggers
        self.fit = rt.fit.writer(conn, now)
        self.leads: dict[tuple[str, str], _LeadWork] = {}
        self.type_counts: dict[str, dict[str, tuple[str, int, int, int]]] = {}
        self.properties: dict[str, set[tuple[str, str]]] = {}
        self.result = BatchResult()
        # Arrival order is assigned here, so buffered rows can be written with a few statements per batch.
        self.next_seq = ev_store.next_event_seq(conn)
        self.event_rows: list[tuple[Any, ...]] = []
        self.score_rows: list[tuple[Any, ...]] = []
        # The flushed rows' hourly totals and score-gain days, written once when the batch finishes.
        self.totals = ev_store.PendingTotals()
        self.resolved: dict[tuple[str, str], str] = {}
        self.prefetched: dict[tuple[str, str], tuple[dict[str, int], Session | None, int]] = {}
        self.unknown: set[tuple[str, str]] = set()
        # (unit, lead, org, source) of leads first named in this batch, in the order their first event came:
        # inserted by `finish`, one statement for many (see `_resolve`).
        self.new_leads: list[tuple[str, str, str, str]] = []
        self.plans: dict[str, _UnitPlan] = {}
        # Filter windows count the events stored before the batch (`seq < below`) in SQL or in `stored`, and the
        # batch's own (in the table already where the OU inserts each event as it goes, `_UnitPlan.immediate`) in
        # `windows`: (unit, lead, type key) -> the batch's events of a filtered type, by time; their ids by seq (and the
        # ids of stored events they were grouped with).
        self.below = self.next_seq
        self.windows: dict[tuple[str, str, str], ByTime] = {}
        self.window_ids: dict[int, str] = {}
        # A lead's stored events of a grouping-filtered type, held once it has sent HOLD_AFTER of the type (a
        # burst): (start of what was read, exclusive; the events from there on, by time). Before that each event
        # counts its window in SQL. With a worker's `hold` these are the hold's, kept across its batches and counted
        # across them too (pipeline/filter_windows.py).
        self.hold = hold
        self.epoch_at_start = 0
        if hold is not None:
            self.epoch_at_start = ev_store.events_epoch(conn)
            hold.begin(self.epoch_at_start, self.next_seq)
            self.stored: dict[tuple[str, str, str], tuple[int, ByTime]] = hold.windows
        else:
            self.stored = {}
        # Leads scored since the lead state was last written (`flush`).
        self.dirty_leads = 0

    def _plan(self, unit_id: str) -> _UnitPlan:
        plan = self.plans.get(unit_id)
        if plan is None:
            cfg = self.configs.get(self.conn, unit_id)
            has_triggers = self.triggers is not None and not self.triggers.triggers_for(self.conn, unit_id).empty
            hub = self.rt.stream
            plan = _UnitPlan(cfg, cfg.dispatch, has_triggers, has_triggers,
                             hub is not None and hub.subscriber_count(unit_id) > 0, self.fit.config(unit_id).idle)
            self.plans[unit_id] = plan
        return plan

    def prepare(self, rows: list[tuple[Any, ...]], decoded: list[inbox_mod.QueuedEvent]) -> None:
        """Look up every lead named by id in the batch with a few set queries, not two per event: the stored
        ones are resolved and their state loaded here; unknown ones are created when their first event comes."""
        named: dict[str, set[str]] = {}
        resolved, unknown = self.resolved, self.unknown
        for row, q in zip(rows, decoded, strict=True):
            # Leads already resolved earlier in the batch (or known to be new) keep what the batch knows of them:
            # their stored rows may lag behind the batch's buffered writes.
            lead_id = q.lead_id
            if lead_id:
                key = (row[2], lead_id)
                if key not in resolved and key not in unknown:
                    wanted = named.get(row[2])
                    if wanted is None:
                        wanted = named[row[2]] = set()
                    wanted.add(lead_id)
        cache = self.cache
        for unit_id, wanted in named.items():
            if cache is not None:
                for lead_id in list(wanted):
                    warm = cache.get(unit_id, lead_id)
                    if warm is not None:
                        resolved[(unit_id, lead_id)] = lead_id
                        self.prefetched[(unit_id, lead_id)] = warm
                        wanted.discard(lead_id)
                if not wanted:
                    continue
            stored = ev_store.named_leads(self.conn, unit_id, sorted(wanted))
            for lead_id in wanted:
                state = stored.get(lead_id)
                if state is None:
                    unknown.add((unit_id, lead_id))
                elif state[0] is None:  # merged ids are followed when their event comes (rare)
                    resolved[(unit_id, lead_id)] = lead_id
                    self.prefetched[(unit_id, lead_id)] = (state[1], state[2], state[3])

    def _work(self, cfg: OUConfig, lead_id: str) -> _LeadWork:
        key = (cfg.unit_id, lead_id)
        work = self.leads.get(key)
        if work is None:
            known = self.prefetched.pop(key, None)
            scores, session, count = known if known is not None else ev_store.lead_state(
                self.conn, cfg.unit_id, lead_id)
            work = _LeadWork(LeadState(dict(scores), session), count, scores)
            self.leads[key] = work
        return work

    def process(self, row: tuple[Any, ...], q: inbox_mod.QueuedEvent | None = None) -> None:
        """One inbox row (decoded already, or decoded here); raises on failure (the caller rolls back)."""
        _seq, org_id, unit_id, _event_id, payload, source, skip_triggers, received_at = row
        if q is None:
            q = inbox_mod.decode(payload)
        plan = self.plans.get(unit_id) or self._plan(unit_id)
        cfg = plan.cfg
        # A lead named by id and already resolved in this batch (the common case) needs no call.
        lead_id = (self.resolved.get((unit_id, q.lead_id)) if q.lead_id and not q.aliases else None) or self._resolve(
            plan, org_id, q.lead_id, q.aliases, source)
        if not plan.fit_idle:
            # Profile mappings and account linking, in the event's transaction; the stored metadata carries
            # `accountId` under ABM.
            q.metadata = self.fit.on_event(unit_id, lead_id, q.metadata, q.aliases, source)
        metadata = q.metadata
        key, scope, channel = plan.types.get(q.event_type) or plan.type_info(q.event_type)
        if metadata is not None and "channel" in metadata:
            channel = channel_for_key(key, metadata)
        metadata_json = _json.encode(metadata).decode() if metadata is not None else None
        self._catalogue(unit_id, key, q.event_type, q.ts, metadata)
        pubs = self.result.publications if plan.listening else _NOWHERE
        immediate = plan.immediate
        ts = q.ts
        if scope == "observe":
            self._event_row(immediate, (
                q.event_id, org_id, unit_id, lead_id, q.event_type, key, ts, received_at, self.now,
                metadata_json, channel, source, scope, 0, None, None, 1.0, None, 0, None))
            pubs.append((unit_id, "event_ingested", {"event_id": q.event_id, "lead_id": lead_id,
                                                     "event_type": q.event_type, "scope": scope}))
            return
        work = self.leads.get((unit_id, lead_id)) or self._work(cfg, lead_id)
        dispatch = plan.dispatch
        filtered = key in dispatch.filters
        counts, first_seqs = self._filter_counts(dispatch, unit_id, lead_id, key, ts) if filtered else (None, None)
        primary = cfg.primary_ruleset_id
        scores = work.state.scores
        before_primary = scores.get(primary, 0) if primary else 0
        multiplier, position, flt, rows = dispatch.score(work.state, key, ts, counts)
        filtered_by = grouped_with = None
        if flt is not None:
            filtered_by = flt.filter_id
            f_seq = first_seqs.get(filtered_by) if first_seqs is not None else None
            if flt.group_events and f_seq is not None:
                grouped_with = self._event_id(f_seq)
        has_delta = 0
        for r in rows:
            if r[4]:
                has_delta = 1
                break
        event_row = (q.event_id, org_id, unit_id, lead_id, q.event_type, key, ts, received_at, self.now, metadata_json,
                     channel, source, scope, int(filtered_by is not None), filtered_by, grouped_with, multiplier,
                     position, has_delta, None)
        event_seq = self._event_row(immediate, event_row)
        if immediate:
            ev_store.insert_scores(self.conn, unit_id, lead_id, event_seq, rows)
        else:
            self.score_rows.extend(ev_store.score_rows(unit_id, lead_id, event_seq, rows))
        if filtered:
            window = self.windows.get((unit_id, lead_id, key))
            if window is None:
                window = self.windows[(unit_id, lead_id, key)] = ByTime([])
            window.add(ts, event_seq)
            self.window_ids[event_seq] = q.event_id
        if not work.dirty:
            work.dirty = True
            self.dirty_leads += 1
        if work.last_event_at is None or ts >= work.last_event_at:
            work.last_event_at, work.last_event_type, work.last_type_key = ts, q.event_type, key
        if work.last_organic_at is None or ts > work.last_organic_at:
            work.last_organic_at = ts
        self.result.latencies.append(max(0.0, (self.now - received_at) / 1000))
        if plan.listening:
            pubs.append((unit_id, "event_ingested", {"event_id": q.event_id, "lead_id": lead_id,
                                                     "event_type": q.event_type, "channel": channel}))
            for r in rows:
                if r[4]:
                    pubs.append((unit_id, "score_update", {"lead_id": lead_id, "ruleset_id": r[0],
                                                           "delta": r[4], "score": r[6]}))
        if plan.has_triggers and scope == "activate" and filtered_by is None and not skip_triggers:
            after_primary = scores.get(primary, 0) if primary else 0
            ctx = EventContext(org_id, unit_id, lead_id, q.event_id, event_seq, q.event_type, key, ts, received_at,
                               metadata, channel, primary, before_primary, after_primary,
                               _level_name(cfg, after_primary), self.now)
            self._side_effects(ctx, pubs)
        elif plan.has_triggers and primary and scores.get(primary, 0) < before_primary:
            # An event that may fire nothing (a `decide` type, an import without triggers) still lowers the score:
            # the milestones it takes the lead below are armed again, as after decay or a deletion.
            assert self.triggers is not None
            self.triggers.on_score_change(self.conn, unit_id, lead_id, scores.get(primary, 0), self.now)

    def _side_effects(self, ctx: EventContext, pubs: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Per-event work of other domains, inside the worker's transaction, after the event and its scores are
        recorded: each hook may write rows and returns `(name, data)` publications for the stream."""
        assert self.triggers is not None
        for name, data in self.triggers.on_event(self.conn, ctx) or ():
            pubs.append((ctx.unit_id, name, data))
            self.result.fired += 1

    def _filter_counts(self, dispatch: Dispatch, unit_id: str, lead_id: str, key: str,
                       ts: int) -> tuple[dict[str, int], dict[str, int | None]]:
        """Per filter of the type: how many of the lead's earlier events of the type lie in its window, and the
        seq of the first of them (what replays compute in memory): the events stored before the batch, then the
        batch's own (all later arrivals). A filter that does not group events needs no first seq, and its stored
        count stops at the threshold: past it the filter fires whatever the exact count, so a lead's burst no
        longer makes each of its events walk the whole window. A grouping filter needs the window's first event;
        once a lead has sent HOLD_AFTER events of the type (in the batch, or across a worker's batches while its
        hold keeps them) its stored window is read and held by time (`_stored_window`), so the rest of a burst
        costs a bisection per event instead of a walk of the window."""
        counts: dict[str, int] = {}
        first_seqs: dict[str, int | None] = {}
        window_key = (unit_id, lead_id, key)
        batch = self.windows.get(window_key)
        # The longest window of the type's grouping filters (-1: none groups): only those read the window held.
        group_ms = dispatch.group_ms.get(key, -1)
        held = group_ms >= 0 and window_key in self.stored
        if group_ms >= 0 and not held:
            seen = len(batch.times) if batch is not None else 0
            if self.hold is not None:
                seen += self.hold.seen.get(window_key, 0)
            held = seen >= HOLD_AFTER
        for f in dispatch.filters[key]:
            low = ts - f.time_window_ms
            if f.group_events:
                if not held:
                    n, first_seq = ev_store.filter_window(self.conn, unit_id, lead_id, key, low, ts, self.below)
                else:
                    n, first_seq = self._stored_window(window_key, low).in_range(low, ts)
            else:
                n = ev_store.filter_window_up_to(self.conn, unit_id, lead_id, key, low, ts, f.count_threshold,
                                                 self.below)
                first_seq = None
            if batch is not None:
                more, first_in_batch = batch.in_range(low, ts)
                n += more
                if first_seq is None:
                    first_seq = first_in_batch
            counts[f.filter_id] = n
            first_seqs[f.filter_id] = first_seq
        if held:
            # Events before the oldest start the type's grouping filters ask for are needed again only by an event
            # older than this one, which reads them back (`_stored_window`): a held window does not grow forever.
            oldest = ts - group_ms
            start, window = self.stored[window_key]
            if oldest > start and window.drop_through(oldest):
                self.stored[window_key] = (oldest, window)
        return counts, first_seqs

    def _stored_window(self, window_key: tuple[str, str, str], low: int) -> ByTime:
        """The lead's events of the type stored before the batch with occurred_at after `low`, read once per batch
        and again only for an earlier `low` (an event older than the lead's others of the batch)."""
        held = self.stored.get(window_key)
        if held is not None and held[0] <= low:
            return held[1]
        unit_id, lead_id, key = window_key
        end = held[0] if held is not None else _NO_END
        rows = ev_store.filter_window_rows(self.conn, unit_id, lead_id, key, low, end, self.below)
        if held is not None:
            rows += zip(held[1].times, held[1].seqs, strict=True)
        window = ByTime(rows)
        self.stored[window_key] = (low, window)
        return window

    def _event_id(self, seq: int) -> str | None:
        """The public id of an earlier event: one of the batch's, or stored (looked up once per batch: every later
        event of a burst is grouped with the same first event)."""
        event_id = self.window_ids.get(seq)
        if event_id is None:
            event_id = ev_store.event_id_by_seq(self.conn, seq)
            if event_id is not None:
                self.window_ids[seq] = event_id
        return event_id

    def _resolve(self, plan: _UnitPlan, org_id: str, lead_id: str | None, aliases: list[tuple[str, str, str]],
                 source: str) -> str:
        unit_id = plan.cfg.unit_id
        # Within a batch a named lead resolves the same way every time (merges run in other transactions).
        if lead_id:
            key = (unit_id, lead_id)
            hit = self.resolved.get(key)
            if hit is None:
                if key in self.unknown:
                    # A new lead's row is only read within the batch by the fit writer and by triggers; elsewhere
                    # it is inserted with the batch's other new leads when the batch finishes.
                    if plan.fit_idle and not plan.immediate:
                        self.new_leads.append((unit_id, lead_id, org_id, source))
                    else:
                        ev_store.create_lead(self.conn, unit_id, org_id, lead_id, self.now, source)
                    self.prefetched[key] = ({}, None, 0)
                    hit = lead_id
                else:
                    hit = ev_store.resolve_lead(self.conn, unit_id, org_id, lead_id, (), self.now, source)
                self.resolved[key] = hit
            ev_store.attach_aliases(self.conn, unit_id, org_id, hit, aliases, self.now)
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
        counts = self.type_counts.get(unit_id)
        if counts is None:
            counts = self.type_counts[unit_id] = {}
        seen = counts.get(key)
        counts[key] = (name, 1, ts, ts) if seen is None else (
            seen[0], seen[1] + 1, seen[2] if seen[2] <= ts else ts, seen[3] if seen[3] >= ts else ts)
        if metadata:
            props = self.properties.get(unit_id)
            if props is None:
                props = self.properties[unit_id] = set()
            props.update((key, str(k)[:200]) for k in metadata)

    def discard(self) -> None:
        """Drop cached state (after a failed event its in-memory updates are rolled back with it)."""
        self.fit.discard()
        self.prefetched.clear()
        self.unknown.clear()
        self.new_leads.clear()
        self.event_rows.clear()
        self.score_rows.clear()
        self.totals.discard()
        self.resolved.clear()
        self.leads.clear()
        self.type_counts.clear()
        self.properties.clear()
        self.windows.clear()
        self.window_ids.clear()
        self.stored.clear()
        self.dirty_leads = 0
        # What was buffered is written (or rolled back) now: windows count it from the table from here on.
        self.below = self.next_seq

    def flush(self, leads: bool = True) -> None:
        """Write what the batch buffered so far (new leads, event and score rows, the event-type catalogue and,
        with `leads`, the state of the leads scored since it was last written) and keep what the batch knows of
        its leads, so it goes on in the same transaction. A long batch flushes as it goes, so a write queued
        behind it waits for little more than its commit; the lead state less often than the events, since a lead
        scored again before its state is written costs one write for both. The rows' hourly totals and score-gain
        days are summed until `finish` writes them."""
        conn, now = self.conn, self.now
        ev_store.create_leads(conn, self.new_leads, now)
        self.new_leads.clear()
        ev_store.insert_scored_events(conn, self.event_rows, self.score_rows, self.totals)
        self.event_rows.clear()
        self.score_rows.clear()
        for unit_id, counts in self.type_counts.items():
            ev_store.bump_event_types(conn, unit_id, counts)
        self.type_counts.clear()
        for unit_id, pairs in self.properties.items():
            ev_store.add_properties(conn, unit_id, pairs)
        self.properties.clear()
        if leads:
            self._write_leads()

    def _write_leads(self) -> None:
        """The scores and activity of the leads scored since they were last written."""
        conn, now = self.conn, self.now
        changed: list[tuple[int, int, str, str, str]] = []
        added: list[tuple[str, str, str, int, int]] = []
        activity: list[tuple[Any, ...]] = []
        # In key order: the updates then walk lead_scores and leads in their B-trees' order instead of jumping to a
        # random page per lead (measured: about a quarter less CPU for the score updates at 100,000 leads).
        for (unit_id, lead_id), work in sorted([item for item in self.leads.items() if item[1].dirty], key=_lead_key):
            state = work.state
            stored = work.stored
            for rs, score in state.scores.items():
                was = stored.get(rs)
                if was is None:
                    added.append((unit_id, rs, lead_id, score, now))
                elif was != score:
                    changed.append((score, now, unit_id, lead_id, rs))
            work.stored = dict(state.scores)
            work.dirty = False
            activity.append(ev_store.activity_row(
                unit_id, lead_id, last_event_at=work.last_event_at, last_event_type=work.last_event_type,
                last_type_key=work.last_type_key, last_organic_at=work.last_organic_at, session=state.session,
                session_count=work.session_count + state.opened, now=now))
        ev_store.update_lead_scores(conn, changed)
        ev_store.save_many_lead_scores(conn, added)
        ev_store.save_lead_activity(conn, activity)
        self.dirty_leads = 0

    def finish(self) -> None:
        """Write everything buffered (`flush`) and drop what the batch held (with a worker's hold, hand it the
        batch's own windowed events, for once the batch has committed)."""
        self.flush()
        self.totals.write(self.conn)
        if self.cache is not None:
            # What was just written is what is stored once this transaction commits (the worker hands it to its
            # cache then).
            self.result.leads = {key: (dict(work.state.scores), work.state.session,
                                       work.session_count + work.state.opened) for key, work in self.leads.items()}
        if self.hold is not None:
            # Only the grouping-filtered types' windows: no other is ever held.
            grouping = {k: w for k, w in self.windows.items() if k[2] in self.plans[k[0]].dispatch.group_ms}
            self.result.held = HeldNews(grouping, self.epoch_at_start, ev_store.events_epoch(self.conn),
                                        self.next_seq)
            self.windows, self.stored, self.hold = {}, {}, None
        self.discard()


def _lead_key(item: tuple[tuple[str, str], _LeadWork]) -> tuple[str, str]:
    return item[0]


# Rows decoded and prepared (their named leads looked up) at a time within a batch.
_PREPARE_CHUNK = 256
# Inbox rows a batch reads at a time (a multiple of _PREPARE_CHUNK): a batch sized to the last one's pace used to
# read its whole limit up front and stop a third short of it, on average, at its time budget.
_READ_CHUNK = 2048
# Rows the worker's first batch fetches (later ones double up to the batch size while they run whole).
_FIRST_BATCH = 256
# The fewest rows a batch fetches after batches failed on the database (see `Worker._loop`).
_FAILED_BATCH_MIN = 16
# The longest an idle worker waits before it looks at the inbox again without being told of an arrival (seconds).
# Every acknowledged event wakes it at once (`Worker.notify`); a look between arrivals only finds rows nobody told of,
# so each empty look doubles the wait from `worker_idle_poll` up to this: an idle server's worker spent ~2 % of a
# core looking 20 times a second.
_IDLE_POLL_MAX_S = 1.0
# A batch writes what it buffered whenever that would take about _FLUSH_MS (from the worker's tail per event), but
# no more often than every _FLUSH_MIN events (each write runs with the triggers suspended, which makes SQLite
# prepare the batch's statements again: measured at 500,000 leads, flushing every 64 events cost a seventh of the
# rate), or every _FLUSH_UNKNOWN while the tail is not known: a write queued behind a long batch waits for about
# that much and the commit, while the batch keeps its leads' state for its later events.
_FLUSH_MS = 25.0
_FLUSH_MIN = 512
_FLUSH_UNKNOWN = 2000
# ...and its leads' state once that would take about _LEADS_FLUSH_MS (a lead's writes counted as an event's).
_LEADS_FLUSH_MS = 200.0

# Failures of the database itself (a full disk, an I/O error, a lock held too long, a damaged file): they say
# nothing about the event, so an event that meets one is retried with its batch, never moved to inbox_dead (a
# damaged file keeps its events waiting in the inbox file until a backup is restored).
TRANSIENT_DB_ERRORS = (apsw.FullError, apsw.IOError, apsw.BusyError, apsw.LockedError, *DAMAGE_ERRORS)


class _InboxParts:
    """A fast batch's inbox rows, read a part (`_READ_CHUNK`) at a time as the batch gets to them and never past
    the last row stored at the first read: `after_fetch` runs after that read, so the cache invalidations it applies
    cover every row the batch scores (a row committed later waits for the next batch)."""

    def __init__(self, rt: Any, after: int, limit: int) -> None:
        self.rt, self.limit = rt, limit
        self.asked = min(limit, _READ_CHUNK)
        self.rows, self.last_stored = rt.inbox_db.read_here(
            lambda c: inbox_store.pending_head(c, after, self.asked))
        self.read = len(self.rows)

    @property
    def more(self) -> bool:
        """Whether rows may be left to read: the last read came back full, below the batch's limit (a short one
        took every row up to `last_stored`)."""
        return len(self.rows) == self.asked and self.read < self.limit

    def chunks(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        """The rows in parts of `size`, the next read made only once the batch has taken the rows before it."""
        while True:
            rows = self.rows
            for start in range(0, len(rows), size):
                yield rows[start:start + size]
            if not self.more:
                return
            self.asked = min(self.limit - self.read, _READ_CHUNK)
            self.rows = self.rt.inbox_db.read_here(
                lambda c, seq=rows[-1][0], n=self.asked: inbox_store.pending_through(c, seq, self.last_stored, n))
            self.read += len(self.rows)


def process_batch(rt: Any, conn: apsw.Connection, limit: int, careful: bool = False,
                  budget_ms: float | None = None, yield_ms: float | None = None,
                  tail_ms_per_event: float = 0.0, after_fetch: Callable[[], None] | None = None,
                  hold: WindowHold | None = None, cache: LeadCache | None = None) -> BatchResult:
    """Take up to `limit` inbox rows in arrival order and process them (called on the writer thread).

    The rows are read from the inbox file after the last one handled, as this transaction sees the mark
    (store/inbox.py), and the mark moves past them in the same transaction: a batch rolled back or cut short by a
    crash leaves them to the next. `after_fetch` runs once they are read, before any is scored (the worker process
    applies the cache invalidations sent to it there: any that was sent before an event it reads was committed).

    The fast path runs the batch without per-event savepoints and stops early once its transaction would pass
    `budget_ms`, or `yield_ms` while other writes (API writes, the server's own jobs) are queued behind it on the
    writer (the rest stays in the inbox for the next batch). The transaction is counted as the processing so far
    plus `tail_ms_per_event` for each event or lead not yet written: the writes and commit still to come (the
    worker's estimate, `Worker.tail_ms`). The batch writes its event rows every ~25 ms of that tail (`_FLUSH_MS`,
    at least 512 events apart) and its leads' state every ~200 ms (`_LEADS_FLUSH_MS`), so a long batch keeps its
    leads in memory while what a queued write waits for stays short. If any event raises, the whole batch is
    rolled back by the caller and re-run with `careful=True`, where each event has its own savepoint and a failing
    one is set aside in `inbox_dead` (with its error) instead of blocking the queue. `hold`: the worker's filter
    windows kept across batches (the fast path only; `BatchResult.held` hands it the batch's own for after the
    commit).
    """
    after = inbox_store.progress(conn)
    parts = None if careful else _InboxParts(rt, after, limit)
    rows = parts.rows if parts is not None else rt.inbox_db.read_here(
        lambda c: inbox_store.pending(c, after, limit))
    if after_fetch is not None:
        after_fetch()
    if not rows:
        return BatchResult()
    proc = BatchProcessor(rt, conn, rt.now_ms(), None if careful else hold, None if careful else cache)
    if parts is not None:
        started = proc.result.started = time.perf_counter()
        waiting = rt.db.queue_length_fn
        done = unflushed = 0
        # Events scored before the batch flushes what it buffered (see BatchProcessor.flush): their writes' share of
        # the tail, or a fixed count while the tail is unknown.
        flush_every = max(_FLUSH_MIN, int(_FLUSH_MS / tail_ms_per_event)) if tail_ms_per_event else _FLUSH_UNKNOWN
        leads_every = max(_FLUSH_MIN, int(_LEADS_FLUSH_MS / tail_ms_per_event)) if tail_ms_per_event else 0
        stop = False
        last_row = rows[-1]
        # Rows are read, decoded and their leads looked up a chunk at a time: a batch cut short by its budget or by
        # a queued write does not pay for the rows it never reaches.
        for chunk in parts.chunks(_PREPARE_CHUNK):
            decoded = [inbox_mod.decode(cast(bytes, row[4])) for row in chunk]
            proc.prepare(chunk, decoded)
            for row, q in zip(chunk, decoded, strict=True):
                proc.process(row, q)
                last_row = row
                done += 1
                unflushed += 1
                if unflushed >= flush_every:
                    flushed_at = time.perf_counter()
                    proc.flush(leads=proc.dirty_leads >= leads_every)
                    proc.result.flush_ms += (time.perf_counter() - flushed_at) * 1000
                    unflushed = 0
                # Checked every 16 events: reading the clock per event would cost more than it saves.
                if done & 15 or (budget_ms is None and yield_ms is None):
                    continue
                # The time so far plus what writing and committing the events not yet flushed will take: where each
                # event dirties pages all over a large OU's indexes, that tail is most of a batch (measured at a
                # million leads: 0.1 s of scoring, then 0.6 s of writes and commit).
                spent = (time.perf_counter() - started) * 1000 + tail_ms_per_event * max(unflushed, proc.dirty_leads)
                if budget_ms is not None and spent > budget_ms:
                    stop = True
                    break
                # Writes queued behind this batch (an API write, a server job) wait for its commit: end the batch
                # after a short slice instead of the whole budget.
                if yield_ms is not None and spent > yield_ms and waiting():
                    proc.result.yielded = True
                    stop = True
                    break
            if stop:
                break
        proc.result.cut_short = done < parts.read or (stop and parts.more)
        proc.result.processed = done
        proc.result.loop_ms = (time.perf_counter() - started) * 1000
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
                if isinstance(exc, TRANSIENT_DB_ERRORS):
                    raise  # the database, not the event: the whole batch is retried later, nothing set aside
                proc.result.failed += 1
                log.error("event_processing_failed", event_id=row[3], unit_id=row[2], error=repr(exc))
                conn.execute("INSERT OR REPLACE INTO inbox_dead (seq, org_id, unit_id, event_id, payload, source,"
                             " skip_triggers, received_at, error, failed_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (*row, repr(exc)[:2000], proc.now))
        last_row = rows[-1]
    proc.result.last_seq = last_row[0]
    inbox_store.set_progress(conn, proc.result.last_seq)
    name_leads(conn, proc.result.publications)
    return proc.result


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
        # Arrivals told so far (`notify`): a batch that finds nothing zeroes the depth only up to what was told
        # before it was queued (see `_loop`).
        self._told = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self.processed_total = 0
        # When (the server's clock, ms) a batch last handled rows, or the worker started: /healthz's stall check.
        self.progressed_ms = rt.now_ms()
        # Milliseconds per event of a batch's writes (its flushes) and commit, learnt from the batches so far: the
        # batch budget counts it for the events not yet written, so a batch's whole transaction stays near the
        # budget, and it sizes the flushes.
        self.tail_ms = 0.0
        self._arrivals = ArrivalRate()
        # Set where the worker runs in a process of its own (pipeline.worker_process): called on the writer thread
        # inside each batch's transaction before it reads the inbox and once it has read it, and on the loop after
        # each batch (here: the server's inbox deletes what the batch handled).
        self.before_batch: Callable[[], None] | None = None
        self.after_fetch: Callable[[], None] | None = None
        self.after_batch: Callable[[BatchResult, int], None] = lambda result, _: rt.inbox.handled(result.last_seq)
        # Grouping-filter windows kept from one batch to the next (pipeline/filter_windows.py).
        self.filter_windows = WindowHold()
        # Lead state kept from one batch to the next while only the worker commits (pipeline/lead_cache.py).
        self.lead_cache = LeadCache()

    @property
    def alive(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Count what is pending (resumes unfinished rows after a crash) and start the loop."""
        self.queue_depth = await inbox_mod.pending_count(self.rt)
        self.progressed_ms = self.rt.now_ms()  # a backlog found at start is not yet overdue
        self.rt.metrics.queue_depth.fn = lambda: float(self.queue_depth)
        self._task = asyncio.create_task(self._loop(), name="worker")
        if self.queue_depth:
            log.info("worker_resuming", pending=self.queue_depth)

    def notify(self, n: int) -> None:
        """New events were committed to the inbox."""
        self.queue_depth += n
        self._told += n
        self._arrivals.add(n, time.monotonic())
        self._wake.set()

    async def _loop(self) -> None:
        settings = self.rt.settings
        hub = self.rt.stream
        # Rows fetched per batch: a batch cut short processes only what its slice allowed, so the next one fetches
        # about that many rows instead of a full batch. The first batch is small: until one has run, the tail of
        # writes and commit after the scoring is unknown, and at a million leads a full first batch would hold the
        # writer for about 1.5 s (2,000 events at 0.75 ms of tail each).
        limit = min(settings.worker_batch_size, _FIRST_BATCH)
        pace_s = settings.worker_pace_ms / 1000
        last_start, last_full = float("-inf"), False
        idle_wait = idle_first = settings.worker_idle_poll
        idle_longest = max(idle_first, _IDLE_POLL_MAX_S)
        while True:
            now = time.monotonic()
            pause = pause_before_batch(now, last_start, last_full, self._arrivals.per_second(now), pace_s,
                                       settings.worker_pace_rate)
            if pause:
                await asyncio.sleep(pause)
            last_start = time.monotonic()
            self._wake.clear()
            self._busy = True
            told_before = self._told
            n_fetch = limit
            try:
                try:
                    result = await self.rt.db.write(
                        lambda c, n=limit, tail=self.tail_ms: self._batch(
                            c, n, budget_ms=settings.worker_batch_ms, yield_ms=settings.worker_yield_ms,
                            tail_ms_per_event=tail, hold=self.filter_windows, cache=self.lead_cache),
                        alone=True, owner=WORKER)
                    self.filter_windows.committed(result.held)
                    self.lead_cache.committed(result.mark, result.leads)
                    self._learn_tail(result, time.perf_counter())
                except asyncio.CancelledError:
                    self.filter_windows.clear()
                    self.lead_cache.clear()
                    raise
                except Exception:
                    self.filter_windows.clear()
                    self.lead_cache.clear()
                    result = await self.rt.db.write(
                        lambda c, n=min(limit, 500): self._batch(c, n, careful=True), alone=True, owner=WORKER)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.filter_windows.clear()
                self.lead_cache.clear()
                log.exception("worker_batch_failed")
                self._busy = False
                # The database failed, not an event (a full disk, an I/O error): smaller batches next, so a few
                # megabytes freed on a full disk are enough to go on (a batch's rows all need room before it commits).
                limit = max(_FAILED_BATCH_MIN, limit // 4)
                await asyncio.sleep(0.5)
                continue
            handled = result.processed + result.failed
            last_full = handled >= n_fetch or result.cut_short
            # A batch that ended before its last row (budget, a queued write, or fewer rows pending) sizes the next
            # fetch; a full one doubles it back towards the batch size.
            if handled < n_fetch:
                limit = max(64, min(settings.worker_batch_size, handled + handled // 2))
            else:
                limit = min(settings.worker_batch_size, limit * 2)
            self.queue_depth = max(0, self.queue_depth - handled)
            self.processed_total += result.processed
            if handled:
                self.progressed_ms = self.rt.now_ms()
            self._busy = False
            self.after_batch(result, handled)
            if hub is not None:
                for unit_id, name, data in result.publications:
                    hub.publish(unit_id, name, data)
            for latency in result.latencies:
                self.rt.metrics.processing_latency.observe(latency)
            if result.fired and self.rt.delivery is not None:
                self.rt.delivery.poke()
            if handled == 0:
                # Everything told before this batch was queued was committed before it read the inbox, so none of
                # that is pending; arrivals told since may have committed after its read (the inbox file has a
                # writer of its own) and still are.
                self.queue_depth = self._told - told_before
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle_wait)
                idle_wait = idle_first if self._wake.is_set() else min(idle_wait * 2, idle_longest)
            else:
                idle_wait = idle_first

    def _batch(self, conn: apsw.Connection, limit: int, cache: LeadCache | None = None,
               **kwargs: Any) -> BatchResult:
        if self.before_batch is not None:
            self.before_batch()
        if cache is not None:
            cache.begin(self.rt.db, conn)
        result = process_batch(self.rt, conn, limit, after_fetch=self.after_fetch, cache=cache, **kwargs)
        if cache is not None:
            # Taken inside the batch's own job (a batch that found nothing too): its commit leaves it holding.
            result.mark = self.rt.db.write_mark(WORKER)
        return result

    def _learn_tail(self, result: BatchResult, ended: float) -> None:
        # A handful of events says little about the per-event part of the tail (its commit's fixed cost dominates).
        if result.started and result.processed >= 32:
            tail = max(0.0, (ended - result.started) * 1000 - result.loop_ms + result.flush_ms) / result.processed
            self.tail_ms = tail if not self.tail_ms else (self.tail_ms + tail) / 2

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
