"""Analytics across the active OU's events and scores, and the month's usage of the org and the OU.

All numbers are SQL aggregates over indexed columns (see `store/analytics.py` for the plans). Decisions where
the reference only shows the keys:
- "events" are engagement events: DECAY events (the system's own score decreases) are not counted, but their
  score changes are part of `score_delta` and score gains (they change scores);
- time windows are on the event's timestamp (`occurred_at`), like the `range` filter of `/events`;
- an "active" lead had an organic event in the window; hidden event types count in totals but are not listed
  by type;
- "the score" is the primary ruleset's; without a primary ruleset top leads and score gains are empty lists.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.params import Parameter

from leadvibe.engine.levels import level_for
from leadvibe.errors import not_found
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import analytics as store
from leadvibe.store.leads import lead_names, live_count
from leadvibe.store.scoring import levels_of
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Analytics"]
HOUR = 3_600_000
DAY = 24 * HOUR
TOP_EVENTS = 10


class Totals(msgspec.Struct):
    """Whole-OU counts."""

    events: int
    leads: int
    events_last_24h: int
    leads_active_7d: int


class Analytics(msgspec.Struct):
    """Totals and events per visible type."""

    totals: Totals
    by_type: dict[str, int]


class Window(msgspec.Struct):
    """One time window: events, leads active in it, and the net primary score change of its events."""

    events: int
    leads: int
    score_delta: int


class TypeCount(msgspec.Struct):
    """Events of one type."""

    event_type: str
    count: int


class Stats(msgspec.Struct):
    """The last 24 hours, and its most frequent event types."""

    last_24h: Window
    top_events: list[TypeCount]


class TopLead(msgspec.Struct):
    """A lead by score, with its engagement level, its profile (fit) score and level, and its account."""

    lead_id: str
    score: int
    level: str | None
    last_event_at: Instant | None
    profile_score: int
    profile_level: str | None
    account_id: str | None
    # The lead's name from its metadata (`name`, first and last name, or `email`), when it has one.
    name: str | None = None


class ScoreGain(msgspec.Struct):
    """A lead's net score gain in the window, and its score now."""

    lead_id: str
    gain: int
    score: int
    last_event_at: Instant | None
    # The lead's name from its metadata (`name`, first and last name, or `email`), when it has one.
    name: str | None = None


class Period(msgspec.Struct):
    """[start, end) of the usage period: the current UTC calendar month."""

    start: Instant | None
    end: Instant | None


class OrgUsage(msgspec.Struct):
    """The whole organization in the period."""

    events: int
    leads: int


class UnitUsage(msgspec.Struct):
    """The active OU in the period, plus what it holds now."""

    unit_id: str
    events: int
    leads: int
    api_credentials: int
    members: int


class Usage(msgspec.Struct):
    """Current-month usage."""

    period: Period
    org: OrgUsage
    ou: UnitUsage


def month_bounds(now_ms: int) -> tuple[int, int]:
    """[first instant of this UTC month, first instant of the next) in ms."""
    now = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


@get("/analytics", opt=access(Role.VIEWER), operation_id="getAnalytics", summary="Analytics across events (OU-scoped)",
     tags=TAGS)
async def analytics(rt: Runtime, tenant: Tenant) -> Analytics:
    """Events and live leads in the OU, events in the last 24 h, leads active in the last 7 days, events per
    visible type."""
    unit_id, now = tenant.unit_id, rt.now_ms()

    def run(c: Any) -> Analytics:
        total, by_type = store.catalogue_counts(c, unit_id)
        totals = Totals(total, live_count(c, unit_id), store.window_events(c, unit_id, now - DAY),
                        store.active_leads(c, unit_id, now - 7 * DAY))
        return Analytics(totals, dict(by_type))
    return await rt.db.read(run)


@get("/analytics/stats", opt=access(Role.VIEWER), operation_id="getEventStats", summary="Event statistics (OU-scoped)",
     tags=TAGS)
async def event_stats(rt: Runtime, tenant: Tenant) -> Stats:
    """The last 24 hours: events, active leads, net primary score change; the 10 most frequent visible
    types."""
    unit_id, since = tenant.unit_id, rt.now_ms() - DAY

    def run(c: Any) -> Stats:
        primary = store.primary_ruleset(c, unit_id)
        window = Window(store.window_events(c, unit_id, since), store.active_leads(c, unit_id, since),
                        store.score_delta(c, unit_id, primary, since) if primary else 0)
        top = [TypeCount(name, n) for name, n in store.top_types_since(c, unit_id, since, TOP_EVENTS)]
        return Stats(window, top)
    return await rt.db.read(run)


