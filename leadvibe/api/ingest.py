"""Ingestion endpoints: single events, batches, CSV import, and the live SSE stream."""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Annotated, Any, TypeVar, cast

import msgspec
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Stream

from leadvibe.api.json_body import multipart_upload
from leadvibe.csvread import Records, UnterminatedQuote, first_line_not_utf8, separator_hint, unterminated_header
from leadvibe.csvsafe import plain_cell
from leadvibe.documented import one_by_one, single_line_schema, sized
from leadvibe.errors import ApiError, out_of_range, out_of_range_path, unprocessable, validation_error
from leadvibe.ids import new_event_ids
from leadvibe.pipeline.inbox import (
    MAX_ID,
    Accepted,
    BatchKey,
    IngestEvent,
    KeyedBatch,
    QueuedEvent,
    checked_key,
    validate,
)
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access, check_access, role_in_unit
from leadvibe.security.principal import Role, Tenant

MAX_BODY = 1024 * 1024
MAX_BATCH = 1000
MAX_BATCH_BODY = 16 * 1024 * 1024
MAX_IMPORT = 10 * 1024 * 1024
IMPORT_CHUNK = 500
T = TypeVar("T")
# The csv module refuses a field over 128 KB as malformed CSV, which stopped an import halfway through its file; a
# whole file is at most MAX_IMPORT, so no field is ever over that, and a row with an overlong value is counted in
# `errors` by its column's own limit like any other bad row.
csv.field_size_limit(MAX_IMPORT)
ALIAS_COLUMNS = ("external_id", "email", "phone", "cookie", "social")
# Far more than any export holds (the rest are ignored and named in the answer), and every row is read into one
# value per column.
MAX_IMPORT_COLUMNS = 10_000
IMPORT_COLUMNS = frozenset(("lead_id", "event_type", "timestamp", *ALIAS_COLUMNS, "metadata", "event_id"))
_ALIAS_COLUMNS_TEXT = ", ".join(f"`{c}`" for c in ALIAS_COLUMNS)


# Declared on both ingestion handlers so the OpenAPI document shows it (the lean path reads the same header).
IdempotencyKey = Annotated[str | None, Parameter(
    header="Idempotency-Key", required=False, schema_extra=single_line_schema(MAX_ID),
    description=f"1 to {MAX_ID} characters. /ingest: the event's key (an `event_id` in the body wins). "
                "/ingest/batch: the whole batch's key; a repeat within the OU answers the first request's results "
                "as a replay.")]


class IngestMeta(msgspec.Struct):
    """Where the event went."""

    event_id: str
    duplicate: bool = False


class IngestAccepted(msgspec.Struct):
    """`202 {"message":"event ingested","metadata":{"event_id":...}}`."""

    message: str
    metadata: IngestMeta


class BatchIn(msgspec.Struct):
    """Up to 1,000 events."""

    # No `maxItems`: a longer batch is a 413 (too large), which a schema's refusal (a 400) is not.
    events: Annotated[list[IngestEvent], sized(1)]


# An event /ingest would refuse is a rejected item of the batch's results, not a refused batch.
one_by_one(BatchIn, "events")


class Refused(msgspec.Struct, gc=False):
    """An event of a batch whose JSON shape /ingest would refuse (not an object, a field of the wrong type, no
    `event_type`): a rejected item, with the message /ingest would answer."""

    error: str


class _BatchOfRaw(msgspec.Struct):
    events: list[msgspec.Raw]


_batch_decoder = msgspec.json.Decoder(BatchIn)
_raw_batch_decoder = msgspec.json.Decoder(_BatchOfRaw)
_event_decoder = msgspec.json.Decoder(IngestEvent)


def decode_batch(body: bytes) -> Sequence[IngestEvent | Refused]:
    """The events of a `/ingest/batch` body, each decoded on its own when the whole does not decode: an event of
    the wrong shape is a `Refused` item and the others go on. A body that is not an object holding an `events`
    list is refused whole (msgspec.ValidationError / DecodeError, naming where). A well-formed batch is decoded in
    one pass, as before."""
    try:
        return _batch_decoder.decode(body).events
    except msgspec.ValidationError:
        items = _raw_batch_decoder.decode(body).events  # the body's own shape is wrong: this raises, naming it
    if len(items) > MAX_BATCH:
        raise _too_many()  # before a message is made for each of them
    return [_event_or_refused(raw) for raw in items]


def _too_many() -> ApiError:
    return ApiError(413, f"at most {MAX_BATCH} events per batch")


