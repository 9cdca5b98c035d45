"""Leads: list with scores, create/get/replace/patch, aliases, profile and account views, scores, search,
asynchronous delete, merge, and the score explanation."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from litestar import Response, delete, get, patch, post, put
from litestar.params import Parameter

from leadvibe.api.accounts import AccountSummary, account_summary
from leadvibe.api.bounds import LimitParam, PageParam, bounded_query
from leadvibe.api.deps import CreatedRange, created_range
from leadvibe.api.query_values import refuse_blank
from leadvibe.documented import NOT_BLANK, single_line, single_line_json, sized
from leadvibe.engine.conditions import profile_score as matched_rules
from leadvibe.engine.levels import Level, level_for, named, score_ranges
from leadvibe.errors import ApiError, bad_request, conflict, not_found
from leadvibe.pipeline.inbox import check_depth, no_control
from leadvibe.pipeline.queued_removal import drop_queued_of_lead
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import leads as store
from leadvibe.store import segments as segment_store
from leadvibe.store.scoring import levels_of
from leadvibe.timeutil import Instant, parse_rfc3339, to_rfc3339

TAGS = ["Leads"]
MAX_METADATA = 100 * 1024
MAX_MERGE_SOURCES = 100
MAX_LEAD_ID = 128
MAX_SCORES = 500
# A lead or account id as `_lead_id` checks it: as sent, kept as sent.
LeadId = Annotated[str, single_line(MAX_LEAD_ID, trimmed=False)]

Sort = Literal["score_desc", "score_asc", "recent", "created", "profile_desc", "profile_asc"]
LastActive = Literal["any", "7d", "30d"]


# -- shapes --------------------------------------------------------------------------------------------------
class LeadOut(msgspec.Struct):
    """A lead with its primary-ruleset score and engagement level."""

    id: str
    org_id: str
    unit_id: str
    account_id: str | None
    # The reference's lead shape has an owner; no input sets one yet, so both are null.
    owner_id: str | None
    owner_name: str | None
    merged_into: str | None
    metadata: msgspec.Raw
    created_at: Instant | None
    updated_at: Instant | None
    last_event_at: Instant | None
    last_event_type: str | None
    score: int
    level: str | None
    session_count: int
    profile_score: int
    profile_level: str | None


class AliasOut(msgspec.Struct):
    """An alias: normalized value (what matching uses) and the spelling first seen."""

    kind: str
    value: str
    raw_value: str
    created_at: Instant | None


class ListedLead(LeadOut, kw_only=True):
    """A lead in a list page: also its aliases, so a table can show them without a request per row."""

    aliases: list[AliasOut]


class LeadList(msgspec.Struct):
    """One page of leads."""

    leads: list[ListedLead]
    total: int
    page: int
    limit: int


class LeadIn(msgspec.Struct):
    """A lead with a client-chosen id."""

    id: LeadId
    metadata: dict[str, Any] | None = None
    account_id: LeadId | None = None


class LeadReplace(msgspec.Struct):
    """New metadata (replaces it all; `null` or `{}` clears it) and the account, each changed only when present: a
    body that leaves `metadata` out (an account change) keeps the stored metadata."""

    metadata: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    account_id: LeadId | msgspec.UnsetType | None = msgspec.UNSET


class LeadDetail(msgspec.Struct):
    """A lead and its account (null without one)."""

    lead: LeadOut
    account: AccountSummary | None


class LeadMetadata(msgspec.Struct):
    """A lead's metadata after a patch."""

    id: str
    org_id: str
    unit_id: str
    metadata: dict[str, Any]


class MatchedRule(msgspec.Struct):
    """A profile rule that holds for the lead, with the weight it adds."""

    rule_id: str
    profile_property: str
    condition: str
    comparison_value: str | None
    weight: int


class ProfileOut(msgspec.Struct):
    """The lead's profile: its properties (metadata, where profile mappings write), its profile score (the
    primary enabled profile ruleset) and profile level, and the rules that make the score."""

    lead_id: str
    properties: dict[str, Any]
    profile_score: int
    level: str | None
    level_id: str | None
    ruleset_id: str | None
    matched_rules: list[MatchedRule]


class AccountOut(msgspec.Struct):
    """The lead's account (null fields without one)."""

    lead_id: str
    account_id: str | None
    account: AccountSummary | None


class LeadScore(msgspec.Struct):
    """A lead's score in one ruleset, with its engagement level."""

    lead_id: str
    score: int
    ruleset_id: str | None
    level: str | None


