"""SQL for segments: their rows and rules, and membership evaluated by SQL at query time.

Membership follows `engine.conditions.segment_matches` (the reference the tests compare against): active rules
grouped by `logic_group`, AND within a group (OR when the group says so), OR across groups.

How a segment becomes SQL (`member_sql`), so a count over a million leads stays an index walk:
- A `lead_metadata` rule with a positive operator is a range scan of the lead property index (`lead_props`, see
  `store/lead_props.py`) for its property: equality and prefixes seek, numeric comparisons range over `num`,
  `contains`/`ends_with` scan the property's rows (never the leads' JSON).
- A negated operator (`not_equals`, `not_contains`, `not_exists`) is the complement of its positive twin among
  the OU's live leads.
- An `event_metadata` rule is true when the lead has an event of the type whose metadata satisfies the operator
  (applied per event: `lv_event_match`, the engine's own `matches` registered as an SQL function).
- An AND group is driven by its most selective positive `lead_metadata` rule (equality first), the other rules
  being probes on each candidate (`EXISTS` on `lead_props(lead_rowid, key_id)` or on the lead's events by type).
  A group without such a rule walks the OU's live leads. Groups are combined with `UNION`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw
import msgspec

from leadvibe.db.rows import query, scalar
from leadvibe.engine.conditions import SegmentRule, lookup, matches, number_form, segment_matches, text_form
from leadvibe.store import lead_props, segment_members
from leadvibe.store.config_rows import ConfigTable
from leadvibe.store.events import LEAD_HALVES, each_lead_half

SEGMENTS = ConfigTable(
    "segments", frozenset({"name", "description", "active"}), order="created_at, id"
)
RULES = ConfigTable(
    "segment_rules",
    frozenset({"rule_name", "rule_type", "field_name", "operator", "value", "event_type", "type_key",
               "logic_group", "logic_op", "order_index", "active"}),
    order="logic_group, order_index, created_at, id",
    filters=frozenset({"segment_id"}),
)

# Which positive operator drives a group best: lower is more selective (seeks before scans).
_DRIVER_RANK = {"equals": 0, "in": 1, "starts_with": 2, "greater_than": 3, "less_than": 3, "exists": 4,
                "contains": 5, "ends_with": 5}
_POSITIVE = {"not_equals": "equals", "not_contains": "contains", "not_exists": "exists"}
_NOTHING = "SELECT NULL AS lead_rowid WHERE 0"
_decoder = msgspec.json.Decoder()


def rule_counts(conn: apsw.Connection, unit_id: str) -> dict[str, tuple[int, int]]:
    """segment id -> (rules, active rules) of the OU's segments."""
    return {
        r[0]: (int(r[1]), int(r[2] or 0))
        for r in conn.execute(
            "SELECT s.id, count(r.id), sum(r.active) FROM segments s LEFT JOIN segment_rules r"
            " ON r.segment_id = s.id WHERE s.unit_id = ? GROUP BY s.id",
            (unit_id,),
        )
    }


def engine_rules(rows: Sequence[dict[str, Any]]) -> list[SegmentRule]:
    """Stored rule rows as the engine's rules."""
    return [
        SegmentRule(
            r["id"], r["field_name"], r["operator"], r["value"], r["rule_type"], r["type_key"],
            int(r["logic_group"]), r["logic_op"], bool(r["active"]),
        )
        for r in rows
    ]


# -- SQL translation -----------------------------------------------------------------------------------------
def _event_match(*args: Any) -> int:
    """lv_event_match(metadata_json, field, op, expected): the engine's `matches` on one event's metadata."""
    metadata, field, op, expected = args
    values = _decoder.decode(metadata) if metadata else {}
    return int(matches(op, lookup(values, field) if isinstance(values, dict) else None, expected))


def register_functions(conn: apsw.Connection) -> None:
    """The SQL function event rules use (registered per connection, before running segment SQL)."""
    conn.create_scalar_function("lv_event_match", _event_match, 4, deterministic=True)