def _event_or_refused(raw: msgspec.Raw) -> IngestEvent | Refused:
    try:
        return _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return Refused(validation_error(str(exc), bytes(raw), whole="the event").message)


class BatchItem(msgspec.Struct, omit_defaults=True, gc=False):
    """The outcome of one event of a batch (untracked by the garbage collector, as the inbox's per-event structs
    are: it holds strings and numbers only)."""

    index: int
    status: str  # accepted | duplicate | rejected
    event_id: str | None = None
    error: str | None = None


class BatchAccepted(msgspec.Struct):
    """Per-item results; rejected items were not stored, accepted ones are durable. `replay`: the request's
    Idempotency-Key was known, so nothing was stored and the results are the first request's (each stored event
    a `duplicate` with its original id)."""

    message: str
    accepted: int
    duplicates: int
    rejected: int
    results: list[BatchItem]
    replay: bool = False


class ImportErrorRow(msgspec.Struct, omit_defaults=True):
    """A CSV row that could not be imported."""

    line: int
    error: str
    # An error covering several lines (a quote never closed) names its last here.
    last_line: int | None = None


class ImportResult(msgspec.Struct):
    """What an import did. `ignored_columns`: header cells that name no import column, as written (their cells
    are not imported: data meant for an event's metadata goes in its `metadata` column as JSON)."""

    message: str
    imported: int
    duplicates: int
    errors: int
    error_rows: list[ImportErrorRow]
    ignored_columns: list[str] = msgspec.field(default_factory=list)


async def accept_one(rt: Runtime, tenant: Tenant, data: IngestEvent, idempotency_key: str | None) -> IngestAccepted:
    """Validate one event and make it durable in the inbox; the answer of `POST /ingest`."""
    q = validate(data, rt.now_ms(), idempotency_key)
    ((event_id, duplicate),) = await rt.inbox.submit(tenant.org_id, tenant.unit_id, [q])
    return IngestAccepted("event ingested", IngestMeta(event_id, duplicate))


async def accept_batch(rt: Runtime, tenant: Tenant, events: Sequence[IngestEvent | Refused],
                       idempotency_key: str | None = None) -> BatchAccepted:
    """Validate each event of a batch on its own and store the valid ones in one transaction; the answer of
    `POST /ingest/batch`. With an Idempotency-Key the whole batch is stored once: a repeat answers the first
    request's results as a replay."""
    key = checked_key(idempotency_key, "`Idempotency-Key`", "Idempotency-Key") if idempotency_key is not None else None
    if not events:
        raise ApiError(400, "`events` must hold at least one event")
    if len(events) > MAX_BATCH:
        raise _too_many()
    now = rt.now_ms()
    results: list[BatchItem | None] = [None] * len(events)
    valid: list[QueuedEvent] = []
    where: list[int] = []
    ids = new_event_ids(len(events))
    for i, ev in enumerate(events):
        if isinstance(ev, Refused):
            results[i] = BatchItem(i, "rejected", error=ev.error)
            continue
        try:
            valid.append(validate(ev, now, event_id=ids[i]))
        except ApiError as exc:
            results[i] = BatchItem(i, "rejected", error=exc.message)
        else:
            where.append(i)
    if key is not None and valid:
        # A batch none of whose events is valid stored nothing and records no key, as a refused /ingest does not.
        rejected = [(i, item.error or "") for i, item in enumerate(results) if item is not None]
        stored = await rt.inbox.submit_batch(tenant.org_id, tenant.unit_id, valid, BatchKey(key, len(events), rejected))
        if stored.replay and len(stored.outcomes) != len(events):
            # Not a repeat of the first request: answering its outcomes would leave events of this one unanswered
            # and unstored. Nothing of this one was stored (the key's first batch was, and stays).
            raise unprocessable(
                f"`Idempotency-Key` {key!r} was first sent with a batch of {len(stored.outcomes)} events and this"
                f" batch has {len(events)}: a repeat must be the same batch; send a different batch with a new key")
        return _replayable(stored)
    accepted = await rt.inbox.submit(tenant.org_id, tenant.unit_id, valid)
    dup = 0
    for i, (event_id, duplicate) in zip(where, accepted, strict=True):
        dup += duplicate
        results[i] = BatchItem(i, "duplicate" if duplicate else "accepted", event_id)
    ok = len(accepted) - dup
    items = cast(list[BatchItem], results)  # every index was filled: rejected, or accepted / duplicate
    return BatchAccepted("events ingested", ok, dup, len(items) - ok - dup, items)