class ScoresIn(msgspec.Struct):
    """Leads to score (1..500) and the ruleset: `primary` (default), a ruleset id or a name."""

    lead_ids: Annotated[list[str], sized(1, MAX_SCORES, items=single_line_json(MAX_LEAD_ID))]
    ruleset: str = "primary"


class ScoreItem(msgspec.Struct):
    """One lead's score in a batch (0 for unknown leads)."""

    lead_id: str
    score: int
    level: str | None


class SearchHit(msgspec.Struct):
    """A lead found by id prefix, alias value prefix, or the words of its name or company (`matched`: id, alias,
    name or company)."""

    id: str
    matched: str
    alias_kind: str | None
    alias_value: str | None
    score: int
    level: str | None
    last_event_at: Instant | None
    # What the leads list shows of each lead too: its name from its metadata (`name`, first and last name, or
    # `email`; null when none) and its profile (fit) score and level.
    name: str | None = None
    profile_score: int = 0
    profile_level: str | None = None
    # The lead's metadata `company` (a string), else null: what a company match matched.
    company: str | None = None
    # Its aliases, as the leads list shows them (a search by name shows who it found by their addresses too).
    aliases: list[AliasOut] = msgspec.field(default_factory=list)


class DeletionOut(msgspec.Struct):
    """Where a lead deletion is."""

    lead_id: str
    status: str


class Truncate(msgspec.Struct):
    """Merge truncation: `none` keeps every moved event; `older_than` drops moved events before `before`."""

    policy: Literal["none", "older_than"] = "none"
    before: str | None = None


class MergeIn(msgspec.Struct):
    """Sources to fold into the target."""

    targetLeadId: LeadId
    sourceLeadIds: Annotated[list[str], sized(1, MAX_MERGE_SOURCES, items=single_line_json(MAX_LEAD_ID))]
    truncate: Truncate | None = None


class RescoreOut(msgspec.Struct):
    """The target's replay: events replayed and the new score per ruleset."""

    leads: int
    events: int
    scores: dict[str, int]


class MergeOut(msgspec.Struct):
    """The merged target and what moved."""

    target: LeadOut
    mergedSources: list[str]
    movedEvents: int
    truncatedEvents: int
    movedOrders: int
    movedAliases: int
    rescore: RescoreOut


class Driver(msgspec.Struct):
    """Points an event type contributed in the window."""

    event_type: str
    count: int
    points: int


class SnapshotRule(msgspec.Struct):
    """A rule of the primary ruleset as it stands now."""

    rule_id: str
    event_type: str
    weight: int
    ruleset_id: str


class SurgeBoost(msgspec.Struct):
    """Points an event gained from its surge multiplier."""

    event_id: str
    multiplier: float
    extra_points: int


class ExplanationOut(msgspec.Struct):
    """Why a lead scores what it does, over the last `range_hours` (primary ruleset). `decay_applied` is the
    sum of the DECAY deltas in the window (0 or negative)."""

    lead_id: str
    ruleset_id: str | None
    score: int
    top_drivers: list[Driver]
    snapshot: list[SnapshotRule]
    surge_boost: list[SurgeBoost]
    surge_total: int
    surge_event_count: int
    decay_applied: int
    range_hours: int


# -- helpers -------------------------------------------------------------------------------------------------
def _level(levels: list[Level], score: int) -> str | None:
    found = level_for(levels, score)
    return found.name if found else None


class LeadLevels(msgspec.Struct, frozen=True):
    """The OU's engagement and profile levels (what a lead row's two scores are banded by)."""

    engagement: list[Level]
    profile: list[Level]


def lead_levels(c: Any, unit_id: str) -> LeadLevels:
    """Both level sets of the OU (a handful of rows)."""
    return LeadLevels(store.engagement_levels(c, unit_id), levels_of(c, unit_id, "profile"))


def lead_out(row: dict[str, Any], levels: LeadLevels) -> LeadOut:
    """A lead row (with `score`) as returned."""
    score = int(row.get("score") or 0)
    profile = int(row.get("profile_score") or 0)
    return LeadOut(
        row["id"],
        row["org_id"],
        row["unit_id"],
        row["account_id"],
        row["owner_id"],
        None,
        row["merged_into"],
        msgspec.Raw((row["metadata"] or "{}").encode()),
        to_rfc3339(row["created_at"]),
        to_rfc3339(row["updated_at"]),
        to_rfc3339(row["last_event_at"]),
        row["last_event_type"],
        score,
        _level(levels.engagement, score),
        int(row["session_count"] or 0),
        profile,
        _level(levels.profile, profile),
    )


