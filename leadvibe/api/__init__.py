"""HTTP API: one module per domain, each exporting `ROUTES` (handlers or controllers).

Register a new domain by importing it here and adding it to DOMAINS (explicit imports keep the
one-file build able to see every module).
"""

from __future__ import annotations

from typing import Any

from leadvibe.api import (
    accounts,
    activity,
    admin,
    analytics,
    audit,
    auth,
    dashboard,
    decays,
    deliveries,
    event_type_settings,
    events,
    fit,
    ingest,
    inorganic_filters,
    integrations,
    leads,
    levels,
    orgs,
    rulesets,
    scoring_settings,
    secrets,
    segments,
    service,
    surge,
    triggers,
)

DOMAINS = [service, dashboard, auth, orgs, secrets, audit, ingest]
DOMAINS += [rulesets, inorganic_filters, levels, scoring_settings, event_type_settings]
DOMAINS += [leads, activity, decays]
DOMAINS += [triggers, surge, deliveries, integrations]
DOMAINS += [events, analytics]
DOMAINS += [fit, accounts, segments, admin]


def all_routes() -> list[Any]:
    """Every route handler of every domain."""
    routes: list[Any] = []
    for module in DOMAINS:
        routes.extend(module.ROUTES)
    return routes
