"""HTTP API: one module per domain, each exporting `ROUTES` (handlers or controllers).

Register a new domain by importing it here and adding it to DOMAINS (explicit imports keep the
one-file build able to see every module).
"""

from __future__ import annotations

from typing import Any

from leadvibe.api import audit, auth, orgs, secrets, service

DOMAINS = [service, auth, orgs, secrets, audit]


def all_routes() -> list[Any]:
    """Every route handler of every domain."""
    routes: list[Any] = []
    for module in DOMAINS:
        routes.extend(module.ROUTES)
    return routes