def _replayable(result: KeyedBatch) -> BatchAccepted:
    """The answer of a batch sent with an Idempotency-Key: on a replay every stored event is a duplicate (its id the
    original's), as a repeated /ingest answers `"duplicate": true`; refused events stay refused."""
    items: list[BatchItem] = []
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for i, o in enumerate(result.outcomes):
        if o.event_id is None:
            item = BatchItem(i, "rejected", error=o.error)
        else:
            item = BatchItem(i, "duplicate" if o.duplicate or result.replay else "accepted", o.event_id)
        counts[item.status] += 1
        items.append(item)
    return BatchAccepted("events ingested", counts["accepted"], counts["duplicate"], counts["rejected"], items,
                         replay=result.replay)


# These two handlers describe the ingestion routes (OpenAPI, guard declaration) and serve them when the lean
# path is off; the server answers them through api/ingest_asgi.py, which runs the same guard and the same
# accept_one / accept_batch without the framework's per-request machinery.
@post("/ingest", opt=access(Role.OPERATOR, body_shape='send one event as an object, or several to /ingest/batch as'
                                                      ' {"events": [...]}'),
      operation_id="ingestEvent", summary="Ingest engagement event", tags=["Events"],
      status_code=202, request_max_body_size=MAX_BODY)
async def ingest(request: Request[Any, Any, Any], data: IngestEvent,
                 idempotency_key: IdempotencyKey = None) -> IngestAccepted:
    """Validate, make durable (group-committed inbox), then answer 202; scoring happens right after."""
    return await accept_one(request.app.state.runtime, request.state.tenant, data, idempotency_key)


@post("/ingest/batch", opt=access(Role.OPERATOR, body_shape='send the events as {"events": [...]}'),
      operation_id="ingestEventBatch", summary="Ingest up to 1,000 events",
      tags=["Events"], status_code=202, request_max_body_size=MAX_BATCH_BODY)
async def ingest_batch(request: Request[Any, Any, Any], data: BatchIn,
                       idempotency_key: IdempotencyKey = None) -> BatchAccepted:
    """Each event is validated on its own: valid ones are stored (in one transaction), invalid ones reported; an
    Idempotency-Key makes the whole batch a one-time submission. (The framework decodes the whole body before
    this runs, so here an event of the wrong JSON shape refuses the batch; the lean path, which serves the route,
    decodes such an event on its own: `decode_batch`.)"""
    return await accept_batch(request.app.state.runtime, request.state.tenant, data.events, idempotency_key)


def _row_event(row: dict[str, str]) -> IngestEvent:
    meta_raw = (row.get("metadata") or "").strip()
    metadata = None
    if meta_raw:
        try:
            metadata = msgspec.json.decode(meta_raw)
        except msgspec.ValidationError as exc:
            # Well-formed JSON the decoder still refuses holds a number too large to keep: named as /ingest does.
            where = out_of_range_path(meta_raw.encode(), root="metadata") or "metadata"
            raise out_of_range(str(exc), None, key=where) or ApiError(400, "`metadata` is not valid JSON") from None
        except msgspec.DecodeError:
            raise ApiError(400, "`metadata` is not valid JSON") from None
        if not isinstance(metadata, dict):
            raise ApiError(400, "`metadata` must be a JSON object")
    aliases = [{"alias_kind": k, "raw_value": row[k].strip()} for k in ALIAS_COLUMNS if (row.get(k) or "").strip()]
    lead_id = (row.get("lead_id") or "").strip() or None
    if lead_id is None and not aliases:
        raise ApiError(400, f"the row names no lead: fill its `lead_id` or one of {_ALIAS_COLUMNS_TEXT}")
    return msgspec.convert({
        "event_type": (row.get("event_type") or "").strip(),
        "lead_id": lead_id,
        "aliases": aliases or None,
        "timestamp": (row.get("timestamp") or "").strip() or None,
        "metadata": metadata,
        "event_id": (row.get("event_id") or "").strip() or None,
    }, IngestEvent)


