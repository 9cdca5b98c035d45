"""Login throttling (SEMANTICS §1): after 10 failed logins within 15 minutes for one account, or from one client
address, further attempts answer 429 until the window has passed, whatever the rate-limit mode.

Attempts are counted when they start, not when they fail: a guess in flight holds a slot, so ten parallel
requests cannot slip past a check that only sees finished failures. A success frees its slot and clears the
account's failures (the address keeps its count: one right password does not excuse guessing other accounts).
The counts live in memory; a restart forgets them, which costs an attacker a restart they cannot cause.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from leadvibe.security.passwords import email_key

MAX_FAILURES = 10
WINDOW_MS = 15 * 60 * 1000
_PRUNE_EVERY = 1024


@dataclass
class _Window:
    failures: deque[int] = field(default_factory=deque)
    in_flight: int = 0


class LoginBlocked(Exception):
    """Too many failures: try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class LoginThrottle:
    """Failure windows per account (normalized email) and per client address."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_ms: int = WINDOW_MS) -> None:
        self.max_failures = max_failures
        self.window_ms = window_ms
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._calls = 0

    @staticmethod
    def keys(email: str, address: str | None) -> tuple[str, str]:
        """The account key and the address key of an attempt."""
        return f"account:{email_key(email)}", f"address:{address or 'unknown'}"

    def begin(self, keys: tuple[str, ...], now: int) -> None:
        """Take a slot for an attempt, or raise LoginBlocked when any key has no slot left."""
        with self._lock:
            self._calls += 1
            if self._calls % _PRUNE_EVERY == 0:
                self._prune(now)
            windows = [self._windows.setdefault(k, _Window()) for k in keys]
            wait_ms = 0
            for w in windows:
                self._expire(w, now)
                if len(w.failures) + w.in_flight >= self.max_failures:
                    # Slots held only by attempts in flight free up within a second; failures when they age out.
                    oldest = w.failures[0] + self.window_ms - now if len(w.failures) >= self.max_failures else 1000
                    wait_ms = max(wait_ms, oldest)
            if wait_ms:
                raise LoginBlocked(max(1, -(-wait_ms // 1000)))
            for w in windows:
                w.in_flight += 1

    def failed(self, keys: tuple[str, ...], now: int) -> None:
        """The attempt failed: its slot becomes a failure in every window."""
        with self._lock:
            for k in keys:
                w = self._windows.setdefault(k, _Window())
                w.in_flight = max(0, w.in_flight - 1)
                w.failures.append(now)

    def succeeded(self, keys: tuple[str, ...], account_key: str) -> None:
        """The attempt succeeded: free its slots and forget the account's failures."""
        with self._lock:
            for k in keys:
                w = self._windows.get(k)
                if w is not None:
                    w.in_flight = max(0, w.in_flight - 1)
            account = self._windows.get(account_key)
            if account is not None:
                account.failures.clear()

    def clear(self) -> None:
        """Forget every count."""
        with self._lock:
            self._windows.clear()

    def _expire(self, w: _Window, now: int) -> None:
        while w.failures and w.failures[0] <= now - self.window_ms:
            w.failures.popleft()

    def _prune(self, now: int) -> None:
        for key in list(self._windows):
            w = self._windows[key]
            self._expire(w, now)
            if not w.failures and not w.in_flight:
                del self._windows[key]
