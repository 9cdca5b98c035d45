"""The trigger evaluator: runs inside the worker's write transaction for every eligible event.

`TriggerService.on_event` decides, through the pure step functions of `engine/triggers.py`, whether the event
fires any milestone, sequence, pattern or surge trigger of its OU; a firing records an emitted event (or a
surge
event), one durable delivery per destination, and returns the SSE publications the worker sends after commit.
`simulate_trigger` replays stored events through the same engine code for the simulate endpoints.

It runs for every event, so it must be cheap: an OU's compiled triggers are cached in memory (dropped by
`invalidate` from the CRUD and Slack writes), and an OU without triggers costs one dict lookup.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw
import structlog

from leadvibe.engine import triggers as eng
from leadvibe.engine.conditions import Condition, SegmentRule, lookup, matches
from leadvibe.engine.normalize import type_key as normalize_type
from leadvibe.ids import new_id
from leadvibe.store import deliveries as delivery_store
from leadvibe.store import integrations as integration_store
from leadvibe.store import segments as segment_store
from leadvibe.store import triggers as store
from leadvibe.timeutil import to_rfc3339

if TYPE_CHECKING:
    from leadvibe.pipeline.worker import EventContext

log = structlog.get_logger("leadvibe.triggers")

DAY_MS = 86_400_000


# ------------------------------------------------------------------------------------------------ compiling


SEGMENT_FIELD = "segment"


def segment_ids(item: Mapping[str, Any]) -> list[str]:
    """The segment ids a `segment` filter names (its value, comma-separated for `in`)."""
    return [part.strip() for part in str(item.get("value") or "").split(",") if part.strip()]


def compile_filters(row: Mapping[str, Any]) -> tuple[Condition, ...]:
    """The trigger's profile and lead-attribute filters as conditions on what `store.lead_metadata` gives (the
    lead's properties, `profile_score`, `profile_level`) plus `segment`: the ids of the filters' segments the
    lead is in. All must hold."""
    out = []
    for item in [*(row.get("profile_filters") or []), *(row.get("lead_attribute_filters") or [])]:
        out.append(Condition(str(item["field"]), str(item["operator"]), item.get("value")))
    return tuple(out)


def filter_segments(conn: apsw.Connection, unit_id: str, row: Mapping[str, Any]) -> dict[str, list[SegmentRule]]:
    """The rules of every segment the trigger's filters name (a deleted segment has none: nobody is in it)."""
    ids = {sid for item in [*(row.get("profile_filters") or []), *(row.get("lead_attribute_filters") or [])]
           if item.get("field") == SEGMENT_FIELD for sid in segment_ids(item)}
    return {sid: segment_store.active_rules(conn, unit_id, sid) for sid in sorted(ids)}


def filter_values(conn: apsw.Connection, unit_id: str, lead_id: str,
                  segments: Mapping[str, Sequence[SegmentRule]]) -> dict[str, Any]:
    """What a lead's filters are tested against (its segment memberships only when a filter asks)."""
    values = store.lead_metadata(conn, unit_id, lead_id)
    if segments:
        values[SEGMENT_FIELD] = segment_store.lead_in_segments(conn, unit_id, lead_id, dict(segments))
    return values


def compile_engine(row: Mapping[str, Any]) -> eng.Milestone | eng.WindowTrigger:
    """The engine object for a stored trigger row (raises ValueError for an invalid definition)."""
    kind = row["kind"]
    if kind == "milestone":
        return eng.Milestone(row["id"], row["type_key"] or None, int(row["score_threshold"]))
    window = eng.window_ms(int(row["window_amount"]), row["window_unit"])
    if kind == "sequence":
        steps = tuple(normalize_type(s) for s in row["event_steps"] or [])
        return eng.SequenceTrigger(row["id"], steps, window, bool(row["ordered"]), row["fire_mode"] or "once")
    if kind == "pattern":
        conditions = tuple(
            (normalize_type(c["event_type"]), int(c["min_count"])) for c in row["conditions"] or []
        )
        return eng.PatternTrigger(row["id"], conditions, window)
    if kind == "surge":
        return eng.SurgeTrigger(row["id"], row["type_key"] or None, window, int(row["threshold_count"]))
    raise ValueError(f"unknown trigger kind {kind!r}")


