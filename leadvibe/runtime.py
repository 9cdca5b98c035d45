"""Everything one running server shares: settings, database, clock, keys, caches, metrics, background parts.

Built once by `create_app` and reached from handlers through the `rt` dependency; nothing module-global.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from leadvibe.config import Settings
from leadvibe.db.database import Database
from leadvibe.metrics import Metrics
from leadvibe.security.tokens import TokenService
from leadvibe.timeutil import Clock


@dataclass
class CachedCredential:
    """An API credential as the auth path needs it."""

    cred_id: str
    org_id: str
    unit_id: str
    client_id: str
    digest: bytes


@dataclass
class Runtime:
    """Shared state of one app instance."""

    settings: Settings
    db: Database
    clock: Clock
    tokens: TokenService
    pepper: bytes
    metrics: Metrics = field(default_factory=Metrics)
    revoked: set[str] = field(default_factory=set)
    credentials: dict[str, CachedCredential] = field(default_factory=dict)
    # Domain services attach themselves here at start-up (inbox, worker, stream hub, config cache, ...).
    services: dict[str, Any] = field(default_factory=dict)

    def now_ms(self) -> int:
        """The injected clock's time."""
        return self.clock.now_ms()

    def forget_credential(self, client_id: str) -> None:
        """Drop a deleted credential from the auth cache so the next request fails."""
        self.credentials.pop(client_id, None)
