"""Helpers shared by the scoring-configuration handlers (rulesets, rules, filters, levels, settings).

Not a domain: it has no routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar, cast

import msgspec
from litestar.params import Parameter

from leadvibe.documented import single_line, single_line_schema
from leadvibe.engine.normalize import type_key
from leadvibe.errors import ApiError, bad_request
from leadvibe.limits import INT_LIMIT
from leadvibe.pipeline.inbox import no_control
from leadvibe.pipeline.rescore import PreparedRescore, rescore_leads
from leadvibe.pipeline.stream import name_score_updates
from leadvibe.runtime import Runtime
from leadvibe.store import scoring as store
from leadvibe.timeutil import parse_rfc3339

EVENT_TYPE_MAX = 128
EventTypeText = Annotated[str, single_line(EVENT_TYPE_MAX)]
# An event type named in a path (`clean_event_type` checks it).
EventTypePath = Annotated[str, Parameter(description=f"An event type: 1 to {EVENT_TYPE_MAX} characters, not only "
                                                     "spaces, no control characters",
                                         schema_extra=single_line_schema(EVENT_TYPE_MAX))]
DEFAULT_SESSION_TIMEOUT = 30  # minutes
T = TypeVar("T")


def invalidate(rt: Runtime, unit_ids: Iterable[str]) -> None:
    """Drop the cached scoring and fit configuration of these OUs so the next event uses the new one."""
    cache = rt.scoring_config
    for unit_id in unit_ids:
        if cache is not None:  # None: the ingestion pipeline is not running (tools, some tests)
            cache.invalidate(unit_id)
        rt.fit.invalidate(unit_id)


async def write_config(rt: Runtime, unit_id: str, fn: Callable[[Any], T]) -> T:
    """Run `fn(conn)` in a write transaction, then drop the OU's cached scoring configuration (the contract:
    every endpoint that changes it invalidates after its write). Raise inside `fn` to roll back."""
    result = await rt.db.write(fn)
    invalidate(rt, [unit_id])
    return result


def session_timeout_minutes(settings: dict[str, Any] | None) -> int:
    """The OU's session timeout from a `store.scoring_settings` row (the default when there is none): what an OU
    without a saved surge policy uses."""
    return int((settings or {}).get("session_timeout_minutes") or DEFAULT_SESSION_TIMEOUT)


def idle_seconds_in_effect(settings: dict[str, Any] | None) -> int:
    """The session idle reset the OU's events get (seconds): its saved surge policy's, else its session timeout's."""
    saved = (settings or {}).get("idle_reset_seconds")
    return int(saved) if saved is not None else session_timeout_minutes(settings) * 60


def clean_event_type(value: str, field: str = "event_type") -> tuple[str, str]:
    """Trimmed event type as given and its matching key; 400 naming `field` when blank or longer than
    EVENT_TYPE_MAX as sent (the document's `EventTypeText`)."""
    if isinstance(value, str):
        no_control(value, field)  # before the trim, which would drop a leading or trailing line break
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(value) > EVENT_TYPE_MAX:
        raise bad_request(f"`{field}` must be 1 to {EVENT_TYPE_MAX} characters")
    return text, type_key(text)  # never empty: the text has something besides spaces


def check_int(value: int, field: str, low: int = -INT_LIMIT, high: int = INT_LIMIT) -> int:
    """An integer in [low, high], else 400 naming the field."""
    if not low <= value <= high:
        raise bad_request(f"`{field}` must be between {low} and {high}")
    return value


def parse_time(value: str | None, field: str) -> int | None:
    """A rule window's edge, RFC 3339 -> epoch ms (a time finer than the millisecond raised to the next one, as
    the window is `[start_at, end_at)` over stored times); None or "" -> None (an empty form field clears it)."""
    if value is None or value == "":
        return None
    try:
        return parse_rfc3339(value, bound=True)
    except ValueError as exc:
        raise bad_request(f"`{field}` {exc}") from None


def given(value: Any) -> bool:
    """True when a PATCH-like field was present in the body (null counts as present)."""
    return value is not msgspec.UNSET


def rescore_changes(
    rt: Runtime,
    conn: Any,
    cache: Any,
    unit_id: str,
    lead_ids: list[str],
    before: dict[tuple[str, str], int],
    now: int,
    ruleset_id: str | None = None,
    budget_ms: float | None = None,
    prepared: PreparedRescore | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """Inside a write: replay the leads (in every ruleset, or one) with the OU's current configuration, then
    re-arm milestones of leads whose primary score moved (it may have fallen below a threshold). `before` is
    `store.lead_scores_by_ruleset` of the same leads taken earlier in the transaction. With `budget_ms`, only the
    first leads replayed within that time are; with `prepared`, the prepared ones (see `rescore_leads`). Returns
    how many leads were replayed and the `score_update` publications for `/stream` (send them after commit)."""
    cfg = cache.get(conn, unit_id)
    replayed = rescore_leads(conn, cfg, lead_ids, now, ruleset_ids=None if ruleset_id is None else [ruleset_id],
                             budget_ms=budget_ms, prepared=prepared)
    lead_ids = lead_ids[:replayed]
    done = set(lead_ids)
    before = {key: score for key, score in before.items() if key[0] in done}
    after = store.lead_scores_by_ruleset(conn, unit_id, lead_ids, ruleset_id)
    changes = [
        {
            "lead_id": lead,
            "ruleset_id": rs,
            "delta": after.get((lead, rs), 0) - score_before,
            "score": after.get((lead, rs), 0),
        }
        for (lead, rs), score_before in {**{k: 0 for k in after}, **before}.items()
        if after.get((lead, rs), 0) != score_before
    ]
    name_score_updates(conn, rt.stream, unit_id, changes)
    primary = cfg.primary_ruleset_id
    triggers = rt.triggers
    if triggers is not None and primary:
        for change in changes:
            if change["ruleset_id"] == primary:
                triggers.on_score_change(conn, unit_id, str(change["lead_id"]), cast(int, change["score"]), now)
    return int(replayed), changes


def publish(rt: Runtime, unit_id: str, changes: list[dict[str, Any]]) -> None:
    """Send `score_update` events to `/stream` listeners (after the commit)."""
    hub = rt.stream
    if hub is not None:
        for change in changes:
            hub.publish(unit_id, "score_update", change)


def require_pipeline(rt: Runtime, what: str) -> Any:
    """The scoring-config cache, or 503 when the scoring pipeline is not running (tools, some tests)."""
    cache = rt.scoring_config
    if cache is None:
        raise ApiError(503, f"{what} is not available: the scoring pipeline is not running")
    return cache
