"""Read-side SQL for stored events: lists with filters, keyset pages for export, explanations, event types,
channels. (Writing events is `store/events.py`, the pipeline's.)

Every statement filters by `unit_id` first, so each one starts on an index whose first column is the OU:
- no lead: `events_unit_time (unit_id, occurred_at)` or, with a type, `events_unit_type_time (unit_id,
  type_key, occurred_at)`; both end in the rowid (`seq`), so "newest first" (`occurred_at DESC, seq DESC`)
  is index order and a page stops reading after `offset + limit` rows;
- a lead: the view `lead_events` (migration 0061), its events other than DECAY on `events_lead_type_time
  (unit_id, lead_id, type_key, occurred_at)`, with a type a range of it, and its DECAY events on
  `events_lead_decay`, then a sort of that lead's events only;
- metadata filters are `json_extract` on the rows those indexes select (no index can hold arbitrary keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, channel_for, type_key
from leadvibe.store import events as ev_store
from leadvibe.store.events import lead_scores
from leadvibe.store.running_totals import scores_after

__all__ = [
    "EVENT_COLUMNS",
    "EventFilter",
    "MetadataMatch",
    "channels",
    "count_events",
    "delete_events",
    "event_by_id",
    "event_scores_of",
    "events_after",
    "events_by_ids",
    "lead_exists",
    "lead_scores",
    "list_events",
    "type_properties",
    "type_row",
    "visible_types",
]

DECAY_KEY = type_key(DECAY_EVENT_TYPE)

EVENT_COLUMNS = ("seq, id, lead_id, event_type, type_key, occurred_at, received_at, metadata, channel, "
                 "source, scope, inorganic, filtered_by, grouped_with, multiplier")


@dataclass(frozen=True, slots=True)
class MetadataMatch:
    """`metadata=key:value`: the top-level `key` of the event's metadata, as text, equals `value`."""

    key: str
    value: str

    @property
    def path(self) -> str:
        """The JSON path of the key, quoted so dots and brackets in a key are part of the name."""
        return '$."' + self.key + '"'


@dataclass(frozen=True, slots=True)
class EventFilter:
    """The filters `/events`, `/events/export` and `/leads/{id}/events` share (all optional)."""

    type_key: str | None = None
    lead_id: str | None = None
    start: int | None = None  # occurred_at >= start
    end: int | None = None  # occurred_at < end
    metadata: tuple[MetadataMatch, ...] = field(default_factory=tuple)
    logic: str = "and"  # how metadata matches combine: "and" | "or"


# JSON booleans and null come back from json_extract as 1/0/NULL; compare them by their JSON spelling instead
# so `metadata=opted_in:true` means what it says. Everything else (strings, numbers, nested JSON) compares as
# text.
_META_TEXT = ("(CASE json_type(metadata, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
              "WHEN 'null' THEN 'null' ELSE CAST(json_extract(metadata, ?) AS TEXT) END) = ?")