def _next_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None when there is none)."""
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:
        last = 0xE000  # surrogates are not characters: skip them
    return None if last > 0x10FFFF else prefix[:-1] + chr(last)


def _atom_condition(op: str, expected: str | None) -> tuple[str, list[Any]]:
    """SQL over one `lead_props` row (columns is_num, num, fold) for a positive operator, as
    `engine.conditions._scalar_matches` decides it for one atom."""
    exp = "" if expected is None else expected
    text = text_form(exp)
    number = number_form(exp)
    if op == "exists":
        return "1", []
    if op == "equals":
        if number is not None:
            return "is_num = 1 AND num = ?", [float(number)]
        return "is_num = 0 AND num = 0 AND fold = ?", [text]
    if op == "in":
        items = [i.strip() for i in text.split(",") if i.strip()]
        nums = [float(n) for n in (number_form(i) for i in items) if n is not None]
        texts = [i for i in items if number_form(i) is None]
        parts = []
        if nums:
            parts.append(f"(is_num = 1 AND num IN ({','.join('?' * len(nums))}))")
        if texts:
            parts.append(f"(is_num = 0 AND num = 0 AND fold IN ({','.join('?' * len(texts))}))")
        return (" OR ".join(parts) or "0"), [*nums, *texts]
    if op == "contains":
        return "instr(fold, ?) > 0", [text]
    if op == "starts_with":
        if not text:
            return "1", []
        upper = _next_prefix(text)
        text_part = "is_num = 0 AND num = 0 AND fold >= ?" + (" AND fold < ?" if upper else "")
        text_part += " AND substr(fold, 1, ?) = ?"
        params: list[Any] = [text, *([upper] if upper else []), len(text), text]
        return f"({text_part}) OR (is_num = 1 AND substr(fold, 1, ?) = ?)", [*params, len(text), text]
    if op == "ends_with":
        if not text:
            return "1", []
        return "substr(fold, -?) = ?", [len(text), text]
    if op in ("greater_than", "less_than"):
        cmp = ">" if op == "greater_than" else "<"
        if number is not None:
            # Numbers compare as numbers, other values by text (engine: numeric only when both sides are).
            return (f"(is_num = 1 AND num {cmp} ?) OR (is_num = 0 AND num = 0 AND fold {cmp} ?)",
                    [float(number), text])
        return f"(is_num = 0 AND num = 0 AND fold {cmp} ?) OR (is_num = 1 AND fold {cmp} ?)", [text, text]
    raise ValueError(f"unhandled operator {op}")  # pragma: no cover - validated upstream


@dataclass
class _Part:
    """One rule as SQL: the rowid set it selects, and the same test as a probe on a candidate `d.lead_rowid`."""

    kind: str  # "props" (positive lead_metadata), "not_props", "event", "none" (matches nobody), "all"
    rank: int = 9
    key_id: int | None = None
    cond: str = ""
    params: list[Any] | None = None
    exact: bool = False  # at most one row per lead: no DISTINCT needed when it drives


def _part(conn: apsw.Connection, unit_id: str, rule: SegmentRule, keys: dict[str, int]) -> _Part:
    if rule.rule_type == "event_metadata":
        return _Part("event", cond="", params=[rule.field, rule.op, rule.value])
    positive = _POSITIVE.get(rule.op, rule.op)
    key_id = keys.get(rule.field)
    if key_id is None:
        # No lead has ever had this property: the positive test holds for nobody, its negation for everyone.
        return _Part("all" if positive != rule.op else "none")
    cond, params = _atom_condition(positive, rule.value)
    exact = positive == "equals" and number_form(rule.value or "") is None
    kind = "not_props" if positive != rule.op else "props"
    return _Part(kind, _DRIVER_RANK[positive], key_id, cond, params, exact)


def _probe(part: _Part, rule: SegmentRule, unit_id: str) -> tuple[str, list[Any]]:
    """The part as a predicate on the candidate lead (`d.lead_rowid`, and `d.lead_id` for event rules)."""
    if part.kind in ("props", "not_props"):
        sql = (f"EXISTS (SELECT 1 FROM lead_props p WHERE p.lead_rowid = d.lead_rowid AND p.key_id = ?"
               f" AND ({part.cond}))")
        return (("NOT " + sql) if part.kind == "not_props" else sql), [part.key_id, *(part.params or [])]
    if part.kind == "event":
        type_sql, type_params = ("AND e.type_key = ?", [rule.event_type]) if rule.event_type else ("", [])
        params = [unit_id, *type_params, rule.field, rule.op, rule.value]
        return (
            "(" + each_lead_half("EXISTS (SELECT 1 FROM events e INDEXED BY {index} WHERE e.unit_id = ?"
                                 " AND e.lead_id = d.lead_id AND e.decay_id {decay}"
                                 f" {type_sql} AND lv_event_match(e.metadata, ?, ?, ?))", " OR ") + ")",
            params * len(LEAD_HALVES),
        )
    return ("1", []) if part.kind == "all" else ("0", [])


def _group_sql(conn: apsw.Connection, unit_id: str, rules: list[SegmentRule],
               keys: dict[str, int]) -> tuple[str, list[Any]] | None:
    """A SELECT of the lead rowids (column `lead_rowid`) satisfying every rule of an AND group; None when the
    group can hold for nobody."""
    parts = [(_part(conn, unit_id, r, keys), r) for r in rules]
    if any(p.kind == "none" for p, _ in parts):
        return None
    parts = [(p, r) for p, r in parts if p.kind != "all"]
    drivers = sorted((p for p, _ in parts if p.kind == "props"), key=lambda p: p.rank)
    needs_id = any(p.kind == "event" for p, _ in parts)
    if drivers:
        driver = drivers[0]
        rest = [(p, r) for p, r in parts if p is not driver]
        source = ("(SELECT lp.lead_rowid, l.id AS lead_id FROM lead_props lp JOIN leads l ON l.rowid = lp.lead_rowid"
                  f" WHERE lp.key_id = ? AND ({driver.cond}))" if needs_id else
                  f"(SELECT lead_rowid FROM lead_props WHERE key_id = ? AND ({driver.cond}))")
        params: list[Any] = [driver.key_id, *(driver.params or [])]
        distinct = "" if driver.exact else "DISTINCT "
    else:
        rest = parts
        source = ("(SELECT rowid AS lead_rowid, id AS lead_id FROM leads WHERE unit_id = ?"
                  " AND merged_into IS NULL)")
        params = [unit_id]
        distinct = ""
    where: list[str] = []
    for part, rule in rest:
        sql, extra = _probe(part, rule, unit_id)
        where.append(sql)
        params += extra
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {distinct}d.lead_rowid AS lead_rowid FROM {source} d{clause}", params


def member_sql(conn: apsw.Connection, unit_id: str, rules: Sequence[SegmentRule],
               segment_id: str | None = None) -> tuple[str, list[Any]]:
    """A SELECT of the rowids (column `lead_rowid`, no duplicates) of the OU's live leads in the segment: its kept
    members when `segment_id` names a segment whose kept members are complete, else its rules as SQL. Registers
    `lv_event_match` on `conn`."""
    if segment_id is not None and segment_members.is_ready(conn, unit_id, segment_id):
        return segment_members.member_sql(segment_id)
    register_functions(conn)
    groups: dict[int, list[SegmentRule]] = {}
    for rule in rules:
        if rule.active:
            groups.setdefault(rule.logic_group, []).append(rule)
    keys = lead_props.key_ids(
        conn, unit_id, {r.field for g in groups.values() for r in g if r.rule_type == "lead_metadata"})
    selects: list[tuple[str, list[Any]]] = []
    for group in groups.values():
        # An OR group holds when any of its rules does: each rule is then a group of its own.
        units = [[r] for r in group] if any(r.logic_op == "OR" for r in group) else [group]
        for unit in units:
            built = _group_sql(conn, unit_id, unit, keys)
            if built is not None:
                selects.append(built)
    if not selects:
        return _NOTHING, []
    if len(selects) == 1:
        return selects[0]
    sql = " UNION ".join(s for s, _ in selects)
    return sql, [p for _, ps in selects for p in ps]


def count_members(conn: apsw.Connection, unit_id: str, rules: Sequence[SegmentRule],
                  segment_id: str | None = None) -> int:
    """How many of the OU's live leads are in the segment."""
    sql, params = member_sql(conn, unit_id, rules, segment_id)
    return int(scalar(conn, f"SELECT count(*) FROM ({sql})", params) or 0)


