"""Building a `Runtime` (keys, databases, caches, typed services): shared by the server, its worker process, the
CLI's commands and the benchmarks. Free of the web framework, so the worker process, which builds one too, does
not import it (tests/test_import_weight.py)."""

from __future__ import annotations

from leadvibe import gc_policy
from leadvibe.config import Settings
from leadvibe.db.database import Database, sqlite_heap_bytes
from leadvibe.db.migrate import INBOX_MIGRATIONS_DIR
from leadvibe.metrics import Gauge
from leadvibe.pipeline.fit import FitService
from leadvibe.pipeline.inbox import Inbox
from leadvibe.pipeline.scoring_config import ConfigCache
from leadvibe.pipeline.stream import StreamHub
from leadvibe.runtime import Runtime
from leadvibe.security.keys import derive, load_or_create_master_key
from leadvibe.security.ratelimit import RateLimiter
from leadvibe.security.tokens import TokenService
from leadvibe.store import inbox as inbox_store
from leadvibe.timeutil import Clock


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
