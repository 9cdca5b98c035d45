"""SQL for score decay: the rules (CRUD), how far each rule has swept (migration 0040), the search for the leads
a rule applies to now, and their recording with set statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apsw
import msgspec

from leadvibe.db.rows import query, query_one, triggers_suspended
from leadvibe.engine.normalize import DECAY_EVENT_TYPE, type_key
from leadvibe.store.analytics_hours import add_hours, hour_of
from leadvibe.store.score_gain_days import add_rises, kept_rulesets, sum_rises

UNIT_MS = {"hours": 3_600_000, "days": 86_400_000, "weeks": 7 * 86_400_000}
_json = msgspec.json.Encoder()
_COLS = "id, inactive_for, unit, inactive_ms, decrease, active, created_at, updated_at"


def list_rules(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """The OU's decay rules, shortest inactivity first (the order they stack in)."""
    return query(
        conn,
        f"SELECT {_COLS} FROM decay_rules WHERE unit_id = ? ORDER BY inactive_ms, created_at, id",
        (unit_id,),
    )


def get_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> dict[str, Any] | None:
    """One decay rule of the OU."""
    return query_one(
        conn, f"SELECT {_COLS} FROM decay_rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id)
    )


def create_rule(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    rule_id: str,
    inactive_for: int,
    unit: str,
    decrease: int,
    actor: str | None,
    now: int,
    source: str = "api",
) -> dict[str, Any]:
    """Insert a decay rule."""
    conn.execute(
        "INSERT INTO decay_rules (id, org_id, unit_id, inactive_for, unit, inactive_ms, decrease, source,"
        " created_by, updated_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            rule_id,
            org_id,
            unit_id,
            inactive_for,
            unit,
            inactive_for * UNIT_MS[unit],
            decrease,
            source,
            actor,
            actor,
            now,
            now,
        ),
    )
    return get_rule(conn, unit_id, rule_id)  # type: ignore[return-value]


def update_rule(
    conn: apsw.Connection,
    unit_id: str,
    rule_id: str,
    *,
    inactive_for: int | None,
    unit: str | None,
    decrease: int | None,
    active: bool | None,
    actor: str | None,
    now: int,
) -> dict[str, Any] | None:
    """Change some fields of a rule (inactive_ms follows); None when the OU has no such rule."""
    current = get_rule(conn, unit_id, rule_id)
    if current is None:
        return None
    amount = inactive_for if inactive_for is not None else int(current["inactive_for"])
    per = unit if unit is not None else str(current["unit"])
    conn.execute(
        "UPDATE decay_rules SET inactive_for = ?, unit = ?, inactive_ms = ?, decrease = ?, active = ?,"
        " updated_by = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
        (
            amount,
            per,
            amount * UNIT_MS[per],
            decrease if decrease is not None else current["decrease"],
            int(active) if active is not None else current["active"],
            actor,
            now,
            unit_id,
            rule_id,
        ),
    )
    return get_rule(conn, unit_id, rule_id)


def delete_rule(conn: apsw.Connection, unit_id: str, rule_id: str) -> bool:
    """Delete a rule (DECAY events it recorded stay: they are part of the scores)."""
    conn.execute("DELETE FROM decay_rules WHERE unit_id = ? AND id = ?", (unit_id, rule_id))
    return conn.changes() == 1


def units_with_rules(conn: apsw.Connection) -> list[str]:
    """OUs that have at least one active decay rule (the scheduler visits only these)."""
    return [
        r[0]
        for r in conn.execute("SELECT DISTINCT unit_id FROM decay_rules WHERE active = 1 ORDER BY unit_id")
    ]