@dataclass(frozen=True)
class Compiled:
    """A trigger ready for evaluation: its stored row, engine object and filters."""

    row: dict[str, Any]
    engine: Any
    filters: tuple[Condition, ...]
    segments: dict[str, list[SegmentRule]] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The trigger id."""
        return str(self.row["id"])

    @property
    def kind(self) -> str:
        """milestone, sequence, pattern or surge."""
        return str(self.row["kind"])


def passes_filters(filters: Sequence[Condition], metadata: Mapping[str, Any]) -> bool:
    """Whether a lead's metadata satisfies every filter condition."""
    return all(matches(c.op, lookup(metadata, c.field), c.value) for c in filters)


@dataclass
class OUTriggers:
    """An OU's active triggers, compiled, plus what notification routing needs."""

    milestones: list[Compiled] = field(default_factory=list)
    windows: list[Compiled] = field(default_factory=list)
    horizon_ms: int = 0
    slack_connected: bool = False
    slack_default: tuple[str, str] | None = None

    @property
    def empty(self) -> bool:
        """No active trigger at all."""
        return not self.milestones and not self.windows


def load_ou(conn: apsw.Connection, unit_id: str) -> OUTriggers:
    """Compile every active trigger of the OU (a broken stored definition is logged and skipped)."""
    ou = OUTriggers()
    for row in store.active_triggers(conn, unit_id):
        try:
            compiled = Compiled(row, compile_engine(row), compile_filters(row), filter_segments(conn, unit_id, row))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("trigger_skipped", trigger_id=row["id"], reason=str(exc))
            continue
        (ou.milestones if row["kind"] == "milestone" else ou.windows).append(compiled)
    ou.horizon_ms = eng.history_horizon_ms(c.engine for c in ou.windows)
    install = integration_store.slack_install(conn, unit_id)
    if install is not None:
        ou.slack_connected = install["bot_token"] is not None
        if install["default_target_kind"] and install["default_target_id"]:
            ou.slack_default = (install["default_target_kind"], install["default_target_id"])
    return ou


# ------------------------------------------------------------------------------------------------ the service


