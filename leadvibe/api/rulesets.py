"""Rulesets and scoring rules: CRUD, rescoring a ruleset from stored events, and what-if backtests.

Decisions:
- The first ruleset of an OU becomes primary whatever the request says; making a ruleset primary clears the
  flag on the others in the same transaction. Deleting the primary promotes none: the OU has no primary until
  one is chosen (or until `POST /rules` without `ruleset_id` creates "Default").
- Ruleset names are unique per OU (case-insensitive), because queries may select a ruleset by name.
- Rescore runs in short write transactions of whole leads (ingestion interleaves with them); rescoring an
  inactive ruleset is refused (409): inactive rulesets keep their scores frozen by design. Deleting or switching
  off the ruleset while a rescore runs stops it at its next step (the leads done so far stay rescored).
- Backtests replay every lead's stored events (engine.bulk) through the read pool and write nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post, put
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import Parameter

from leadvibe.api.bounds import Signed, checked_range
from leadvibe.api.json_body import refuses_null
from leadvibe.api.names import Name, clean_name
from leadvibe.api.scoring_common import (
    EventTypeText,
    check_int,
    clean_event_type,
    given,
    parse_time,
    publish,
    require_pipeline,
    rescore_changes,
    session_timeout_minutes,
    write_config,
)
from leadvibe.engine import levels as level_engine
from leadvibe.engine.bulk import final_scores
from leadvibe.engine.filters import InorganicFilter
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.scoring import Rule, Ruleset
from leadvibe.engine.surge import Band, SurgePolicy, build_policy
from leadvibe.errors import bad_request, conflict, not_found
from leadvibe.ids import new_id
from leadvibe.pipeline.inbox import no_control
from leadvibe.pipeline.rescore import PreparedRescore, RescoreScope, finish_rescore, prepare_rescore, rescore_scope
from leadvibe.pipeline.rescore_pace import WriteBudget
from leadvibe.pipeline.rescore_process import ReplayProcess
from leadvibe.pipeline.scoring_config import load_config
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import scoring as store
from leadvibe.store.leads import lead_names
from leadvibe.timeutil import Instant, to_rfc3339

SCORE_COLUMN = re.compile(r"[a-z][a-z0-9_]{0,63}")
# The same rule for the document, without a `$` anchor (Python's lets a final line break through, ECMA's does not).
ScoreColumn = Annotated[str, msgspec.Meta(
    description="1 to 64 lower-case letters, digits or underscores, starting with a letter",
    extra_json_schema={"extra": {"min_length": 1, "max_length": 64, "pattern": "^[a-z]",
                                 "schema_not": Schema(type=OpenAPIType.STRING, pattern="[^a-z0-9_]")}})]
ICON_MAX = 100
BACKTEST_DEFAULT_LEADS = 1000
BACKTEST_MAX_LEADS = 10_000
BACKTEST_MAX_RULES = 1000
# A rescore runs as a series of write transactions of about this long (whole leads each), so the worker and API
# writes get the writer between them; the lead count bounds what one step reads up front. A 202 waits for none of
# them (acknowledged events commit to the inbox file, which has a writer of its own): steps of ~150 ms instead of
# ~40 cut a rescore by a fifth with /ingest's p99 unchanged (performance.md, fifteenth round), and a dashboard
# write or a worker batch waits one step at most.
RESCORE_STEP_MS = 200.0
RESCORE_STEP_LEADS = 2400
# ... and of about this many rows written: a step of leads that all change (a scoped rescore) writes ~4 rows per
# lead. 800 is what steps of whole 100-lead chunks, cut once past 500 rows, wrote on average (steps are now cut at
# the rows). A rescore in a child process learns from its steps how many rows a step of RESCORE_WRITE_MS holds
# (pipeline.rescore_pace), within the bounds below.
RESCORE_STEP_WRITES = 800
RESCORE_WRITE_MS = 150.0
RESCORE_STEP_WRITES_MIN = 100
RESCORE_STEP_WRITES_MAX = 16_000
# From this many leads to replay, a rescore replays in a child process (see pipeline.rescore_process). Starting
# one costs ~0.6 s of CPU (imports): measured, 22,000 leads of a 300,000-event OU were no faster in a child, 72,000
# leads of a 1,000,000-event OU 1.2-1.65x faster (docs/performance.md).
RESCORE_PROCESS_LEADS = 50_000


# -- shapes --------------------------------------------------------------------------------------------------
class RulesetIn(msgspec.Struct):
    """A new ruleset."""

    name: Name
    score_column: ScoreColumn = "total_score"
    is_primary: bool = False


@refuses_null("name", "score_column", "is_primary", "active")
class RulesetPatch(msgspec.Struct):
    """Fields to change on a ruleset (absent fields stay)."""

    name: Name | None = None
    score_column: ScoreColumn | None = None
    is_primary: bool | None = None
    active: bool | None = None


class RulesetOut(msgspec.Struct):
    """A ruleset."""

    ruleset_id: str
    name: str
    score_column: str
    is_primary: bool
    active: bool
    rules_count: int
    org_id: str
    created_by: str | None
    created_at: Instant | None
    updated_at: Instant | None


class RuleIn(msgspec.Struct):
    """A new rule; `ruleset_id` omitted means the primary ruleset (created as "Default" if there is none)."""

    event_type: EventTypeText
    weight: Signed
    ruleset_id: str | None = None
    icon: str | None = None
    active: bool = True
    start_at: str | None = None
    end_at: str | None = None


class RulePatch(msgspec.Struct):
    """Fields to change on a rule; absent fields stay, `null` clears `icon`, `start_at`, `end_at`."""

    ruleset_id: str | msgspec.UnsetType = msgspec.UNSET
    event_type: EventTypeText | msgspec.UnsetType = msgspec.UNSET
    weight: Signed | msgspec.UnsetType = msgspec.UNSET
    icon: str | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    start_at: str | msgspec.UnsetType | None = msgspec.UNSET
    end_at: str | msgspec.UnsetType | None = msgspec.UNSET


class RuleOut(msgspec.Struct):
    """A scoring rule."""

    rule_id: str
    ruleset_id: str
    org_id: str
    unit_id: str
    event_type: str
    weight: int
    icon: str | None
    active: bool
    start_at: Instant | None
    end_at: Instant | None
    created_at: Instant | None
    updated_at: Instant | None
    created_by: str | None
    updated_by: str | None


class RescoreOut(msgspec.Struct):
    """What a rescore did."""

    ruleset_id: str
    leads_rescored: int
    changed: int


class DraftRule(msgspec.Struct):
    """A rule of a backtest's draft rule list."""

    event_type: EventTypeText
    weight: Signed
    active: bool = True
    start_at: str | None = None
    end_at: str | None = None


