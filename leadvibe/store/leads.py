"""SQL for leads as users see them: list, get, create/replace/patch, aliases, scores, search, explanation,
merge and asynchronous deletion.

Lead *resolution* (event -> lead by id or alias, following `merged_into`) is `store/events.py`; this module
reuses it and never re-implements it. Every statement filters by the OU id, which every function takes first
after `conn`."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import apsw

from leadvibe.db.rows import placeholders, query, query_one, scalar
from leadvibe.engine.levels import Level
from leadvibe.engine.normalize import type_key
from leadvibe.store import events as ev_store
from leadvibe.store import lead_props

# Columns every lead view needs; `score` is joined in by the caller's query.
LEAD_COLS = (
    "l.id, l.org_id, l.unit_id, l.account_id, l.owner_id, l.merged_into, l.metadata, l.created_at,"
    " l.updated_at, l.last_event_at, l.last_event_type, l.session_count, l.profile_score"
)

DAY_MS = 86_400_000
SCORE_SORTS = ("score_desc", "score_asc")
SORTS = ("score_desc", "score_asc", "recent", "created", "profile_desc", "profile_asc")


# -- scoring context -----------------------------------------------------------------------------------------
def primary_ruleset_id(conn: apsw.Connection, unit_id: str) -> str | None:
    """The OU's primary ruleset (None when there is none)."""
    return scalar(conn, "SELECT id FROM rulesets WHERE unit_id = ? AND is_primary = 1", (unit_id,))


def ranked_sql(conn: apsw.Connection, unit_id: str, ruleset_id: str | None) -> str:
    """` AND s.ranked = 1` where `ruleset_id` is the OU's primary ruleset, else nothing. Only the primary ruleset's
    score rows are in `lead_scores_rank` (migration 0057), and SQLite walks a partial index only for a query that
    names its condition; another ruleset's rows are read by the table's key."""
    if ruleset_id is not None and primary_ruleset_id(conn, unit_id) == ruleset_id:
        return " AND s.ranked = 1"
    return ""


def find_ruleset(conn: apsw.Connection, unit_id: str, ref: str) -> dict[str, Any] | None:
    """A ruleset of the OU by id, else by name (ids win: a name may not be unique)."""
    row = query_one(
        conn, "SELECT id, name, active, is_primary FROM rulesets WHERE unit_id = ? AND id = ?", (unit_id, ref)
    )
    return row or query_one(
        conn,
        "SELECT id, name, active, is_primary FROM rulesets WHERE unit_id = ? AND name = ?"
        " ORDER BY created_at, id LIMIT 1",
        (unit_id, ref),
    )


def engagement_levels(conn: apsw.Connection, unit_id: str) -> list[Level]:
    """The OU's engagement levels (a handful of rows; banding is done by `engine.levels.level_for`)."""
    return [
        Level(r["id"], r["name"], int(r["min_score"]), int(r["max_score"]))
        for r in query(
            conn,
            "SELECT id, name, min_score, max_score FROM levels WHERE unit_id = ? AND kind = 'engagement'",
            (unit_id,),
        )
    ]


def scores_in(
    conn: apsw.Connection, unit_id: str, ruleset_id: str, lead_ids: Sequence[str]
) -> dict[str, int]:
    """lead_id -> score in one ruleset; one primary-key probe per lead (missing: not in the result)."""
    out: dict[str, int] = {}
    for start in range(0, len(lead_ids), 500):
        chunk = list(lead_ids[start : start + 500])
        for lead_id, score in conn.execute(
            f"SELECT lead_id, score FROM lead_scores WHERE unit_id = ? AND ruleset_id = ?"
            f" AND lead_id IN ({placeholders(len(chunk))})",
            (unit_id, ruleset_id, *chunk),
        ):
            out[lead_id] = int(score)
    return out


def highest_score(conn: apsw.Connection, unit_id: str, lead_id: str) -> tuple[str | None, int]:
    """(ruleset id, score) of the lead's highest score across active rulesets; (None, 0) without any."""
    row = conn.execute(
        "SELECT s.ruleset_id, s.score FROM lead_scores s JOIN rulesets r ON r.id = s.ruleset_id AND"
        " r.active = 1"
        " WHERE s.unit_id = ? AND s.lead_id = ? ORDER BY s.score DESC, r.is_primary DESC,"
        " r.created_at LIMIT 1",
        (unit_id, lead_id),
    ).fetchone()
    if row is not None:
        return row[0], int(row[1])
    # No score row yet: the lead scores 0 in the primary (or first active) ruleset.
    rs = scalar(
        conn,
        "SELECT id FROM rulesets WHERE unit_id = ? AND active = 1 ORDER BY is_primary DESC,"
        " created_at, id LIMIT 1",
        (unit_id,),
    )
    return rs, 0


# -- single lead ---------------------------------------------------------------------------------------------
def get_lead(
    conn: apsw.Connection, unit_id: str, lead_id: str, ruleset_id: str | None = None
) -> dict[str, Any] | None:
    """A live lead with its score in `ruleset_id` (0 without a row, None without a ruleset)."""
    return query_one(
        conn,
        f"SELECT {LEAD_COLS}, s.score FROM leads l LEFT JOIN lead_scores s ON s.unit_id = l.unit_id"
        " AND s.ruleset_id = ? AND s.lead_id = l.id WHERE l.unit_id = ? AND l.id = ? AND"
        " l.merged_into IS NULL",
        (ruleset_id, unit_id, lead_id),
    )


def lead_exists(conn: apsw.Connection, unit_id: str, lead_id: str) -> bool:
    """True when the id names a lead of the OU, live or merged (ids are never reused)."""
    return scalar(conn, "SELECT 1 FROM leads WHERE unit_id = ? AND id = ?", (unit_id, lead_id)) is not None


def insert_lead(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    lead_id: str,
    metadata: str,
    account_id: str | None,
    now: int,
    source: str = "api",
) -> bool:
    """Create a lead with a client id; False when the id exists in the OU (live or merged)."""
    conn.execute(
        "INSERT OR IGNORE INTO leads (unit_id, id, org_id, metadata, account_id, source, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?,?,?)",
        (unit_id, lead_id, org_id, metadata, account_id, source, now, now),
    )
    return conn.changes() == 1


def aliases_of(conn: apsw.Connection, unit_id: str, lead_id: str) -> list[dict[str, Any]]:
    """A lead's aliases (normalized value and the spelling first seen)."""
    return aliases_of_many(conn, unit_id, [lead_id]).get(lead_id, [])


