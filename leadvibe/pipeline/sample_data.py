"""Seed and wipe sample data (SEMANTICS §9): what `POST /admin/seed`, `leadvibe seed` and `POST /admin/wipe` run.

Seeding writes the demo's configuration, companies and people through the ordinary store functions in one
transaction (refused with 409 when the OU already holds sample data, so nothing is ever duplicated), marks every
row `source = 'seed'`, then queues the demo's events in the inbox like any client's (`source = 'seed'`): the
worker scores them with the real scoring code, so a seeded lead's score is the sum of its stored deltas like any
other lead's. Seeded events fire no triggers (`skip_triggers`): sample data never notifies anyone, and the demo
triggers' webhook is disabled besides.

The demo's accounts need account-based marketing, an organization-wide toggle (SEMANTICS §6; the account
endpoints answer 403 without it). The seed turns it on when it is off, the caller is an organization admin (or
the command line) and the organization holds no leads of its own, and remembers that it did: wiping that OU's
sample data turns it off again, unless an admin has set the toggle since. Otherwise it is left as it is, and the
seed's output says why.

Seeded configuration acts on the whole OU while it exists (a seeded decay rule decays real leads too, seeded
profile rules score real leads). Wiping removes it and its effects: the DECAY events it gave real leads (their
scores are replayed), the per-event scores of seeded rulesets, and real leads' profile and account scores are
recomputed. Property values seeded mappings copied from real events into real leads stay: they came from real
events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import apsw

from leadvibe.engine.normalize import type_key
from leadvibe.errors import conflict
from leadvibe.ids import new_id
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.rescore import rescore_leads
from leadvibe.pipeline.scoring_config import load_config
from leadvibe.pipeline.worker import process_batch
from leadvibe.seed_data import (
    ACCOUNT_LEVELS,
    ACCOUNT_MAPPINGS,
    ACCOUNT_RULES,
    DEMO_WEBHOOK,
    ENGAGEMENT_LEVELS,
    ENGAGEMENT_RULES,
    PROFILE_LEVELS,
    PROFILE_MAPPINGS,
    PROFILE_RULES,
    SEGMENT,
    Demo,
    build_demo,
)
from leadvibe.store import accounts as account_store
from leadvibe.store import decay as decay_store
from leadvibe.store import fit as fit_store
from leadvibe.store import inbox as inbox_store
from leadvibe.store import leads as lead_store
from leadvibe.store import sample_data as store
from leadvibe.store import scoring as scoring_store
from leadvibe.store import segments as segment_store
from leadvibe.store import triggers as trigger_store
from leadvibe.timeutil import to_rfc3339

if TYPE_CHECKING:
    from leadvibe.runtime import Runtime

SEED = store.SEED


@dataclass
class SeedResult:
    """What the seed wrote."""

    counts: dict[str, int]
    output: str
    abm_enabled: bool


class _Recorder:
    """Collects the ids of the rows the seed creates, per table, to mark them as sample data."""

    def __init__(self) -> None:
        self.ids: dict[str, list[str]] = {}

    def add(self, table: str, row_id: str) -> str:
        self.ids.setdefault(table, []).append(row_id)
        return row_id

    def mark(self, conn: apsw.Connection, unit_id: str) -> dict[str, int]:
        for table, ids in self.ids.items():
            store.mark_seeded(conn, unit_id, table, ids)
        return {table: len(ids) for table, ids in self.ids.items()}


def _engagement(conn: apsw.Connection, unit_id: str, org_id: str, rec: _Recorder, now: int) -> None:
    primary = scoring_store.primary_ruleset(conn, unit_id) is None
    ruleset = rec.add("rulesets", new_id("rs"))
    # Ruleset names are unique in an OU: the id's tail only when the OU already has one by the plain name.
    name = "Demo engagement"
    if scoring_store.ruleset_name_taken(conn, unit_id, name):
        name = f"{name} {ruleset[-4:]}"
    scoring_store.create_ruleset(conn, unit_id, org_id, ruleset_id=ruleset, name=name,
                                 score_column="demo_score", is_primary=primary, created_by=SEED, now=now)
    for event_type, weight in ENGAGEMENT_RULES.items():
        scoring_store.create_rule(conn, unit_id, org_id, rule_id=rec.add("rules", new_id("rl")), ruleset_id=ruleset,
                                  event_type=event_type, type_key=type_key(event_type), weight=weight, icon=None,
                                  active=True, start_at=None, end_at=None, actor=SEED, now=now)
    for kind, bands in (("engagement", ENGAGEMENT_LEVELS), ("profile", PROFILE_LEVELS),
                        ("account", ACCOUNT_LEVELS)):
        if scoring_store.list_levels(conn, unit_id, kind):
            continue  # the OU's own bands stay the only ones: demo bands beside them would overlap by name and range
        for name, low, high in bands:
            scoring_store.create_level(conn, unit_id, org_id, level_id=rec.add("levels", new_id("lv")), kind=kind,
                                       name=name, min_score=low, max_score=high, actor=SEED, now=now)
    decay_store.create_rule(conn, unit_id, org_id, rule_id=rec.add("decay_rules", new_id("dc")), inactive_for=14,
                            unit="days", decrease=10, actor=SEED, now=now, source=SEED)


def _fit(conn: apsw.Connection, unit_id: str, org_id: str, rec: _Recorder, now: int) -> None:
    base = {"org_id": org_id, "unit_id": unit_id, "created_by": SEED, "updated_by": SEED, "created_at": now,
            "updated_at": now}
    existing = {(m["target"], m["property"]) for m in fit_store.MAPPINGS.list(conn, unit_id)}
    for target, mappings in (("profile", PROFILE_MAPPINGS), ("account", ACCOUNT_MAPPINGS)):
        for source_field, prop, behavior in mappings:
            if (target, prop) in existing:
                continue  # the OU already fills that property its own way
            fit_store.MAPPINGS.insert(conn, {**base, "id": rec.add("field_mappings", new_id("pm")), "target": target,
                                             "source_field": source_field, "property": prop,
                                             "update_behavior": behavior})
    for target, rules, name in (("profile", PROFILE_RULES, "Demo ideal customer"),
                                ("account", ACCOUNT_RULES, "Demo target accounts")):
        ruleset = rec.add("fit_rulesets", new_id("prs"))
        fit_store.RULESETS.insert(conn, {**base, "id": ruleset, "target": target, "name": name, "enabled": 1,
                                         "is_primary": 0})
        if fit_store.scoring_rules(conn, unit_id, target)[0] is None:
            fit_store.set_primary(conn, unit_id, target, ruleset, now)
        for order, (prop, condition, value, weight) in enumerate(rules):
            fit_store.RULES.insert(conn, {**base, "id": rec.add("fit_rules", new_id("pr")), "ruleset_id": ruleset,
                                          "property": prop, "condition": condition, "comparison_value": value,
                                          "weight": weight, "ui_order": order})


def _segment_and_triggers(conn: apsw.Connection, unit_id: str, org_id: str, rec: _Recorder, now: int) -> None:
    base = {"org_id": org_id, "unit_id": unit_id, "created_by": SEED, "updated_by": SEED, "created_at": now,
            "updated_at": now}
    segment = rec.add("segments", new_id("sg"))
    segment_store.SEGMENTS.insert(conn, {**base, "id": segment, "name": SEGMENT["name"],
                                         "description": SEGMENT["description"], "active": 1})
    for order, rule in enumerate(SEGMENT["rules"]):
        event_type = rule.get("event_type")
        segment_store.RULES.insert(conn, {
            **base, "id": rec.add("segment_rules", new_id("sr")), "segment_id": segment, "rule_name": "",
            "rule_type": rule["rule_type"], "field_name": rule["field_name"], "operator": rule["operator"],
            "value": rule["value"], "event_type": event_type, "type_key": type_key(event_type) if event_type else None,
            "logic_group": rule["logic_group"], "logic_op": "AND", "order_index": order, "active": 1})
    disabled = {"webhook_url": DEMO_WEBHOOK, "webhook_disabled_at": now, "source": SEED}
    trigger_store.create_trigger(conn, unit_id, org_id, rec.add("triggers", new_id("tr")), "milestone", {
        **disabled, "name": "Demo: lead turns hot", "event_type": "", "type_key": None, "score_threshold": 60,
        "profile_filters": [{"field": "email_domain_type", "operator": "equals", "value": "business"}]}, SEED, now)
    trigger_store.create_trigger(conn, unit_id, org_id, rec.add("triggers", new_id("tr")), "pattern", {
        **disabled, "name": "Demo: pricing interest", "window_amount": 7, "window_unit": "days",
        "conditions": [{"event_type": "pricing_view", "min_count": 2}]}, SEED, now)


def _people(rt: Runtime, conn: apsw.Connection, unit_id: str, org_id: str, demo: Demo, rec: _Recorder,
            now: int) -> dict[str, str]:
    """Companies and people; returns demo key -> lead id."""
    accounts: dict[str, str] = {}
    for company in demo.companies:
        account_id = rec.add("accounts", new_id("ac"))
        # Created (and last changed) when its first person appeared, not at load time.
        account_store.insert_account(conn, unit_id, org_id, {**company, "id": account_id, "source": SEED,
                                                             "created_by": SEED}, company["created_at"])
        accounts[company["domain"]] = account_id
    writer = rt.fit.writer(conn, now, cached=False)
    lead_ids: dict[str, str] = {}
    for lead in demo.leads:
        lead_id = rec.add("leads", new_id("ld"))
        lead_store.insert_lead(conn, unit_id, org_id, lead_id, "{}", None, lead.created_at, source=SEED)
        account = accounts[lead.account_domain] if lead.account_domain else None
        writer.write_metadata(unit_id, lead_id, lead.metadata, lead.metadata, account)
        lead_ids[lead.key] = lead_id
    return lead_ids


def _queued(demo: Demo, lead_ids: dict[str, str], now: int) -> list[inbox_mod.QueuedEvent]:
    """The demo's events, validated exactly as `POST /ingest` validates a client's."""
    seen: set[str] = set()
    out = []
    for lead, ev in demo.events:
        # The first event names the person's email, as a website form would.
        aliases = None if lead.key in seen else [inbox_mod.AliasIn(alias_kind="email", raw_value=lead.email)]
        seen.add(lead.key)
        body = inbox_mod.IngestEvent(event_type=ev["type"], lead_id=lead_ids[lead.key], aliases=aliases,
                                     timestamp=to_rfc3339(ev["ts"]), metadata=ev["meta"])
        out.append(inbox_mod.validate(body, now))
    return out


_ABM_LINES: dict[store.AbmForSample, str] = {
    "already_on": "account-based marketing is on: the demo's accounts are listed under /accounts",
    "turned_on": "account-based marketing was off and is now on for the organization (it holds no leads of its own),"
                 " so the demo's accounts are listed under /accounts; POST /admin/wipe turns it off again",
    "needs_admin": "account-based marketing is off, so /accounts answers 403: it applies to every OU, and an"
                   " organization admin turns it on (abm_enabled in /settings/scoring)",
    "own_leads": "account-based marketing is off and stays off, so /accounts answers 403: it applies to every OU,"
                 " and the organization holds leads of its own; abm_enabled in /settings/scoring turns it on",
}


async def seed(rt: Runtime, org_id: str, unit_id: str, *, may_enable_abm: bool) -> SeedResult:
    """Load the demo into the OU; 409 when it already holds sample data. Events are queued for the worker
    (returns once they are durable in the inbox). `may_enable_abm`: the caller may change the organization's ABM
    toggle (an organization admin, or the command line)."""
    now = rt.now_ms()
    demo = build_demo(now)

    def write(conn: apsw.Connection) -> tuple[dict[str, int], dict[str, str], store.AbmForSample]:
        if store.holds_sample_data(conn, unit_id):
            raise conflict("this OU already holds sample data; remove it with POST /admin/wipe before seeding again")
        rec = _Recorder()
        _engagement(conn, unit_id, org_id, rec, now)
        _fit(conn, unit_id, org_id, rec, now)
        _segment_and_triggers(conn, unit_id, org_id, rec, now)
        lead_ids = _people(rt, conn, unit_id, org_id, demo, rec, now)
        for target in ("profile", "account"):
            rt.fit.request_rescore(conn, unit_id, target, now)  # seeded rules score the OU's real leads too
        for segment_id in rec.ids.get("segments", []):
            rt.fit.rebuild_segment(conn, unit_id, segment_id, now)
        counts = rec.mark(conn, unit_id)
        # After the demo's leads are marked: they are not leads of the organization's own.
        abm = store.turn_on_abm_for_sample(conn, unit_id, may=may_enable_abm, now=now)
        return counts, lead_ids, abm

    counts, lead_ids, abm = await rt.db.write(write)
    await _invalidate(rt, org_id if abm == "turned_on" else None, unit_id)
    events = _queued(demo, lead_ids, now)
    await rt.inbox.submit(org_id, unit_id, events, source=SEED, skip_triggers=True)
    rt.fit.poke()
    counts["events"] = len(events)
    lines = [
        f"seeded {counts.get('leads', 0)} leads at {counts.get('accounts', 0)} accounts",
        f"queued {len(events)} events over the last 30 days for scoring (source=seed, triggers skipped)",
        f"configuration: {counts.get('rulesets', 0)} engagement ruleset with {counts.get('rules', 0)} rules,"
        f" {counts.get('levels', 0)} levels, {counts.get('decay_rules', 0)} decay rule,"
        f" {counts.get('fit_rulesets', 0)} profile/account rulesets with {counts.get('fit_rules', 0)} rules,"
        f" {counts.get('field_mappings', 0)} field mappings, {counts.get('segments', 0)} segment,"
        f" {counts.get('triggers', 0)} triggers (webhook disabled)",
        _ABM_LINES[abm],
        "POST /admin/wipe removes all of it",
    ]
    return SeedResult(counts, "\n".join(lines), abm in ("already_on", "turned_on"))


async def _invalidate(rt: Runtime, org_id: str | None, unit_id: str) -> None:
    """Drop the cached configuration of the OU, and of every OU of `org_id` when the organization-wide ABM toggle
    changed (each OU's cached configuration holds it)."""
    units = await rt.db.read(lambda c: scoring_store.org_unit_ids(c, org_id)) if org_id else [unit_id]
    for unit in units:
        rt.scoring_config.invalidate(unit)
        rt.fit.invalidate(unit)
    rt.invalidate_triggers(unit_id)


async def wipe(rt: Runtime, org_id: str, unit_id: str) -> dict[str, int]:
    """Remove the OU's sample data and its effects, and turn ABM off again if its seed turned it on; counts per
    table."""
    now = rt.now_ms()
    # The demo's events not scored yet first: a worker batch that read them before this commit writes what they
    # brought before the removal below takes the writer, which then removes it; a later batch no longer sees them.
    pending = await rt.inbox_db.write(lambda c: inbox_store.delete_unit_source(c, unit_id, SEED))

    abm_restored = False

    def write(conn: apsw.Connection) -> dict[str, int]:
        nonlocal abm_restored
        # First, so that the re-scores below run without ABM when it goes.
        abm_restored = store.restore_abm_after_sample(conn, unit_id, now)
        counts, touched, kept_segments = store.wipe(conn, unit_id, now)
        if pending:
            counts["inbox"] = pending
        for segment_id in kept_segments:  # kept for the user's own rules, without the sample ones
            rt.fit.rebuild_segment(conn, unit_id, segment_id, now)
        if touched:
            # Real leads a seeded decay rule had decayed, or a sample rule of a ruleset kept for the user's own had
            # scored: replay them with what is left of the configuration.
            live = sorted(lead_store.live_ids(conn, unit_id, touched))
            rescore_leads(conn, load_config(conn, unit_id), live, now)
            counts["leads_rescored"] = len(live)
        for target in ("profile", "account"):
            rt.fit.request_rescore(conn, unit_id, target, now)
        return counts

    try:
        counts = await rt.db.write(write)
    finally:
        await _invalidate(rt, org_id if abm_restored else None, unit_id)
    rt.fit.poke()
    return counts


async def settle(rt: Runtime, batch: int = 500) -> int:
    """Without a running worker (the command line): score everything queued in the inbox, then finish the
    pending re-scores. Returns how many events were processed."""
    done = 0
    while True:
        try:
            result = await rt.db.write(lambda c: process_batch(rt, c, batch), alone=True)
        except Exception:
            # As the worker does: re-run the batch event by event, setting a failing one aside.
            result = await rt.db.write(lambda c: process_batch(rt, c, batch, careful=True), alone=True)
        if result.processed + result.failed == 0:
            break
        rt.inbox.handled(result.last_seq)
        done += result.processed
    await rt.fit.run_pending()
    return done
