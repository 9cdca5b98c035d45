"""Ingestion: validate an event, then make it durable in the inbox before anyone answers 202.

The inbox is a file of its own (`inbox.db` beside `leadvibe.db`), written by the server alone through its own
writer thread, which group-commits whatever is queued: concurrent requests share one transaction and one fsync,
and no inbox commit ever waits for a worker batch or another write to the main database (docs/architecture.md,
"The inbox file"). Idempotency keys are kept in the same file and checked in the same transaction, so two racing
copies of one key can never both be stored. The worker reads the file and records its progress in the main
database (store/inbox.py); the server deletes the rows it has handled a second or so later, in a job of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, NamedTuple

import apsw
import msgspec

from leadvibe.db.database import Database, DatabaseClosed
from leadvibe.documented import across_fields, choices, present, single_line, single_line_json
from leadvibe.engine.normalize import ALIAS_KINDS, has_control_chars, normalize_alias, type_key
from leadvibe.errors import ApiError
from leadvibe.ids import new_event_id
from leadvibe.store import inbox as inbox_store
from leadvibe.timeutil import parse_rfc3339

MAX_EVENT_TYPE = 128
MAX_ID = 128
MAX_ALIAS = 320
MAX_METADATA_BYTES = 100 * 1024
MAX_DEPTH = 32
FUTURE_SLACK_MS = 24 * 3600 * 1000
IDEMPOTENCY_TTL_MS = 8 * 24 * 3600 * 1000  # kept at least 7 days, purged after 8


_AliasKind = Annotated[str, choices(sorted(ALIAS_KINDS))]
# A key or a lead id as the client chose it: checked trimmed (`checked_key`, `validate`).
_ClientId = Annotated[str, single_line(MAX_ID)]


# The structs made per ingested event are not tracked by the garbage collector (`gc=False`): they hold decoded JSON
# and strings and never a reference back to themselves, so no cycle can run through them, and a 1,000-event batch
# would otherwise add thousands of tracked objects per request, each share of them setting off a collection.
class AliasIn(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    """One identity of a lead (`raw_value`; `value` accepted too)."""

    alias_kind: _AliasKind
    raw_value: str | None = None
    value: str | None = None


def _alias_value(field: str, instead: str | None = None) -> dict[str, Any]:
    """JSON Schema of `checked_aliases`' rule for an alias value in `field` (else in `instead` when `field` is
    null): one line of at most MAX_ALIAS characters, and a phone number has a digit."""
    value = single_line_json(MAX_ALIAS)
    phone = {"properties": {"alias_kind": {"const": "phone"}}, "required": ["alias_kind"]}
    rule: dict[str, Any] = {"properties": {field: {"anyOf": [{"type": "null"}, value]}},
                            "if": phone, "then": {"properties": {field: {"pattern": "[0-9]"}}}}
    if instead is None:
        return rule
    return {"if": present(field), "then": rule, "else": {**present(instead, value),
                                                        "if": phone,
                                                        "then": {"properties": {instead: {"pattern": "[0-9]"}}}}}


across_fields(AliasIn, _alias_value("raw_value", "value"))


class IngestEvent(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    """An engagement event as clients send it. Unknown top-level fields are ignored."""

    event_type: Annotated[str, single_line(MAX_EVENT_TYPE)]
    lead_id: _ClientId | None = None
    aliases: list[AliasIn] | None = None
    alias_kind: Annotated[str | None, choices(sorted(ALIAS_KINDS), nullable=True)] = None
    alias: str | None = None
    timestamp: str | None = None
    metadata: dict[str, Any] | None = None
    event_id: _ClientId | None = None


# The rules across fields of a body that names a lead (an event, an order), for the document: the lead is named
# by `lead_id`, aliases or `alias_kind` + `alias`, and the last two come together.
IDENTIFIED_LEAD = {"anyOf": [present("lead_id"), present("aliases", {"minItems": 1}), present("alias")],
                   "allOf": [{"if": present(a), "then": present(b)}
                             for a, b in (("alias", "alias_kind"), ("alias_kind", "alias"))] + [_alias_value("alias")]}
across_fields(IngestEvent, IDENTIFIED_LEAD)


class QueuedEvent(msgspec.Struct, array_like=True, gc=False):
    """A validated event as stored in the inbox (compact array encoding)."""

    event_id: str
    event_type: str
    lead_id: str | None
    aliases: list[tuple[str, str, str]]
    ts: int
    metadata: dict[str, Any] | None
    idempotency_key: str | None


_encoder = msgspec.json.Encoder()
_queued_decoder = msgspec.json.Decoder(QueuedEvent)


def encode(q: QueuedEvent) -> bytes:
    """Inbox payload bytes."""
    return _encoder.encode(q)


def decode(payload: bytes) -> QueuedEvent:
    """Inbox payload back to a QueuedEvent."""
    return _queued_decoder.decode(payload)


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


def check_depth(value: Any, field: str = "metadata") -> None:
    """400 when a JSON value nests deeper than MAX_DEPTH levels (SEMANTICS §2), naming the field: `value` itself
    is the first level (a metadata object of 32 nested objects passes, as the message says; 31 did)."""
    if _depth_exceeds(value, MAX_DEPTH):
        raise ApiError(400, f"`{field}` is nested too deeply (at most {MAX_DEPTH} levels)")


def no_control(value: str, field: str) -> None:
    """400 when an identifier holds a control character (SEMANTICS §2), naming the field."""
    if has_control_chars(value):
        raise ApiError(400, f"`{field}` must not contain control characters")


@functools.lru_cache(maxsize=4096)
def checked_event_type(raw: str) -> str:
    """An event type as stored (trimmed), or ApiError 400 naming what is wrong with it. Remembered per spelling:
    a stream of events repeats a handful of types, and only the valid ones are kept (an error is not cached)."""
    name = raw.strip()
    if not name:
        raise ApiError(400, "`event_type` is required and must not be empty")
    if len(name) > MAX_EVENT_TYPE:
        raise ApiError(400, f"`event_type` must be at most {MAX_EVENT_TYPE} characters")
    if not type_key(name):
        raise ApiError(400, "`event_type` must contain letters or digits")
    no_control(name, "event_type")
    return name


def checked_aliases(given: list[AliasIn] | None, alias_kind: str | None, alias: str | None
                    ) -> list[tuple[str, str, str]]:
    """The aliases naming a lead (an event's, an order's: `aliases`, or `alias_kind` + `alias`) as (kind, stored
    value, value as sent), or ApiError 400 naming the one at fault (`IDENTIFIED_LEAD` documents the rules)."""
    aliases: list[tuple[str, str, str]] = []
    raw_aliases: list[tuple[str, str | None, str]] = [
        (a.alias_kind, a.raw_value if a.raw_value is not None else a.value, f"aliases[{i}]")
        for i, a in enumerate(given or [])]
    if alias_kind is not None or alias is not None:
        if alias_kind is None or alias is None:
            raise ApiError(400, "`alias_kind` and `alias` must be given together")
        raw_aliases.append((alias_kind, alias, "alias"))
    for kind, raw, where in raw_aliases:
        if kind not in ALIAS_KINDS:
            raise ApiError(400, f"`{where}.alias_kind` must be one of {', '.join(sorted(ALIAS_KINDS))}"
                           if where != "alias" else
                           f"`alias_kind` must be one of {', '.join(sorted(ALIAS_KINDS))}")
        if raw is None:  # (the top-level pair's `alias` is never None here)
            raise ApiError(400, f"`{where}.raw_value` is required (the alias's value; `value` is taken too)")
        if not raw.strip():
            raise ApiError(400, f"`{where}` needs a non-empty value")
        if len(raw) > MAX_ALIAS:
            raise ApiError(400, f"`{where}` value must be at most {MAX_ALIAS} characters")
        try:
            aliases.append((kind, normalize_alias(kind, raw), raw.strip()))
        except ValueError as exc:
            raise ApiError(400, f"`{where}`: {exc}") from None
    return aliases


def checked_key(key: str, name: str, field: str) -> str:
    """An idempotency key as stored (trimmed), or ApiError 400: 1 to MAX_ID characters (`name` says which) and no
    control characters (`field` names it)."""
    key = key.strip()
    if not 1 <= len(key) <= MAX_ID:
        raise ApiError(400, f"{name} must be 1 to {MAX_ID} characters")
    no_control(key, field)
    return key


def validate(ev: IngestEvent, now: int, idempotency_header: str | None = None,
             event_id: str | None = None) -> QueuedEvent:
    """Check an event as SEMANTICS §2 says; raise ApiError (400/413) naming the field. The event gets `event_id`
    (one of `ids.new_event_ids`, minted for a whole batch) or a new id of its own."""
    name = checked_event_type(ev.event_type)
    lead_id = ev.lead_id.strip() if ev.lead_id is not None else None
    if lead_id is not None and not 1 <= len(lead_id) <= MAX_ID:
        raise ApiError(400, f"`lead_id` must be 1 to {MAX_ID} characters")
    if lead_id is not None:
        no_control(lead_id, "lead_id")
    # Most events name their lead by id alone: they skip building the alias list.
    no_aliases = not ev.aliases and ev.alias_kind is None and ev.alias is None
    aliases: list[tuple[str, str, str]] = [] if no_aliases else checked_aliases(ev.aliases, ev.alias_kind, ev.alias)
    if not lead_id and not aliases:
        raise ApiError(400, "identify the lead with `lead_id`, `aliases`, or `alias_kind` + `alias`")
    if ev.timestamp is None:
        ts = now
    else:
        try:
            ts = parse_rfc3339(ev.timestamp)
        except ValueError as exc:
            raise ApiError(400, f"`timestamp` {exc}") from None
        if ts > now + FUTURE_SLACK_MS:
            raise ApiError(400, "`timestamp` is more than 24 hours in the future")
    if ev.metadata is not None:
        check_depth(ev.metadata)
        if len(_encoder.encode(ev.metadata)) > MAX_METADATA_BYTES:
            raise ApiError(413, "`metadata` is larger than 100 KB")
    # The header is checked even when the body's `event_id` wins: a malformed key is refused, not ignored.
    header = None if idempotency_header is None else checked_key(idempotency_header, "`Idempotency-Key`",
                                                                  "Idempotency-Key")
    key = header if ev.event_id is None else checked_key(ev.event_id, "`event_id`", "event_id")
    return QueuedEvent(event_id or new_event_id(), name, lead_id, aliases, ts, ev.metadata, key)


# The outcome of one submitted event: its event id, and whether it repeated a known idempotency key (the id is then
# the original event's). A plain tuple: one is made per event on the writer thread, where a named tuple's
# constructor cost 0.35 µs and a frozen dataclass's over 1 µs.
Accepted = tuple[str, bool]


def _inbox_rows(conn: apsw.Connection, org_id: str, unit_id: str, events: Sequence[QueuedEvent], source: str,
                skip_triggers: bool, now: int, rows: list[tuple[Any, ...]]) -> list[Accepted]:
    """Check idempotency keys and add the inbox rows of the events that are new to `rows`."""
    skip = int(skip_triggers)
    if all(q.idempotency_key is None for q in events):
        # Nearly every submission: nothing to look up, so two comprehensions instead of a loop.
        rows.extend([(org_id, unit_id, q.event_id, encode(q), source, skip, now) for q in events])
        return [(q.event_id, False) for q in events]
    out: list[Accepted] = []
    for q in events:
        if q.idempotency_key is not None:
            original = inbox_store.claim_key(conn, unit_id, q.idempotency_key, q.event_id, now)
            if original is not None:
                out.append((original, True))
                continue
        rows.append((org_id, unit_id, q.event_id, encode(q), source, skip, now))
        out.append((q.event_id, False))
    return out


# A batch's Idempotency-Key is kept in `idempotency_keys` beside the events' keys, under a name no client's key can
# take (it begins with a control character, which `checked_key` refuses in every key), with the batch's outcome in
# place of an event id: the purge after IDEMPOTENCY_TTL_MS, backups and restores then keep it as they keep the rest.
BATCH_KEY_PREFIX = "\x1ebatch:"


class BatchOutcome(msgspec.Struct, array_like=True, gc=False):
    """One event of a batch sent with an Idempotency-Key: its event id (`duplicate` when it repeated a known
    `event_id`, the id then the original's), or `error`, why validation refused it."""

    event_id: str | None = None
    duplicate: bool = False
    error: str | None = None


_outcomes_decoder = msgspec.json.Decoder(list[BatchOutcome])


@dataclass(frozen=True, slots=True)
class BatchKey:
    """A batch's Idempotency-Key (checked), its number of events and those validation refused (index, reason):
    what the inbox's writer records under the key with the ids it gives the others."""

    key: str
    size: int
    rejected: Sequence[tuple[int, str]]


class KeyedBatch(NamedTuple):
    """What a batch sent with an Idempotency-Key answers: its events' outcomes in order, and whether they are a
    replay (the key was known: nothing was stored, these are the first request's outcomes)."""

    replay: bool
    outcomes: list[BatchOutcome]


def _keyed_batch_rows(conn: apsw.Connection, s: Submission, batch: BatchKey,
                      rows: list[tuple[Any, ...]]) -> KeyedBatch:
    """The first batch with a key adds its rows and records its outcome under the key, in the transaction that
    stores the rows; a later one, or one racing it in the same group, reads that outcome back and adds nothing."""
    name = BATCH_KEY_PREFIX + batch.key
    known = inbox_store.key_value(conn, s.unit_id, name)
    if known is not None:
        return KeyedBatch(True, _outcomes_decoder.decode(known))
    accepted = iter(_inbox_rows(conn, s.org_id, s.unit_id, s.events, s.source, s.skip_triggers, s.now, rows))
    refused = dict(batch.rejected)
    outcomes = [BatchOutcome(error=refused[i]) if i in refused else BatchOutcome(*next(accepted))
                for i in range(batch.size)]
    inbox_store.claim_key(conn, s.unit_id, name, _encoder.encode(outcomes).decode(), s.now)
    return KeyedBatch(False, outcomes)


def _submission_rows(conn: apsw.Connection, s: Submission, rows: list[tuple[Any, ...]]) -> Stored:
    if s.batch is None:
        return _inbox_rows(conn, s.org_id, s.unit_id, s.events, s.source, s.skip_triggers, s.now, rows)
    return _keyed_batch_rows(conn, s, s.batch, rows)


def store_events(conn: apsw.Connection, org_id: str, unit_id: str, events: Sequence[QueuedEvent], source: str,
                 skip_triggers: bool, now: int) -> list[Accepted]:
    """Inside a write to the inbox file: store validated events, answering repeats of a known idempotency key with
    the original event id instead."""
    rows: list[tuple[Any, ...]] = []
    out = _inbox_rows(conn, org_id, unit_id, events, source, skip_triggers, now, rows)
    inbox_store.insert(conn, rows)
    return out


@dataclass(frozen=True, slots=True)
class Submission:
    """One caller's events, waiting with others for the writer."""

    org_id: str
    unit_id: str
    events: Sequence[QueuedEvent]
    source: str
    skip_triggers: bool
    now: int
    batch: BatchKey | None = None


# What the writer gives a submission: its events' (event id, duplicate), or a keyed batch's whole outcome.
Stored = list[Accepted] | KeyedBatch
Outcome = tuple[bool, Any]  # (True, list[Accepted]) or (False, the exception that submission raised)


def _store_one(conn: apsw.Connection, s: Submission) -> Stored:
    rows: list[tuple[Any, ...]] = []
    out = _submission_rows(conn, s, rows)
    inbox_store.insert(conn, rows)
    return out


def store_submissions(conn: apsw.Connection, subs: Sequence[Submission]) -> list[Outcome]:
    """Inside a write: store several callers' events with one insert. Should that fail, each submission is stored
    again in a savepoint of its own, so a failure reaches only the caller whose events caused it."""
    if len(subs) == 1:
        return [(True, _store_one(conn, subs[0]))]  # a failure fails the job, and so its one caller
    conn.execute("SAVEPOINT inbox_group")
    try:
        rows: list[tuple[Any, ...]] = []
        outs = [_submission_rows(conn, s, rows) for s in subs]
        inbox_store.insert(conn, rows)
    except Exception:
        conn.execute("ROLLBACK TO inbox_group")
        conn.execute("RELEASE inbox_group")
    else:
        conn.execute("RELEASE inbox_group")
        return [(True, out) for out in outs]
    results: list[Outcome] = []
    for s in subs:
        conn.execute("SAVEPOINT inbox_one")
        try:
            out = _store_one(conn, s)
        except Exception as exc:
            conn.execute("ROLLBACK TO inbox_one")
            conn.execute("RELEASE inbox_one")
            results.append((False, exc))
        else:
            conn.execute("RELEASE inbox_one")
            results.append((True, out))
    return results


class _Group:
    """Submissions that one write job will store, with the futures their callers wait on."""

    __slots__ = ("subs", "waiters")

    def __init__(self) -> None:
        self.subs: list[Submission] = []
        self.waiters: list[asyncio.Future[Any]] = []


def _deliver(group: _Group, done: asyncio.Future[list[Outcome]]) -> None:
    """Hand each caller its own outcome once the group's write has committed (or failed as a whole, perhaps without
    running: then its callers, including any that joined meanwhile, get that error)."""
    error = done.exception() if not done.cancelled() else asyncio.CancelledError()
    outcomes: list[Outcome] = [(False, error)] * len(group.waiters) if error is not None else done.result()
    for waiter, (ok, value) in zip(group.waiters, outcomes, strict=True):
        if waiter.done():  # its caller was cancelled; the write stands
            continue
        if ok:
            waiter.set_result(value)
        else:
            waiter.set_exception(value)


# Handled rows are deleted this long after the worker reports them, in jobs of at most DELETE_CHUNK rows: one
# job for all of a backlog's would hold the inbox's writer (and every 202 queued behind it) for a second or more.
TIDY_AFTER_S = 1.0
DELETE_CHUNK = 4_000


class Inbox:
    """Accepts validated events; returns once they are committed (durable).

    Submissions that arrive while the inbox's writer is busy (a commit) gather into one write job: one insert and
    one savepoint for all of them instead of a job, a savepoint and three statements each, on the writer thread
    every 202 waits for."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self._open: _Group | None = None
        self._lock = threading.Lock()  # the loop adds submissions while the writer thread takes the group
        self._handled = 0  # the last seq the worker reported handled
        self._deleted = 0  # every row up to here is deleted
        self._tidy: asyncio.TimerHandle | None = None

    def handled(self, seq: int) -> None:
        """The worker has committed everything up to inbox row `seq` (on the loop): delete those rows soon."""
        if seq <= self._handled:
            return
        self._handled = seq
        self._tidy_in(TIDY_AFTER_S)

    def _tidy_in(self, seconds: float) -> None:
        if self._tidy is None:
            self._tidy = asyncio.get_running_loop().call_later(seconds, self._delete_handled)

    def _delete_handled(self) -> None:
        self._tidy = None
        upto = self._handled
        if upto <= self._deleted:
            return
        with contextlib.suppress(DatabaseClosed):
            done = self.rt.inbox_db.enqueue(lambda c: inbox_store.delete_handled(c, upto, DELETE_CHUNK))
            done.add_done_callback(lambda f: self._deleted_some(f, upto))

    def _deleted_some(self, done: asyncio.Future[int], upto: int) -> None:
        if done.cancelled() or done.exception() is not None:
            return  # the rows stay behind the worker's mark; the next report tries again
        if done.result() < DELETE_CHUNK:
            self._deleted = max(self._deleted, upto)
        else:
            self._tidy_in(0)  # more to delete: the next chunk after the acknowledgements queued meanwhile

    def stop(self) -> None:
        """Cancel a pending deletion round (the server is stopping; the next start's first round does it)."""
        if self._tidy is not None:
            self._tidy.cancel()
            self._tidy = None

    def _take(self, group: _Group) -> list[Submission]:
        with self._lock:
            if self._open is group:
                self._open = None
            return group.subs

    def _settled(self, group: _Group, done: asyncio.Future[list[Outcome]]) -> None:
        # A job that failed before it ran (BEGIN refused) never took its group: close it, or later callers would
        # join a group whose write is over and wait forever.
        self._take(group)
        _deliver(group, done)

    async def submit(self, org_id: str, unit_id: str, events: Sequence[QueuedEvent], *, source: str = "api",
                     skip_triggers: bool = False) -> list[Accepted]:
        """Store events in the inbox in one (group-committed) transaction; wake the worker."""
        if not events:
            return []
        accepted: list[Accepted] = await self._stored(
            Submission(org_id, unit_id, events, source, skip_triggers, self.rt.now_ms()))
        self._arrived(sum(1 for _, duplicate in accepted if not duplicate))
        return accepted

    async def submit_batch(self, org_id: str, unit_id: str, events: Sequence[QueuedEvent],
                           batch: BatchKey) -> KeyedBatch:
        """Store a batch sent with an Idempotency-Key (at least one valid event) as `submit` does, unless the key
        is known in the OU: then store nothing and answer the first batch's outcome."""
        result: KeyedBatch = await self._stored(
            Submission(org_id, unit_id, events, "api", False, self.rt.now_ms(), batch))
        if not result.replay:
            self._arrived(sum(1 for o in result.outcomes if o.event_id is not None and not o.duplicate))
        return result

    def _stored(self, sub: Submission) -> asyncio.Future[Any]:
        """Queue a submission into the open group (opening one and its write job if none); the future its commit
        settles (a plain future, not a coroutine: no extra frame on the path of every 202)."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._lock:
            group = self._open
            first = group is None
            if group is None:
                group = self._open = _Group()
            group.subs.append(sub)
            group.waiters.append(waiter)
        if first:
            try:
                stored = self.rt.inbox_db.enqueue(lambda c, g=group: store_submissions(c, self._take(g)))
            except BaseException:
                self._take(group)  # nobody else joined: this submit has not awaited since it opened the group
                raise
            stored.add_done_callback(lambda done, g=group: self._settled(g, done))
        return waiter

    def _arrived(self, fresh: int) -> None:
        if fresh:
            self.rt.metrics.events_ingested.inc(fresh)
            worker = self.rt.worker
            if worker is not None:
                worker.notify(fresh)


def purge_idempotency_keys(conn: apsw.Connection, now: int) -> int:
    """Inbox file: forget keys older than the retention window."""
    return inbox_store.purge_keys(conn, now - IDEMPOTENCY_TTL_MS)


async def pending_count(rt: Any) -> int:
    """Inbox rows the worker has not handled yet."""
    handled = await rt.db.read(inbox_store.progress)
    return int(await rt.inbox_db.read(lambda c: inbox_store.count_pending(c, handled)))


async def oldest_pending_ms(rt: Any) -> int | None:
    """When the oldest event the worker has not handled was acknowledged (ms, the server's clock); None if none
    waits."""
    handled = await rt.db.read(inbox_store.progress)
    oldest: int | None = await rt.inbox_db.read(lambda c: inbox_store.oldest_pending(c, handled))
    return oldest


def settle_inbox_file(main: Database, inbox: Database) -> int:
    """At start, before the worker runs (both databases open): number the inbox file's new rows after what the
    worker has handled, then move rows parked in the main database into it (store/inbox.py). Returns how many
    rows were moved. Each chunk is committed to the inbox file, then dropped from the main database; the inbox
    file marks the last row it took, so a start interrupted between the two commits moves nothing twice."""
    handled = main.read_blocking(inbox_store.progress)

    def tidy(conn: apsw.Connection) -> None:
        inbox_store.number_after(conn, handled)
        inbox_store.delete_handled(conn, handled)  # a previous run's, left when it stopped

    inbox.write_blocking(tidy)
    mark_seq, mark_event = inbox.read_blocking(inbox_store.moved_mark)
    if mark_seq and main.read_blocking(functools.partial(inbox_store.parked_event_id, seq=mark_seq)) == mark_event:
        main.write_blocking(functools.partial(inbox_store.drop_parked, upto=mark_seq, keys=True))
    moved = 0
    after = 0
    keys = main.read_blocking(inbox_store.all_keys)
    while True:
        rows = main.read_blocking(functools.partial(inbox_store.parked, after=after))
        if not rows and not keys:
            return moved
        inbox.write_blocking(functools.partial(inbox_store.take_parked, rows=rows, keys=keys))
        if rows:
            after = rows[-1][0]
        main.write_blocking(functools.partial(inbox_store.drop_parked, upto=after, keys=bool(keys)))
        moved += len(rows)
        keys = []