def display_name(name: Any, first: Any, last: Any, email: Any, alias_email: Any = None) -> str | None:
    """What a person calls a lead: metadata `name`, else first and last name, else metadata `email`, else the
    spelling of its first email alias (None when it has none of them: a lead made from an email alias alone is
    still known by that address). The dashboard's `leadLabel` (web/src/lib/format.js) reads the same keys in this
    order."""
    if isinstance(name, str) and name.strip():
        return name.strip()
    parts = [p.strip() for p in (first, last) if isinstance(p, str) and p.strip()]
    if parts:
        return " ".join(parts)
    for address in (email, alias_email):
        if isinstance(address, str) and address.strip():
            return address.strip()
    return None


def first_email_alias(aliases: Sequence[dict[str, Any]]) -> str | None:
    """The spelling of the first-seen email alias among a lead's alias rows (`aliases_of`'s order), if any."""
    return next((str(a["raw_value"]) for a in aliases if a["kind"] == "email"), None)


def metadata_name(metadata: dict[str, Any], aliases: Sequence[dict[str, Any]] = ()) -> str | None:
    """`display_name` of decoded lead metadata and the lead's alias rows."""
    return display_name(metadata.get("name"), metadata.get("first_name"), metadata.get("last_name"),
                        metadata.get("email"), first_email_alias(aliases))


