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

from leadvibe import __version__
from leadvibe.api import all_routes
from leadvibe.api.deps import DEPENDENCIES
from leadvibe.api.error_handlers import EXCEPTION_HANDLERS
from leadvibe.api.head_requests import head_as_get, list_every_method_in_options
from leadvibe.api.ingest_asgi import lean_ingest as lean_ingest_app
from leadvibe.api.json_body import decode_strictly, json_content_type
from leadvibe.api.query_values import check_query_values, index_queries
from leadvibe.api.request_headers import check_request_headers
from leadvibe.api.request_target import refuse_unreadable_targets, restore_encoded_slashes
from leadvibe.bootstrap import announce, bootstrap
from leadvibe.config import Settings
from leadvibe.db.lock import DataDirLock
from leadvibe.observe import observe_middleware
from leadvibe.openapi import TrueJsonRenderPlugin, TrueSwaggerRenderPlugin, schema_not_found_as_json
from leadvibe.pipeline.decay import decay_scheduler
from leadvibe.pipeline.delivery import DeliverySender
from leadvibe.pipeline.inbox import purge_idempotency_keys
from leadvibe.pipeline.lead_deletion import deletion_task
from leadvibe.pipeline.periodic import Periodic
from leadvibe.pipeline.triggers import TriggerService
from leadvibe.pipeline.worker import Worker
from leadvibe.pipeline.worker_process import WorkerProcess
from leadvibe.runtime import Runtime
from leadvibe.runtime_build import build_runtime
from leadvibe.security.guards import authorize
from leadvibe.static_pages import STATIC_DIR
from leadvibe.store import credentials as cred_store
from leadvibe.store import score_gain_days as gain_days
from leadvibe.timeutil import Clock
from leadvibe.worker_spawn import StartedWorker

DESCRIPTION = (
    "LeadVibe API for event ingestion, scoring, segments, triggers, and organization unit (OU) workflows. "
    "Most endpoints are OU-scoped: the OU comes from the `activeOu` cookie (POST /org-units/active), the "
    "`X-OU-ID` header, or an API credential's own OU. People use `Authorization: Bearer <JWT>` from "
    "POST /auth/login; API clients use HTTP Basic with a client_id and client_secret from POST /secrets. "
    "Any request body may be sent with `Content-Encoding: gzip` (or `deflate`); size limits apply to the "
    "decompressed body, and another coding is refused with 415. Instants in answers are RFC 3339 in UTC "
    "(`2026-03-01T09:30:00Z`, milliseconds only when there are some; `format: date-time`)."
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
        openapi_router=Router("/schema", route_handlers=[], include_in_schema=True, tags=["Root"],
                              after_request=schema_not_found_as_json),
    )


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
        guards=[authorize, check_query_values, json_content_type],
        before_request=decode_strictly,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[restore_encoded_slashes],
        lifespan=[lifespan],
        openapi_config=_openapi(),
        state=State({"runtime": rt}),
        request_max_body_size=11 * 1024 * 1024,
        # Ingestion answers are tiny; keeping the compression middleware off its hot path saves per-request work.
        compression_config=CompressionConfig(backend="gzip", minimum_size=4096, exclude=["/ingest", "/ingest/batch"]),
        debug=False,
        logging_config=None,
    )
    index_queries(app)
    list_every_method_in_options(app)
    # Around the router, not as a route's middleware: a path no route has (404) or a method it does not take (405)
    # is answered by the router itself, which left those answers without a request id, metrics or access log.
    app.asgi_handler = head_as_get(refuse_unreadable_targets(rt, observe_middleware(app.asgi_handler)))
    if lean_ingest:
        app.asgi_handler = lean_ingest_app(rt, app.asgi_handler)
    app.asgi_handler = check_request_headers(rt, app.asgi_handler)
    return app
