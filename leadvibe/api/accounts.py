"""Accounts (ABM): the list with figures aggregated from their leads, an account's detail, batch delete/unlink.

Every endpoint answers 403 unless the organization has `abm_enabled`. Figures come from the account's live
leads at query time (merged and deleted leads drop out by themselves):
- `score`: the account score (primary enabled account ruleset over the account's properties);
  `intent_level`: the account level whose band holds it.
- `top_score`: the highest primary-ruleset (engagement) score among its leads; `owner_id`/`owner_name` come
  from that lead; `leads_count`; `surging`: a lead of the account had a surge event in the last 24 hours.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.params import Parameter

from leadvibe.api.deps import CreatedRange, LimitParam, PageParam, created_range
from leadvibe.api.fit import require_abm
from leadvibe.documented import NAME_PATTERN, sized
from leadvibe.engine.levels import Level, level_for, named, score_ranges
from leadvibe.errors import bad_request, not_found
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import accounts as store
from leadvibe.store import leads as lead_store
from leadvibe.store.scoring import levels_of
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Account"]
MAX_BATCH = 500
MEMBERS_SHOWN = 100
RECENT_EVENTS = 20


class AccountSummary(msgspec.Struct):
    """An account as lead views show it (`name` is the account's `name` property when it has one)."""

    account_id: str
    name: str | None
    domain: str | None
    score: int
    intent_level: str | None
    metadata: dict[str, Any]
    created_at: Instant | None
    updated_at: Instant | None


class AccountListItem(msgspec.Struct):
    """An account with the figures of its leads."""

    account_id: str
    org_id: str
    name: str
    domain: str | None
    score: int
    intent_level: str | None
    leads_count: int
    top_score: int
    owner_id: str | None
    owner_name: str | None
    surging: bool
    created_at: Instant | None
    updated_at: Instant | None


class AccountList(msgspec.Struct):
    """One page of accounts."""

    accounts: list[AccountListItem]
    total: int
    page: int
    limit: int


class AccountLead(msgspec.Struct):
    """A lead of the account."""

    lead_id: str
    score: int
    profile_score: int
    last_event_at: Instant | None
    last_event_type: str | None
    lead_name: str | None = None


class AccountEvent(msgspec.Struct):
    """A recent event of one of the account's leads."""

    event_id: str
    lead_id: str
    event_type: str
    timestamp: Instant | None
    channel: str
    lead_name: str | None = None


class AccountDetail(msgspec.Struct):
    """An account, its leads (highest score first, at most 100) and their newest events."""

    account_id: str
    org_id: str
    domain: str | None
    name: str
    metadata: dict[str, Any]
    score: int
    intent_level: str | None
    top_score: int
    leads_count: int
    owner_id: str | None
    owner_name: str | None
    surging: bool
    leads: list[AccountLead]
    recent_events: list[AccountEvent]
    created_at: Instant | None
    updated_at: Instant | None


class BatchIds(msgspec.Struct):
    """Accounts to delete (their leads are unlinked first)."""

    ids: Annotated[list[str], sized(1, MAX_BATCH, items={"type": "string", "pattern": NAME_PATTERN})]


class BatchDeleteOut(msgspec.Struct):
    """What a batch delete did."""

    leads_unlinked: int
    accounts_deleted: int


# -- helpers (also used by lead views) -----------------------------------------------------------------------
def account_levels(c: Any, unit_id: str) -> list[Level]:
    """The OU's account levels."""
    return levels_of(c, unit_id, "account")


def _level_name(levels: list[Level], score: int) -> str | None:
    found = level_for(levels, score)
    return found.name if found else None


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    value = msgspec.json.decode(row["metadata"] or "{}")
    return value if isinstance(value, dict) else {}


def display_name(row: dict[str, Any], metadata: dict[str, Any]) -> str:
    """The `name` property when the account has a non-empty one, else the stored name (domain or id)."""
    name = metadata.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else str(row["name"])


def account_summary(c: Any, unit_id: str, account_id: str | None) -> AccountSummary | None:
    """The account a lead names (only its id when no account row exists, e.g. with ABM off)."""
    if not account_id:
        return None
    row = store.get_account(c, unit_id, account_id)
    if row is None:
        return AccountSummary(account_id, None, None, 0, None, {}, None, None)
    metadata = _metadata(row)
    return AccountSummary(row["id"], display_name(row, metadata), row["domain"], int(row["score"]),
                          _level_name(account_levels(c, unit_id), int(row["score"])), metadata,
                          to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]))


# The values the reference lists for the filter: asked for in an OU whose account levels are named otherwise (or
# that has none), they match no account rather than being refused.
REFERENCE_INTENTS = ("low", "medium", "high")


def _intent_ranges(levels: list[Level], intent: str) -> tuple[tuple[int, int], ...]:
    level = named(levels, intent)
    if level is not None:
        return tuple(score_ranges(levels, level))
    if intent.strip().lower() in REFERENCE_INTENTS:
        return ()
    names = ", ".join(sorted(lv.name for lv in levels)) or "none configured (POST /levels/account)"
    raise bad_request(f"`intent_level` {intent!r} is not an account level of this OU; levels: {names}")


