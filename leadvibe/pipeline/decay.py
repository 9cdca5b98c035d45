"""The decay scheduler: every `decay_interval` seconds, one pass records DECAY events for inactive leads.

A pass visits only OUs with active decay rules. For each rule (shortest inactivity first, so rules stack in
order) it reads the due leads whose inactivity began since the rule's last sweep (`store.decay`, migration 0040:
a steady-state tick reads only the leads that crossed the cutoff since the previous one), then decays them in id
order, in write transactions of about CHUNK_MS each. A range holding much of the OU (a rule's first pass) is read
by walking the leads in id order a page at a time, each next page read while the one before is written; a smaller
one is read whole, then sorted. Each transaction checks again which of its leads are due as it records their
DECAY events (`store.decay.record_due`), so an organic event that arrives meanwhile is never decayed against; id
order makes consecutive transactions write neighbouring pages of the lead-keyed indexes (events by lead, lead
scores) instead of pages all over them. Time comes from `rt.now_ms()`, so tests drive it with a ManualClock."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import apsw
import msgspec
import structlog

from leadvibe.db.database import WriteMark
from leadvibe.ids import new_event_ids
from leadvibe.pipeline.periodic import Periodic
from leadvibe.pipeline.stream import name_score_updates
from leadvibe.runtime import Runtime
from leadvibe.store import decay as decay_store
from leadvibe.store import events as ev_store
from leadvibe.store import leads as leads_store

log = structlog.get_logger("leadvibe.decay")
_json = msgspec.json.Encoder()

# Leads per write transaction: a worker batch or an API write waits behind one at most (acknowledgements commit to
# the inbox file and never wait for the pass). A lead's decay costs 25-50 µs where the due leads are neighbours (a
# first pass) and three times that where they are scattered (a day's newly idle leads: each writes pages of its
# own), so after the first chunk of a rule each is sized to CHUNK_MS from the time per lead the chunks before took
# (bench_decay.py), within [MIN_CHUNK, MAX_CHUNK].
CHUNK = 250
CHUNK_MS = 12.0
MIN_CHUNK = 25
MAX_CHUNK = 2_000
READ_CHUNK = 20_000  # due leads per read, so no single read nears the read deadline at a million leads
# A pass no write waits on (the CLI's `decay --now`, the server stopped) sizes its chunks to OFFLINE_CHUNK_MS, up to
# OFFLINE_MAX_CHUNK leads: fewer commits (a fifth less time at 1 M leads / 10 M events: docs/performance.md).
OFFLINE_CHUNK_MS = 60.0
OFFLINE_MAX_CHUNK = 10_000
# A range of last organic events holding more than a WALK_BY_ID_OVER-th of the OU's leads is read by walking the
# leads in id order (each lead a step of one index, the due ones a probe) rather than by the range (a lookup of a
# lead's row at random per lead, then a sort).
WALK_BY_ID_OVER = 4


@dataclass
class PassResult:
    """What one pass did."""

    units: int = 0
    applied: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


@dataclass
class _Chunk:
    """What one write transaction of a pass did: its decays and, while someone listens, their score updates."""

    decay_id: str
    applied: int = 0
    publications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (unit id, score_update)


def _apply_chunk(
    rt: Runtime,
    conn: apsw.Connection,
    unit_id: str,
    rule: dict[str, Any],
    now: int,
    leads: list[tuple[str, int, str]],
    mark: WriteMark,
) -> _Chunk:
    """Decay those of `leads` ((lead_id, rowid, org_id), sorted, read as due after `mark`) that are still due, in
    one write transaction."""
    cfg = rt.scoring_config.get(conn, unit_id)
    decay_id = rule["id"]
    decrease = int(rule["decrease"])
    chunk = _Chunk(decay_id)
    chunk.applied = decay_store.record_due(
        conn, unit_id, [(lead_id, event_id, rowid, org_id) for (lead_id, rowid, org_id), event_id
                        in zip(leads, new_event_ids(len(leads)), strict=True)], cfg.active_ruleset_ids,
        cfg.scoring.allow_negative, decay_id=decay_id, cutoff=now - int(rule["inactive_ms"]), decrease=decrease,
        first_seq=ev_store.next_event_seq(conn), ts=now, now=now,
        metadata=_json.encode({"channel": "system", "decay_id": decay_id, "decrease": decrease}).decode(),
        # Since the read, only this pass's own chunks (other leads) may have committed: the leads are still due.
        still_due=rt.db.unchanged_since(conn, mark))
    if not chunk.applied:
        return chunk
    triggers = rt.triggers
    if triggers is not None and triggers.triggers_for(conn, unit_id).milestones:
        # Decay lowers scores: milestone triggers re-arm once the lead drops below them.
        for lead_id, score in decay_store.decayed_scores(conn, cfg.primary_ruleset_id):
            triggers.on_score_change(conn, unit_id, lead_id, score, now)
    if rt.stream is not None and rt.stream.subscriber_count(unit_id):
        # Built only while someone listens to the OU (a client that connects later hears of the next chunk).
        chunk.publications = [
            (unit_id, {"lead_id": lead_id, "ruleset_id": ruleset_id, "delta": after - before, "score": after})
            for lead_id, _, ruleset_id, before, after in decay_store.decayed_rows(conn) if after != before]
        name_score_updates(conn, rt.stream, unit_id, [data for _, data in chunk.publications])
    return chunk


def next_chunk(size: int, took: float, leads: int, chunk_ms: float | None = None,
               max_chunk: int | None = None) -> int:
    """The next chunk's leads: halfway from `size` to what fills `chunk_ms` (CHUNK_MS) at the time per lead just
    seen (`took` seconds for `leads`), so one odd chunk does not swing it; at most `max_chunk` (MAX_CHUNK)."""
    budget = CHUNK_MS if chunk_ms is None else chunk_ms
    most = MAX_CHUNK if max_chunk is None else max_chunk
    target = budget / 1000 / max(took / max(leads, 1), 1e-7)
    return max(MIN_CHUNK, min(most, int((size + target) / 2)))


# A page of due leads: (lead_id, rowid, org_id) in id order, and the writer's mark from before they were read.
_Page = tuple[WriteMark, list[tuple[str, int, str]]]


async def _due_since_sweep(rt: Runtime, unit_id: str, decay_id: str, swept: int, cutoff: int) -> _Page:
    """The leads due whose last organic event is in (`swept`, `cutoff`], in id order."""
    mark = rt.db.write_mark()
    found: list[tuple[str, int, str]] = []
    after = (-1, -1)
    while True:
        rows = await rt.db.read(partial(decay_store.due_after, unit_id=unit_id, decay_id=decay_id, swept=swept,
                                        cutoff=cutoff, after=after, limit=READ_CHUNK))
        found.extend((lead_id, rowid, org_id) for lead_id, _, rowid, org_id in rows)
        if len(rows) < READ_CHUNK:
            break
        after = (rows[-1][1], rows[-1][2])
    found.sort()
    return mark, found


async def _due_in_id_order(rt: Runtime, unit_id: str, decay_id: str, swept: int,
                           cutoff: int) -> AsyncIterator[_Page]:
    """The same leads as `_due_since_sweep`, READ_CHUNK at a time in id order; each next read runs on a reader
    while the caller writes the leads just given, instead of every lead being read before the first is decayed."""
    async def read(after: str) -> _Page:
        mark = rt.db.write_mark()
        return mark, await rt.db.read(partial(decay_store.due_by_id, unit_id=unit_id, decay_id=decay_id,
                                              swept=swept, cutoff=cutoff, after=after, limit=READ_CHUNK))

    pending: asyncio.Future[_Page] | None = asyncio.ensure_future(read(""))
    while pending is not None:
        page = await pending
        leads = page[1]
        pending = asyncio.ensure_future(read(leads[-1][0])) if len(leads) == READ_CHUNK else None
        try:
            yield page
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise


async def _due_pages(rt: Runtime, unit_id: str, decay_id: str, swept: int, cutoff: int) -> AsyncIterator[_Page]:
    """The due leads, (lead_id, rowid, org_id) in id order, in pages: a range that holds more than a page and a large
    part of the OU (a rule's first pass) is walked by lead id, the next page read while this one is written; a
    smaller one (a steady-state pass) is read by its last organic events and sorted."""
    def large(conn: apsw.Connection) -> bool:
        n = max(READ_CHUNK, leads_store.live_count(conn, unit_id) // WALK_BY_ID_OVER)
        return decay_store.due_range_holds(conn, unit_id, swept, cutoff, n)

    if await rt.db.read(large):
        async for page in _due_in_id_order(rt, unit_id, decay_id, swept, cutoff):
            yield page
    else:
        yield await _due_since_sweep(rt, unit_id, decay_id, swept, cutoff)


async def _sweep(rt: Runtime, unit_id: str, rule: dict[str, Any], now: int, result: PassResult,
                 offline: bool) -> None:
    """Decay every lead due under one rule."""
    decay_id = rule["id"]
    cutoff = now - int(rule["inactive_ms"])
    swept = await rt.db.write(partial(decay_store.claim_sweep, unit_id=unit_id, decay_id=decay_id, cutoff=cutoff))
    if swept >= cutoff:
        return
    # Read only after the claim is committed: a lead that becomes due behind the read drops the claim.
    chunks = _Chunks(rt, result, offline)
    async for mark, due in _due_pages(rt, unit_id, decay_id, swept, cutoff):
        i = 0
        while i < len(due):
            part = due[i:i + chunks.size]
            await chunks.add(partial(_apply_chunk, rt, unit_id=unit_id, rule=rule, now=now, leads=part, mark=mark),
                             len(part))
            i += len(part)
    await chunks.drain()
    await rt.db.write(partial(decay_store.finish_sweep, unit_id=unit_id, decay_id=decay_id, cutoff=cutoff))


class _Chunks:
    """A rule's write transactions, the next one queued while the one before runs: the writer goes from one to
    the next without waiting for this loop's turn, and, each queued as a yielding write (`Database.enqueue`), lets
    any write queued meanwhile go first; each chunk's news is published once it is committed. Sizes follow
    `next_chunk`, from each chunk's time on the writer (from the commit before it, or from its queueing if later:
    what a write queued behind it waits)."""

    def __init__(self, rt: Runtime, result: PassResult, offline: bool) -> None:
        self.rt = rt
        self.result = result
        self.chunk_ms, self.max_chunk = (OFFLINE_CHUNK_MS, OFFLINE_MAX_CHUNK) if offline else (CHUNK_MS, MAX_CHUNK)
        self.size = min(CHUNK, self.max_chunk)
        self._queued: collections.deque[tuple[asyncio.Future[_Chunk], int, float]] = collections.deque()
        self._last_done = 0.0

    async def add(self, job: Callable[[apsw.Connection], _Chunk], leads: int) -> None:
        """Queue one chunk; settle the oldest once two are queued."""
        self._queued.append((self.rt.db.enqueue(job, alone=True, yields=True), leads, time.perf_counter()))
        if len(self._queued) > 1:
            await self._settle_oldest()

    async def drain(self) -> None:
        """Settle every chunk queued."""
        try:
            while self._queued:
                await self._settle_oldest()
        finally:
            self._queued.clear()

    async def _settle_oldest(self) -> None:
        fut, leads, queued_at = self._queued[0]
        try:
            chunk = await fut
        except BaseException:
            self._queued.clear()
            raise
        self._queued.popleft()
        done = time.perf_counter()
        self.size = next_chunk(self.size, done - max(queued_at, self._last_done), leads, self.chunk_ms,
                               self.max_chunk)
        self._last_done = done
        result = self.result
        result.applied += chunk.applied
        result.by_rule[chunk.decay_id] = result.by_rule.get(chunk.decay_id, 0) + chunk.applied
        _publish(self.rt, chunk.publications)  # committed: listeners hear of each chunk


async def run_pass(rt: Runtime, *, offline: bool = False) -> PassResult:
    """One decay pass over every OU with active rules, at `rt.now_ms()`. `offline`: no other write waits on it
    (the CLI's, the server stopped): larger chunks."""
    async with rt.decay_pass:
        now = rt.now_ms()
        result = PassResult()
        units = await rt.db.read(decay_store.units_with_rules)
        for unit_id in units:
            result.units += 1
            rules = await rt.db.read(partial(decay_store.active_rules, unit_id=unit_id))
            for rule in rules:
                await _sweep(rt, unit_id, rule, now, result, offline)
    if result.applied:
        log.info("decay_pass", units=result.units, applied=result.applied, rules=result.by_rule)
    return result


def _publish(rt: Runtime, publications: list[tuple[str, dict[str, Any]]]) -> None:
    """Tell /stream listeners about decayed scores (after commit), as the worker does for events."""
    hub = rt.stream
    if hub is not None:
        for unit_id, data in publications:
            hub.publish(unit_id, "score_update", data)


def decay_scheduler(rt: Runtime) -> Periodic:
    """The background task (registered in app.background_services)."""

    async def tick() -> None:
        await run_pass(rt)

    return Periodic("decay", rt.settings.decay_interval, tick)