class BacktestIn(msgspec.Struct):
    """The draft rule list to try instead of the ruleset's rules, and how many leads to list (every lead with
    events is evaluated)."""

    rules: list[DraftRule]
    limit: Annotated[int, checked_range(1, BACKTEST_MAX_LEADS)] = BACKTEST_DEFAULT_LEADS


class LevelRef(msgspec.Struct):
    """An engagement level a score falls in."""

    stage_id: str
    name: str


class BacktestLead(msgspec.Struct):
    """One lead's current score and the score the draft rules would give it."""

    lead_id: str
    old_score: int
    new_score: int
    delta: int
    old_level: LevelRef | None
    new_level: LevelRef | None
    level_changed: bool
    # The lead's name from its metadata (`name`, first and last name, or `email`), when it has one.
    lead_name: str | None = None


class BacktestOut(msgspec.Struct):
    """Per-lead outcome (largest changes first) and totals; nothing was written."""

    ruleset_id: str
    leads_evaluated: int
    leads_with_events: int
    truncated: bool
    leads_changed: int
    level_changes: int
    total_old_score: int
    total_new_score: int
    leads: list[BacktestLead]


def _ruleset(row: dict[str, Any]) -> RulesetOut:
    return RulesetOut(
        row["id"],
        row["name"],
        row["score_column"],
        bool(row["is_primary"]),
        bool(row["active"]),
        int(row.get("rules_count") or 0),
        row["org_id"],
        row["created_by"],
        to_rfc3339(row["created_at"]),
        to_rfc3339(row["updated_at"]),
    )


def _rule(row: dict[str, Any]) -> RuleOut:
    return RuleOut(
        row["id"],
        row["ruleset_id"],
        row["org_id"],
        row["unit_id"],
        row["event_type"],
        row["weight"],
        row["icon"],
        bool(row["active"]),
        to_rfc3339(row["start_at"]),
        to_rfc3339(row["end_at"]),
        to_rfc3339(row["created_at"]),
        to_rfc3339(row["updated_at"]),
        row["created_by"],
        row["updated_by"],
    )