class TriggerService:
    """`rt.triggers`: evaluation in the worker transaction, with a per-OU definition cache."""

    def __init__(self) -> None:
        self._cache: dict[str, OUTriggers] = {}
        # CRUD invalidates from the writer thread (inside its write) and the worker reads there too; the lock
        # only guards the dict against the event-loop thread invalidating at the same moment.
        self._lock = threading.Lock()
        # Told of every invalidation: the worker process keeps a cache of its own (pipeline.worker_process).
        self.listener: Callable[[str], None] | None = None

    def invalidate(self, unit_id: str) -> None:
        """Forget an OU's compiled triggers; the next event reloads them."""
        with self._lock:
            self._cache.pop(unit_id, None)
        if self.listener is not None:
            self.listener(unit_id)

    def triggers_for(self, conn: apsw.Connection, unit_id: str) -> OUTriggers:
        """The OU's compiled triggers (loaded within the caller's connection on a miss)."""
        with self._lock:
            cached = self._cache.get(unit_id)
        if cached is not None:
            return cached
        loaded = load_ou(conn, unit_id)
        with self._lock:
            self._cache[unit_id] = loaded
        return loaded

    #  worker hooks ------------------------------------------------------------------------------------------

    def on_event(self, conn: apsw.Connection, ctx: EventContext) -> list[tuple[str, dict[str, Any]]]:
        """Evaluate every active trigger of the event's OU for this event; record firings and deliveries.

        Called only for events in `activate` scope that are organic and not imported with `skip_triggers`.
        Returns `("trigger_fired" | "surge", data)` publications for the stream.
        """
        ou = self.triggers_for(conn, ctx.unit_id)
        if ou.empty:
            return []
        states = store.lead_states(conn, ctx.unit_id, ctx.lead_id)

        def eligible(c: Compiled) -> bool:
            if not c.filters:
                return True
            return passes_filters(c.filters, filter_values(conn, ctx.unit_id, ctx.lead_id, c.segments))

        out: list[tuple[str, dict[str, Any]]] = []
        if ctx.primary_ruleset_id is not None:  # milestones watch the primary score; without one nothing moves
            for c in ou.milestones:
                if self._milestone_step(conn, ctx, c, states.get(c.id), eligible):
                    out.append(self._fire(conn, ctx, c, ou))
        if ou.windows:
            history = [
                eng.HistEvent(e, t, ts)
                for e, t, ts in store.lead_history(
                    conn, ctx.unit_id, ctx.lead_id, ctx.occurred_at - ou.horizon_ms, ctx.event_seq
                )
            ]
            history.append(eng.HistEvent(ctx.event_id, ctx.type_key, ctx.occurred_at))
            for c in ou.windows:
                if self._window_step(conn, ctx, c, states.get(c.id), history, eligible):
                    out.append(self._fire(conn, ctx, c, ou))
        return out

    @staticmethod
    def _milestone_step(
        conn: apsw.Connection,
        ctx: EventContext,
        c: Compiled,
        st: dict[str, Any] | None,
        eligible: Callable[[Compiled], bool],
    ) -> bool:
        """Advance one milestone for the event (saving its armed flag when it changes); True = fire."""
        armed = bool(st["armed"]) if st else True
        fire, armed_after = eng.milestone_step(c.engine, armed, ctx.type_key, ctx.primary_after)
        if fire and not eligible(c):
            # The lead does not match the trigger's filters: no firing, and it stays armed.
            fire, armed_after = False, armed
        if armed_after != armed:
            store.save_state(conn, ctx.unit_id, c.id, ctx.lead_id, armed=armed_after, now=ctx.now)
        return fire

    @staticmethod
    def _window_step(
        conn: apsw.Connection,
        ctx: EventContext,
        c: Compiled,
        st: dict[str, Any] | None,
        history: list[eng.HistEvent],
        eligible: Callable[[Compiled], bool],
    ) -> bool:
        """Advance one sequence/pattern/surge trigger over the lead's history; a firing saves its new state."""
        state: Any
        if isinstance(c.engine, eng.SequenceTrigger):
            state = (
                eng.SequenceState(st["last_completion_ts"], st["last_completion_event_id"])
                if st
                else eng.SequenceState()
            )
        else:
            state = store.fired_times(st)
        fire, after = eng.step(c.engine, history, state)
        if not fire or not eligible(c):
            return False
        if isinstance(after, eng.SequenceState):
            store.save_state(
                conn,
                ctx.unit_id,
                c.id,
                ctx.lead_id,
                last_completion_ts=after.last_completion_ts,
                last_completion_event_id=after.last_completion_event_id,
                now=ctx.now,
            )
        else:
            store.save_state(conn, ctx.unit_id, c.id, ctx.lead_id, fired=after, now=ctx.now)
        return True

    def on_score_change(
        self, conn: apsw.Connection, unit_id: str, lead_id: str, primary_score: int, now: int
    ) -> None:
        """After decay or a rescore: re-arm the lead's milestones whose threshold is now above its score."""
        ou = self.triggers_for(conn, unit_id)
        below = [c.id for c in ou.milestones if eng.milestone_rearm(c.engine, False, primary_score)]
        store.rearm(conn, unit_id, lead_id, below, now)

    #  firing ------------------------------------------------------------------------------------------------

    def _fire(
        self, conn: apsw.Connection, ctx: EventContext, c: Compiled, ou: OUTriggers
    ) -> tuple[str, dict[str, Any]]:
        row = c.row
        name = row["name"] or c.id
        if c.kind == "surge":
            emitted_id = new_id("se")
            store.record_surge_event(
                conn,
                ctx.unit_id,
                ctx.org_id,
                surge_id=emitted_id,
                trigger_id=c.id,
                lead_id=ctx.lead_id,
                event_id=ctx.event_id,
                event_type=ctx.event_type,
                channel=ctx.channel,
                window_ms=c.engine.window_ms,
                threshold=c.engine.threshold_count,
                score_after=ctx.primary_after,
                occurred_at=ctx.occurred_at,
                fired_at=ctx.now,
            )
        else:
            emitted_id = new_id("te")
            store.record_trigger_event(
                conn,
                ctx.unit_id,
                ctx.org_id,
                event_row_id=emitted_id,
                trigger_id=c.id,
                kind=c.kind,
                trigger_name=name,
                lead_id=ctx.lead_id,
                event_id=ctx.event_id,
                event_type=ctx.event_type,
                score_before=ctx.primary_before,
                score_after=ctx.primary_after,
                level=ctx.level_name,
                fired_at=ctx.now,
            )
        payload = webhook_payload(emitted_id, c.kind, c.id, name, ctx)
        create_deliveries(
            conn, ctx.unit_id, ctx.org_id, row, ou, emitted_id, payload, ctx.received_at, ctx.now
        )
        data = {
            "id": emitted_id,
            "trigger_id": c.id,
            "kind": c.kind,
            "name": name,
            "lead_id": ctx.lead_id,
            "event_id": ctx.event_id,
            "event_type": ctx.event_type,
            "score": ctx.primary_after,
            "level": ctx.level_name,
            "fired_at": payload["fired_at"],
        }
        if c.kind == "surge":
            data["channel"] = ctx.channel
            return "surge", data
        return "trigger_fired", data