def alias_out(a: dict[str, Any]) -> AliasOut:
    """An alias row as returned."""
    return AliasOut(a["kind"], a["value"], a["raw_value"], to_rfc3339(a["created_at"]))


def listed(row: dict[str, Any], levels: LeadLevels, aliases: list[dict[str, Any]]) -> ListedLead:
    """A lead row of a list page, with its aliases."""
    return ListedLead(*msgspec.structs.astuple(lead_out(row, levels)), aliases=[alias_out(a) for a in aliases])


def _metadata_json(metadata: dict[str, Any] | None) -> str:
    check_depth(metadata or {})
    text = msgspec.json.encode(metadata or {})
    if len(text) > MAX_METADATA:
        raise ApiError(413, "`metadata` is larger than 100 KB")
    return text.decode()


def checked_lead_id(value: str, field: str = "id") -> str:
    """A lead or account id as sent (`LeadId`: 1 to 128 characters, not only spaces, no control characters), else
    400 naming the field."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_LEAD_ID or not value.strip():
        raise bad_request(f"`{field}` must be 1 to {MAX_LEAD_ID} characters")
    no_control(value, field)
    return value


def _account_id(value: str) -> str:
    """An account id as stored: checked as sent, then trimmed, as an event's `accountId` is (one id, one account)."""
    return checked_lead_id(value, "account_id").strip()


def _load_lead(c: Any, unit_id: str, lead_id: str) -> tuple[dict[str, Any], LeadLevels]:
    row = store.get_lead(c, unit_id, lead_id, store.primary_ruleset_id(c, unit_id))
    if row is None:
        raise not_found("lead")
    return row, lead_levels(c, unit_id)


# -- list / create / get -------------------------------------------------------------------------------------
ProfileBound = Annotated[int | None, bounded_query(description="Profile (fit) score bound")]


def _profile_level_ranges(c: Any, unit_id: str, ref: str) -> tuple[tuple[int, int], ...]:
    """The profile-score ranges of a profile level named by id or name (case-insensitive); 400 when unknown."""
    levels = levels_of(c, unit_id, "profile")
    level = named(levels, ref)
    if level is not None:
        return tuple(score_ranges(levels, level))
    names = ", ".join(sorted(lv.name for lv in levels)) or "none configured (POST /levels/profile)"
    raise bad_request(f"`profile_level` {ref!r} is not a profile level of this OU; levels: {names}")


# A segment with no active rule would match nobody: naming one answers 422 (api/segments.py). Declared in the
# OpenAPI document of every read that takes a segment.
NO_ACTIVE_RULE = (422,)


@get("/leads", opt=access(Role.VIEWER, errors=NO_ACTIVE_RULE),
     operation_id="listLeadScores", summary="List lead scores (OU-scoped)", tags=TAGS)
