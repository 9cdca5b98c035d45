"""SQL for fit configuration (field mappings, profile/account rulesets and rules) and the per-lead profile
state (metadata, profile score, account) the fit pipeline reads and writes.

Profile and account configuration share tables, told apart by `target` ('profile' | 'account'). Every
function takes the connection, then the OU id, and filters by it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar
from leadvibe.store.config_rows import ConfigTable

MAPPINGS = ConfigTable(
    "field_mappings",
    frozenset({"source_field", "property", "update_behavior"}),
    filters=frozenset({"target"}),
)
RULESETS = ConfigTable(
    "fit_rulesets",
    frozenset({"name", "enabled"}),
    order="is_primary DESC, created_at, id",
    filters=frozenset({"target"}),
)
RULES = ConfigTable(
    "fit_rules",
    frozenset({"property", "condition", "comparison_value", "weight", "ui_order"}),
    order="ui_order, created_at, id",
    filters=frozenset({"ruleset_id"}),
)


# -- rulesets ------------------------------------------------------------------------------------------------
def rule_counts(conn: apsw.Connection, unit_id: str, target: str) -> dict[str, int]:
    """ruleset id -> number of rules, for the OU's rulesets of one target."""
    return {
        r[0]: int(r[1])
        for r in conn.execute(
            "SELECT s.id, count(r.id) FROM fit_rulesets s LEFT JOIN fit_rules r ON r.ruleset_id = s.id"
            " WHERE s.unit_id = ? AND s.target = ? GROUP BY s.id",
            (unit_id, target),
        )
    }


def set_primary(conn: apsw.Connection, unit_id: str, target: str, ruleset_id: str, now: int) -> None:
    """Make one ruleset the primary of its target, clearing the flag on the others first (the partial unique
    index allows one primary at any moment)."""
    conn.execute(
        "UPDATE fit_rulesets SET is_primary = 0, updated_at = ? WHERE unit_id = ? AND target = ? AND"
        " is_primary = 1 AND id <> ?",
        (now, unit_id, target, ruleset_id),
    )
    conn.execute(
        "UPDATE fit_rulesets SET is_primary = 1, updated_at = ? WHERE unit_id = ? AND id = ?",
        (now, unit_id, ruleset_id),
    )


def clear_primary(conn: apsw.Connection, unit_id: str, ruleset_id: str, now: int) -> None:
    """Take the primary flag off one ruleset (the target is then without a primary until one is chosen)."""
    conn.execute(
        "UPDATE fit_rulesets SET is_primary = 0, updated_at = ? WHERE unit_id = ? AND id = ?",
        (now, unit_id, ruleset_id),
    )


def count_rulesets(conn: apsw.Connection, unit_id: str, target: str) -> int:
    """How many rulesets of one target the OU has."""
    return int(
        scalar(conn, "SELECT count(*) FROM fit_rulesets WHERE unit_id = ? AND target = ?", (unit_id, target))
    )


def scoring_rules(conn: apsw.Connection, unit_id: str, target: str) -> tuple[str | None, list[dict[str, Any]]]:
    """The primary ruleset of a target when it is enabled, and its rules in order; (None, []) otherwise."""
    ruleset_id = scalar(
        conn,
        "SELECT id FROM fit_rulesets WHERE unit_id = ? AND target = ? AND is_primary = 1 AND enabled = 1",
        (unit_id, target),
    )
    if ruleset_id is None:
        return None, []
    return str(ruleset_id), RULES.list(conn, unit_id, ruleset_id=ruleset_id)


def abm_enabled(conn: apsw.Connection, unit_id: str) -> bool:
    """The organization's ABM toggle, seen from one of its OUs."""
    return bool(
        scalar(
            conn,
            "SELECT o.abm_enabled FROM org_units u JOIN organizations o ON o.id = u.org_id WHERE u.id = ?",
            (unit_id,),
        )
    )


# -- lead profile state --------------------------------------------------------------------------------------
_LEAD_FIT_COLS = "rowid, id, org_id, metadata, account_id, profile_score, source, metadata_set_at"


