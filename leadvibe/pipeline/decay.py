"""The decay scheduler: every `decay_interval` seconds, one pass records DECAY events for inactive leads.

A pass visits only OUs with active decay rules. For each rule (shortest inactivity first, so rules stack in
order) it finds the due leads with set-based SQL (`store.decay.due_leads`) and records each lead's DECAY event
through the worker's `apply_decay`, in bounded write transactions: finding and applying happen in the same
transaction, so an organic event that arrives meanwhile can never be decayed against. Time comes from
`rt.now_ms()`, so tests drive it with a ManualClock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import apsw
import structlog

from leadvibe.pipeline.periodic import Periodic
from leadvibe.runtime import Runtime
from leadvibe.store import decay as decay_store

log = structlog.get_logger("leadvibe.decay")

BATCH = 500  # leads per write transaction: short enough not to hold ingestion behind a long write


@dataclass
class PassResult:
    """What one pass did."""

    units: int = 0
    applied: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    publications: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _apply_batch(
    rt: Runtime,
    conn: apsw.Connection,
    unit_id: str,
    rule: dict[str, Any],
    now: int,
    after: tuple[int, int],
    result: PassResult,
) -> tuple[tuple[int, int], int]:
    """Find up to BATCH due leads after the keyset `after` and decay them; (new keyset, leads found)."""
    from leadvibe.pipeline.worker import (
        apply_decay_many,  # the lead's module; imported late to keep start-up order free
    )

    due = decay_store.due_leads(conn, unit_id, rule["id"], now - int(rule["inactive_ms"]), after, BATCH)
    if not due:
        return after, 0
    cfg = rt.scoring_config.get(conn, unit_id)
    triggers = rt.triggers
    applied = apply_decay_many(conn, cfg, [lead_id for lead_id, _, _ in due], rule["id"], int(rule["decrease"]),
                               now, now)
    for lead_id, _, _ in due:
        info = applied.get(lead_id)
        if info is None:
            continue
        result.applied += 1
        result.by_rule[rule["id"]] = result.by_rule.get(rule["id"], 0) + 1
        if triggers is not None and hasattr(triggers, "on_score_change"):
            # Decay lowers scores: milestone triggers re-arm once the lead drops below them.
            triggers.on_score_change(conn, unit_id, lead_id, int(info.get("primary_score", 0)), now)
        result.publications.append((unit_id, lead_id, info))
    last = due[-1]
    return (last[1], last[2]), len(due)


async def run_pass(rt: Runtime) -> PassResult:
    """One decay pass over every OU with active rules, at `rt.now_ms()`."""
    now = rt.now_ms()
    result = PassResult()
    units = await rt.db.read(decay_store.units_with_rules)
    for unit_id in units:
        result.units += 1
        rules = await rt.db.read(lambda c, u=unit_id: decay_store.active_rules(c, u))
        for rule in rules:
            after = (-1, -1)
            while True:
                after, found = await rt.db.write(
                    lambda c, u=unit_id, r=rule, a=after: _apply_batch(rt, c, u, r, now, a, result)
                )
                if found < BATCH:
                    break
    _publish(rt, result)
    if result.applied:
        log.info("decay_pass", units=result.units, applied=result.applied, rules=result.by_rule)
    return result


def _publish(rt: Runtime, result: PassResult) -> None:
    """Tell /stream listeners about decayed scores (after commit), as the worker does for events."""
    hub = rt.stream
    if hub is not None:
        for unit_id, lead_id, info in result.publications:
            scores = info.get("scores", {})
            for ruleset_id, delta in info.get("deltas", {}).items():
                if delta:
                    hub.publish(
                        unit_id,
                        "score_update",
                        {
                            "lead_id": lead_id,
                            "ruleset_id": ruleset_id,
                            "delta": delta,
                            "score": scores.get(ruleset_id, 0),
                        },
                    )
    result.publications.clear()


def decay_scheduler(rt: Runtime) -> Periodic:
    """The background task (registered in app.background_services)."""

    async def tick() -> None:
        await run_pass(rt)

    return Periodic("decay", rt.settings.decay_interval, tick)