async def _import_rows(rt: Runtime, tenant: Tenant, upload: UploadFile, skip_triggers: bool,
                       by_lead: bool) -> ImportResult:
    raw = upload.file
    raw.seek(0, io.SEEK_END)
    if raw.tell() > MAX_IMPORT:
        raise ApiError(413, "the CSV file is larger than 10 MB")
    raw.seek(0)
    if (bad := first_line_not_utf8(iter(lambda: raw.read(1 << 20), b""))) is not None:
        raise ApiError(400, f"the CSV file must be UTF-8: line {bad} is not (nothing was imported)")
    raw.seek(0)
    head = raw.read(3)
    if head != codecs.BOM_UTF8:
        raw.seek(0)
    rows = Records(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
    read = iter(rows)
    try:
        at, names = next(read, (1, []))
        fields = [f.strip().lower() for f in names]
    except UnterminatedQuote as exc:
        raise ApiError(400, unterminated_header(exc.line)) from None
    if not fields:
        raise ApiError(400, "the CSV file is empty (a header row is required)")
    if at != 1:
        # Blank lines are skipped between rows, but a header further down is more likely a file cut wrongly.
        raise ApiError(400, f"the CSV file starts with {at - 1} blank line{'s' if at > 2 else ''}: the header "
                            "row must be its first line")
    if "event_type" not in fields:
        raise ApiError(400, "the CSV header must include `event_type`" + separator_hint(names, "event_type"))
    if not any(f in fields for f in ("lead_id", *ALIAS_COLUMNS)):
        raise ApiError(400, "the CSV header names no lead: it needs a `lead_id` column or an identifier column "
                            f"({_ALIAS_COLUMNS_TEXT})")
    if len(fields) > MAX_IMPORT_COLUMNS:
        raise ApiError(400, f"the CSV header has {len(fields):,} columns, more than the {MAX_IMPORT_COLUMNS:,} an "
                            "import reads: keep the event columns (and metadata) only")
    repeated = sorted(f for f, n in Counter(fields).items() if f and n > 1)
    if repeated:
        # Which of two `event_type` columns would win is nothing a person can see in the file: say so instead.
        raise ApiError(400, f"the CSV header names {', '.join(f'`{f}`' for f in repeated)} more than once")
    if by_lead and "lead_id" not in fields:
        raise ApiError(400, "by_lead groups the rows by their lead_id column, and this file's header has none"
                            " (import it without by_lead)")
    imported = duplicates = errors = 0
    error_rows: list[ImportErrorRow] = []
    chunk: list[QueuedEvent] = []
    inbox = rt.inbox

    async def send(events: list[QueuedEvent]) -> None:
        nonlocal imported, duplicates
        if events:
            done: list[Accepted] = await inbox.submit(tenant.org_id, tenant.unit_id, events, source="import",
                                                      skip_triggers=skip_triggers)
            repeated = sum(1 for _, duplicate in done if duplicate)
            imported += len(done) - repeated
            duplicates += repeated

    async def flush() -> None:
        # Grouped by lead, nothing is sent before every row has been read.
        if not by_lead:
            await send(list(chunk))
            chunk.clear()

    def refuse(row: ImportErrorRow, lines: int = 1) -> None:
        nonlocal errors
        errors += lines
        if len(error_rows) < 100:
            error_rows.append(row)

    unnamed = 0  # the first line (by_lead) of a valid row without a lead id
    now = rt.now_ms()
    try:
        # Refused rows send nothing, so without pauses a long run of them would hold the event loop (every other
        # request, /healthz too) for as long as the file takes to read.
        async for line, cells in paced(read, IMPORT_CHUNK):
            try:
                if len(cells) > len(fields):
                    raise ApiError(400, "the row has more cells than the header")
                # A shorter row leaves its last columns empty.
                # An exported file imported again: cells it neutralised against spreadsheet formulas are the
                # values they were (csvsafe.plain_cell).
                event = validate(_row_event(dict(zip(fields, map(plain_cell, cells), strict=False))), now)
            except (ApiError, msgspec.ValidationError) as exc:
                refuse(ImportErrorRow(line, exc.message if isinstance(exc, ApiError) else str(exc)))
                continue
            if by_lead and event.lead_id is None and not unnamed:
                unnamed = line
            chunk.append(event)
            if len(chunk) >= IMPORT_CHUNK and not by_lead:
                await flush()
    except UnterminatedQuote as exc:
        # Every line it swallowed is a row that was not imported, as far as anyone can tell from the file.
        refuse(ImportErrorRow(exc.line, str(exc), exc.last), exc.lines)
    except csv.Error as exc:
        await flush()
        raise ApiError(400, f"malformed CSV near line {rows.line_num}: {exc} (imported {imported} rows before"
                            " it)") from None
    if unnamed:
        raise ApiError(400, f"line {unnamed} has no lead_id, which by_lead needs on every row to keep each lead's"
                            " rows together (nothing was imported; import without by_lead to let rows name their"
                            " lead by email or another identifier)")
    if by_lead:
        # Each lead's rows in file order (a stable sort), the leads in id order: the worker then scores a few
        # leads per batch with many events each, writing each lead's pages once (see `leadvibe import --by-lead`).
        chunk.sort(key=_lead_of)
        for start in range(0, len(chunk), IMPORT_CHUNK):
            await send(chunk[start:start + IMPORT_CHUNK])
    else:
        await flush()
    ignored = [name.strip() for name, f in zip(names, fields, strict=True) if f and f not in IMPORT_COLUMNS]
    return ImportResult("import complete", imported, duplicates, errors, error_rows, ignored)


async def paced(items: Iterable[T], every: int) -> AsyncIterator[T]:
    """`items`, giving the event loop to other tasks after each `every` of them: a long loop of work on the event
    loop that may not await anything else between its items."""
    for n, item in enumerate(items, 1):
        if n % every == 0:
            await asyncio.sleep(0)
        yield item


def _lead_of(event: QueuedEvent) -> str:
    return event.lead_id or ""


@post("/import", opt=access(Role.OPERATOR), guards=[multipart_upload],
      operation_id="importEvents", summary="Import events from CSV", tags=["Events"],
      status_code=202, request_max_body_size=MAX_IMPORT + 256 * 1024)
async def import_events(
    rt: Runtime, tenant: Tenant,
    # Any part, not only files: a form field or a repeated part named `file` then gets this handler's own
    # message instead of the framework's type error.
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART, schema_extra={
        "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "The CSV, with a header row"}},
    })],
    skip_triggers: bool = False,
    by_lead: bool = False,
) -> ImportResult:
    """CSV with a header row (≤ 10 MB, UTF-8): every row through the same pipeline as /ingest, source=import.
    `by_lead=true` stores the rows grouped by `lead_id` (each lead's rows in file order), which the worker scores
    about twice as fast; every row must then name its lead."""
    upload = data.get("file") if isinstance(data, dict) else None
    if isinstance(upload, list):
        for part in upload:
            if isinstance(part, UploadFile):
                await part.close()
        raise ApiError(400, "upload one CSV file as the multipart field `file` (this request has several)")
    if not isinstance(upload, UploadFile):
        raise ApiError(400, "upload the CSV as the multipart field `file` (a file part with a filename)")
    try:
        return await _import_rows(rt, tenant, upload, skip_triggers, by_lead)
    finally:
        await upload.close()


