"""Token-bucket rate limiter keyed by org, credential or IP (`LEADVIBE_RATE_LIMIT_*`)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass
class Verdict:
    """Outcome of one take."""

    allowed: bool
    retry_after: float
    remaining: float


class RateLimiter:
    """`off` never counts; `observe` counts and never blocks; `enforce` answers 429 with Retry-After."""

    def __init__(self, mode: str, rps: float, burst: int, key_by: str) -> None:
        self.mode, self.rps, self.burst, self.key_by = mode, rps, burst, key_by
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        # Requests over the limit since the start, per key: what `observe` mode is for (/me/rate-limit, /metrics).
        self.over: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        """True unless mode is off."""
        return self.mode != "off"

    def take(self, key: str, now: float | None = None) -> Verdict:
        """Take one token for `key`."""
        if not self.enabled:
            return Verdict(True, 0.0, float(self.burst))
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rps)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return Verdict(True, 0.0, tokens - 1.0)
            self._buckets[key] = (tokens, now)
            self.over[key] = self.over.get(key, 0) + 1
            wait = (1.0 - tokens) / self.rps if self.rps > 0 else 60.0
        if self.mode == "observe":
            return Verdict(True, wait, 0.0)
        return Verdict(False, wait, 0.0)