async def list_leads(
    rt: Runtime,
    tenant: Tenant,
    page: PageParam = 1,
    limit: LimitParam = 50,
    range_: CreatedRange = None,
    min_score: Annotated[int | None, bounded_query()] = None,
    max_score: Annotated[int | None, bounded_query()] = None,
    event_type: Annotated[
        str | None, Parameter(description="The lead's last event type (any spelling)", schema_extra=NOT_BLANK)
    ] = None,
    last_active: LastActive = "any",
    sort: Sort = "score_desc",
    min_profile_score: ProfileBound = None,
    max_profile_score: ProfileBound = None,
    profile_level: Annotated[
        str | None, Parameter(max_length=100, description="A profile level's id or name")] = None,
    segment: Annotated[str | None, Parameter(max_length=128, description="Only leads in this segment")] = None,
    account_id: Annotated[str | None, Parameter(max_length=128, description="Only leads of this account")] = None,
) -> LeadList:
    """Live leads (never merged ones) with their primary-ruleset score and level and their profile score and
    level, filtered and sorted by index (`profile_desc`/`profile_asc` sort by profile score)."""
    now = rt.now_ms()
    created_from, created_to = created_range(range_, now)
    if min_score is not None and max_score is not None and min_score > max_score:
        raise bad_request("`min_score` must not be greater than `max_score`")
    if min_profile_score is not None and max_profile_score is not None and min_profile_score > max_profile_score:
        raise bad_request("`min_profile_score` must not be greater than `max_profile_score`")
    refuse_blank(event_type=event_type)
    active_since = {"any": None, "7d": now - 7 * store.DAY_MS, "30d": now - 30 * store.DAY_MS}[last_active]

    def run(c: Any) -> LeadList:
        members = None
        if segment is not None:
            from leadvibe.api.segments import segment_rules_for_query  # the segments domain imports this one

            members_sql, members_params = segment_store.member_sql(
                c, tenant.unit_id, segment_rules_for_query(c, tenant.unit_id, segment), segment)
            members = (members_sql, tuple(members_params))
        filters = store.LeadFilter(
            created_from, created_to, min_score, max_score, event_type, active_since, sort,
            min_profile=min_profile_score, max_profile=max_profile_score,
            profile_ranges=None if profile_level is None else _profile_level_ranges(c, tenant.unit_id, profile_level),
            account_id=account_id, members=members)
        primary = store.primary_ruleset_id(c, tenant.unit_id)
        rows, total = store.list_leads(c, tenant.unit_id, primary, filters, limit, (page - 1) * limit)
        if created_from is not None or created_to is not None:
            # The reference: `range` is "also used for session counts": the sessions each lead opened within it.
            started = store.sessions_started(c, tenant.unit_id, [r["id"] for r in rows], created_from, created_to)
            rows = [{**r, "session_count": started.get(r["id"], 0)} for r in rows]
        levels = lead_levels(c, tenant.unit_id)
        aliases = store.aliases_of_many(c, tenant.unit_id, [r["id"] for r in rows])
        return LeadList([listed(r, levels, aliases.get(r["id"], [])) for r in rows], total, page, limit)

    return await rt.db.read(run)


def _write_lead(rt: Runtime, c: Any, unit_id: str, lead_id: str, metadata: dict[str, Any],
                changed: dict[str, Any], account: Any = msgspec.UNSET) -> LeadOut:
    """Write a lead's metadata through the fit pipeline (mappings, profile score, property index, account) and
    answer the lead as it now is."""
    if len(msgspec.json.encode(metadata)) > MAX_METADATA:
        raise ApiError(413, "`metadata` would be larger than 100 KB")
    if rt.fit.writer(c, rt.now_ms()).write_metadata(unit_id, lead_id, metadata, changed, account) is None:
        raise not_found("lead")
    row, levels = _load_lead(c, unit_id, lead_id)
    return lead_out(row, levels)


@post("/leads", opt=access(Role.OPERATOR),
      operation_id="createLead", summary="Create a new lead (OU-scoped)", tags=TAGS)
async def create_lead(rt: Runtime, tenant: Tenant, data: LeadIn) -> LeadOut:
    """A lead with the client's id; 409 when the OU already has that id (live or merged). Its metadata goes
    through the profile mappings and scoring like any later edit."""
    lead_id = checked_lead_id(data.id)
    _metadata_json(data.metadata)
    account: Any = _account_id(data.account_id) if data.account_id is not None else msgspec.UNSET
    now = rt.now_ms()

    def run(c: Any) -> LeadOut:
        if not store.insert_lead(c, tenant.unit_id, tenant.org_id, lead_id, "{}", None, now):
            raise conflict(f"lead {lead_id} already exists in this OU")
        return _write_lead(rt, c, tenant.unit_id, lead_id, dict(data.metadata or {}), dict(data.metadata or {}),
                           account)

    return await rt.db.write(run)


@get(
    "/leads/{lead_id:str}",
    opt=access(Role.VIEWER),
    operation_id="getLead",
    summary="Get a lead including metadata and related account (OU-scoped)",
    tags=TAGS,
)
async def get_lead(rt: Runtime, tenant: Tenant, lead_id: str) -> LeadDetail:
    """The lead with its scores and levels and its account (null without one)."""

    def run(c: Any) -> LeadDetail:
        row, levels = _load_lead(c, tenant.unit_id, lead_id)
        return LeadDetail(lead_out(row, levels), account_summary(c, tenant.unit_id, row["account_id"]))

    return await rt.db.read(run)


