"""The app factory: `create_app(settings)` -> Litestar with every domain, the guard, the error shape and the
lifespan that opens the database and runs the background parts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router

from leadvibe import __version__, gc_policy
from leadvibe.api import all_routes
from leadvibe.api.deps import DEPENDENCIES
from leadvibe.api.error_handlers import EXCEPTION_HANDLERS
from leadvibe.api.head_requests import head_as_get
from leadvibe.api.ingest_asgi import lean_ingest as lean_ingest_app
from leadvibe.api.json_body import json_content_type
from leadvibe.api.query_values import index_scalar_queries, one_value_each
from leadvibe.bootstrap import announce, bootstrap
from leadvibe.config import Settings
from leadvibe.db.database import Database, sqlite_heap_bytes
from leadvibe.db.lock import DataDirLock
from leadvibe.db.migrate import INBOX_MIGRATIONS_DIR
from leadvibe.metrics import Gauge
from leadvibe.observe import observe_middleware
from leadvibe.openapi import TrueJsonRenderPlugin, TrueSwaggerRenderPlugin
from leadvibe.pipeline.decay import decay_scheduler
from leadvibe.pipeline.delivery import DeliverySender
from leadvibe.pipeline.fit import FitService
from leadvibe.pipeline.inbox import Inbox, purge_idempotency_keys
from leadvibe.pipeline.lead_deletion import deletion_task
from leadvibe.pipeline.periodic import Periodic
from leadvibe.pipeline.scoring_config import ConfigCache
from leadvibe.pipeline.stream import StreamHub
from leadvibe.pipeline.triggers import TriggerService
from leadvibe.pipeline.worker import Worker
from leadvibe.pipeline.worker_process import WorkerProcess
from leadvibe.runtime import Runtime
from leadvibe.security.guards import authorize
from leadvibe.security.keys import derive, load_or_create_master_key
from leadvibe.security.ratelimit import RateLimiter
from leadvibe.security.tokens import TokenService
from leadvibe.static_pages import STATIC_DIR
from leadvibe.store import credentials as cred_store
from leadvibe.store import inbox as inbox_store
from leadvibe.store import score_gain_days as gain_days
from leadvibe.timeutil import Clock
from leadvibe.worker_spawn import StartedWorker

DESCRIPTION = (
    "LeadVibe API for event ingestion, scoring, segments, triggers, and organization unit (OU) workflows. "
    "Most endpoints are OU-scoped: the OU comes from the `activeOu` cookie (POST /org-units/active), the "
    "`X-OU-ID` header, or an API credential's own OU. People use `Authorization: Bearer <JWT>` from "
    "POST /auth/login; API clients use HTTP Basic with a client_id and client_secret from POST /secrets."
)


def _openapi() -> OpenAPIConfig:
    assets = "/schema/assets"
    return OpenAPIConfig(
        title="LeadVibe API",
        version=__version__,
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[TrueSwaggerRenderPlugin(
            path=["/", "/swagger"],
            js_url=f"{assets}/swagger-ui-bundle.js",
            css_url=f"{assets}/swagger-ui.css",
            standalone_preset_js_url=f"{assets}/swagger-ui-standalone-preset.js",
            favicon=f"<link rel='icon' type='image/png' href='{assets}/favicon-32x32.png'>",
        ), TrueJsonRenderPlugin()],
        components=Components(security_schemes={
            "bearerAuth": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            "basicAuth": SecurityScheme(type="http", scheme="basic"),
        }),
        security=[{"bearerAuth": []}, {"basicAuth": []}],
        use_handler_docstrings=True,
        # `/schema` itself is part of the contract, so the document lists the routes that serve it (the UI, the
        # JSON); `leadvibe/openapi.py` drops the helper routes and makes errors and security true when the
        # document is first requested (building it at start-up would cost every launch ~0.4 s).
        openapi_router=Router("/schema", route_handlers=[], include_in_schema=True, tags=["Root"]),
    )


def build_runtime(settings: Settings, clock: Clock | None = None) -> Runtime:
    """Keys, database handle and caches for one server (the database is opened by the lifespan)."""
    data = settings.data_path
    data.mkdir(parents=True, exist_ok=True)
    master = load_or_create_master_key(data, settings.db_path)
    tokens = TokenService(derive(master, "jwt-hs256"), issuer=settings.jwt_issuer, audience=settings.jwt_audience,
                          ttl_seconds=settings.jwt_ttl_hours * 3600)
    db = Database(settings.db_path, synchronous=settings.synchronous, read_pool_size=settings.read_pool_size,
                  cache_size_mb=settings.cache_size_mb, read_deadline=settings.read_deadline,
                  shared_writes=settings.worker_process)
    # The inbox file is appended at one end and emptied at the other: a few MB of cache hold every page it touches.
    inbox_db = Database(inbox_store.path_beside(settings.db_path), synchronous=settings.synchronous, read_pool_size=1,
                        cache_size_mb=4, reader_cache_mb=2, sets_heap_limit=False, migrations=INBOX_MIGRATIONS_DIR)
    rt = Runtime(settings=settings, db=db, inbox_db=inbox_db, clock=clock or Clock(), tokens=tokens,
                 pepper=derive(master, "api-credential-digest"))
    rt.metrics.add(db.read_seconds)
    rt.metrics.add(db.write_job_seconds)
    rt.metrics.add(Gauge("db_writer_queue", "Write jobs waiting for the database writer thread.",
                         lambda: db.queue_length))
    rt.metrics.add(Gauge("inbox_writer_queue", "Write jobs (groups of acknowledgements) waiting for the inbox file's"
                         " writer thread.", lambda: inbox_db.queue_length))
    rt.metrics.add(Gauge("sqlite_heap_bytes", "SQLite's memory in use: page caches, statements, sorts.",
                         lambda: sqlite_heap_bytes()[0]))
    rt.metrics.add(Gauge("sqlite_heap_peak_bytes", "The most SQLite memory held at once since the server started.",
                         lambda: sqlite_heap_bytes()[1]))
    rt.metrics.add(Gauge("python_gc_frozen_objects", "Objects start-up built, frozen out of the garbage collector.",
                         gc_policy.frozen_objects))
    rt.metrics.add(Gauge("python_gc_full_collections", "Full garbage collections since the server started.",
                         gc_policy.full_collections))
    rt.ratelimiter = RateLimiter(settings.rate_limit_mode, settings.rate_limit_rps, settings.rate_limit_burst,
                                 settings.rate_limit_key_by)
    rt.scoring_config = ConfigCache()
    rt.inbox = Inbox(rt)
    rt.fit = FitService(rt)
    rt.stream = StreamHub(settings.sse_buffer, settings.sse_heartbeat, on_drop=lambda: rt.metrics.sse_dropped.inc())
    return rt


def background_services(rt: Runtime, started_worker: StartedWorker | None = None) -> list[Any]:
    """Everything that runs beside the HTTP server, in start order (stopped in reverse). `started_worker`: the
    worker process `leadvibe serve` already started."""
    s = rt.settings

    async def purge_revocations() -> None:
        await rt.db.write(lambda c: cred_store.purge_revocations(c, rt.now_ms()))

    async def purge_idempotency() -> None:
        await rt.inbox_db.write(lambda c: purge_idempotency_keys(c, rt.now_ms()))

    async def prune_gain_days() -> None:
        while await rt.db.write(lambda c: gain_days.prune_step(c, rt.now_ms())):
            pass  # one day's rows per write: other writers get their turn in between

    rt.triggers = TriggerService()
    rt.delivery = DeliverySender(rt)
    rt.worker = WorkerProcess(rt, started_worker) if s.worker_process else Worker(rt)
    rt.decay = decay_scheduler(rt)
    rt.lead_deletions = deletion_task(rt)
    return [
        rt.delivery,  # before the worker, so it stops after it
        rt.worker,
        rt.fit,  # resumes re-scores a previous run left unfinished
        Periodic("checkpoint", s.checkpoint_interval, rt.db.checkpoint),
        Periodic("inbox-checkpoint", s.checkpoint_interval, rt.inbox_db.checkpoint),
        Periodic("revocation-purge", 3600, purge_revocations, run_at_start=True),
        Periodic("idempotency-purge", 3600, purge_idempotency, run_at_start=True),
        Periodic("score-gain-days-prune", 3600, prune_gain_days, run_at_start=True),
        rt.decay,
        rt.lead_deletions,
    ]


def create_app(settings: Settings, *, clock: Clock | None = None, lock: DataDirLock | None = None,
               announce_first_start: bool = True, lean_ingest: bool = True,
               started_worker: StartedWorker | None = None) -> Litestar:
    """The whole server as one Litestar app. `lock`: a data-dir lock the caller already holds. `lean_ingest`:
    answer the two ingestion POSTs on the lean ASGI path (api/ingest_asgi.py) rather than through the framework's
    handlers (same guard, validation and answers; tests compare both). `started_worker`: a worker process the
    caller started early (`leadvibe serve`), adopted instead of starting one."""
    rt = build_runtime(settings, clock)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        own_lock = lock is None
        dir_lock = lock or DataDirLock(settings.data_path)
        if own_lock:
            dir_lock.acquire()
        rt.open_databases()
        started: list[Any] = []
        try:
            first = rt.db.write_blocking(lambda c: bootstrap(c, settings, rt.now_ms()))
            if first is not None and announce_first_start:
                announce(first)
            rt.revoked |= rt.db.read_blocking(lambda c: cred_store.live_revocations(c, rt.now_ms()))
            for svc in background_services(rt, started_worker):
                await svc.start()
                started.append(svc)
            yield
        finally:
            for svc in reversed(started):
                await svc.stop()
            rt.close_databases()
            if own_lock:
                dir_lock.release()

    static = create_static_files_router(path="/schema/assets", directories=[STATIC_DIR / "openapi"],
                                        include_in_schema=False, opt={"auth": "none"})
    app = Litestar(
        route_handlers=[*all_routes(), static],
        dependencies=DEPENDENCIES,
        guards=[authorize, one_value_each, json_content_type],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[observe_middleware],
        lifespan=[lifespan],
        openapi_config=_openapi(),
        state=State({"runtime": rt}),
        request_max_body_size=11 * 1024 * 1024,
        # Ingestion answers are tiny; keeping the compression middleware off its hot path saves per-request work.
        compression_config=CompressionConfig(backend="gzip", minimum_size=4096, exclude=["/ingest", "/ingest/batch"]),
        debug=False,
        logging_config=None,
    )
    index_scalar_queries(app)
    app.asgi_handler = head_as_get(app.asgi_handler)
    if lean_ingest:
        app.asgi_handler = lean_ingest_app(rt, app.asgi_handler)
    return app
