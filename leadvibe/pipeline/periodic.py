"""A background loop that runs one coroutine every N seconds until stopped (checkpoint, decay, deliveries)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("leadvibe.periodic")


class Periodic:
    """Run `fn` every `interval` seconds; errors are logged and the loop goes on."""

    def __init__(self, name: str, interval: float, fn: Callable[[], Awaitable[object]], *,
                 run_at_start: bool = False) -> None:
        self.name = name
        self.interval = interval
        self.fn = fn
        self.run_at_start = run_at_start
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def alive(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the loop."""
        self._task = asyncio.create_task(self._loop(), name=self.name)

    def poke(self) -> None:
        """Run the next round now instead of waiting."""
        self._wake.set()

    async def _loop(self) -> None:
        first = True
        while True:
            if not (first and self.run_at_start):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
                self._wake.clear()
            first = False
            try:
                await self.fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic_failed", task=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