# -- handlers ------------------------------------------------------------------------------------------------
@get("/accounts", opt=access(Role.VIEWER), operation_id="listAccounts", summary="List accounts aggregated by OU",
     tags=TAGS)
async def list_accounts(
    rt: Runtime,
    tenant: Tenant,
    page: PageParam = 1,
    limit: LimitParam = 50,
    range_: CreatedRange = None,
    search: Annotated[str | None, Parameter(max_length=200, description="Part of the name, domain or id")] = None,
    intent_level: Annotated[str, Parameter(max_length=100, description="`all`, or an account level's name or id "
                                           "(`low`, `medium` and `high` match no account where no level has the name)")]
    = "all",
) -> AccountList:
    """Accounts, highest account score first, with the figures of their live leads."""
    await require_abm(rt, tenant.unit_id)
    now = rt.now_ms()
    created_from, created_to = created_range(range_, now)

    def run(c: Any) -> AccountList:
        levels = account_levels(c, tenant.unit_id)
        ranges = None if intent_level.strip().lower() in ("", "all") else _intent_ranges(levels, intent_level)
        f = store.AccountFilter(created_from, created_to, (search or "").strip() or None, ranges)
        rows, total = store.list_accounts(c, tenant.unit_id, f, limit, (page - 1) * limit)
        primary = lead_store.primary_ruleset_id(c, tenant.unit_id)
        figures = store.member_figures(c, tenant.unit_id, primary, [r["id"] for r in rows], now)
        owners = store.owner_names(c, tenant.org_id, [fig["owner_id"] for fig in figures.values()])
        items = []
        for r in rows:
            fig = figures[r["id"]]
            items.append(AccountListItem(
                r["id"], r["org_id"], display_name(r, _metadata(r)), r["domain"], int(r["score"]),
                _level_name(levels, int(r["score"])), fig["leads_count"], fig["top_score"], fig["owner_id"],
                owners.get(fig["owner_id"] or ""), fig["surging"], to_rfc3339(r["created_at"]),
                to_rfc3339(r["updated_at"])))
        return AccountList(items, total, page, limit)

    return await rt.db.read(run)


@post("/accounts/batch-delete", opt=access(Role.OPERATOR), operation_id="batchDeleteAccounts",
      summary="Batch delete/unlink accounts", tags=TAGS, status_code=200)
async def batch_delete(rt: Runtime, tenant: Tenant, data: BatchIds) -> BatchDeleteOut:
    """Unlink the OU's leads from the accounts, then delete the accounts (unknown ids are skipped)."""
    await require_abm(rt, tenant.unit_id)
    if not 1 <= len(data.ids) <= MAX_BATCH:
        raise bad_request(f"`ids` must hold 1 to {MAX_BATCH} account ids")
    if any(not isinstance(i, str) or not i.strip() for i in data.ids):
        raise bad_request("`ids` must hold non-empty account ids")
    now = rt.now_ms()
    counts = await rt.db.write(lambda c: store.unlink_and_delete(c, tenant.unit_id, data.ids, now))
    return BatchDeleteOut(counts["leads_unlinked"], counts["accounts_deleted"])


@get("/accounts/{account_id:str}", opt=access(Role.VIEWER), operation_id="getAccount", summary="Get account detail",
     tags=TAGS)
async def get_account(rt: Runtime, tenant: Tenant, account_id: str) -> AccountDetail:
    """The account with its figures, its leads (highest score first) and their newest events."""
    await require_abm(rt, tenant.unit_id)
    now = rt.now_ms()

    def run(c: Any) -> AccountDetail:
        row = store.get_account(c, tenant.unit_id, account_id)
        if row is None:
            raise not_found("account")
        primary = lead_store.primary_ruleset_id(c, tenant.unit_id)
        fig = store.member_figures(c, tenant.unit_id, primary, [account_id], now)[account_id]
        owners = store.owner_names(c, tenant.org_id, [fig["owner_id"]])
        metadata = _metadata(row)
        members = store.members(c, tenant.unit_id, primary, account_id, MEMBERS_SHOWN)
        recent = store.recent_events(c, tenant.unit_id, account_id, RECENT_EVENTS)
        # Leads by name, as every other list shows them (the same rule as `lead_name` on /events).
        named = {m["id"] for m in members} | {e["lead_id"] for e in recent}
        names = lead_store.lead_names(c, tenant.unit_id, list(named))
        leads = [AccountLead(m["id"], int(m["score"]), int(m["profile_score"] or 0), to_rfc3339(m["last_event_at"]),
                             m["last_event_type"], names.get(m["id"]))
                 for m in members]
        events = [AccountEvent(e["id"], e["lead_id"], e["event_type"], to_rfc3339(e["occurred_at"]), e["channel"],
                               names.get(e["lead_id"]))
                  for e in recent]
        return AccountDetail(
            row["id"], row["org_id"], row["domain"], display_name(row, metadata), metadata, int(row["score"]),
            _level_name(account_levels(c, tenant.unit_id), int(row["score"])), fig["top_score"], fig["leads_count"],
            fig["owner_id"], owners.get(fig["owner_id"] or ""), fig["surging"], leads, events,
            to_rfc3339(row["created_at"]), to_rfc3339(row["updated_at"]))

    return await rt.db.read(run)


ROUTES = [list_accounts, batch_delete, get_account]