@put(
    "/leads/{lead_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateLead",
    summary="Update a lead (replace metadata, optionally account)",
    tags=TAGS,
)
async def update_lead(rt: Runtime, tenant: Tenant, lead_id: str, data: LeadReplace) -> LeadOut:
    """Replace the metadata when `metadata` is in the body (null clears it), and the account when `account_id` is
    (null clears it). The profile mappings re-run on the keys whose value changed, then the profile score."""
    keep = data.metadata is msgspec.UNSET
    sent = None if isinstance(data.metadata, msgspec.UnsetType) else data.metadata
    _metadata_json(sent)
    account: Any = data.account_id if data.account_id is not msgspec.UNSET else msgspec.UNSET
    if isinstance(account, str):
        account = _account_id(account)

    def run(c: Any) -> LeadOut:
        row = store.get_lead(c, tenant.unit_id, lead_id)
        if row is None:
            raise not_found("lead")
        old = msgspec.json.decode(row["metadata"] or "{}")
        metadata = old if keep else dict(sent or {})
        changed = {k: v for k, v in metadata.items() if k not in old or old[k] != v}
        return _write_lead(rt, c, tenant.unit_id, lead_id, metadata, changed, account)

    return await rt.db.write(run)


@patch(
    "/leads/{lead_id:str}/metadata",
    opt=access(Role.OPERATOR),
    operation_id="patchLeadMetadata",
    summary="Patch lead metadata (OU-scoped)",
    tags=TAGS,
)
async def patch_lead_metadata(
    rt: Runtime, tenant: Tenant, lead_id: str, data: dict[str, Any]
) -> LeadMetadata:
    """Shallow merge: each key replaces the stored one; a null value removes the key. The profile mappings
    re-run on the patched keys, then the profile score."""
    check_depth(data)

    def run(c: Any) -> LeadMetadata:
        row = store.get_lead(c, tenant.unit_id, lead_id)
        if row is None:
            raise not_found("lead")
        merged: dict[str, Any] = msgspec.json.decode(row["metadata"] or "{}")
        # The mappings run on the keys whose value changed (as PUT's do): the same value sent again is no new
        # value for an `append` mapping's list.
        changed = {k: v for k, v in data.items() if v is not None and (k not in merged or merged[k] != v)}
        for key, value in data.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        out = _write_lead(rt, c, tenant.unit_id, lead_id, merged, changed)
        return LeadMetadata(lead_id, tenant.org_id, tenant.unit_id, msgspec.json.decode(out.metadata))

    return await rt.db.write(run)


@get(
    "/leads/{lead_id:str}/aliases",
    opt=access(Role.VIEWER),
    operation_id="listLeadAliases",
    summary="List lead aliases (OU-scoped)",
    tags=TAGS,
)
async def list_aliases(rt: Runtime, tenant: Tenant, lead_id: str) -> list[AliasOut]:
    """Every alias that resolves to this lead (including those moved in by merges)."""

    def run(c: Any) -> list[AliasOut]:
        _load_lead(c, tenant.unit_id, lead_id)
        return [alias_out(a) for a in store.aliases_of(c, tenant.unit_id, lead_id)]

    return await rt.db.read(run)


@get(
    "/leads/{lead_id:str}/profile",
    opt=access(Role.VIEWER),
    operation_id="getLeadProfile",
    summary="Get lead profile metadata (OU-scoped)",
    tags=TAGS,
)
async def get_profile(rt: Runtime, tenant: Tenant, lead_id: str) -> ProfileOut:
    """The lead's profile properties, profile score and level, and the profile rules that hold for it."""

    def run(c: Any) -> ProfileOut:
        row, levels = _load_lead(c, tenant.unit_id, lead_id)
        properties = msgspec.json.decode(row["metadata"] or "{}")
        cfg = rt.fit.config(c, tenant.unit_id)
        _, matched_ids = matched_rules(cfg.profile_rules, properties)
        by_id = {r.rule_id: r for r in cfg.profile_rules}
        matched = [MatchedRule(i, by_id[i].property, by_id[i].op, by_id[i].value, by_id[i].weight)
                   for i in matched_ids]
        score = int(row["profile_score"] or 0)
        level = level_for(levels.profile, score)
        return ProfileOut(lead_id, properties, score, level.name if level else None,
                          level.level_id if level else None, cfg.profile_ruleset_id, matched)

    return await rt.db.read(run)


@get(
    "/leads/{lead_id:str}/account",
    opt=access(Role.VIEWER),
    operation_id="getLeadAccount",
    summary="Get lead account metadata (OU-scoped)",
    tags=TAGS,
)
async def get_account(rt: Runtime, tenant: Tenant, lead_id: str) -> AccountOut:
    """The account the lead belongs to (nulls without one)."""

    def run(c: Any) -> AccountOut:
        row, _ = _load_lead(c, tenant.unit_id, lead_id)
        return AccountOut(lead_id, row["account_id"], account_summary(c, tenant.unit_id, row["account_id"]))

    return await rt.db.read(run)