def _score_column(value: str) -> str:
    if not SCORE_COLUMN.fullmatch(value):
        raise bad_request(
            "`score_column` must be 1 to 64 lower-case letters, digits or underscores, starting with a letter"
        )
    return value


def _icon(value: str | None) -> str | None:
    if value is None:
        return None
    no_control(value, "icon")  # shown beside the rule wherever it is listed; before trimming, as names are
    value = value.strip()
    if len(value) > ICON_MAX:
        raise bad_request(f"`icon` must be at most {ICON_MAX} characters")
    return value or None


def _window(start: int | None, end: int | None, prefix: str = "") -> None:
    if start is not None and end is not None and start >= end:
        raise bad_request(f"`{prefix}start_at` must be before `{prefix}end_at`")


def _ruleset_or_404(c: Any, unit_id: str, ruleset_id: str) -> dict[str, Any]:
    row = store.get_ruleset(c, unit_id, ruleset_id)
    if row is None:
        raise not_found("ruleset")
    return row


# -- rulesets ------------------------------------------------------------------------------------------------
@get(
    "/rulesets",
    opt=access(Role.VIEWER),
    operation_id="listRulesets",
    summary="List scoring rule sets (OU-scoped)",
    tags=["RuleSets"],
)
async def list_rulesets(rt: Runtime, tenant: Tenant) -> list[RulesetOut]:
    """Every ruleset of the active OU, the primary first."""
    return [_ruleset(r) for r in await rt.db.read(lambda c: store.list_rulesets(c, tenant.unit_id))]


@post(
    "/rulesets",
    opt=access(Role.OPERATOR),
    operation_id="createRuleset",
    summary="Create scoring rule set (OU-scoped)",
    tags=["RuleSets"],
)
async def create_ruleset(rt: Runtime, tenant: Tenant, principal: Principal, data: RulesetIn) -> RulesetOut:
    """A new ruleset; the OU's first ruleset is always primary, and a new primary demotes the old one."""
    name, column = clean_name(data.name), _score_column(data.score_column)

    def run(c: Any) -> dict[str, Any]:
        if store.ruleset_name_taken(c, tenant.unit_id, name):
            raise conflict(f"a ruleset named {name!r} already exists in this OU")
        primary = data.is_primary or store.count_rulesets(c, tenant.unit_id) == 0
        return store.create_ruleset(
            c,
            tenant.unit_id,
            tenant.org_id,
            ruleset_id=new_id("rs"),
            name=name,
            score_column=column,
            is_primary=primary,
            created_by=principal.actor_id,
            now=rt.now_ms(),
        )

    return _ruleset(await write_config(rt, tenant.unit_id, run))


@put(
    "/rulesets/{ruleset_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateRuleset",
    summary="Update a ruleset",
    tags=["RuleSets"],
)
async def update_ruleset(rt: Runtime, tenant: Tenant, ruleset_id: str, data: RulesetPatch) -> RulesetOut:
    """Rename, (de)activate, or make primary (clearing the others); `is_primary: false` leaves no primary."""
    fields: dict[str, Any] = {}
    if data.name is not None:
        fields["name"] = clean_name(data.name)
    if data.score_column is not None:
        fields["score_column"] = _score_column(data.score_column)
    if data.active is not None:
        fields["active"] = int(data.active)

    def run(c: Any) -> dict[str, Any]:
        _ruleset_or_404(c, tenant.unit_id, ruleset_id)
        if "name" in fields and store.ruleset_name_taken(
            c, tenant.unit_id, fields["name"], exclude=ruleset_id
        ):
            raise conflict(f"a ruleset named {fields['name']!r} already exists in this OU")
        return store.update_ruleset(c, tenant.unit_id, ruleset_id, fields, data.is_primary, rt.now_ms())  # type: ignore[return-value]

    return _ruleset(await write_config(rt, tenant.unit_id, run))


@delete(
    "/rulesets/{ruleset_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteRuleset",
    summary="Delete a scoring ruleset (OU-scoped)",
    tags=["RuleSets"],
)
async def delete_ruleset(rt: Runtime, tenant: Tenant, ruleset_id: str) -> None:
    """Delete a ruleset with its rules, per-event and lead scores; deleting the primary promotes none."""

    def run(c: Any) -> None:
        _ruleset_or_404(c, tenant.unit_id, ruleset_id)
        store.delete_ruleset(c, tenant.unit_id, ruleset_id)

    await write_config(rt, tenant.unit_id, run)


