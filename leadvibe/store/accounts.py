"""SQL for accounts (ABM): the account rows, their members, and the figures computed from the members at query
time (so they stay right whatever happens to the leads: merges, moves, deletions).

Every function takes the connection, then the OU id, and filters by it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar
from leadvibe.store.events import LEAD_HALVES, each_lead_half

DAY_MS = 86_400_000
_COLS = "rowid, id, org_id, unit_id, domain, name, metadata, score, source, created_by, created_at, updated_at"


def get_account(conn: apsw.Connection, unit_id: str, account_id: str) -> dict[str, Any] | None:
    """One account of the OU."""
    return query_one(conn, f"SELECT {_COLS} FROM accounts WHERE unit_id = ? AND id = ?", (unit_id, account_id))


def accounts_by_id(conn: apsw.Connection, unit_id: str, account_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """id -> row of the OU's accounts among `account_ids`."""
    out: dict[str, dict[str, Any]] = {}
    ids = list(dict.fromkeys(account_ids))
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for row in query(
            conn,
            f"SELECT {_COLS} FROM accounts WHERE unit_id = ? AND id IN ({placeholders(len(chunk))})",
            (unit_id, *chunk),
        ):
            out[row["id"]] = row
    return out


def ensure_account(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    account_id: str | None,
    domain: str | None,
    new_id: str,
    source: str,
    now: int,
) -> tuple[str, bool]:
    """The account named by `account_id`, else the one of `domain`, created on first sight (with `new_id` when no
    id was given). Returns (account id, created)."""
    if account_id is not None:
        if scalar(conn, "SELECT 1 FROM accounts WHERE unit_id = ? AND id = ?", (unit_id, account_id)):
            return account_id, False
        conn.execute(
            "INSERT INTO accounts (unit_id, id, org_id, domain, name, source, created_by, created_at, updated_at)"
            " VALUES (?,?,?,NULL,?,?,?,?,?)",
            (unit_id, account_id, org_id, account_id, source, source if source == "seed" else None, now, now),
        )
        return account_id, True
    assert domain is not None
    found = scalar(conn, "SELECT id FROM accounts WHERE unit_id = ? AND domain = ?", (unit_id, domain))
    if found is not None:
        return str(found), False
    conn.execute(
        "INSERT INTO accounts (unit_id, id, org_id, domain, name, source, created_by, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (unit_id, new_id, org_id, domain, domain, source, source if source == "seed" else None, now, now),
    )
    return new_id, True


def insert_account(conn: apsw.Connection, unit_id: str, org_id: str, row: dict[str, Any], now: int) -> None:
    """Insert an account with every field given (`id`, `domain`, `name`, `metadata`, `score`, `source`)."""
    conn.execute(
        "INSERT INTO accounts (unit_id, id, org_id, domain, name, metadata, score, source, created_by,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (unit_id, row["id"], org_id, row.get("domain"), row["name"], json.dumps(row.get("metadata") or {}),
         int(row.get("score") or 0), row.get("source", "api"), row.get("created_by"), now, now),
    )


def save_account(
    conn: apsw.Connection, unit_id: str, account_id: str, *, metadata: dict[str, Any] | None, score: int, now: int
) -> None:
    """Write an account's metadata (when given) and score."""
    if metadata is None:
        conn.execute(
            "UPDATE accounts SET score = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
            (score, now, unit_id, account_id),
        )
    else:
        conn.execute(
            "UPDATE accounts SET metadata = ?, score = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
            (json.dumps(metadata, separators=(",", ":"), ensure_ascii=False), score, now, unit_id, account_id),
        )


def account_chunk(conn: apsw.Connection, unit_id: str, after_rowid: int, limit: int) -> list[dict[str, Any]]:
    """The next accounts of the OU in rowid order (chunked re-score)."""
    return query(
        conn,
        f"SELECT {_COLS} FROM accounts WHERE unit_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
        (unit_id, after_rowid, limit),
    )


def set_scores(conn: apsw.Connection, unit_id: str, scores: Sequence[tuple[int, int]]) -> None:
    """(score, rowid) pairs of the OU's accounts."""
    conn.executemany(
        "UPDATE accounts SET score = ? WHERE unit_id = ? AND rowid = ?",
        [(score, unit_id, rowid) for score, rowid in scores],
    )


