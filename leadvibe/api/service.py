"""Service endpoints: root, home (the dashboard for browsers), health, Prometheus metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from leadvibe.api.dashboard import page_response
from leadvibe.db import migrate
from leadvibe.db.damage import is_damaged
from leadvibe.db.rows import scalar
from leadvibe.disk_space import disk_state
from leadvibe.pipeline.worker_health import worker_health
from leadvibe.runtime import Runtime
from leadvibe.security.guards import PUBLIC


class RootStatus(msgspec.Struct):
    """`{"status":"ok"}`."""

    status: str


class HomeStatus(msgspec.Struct):
    """`{"status":"ok","page":"home"}`."""

    status: str
    page: str


class Health(msgspec.Struct, omit_defaults=True):
    """Liveness and readiness. `database`: `ok`, `unavailable`, or `damaged` once a statement met a damaged page
    (leadvibe/db/damage.py). `disk`: `ok`, or `full` (leadvibe/disk_space.py). `oldest_waiting_s` only while the
    worker is stalled: how long the oldest unscored event has waited."""

    status: str
    database: str
    disk: str
    worker: str
    queue_depth: int
    version: str
    # The database schema this build migrates to (`leadvibe version` says it too): tells builds of one version apart.
    schema: int
    oldest_waiting_s: float | None = None


SCHEMA = migrate.newest()


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    return "text/html" in request.headers.get("accept", "")


@get("/", opt=PUBLIC, operation_id="root", summary="Root", include_in_schema=True, tags=["Root"])
async def root(request: Request[Any, Any, Any]) -> Response[Any]:
    """The dashboard index when a browser asks for HTML, else a small JSON status."""
    if _wants_html(request):
        return page_response()
    return Response(RootStatus("ok"))


@get("/home", opt=PUBLIC, operation_id="home", summary="Home", tags=["Root"])
async def home(request: Request[Any, Any, Any]) -> Response[Any]:
    """The dashboard home for browsers, else `{"status":"ok","page":"home"}`."""
    if _wants_html(request):
        return page_response()
    return Response(HomeStatus("ok", "home"))


@get("/healthz", opt=PUBLIC, operation_id="healthz", summary="Liveness and readiness", tags=["Root"],
     responses={503: ResponseSpec(data_container=Health,
                                  description="Degraded: the database or the worker is down, the database "
                                              "file is damaged, the worker stalled, or the disk is full")})
async def healthz(rt: Runtime) -> Response[Health]:
    """200 when the database answers, the disk has room, and the writer and worker run and keep up; 503 otherwise
    (a worker that has finished no batch while an event waited `LEADVIBE_WORKER_STALL_S` seconds is `stalled`)."""
    from leadvibe import __version__

    try:
        await rt.db.read(lambda c: scalar(c, "SELECT 1"))
        db_ok = rt.db.writer_alive
    except Exception:
        db_ok = False
    db_state = ("damaged" if is_damaged() else "ok") if db_ok else "unavailable"
    worker = rt.worker
    state = await worker_health(rt)
    depth = int(worker.queue_depth) if worker is not None else 0
    disk = disk_state(str(rt.settings.data_path))
    healthy = db_state == "ok" and disk == "ok" and state.state not in ("stopped", "stalled")
    body = Health("ok" if healthy else "degraded", db_state, disk, state.state, depth,
                  __version__, SCHEMA, state.waiting_s)
    return Response(body, status_code=HTTP_200_OK if healthy else HTTP_503_SERVICE_UNAVAILABLE)


@get("/metrics", opt=PUBLIC, operation_id="metrics", summary="Prometheus metrics", tags=["Root"],
     media_type="text/plain; version=0.0.4")
async def metrics(rt: Runtime) -> Response[str]:
    """Prometheus text format 0.0.4 (the framework adds `charset=utf-8` to every text/* media type)."""
    return Response(rt.metrics.render(), media_type="text/plain; version=0.0.4")


ROUTES = [root, home, healthz, metrics]