def active_rules(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Active rules of an OU, shortest inactivity first, so a pass that finds a lead past 7 d and 30 d records
    the 7-day decay before the 30-day one."""
    return query(
        conn,
        "SELECT id, inactive_ms, decrease FROM decay_rules WHERE unit_id = ? AND active = 1"
        " ORDER BY inactive_ms, created_at, id",
        (unit_id,),
    )


def _due(organic: str = "l.last_organic_at") -> str:
    """A live lead whose last organic event is at or before the cutoff ?2 and that has had no DECAY of rule ?3
    since it (one decay per rule per inactivity period). The DECAY event must be strictly later than the last
    organic event: a decay is recorded at least an hour after it, so an organic event at the very millisecond of a
    decay is the newer one and opens a new period. `organic` spells the column; `+l.last_organic_at` keeps the
    planner off leads_unit_organic when the leads are given by id."""
    return (f"l.unit_id = ?1 AND l.merged_into IS NULL AND {organic} > 0 AND {organic} <= ?2"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.unit_id = l.unit_id AND e.lead_id = l.id"
            " AND e.decay_id = ?3 AND e.occurred_at > l.last_organic_at)")


def claim_sweep(conn: apsw.Connection, unit_id: str, decay_id: str, cutoff: int) -> int:
    """Start a pass of a rule up to `cutoff`: return how far the rule has swept (see migration 0040), and claim
    the range above it (the triggers drop the claim if a lead lands in it behind the pass's back)."""
    conn.execute("INSERT OR IGNORE INTO decay_sweeps (unit_id, decay_id) VALUES (?, ?)", (unit_id, decay_id))
    conn.execute("UPDATE decay_sweeps SET claim = ?3 WHERE unit_id = ?1 AND decay_id = ?2 AND swept_through < ?3",
                 (unit_id, decay_id, cutoff))
    row: Any = conn.execute("SELECT swept_through FROM decay_sweeps WHERE unit_id = ? AND decay_id = ?",
                            (unit_id, decay_id)).fetchone()
    return int(row[0])


def finish_sweep(conn: apsw.Connection, unit_id: str, decay_id: str, cutoff: int) -> bool:
    """End a pass that decayed every lead it read: the rule has swept through `cutoff`, unless the claim was
    dropped meanwhile (then the next pass reads from wherever the triggers lowered the mark). True if it moved."""
    conn.execute("UPDATE decay_sweeps SET swept_through = claim, claim = 0"
                 " WHERE unit_id = ? AND decay_id = ? AND claim = ? AND swept_through < claim",
                 (unit_id, decay_id, cutoff))
    return conn.changes() == 1


def due_after(
    conn: apsw.Connection, unit_id: str, decay_id: str, swept: int, cutoff: int, after: tuple[int, int], limit: int
) -> list[tuple[str, int, int, str]]:
    """Up to `limit` due leads whose last organic event is in (`swept`, `cutoff`], in (last_organic_at, rowid)
    order after the keyset `after`: a range of the partial index leads_unit_organic plus one probe of
    events_lead_decay per lead, so the work is proportional to the leads that became inactive since the rule's
    last sweep. Returns (lead_id, last_organic_at, rowid, org_id)."""
    return [
        (r[0], int(r[1]), int(r[2]), str(r[3]))
        for r in conn.execute(
            f"SELECT l.id, l.last_organic_at, l.rowid, l.org_id FROM leads l WHERE {_due()} AND l.last_organic_at > ?4"
            " AND (l.last_organic_at, l.rowid) > (?5, ?6) ORDER BY l.last_organic_at, l.rowid LIMIT ?7",
            (unit_id, cutoff, decay_id, swept, after[0], after[1], limit),
        )
    ]


def due_range_holds(conn: apsw.Connection, unit_id: str, swept: int, cutoff: int, n: int) -> bool:
    """Whether at least `n` live leads have their last organic event in (`swept`, `cutoff`] (a range of
    leads_unit_organic counted no further than `n`)."""
    row: Any = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM leads l WHERE l.unit_id = ?1 AND l.merged_into IS NULL"
        " AND l.last_organic_at > ?2 AND l.last_organic_at <= ?3 LIMIT ?4)",
        (unit_id, swept, cutoff, n),
    ).fetchone()
    return int(row[0]) >= n


def due_by_id(
    conn: apsw.Connection, unit_id: str, decay_id: str, swept: int, cutoff: int, after: str, limit: int
) -> list[tuple[str, int, str]]:
    """`due_after`'s leads, in id order from after the id `after`: the OU's leads walked by their (unit_id, id)
    key, for a range of last organic events that holds much of the OU (a rule's first pass). Returns (lead_id,
    rowid, org_id)."""
    return [
        (str(r[0]), int(r[1]), str(r[2]))
        for r in conn.execute(
            "SELECT l.id, l.rowid, l.org_id FROM leads l INDEXED BY sqlite_autoindex_leads_1"
            f" WHERE {_due('+l.last_organic_at')} AND +l.last_organic_at > ?4 AND l.id > ?5 ORDER BY l.id LIMIT ?6",
            (unit_id, cutoff, decay_id, swept, after, limit),
        )
    ]


def record_due(
    conn: apsw.Connection,
    unit_id: str,
    candidates: Sequence[tuple[str, str, int, str]],
    ruleset_ids: Sequence[str],
    allow_negative: bool,
    *,
    decay_id: str,
    cutoff: int,
    decrease: int,
    first_seq: int,
    ts: int,
    now: int,
    metadata: str,
    still_due: bool = False,
) -> int:
    """Record one DECAY event for each of `candidates` still due under the rule now (the check a write transaction
    makes before it decays them, so an organic event that arrived since they were read is never decayed against),
    its score rows in every active ruleset and the new lead scores, with a few set statements whatever the number
    of leads. Returns how many were decayed; `decayed_scores` and `decayed_rows` read what was recorded.

    `candidates`: (lead_id, event_id, rowid, org_id) in lead id order, an unused event id for each and the lead's
    rowid and org as read (a candidate whose row no longer holds that lead is not due); the leads still due get
    arrival positions from `first_seq` on, in that order. `still_due`: the caller knows that nothing has been
    committed since it read them as due but the decays of its own pass (`Database.unchanged_since`), so the check
    would find every one due, and is skipped. The arithmetic is engine.scoring.decay_scores': `-decrease`, floored
    at 0 unless negative scores are allowed (a floored delta is the applied one, so a score left below zero snaps
    to 0)."""
    if decrease < 0:
        raise ValueError(f"decay {decay_id!r}: decrease must be >= 0, not {decrease}")
    if not candidates:
        return 0
    _prepare(conn, ruleset_ids)
    # The candidates go in as one JSON text: binding them row by row and reading the due ones back out cost more
    # than the check itself.
    listed = _json.encode(candidates).decode()
    if still_due:
        # A third of the writer's time in a first pass (a probe of the lead's row and of its decays per lead).
        conn.execute("INSERT INTO temp.decay_due (seq, lead_id, org_id, event_id)"
                     " SELECT ?2 + c.key, c.value ->> 0, c.value ->> 3, c.value ->> 1 FROM json_each(?1) c",
                     (listed, first_seq))
    else:
        # Each lead's row found by its rowid (one descent of the table, not of the id key first) and checked to
        # still hold it.
        conn.execute(
            "INSERT INTO temp.decay_due (seq, lead_id, org_id, event_id)"
            " SELECT ?5 + row_number() OVER (ORDER BY c.key) - 1, l.id, l.org_id, c.value ->> 1"
            " FROM json_each(?4) c JOIN leads l ON l.rowid = c.value ->> 2"
            f" WHERE l.id = c.value ->> 0 AND {_due('+l.last_organic_at')}",
            (unit_id, cutoff, decay_id, listed, first_seq),
        )
    due = conn.changes()
    if due:
        _record(conn, unit_id, due, ruleset_ids, allow_negative, decay_id=decay_id, decrease=decrease, ts=ts,
                now=now, metadata=metadata)
    return due


def _prepare(conn: apsw.Connection, ruleset_ids: Sequence[str]) -> None:
    """Empty the chunk's temporary tables (created on a connection's first decay) and list the rulesets."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS decay_due (seq INTEGER PRIMARY KEY, lead_id TEXT NOT NULL,"
                 " org_id TEXT NOT NULL, event_id TEXT NOT NULL)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS decay_rulesets (ruleset_id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS decay_rows (seq INTEGER NOT NULL, ruleset_id TEXT NOT NULL,"
                 " lead_id TEXT NOT NULL, before INTEGER NOT NULL, after INTEGER NOT NULL,"
                 " PRIMARY KEY (seq, ruleset_id)) WITHOUT ROWID")
    conn.execute("DELETE FROM temp.decay_due")
    conn.execute("DELETE FROM temp.decay_rulesets")
    conn.execute("DELETE FROM temp.decay_rows")
    conn.executemany("INSERT INTO temp.decay_rulesets (ruleset_id) VALUES (?)", [(rs,) for rs in ruleset_ids])


def _record(conn: apsw.Connection, unit_id: str, due: int, ruleset_ids: Sequence[str], allow_negative: bool, *,
            decay_id: str, decrease: int, ts: int, now: int, metadata: str) -> None:
    """Write the events, score rows, lead scores and totals of the `due` leads in temp.decay_due."""
    # Every score row is worked out once, in memory: the event's has_delta, its score rows, the lead scores and
    # the totals all read it, not the tables just written.
    floored = "0" if allow_negative or decrease == 0 else "1"
    conn.execute(
        "INSERT INTO temp.decay_rows (seq, ruleset_id, lead_id, before, after)"
        " SELECT d.seq, r.ruleset_id, d.lead_id, coalesce(s.score, 0),"
        f" CASE WHEN {floored} THEN max(0, coalesce(s.score, 0) - ?2) ELSE coalesce(s.score, 0) - ?2 END"
        " FROM temp.decay_due d CROSS JOIN temp.decay_rulesets r LEFT JOIN lead_scores s"
        " ON s.unit_id = ?1 AND s.lead_id = d.lead_id AND s.ruleset_id = r.ruleset_id",
        (unit_id, decrease),
    )
    decay_key = type_key(DECAY_EVENT_TYPE)
    # New events and their score rows: the hourly analytics totals and the score-gain days are added below, not per
    # row by triggers (store.analytics_hours; events and event_scores have no other insert triggers).
    with triggers_suspended(conn):
        conn.execute(
            "INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
            " processed_at, metadata, channel, source, scope, inorganic, multiplier, has_delta, decay_id)"
            " SELECT seq, event_id, org_id, ?1, lead_id, ?6, ?7, ?2, ?3, ?3, ?4, 'system', 'system',"
            " 'activate', 0, 1.0, EXISTS (SELECT 1 FROM temp.decay_rows x WHERE x.seq = d.seq"
            " AND x.after != x.before), ?5 FROM temp.decay_due d ORDER BY seq",
            (unit_id, ts, now, metadata, decay_id, DECAY_EVENT_TYPE, decay_key),
        )
        conn.execute(
            "INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, rule_ids, weight, multiplier, delta,"
            " before, after, filtered_by)"
            " SELECT seq, ruleset_id, ?1, lead_id, '[]', -?2, 1.0, after - before, before, after, NULL"
            " FROM temp.decay_rows ORDER BY seq, ruleset_id",
            (unit_id, decrease),
        )
    conn.execute(
        "INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
        " SELECT ?1, ruleset_id, lead_id, after, ?2 FROM temp.decay_rows WHERE true"
        " ON CONFLICT (unit_id, lead_id, ruleset_id) DO UPDATE SET score = excluded.score,"
        " updated_at = excluded.updated_at",
        (unit_id, now),
    )
    hour = hour_of(ts)
    score_hours = {(unit_id, rs, hour): 0 for rs in ruleset_ids}
    for ruleset_id, delta in conn.execute("SELECT ruleset_id, sum(after - before) FROM temp.decay_rows"
                                          " GROUP BY ruleset_id"):
        score_hours[(unit_id, ruleset_id, hour)] = int(delta)
    add_hours(conn, {(unit_id, hour, decay_key): due}, score_hours)
    # A negative score floored up to 0 rises: a rise score gains must bound.
    raised = [(ruleset_id, ts, lead_id, rise) for ruleset_id, lead_id, rise in conn.execute(
        "SELECT ruleset_id, lead_id, after - before FROM temp.decay_rows WHERE after > before")]
    if raised:
        add_rises(conn, sum_rises(raised, kept_rulesets(conn)))


def decayed_scores(conn: apsw.Connection, ruleset_id: str | None) -> list[tuple[str, int]]:
    """(lead_id, score after) of every lead the last `record_due` decayed, in one ruleset (0 where it has no score
    row there, or for None), in arrival order."""
    return [(str(r[0]), int(r[1])) for r in conn.execute(
        "SELECT d.lead_id, coalesce(r.after, 0) FROM temp.decay_due d"
        " LEFT JOIN temp.decay_rows r ON r.seq = d.seq AND r.ruleset_id = ? ORDER BY d.seq", (ruleset_id,))]


def decayed_rows(conn: apsw.Connection) -> list[tuple[str, str, str, int, int]]:
    """(lead_id, event_id, ruleset_id, before, after) of every score row the last `record_due` wrote, in arrival
    order then ruleset."""
    return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in conn.execute(
        "SELECT d.lead_id, d.event_id, r.ruleset_id, r.before, r.after FROM temp.decay_rows r"
        " JOIN temp.decay_due d ON d.seq = r.seq ORDER BY r.seq, r.ruleset_id")]
