"""Test helpers shared across domains."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_idle(api: Any, timeout: float = 10.0) -> None:
    """Wait until the scoring worker has processed every acknowledged event."""
    worker = api.rt.services.get("worker")
    if worker is None:
        raise AssertionError("the scoring worker is not running")
    await asyncio.wait_for(worker.wait_idle(), timeout)