# How often an open stream checks that its caller may still read it (before it sends anything more).
STREAM_RECHECK_S = 5.0


@get("/stream", opt=access(Role.VIEWER, ou_query="ouId"), operation_id="stream", summary="Server-sent events stream",
     tags=["Stream"], media_type="text/event-stream")
async def stream(rt: Runtime, tenant: Tenant, request: Request[Any, Any, Any],
                 ou_id: Annotated[str | None, Parameter(
                     query="ouId", max_length=128,
                     description="The OU to stream (one the caller may read); default: the active OU")] = None
                 ) -> Stream:
    """`score_update`, `event_ingested`, `surge`, `trigger_fired` for the active OU (or `ouId`'s), with heartbeats.
    The caller's access is checked again as the stream goes on (`STREAM_RECHECK_S`): a logout, a deleted credential,
    an expired token or a lost membership ends it, as it refuses the next request."""
    del ou_id  # the guard reads it (`access(..., ou_query="ouId")`) and resolved `tenant` from it
    hub = rt.stream
    opt = request.route_handler.opt

    async def body() -> AsyncIterator[bytes]:
        checked = time.monotonic()
        # Woken at least every STREAM_RECHECK_S: a silent stream is checked on time too, not at its next heartbeat.
        async for frame in hub.stream(tenant.unit_id, wake_every=STREAM_RECHECK_S):
            if time.monotonic() - checked >= STREAM_RECHECK_S:
                try:
                    principal, now_tenant, _ = await check_access(rt, request, opt, "GET", rate_limited=False)
                except ApiError:
                    return
                # The OU streamed, not the one the request would resolve to now: a stream opened without naming
                # its OU resolves again to the caller's remaining one once they lose this one.
                moved = now_tenant is None or now_tenant.unit_id != tenant.unit_id
                if moved and (principal is None or await role_in_unit(rt, principal, tenant.unit_id) is None):
                    return
                checked = time.monotonic()
            if frame:
                yield frame

    return Stream(body(), media_type="text/event-stream",
                  headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


ROUTES = [ingest, ingest_batch, import_events, stream]