# -- scores --------------------------------------------------------------------------------------------------
@get(
    "/leads/{lead_id:str}/score",
    opt=access(Role.VIEWER),
    operation_id="getLeadScore",
    summary="Get lead score (OU-scoped)",
    tags=TAGS,
)
async def get_lead_score(
    rt: Runtime,
    tenant: Tenant,
    lead_id: str,
    ruleset_id: Annotated[
        str | None, Parameter(description="Without it: the highest across active rulesets")
    ] = None,
) -> LeadScore:
    """The lead's score in one ruleset, or its highest across the OU's active rulesets."""

    def run(c: Any) -> LeadScore:
        if not store.get_lead(c, tenant.unit_id, lead_id):
            raise not_found("lead")
        levels = store.engagement_levels(c, tenant.unit_id)
        if ruleset_id is None:
            rs, score = store.highest_score(c, tenant.unit_id, lead_id)
        else:
            found = store.find_ruleset(c, tenant.unit_id, ruleset_id)
            if found is None or found["id"] != ruleset_id:
                raise not_found("ruleset")
            rs, score = ruleset_id, store.scores_in(c, tenant.unit_id, ruleset_id, [lead_id]).get(lead_id, 0)
        return LeadScore(lead_id, score, rs, _level(levels, score))

    return await rt.db.read(run)


@post(
    "/leads/scores",
    opt=access(Role.VIEWER),
    operation_id="batchLeadScores",
    status_code=200,
    summary="Batch lead scores for visible leads (OU-scoped, engagement primary ruleset by default)",
    tags=TAGS,
)
async def batch_scores(rt: Runtime, tenant: Tenant, data: ScoresIn) -> list[ScoreItem]:
    """Scores of up to 500 leads in the primary ruleset (or the one named); unknown leads and an OU without a
    primary ruleset score 0."""
    if not 1 <= len(data.lead_ids) <= MAX_SCORES:
        raise bad_request(f"`lead_ids` must hold 1 to {MAX_SCORES} ids")
    for lead_id in data.lead_ids:
        checked_lead_id(lead_id, "lead_ids")  # an id no lead can have is a mistake, not a score of 0
    ids = list(dict.fromkeys(data.lead_ids))
    ref = data.ruleset.strip() or "primary"

    def run(c: Any) -> list[ScoreItem]:
        if ref == "primary":
            rs = store.primary_ruleset_id(c, tenant.unit_id)
        else:
            found = store.find_ruleset(c, tenant.unit_id, ref)
            if found is None:
                raise not_found("ruleset")
            rs = found["id"]
        scores = store.scores_in(c, tenant.unit_id, rs, ids) if rs else {}
        levels = store.engagement_levels(c, tenant.unit_id)
        return [ScoreItem(i, scores.get(i, 0), _level(levels, scores.get(i, 0))) for i in data.lead_ids]

    return await rt.db.read(run)


# -- search --------------------------------------------------------------------------------------------------
@get(
    "/leads/search",
    opt=access(Role.VIEWER),
    operation_id="searchLeads",
    summary="Search leads by ID, alias, name or company (OU-scoped)",
    tags=TAGS,
)
async def search_leads(
    rt: Runtime, tenant: Tenant,
    q: Annotated[str, Parameter(description="2 to 320 characters, at least 2 of them besides spaces",
                                schema_extra={"max_length": 320, "pattern": r"\S[\s\S]*\S"})],
) -> list[SearchHit]:
    """Up to 10 live leads whose id, or one of whose alias values, starts with `q`, or whose name (else company)
    has a word starting with each word of `q`, case and accents aside."""
    if len(q.strip()) < 2:
        raise bad_request("`q` must be at least 2 characters")
    if len(q) > 320:
        raise bad_request("`q` must be at most 320 characters")

    def run(c: Any) -> list[SearchHit]:
        hits = store.search(c, tenant.unit_id, q.strip())
        rows = {}
        primary = store.primary_ruleset_id(c, tenant.unit_id)
        for h in hits:
            rows[h["lead_id"]] = store.get_lead(c, tenant.unit_id, h["lead_id"], primary)
        levels = lead_levels(c, tenant.unit_id)
        aliases = store.aliases_of_many(c, tenant.unit_id, [h["lead_id"] for h in hits])
        out = []
        for h in hits:
            row = rows[h["lead_id"]]
            if row is None:
                continue
            score = int(row["score"] or 0)
            profile = int(row["profile_score"] or 0)
            meta = msgspec.json.decode(row["metadata"] or "{}")
            out.append(
                SearchHit(
                    h["lead_id"],
                    h["matched"],
                    h["alias_kind"],
                    h["alias_value"],
                    score,
                    _level(levels.engagement, score),
                    to_rfc3339(row["last_event_at"]),
                    store.metadata_name(meta, aliases.get(h["lead_id"], [])),
                    profile,
                    _level(levels.profile, profile),
                    meta.get("company") if isinstance(meta.get("company"), str) else None,
                    [alias_out(a) for a in aliases.get(h["lead_id"], [])],
                )
            )
        return out

    return await rt.db.read(run)


