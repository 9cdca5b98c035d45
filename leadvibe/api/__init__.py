"""HTTP API: one module per domain, each exporting `ROUTES` (handlers or controllers).

Register a new domain by importing it here and adding it to DOMAINS (explicit imports keep the
one-file build able to see every module).
"""

from __future__ import annotations

from typing import Any

from leadvibe.api import audit, auth, ingest, orgs, secrets, service
from leadvibe.api import event_type_settings, inorganic_filters, levels, rulesets, scoring_settings
from leadvibe.api import deliveries, integrations, surge, triggers
from leadvibe.api import activity, decays, leads
from leadvibe.api import analytics, events

DOMAINS = [service, auth, orgs, secrets, audit, ingest]
DOMAINS += [rulesets, inorganic_filters, levels, scoring_settings, event_type_settings]
DOMAINS += [triggers, surge, deliveries, integrations]
DOMAINS += [leads, activity, decays]
DOMAINS += [events, analytics]


def all_routes() -> list[Any]:
    """Every route handler of every domain."""
    routes: list[Any] = []
    for module in DOMAINS:
        routes.extend(module.ROUTES)
    return routes