def webhook_payload(
    emitted_id: str, kind: str, trigger_id: str, name: str, ctx: EventContext
) -> dict[str, Any]:
    """The JSON body a webhook receives (also the data email and Slack messages are rendered from)."""
    return {
        "id": emitted_id,
        "type": f"{kind}.fired",
        "trigger": {"id": trigger_id, "kind": kind, "name": name},
        "lead": {"id": ctx.lead_id, "score": ctx.primary_after, "level": ctx.level_name},
        "event": {
            "id": ctx.event_id,
            "type": ctx.event_type,
            "occurred_at": to_rfc3339(ctx.occurred_at),
            "channel": ctx.channel,
        },
        "fired_at": to_rfc3339(ctx.now),
    }


def create_deliveries(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    row: Mapping[str, Any],
    ou: OUTriggers,
    emitted_id: str,
    payload: dict[str, Any],
    received_at: int | None,
    now: int,
) -> int:
    """One pending delivery per destination of the trigger: its webhook (unless disabled by a 410), each email
    address, and Slack (the trigger's own target, else the OU default when Slack is connected)."""
    made: list[tuple[str, str, dict[str, Any]]] = []
    if row.get("webhook_url") and row.get("webhook_disabled_at") is None:
        made.append(("webhook", row["webhook_url"], {}))
    templates = {
        "subject": row.get("email_subject"),
        "preheader": row.get("email_preheader"),
        "message": row.get("email_message"),
    }
    for address in row.get("emails") or []:
        made.append(("email", address, templates))
    target: tuple[str, str] | None = None
    if row.get("slack_target_kind") and row.get("slack_target_id"):
        target = (
            row["slack_target_kind"],
            row["slack_target_id"],
        )  # explicit: a delivery even if disconnected
    elif ou.slack_connected and ou.slack_default is not None:
        target = ou.slack_default
    if target is not None:
        made.append(("slack", f"{target[0]}:{target[1]}", {"target_kind": target[0], "target_id": target[1]}))
    for kind, destination, options in made:
        delivery_store.create_delivery(
            conn,
            unit_id,
            org_id,
            delivery_id=new_id("dl"),
            emitted_id=emitted_id,
            trigger_id=row["id"],
            kind=kind,
            destination=destination,
            payload=payload,
            options=options,
            webhook_id=new_id("msg"),
            event_received_at=received_at,
            now=now,
        )
    return len(made)


# ------------------------------------------------------------------------------------------------ simulation


def simulate_trigger(
    conn: apsw.Connection, unit_id: str, row: Mapping[str, Any], lead_id: str | None, days: int, now: int
) -> eng.SimulationResult:
    """What the trigger would have done over the last `days` of stored events (of one lead, or every lead),
    starting from a fresh state; read only, fires nothing."""
    engine = compile_engine(row)
    filters = compile_filters(row)
    segments = filter_segments(conn, unit_id, row)
    since = now - days * DAY_MS

    def keep(lead: str) -> bool:
        return not filters or passes_filters(filters, filter_values(conn, unit_id, lead, segments))

    if isinstance(engine, eng.Milestone):
        ruleset = store.primary_ruleset(conn, unit_id)
        runs: dict[str, list[eng.ScoredEvent]] = {}
        for r in store.scored_events(conn, unit_id, ruleset, since, lead_id) if ruleset else []:
            if r["score_after"] is None:
                continue  # not scored in the primary ruleset (observe scope): the score did not move
            runs.setdefault(r["lead_id"], []).append(
                eng.ScoredEvent(
                    eng.HistEvent(r["id"], r["type_key"], r["occurred_at"]),
                    int(r["score_after"]),
                    bool(r["can_fire"]),
                )
            )
        return eng.simulate_milestone(engine, {k: v for k, v in runs.items() if keep(k)})
    types: list[str] | None = None
    if isinstance(engine, eng.SequenceTrigger):
        types = list(engine.steps)  # other types never change a sequence's answer
    elif isinstance(engine, eng.PatternTrigger):
        types = [k for k, _ in engine.conditions]
    elif isinstance(engine, eng.SurgeTrigger) and engine.type_key is not None:
        types = [engine.type_key]
    histories: dict[str, list[eng.HistEvent]] = {}
    for lead, event_id, key, ts in store.history_events(conn, unit_id, since, lead_id, types):
        histories.setdefault(lead, []).append(eng.HistEvent(event_id, key, ts))
    return eng.simulate(engine, {k: v for k, v in histories.items() if keep(k)})