def lead_fit_rows(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> (rowid, id, org_id, metadata, account_id, profile_score, source, metadata_set_at) of live leads of
    the OU."""
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(lead_ids), 500):
        chunk = list(lead_ids[i : i + 500])
        for row in query(
            conn,
            f"SELECT {_LEAD_FIT_COLS} FROM leads WHERE unit_id = ? AND merged_into IS NULL"
            f" AND id IN ({placeholders(len(chunk))})",
            (unit_id, *chunk),
        ):
            out[row["id"]] = row
    return out


def lead_chunk(conn: apsw.Connection, unit_id: str, after_rowid: int, limit: int) -> list[dict[str, Any]]:
    """The next live leads of the OU in rowid order (chunked passes: re-score, backfills)."""
    return query(
        conn,
        f"SELECT {_LEAD_FIT_COLS} FROM leads WHERE unit_id = ? AND merged_into IS NULL AND rowid > ?"
        " ORDER BY rowid LIMIT ?",
        (unit_id, after_rowid, limit),
    )


def save_lead_profile(
    conn: apsw.Connection,
    unit_id: str,
    lead_id: str,
    *,
    metadata: dict[str, Any] | None,
    profile_score: int,
    account_id: str | None,
    now: int,
    by_hand: bool = False,
) -> None:
    """Write a lead's profile state (metadata only when given: a score-only change leaves it alone); `by_hand`:
    the metadata was written through the API, remembered as `metadata_set_at`."""
    if metadata is None:
        conn.execute(
            "UPDATE leads SET profile_score = ?, account_id = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
            (profile_score, account_id, now, unit_id, lead_id),
        )
    else:
        conn.execute(
            "UPDATE leads SET metadata = ?, profile_score = ?, account_id = ?, updated_at = ?,"
            " metadata_set_at = coalesce(?, metadata_set_at) WHERE unit_id = ? AND id = ?",
            (json.dumps(metadata, separators=(",", ":"), ensure_ascii=False), profile_score, account_id, now,
             now if by_hand else None, unit_id, lead_id),
        )


def set_profile_scores(conn: apsw.Connection, unit_id: str, scores: Sequence[tuple[int, int]]) -> None:
    """(profile_score, rowid) pairs of the OU's leads."""
    conn.executemany(
        "UPDATE leads SET profile_score = ? WHERE unit_id = ? AND rowid = ?",
        [(score, unit_id, rowid) for score, rowid in scores],
    )


def email_aliases(conn: apsw.Connection, unit_id: str, lead_id: str) -> list[str]:
    """The lead's email aliases (normalized): its own oldest first, then those a merge moved to it."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT value FROM lead_aliases WHERE unit_id = ? AND lead_id = ? AND kind = 'email'"
            " ORDER BY merged_from IS NOT NULL, created_at, value",
            (unit_id, lead_id),
        )
    ]


def events_with_metadata(
    conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]
) -> dict[str, list[tuple[int, str]]]:
    """lead id -> (received_at, metadata JSON) of its events in arrival order (backfills replay mappings over
    them)."""
    out: dict[str, list[tuple[int, str]]] = {lead: [] for lead in lead_ids}
    if not lead_ids:
        return out
    for lead_id, received_at, metadata in conn.execute(
        f"SELECT lead_id, received_at, metadata FROM events WHERE unit_id = ?"
        f" AND lead_id IN ({placeholders(len(lead_ids))}) AND metadata IS NOT NULL AND decay_id IS NULL ORDER BY seq",
        (unit_id, *lead_ids),
    ):
        out[lead_id].append((int(received_at), metadata))
    return out


# -- jobs ----------------------------------------------------------------------------------------------------
def request_job(conn: apsw.Connection, unit_id: str, target: str, now: int) -> None:
    """Ask for a full re-score of one target in the OU (restarts a pass already under way from the start)."""
    conn.execute(
        "INSERT INTO fit_jobs (unit_id, target, cursor, requested_at) VALUES (?,?,0,?)"
        " ON CONFLICT (unit_id, target) DO UPDATE SET cursor = 0, generation = generation + 1,"
        " requested_at = excluded.requested_at",
        (unit_id, target, now),
    )


def pending_jobs(conn: apsw.Connection) -> list[dict[str, Any]]:
    """Every pending re-score (all OUs: the server's task serves them all), oldest request first."""
    return query(conn, "SELECT unit_id, target, cursor, generation FROM fit_jobs ORDER BY requested_at")


def job(conn: apsw.Connection, unit_id: str, target: str) -> dict[str, Any] | None:
    """One pending job."""
    return query_one(
        conn, "SELECT unit_id, target, cursor, generation FROM fit_jobs WHERE unit_id = ? AND target = ?",
        (unit_id, target),
    )


def advance_job(conn: apsw.Connection, unit_id: str, target: str, generation: int, cursor: int | None) -> None:
    """Record progress (None: done, the job goes), unless the job was requested again meanwhile."""
    if cursor is None:
        conn.execute(
            "DELETE FROM fit_jobs WHERE unit_id = ? AND target = ? AND generation = ?",
            (unit_id, target, generation),
        )
    else:
        conn.execute(
            "UPDATE fit_jobs SET cursor = ? WHERE unit_id = ? AND target = ? AND generation = ?",
            (cursor, unit_id, target, generation),
        )