@get("/analytics/top-leads", opt=access(Role.VIEWER),
     operation_id="getTopLeads", summary="Top leads (OU-scoped)", tags=TAGS)
async def top_leads(
    rt: Runtime, tenant: Tenant,
    limit: Annotated[int, Parameter(ge=1, le=500, description="How many leads, 1..500")] = 10,
    ruleset: Annotated[str | None, Parameter(description="Ruleset id (default: the primary ruleset)")] = None,
) -> list[TopLead]:
    """Live leads with the highest scores in a ruleset, with their engagement level."""
    unit_id = tenant.unit_id

    def run(c: Any) -> list[TopLead] | None:
        rs = ruleset or store.primary_ruleset(c, unit_id)
        if rs is None:
            return []
        if ruleset and not store.ruleset_exists(c, unit_id, ruleset):
            return None
        levels = store.engagement_levels(c, unit_id)
        profile_levels = levels_of(c, unit_id, "profile")
        out = []
        rows = store.top_leads(c, unit_id, rs, limit)
        names = lead_names(c, unit_id, [r["lead_id"] for r in rows])
        for r in rows:
            level = level_for(levels, int(r["score"]))
            fit = level_for(profile_levels, int(r["profile_score"]))
            out.append(TopLead(r["lead_id"], int(r["score"]), level.name if level else None,
                               to_rfc3339(r["last_event_at"]), int(r["profile_score"]), fit.name if fit else None,
                               r["account_id"], names.get(r["lead_id"])))
        return out
    result = await rt.db.read(run)
    if result is None:
        raise not_found("ruleset")
    return result


@get("/analytics/score-gains", opt=access(Role.VIEWER), operation_id="getScoreGains",
     summary="Recent score gains (OU-scoped)", tags=TAGS)
async def score_gains(
    rt: Runtime, tenant: Tenant,
    hours: Annotated[int, Parameter(ge=1, le=720, description="Window in hours back from now, 1..720")] = 24,
    limit: Annotated[int, Parameter(ge=1, le=500, description="How many leads, 1..500")] = 10,
) -> list[ScoreGain]:
    """Leads whose primary score rose most from events in the last `hours`, biggest gain first."""
    unit_id, since = tenant.unit_id, rt.now_ms() - hours * HOUR

    def run(c: Any) -> list[ScoreGain]:
        primary = store.primary_ruleset(c, unit_id)
        if primary is None:
            return []
        rows = store.score_gains(c, unit_id, primary, since, limit)
        names = lead_names(c, unit_id, [r["lead_id"] for r in rows])
        return [ScoreGain(r["lead_id"], int(r["gain"]), int(r["score"]), to_rfc3339(r["last_event_at"]),
                          names.get(r["lead_id"])) for r in rows]
    return await rt.db.read(run)


@get("/usage", opt=access(Role.VIEWER, auth="jwt"), operation_id="getUsage", summary="Usage metrics (OU/org scoped)",
     tags=["Usage"])
async def usage(rt: Runtime, tenant: Tenant) -> Usage:
    """This UTC month: events (by their timestamp) and active leads in the whole organization and in the
    active OU, with the OU's API credentials and members."""
    start, end = month_bounds(rt.now_ms())
    unit_id, org_id = tenant.unit_id, tenant.org_id

    def run(c: Any) -> Usage:
        per_unit = {u: (store.window_events(c, u, start, end), store.active_leads(c, u, start, end))
                    for u in store.units_of_org(c, org_id)}
        events, leads = per_unit.get(unit_id, (0, 0))
        counts = store.unit_counts(c, unit_id)
        return Usage(Period(to_rfc3339(start), to_rfc3339(end)),
                     OrgUsage(sum(v[0] for v in per_unit.values()), sum(v[1] for v in per_unit.values())),
                     UnitUsage(unit_id, events, leads, counts["api_credentials"], counts["members"]))
    return await rt.db.read(run)


ROUTES = [analytics, event_stats, top_leads, score_gains, usage]