# -- delete --------------------------------------------------------------------------------------------------
@delete(
    "/leads/{lead_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteLead",
    summary="Delete a lead (OU-scoped)",
    tags=TAGS,
    status_code=202,
)
async def delete_lead(
    rt: Runtime, tenant: Tenant, principal: Principal, lead_id: str
) -> Response[DeletionOut]:
    """The lead leaves every view now; its events (and their scores) are removed by a background task, with
    those acknowledged but not scored yet (they would make it again). A lead known only by such events (the
    worker has not scored one yet) is deleted by removing them. Follow it on `GET /leads/{id}/deletion`."""
    now = rt.now_ms()
    unit_id = tenant.unit_id
    # A merged id names its target: its queued events are the target's, not to be removed here.
    if await rt.db.read(lambda c: store.lead_exists(c, unit_id, lead_id) and not store.live_ids(c, unit_id, [lead_id])):
        raise not_found("lead")
    dropped = await drop_queued_of_lead(rt, unit_id, lead_id)

    def run(c: Any) -> bool:
        if store.request_deletion(c, unit_id, lead_id, principal.actor_id, now):
            return True
        if dropped:
            store.record_queued_only_deletion(c, unit_id, lead_id, principal.actor_id, now)
        return False

    if not await rt.db.write(run) and not dropped:
        raise not_found("lead")
    worker = rt.lead_deletions
    if worker is not None:
        worker.poke()
    return Response(DeletionOut(lead_id, "pending"), status_code=202)


@get(
    "/leads/{lead_id:str}/deletion",
    opt=access(Role.VIEWER),
    operation_id="getLeadDeletion",
    summary="Lead deletion status (OU-scoped)",
    tags=TAGS,
)
async def deletion_status(rt: Runtime, tenant: Tenant, lead_id: str) -> DeletionOut:
    """pending, completed, or not_found (no deletion was requested for that id)."""
    status = await rt.db.read(lambda c: store.deletion_status(c, tenant.unit_id, lead_id))
    return DeletionOut(lead_id, status)