def lead_names(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> dict[str, str]:
    """lead_id -> `display_name` of the given leads that have one (a short list's: one probe per lead, and one of
    its aliases for a lead whose metadata names nobody)."""
    if not lead_ids:
        return {}
    out: dict[str, str] = {}
    for lead_id, *fields in conn.execute(
            "SELECT id, metadata ->> '$.name', metadata ->> '$.first_name', metadata ->> '$.last_name',"
            " metadata ->> '$.email', (SELECT raw_value FROM lead_aliases AS a INDEXED BY lead_aliases_lead"
            "   WHERE a.unit_id = ?1 AND a.lead_id = leads.id AND a.kind = 'email'"
            "   ORDER BY a.merged_from IS NOT NULL, a.created_at, a.value LIMIT 1)"
            " FROM leads WHERE unit_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            (unit_id, json.dumps(list(lead_ids)))):
        name = display_name(*fields)
        if name is not None:
            out[str(lead_id)] = name
    return out


def sessions_started(conn: apsw.Connection, unit_id: str, lead_ids: list[str], start: int | None,
                     end: int | None) -> dict[str, int]:
    """Per lead, the sessions it opened with an event in [start, end): its scored events at position 1 of their
    session (`session_index`), as `session_count` counts them over all time. One walk of the lead-keyed index per
    lead, the row read only for the events in the range."""
    if not lead_ids:
        return {}
    marks = ",".join("?" * len(lead_ids))
    return {lead_id: int(n) for lead_id, n in conn.execute(
        "SELECT lead_id, count(*) FROM events INDEXED BY events_lead_type_time WHERE unit_id = ?"
        f" AND lead_id IN ({marks}) AND decay_id IS NULL AND occurred_at >= ? AND occurred_at < ?"
        " AND session_index = 1 AND scope != 'observe' GROUP BY lead_id",
        (unit_id, *lead_ids, start if start is not None else -(2**62), end if end is not None else 2**62))}


def aliases_of_many(conn: apsw.Connection, unit_id: str, lead_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Aliases of several leads (a list page's), by lead id, each lead's own in the order they were first seen,
    then those a merge moved to it (so a merged lead keeps the name its first email gives it): one
    probe of `lead_aliases_lead` per lead. The index is named so the plan does not depend on the statistics a
    connection happened to load: at 1 M leads the server's long-lived readers spent ~160 ms per `/leads` page in
    this query, where a fresh connection probing the index took ~1 ms."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not lead_ids:
        return out
    marks = ",".join("?" * len(lead_ids))
    for row in query(
        conn,
        "SELECT lead_id, kind, value, raw_value, created_at FROM lead_aliases INDEXED BY lead_aliases_lead"
        " WHERE unit_id = ?"
        f" AND lead_id IN ({marks}) ORDER BY lead_id, merged_from IS NOT NULL, created_at, kind, value",
        (unit_id, *lead_ids),
    ):
        out.setdefault(row.pop("lead_id"), []).append(row)
    return out


# -- list ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LeadFilter:
    """Filters of `GET /leads` (all optional; times in ms)."""

    created_from: int | None = None
    created_to: int | None = None
    min_score: int | None = None
    max_score: int | None = None
    event_type: str | None = None
    active_since: int | None = None
    sort: str = "score_desc"
    # Profile (fit) score bounds and the score ranges of a profile level (() = no score qualifies).
    min_profile: int | None = None
    max_profile: int | None = None
    profile_ranges: tuple[tuple[int, int], ...] | None = None
    account_id: str | None = None
    # A segment's members: a SELECT of lead rowids (`store.segments.member_sql`) and its parameters.
    members: tuple[str, tuple[Any, ...]] | None = None

    def admits_zero(self) -> bool:
        """Whether a lead without a score row (score 0) passes the score filter."""
        return (self.min_score is None or self.min_score <= 0) and (
            self.max_score is None or self.max_score >= 0
        )

    def has_lead_filters(self) -> bool:
        """Whether any filter is on the leads table (not on the score)."""
        return any(
            v is not None
            for v in (self.created_from, self.created_to, self.event_type, self.active_since, self.min_profile,
                      self.max_profile, self.profile_ranges, self.account_id, self.members)
        )


def _lead_where(f: LeadFilter, params: list[Any], members: bool = True) -> str:
    sql = ""
    if f.created_from is not None:
        sql += " AND l.created_at >= ?"
        params.append(f.created_from)
    if f.created_to is not None:
        sql += " AND l.created_at < ?"
        params.append(f.created_to)
    if f.active_since is not None:
        # last_organic_at holds last_event_at's time (migration 0058) and has the index.
        sql += " AND l.last_organic_at >= ?"
        params.append(f.active_since)
    if f.event_type is not None:
        # last_event_type keeps the spelling sent; matching is by normalized key (SEMANTICS §2), stored beside it
        # (migration 0059) except on rows nothing has written it to yet, which are normalized here.
        sql += (" AND (l.last_type_key = ? OR (l.last_type_key IS NULL AND l.last_event_type IS NOT NULL"
                " AND lv_type_key(l.last_event_type) = ?))")
        params.extend([type_key(f.event_type)] * 2)
    if f.min_profile is not None:
        sql += " AND l.profile_score >= ?"
        params.append(f.min_profile)
    if f.max_profile is not None:
        sql += " AND l.profile_score <= ?"
        params.append(f.max_profile)
    if f.profile_ranges is not None:
        sql += " AND (" + (" OR ".join("l.profile_score BETWEEN ? AND ?" for _ in f.profile_ranges) or "0") + ")"
        params.extend(bound for pair in f.profile_ranges for bound in pair)
    if f.account_id is not None:
        sql += " AND l.account_id = ?"
        params.append(f.account_id)
    if members and f.members is not None:
        sql += f" AND l.rowid IN ({f.members[0]})"
        params.extend(f.members[1])
    return sql


def _score_where(f: LeadFilter, params: list[Any], col: str = "s.score") -> str:
    sql = ""
    if f.min_score is not None:
        sql += f" AND {col} >= ?"
        params.append(f.min_score)
    if f.max_score is not None:
        sql += f" AND {col} <= ?"
        params.append(f.max_score)
    return sql


def _register_functions(conn: apsw.Connection) -> None:
    conn.create_scalar_function("lv_type_key", _sql_type_key, 1, deterministic=True)


def _sql_type_key(*values: apsw.SQLiteValue) -> str | None:
    # SQL function lv_type_key(text): the normalized event type, NULL for anything that is not text.
    return type_key(values[0]) if isinstance(values[0], str) else None


def list_leads(
    conn: apsw.Connection, unit_id: str, ruleset_id: str | None, f: LeadFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of live leads with their score in `ruleset_id`, and the total matching.

    Score sorts walk `lead_scores_rank` (the primary ruleset's scored leads; another ruleset's are sorted) and then
    the leads without a score row (score 0: before a lead's first scored event, or once all its scored events
    are deleted): after the scored ones when descending, before them when ascending. Once a score is below 0
    (negative scores allowed), the unscored leads sit at 0 instead: descending, the scores from 0 up, then the
    unscored, then those below 0 (at 0, a scored lead comes before an unscored one); ascending, the reverse."""
    if f.event_type is not None:
        _register_functions(conn)
    if f.sort not in SCORE_SORTS or ruleset_id is None or f.members is not None:
        # A segment's members are few next to the OU: drive from them (sorting them by score) rather than walk
        # the OU's whole score index probing membership.
        return _list_by_lead(conn, unit_id, ruleset_id, f, limit, offset)

    desc = f.sort == "score_desc"
    direction = "DESC" if desc else "ASC"
    lead_params: list[Any] = []
    lead_sql = _lead_where(f, lead_params)
    score_params: list[Any] = []
    score_sql = _score_where(f, score_params)
    ranked = ranked_sql(conn, unit_id, ruleset_id)

    def counts(extra: str = "", page_end: int | None = None) -> tuple[int, int]:
        return _matching_counts(conn, unit_id, ruleset_id, f, lead_sql, lead_params, score_sql + extra, score_params,
                                ranked, page_end)

    def scored(extra: str, lim: int, off: int) -> list[dict[str, Any]]:
        # `extra`: a condition on s.score beside the filter's (which side of 0 this part of the order holds).
        if lim <= 0:
            return []

        def page(source: str, join: str, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
            # `source` gives score rows `s`; `where` (ending in AND) and `params` narrow them.
            return query(
                conn,
                f"SELECT {LEAD_COLS}, s.score FROM {source} {join} leads l ON l.unit_id = s.unit_id"
                f" AND l.id = s.lead_id WHERE {where}l.merged_into IS NULL{lead_sql}"
                f" ORDER BY s.score {direction}, s.lead_id {direction} LIMIT ? OFFSET ?",
                (*params, *lead_params, lim, off),
            )

        walk = _ranking_walk(conn, unit_id, total, lead_sql, score_sql + extra, ranked, off + lim)
        if walk:
            # The ranking's first `walk` entries, each lead probed: a full page found there is the page (they come
            # in the list's order). Left to choose, the planner read the lead filters' whole range and sorted it
            # by score (0.3-0.5 s at 500,000 leads for a recency or creation range holding a fifth of them).
            rows = page(f"(SELECT s.unit_id, s.lead_id, s.score FROM lead_scores s INDEXED BY lead_scores_rank"
                        f" WHERE s.unit_id = ? AND s.ruleset_id = ?{ranked}"
                        f" ORDER BY s.score {direction}, s.lead_id {direction} LIMIT ?) s", "CROSS JOIN", "",
                        (unit_id, ruleset_id, walk))
            if len(rows) == lim:
                return rows
        return page("lead_scores s", "JOIN", f"s.unit_id = ? AND s.ruleset_id = ?{ranked}{score_sql}{extra} AND ",
                    (unit_id, ruleset_id, *score_params))

    def unscored(lim: int, off: int) -> list[dict[str, Any]]:
        if lim <= 0:
            return []
        return query(
            conn,
            f"SELECT {LEAD_COLS}, 0 AS score FROM leads l WHERE l.unit_id = ? AND l.merged_into IS NULL"
            f"{lead_sql} AND NOT EXISTS (SELECT 1 FROM lead_scores s WHERE s.unit_id = l.unit_id"
            " AND s.ruleset_id = ? AND s.lead_id = l.id)"
            f" ORDER BY l.id {direction} LIMIT ? OFFSET ?",
            (unit_id, *lead_params, ruleset_id, lim, off),
        )

    # The order's parts, descending, each with how many leads it holds.
    parts: list[tuple[Callable[[int, int], list[dict[str, Any]]], int]]
    if _any_below_zero(conn, unit_id, ruleset_id):
        # The unscored leads (at 0) go between the scores from 0 up and those below; each part counted exactly.
        (from_zero, unscored_total), (below_zero, _) = counts(" AND s.score >= 0"), counts(" AND s.score < 0")
        parts = [(partial(scored, " AND s.score >= 0"), from_zero), (unscored, unscored_total),
                 (partial(scored, " AND s.score < 0"), below_zero)]
    else:
        # Descending, the page reaches the unscored leads only past the scored ones: without a score filter the
        # total is the live leads matching, so the scored count need not be exact beyond the page's end.
        scored_total, unscored_total = counts("", offset + limit if desc and not score_sql else None)
        parts = [(partial(scored, ""), scored_total), (unscored, unscored_total)]
    if not desc:
        parts.reverse()
    total = sum(n for _, n in parts)
    rows: list[dict[str, Any]] = []
    skip = offset
    for fetch, held in parts:
        if len(rows) >= limit:
            break
        if skip >= held:
            skip -= held
            continue
        rows += fetch(min(limit - len(rows), held - skip), skip)
        skip = 0
    return rows, total


def _any_below_zero(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> bool:
    """Whether a lead's score in the ruleset is below 0 (the primary's: one probe of the ranking's low end)."""
    ranked = ranked_sql(conn, unit_id, ruleset_id)
    hint = " INDEXED BY lead_scores_rank" if ranked else ""
    return conn.execute(f"SELECT 1 FROM lead_scores s{hint} WHERE s.unit_id = ? AND s.ruleset_id = ?{ranked}"
                        " AND s.score < 0 LIMIT 1", (unit_id, ruleset_id)).fetchone() is not None


# A page of a score sort under lead filters alone walks the ranking probing each lead when the filters pass enough
# of the OU's leads: it reads up to RANKING_WALK_SLACK times the entries that density predicts for the page.
RANKING_WALK_SLACK = 4


def _ranking_walk(conn: apsw.Connection, unit_id: str, matching: int, lead_sql: str, score_sql: str, ranked: str,
                  page_end: int) -> int:
    """How many entries of the ranking a page ending at `page_end` may walk (0: do not walk): only with lead
    filters and no score filter (`matching` is then the live leads they pass) on the primary ruleset's ranking,
    and only while that is fewer entries than a fifteenth of the OU (what the filters' own range would cost)."""
    if not lead_sql or score_sql or not ranked or matching <= 0:
        return 0
    live = live_count(conn, unit_id)
    walk = RANKING_WALK_SLACK * page_end * live // matching
    return walk if walk <= live // PROBE_OVER_MERGE else 0


def live_count_sql(lead_sql: str) -> str:
    """Count of an OU's live leads matching `lead_sql` (the `_lead_where` fragment; its parameters follow the
    OU id). Without lead filters it names the covering partial index `leads_unit_created`: in a one-OU database
    the statistics make `unit_id` look unselective and the planner scans the whole table instead, four times
    slower at 1 M leads (the dominant cost of the Leads screen's first page)."""
    hint = "" if lead_sql else " INDEXED BY leads_unit_created"
    return f"SELECT count(*) FROM leads l{hint} WHERE l.unit_id = ? AND l.merged_into IS NULL{lead_sql}"


def _matching_counts(conn: apsw.Connection, unit_id: str, ruleset_id: str, f: LeadFilter, lead_sql: str,
                     lead_params: list[Any], score_sql: str, score_params: list[Any],
                     ranked: str = "", at_least: int | None = None) -> tuple[int, int]:
    """(scored, unscored) live leads matching the lead filters (`lead_sql`) and the score filter (`score_sql` on
    `s.score`; an unscored lead counts when the filter admits 0). lead_scores only holds live leads (merge and
    delete remove the others' rows), so without lead filters the scored count needs no join, and without any
    filter it is the maintained count. `ranked`: `ranked_sql`'s fragment for the ruleset. Without a score filter,
    `at_least` lets the scored count stop there (see `scored_matching`); the sum stays exact."""
    # The live leads the lead filters pass, counted first where they are needed: the scored count then knows the
    # size of the filters' range without reading it again (a type filter's range is a scan of the OU's leads).
    # Up to SMALL_RANGE of them are read by id on the way: where that is all of them, their scores are probed by
    # id and the range is not read again.
    live = None
    if f.admits_zero():
        if lead_sql:
            ids = [r[0] for r in conn.execute(
                f"SELECT l.id FROM leads l WHERE l.unit_id = ? AND l.merged_into IS NULL{lead_sql} LIMIT ?",
                (unit_id, *lead_params, SMALL_RANGE + 1))]
            if len(ids) <= SMALL_RANGE:
                return _scored_among(conn, unit_id, ruleset_id, ids, score_sql, score_params, ranked)
            live = int(scalar(conn, live_count_sql(lead_sql), (unit_id, *lead_params)))
        else:
            live = live_count(conn, unit_id)
    if not lead_sql and not score_sql:
        scored = scored_count(conn, unit_id, ruleset_id)
    elif lead_sql:
        scored = scored_matching(conn, unit_id, ruleset_id, score_sql, score_params, lead_sql, lead_params, ranked,
                                 None if score_sql else at_least, leads_range=live)
    else:
        scored = int(scalar(conn, f"SELECT count(*) FROM lead_scores s WHERE s.unit_id = ? AND s.ruleset_id = ?"
                                  f"{ranked}{score_sql}", (unit_id, ruleset_id, *score_params)))
    if live is None:
        return scored, 0
    # Unscored = live minus scored, both matching the lead filters; `scored` is that when there is no score filter.
    if score_sql:
        all_scored = (scored_matching(conn, unit_id, ruleset_id, "", [], lead_sql, lead_params, ranked,
                                      leads_range=live) if lead_sql else scored_count(conn, unit_id, ruleset_id))
    else:
        all_scored = scored
    return scored, max(0, live - all_scored)


# Lead filters passing at most this many leads: their ids are read once and their scores probed by id.
SMALL_RANGE = 1_000


def _scored_among(conn: apsw.Connection, unit_id: str, ruleset_id: str, lead_ids: list[str], score_sql: str,
                  score_params: list[Any], ranked: str) -> tuple[int, int]:
    """`_matching_counts` for the live leads `lead_ids` (all that the lead filters pass; the score filter admits
    0): (those with a score row passing the score filter, those without a score row)."""
    if not lead_ids:
        return 0, 0
    row: Any = conn.execute(
        f"SELECT count(*), count(CASE WHEN 1{score_sql} THEN 1 END) FROM lead_scores s WHERE s.unit_id = ?"
        f" AND s.ruleset_id = ?{ranked} AND s.lead_id IN (SELECT value FROM json_each(?))",
        (*score_params, unit_id, ruleset_id, json.dumps(lead_ids))).fetchone()
    return int(row[1]), len(lead_ids) - int(row[0])


# A count of the leads passing a score filter and lead filters (a recency, creation or profile range...) pairs
# ranges of two tables. Probing the other table once per entry of the smaller range costs about fifteen times what
# a lead costs when both tables are walked in lead id order and merged (at 1 M leads: 5.5 µs against 0.36 µs), so
# the probe is used while a range holds fewer than a fifteenth of the OU's live leads, the merge otherwise.
PROBE_OVER_MERGE = 15


def scored_matching(conn: apsw.Connection, unit_id: str, ruleset_id: str, score_sql: str, score_params: list[Any],
                    lead_sql: str, lead_params: list[Any], ranked: str = "", at_least: int | None = None,
                    leads_range: int | None = None) -> int:
    """Live leads with a score row in the ruleset passing the score filter (`score_sql` on `s.score`, may be
    empty) and the lead filters (`lead_sql` on `l`, with `lead_params`); `ranked` as `ranked_sql` gives it.
    `leads_range`: the live leads the lead filters pass, when the caller has counted them.

    With `at_least`, a count that reaches it may stop there (the answer is then `at_least`, a lower bound; below it
    the count is exact): where both ranges are large, the score range is walked probing each lead until that many
    match, about PROBE_OVER_MERGE probes per match, while that costs less than the merge."""
    live = live_count(conn, unit_id)
    few = max(1, live // PROBE_OVER_MERGE)
    way = "merge"
    for candidate in ("scores", "leads"):
        if candidate == "leads" and leads_range is not None:
            size = leads_range
        else:
            sql, params = scored_matching_sql(candidate + " range", unit_id, ruleset_id, score_sql, score_params,
                                              lead_sql, lead_params, ranked)
            size = int(scalar(conn, f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, few]))
        if size < few:
            way = candidate
            break
    if way == "merge" and at_least is not None and at_least * PROBE_OVER_MERGE * PROBE_OVER_MERGE <= live:
        sql, params = scored_matching_sql("scores walk", unit_id, ruleset_id, score_sql, score_params, lead_sql,
                                          lead_params, ranked)
        return int(scalar(conn, f"SELECT count(*) FROM ({sql} LIMIT ?)", [*params, at_least]))
    sql, params = scored_matching_sql(way, unit_id, ruleset_id, score_sql, score_params, lead_sql, lead_params,
                                      ranked)
    return int(scalar(conn, sql, params))


def scored_matching_sql(way: str, unit_id: str, ruleset_id: str, score_sql: str, score_params: list[Any],
                        lead_sql: str, lead_params: list[Any], ranked: str = "") -> tuple[str, list[Any]]:
    """The count `scored_matching` makes, one `way`: "scores" probes each lead of the score range, "leads" the
    score of each lead in the lead filters' range, "merge" walks both in lead id order; "scores range" and
    "leads range" select the lead ids of one range alone, "scores walk" the matching leads found by probing each
    lead of the score range (to be counted up to a limit)."""
    scores = f"SELECT s.lead_id FROM lead_scores s WHERE s.unit_id = ? AND s.ruleset_id = ?{ranked}{score_sql}"
    scores_params = [unit_id, ruleset_id, *score_params]
    leads = f"SELECT l.id FROM leads l WHERE l.unit_id = ? AND l.merged_into IS NULL{lead_sql}"
    leads_params = [unit_id, *lead_params]
    if way == "scores range":
        return scores, scores_params
    if way == "leads range":
        return leads, leads_params
    if way in ("scores", "scores walk"):  # CROSS JOIN: SQLite keeps the tables in the order written
        what = "count(*)" if way == "scores" else "1"
        return (f"SELECT {what} FROM lead_scores s CROSS JOIN leads l ON l.unit_id = s.unit_id AND l.id = s.lead_id"
                f" WHERE s.unit_id = ? AND s.ruleset_id = ?{ranked}{score_sql} AND l.merged_into IS NULL{lead_sql}",
                [*scores_params, *lead_params])
    if way == "leads":
        return ("SELECT count(*) FROM leads l CROSS JOIN lead_scores s ON s.unit_id = l.unit_id AND s.lead_id = l.id"
                f" AND s.ruleset_id = ? WHERE l.unit_id = ? AND l.merged_into IS NULL{lead_sql}{score_sql}",
                [ruleset_id, *leads_params, *score_params])
    # Both sides in lead id order as stored (the score table's key, the leads' unique (unit_id, id) index), so the
    # INTERSECT merges them as they come: left to choose, the planner reads a range and sorts it, 1.3-7x slower
    # at 1 M leads.
    by_lead_scores = scores.replace("lead_scores s", "lead_scores s INDEXED BY sqlite_autoindex_lead_scores_1", 1)
    by_lead_leads = leads.replace("leads l", "leads l INDEXED BY sqlite_autoindex_leads_1", 1)
    return f"SELECT count(*) FROM ({by_lead_scores} INTERSECT {by_lead_leads})", [*scores_params, *leads_params]


def live_count(conn: apsw.Connection, unit_id: str) -> int:
    """Live leads of the OU (the count migration 0021's triggers maintain)."""
    return int(scalar(conn, "SELECT live FROM lead_counts WHERE unit_id = ?", (unit_id,)) or 0)


def scored_count(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> int:
    """Leads with a score row in the ruleset (maintained by triggers, like `live_count`)."""
    return int(
        scalar(
            conn,
            "SELECT scored FROM ruleset_lead_counts WHERE unit_id = ? AND ruleset_id = ?",
            (unit_id, ruleset_id),
        )
        or 0
    )


def _list_by_lead(
    conn: apsw.Connection, unit_id: str, ruleset_id: str | None, f: LeadFilter, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Recency/creation/profile order (the leads_unit_organic / leads_unit_created / leads_unit_profile indexes),
    score joined per row; also a segment's members in score order (few enough to sort), and any score order once a
    score is below 0 (a missing score sorts as 0)."""
    # A segment's members drive the query (CROSS JOIN fixes the order): each member's lead is looked up by rowid,
    # instead of the OU's leads being walked and tested for membership.
    source, source_params = "leads l", []
    if f.members is not None:
        source, source_params = f"({f.members[0]}) m CROSS JOIN leads l ON l.rowid = m.lead_rowid", list(f.members[1])
    lead_params: list[Any] = [unit_id]
    lead_sql = _lead_where(f, lead_params, members=False)
    where = " WHERE l.unit_id = ? AND l.merged_into IS NULL" + lead_sql
    score_params: list[Any] = []
    if ruleset_id is None:
        # Without a primary ruleset every score is 0: the score filter keeps all leads or none.
        if not f.admits_zero():
            return [], 0
    else:
        where += _score_where(f, score_params, "coalesce(s.score, 0)")
    join = f"FROM {source} LEFT JOIN lead_scores s ON s.unit_id = l.unit_id AND s.ruleset_id = ? AND s.lead_id = l.id"
    params = [*source_params, ruleset_id, *lead_params, *score_params]
    # created, or a score sort without a primary ruleset (all scores tie at 0)
    orders = {
        "recent": "l.last_organic_at DESC, l.rowid DESC",
        "profile_desc": "l.profile_score DESC, l.rowid DESC",
        "profile_asc": "l.profile_score ASC, l.rowid ASC",
    }
    if ruleset_id is not None:  # a segment's members sorted by score (see list_leads)
        orders.update(score_desc="coalesce(s.score, 0) DESC, l.rowid DESC",
                      score_asc="coalesce(s.score, 0) ASC, l.rowid ASC")
    order = orders.get(f.sort, "l.created_at DESC, l.rowid DESC")
    if f.min_score is None and f.max_score is None:
        if f.members is not None:
            total = int(scalar(conn, f"SELECT count(*) FROM {source}{where}", [*source_params, *lead_params]))
        elif lead_sql:
            total = int(scalar(conn, live_count_sql(lead_sql), lead_params))
        else:
            total = live_count(conn, unit_id)
    elif f.members is not None or ruleset_id is None:
        total = int(scalar(conn, f"SELECT count(*) {join}{where}", params))
    else:
        # Without the LEFT JOIN's probe of every lead in the lead filters' range (all of the OU's without them).
        on_score: list[Any] = []
        total = sum(_matching_counts(conn, unit_id, ruleset_id, f, lead_sql, lead_params[1:],
                                     _score_where(f, on_score), on_score, ranked_sql(conn, unit_id, ruleset_id)))
    rows = query(
        conn,
        f"SELECT {LEAD_COLS}, coalesce(s.score, 0) AS score {join}{where} ORDER BY {order} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return rows, total


# -- search --------------------------------------------------------------------------------------------------
def search(conn: apsw.Connection, unit_id: str, q: str, limit: int = 10) -> list[dict[str, Any]]:
    """Live leads whose id starts with `q`, that have an alias value starting with `q` (range scans on the leads
    (unit_id, id) and lead_aliases (unit_id, value) indexes), or whose name, else company, has a word starting
    with each word of `q` (the `lead_search` full-text index, migration 0062). In that order, each lead once."""
    high = q + "\U0010ffff"
    found: dict[str, dict[str, Any]] = {}
    for row in query(
        conn,
        "SELECT id FROM leads WHERE unit_id = ? AND id >= ? AND id < ? AND merged_into IS NULL"
        " ORDER BY id LIMIT ?",
        (unit_id, q, high, limit),
    ):
        found[row["id"]] = _hit(row["id"], "id")
    # Alias values are stored normalized (emails lower-cased), so also try the lower-cased query.
    for needle in dict.fromkeys((q, q.strip().lower())):
        if len(found) >= limit or len(needle) < 2:
            continue
        for row in query(
            conn,
            "SELECT a.lead_id, a.kind, a.value FROM lead_aliases a JOIN leads l"
            " ON l.unit_id = a.unit_id AND l.id = a.lead_id AND l.merged_into IS NULL"
            " WHERE a.unit_id = ? AND a.value >= ? AND a.value < ? ORDER BY a.value LIMIT ?",
            (unit_id, needle, needle + "\U0010ffff", limit * 2),
        ):
            if row["lead_id"] not in found and len(found) < limit:
                found[row["lead_id"]] = _hit(row["lead_id"], "alias", row["kind"], row["value"])
    for column in ("name", "company"):
        if len(found) >= limit:
            break
        match = word_prefix_match(unit_id, column, q)
        if match is None:
            break
        # The OU's matching rows in rowid (creation) order, the index driving (CROSS JOIN): never a walk of the
        # OU's leads.
        for (lead_id,) in conn.execute(
            "SELECT l.id FROM lead_search s CROSS JOIN leads l ON l.rowid = s.rowid WHERE lead_search MATCH ?"
            " AND l.unit_id = ? AND l.merged_into IS NULL LIMIT ?",
            (match, unit_id, limit * 2),
        ):
            if lead_id not in found and len(found) < limit:
                found[lead_id] = _hit(lead_id, column)
    return list(found.values())


def _hit(lead_id: str, matched: str, alias_kind: str | None = None, alias_value: str | None = None) -> dict[str, Any]:
    return {"lead_id": lead_id, "matched": matched, "alias_kind": alias_kind, "alias_value": alias_value}


def word_prefix_match(unit_id: str, column: str, q: str) -> str | None:
    """The `lead_search` MATCH expression for leads of the OU whose `column` has, for each word of `q`, a word
    starting with it (None when `q` has no word). Each word is a quoted FTS5 string, so nothing the user types is
    query syntax; the OU is its id in hex, the one token of the `unit` column. A NUL splits words, as the
    tokenizer splits stored names there: inside a quoted string FTS5 would read it as the end of the query."""
    words = [w for w in q.replace("\x00", " ").split() if any(ch.isalnum() for ch in w)]
    if not words:
        return None
    prefixes = " AND ".join('"' + w.replace('"', '""') + '"*' for w in words)
    return f'unit : "{unit_id.encode().hex()}" AND {{{column}}} : ({prefixes})'


# -- explanation ---------------------------------------------------------------------------------------------
def explanation(
    conn: apsw.Connection, unit_id: str, lead_id: str, ruleset_id: str, since: int
) -> dict[str, Any]:
    """Aggregates of a lead's score rows in one ruleset since `since` (events_lead_type_time + event_scores PK);
    drivers carry their type's first spelling in the OU, as every listing does.

    `+e.occurred_at` keeps the planner off events_unit_time: a wide window would otherwise scan every event of
    the OU in it instead of the lead's few."""
    drivers = query(
        conn,
        "SELECT coalesce(t.display_name, min(e.event_type)) AS event_type, count(*) AS count, sum(s.delta) AS points"
        " FROM events e JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = ?"
        " LEFT JOIN event_types t ON t.unit_id = e.unit_id AND t.type_key = e.type_key"
        " WHERE e.unit_id = ? AND e.lead_id = ? AND +e.occurred_at >= ? AND e.decay_id IS NULL"
        " GROUP BY e.type_key ORDER BY points DESC, count DESC, e.type_key LIMIT 10",
        (ruleset_id, unit_id, lead_id, since),
    )
    surge = query(
        conn,
        "SELECT e.id AS event_id, s.multiplier, s.delta - s.weight AS extra_points"
        " FROM events e JOIN event_scores s ON s.event_seq = e.seq AND s.ruleset_id = ?"
        " WHERE e.unit_id = ? AND e.lead_id = ? AND +e.occurred_at >= ? AND s.multiplier > 1.0"
        " AND s.filtered_by IS NULL AND e.decay_id IS NULL ORDER BY e.seq",
        (ruleset_id, unit_id, lead_id, since),
    )
    decay = scalar(
        conn,
        "SELECT coalesce(sum(s.delta), 0) FROM events e JOIN event_scores s ON s.event_seq = e.seq"
        " AND s.ruleset_id = ? WHERE e.unit_id = ? AND e.lead_id = ? AND +e.occurred_at >= ?"
        " AND e.decay_id IS NOT NULL",
        (ruleset_id, unit_id, lead_id, since),
    )
    snapshot = query(
        conn,
        "SELECT id AS rule_id, event_type, weight, ruleset_id FROM rules WHERE unit_id = ? AND ruleset_id = ?"
        " AND active = 1 ORDER BY weight DESC, event_type",
        (unit_id, ruleset_id),
    )
    return {"drivers": drivers, "surge": surge, "decay": int(decay or 0), "snapshot": snapshot}


# -- merge ---------------------------------------------------------------------------------------------------
def live_ids(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> set[str]:
    """Which of the ids name live leads of the OU."""
    if not lead_ids:
        return set()
    # One JSON parameter, not one per id: a wipe's or a rescore's list may pass SQLite's limit on parameters.
    return {
        r[0]
        for r in conn.execute(
            "SELECT id FROM leads WHERE unit_id = ? AND merged_into IS NULL AND id IN"
            " (SELECT value FROM json_each(?))",
            (unit_id, json.dumps(list(lead_ids))),
        )
    }


def merge_into(
    conn: apsw.Connection, unit_id: str, target: str, sources: Sequence[str], before: int | None, now: int
) -> dict[str, int]:
    """Move the sources' events, orders and aliases to `target` (dropping moved events older than `before`),
    mark the sources merged and drop their scores. The caller re-scores the target in the same transaction."""
    marks = placeholders(len(sources))
    truncated = 0
    if before is not None:
        # event_scores rows go with them (ON DELETE CASCADE).
        truncated = ev_store.delete_events_where(
            conn, unit_id, f"seq IN (SELECT seq FROM lead_events WHERE unit_id = ? AND lead_id IN ({marks})"
            " AND +occurred_at < ?)", (unit_id, *sources, before), by_seq=True)
    # Score rows first, found through their events (event_scores has no index on lead_id alone).
    conn.execute(
        f"UPDATE event_scores SET lead_id = ? WHERE event_seq IN (SELECT seq FROM lead_events WHERE unit_id = ?"
        f" AND lead_id IN ({marks}))",
        (target, unit_id, *sources),
    )
    conn.execute(
        f"UPDATE events SET lead_id = ? WHERE seq IN (SELECT seq FROM lead_events WHERE unit_id = ?"
        f" AND lead_id IN ({marks}))",
        (target, unit_id, *sources),
    )
    moved = conn.changes()
    conn.execute(
        f"UPDATE orders SET lead_id = ? WHERE unit_id = ? AND lead_id IN ({marks})",
        (target, unit_id, *sources),
    )
    moved_orders = conn.changes()
    conn.execute(
        f"UPDATE lead_aliases SET lead_id = ?, merged_from = coalesce(merged_from, lead_id) WHERE unit_id = ?"
        f" AND lead_id IN ({marks})",
        (target, unit_id, *sources),
    )
    moved_aliases = conn.changes()
    conn.execute(f"DELETE FROM lead_scores WHERE unit_id = ? AND lead_id IN ({marks})", (unit_id, *sources))
    # A target without an account joins the first source's; the sources leave their accounts (a merged lead is
    # never a member) and the property index (it holds live leads only).
    conn.execute(
        "UPDATE leads SET account_id = (SELECT s.account_id FROM leads s WHERE s.unit_id = leads.unit_id"
        f" AND s.id IN ({marks}) AND s.account_id IS NOT NULL ORDER BY s.created_at, s.id LIMIT 1)"
        " WHERE unit_id = ? AND id = ? AND account_id IS NULL",
        (*sources, unit_id, target),
    )
    lead_props.drop(conn, unit_id, list(sources))
    # Leads merged earlier into a source now point straight at the target (resolution stays one hop).
    conn.execute(
        f"UPDATE leads SET merged_into = ?, updated_at = ? WHERE unit_id = ? AND merged_into IN ({marks})",
        (target, now, unit_id, *sources),
    )
    conn.execute(
        f"UPDATE leads SET merged_into = ?, updated_at = ?, last_event_at = NULL, last_event_type = NULL,"
        f" last_type_key = NULL, last_organic_at = NULL, account_id = NULL WHERE unit_id = ? AND id IN ({marks})",
        (target, now, unit_id, *sources),
    )
    ev_store.refresh_lead_activity(conn, unit_id, [target], now)
    return {
        "moved_events": moved,
        "truncated_events": truncated,
        "moved_orders": moved_orders,
        "moved_aliases": moved_aliases,
    }


def replayed_events(conn: apsw.Connection, unit_id: str, lead_id: str) -> int:
    """How many events a replay of the lead goes through (its events, DECAY ones included)."""
    return int(scalar(conn, "SELECT count(*) FROM lead_events WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id)))


def score_sums(conn: apsw.Connection, unit_id: str, lead_id: str) -> dict[str, tuple[int, int]]:
    """ruleset_id -> (stored score, sum of stored deltas): the scoring invariant, for tests and checks."""
    stored = {
        r[0]: int(r[1])
        for r in conn.execute(
            "SELECT ruleset_id, score FROM lead_scores WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id)
        )
    }
    sums = {
        r[0]: int(r[1])
        for r in conn.execute(
            "SELECT s.ruleset_id, sum(s.delta) FROM lead_events e JOIN event_scores s ON s.event_seq = e.seq"
            " WHERE e.unit_id = ? AND e.lead_id = ? GROUP BY s.ruleset_id",
            (unit_id, lead_id),
        )
    }
    return {rs: (stored.get(rs, 0), sums.get(rs, 0)) for rs in stored.keys() | sums.keys()}


# -- deletion ------------------------------------------------------------------------------------------------
# Tables of other domains that hold rows of a lead, removed with it when they exist in this build.
_LEAD_TABLES = ("trigger_events", "surge_events", "trigger_state")


def names_of(conn: apsw.Connection, unit_id: str, lead_id: str) -> tuple[set[str], set[tuple[str, str]]]:
    """What an event can name a lead by: its id and those of the leads merged into it, and its aliases
    (kind, normalized value)."""
    ids = {lead_id, *(r[0] for r in conn.execute(
        "SELECT id FROM leads WHERE unit_id = ? AND merged_into = ?", (unit_id, lead_id)))}
    aliases = {(r[0], r[1]) for r in conn.execute(
        "SELECT kind, value FROM lead_aliases WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))}
    return ids, aliases


def request_deletion(conn: apsw.Connection, unit_id: str, lead_id: str, actor: str | None, now: int) -> bool:
    """Remove the lead from every view now (lead row, scores, aliases, orders) and queue its events; False
    when no live lead has that id. Events up to the current max seq are removed later, in batches."""
    if (
        scalar(
            conn,
            "SELECT 1 FROM leads WHERE unit_id = ? AND id = ? AND merged_into IS NULL",
            (unit_id, lead_id),
        )
        is None
    ):
        return False
    upto = int(scalar(conn, "SELECT coalesce(max(seq), 0) FROM events") or 0)
    conn.execute(
        "INSERT INTO lead_deletions (unit_id, lead_id, status, upto_seq, requested_by, requested_at)"
        " VALUES (?,?,'pending',?,?,?) ON CONFLICT (unit_id, lead_id) DO UPDATE SET status = 'pending',"
        " upto_seq = excluded.upto_seq, requested_by = excluded.requested_by,"
        " requested_at = excluded.requested_at, completed_at = NULL",
        (unit_id, lead_id, upto, actor, now),
    )
    conn.execute("DELETE FROM lead_scores WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))
    conn.execute("DELETE FROM lead_aliases WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))
    conn.execute("DELETE FROM orders WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))
    # Merged sources pointing here go too: their events already live on this lead; what other domains keep under
    # their own ids (a firing before the merge) goes now, as their ids are forgotten with their rows.
    _drop_lead_rows(conn, unit_id, [r[0] for r in conn.execute(
        "SELECT id FROM leads WHERE unit_id = ? AND merged_into = ?", (unit_id, lead_id))])
    lead_props.drop_where(conn, unit_id, "id = ? OR merged_into = ?", (lead_id, lead_id))
    conn.execute(
        "DELETE FROM leads WHERE unit_id = ? AND (id = ? OR merged_into = ?)", (unit_id, lead_id, lead_id)
    )
    return True


def record_queued_only_deletion(conn: apsw.Connection, unit_id: str, lead_id: str, actor: str | None,
                                now: int) -> None:
    """A deletion of a lead that had no row yet, only queued events (removed by the caller): completed at once."""
    conn.execute(
        "INSERT INTO lead_deletions (unit_id, lead_id, status, upto_seq, requested_by, requested_at, completed_at)"
        " VALUES (?,?,'completed',0,?,?,?) ON CONFLICT (unit_id, lead_id) DO UPDATE SET status = 'completed',"
        " upto_seq = 0, requested_by = excluded.requested_by, requested_at = excluded.requested_at,"
        " completed_at = excluded.completed_at",
        (unit_id, lead_id, actor, now, now),
    )


def pending_deletions(conn: apsw.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """Deletions still removing rows, oldest first (every OU: the background task serves them all)."""
    return query(
        conn,
        "SELECT unit_id, lead_id, upto_seq FROM lead_deletions WHERE status = 'pending'"
        " ORDER BY requested_at LIMIT ?",
        (limit,),
    )


def delete_batch(
    conn: apsw.Connection, unit_id: str, lead_id: str, upto_seq: int, batch: int, now: int
) -> bool:
    """Delete up to `batch` of the lead's events (their score rows cascade); when none are left, the rows
    other domains keep for the lead, and mark the deletion completed. True when completed. The batch is the first
    `batch` of the lead's index entries, in no particular order: sorting them by arrival would read the lead's
    whole history for every batch."""
    deleted = ev_store.delete_events_where(
        conn, unit_id, "seq IN (SELECT seq FROM lead_events WHERE unit_id = ? AND lead_id = ? AND +seq <= ? LIMIT ?)",
        (unit_id, lead_id, upto_seq, batch), by_seq=True)
    if deleted == batch:
        return False
    _drop_lead_rows(conn, unit_id, [lead_id])
    conn.execute(
        "UPDATE lead_deletions SET status = 'completed', completed_at = ? WHERE unit_id = ? AND lead_id = ?",
        (now, unit_id, lead_id),
    )
    return True


def _drop_lead_rows(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> None:
    """The rows other domains keep under these lead ids (`_LEAD_TABLES`)."""
    if not lead_ids:
        return
    existing = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN"
            f" ({placeholders(len(_LEAD_TABLES))})",
            _LEAD_TABLES,
        )
    }
    for table in _LEAD_TABLES:
        if table in existing:
            conn.execute(f"DELETE FROM {table} WHERE unit_id = ? AND lead_id IN (SELECT value FROM json_each(?))",
                         (unit_id, json.dumps(list(lead_ids))))


def pending_deletion_of(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> list[str]:
    """Those of `lead_ids` whose deletion is still removing their events."""
    return [str(r[0]) for r in conn.execute(
        "SELECT lead_id FROM lead_deletions WHERE unit_id = ? AND status = 'pending'"
        " AND lead_id IN (SELECT value FROM json_each(?))", (unit_id, json.dumps(list(lead_ids))))]


def deletion_status(conn: apsw.Connection, unit_id: str, lead_id: str) -> str:
    """pending, completed, or not_found (no deletion was requested for that id)."""
    status = scalar(
        conn, "SELECT status FROM lead_deletions WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id)
    )
    return str(status) if status else "not_found"
