"""Admin operations on the active OU: sample data (seed, wipe) and the backfills over existing data.

All need the Owner role. The backfills run in short chunks (ingestion keeps flowing) and answer when done, with
counts; running one twice changes nothing the second time.
"""

from __future__ import annotations

import msgspec
from litestar import post

from leadvibe.pipeline import fit_backfill, sample_data
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant

TAGS = ["Admin"]


class BackfillAccountsOut(msgspec.Struct):
    """What linking accounts and recomputing profile scores did (`abm_enabled: false`: no account was linked)."""

    leads_processed: int
    accounts_linked: int
    accounts_created: int
    profile_scores_updated: int
    abm_enabled: bool


class BackfillEventAccountsOut(msgspec.Struct):
    """Events looked at and stamped with their lead's `accountId`, and leads without an account."""

    events_scanned: int
    events_updated: int
    leads_without_account: int


class ApplyMappingsOut(msgspec.Struct):
    """Leads looked at and leads whose properties changed."""

    leads_processed: int
    leads_updated: int


class SeedOut(msgspec.Struct):
    """What the seed did: a summary line per part, and the rows written per table."""

    message: str
    output: str
    counts: dict[str, int]
    abm_enabled: bool  # the organization's account-based marketing after the seed (`output` says why)


@post("/admin/backfill/accounts", opt=access(Role.OWNER, auth="jwt"), operation_id="backfillAccounts",
      summary="Backfill account mapping and profile scoring (OU-scoped)", tags=TAGS, status_code=200)
async def backfill_accounts(rt: Runtime, tenant: Tenant) -> BackfillAccountsOut:
    """Link every lead to its account (under ABM) and recompute every profile and account score."""
    out = await fit_backfill.backfill_accounts(rt, tenant.unit_id)
    return msgspec.convert(out, BackfillAccountsOut)


@post("/admin/backfill/event-accounts", opt=access(Role.OWNER, auth="jwt"), operation_id="backfillEventAccounts",
      summary="Backfill event metadata accountId (OU-scoped)", tags=TAGS, status_code=200)
async def backfill_event_accounts(rt: Runtime, tenant: Tenant) -> BackfillEventAccountsOut:
    """Stamp each event of a lead with an account with `accountId` (where missing or different)."""
    return msgspec.convert(await fit_backfill.backfill_event_accounts(rt, tenant.unit_id), BackfillEventAccountsOut)


@post("/admin/profile-mappings/apply", opt=access(Role.OWNER), operation_id="applyProfileMappings",
      summary="Apply profile field mappings to existing leads (OU-scoped)", tags=TAGS, status_code=200)
async def apply_profile_mappings(rt: Runtime, tenant: Tenant) -> ApplyMappingsOut:
    """Replay the current profile mappings over every lead's stored events and metadata (each mapping's update
    behavior respected), as if they had existed all along."""
    return msgspec.convert(await fit_backfill.apply_profile_mappings(rt, tenant.unit_id), ApplyMappingsOut)


@post("/admin/seed", opt=access(Role.OWNER, auth="jwt"), operation_id="seedSampleData",
      summary="Seed sample data into the active OU", tags=TAGS, status_code=200)
async def seed(rt: Runtime, tenant: Tenant, principal: Principal) -> SeedOut:
    """Load the demo OU (configuration, 6 accounts, 200 leads, 30 days of events); 409 when the OU already
    holds sample data. Events are scored by the worker after the answer. Account-based marketing is turned on
    for the demo's accounts when an organization admin seeds an organization without leads of its own."""
    result = await sample_data.seed(rt, tenant.org_id, tenant.unit_id, may_enable_abm=principal.is_admin)
    return SeedOut("sample data seeded", result.output, result.counts, result.abm_enabled)


@post("/admin/wipe", opt=access(Role.OWNER, auth="jwt"), operation_id="wipeSampleData",
      summary="Wipe sample data from the active OU", tags=TAGS, status_code=200)
async def wipe(rt: Runtime, tenant: Tenant) -> dict[str, int]:
    """Delete every sample row (`source=seed` / `created_by=seed`) and what belongs to it; counts per table.
    Account-based marketing goes back off when this OU's sample data turned it on."""
    return await sample_data.wipe(rt, tenant.org_id, tenant.unit_id)


ROUTES = [backfill_accounts, backfill_event_accounts, apply_profile_mappings, seed, wipe]