@get(
    "/rulesets/{ruleset_id:str}/rules",
    opt=access(Role.VIEWER),
    operation_id="listRulesetRules",
    summary="List scoring rules in a set (OU-scoped)",
    tags=["Rules"],
)
async def list_ruleset_rules(rt: Runtime, tenant: Tenant, ruleset_id: str) -> list[RuleOut]:
    """The rules of one ruleset."""

    def run(c: Any) -> list[dict[str, Any]]:
        _ruleset_or_404(c, tenant.unit_id, ruleset_id)
        return store.list_rules(c, tenant.unit_id, ruleset_id)

    return [_rule(r) for r in await rt.db.read(run)]


@post(
    "/rulesets/{ruleset_id:str}/rescore",
    opt=access(Role.OPERATOR),
    operation_id="rescoreRuleset",
    summary="Recompute every lead's score in this ruleset from stored events",
    tags=["RuleSets"],
    status_code=200,
)
async def rescore_ruleset(rt: Runtime, tenant: Tenant, ruleset_id: str) -> RescoreOut:
    """Replay every live lead's events through this ruleset's current rules, in short write transactions that
    ingestion interleaves with (each replays whole leads, so every lead's score equals the sum of its deltas at
    every commit).

    With unchanged rules no score changes (`changed` counts leads whose score in this ruleset moved). When only
    rules changed since the ruleset's last complete rescore, only the leads with an event of a type whose rules
    changed are replayed: the others would get back every row they have (`leads_rescored` counts them too).
    """
    cache = require_pipeline(rt, "rescoring")
    unit_id = tenant.unit_id

    def active_ruleset(c: Any) -> None:
        # Checked again in every step: a ruleset deleted or switched off meanwhile stops the rescore there.
        if not _ruleset_or_404(c, unit_id, ruleset_id)["active"]:
            raise conflict(
                "the ruleset is inactive; activate it before rescoring (inactive rulesets keep their scores)"
            )

    def scope_of(c: Any) -> RescoreScope:
        active_ruleset(c)
        return rescore_scope(c, unit_id, ruleset_id)

    def prepare(c: Any, leads: list[str]) -> PreparedRescore:
        active_ruleset(c)
        return prepare_rescore(c, load_config(c, unit_id), leads, rt.now_ms(), [ruleset_id], RESCORE_STEP_MS,
                               RESCORE_STEP_WRITES)

    def step(c: Any, leads: list[str], prepared: PreparedRescore) -> tuple[int, list[dict[str, Any]]]:
        active_ruleset(c)
        leads = leads[:prepared.lead_count]
        before = store.lead_scores_by_ruleset(c, unit_id, leads, ruleset_id)
        return rescore_changes(rt, c, cache, unit_id, leads, before, rt.now_ms(), ruleset_id, prepared=prepared)

    scope = await rt.db.read(scope_of)
    leads = scope.lead_ids
    # The replay runs apart from the writer, which only checks that nothing the replay read has moved and writes
    # the differences, so ingestion's commits wait behind a short step. A large rescore replays in a process of
    # its own, the next step while the writer writes this one; a small one on a reader thread, one step after the
    # other (beside a write, a replay holding the interpreter lock slows the write more than it saves).
    child = (ReplayProcess(rt.db.path, max(8, rt.db.cache_size_mb // 4))
             if len(leads) >= RESCORE_PROCESS_LEADS else None)

    def replay_from(start: int) -> asyncio.Future[PreparedRescore] | None:
        rest = leads[start:start + RESCORE_STEP_LEADS]
        if not rest:
            return None
        if child is None:
            return asyncio.ensure_future(rt.db.read(lambda c: prepare(c, rest)))
        return asyncio.ensure_future(child.prepare(unit_id, rest, rt.now_ms(), [ruleset_id], RESCORE_STEP_MS,
                                                   budget.rows))

    # Back to back, the child's steps keep the writer busy: each lasts about what an ingestion commit may wait.
    budget = WriteBudget(RESCORE_WRITE_MS, RESCORE_STEP_WRITES, RESCORE_STEP_WRITES_MIN, RESCORE_STEP_WRITES_MAX)
    done = changed = 0
    upcoming = replay_from(0)
    try:
        while upcoming is not None:
            try:
                prepared = await upcoming
            except BrokenProcessPool:  # the child could not start or died: the rest replays on a reader thread
                assert child is not None
                await child.close()
                child = None
                upcoming = replay_from(done)
                continue
            rest = leads[done:done + prepared.lead_count]
            upcoming = replay_from(done + prepared.lead_count) if child is not None else None
            started = time.perf_counter()
            n, changes = await rt.db.write(lambda c: step(c, rest, prepared), alone=True)  # noqa: B023 - awaited here
            budget.observe(prepared.write_count, time.perf_counter() - started)
            publish(rt, unit_id, changes)
            done += n
            changed += len(changes)
            if child is None:
                upcoming = replay_from(done)
    finally:
        if upcoming is not None:  # a step failed: the replay ahead is dropped
            upcoming.cancel()
            upcoming.add_done_callback(lambda f: f.cancelled() or f.exception())  # no unretrieved error
        if child is not None:
            await child.close()
    await rt.db.write(lambda c: finish_rescore(c, unit_id, ruleset_id, scope))
    # The leads left out would have been rewritten as they are: they count as rescored.
    return RescoreOut(ruleset_id, scope.live_leads, changed)


def _draft_rules(rules: list[DraftRule]) -> tuple[Rule, ...]:
    if len(rules) > BACKTEST_MAX_RULES:
        raise bad_request(f"`rules` may hold at most {BACKTEST_MAX_RULES} rules")
    out: list[Rule] = []
    for i, r in enumerate(rules):
        _, key = clean_event_type(r.event_type, f"rules[{i}].event_type")
        weight = check_int(r.weight, f"rules[{i}].weight")
        start, end = (
            parse_time(r.start_at, f"rules[{i}].start_at"),
            parse_time(r.end_at, f"rules[{i}].end_at"),
        )
        _window(start, end, f"rules[{i}].")
        out.append(Rule(f"draft_{i}", key, weight, r.active, start, end))
    return tuple(out)


def _policy(c: Any, unit_id: str, timeout_minutes: int) -> SurgePolicy:
    # The same policy live scoring uses: the saved one, else Standard with the OU's session timeout.
    saved = store.get_surge_policy(c, unit_id)
    if saved is None:
        return build_policy("standard", default_idle_seconds=timeout_minutes * 60)
    bands = [Band(int(b["min_events"]), float(b["multiplier"])) for b in saved["bands"]]
    try:
        return build_policy(
            saved["mode"], bands, int(saved["idle_reset_seconds"]), float(saved["multiplier_cap"])
        )
    except ValueError:  # a row written by hand; score as the defaults rather than fail the backtest
        return build_policy("standard", default_idle_seconds=timeout_minutes * 60)


def _level(levels: list[level_engine.Level], score: int) -> LevelRef | None:
    hit = level_engine.level_for(levels, score)
    return LevelRef(hit.level_id, hit.name) if hit else None


@post(
    "/rulesets/{ruleset_id:str}/backtest",
    opt=access(Role.VIEWER),
    operation_id="backtestRuleset",
    summary="What-if: score stored events with a draft rule list, without writing",
    tags=["RuleSets"],
    status_code=200,
)
async def backtest_ruleset(
    rt: Runtime, tenant: Tenant, principal: Principal, ruleset_id: str, data: BacktestIn
) -> BacktestOut:
    """Replay every lead's stored events with the draft rules in place of the ruleset's, under the OU's current
    surge policy, filters and floor; compare with the scores the leads have now and their engagement levels.
    Totals cover every lead with events; `leads` lists the `limit` largest changes (default 1000). Reads only:
    nothing is written."""
    limit = check_int(data.limit, "limit", 1, BACKTEST_MAX_LEADS)
    draft = _draft_rules(data.rules)
    unit_id = tenant.unit_id

    def run(c: Any) -> BacktestOut:
        _ruleset_or_404(c, unit_id, ruleset_id)
        settings = store.scoring_settings(c, tenant.org_id, unit_id) or {}
        filters = tuple(
            InorganicFilter(
                f["id"],
                f["type_key"],
                int(f["count_threshold"]),
                int(f["time_window_ms"]),
                bool(f["group_events"]),
            )
            for f in store.list_filters(c, unit_id)
        )
        # The draft is scored as if the ruleset were active: a what-if of rules, not of the on/off switch.
        config = ScoringConfig(
            (Ruleset(ruleset_id, True, draft),),
            _policy(c, unit_id, session_timeout_minutes(settings)),
            filters,
            bool(settings.get("allow_negative_scores")),
        )
        levels = [
            level_engine.Level(r["id"], r["name"], r["min_score"], r["max_score"])
            for r in store.list_levels(c, unit_id, "engagement")
        ]
        totals = _BacktestTotals()
        outcomes = _compare(
            final_scores(store.events_in_lead_order(c, unit_id), config),
            store.scores_in_lead_order(c, unit_id, ruleset_id),
            ruleset_id,
            totals,
        )
        # Only the `limit` largest changes are kept while every lead streams past: memory stays bounded by
        # `limit`, not by the size of the OU.
        top = heapq.nsmallest(limit, outcomes, key=lambda o: (-abs(o[2] - o[1]), o[0]))
        names = lead_names(c, unit_id, [lead_id for lead_id, _, _ in top])
        leads = []
        for lead_id, old_score, new_score in top:
            before, after = _level(levels, old_score), _level(levels, new_score)
            changed = (before.stage_id if before else None) != (after.stage_id if after else None)
            leads.append(BacktestLead(lead_id, old_score, new_score, new_score - old_score, before, after, changed,
                                      names.get(lead_id)))
        level_changes = sum(
            1 for old_score, new_score in totals.moved if _level_key(levels, old_score) != _level_key(levels, new_score)
        )
        return BacktestOut(
            ruleset_id,
            totals.leads,
            totals.leads,
            totals.leads > len(leads),
            len(totals.moved),
            level_changes,
            totals.old_sum,
            totals.new_sum,
            leads,
        )

    return await rt.db.read(run)


class _BacktestTotals:
    """Sums over every lead a backtest replays."""

    def __init__(self) -> None:
        self.leads = 0
        self.old_sum = 0
        self.new_sum = 0
        self.moved: list[tuple[int, int]] = []  # (old, new) of leads whose score changes


def _compare(
    finals: Iterator[tuple[str, dict[str, int]]],
    current: Iterator[tuple[str, int]],
    ruleset_id: str,
    totals: _BacktestTotals,
) -> Iterator[tuple[str, int, int]]:
    """(lead_id, old score, new score) per replayed lead: both inputs are in lead_id order, so they are merged
    as they stream instead of loading either side into memory."""
    pending = next(current, None)
    for lead_id, scores in finals:
        while pending is not None and pending[0] < lead_id:
            pending = next(current, None)
        old_score = pending[1] if pending is not None and pending[0] == lead_id else 0
        new_score = scores.get(ruleset_id, 0)
        totals.leads += 1
        totals.old_sum += old_score
        totals.new_sum += new_score
        if new_score != old_score:
            totals.moved.append((old_score, new_score))
        yield lead_id, old_score, new_score


def _level_key(levels: list[level_engine.Level], score: int) -> str | None:
    hit = level_engine.level_for(levels, score)
    return hit.level_id if hit else None


# -- rules ---------------------------------------------------------------------------------------------------
@get("/rules", opt=access(Role.VIEWER),
     operation_id="listRules", summary="List scoring rules (OU-scoped)", tags=["Rules"])
async def list_rules(
    rt: Runtime,
    tenant: Tenant,
    ruleset_id: str | None = Parameter(
        default=None, required=False, description="Only rules of this ruleset"
    ),
) -> list[RuleOut]:
    """Every rule of the active OU, or of one of its rulesets."""

    def run(c: Any) -> list[dict[str, Any]]:
        if ruleset_id is not None:
            _ruleset_or_404(c, tenant.unit_id, ruleset_id)
        return store.list_rules(c, tenant.unit_id, ruleset_id)

    return [_rule(r) for r in await rt.db.read(run)]


def _primary_or_default(c: Any, tenant: Tenant, actor: str | None, now: int) -> str:
    primary = store.primary_ruleset(c, tenant.unit_id)
    if primary is not None:
        return str(primary["id"])
    name, n = "Default", 2
    while store.ruleset_name_taken(c, tenant.unit_id, name):
        name, n = f"Default {n}", n + 1
    row = store.create_ruleset(
        c,
        tenant.unit_id,
        tenant.org_id,
        ruleset_id=new_id("rs"),
        name=name,
        score_column="total_score",
        is_primary=True,
        created_by=actor,
        now=now,
    )
    return str(row["id"])


@post(
    "/rules", opt=access(Role.OPERATOR),
    operation_id="createRule", summary="Create scoring rule (OU-scoped)", tags=["Rules"]
)
async def create_rule(rt: Runtime, tenant: Tenant, principal: Principal, data: RuleIn) -> RuleOut:
    """A rule in the given ruleset, or in the primary one (created as "Default" when the OU has none)."""
    event_type, key = clean_event_type(data.event_type)
    weight = check_int(data.weight, "weight")
    icon = _icon(data.icon)
    start, end = parse_time(data.start_at, "start_at"), parse_time(data.end_at, "end_at")
    _window(start, end)
    actor = principal.actor_id

    def run(c: Any) -> dict[str, Any]:
        now = rt.now_ms()
        if data.ruleset_id is not None:  # "" is a ruleset id that names none, as on PUT
            ruleset_id = _ruleset_or_404(c, tenant.unit_id, data.ruleset_id)["id"]
        else:
            ruleset_id = _primary_or_default(c, tenant, actor, now)
        return store.create_rule(
            c,
            tenant.unit_id,
            tenant.org_id,
            rule_id=new_id("rl"),
            ruleset_id=ruleset_id,
            event_type=event_type,
            type_key=key,
            weight=weight,
            icon=icon,
            active=data.active,
            start_at=start,
            end_at=end,
            actor=actor,
            now=now,
        )

    return _rule(await write_config(rt, tenant.unit_id, run))


@put(
    "/rules/{rule_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="updateRule",
    summary="Update scoring rule (OU-scoped)",
    tags=["Rules"],
)
async def update_rule(
    rt: Runtime, tenant: Tenant, principal: Principal, rule_id: str, data: RulePatch
) -> RuleOut:
    """Change the fields given; a `ruleset_id` moves the rule to another ruleset of the OU."""
    fields: dict[str, Any] = {}
    if given(data.event_type):
        fields["event_type"], fields["type_key"] = clean_event_type(data.event_type)  # type: ignore[arg-type]
    if given(data.weight):
        fields["weight"] = check_int(data.weight, "weight")  # type: ignore[arg-type]
    if given(data.icon):
        fields["icon"] = _icon(data.icon)  # type: ignore[arg-type]
    if given(data.active):
        fields["active"] = int(data.active)  # type: ignore[arg-type]
    if given(data.start_at):
        fields["start_at"] = parse_time(data.start_at, "start_at")  # type: ignore[arg-type]
    if given(data.end_at):
        fields["end_at"] = parse_time(data.end_at, "end_at")  # type: ignore[arg-type]

    def run(c: Any) -> dict[str, Any]:
        current = store.get_rule(c, tenant.unit_id, rule_id)
        if current is None:
            raise not_found("rule")
        if given(data.ruleset_id) and data.ruleset_id != current["ruleset_id"]:
            fields["ruleset_id"] = _ruleset_or_404(c, tenant.unit_id, data.ruleset_id)["id"]  # type: ignore[arg-type]
        _window(fields.get("start_at", current["start_at"]), fields.get("end_at", current["end_at"]))
        return store.update_rule(c, tenant.unit_id, rule_id, fields, principal.actor_id, rt.now_ms())  # type: ignore[return-value]

    return _rule(await write_config(rt, tenant.unit_id, run))


@delete(
    "/rules/{rule_id:str}",
    opt=access(Role.OPERATOR),
    operation_id="deleteRule",
    summary="Delete scoring rule (OU-scoped)",
    tags=["Rules"],
)
async def delete_rule(rt: Runtime, tenant: Tenant, rule_id: str) -> None:
    """Delete a rule; scores already given stay until the ruleset is rescored."""

    def run(c: Any) -> None:
        if not store.delete_rule(c, tenant.unit_id, rule_id):
            raise not_found("rule")

    await write_config(rt, tenant.unit_id, run)


ROUTES = [
    list_rulesets,
    create_ruleset,
    update_ruleset,
    delete_ruleset,
    list_ruleset_rules,
    rescore_ruleset,
    backtest_ruleset,
    list_rules,
    create_rule,
    update_rule,
    delete_rule,
]