def _where(unit_id: str, f: EventFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = ["unit_id = ?"]
    params: list[Any] = [unit_id]
    # For one lead, `+occurred_at`: the lead's own events, never a range of the OU's time index (the planner, without
    # statistics, took one for a bounded window).
    at = "+occurred_at" if f.lead_id is not None else "occurred_at"
    if f.lead_id is not None:
        clauses.append("lead_id = ?")
        params.append(f.lead_id)
    if f.type_key is not None:
        clauses.append("type_key = ?")
        params.append(f.type_key)
    if f.start is not None:
        clauses.append(f"{at} >= ?")
        params.append(f.start)
    if f.end is not None:
        clauses.append(f"{at} < ?")
        params.append(f.end)
    if f.metadata:
        parts = []
        for m in f.metadata:
            parts.append(_META_TEXT)
            params.extend((m.path, m.path, m.value))
        joiner = " OR " if f.logic == "or" else " AND "
        # json_valid first: a row whose metadata is not JSON (never written by the pipeline, but cheap to
        # guard) must not abort the whole query.
        clauses.append(f"(metadata IS NOT NULL AND json_valid(metadata) AND ({joiner.join(parts)}))")
    return " AND ".join(clauses), params


def _source(f: EventFilter) -> str:
    """What a list reads: for one lead the view of its events by both lead indexes (`events_lead_type_time` holds no
    DECAY rows), else the table."""
    return "lead_events" if f.lead_id is not None else "events"


def _newest_first(f: EventFilter, direction: str = "DESC") -> str:
    """ORDER BY of the lists (`direction` ASC: oldest first). For one lead the order is written `+occurred_at`,
    `+seq`: the plain columns let the planner satisfy the order by walking the OU-wide events_unit_time and
    filtering the lead on the way (seconds at a million events); the unary plus makes it start from the lead's own
    index and sort that lead's events."""
    if f.lead_id is not None:
        return f"ORDER BY +occurred_at {direction}, +seq {direction}"
    return f"ORDER BY occurred_at {direction}, seq {direction}"


def count_events(conn: apsw.Connection, unit_id: str, f: EventFilter) -> int:
    """How many events match (the `total` of a list)."""
    where, params = _where(unit_id, f)
    return int(scalar(conn, f"SELECT COUNT(*) FROM {_source(f)} WHERE {where}", params) or 0)


def list_events(conn: apsw.Connection, unit_id: str, f: EventFilter, limit: int, offset: int
                ) -> list[dict[str, Any]]:
    """One page of matching events, newest first (ties: latest arrival first)."""
    where, params = _where(unit_id, f)
    return query(conn, f"SELECT {EVENT_COLUMNS} FROM {_source(f)} WHERE {where} {_newest_first(f)} LIMIT ? OFFSET ?",
                 [*params, limit, offset])


def events_after(conn: apsw.Connection, unit_id: str, f: EventFilter, cursor: tuple[int, int] | None,
                 limit: int, oldest_first: bool = False, by_arrival: bool = False) -> list[dict[str, Any]]:
    """Keyset page for exports: events strictly after `cursor` = (occurred_at, seq) in newest-first order (or
    oldest-first; or `by_arrival`, in the order they were scored, which only the cursor's seq places).

    Unlike OFFSET, each page costs the same however deep the export is, and rows added meanwhile never shift
    a page boundary.
    """
    where, params = _where(unit_id, f)
    if by_arrival:
        # seq is the arrival order. One lead: its events from its indexes, sorted; the OU: the table in rowid
        # order from the cursor (a time or type index would make every page sort everything after it).
        source = _source(f) if f.lead_id is not None else "events NOT INDEXED"
        if cursor is not None:
            where += " AND seq > ?"
            params.append(cursor[1])
        return query(conn, f"SELECT {EVENT_COLUMNS} FROM {source} WHERE {where} ORDER BY seq LIMIT ?",
                     [*params, limit])
    if cursor is not None:
        # The redundant `occurred_at <= ?` gives the planner an index range to start from; with the OR alone
        # it walks the OU's index from the newest event, so each page cost as much as everything before it.
        at = "+occurred_at" if f.lead_id is not None else "occurred_at"
        if oldest_first:
            where += f" AND {at} >= ? AND (occurred_at > ? OR seq > ?)"
        else:
            where += f" AND {at} <= ? AND (occurred_at < ? OR seq < ?)"
        params.extend((cursor[0], cursor[0], cursor[1]))
    order = _newest_first(f, "ASC" if oldest_first else "DESC")
    return query(conn, f"SELECT {EVENT_COLUMNS} FROM {_source(f)} WHERE {where} {order} LIMIT ?", [*params, limit])


def event_by_id(conn: apsw.Connection, unit_id: str, event_id: str) -> dict[str, Any] | None:
    """One event of the OU (None for an unknown id or another OU's)."""
    return query_one(conn, f"SELECT {EVENT_COLUMNS} FROM events WHERE id = ? AND unit_id = ?",
                     (event_id, unit_id))


def events_by_ids(conn: apsw.Connection, unit_id: str, event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The OU's events among `event_ids` (seq, lead and type only); ids of other OUs are simply absent."""
    if not event_ids:
        return []
    return query(conn, f"SELECT seq, id, lead_id, type_key FROM events WHERE unit_id = ? "
                       f"AND id IN ({placeholders(len(event_ids))})", [unit_id, *event_ids])


def event_scores_of(conn: apsw.Connection, unit_id: str, lead_id: str, event_seq: int) -> list[dict[str, Any]]:
    """An event's per-ruleset score rows with the ruleset's name and primary flag, primary first, and the lead's
    score before and after it in each (summed from the deltas: store/running_totals.py).

    LEFT JOIN: a row whose ruleset was deleted since still explains the score the lead got then.
    """
    rows = query(conn, "SELECT s.ruleset_id, r.name, COALESCE(r.is_primary, 0) AS is_primary, s.rule_ids, "
                       "s.weight, s.multiplier, s.delta, s.filtered_by "
                       "FROM event_scores s LEFT JOIN rulesets r "
                       "ON r.id = s.ruleset_id AND r.unit_id = s.unit_id "
                       "WHERE s.event_seq = ? AND s.unit_id = ? "
                       "ORDER BY COALESCE(r.is_primary, 0) DESC, r.name, s.ruleset_id", (event_seq, unit_id))
    after = scores_after(conn, unit_id, [r["ruleset_id"] for r in rows], {lead_id: [event_seq]})
    for r in rows:
        r["after"] = after[(lead_id, r["ruleset_id"], event_seq)]
        r["before"] = r["after"] - int(r["delta"])
    return rows


def lead_exists(conn: apsw.Connection, unit_id: str, lead_id: str) -> bool:
    """A live (not merged) lead of the OU."""
    return scalar(conn, "SELECT 1 FROM leads WHERE unit_id = ? AND id = ? AND merged_into IS NULL",
                  (unit_id, lead_id)) is not None


def visible_types(conn: apsw.Connection, unit_id: str) -> list[str]:
    """Display names of the OU's event types that are not hidden, sorted case-insensitively.

    DECAY is the system's own bookkeeping type, not something a user tracks, so it is never listed.
    """
    rows = conn.execute(
        "SELECT t.display_name FROM event_types t LEFT JOIN event_type_settings s "
        "ON s.unit_id = t.unit_id AND s.type_key = t.type_key "
        "WHERE t.unit_id = ? AND COALESCE(s.hidden, 0) = 0 AND t.type_key <> 'decay' "
        "ORDER BY lower(t.display_name), t.display_name", (unit_id,))
    return [r[0] for r in rows]


def type_row(conn: apsw.Connection, unit_id: str, key: str) -> dict[str, Any] | None:
    """The OU's event type with this normalized key (None when never seen)."""
    return query_one(conn, "SELECT type_key, display_name FROM event_types"
                           " WHERE unit_id = ? AND type_key = ?", (unit_id, key))


def type_properties(conn: apsw.Connection, unit_id: str, key: str) -> list[str]:
    """Metadata keys seen on events of this type, sorted (primary-key order)."""
    rows = conn.execute("SELECT key FROM event_type_properties WHERE unit_id = ? AND type_key = ?"
                        " ORDER BY key", (unit_id, key))
    return [r[0] for r in rows]


def channels(conn: apsw.Connection, unit_id: str) -> list[str]:
    """Distinct channels of the OU's events, sorted, without reading every event.

    An event's channel is `metadata.channel` when given, else derived from its type (`channel_for`). The event
    type catalogue knows every type of the OU and which types ever carried a `channel` metadata key, so: a
    type that never did contributes its derived channel (one index probe checks it still has events); a type
    that did is read with `SELECT DISTINCT` over that type's events only; DECAY events (not catalogued) add
    `system`. An index on `(unit_id, channel)` would make this one query, but it costs every ingested event
    ~30 % more insert time, which this rarely-called list does not justify.
    """
    found: set[str] = set()
    types: list[Any] = conn.execute(
        "SELECT t.type_key, EXISTS (SELECT 1 FROM event_type_properties p WHERE p.unit_id = t.unit_id"
        " AND p.type_key = t.type_key AND p.key = 'channel') FROM event_types t WHERE t.unit_id = ?",
        (unit_id,)).fetchall()
    for key, has_channel_key in [*types, (DECAY_KEY, 0)]:
        if has_channel_key:
            found.update(r[0] for r in conn.execute(
                "SELECT DISTINCT channel FROM events WHERE unit_id = ? AND type_key = ?", (unit_id, key)))
        elif scalar(conn, "SELECT 1 FROM events WHERE unit_id = ? AND type_key = ? LIMIT 1", (unit_id, key)):
            found.add(channel_for(key, None))
    return sorted(found)


def delete_events(conn: apsw.Connection, unit_id: str, found: Sequence[dict[str, Any]], now: int) -> int:
    """Delete the OU's events given as rows of `events_by_ids`; return how many went.

    In the caller's transaction: `event_scores` rows cascade, the type catalogue's counts drop, and each affected
    lead's recency columns are recomputed from its remaining events. Scores are the caller's (`rescore_leads`).
    """
    if not found:
        return 0
    seqs = [r["seq"] for r in found]
    deleted = ev_store.delete_events_where(conn, unit_id, f"seq IN ({placeholders(len(seqs))})", seqs, by_seq=True)
    ev_store.refresh_lead_activity(conn, unit_id, (r["lead_id"] for r in found), now)
    return deleted