def member_page(
    conn: apsw.Connection, unit_id: str, rules: Sequence[SegmentRule], ruleset_id: str | None, lead_cols: str,
    limit: int, offset: int, segment_id: str | None = None,
) -> list[dict[str, Any]]:
    """One page of the segment's leads, newest first, with their score in `ruleset_id` (0 without a row)."""
    sql, params = member_sql(conn, unit_id, rules, segment_id)
    return query(
        conn,
        f"WITH m AS ({sql}) SELECT {lead_cols}, coalesce(s.score, 0) AS score FROM m"
        " JOIN leads l ON l.rowid = m.lead_rowid LEFT JOIN lead_scores s ON s.unit_id = l.unit_id"
        " AND s.ruleset_id = ? AND s.lead_id = l.id WHERE l.unit_id = ? ORDER BY m.lead_rowid DESC LIMIT ? OFFSET ?",
        (*params, ruleset_id, unit_id, limit, offset),
    )


def lead_in_segments(
    conn: apsw.Connection, unit_id: str, lead_id: str, segments: dict[str, Sequence[SegmentRule]]
) -> list[str]:
    """Which of these segments (id -> rules) hold one lead (trigger filters ask this per event): decided by the
    engine over the lead's metadata and, for event rules, its events of the rules' types."""
    metadata_json = scalar(
        conn, "SELECT metadata FROM leads WHERE unit_id = ? AND id = ? AND merged_into IS NULL", (unit_id, lead_id))
    if metadata_json is None:
        return []
    metadata = _decoder.decode(metadata_json or "{}")
    event_rules = [r for rules in segments.values() for r in rules if r.active and r.rule_type == "event_metadata"]
    events: list[tuple[str, dict[str, Any]]] = []
    if event_rules:
        types = {r.event_type for r in event_rules}
        # A rule on any type needs every event; otherwise only the rules' types.
        wanted = [] if None in types else sorted(t for t in types if t is not None)
        type_sql = f" AND type_key IN ({','.join('?' * len(wanted))})" if wanted else ""
        for key, meta in conn.execute(
            f"SELECT type_key, metadata FROM lead_events WHERE unit_id = ? AND lead_id = ?{type_sql}",
            (unit_id, lead_id, *wanted),
        ):
            decoded = _decoder.decode(meta) if meta else {}
            events.append((key, decoded if isinstance(decoded, dict) else {}))
    return [sid for sid, rules in segments.items() if segment_matches(rules, metadata, events)]


def active_rules(conn: apsw.Connection, unit_id: str, segment_id: str) -> list[SegmentRule]:
    """A segment's rules as the engine's rules."""
    return engine_rules(RULES.list(conn, unit_id, segment_id=segment_id))


def kept_segments(conn: apsw.Connection, unit_id: str) -> list[tuple[str, list[SegmentRule]]]:
    """(id, rules) of the OU's segments whose members are kept in `segment_members`."""
    by_segment: dict[str, list[dict[str, Any]]] = {}
    for row in RULES.list(conn, unit_id):
        by_segment.setdefault(row["segment_id"], []).append(row)
    out = []
    for segment_id, rows in by_segment.items():
        rules = engine_rules(rows)
        if segment_members.kept(rules):
            out.append((segment_id, rules))
    return out