# -- merge ---------------------------------------------------------------------------------------------------
@post(
    "/leads/merge",
    opt=access(Role.OPERATOR),
    operation_id="mergeLeads",
    summary="Merge leads (OU-scoped)",
    tags=TAGS,
    status_code=200,
)
async def merge_leads(rt: Runtime, tenant: Tenant, data: MergeIn) -> MergeOut:
    """Fold the sources into the target in one transaction: move events, orders and aliases, mark the sources
    `merged_into`, drop truncated events, then replay the target's events to rewrite its scores. Later events
    naming a source id or alias resolve to the target."""
    from leadvibe.pipeline.rescore import (
        rescore_leads,  # the lead's replay; late import keeps module order free
    )

    target = checked_lead_id(data.targetLeadId, "targetLeadId")
    sources = list(dict.fromkeys(data.sourceLeadIds))
    if not 1 <= len(sources) <= MAX_MERGE_SOURCES:
        raise bad_request(f"`sourceLeadIds` must hold 1 to {MAX_MERGE_SOURCES} ids")
    for s in sources:
        checked_lead_id(s, "sourceLeadIds")
    if target in sources:
        raise bad_request("`sourceLeadIds` must not include the target")
    truncate = data.truncate or Truncate()
    before: int | None = None
    if truncate.policy == "older_than":
        if not truncate.before:
            raise bad_request("`truncate.before` is required with policy older_than")
        try:
            before = parse_rfc3339(truncate.before, bound=True)
        except ValueError as exc:
            raise bad_request(f"`truncate.before` {exc}") from None
    elif truncate.before is not None:
        raise bad_request("`truncate.before` only goes with policy older_than")
    now = rt.now_ms()
    # The merged lead's display name, read in the write (it may now be known by a source's email alias).
    named: dict[str, str] = {}

    def run(c: Any) -> MergeOut:
        live = store.live_ids(c, tenant.unit_id, [target, *sources])
        if target not in live:
            raise not_found("target lead")
        missing = [s for s in sources if s not in live]
        if missing:
            raise ApiError(404, f"source lead not found: {', '.join(missing[:5])}")
        # A lead made again by events while its deletion still removes its old events: those events (and any a
        # merge moved in beside them) would go with the deletion, or a source's would outlive it on the target.
        deleting = store.pending_deletion_of(c, tenant.unit_id, [target, *sources])
        if deleting:
            raise conflict(f"lead {deleting[0]} is still being deleted (its earlier events are being removed): merge "
                           f"once GET /leads/{quote(deleting[0], safe='')}/deletion says completed")
        counts = store.merge_into(c, tenant.unit_id, target, sources, before, now)
        cfg = rt.scoring_config.get(c, tenant.unit_id)
        replayed = rescore_leads(c, cfg, [target], now)
        scores = {rs: score for rs, (score, _) in store.score_sums(c, tenant.unit_id, target).items()}
        named.update(store.lead_names(c, tenant.unit_id, [target]))
        triggers = rt.triggers
        if triggers is not None and hasattr(triggers, "on_score_change"):
            triggers.on_score_change(
                c, tenant.unit_id, target, scores.get(cfg.primary_ruleset_id or "", 0), now
            )
        row, levels = _load_lead(c, tenant.unit_id, target)
        return MergeOut(
            lead_out(row, levels),
            sources,
            counts["moved_events"],
            counts["truncated_events"],
            counts["moved_orders"],
            counts["moved_aliases"],
            RescoreOut(int(replayed or 0), store.replayed_events(c, tenant.unit_id, target), scores),
        )

    out = await rt.db.write(run)
    hub = rt.stream
    if hub is not None:
        name = named.get(target)
        for rs, score in out.rescore.scores.items():
            hub.publish(
                tenant.unit_id,
                "score_update",
                {"lead_id": target, "ruleset_id": rs, "score": score, "reason": "merge", "lead_name": name},
            )
    return out


# -- explanation ---------------------------------------------------------------------------------------------
@get(
    "/leads/{lead_id:str}/explanation",
    opt=access(Role.VIEWER),
    operation_id="getLeadExplanation",
    summary="Get score explanation",
    tags=TAGS,
)
async def lead_explanation(
    rt: Runtime, tenant: Tenant, lead_id: str, hours: Annotated[int, Parameter(ge=1, le=24 * 366)] = 24
) -> ExplanationOut:
    """Top drivers, the primary ruleset's rule weights, surge boosts and decay over the last `hours`."""
    since = rt.now_ms() - hours * 3_600_000

    def run(c: Any) -> ExplanationOut:
        row, _ = _load_lead(c, tenant.unit_id, lead_id)
        primary = store.primary_ruleset_id(c, tenant.unit_id)
        score = int(row["score"] or 0)
        if primary is None:
            return ExplanationOut(lead_id, None, score, [], [], [], 0, 0, 0, hours)
        e = store.explanation(c, tenant.unit_id, lead_id, primary, since)
        surge = [
            SurgeBoost(s["event_id"], float(s["multiplier"]), int(s["extra_points"])) for s in e["surge"]
        ]
        return ExplanationOut(
            lead_id,
            primary,
            score,
            [Driver(d["event_type"], int(d["count"]), int(d["points"] or 0)) for d in e["drivers"]],
            [
                SnapshotRule(r["rule_id"], r["event_type"], int(r["weight"]), r["ruleset_id"])
                for r in e["snapshot"]
            ],
            surge,
            sum(s.extra_points for s in surge),
            len(surge),
            e["decay"],
            hours,
        )

    return await rt.db.read(run)


ROUTES = [
    list_leads,
    create_lead,
    get_lead,
    update_lead,
    patch_lead_metadata,
    list_aliases,
    get_profile,
    get_account,
    get_lead_score,
    batch_scores,
    search_leads,
    delete_lead,
    deletion_status,
    merge_leads,
    lead_explanation,
]