def property_names(conn: apsw.Connection, unit_id: str) -> list[str]:
    """Distinct top-level keys of the OU's account metadata, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT j.key FROM accounts a, json_each(a.metadata) j WHERE a.unit_id = ?"
            " AND json_valid(a.metadata) AND json_type(a.metadata) = 'object' ORDER BY j.key",
            (unit_id,),
        )
    ]


# -- lists and figures ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AccountFilter:
    """Filters of `GET /accounts` (all optional)."""

    created_from: int | None = None
    created_to: int | None = None
    search: str | None = None
    score_ranges: tuple[tuple[int, int], ...] | None = None  # None: any score; (): no score qualifies


def list_accounts(
    conn: apsw.Connection, unit_id: str, f: AccountFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of accounts (highest account score first, then name) and the total matching."""
    if f.score_ranges == ():
        return [], 0
    where = "a.unit_id = ?"
    params: list[Any] = [unit_id]
    if f.created_from is not None:
        where += " AND a.created_at >= ?"
        params.append(f.created_from)
    if f.created_to is not None:
        where += " AND a.created_at < ?"
        params.append(f.created_to)
    if f.search:
        # instr on lower-cased text: a plain substring (no LIKE wildcards to escape), case-insensitive for ASCII.
        # The name shown is the `name` account property when there is one (api/accounts.py): it is searched too.
        where += " AND (instr(lower(a.name), ?) > 0 OR instr(lower(coalesce(a.domain, '')), ?) > 0" \
                 " OR instr(lower(a.id), ?) > 0 OR (json_type(a.metadata, '$.name') = 'text'" \
                 " AND instr(lower(a.metadata ->> '$.name'), ?) > 0))"
        needle = f.search.lower()
        params += [needle, needle, needle, needle]
    if f.score_ranges is not None:
        where += " AND (" + " OR ".join("a.score BETWEEN ? AND ?" for _ in f.score_ranges) + ")"
        params += [bound for pair in f.score_ranges for bound in pair]
    total = int(scalar(conn, f"SELECT count(*) FROM accounts a WHERE {where}", params))
    rows = query(
        conn,
        f"SELECT {', '.join('a.' + c.strip() for c in _COLS.split(','))} FROM accounts a WHERE {where}"
        " ORDER BY a.score DESC, a.name, a.id LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return rows, total


def member_figures(
    conn: apsw.Connection, unit_id: str, ruleset_id: str | None, account_ids: Sequence[str], now: int
) -> dict[str, dict[str, Any]]:
    """account id -> {leads_count, top_score, top_lead_id, owner_id, surging} from the accounts' live members:
    `top_score` is the highest primary-ruleset score, its lead the "owner" lead; `surging` = a member has a surge
    event in the last 24 hours."""
    out: dict[str, dict[str, Any]] = {
        a: {"leads_count": 0, "top_score": 0, "top_lead_id": None, "owner_id": None, "surging": False}
        for a in account_ids
    }
    if not account_ids:
        return out
    marks = placeholders(len(account_ids))
    for account_id, count, top, lead_id, owner_id in conn.execute(
        "SELECT account_id, n, score, id, owner_id FROM (SELECT l.account_id, l.id, l.owner_id,"
        " coalesce(s.score, 0) AS score, count(*) OVER w AS n,"
        " row_number() OVER (w ORDER BY coalesce(s.score, 0) DESC, l.id) AS r"
        " FROM leads l LEFT JOIN lead_scores s ON s.unit_id = l.unit_id AND s.ruleset_id = ? AND s.lead_id = l.id"
        f" WHERE l.unit_id = ? AND l.account_id IN ({marks}) AND l.merged_into IS NULL"
        " WINDOW w AS (PARTITION BY l.account_id)) WHERE r = 1",
        (ruleset_id, unit_id, *account_ids),
    ):
        out[account_id].update(leads_count=int(count), top_score=int(top), top_lead_id=lead_id, owner_id=owner_id)
    for (account_id,) in conn.execute(
        # A surge event keeps the lead it fired for; once that lead is merged, it counts for the lead it went into.
        "SELECT DISTINCT l.account_id FROM surge_events se JOIN leads src ON src.unit_id = se.unit_id"
        " AND src.id = se.lead_id JOIN leads l ON l.unit_id = src.unit_id AND l.id = coalesce(src.merged_into, src.id)"
        f" WHERE se.unit_id = ? AND se.occurred_at >= ? AND l.account_id IN ({marks}) AND l.merged_into IS NULL",
        (unit_id, now - DAY_MS, *account_ids),
    ):
        out[account_id]["surging"] = True
    return out


def members(
    conn: apsw.Connection, unit_id: str, ruleset_id: str | None, account_id: str, limit: int
) -> list[dict[str, Any]]:
    """The account's live leads, highest primary score first."""
    return query(
        conn,
        "SELECT l.id, l.metadata, l.profile_score, l.last_event_at, l.last_event_type, coalesce(s.score, 0) AS score"
        " FROM leads l LEFT JOIN lead_scores s ON s.unit_id = l.unit_id AND s.ruleset_id = ? AND s.lead_id = l.id"
        " WHERE l.unit_id = ? AND l.account_id = ? AND l.merged_into IS NULL"
        " ORDER BY score DESC, l.id LIMIT ?",
        (ruleset_id, unit_id, account_id, limit),
    )


def recent_events(conn: apsw.Connection, unit_id: str, account_id: str, limit: int) -> list[dict[str, Any]]:
    """The newest events of the account's live leads (each lead's two halves of events, `LEAD_HALVES`)."""
    half = ("SELECT e.id, e.lead_id, e.event_type, e.occurred_at, e.channel, e.seq FROM leads l"
            " JOIN events e INDEXED BY {index} ON e.unit_id = l.unit_id AND e.lead_id = l.id AND e.decay_id {decay}"
            " WHERE l.unit_id = ? AND l.account_id = ? AND l.merged_into IS NULL")
    rows = query(conn, each_lead_half(half, " UNION ALL ") + " ORDER BY occurred_at DESC, seq DESC LIMIT ?",
                 (unit_id, account_id) * len(LEAD_HALVES) + (limit,))
    for row in rows:
        del row["seq"]
    return rows


def stamp_event_accounts(
    conn: apsw.Connection, unit_id: str, leads: Sequence[tuple[str, str]]
) -> tuple[int, int]:
    """For (lead id, account id) pairs: set `accountId` in the metadata of the lead's events (not DECAY events)
    where it is missing or names another account. Returns (events looked at, events changed)."""
    if not leads:
        return 0, 0
    ids = [lead for lead, _ in leads]
    scanned = int(scalar(
        conn, f"SELECT count(*) FROM events WHERE unit_id = ? AND lead_id IN ({placeholders(len(ids))})"
        " AND decay_id IS NULL", (unit_id, *ids)) or 0)
    before = conn.total_changes()
    conn.executemany(
        "UPDATE events SET metadata = json_set(coalesce(metadata, '{}'), '$.accountId', ?1)"
        " WHERE unit_id = ?2 AND lead_id = ?3 AND decay_id IS NULL"
        " AND (metadata IS NULL OR json_extract(metadata, '$.accountId') IS NOT ?1)",
        [(account, unit_id, lead) for lead, account in leads],
    )
    return scanned, conn.total_changes() - before


def owner_names(conn: apsw.Connection, org_id: str, member_ids: Sequence[str]) -> dict[str, str]:
    """member id -> "First Last" for the lead owners that are members of the organization."""
    ids = [m for m in dict.fromkeys(member_ids) if m]
    if not ids:
        return {}
    return {
        r[0]: f"{r[1]} {r[2]}".strip()
        for r in conn.execute(
            f"SELECT id, first_name, last_name FROM members WHERE org_id = ? AND id IN ({placeholders(len(ids))})",
            (org_id, *ids),
        )
    }


def unlink_and_delete(conn: apsw.Connection, unit_id: str, account_ids: Sequence[str], now: int) -> dict[str, int]:
    """Unlink the OU's leads (live and merged) from these accounts, then delete the accounts, which no lead
    references any more. Returns counts."""
    ids = list(dict.fromkeys(account_ids))
    if not ids:
        return {"leads_unlinked": 0, "accounts_deleted": 0}
    marks = placeholders(len(ids))
    conn.execute(
        f"UPDATE leads SET account_id = NULL, updated_at = ? WHERE unit_id = ? AND account_id IN ({marks})",
        (now, unit_id, *ids),
    )
    unlinked = conn.changes()
    conn.execute(f"DELETE FROM accounts WHERE unit_id = ? AND id IN ({marks})", (unit_id, *ids))
    return {"leads_unlinked": unlinked, "accounts_deleted": conn.changes()}
