"""Everything one running server shares: settings, database, clock, keys, caches, metrics, background parts.

Built once by `runtime_build.build_runtime` and reached from handlers through the `rt` dependency; nothing
module-global.
The services are typed attributes so a call can be followed from a handler to its service (and checked by mypy).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import structlog

from leadvibe.config import Settings
from leadvibe.db.database import Database
from leadvibe.metrics import Metrics

# Real imports, not TYPE_CHECKING ones: the framework resolves these annotations when it builds handler
# signatures. The services therefore import this module only for annotations (`if TYPE_CHECKING`).
from leadvibe.pipeline.delivery import DeliverySender
from leadvibe.pipeline.fit import FitService
from leadvibe.pipeline.inbox import Inbox, settle_inbox_file
from leadvibe.pipeline.periodic import Periodic
from leadvibe.pipeline.scoring_config import ConfigCache
from leadvibe.pipeline.stream import StreamHub
from leadvibe.pipeline.triggers import TriggerService
from leadvibe.security.credentials import CachedCredential, VerifiedBasic
from leadvibe.security.login_throttle import LoginThrottle
from leadvibe.security.ratelimit import RateLimiter
from leadvibe.security.tokens import TokenService
from leadvibe.timeutil import Clock


@dataclass
class Runtime:
    """Shared state of one app instance.

    The always-present services (`ratelimiter`, `scoring_config`, `inbox`, `stream`, `fit`) are set by
    `build_runtime`; the background ones are None until the server (or a CLI command) creates them.
    """

    settings: Settings
    db: Database
    inbox_db: Database  # the inbox file (pipeline/inbox.py): written by the server alone
    clock: Clock
    tokens: TokenService
    pepper: bytes
    metrics: Metrics = field(default_factory=Metrics)
    revoked: set[str] = field(default_factory=set)
    credentials: dict[str, CachedCredential] = field(default_factory=dict)
    verified_basic: VerifiedBasic = field(default_factory=VerifiedBasic)
    # Counts `forget_credential` calls: a credential read that a deletion overtook is not cached.
    credentials_forgotten: int = 0
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    ratelimiter: RateLimiter = field(init=False)
    scoring_config: ConfigCache = field(init=False)
    inbox: Inbox = field(init=False)
    stream: StreamHub = field(init=False)
    fit: FitService = field(init=False)  # profile/account upkeep; its re-score task runs with the server
    triggers: TriggerService | None = None  # evaluated by the worker inside its transaction
    # A Worker, or a WorkerProcess (one surface); typed Any because the framework's signature model takes a
    # union of two classes for a type it cannot check.
    worker: Any = None
    delivery: DeliverySender | None = None
    decay: Periodic | None = None
    # One decay pass at a time: a pass relies on no write but its own chunks committing between reading its leads
    # and decaying them to skip checking them again (pipeline/decay.py), which a second pass would break.
    decay_pass: asyncio.Lock = field(default_factory=asyncio.Lock)
    lead_deletions: Periodic | None = None
    # Audit entries a write failed to store (a full disk): written with the next entry (observe.py).
    audit_unwritten: list[tuple[Any, ...]] = field(default_factory=list)

    def open_databases(self) -> None:
        """Open the main database and the inbox file (migrated), and settle the inbox file before anything reads
        it (`pipeline.inbox.settle_inbox_file`)."""
        self.db.open()
        self.inbox_db.open()
        moved = settle_inbox_file(self.db, self.inbox_db)
        if moved:
            structlog.get_logger("leadvibe.inbox").info("inbox_parked_events_moved", events=moved)

    def close_databases(self) -> None:
        """Close the inbox file, then the main database (queued writes finish first)."""
        self.inbox.stop()
        self.inbox_db.close()
        self.db.close()

    def now_ms(self) -> int:
        """The injected clock's time."""
        return self.clock.now_ms()

    def forget_credential(self, client_id: str) -> None:
        """Drop a deleted credential from the auth caches so the next request fails."""
        self.credentials.pop(client_id, None)
        self.credentials_forgotten += 1
        self.verified_basic.forget(client_id)

    def remember_basic(self, header: str, cred: CachedCredential) -> None:
        """Keep a Basic header that matched `cred` (see `VerifiedBasic`), unless `cred` was deleted while its
        request was being checked."""
        if self.credentials.get(cred.client_id) is cred:
            self.verified_basic.remember(header, cred)

    def invalidate_triggers(self, unit_id: str) -> None:
        """Drop an OU's compiled triggers when the trigger service runs (trigger CRUD, Slack routing changes, a
        webhook disabled by a 410); the next event reloads them."""
        if self.triggers is not None:
            self.triggers.invalidate(unit_id)
