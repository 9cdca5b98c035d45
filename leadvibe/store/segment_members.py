"""Kept segment membership (`segment_members`): the members of segments whose rules only test lead metadata,
updated in the transaction of every metadata write (`update_lead`, called by the fit writer beside the property
index) and every lead removal (`store.lead_props.drop*`), and rebuilt in chunks after a segment's rules change.

A segment is kept only when the engine can decide it from a lead's metadata alone and a lead without metadata is
not a member (`kept`): the worker creates leads with empty metadata without a metadata write, and such a lead must
not be missing from a segment it belongs to. Other segments are always evaluated by SQL (`store.segments`).
`segments.members_ready` says whether the rows are complete: counts read them only then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import apsw
import msgspec

from leadvibe.db.rows import scalar
from leadvibe.engine.conditions import SegmentRule, segment_matches

_decoder = msgspec.json.Decoder()


def kept(rules: Sequence[SegmentRule]) -> bool:
    """Whether a segment with these rules is kept in `segment_members`."""
    active = [r for r in rules if r.active]
    return bool(active) and all(r.rule_type == "lead_metadata" for r in active) and not segment_matches(rules, {})


def update_lead(conn: apsw.Connection, lead_rowid: int, metadata: Mapping[str, Any],
                segments: Sequence[tuple[str, Sequence[SegmentRule]]]) -> None:
    """After a lead's metadata changed: its membership in each kept segment (id, rules) of its OU."""
    for segment_id, rules in segments:
        if segment_matches(rules, metadata):
            conn.execute("INSERT OR IGNORE INTO segment_members (segment_id, lead_rowid) VALUES (?,?)",
                         (segment_id, lead_rowid))
        else:
            conn.execute("DELETE FROM segment_members WHERE segment_id = ? AND lead_rowid = ?",
                         (segment_id, lead_rowid))


def is_ready(conn: apsw.Connection, unit_id: str, segment_id: str) -> bool:
    """Whether the segment's kept members are complete."""
    return bool(scalar(conn, "SELECT members_ready FROM segments WHERE unit_id = ? AND id = ?", (unit_id, segment_id)))


def set_ready(conn: apsw.Connection, unit_id: str, segment_id: str, ready: bool) -> None:
    """Mark the kept members complete (a rebuild finished) or not (the rules changed)."""
    conn.execute("UPDATE segments SET members_ready = ? WHERE unit_id = ? AND id = ?",
                 (int(ready), unit_id, segment_id))


def rebuild_chunk(conn: apsw.Connection, unit_id: str, segment_id: str, rules: Sequence[SegmentRule],
                  after_rowid: int, limit: int) -> int | None:
    """Recompute the segment's members among the OU's next `limit` live leads after `after_rowid`; the last rowid
    done, or None when no lead is left."""
    rows = [(cast(int, r[0]), cast("str | None", r[1])) for r in conn.execute(
        "SELECT rowid, metadata FROM leads WHERE unit_id = ? AND merged_into IS NULL AND rowid > ?"
        " ORDER BY rowid LIMIT ?", (unit_id, after_rowid, limit))]
    if not rows:
        conn.execute("DELETE FROM segment_members WHERE segment_id = ? AND lead_rowid > ?", (segment_id, after_rowid))
        return None
    last = rows[-1][0]
    done = len(rows) < limit
    # The last chunk also clears anything above it, so no row can outlive the pass.
    conn.execute("DELETE FROM segment_members WHERE segment_id = ? AND lead_rowid > ? AND lead_rowid <= ?",
                 (segment_id, after_rowid, (1 << 62) if done else last))
    members = []
    for rowid, text in rows:
        metadata = _decoder.decode(text) if text else {}
        if isinstance(metadata, dict) and segment_matches(rules, metadata):
            members.append((segment_id, rowid))
    conn.executemany("INSERT OR IGNORE INTO segment_members (segment_id, lead_rowid) VALUES (?,?)", members)
    return None if done else last


def member_sql(segment_id: str) -> tuple[str, list[Any]]:
    """The kept members as a SELECT of `lead_rowid` (what `store.segments.member_sql` answers when ready)."""
    return "SELECT lead_rowid FROM segment_members WHERE segment_id = ?", [segment_id]
