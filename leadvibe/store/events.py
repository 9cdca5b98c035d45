"""Write-side SQL for events: lead resolution by id or alias, event rows, score rows, lead state.

Every function runs inside the writer's transaction (called by the worker, replays and decay).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

import apsw
import msgspec

from leadvibe.db.rows import (
    ROWS_PER_STATEMENT,
    execute_rows,
    insert_rows,
    placeholders,
    query_one,
    scalar,
    triggers_suspended,
)
from leadvibe.engine.dispatch import ScoreRow
from leadvibe.engine.surge import Session
from leadvibe.ids import new_id
from leadvibe.store.analytics_hours import EventHours, ScoreHours, add_hours, sum_hours
from leadvibe.store.score_gain_days import Kept, RiseSums, add_rises, kept_rulesets, sum_rises

_MAX_MERGE_HOPS = 16
_json_array = msgspec.json.Encoder()


def follow_merges(conn: apsw.Connection, unit_id: str, lead_id: str, merged_into: str | None) -> str:
    """The live lead an id resolves to (merged sources point at their target)."""
    hops = 0
    while merged_into and hops < _MAX_MERGE_HOPS:
        lead_id = merged_into
        row = query_one(conn, "SELECT merged_into FROM leads WHERE unit_id = ? AND id = ?", (unit_id, lead_id))
        merged_into = row["merged_into"] if row else None
        hops += 1
    return lead_id


_CREATE_LEAD = ("INSERT OR IGNORE INTO leads (unit_id, id, org_id, source, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?)")


def create_lead(conn: apsw.Connection, unit_id: str, org_id: str, lead_id: str, now: int, source: str) -> None:
    """Insert a lead row (no-op if it exists)."""
    conn.execute(_CREATE_LEAD, (unit_id, lead_id, org_id, source, now, now))


def create_leads(conn: apsw.Connection, rows: Sequence[tuple[str, str, str, str]], now: int) -> None:
    """Insert lead rows, (unit_id, lead_id, org_id, source) each, in the given order (rows that exist are left
    alone); a few hundred per statement (the triggers on `leads` open a statement journal per execution)."""
    insert_rows(conn, _CREATE_LEAD, [(unit_id, lead_id, org_id, source, now, now)
                                     for unit_id, lead_id, org_id, source in rows])


def resolve_lead(conn: apsw.Connection, unit_id: str, org_id: str, lead_id: str | None,
                 aliases: Sequence[tuple[str, str, str]], now: int, source: str) -> str:
    """Find or create the lead an event names; attach its new aliases. Aliases: (kind, value, raw_value).

    By `lead_id` if given (an unknown id creates that lead), else by the first alias already known, else a new
    `ld_` lead. An alias that already belongs to another live lead stays where it is.
    """
    resolved: str | None = None
    if lead_id:
        row = query_one(conn, "SELECT merged_into FROM leads WHERE unit_id = ? AND id = ?", (unit_id, lead_id))
        if row is None:
            create_lead(conn, unit_id, org_id, lead_id, now, source)
            resolved = lead_id
        else:
            resolved = follow_merges(conn, unit_id, lead_id, row["merged_into"])
    else:
        for kind, value, _ in aliases:
            row = query_one(conn, "SELECT a.lead_id, l.merged_into FROM lead_aliases a LEFT JOIN leads l"
                                  " ON l.unit_id = a.unit_id AND l.id = a.lead_id"
                                  " WHERE a.unit_id = ? AND a.kind = ? AND a.value = ?", (unit_id, kind, value))
            if row is not None:
                resolved = follow_merges(conn, unit_id, row["lead_id"], row["merged_into"])
                break
        if resolved is None:
            resolved = new_id("ld")
            create_lead(conn, unit_id, org_id, resolved, now, source)
    attach_aliases(conn, unit_id, org_id, resolved, aliases, now)
    return resolved


def attach_aliases(conn: apsw.Connection, unit_id: str, org_id: str, lead_id: str,
                   aliases: Sequence[tuple[str, str, str]], now: int) -> None:
    """Give a lead the aliases no live lead has yet (an alias that belongs to another lead stays there)."""
    if aliases:
        conn.executemany("INSERT OR IGNORE INTO lead_aliases (unit_id, kind, value, lead_id, org_id, raw_value,"
                         " created_at) VALUES (?,?,?,?,?,?,?)",
                         [(unit_id, kind, value, lead_id, org_id, raw, now) for kind, value, raw in aliases])


_NAMED_LEADS = ("SELECT id, merged_into, session_n, session_last_ts, session_started_at, session_count FROM leads"
                " WHERE unit_id = ?1 AND id IN (SELECT value FROM json_each(?2))")
_NAMED_SCORES = ("SELECT lead_id, ruleset_id, score FROM lead_scores"
                 " WHERE unit_id = ?1 AND lead_id IN (SELECT value FROM json_each(?2))")


def named_leads(conn: apsw.Connection, unit_id: str,
                lead_ids: Sequence[str]) -> dict[str, tuple[str | None, dict[str, int], Session | None, int]]:
    """The stored leads among `lead_ids`: lead_id -> (merged_into, scores, session, session_count), with two
    queries however many leads there are (the worker loads a whole batch's leads this way)."""
    # The ids travel as one JSON array, so each statement is prepared once and reused from the statement cache
    # (an `IN (?,?,...)` list would be a new statement for every count of ids).
    ids = _json_array.encode(lead_ids)
    out: dict[str, tuple[str | None, dict[str, int], Session | None, int]] = {
        lead_id: (merged_into, {}, Session(n, last_ts, started) if last_ts is not None else None, count)
        for lead_id, merged_into, n, last_ts, started, count in conn.execute(_NAMED_LEADS, (unit_id, ids))}
    for lead_id, ruleset_id, score in conn.execute(_NAMED_SCORES, (unit_id, ids)):
        state = out.get(lead_id)
        if state is not None:
            state[1][ruleset_id] = score
    return out


def lead_state(conn: apsw.Connection, unit_id: str, lead_id: str) -> tuple[dict[str, int], Session | None, int]:
    """(score per ruleset, current session, session_count) of one lead (a lead not yet stored has none)."""
    found = named_leads(conn, unit_id, [lead_id]).get(lead_id)
    return (found[1], found[2], found[3]) if found is not None else ({}, None, 0)


# Runs for the first event of a lead and type with a grouping filter in a worker batch (FILTER_WINDOW_UP_TO for the
# other filters): `events_lead_type_time` holds every column it reads (migration 0053). Only the events stored
# before the batch (`seq < ?`): the batch counts its own in memory.
FILTER_WINDOW = ("SELECT count(*), min(seq) FROM events WHERE unit_id = ? AND lead_id = ? AND type_key = ?"
                 " AND occurred_at > ? AND occurred_at <= ? AND seq < ? AND scope != 'observe' AND decay_id IS NULL")
# Any arrival position: the default bound of the window statements.
ALL_SEQS = 2**63 - 1


def filter_window(conn: apsw.Connection, unit_id: str, lead_id: str, type_key: str, start_excl: int,
                  end_incl: int, below_seq: int = ALL_SEQS) -> tuple[int, int | None]:
    """(count, first seq) of the lead's earlier scored events of a type with occurred_at in (start, end] and an
    arrival position below `below_seq`."""
    row = conn.execute(FILTER_WINDOW, (unit_id, lead_id, type_key, start_excl, end_incl, below_seq)).fetchone()
    assert row is not None  # an aggregate always answers one row
    return int(row[0]), row[1]


# The same window, counted no further than a limit: whether a filter fires needs no more than its threshold, and
# in a burst (what filters exist for) the whole window grows with every event: each event of a lead sending
# thousands an hour walked thousands of index entries.
FILTER_WINDOW_UP_TO = f"SELECT count(*) FROM ({FILTER_WINDOW.replace('count(*), min(seq)', '1', 1)} LIMIT ?)"


def filter_window_up_to(conn: apsw.Connection, unit_id: str, lead_id: str, type_key: str, start_excl: int,
                        end_incl: int, limit: int, below_seq: int = ALL_SEQS) -> int:
    """min(limit, count) of the lead's earlier scored events of a type with occurred_at in (start, end] (and an
    arrival position below `below_seq`)."""
    row = conn.execute(FILTER_WINDOW_UP_TO, (unit_id, lead_id, type_key, start_excl, end_incl, below_seq,
                                             limit)).fetchone()
    assert row is not None  # an aggregate always answers one row
    return int(row[0])


# The window's events themselves, in time order: what a worker batch holds in memory for a lead whose events of a
# grouping-filtered type come more than once in the batch (a burst), instead of counting the window per event.
FILTER_WINDOW_ROWS = (FILTER_WINDOW.replace("count(*), min(seq)", "occurred_at, seq", 1) + " ORDER BY occurred_at")


def filter_window_rows(conn: apsw.Connection, unit_id: str, lead_id: str, type_key: str, start_excl: int,
                       end_incl: int, below_seq: int) -> list[tuple[int, int]]:
    """(occurred_at, seq) of the window's events (as `filter_window` counts them), by occurred_at."""
    return [(int(ts), int(seq)) for ts, seq in conn.execute(
        FILTER_WINDOW_ROWS, (unit_id, lead_id, type_key, start_excl, end_incl, below_seq))]


def events_epoch(conn: apsw.Connection) -> int:
    """The counter every delete of an event and every change of its lead, type, time, scope or decay raises
    (migration 0056): a worker's filter windows held across batches stay valid while it does not move."""
    row = conn.execute("SELECT n FROM events_epoch WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def stored_of(conn: apsw.Connection, unit_id: str, event_ids: Iterable[str]) -> int:
    """How many of these events the OU has stored."""
    ids = list(event_ids)
    if not ids:
        return 0
    return int(scalar(conn, "SELECT count(*) FROM events WHERE id IN (SELECT value FROM json_each(?))"
                            " AND +unit_id = ?", (_json_array.encode(ids), unit_id)) or 0)


def event_id_by_seq(conn: apsw.Connection, seq: int) -> str | None:
    """The public id of an event."""
    row = conn.execute("SELECT id FROM events WHERE seq = ?", (seq,)).fetchone()
    return row[0] if row else None


INSERT_EVENT = (
    "INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at, processed_at,"
    " metadata, channel, source, scope, inorganic, filtered_by, grouped_with, multiplier, session_index, has_delta,"
    " decay_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def next_event_seq(conn: apsw.Connection) -> int:
    """The next arrival position. AUTOINCREMENT's high-water mark, not max(seq): a position freed by deleting the
    newest event is never handed out again (a pending lead deletion remembers positions)."""
    row = conn.execute("SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
                       " coalesce((SELECT max(seq) FROM events), 0))").fetchone()
    assert row is not None  # an aggregate always answers one row
    return int(row[0]) + 1


_INSERT_EVENT_WITH_SEQ = INSERT_EVENT.replace("(id,", "(seq, id,", 1).replace("VALUES (?", "VALUES (?,?", 1)
_INSERT_SCORE = ("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, rule_ids, weight, multiplier,"
                 " delta, before, after, filtered_by) VALUES (?,?,?,?,?,?,?,?,?,?,?)")


def insert_event_with_seq(conn: apsw.Connection, seq: int, row: tuple[Any, ...]) -> None:
    """Insert one event at a given arrival position (the worker assigns seq)."""
    conn.execute(_INSERT_EVENT_WITH_SEQ, (seq, *row))


# Buffered rows go in multi-row INSERTs, not one execution per row: with the analytics triggers on these tables
# (migration 0041) every execution opens a statement journal and copies each page it first touches into it, which
# one statement per few hundred rows pays once (measured: the triggers' share of these inserts fell by half).
def insert_events_with_seq(conn: apsw.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert buffered events: (seq, *INSERT_EVENT columns)."""
    insert_rows(conn, _INSERT_EVENT_WITH_SEQ, rows)


_IDS_JSON: dict[tuple[str, ...], str] = {}


def rule_ids_json(ids: tuple[str, ...]) -> str:
    """The stored form of a score row's rule ids (a JSON array of strings)."""
    # The same few rule-id tuples recur on every event of a type: build each JSON text once.
    text = _IDS_JSON.get(ids)
    if text is None:
        text = "[" + ",".join(f'"{i}"' for i in ids) + "]"
        if len(_IDS_JSON) < 65_536:
            _IDS_JSON[ids] = text
    return text


def score_rows(unit_id: str, lead_id: str, seq: int, rows: Iterable[ScoreRow]) -> list[tuple[Any, ...]]:
    """event_scores rows of one event, from the engine's rows (ruleset_id, rule_ids, weight, multiplier, delta,
    before, after, filtered_by)."""
    return [(seq, rs, unit_id, lead_id, rule_ids_json(ids), weight, mult, delta, before, after,
             filtered_by) for rs, ids, weight, mult, delta, before, after, filtered_by in rows]


# The only INSERT triggers on `events` and `event_scores` (tests/db/test_hour_totals.py holds this list): the
# hourly totals and the score-gain days, which insert_scored_events and replace_scores add themselves.
INSERT_TRIGGERS = ("analytics_events_insert", "analytics_scores_replace", "analytics_scores_insert",
                   "score_gain_days_insert", "score_gain_days_replace")


class PendingTotals:
    """The hourly totals and score-gain days of rows inserted with the triggers suspended, summed in memory until
    `write` (in the same transaction, before it commits). A worker batch keeps one for the whole batch: its flushes
    come every few hundred events, and summing across them writes each (OU, hour) and (lead, day) once per batch
    instead of once per flush."""

    def __init__(self) -> None:
        self.hours: tuple[EventHours, ScoreHours] = ({}, {})
        self.rises: RiseSums = {}
        # The kept rulesets, read at the first rows: they change only in other transactions.
        self.kept: dict[str, Kept] | None = None

    def add(self, conn: apsw.Connection, events: Iterable[tuple[str, int, str]], scores: list[tuple[Any, ...]],
            occurred: Mapping[int, int]) -> None:
        """Count (unit_id, occurred_at, type_key) events and event_scores rows (their events' times in
        `occurred`) as their insert triggers would have."""
        sum_hours(events, ((s[2], s[1], occurred[s[0]], s[7]) for s in scores), self.hours)
        kept = self.kept
        if kept is None:
            kept = self.kept = kept_rulesets(conn)
        # One primary per OU: most rows are of other rulesets, or do not rise.
        sum_rises(((s[1], occurred[s[0]], s[3], s[7]) for s in scores if s[7] > 0 and s[1] in kept), kept,
                  self.rises)

    def write(self, conn: apsw.Connection) -> None:
        """Add what was counted to the tables and start again from nothing."""
        add_hours(conn, *self.hours)
        add_rises(conn, self.rises)
        self.discard()

    def discard(self) -> None:
        """Forget what was counted (its rows were rolled back)."""
        self.hours = ({}, {})
        self.rises = {}
        self.kept = None


def insert_scored_events(conn: apsw.Connection, events: list[tuple[Any, ...]], scores: list[tuple[Any, ...]],
                         totals: PendingTotals | None = None) -> None:
    """Insert new events (seq, *INSERT_EVENT columns) and all their score rows, and add their hourly analytics
    totals and score-gain days once per hour and per lead and day, instead of one trigger program per row
    (measured: the triggers were 6-18 % of the worker's CPU). With `totals` they are counted there instead, and
    the caller writes them before the transaction commits. The seqs must be new: a
    score row replacing a stored one would need the replace triggers. One row per execution: without triggers no
    statement journal is opened, and suspending the triggers makes SQLite prepare the statements again, which for
    a statement of hundreds of rows costs more than the rows (a worker flushes every ~500 events)."""
    with triggers_suspended(conn):
        conn.executemany(_INSERT_EVENT_WITH_SEQ, events)
        conn.executemany(_INSERT_SCORE, scores)
    now = totals is None
    totals = PendingTotals() if totals is None else totals
    totals.add(conn, ((e[3], e[7], e[6]) for e in events), scores, {e[0]: e[7] for e in events})
    if now:
        totals.write(conn)


def replace_scores(conn: apsw.Connection, scores: list[tuple[Any, ...]], occurred: Mapping[int, int]) -> None:
    """Write score rows of stored events (a rescore's new rows), each replacing its event's row in its ruleset if
    there is one, as INSERT OR REPLACE with its triggers would: the rows it would replace go through DELETE (whose
    triggers take them off the totals), then the new rows are inserted with the triggers suspended and their
    hourly totals and score-gain days added once per call (300,000 rows: 1.5-1.7 s of statements against 2.7-3.2
    with the triggers). `occurred`: event seq -> occurred_at, for every row's event."""
    conn.executemany("DELETE FROM event_scores WHERE event_seq = ? AND ruleset_id = ?", [s[:2] for s in scores])
    with triggers_suspended(conn):
        insert_rows(conn, _INSERT_SCORE, scores)
    totals = PendingTotals()
    totals.add(conn, (), scores, occurred)
    totals.write(conn)


def insert_scores(conn: apsw.Connection, unit_id: str, lead_id: str, seq: int, rows: Iterable[ScoreRow]) -> None:
    """Per-ruleset explanation rows of one event."""
    conn.executemany(_INSERT_SCORE, score_rows(unit_id, lead_id, seq, rows))


def lead_scores(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """(lead_id, ruleset_id) -> score of the given leads (any number: read a few hundred at a time)."""
    out: dict[tuple[str, str], int] = {}
    for lo in range(0, len(lead_ids), ROWS_PER_STATEMENT):
        part = lead_ids[lo:lo + ROWS_PER_STATEMENT]
        for lead_id, ruleset_id, score in conn.execute(
                f"SELECT lead_id, ruleset_id, score FROM lead_scores WHERE unit_id = ?"
                f" AND lead_id IN ({placeholders(len(part))})", (unit_id, *part)):
            out[(str(lead_id), str(ruleset_id))] = int(score)
    return out


def save_many_lead_scores(conn: apsw.Connection, rows: list[tuple[str, str, str, int, int]]) -> None:
    """Upsert (unit_id, ruleset_id, lead_id, score, updated_at) rows."""
    if rows:
        conn.executemany(
            "INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at) VALUES (?,?,?,?,?)"
            " ON CONFLICT (unit_id, lead_id, ruleset_id) DO UPDATE SET score = excluded.score,"
            " updated_at = excluded.updated_at", rows)


def update_lead_scores(conn: apsw.Connection, rows: list[tuple[int, int, str, str, str]]) -> None:
    """Set stored scores that moved: (score, updated_at, unit_id, lead_id, ruleset_id) rows, each naming a row
    known to exist (a plain update skips the failed insert an upsert tries first)."""
    if rows:
        conn.executemany("UPDATE lead_scores SET score = ?, updated_at = ? WHERE unit_id = ? AND lead_id = ?"
                         " AND ruleset_id = ?", rows)


# One statement per up to ROWS_PER_STATEMENT leads: the triggers on `leads` (decay sweeps, analytics, counts) make
# every execution of an UPDATE open a statement journal, which a row-at-a-time executemany paid per lead (measured:
# about half the CPU time of the update). `v` holds activity_row's values in order; each lead appears once.
_SAVE_ACTIVITY = (
    "UPDATE leads SET last_event_at = max(coalesce(last_event_at, 0), coalesce(v.column1, 0)),"
    " last_event_type = CASE WHEN v.column2 IS NOT NULL AND v.column1 >= coalesce(last_event_at, 0) THEN v.column2"
    " ELSE last_event_type END, last_organic_at = max(coalesce(last_organic_at, 0), coalesce(v.column3, 0)),"
    " last_type_key = CASE WHEN v.column2 IS NOT NULL AND v.column1 >= coalesce(last_event_at, 0) THEN v.column11"
    " ELSE last_type_key END,"
    " session_n = v.column4, session_last_ts = v.column5, session_started_at = v.column6, session_count = v.column7,"
    " updated_at = v.column8 FROM (VALUES {rows}) AS v WHERE leads.unit_id = v.column9 AND leads.id = v.column10")


@cache
def _save_activity_sql(n: int) -> str:
    return _SAVE_ACTIVITY.format(rows=",".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * n))


def activity_row(unit_id: str, lead_id: str, *, last_event_at: int | None, last_event_type: str | None,
                 last_type_key: str | None, last_organic_at: int | None, session: Session | None,
                 session_count: int, now: int) -> tuple[Any, ...]:
    """Parameters of one lead's activity update (see save_lead_activity); `last_type_key` is `last_event_type`'s
    normalized key (engine.normalize.type_key)."""
    return (last_event_at, last_event_type, last_organic_at, session.count if session else 0,
            session.last_ts if session else None, session.started_at if session else None, session_count, now,
            unit_id, lead_id, last_type_key)


def save_lead_activity(conn: apsw.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Activity columns the worker owns (recency, decay clock, surge session), for many leads at once (each lead
    at most once)."""
    execute_rows(conn, _save_activity_sql, rows)


def bump_event_types(conn: apsw.Connection, unit_id: str, counts: dict[str, tuple[str, int, int, int]]) -> None:
    """type_key -> (first spelling, count, earliest ts, latest ts): keep the OU's event type catalogue current (the
    first and last seen are event times: a late event moves the first back)."""
    conn.executemany(
        "INSERT INTO event_types (unit_id, type_key, display_name, event_count, first_seen_at, last_seen_at)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT (unit_id, type_key) DO UPDATE SET"
        " event_count = event_count + excluded.event_count,"
        " first_seen_at = min(coalesce(first_seen_at, excluded.first_seen_at), excluded.first_seen_at),"
        " last_seen_at = max(last_seen_at, excluded.last_seen_at)",
        [(unit_id, key, name, n, first, last) for key, (name, n, first, last) in counts.items()])


# A lead's events are indexed in two halves (migration 0061): its DECAY events in events_lead_decay, the others in
# events_lead_type_time. A query of one lead's events reads the view lead_events, which reads both; a subquery
# that takes its lead from the outer query cannot (SQLite would read the view for the whole OU first): it is
# written once per half, `{index}` and `{decay}` (the half's `decay_id` condition) filled in by `each_lead_half`.
LEAD_HALVES = (("events_lead_type_time", "IS NULL"), ("events_lead_decay", "IS NOT NULL"))


def each_lead_half(subquery: str, joined_by: str) -> str:
    """`subquery` once for each half of a lead's events (`LEAD_HALVES`), joined by `joined_by` (" OR ", " + ")."""
    return joined_by.join(subquery.format(index=index, decay=decay) for index, decay in LEAD_HALVES)


def add_properties(conn: apsw.Connection, unit_id: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Remember metadata keys seen per event type."""
    conn.executemany("INSERT OR IGNORE INTO event_type_properties (unit_id, type_key, key) VALUES (?,?,?)",
                     [(unit_id, t, k) for t, k in pairs])


def delete_events_where(conn: apsw.Connection, unit_id: str, where: str, params: Sequence[Any], *,
                        by_seq: bool = False) -> int:
    """Delete the OU's events matching `where` (SQL over `events` columns, fixed by the caller, never user input)
    and lower the type catalogue's counts by what went (analytics read them). `event_scores` rows cascade; scores
    and lead activity are the caller's to recompute in the same transaction. Returns how many were deleted.

    `by_seq`: `where` names the events by arrival position (`seq IN (subquery)`), found by the table's key; the
    OU's term is then only a check (`+unit_id`): the planner, without statistics, otherwise walked the OU's events
    by time and tested each against the subquery's list."""
    unit = "+unit_id" if by_seq else "unit_id"
    counts = conn.execute(f"SELECT type_key, count(*) FROM events WHERE {unit} = ? AND ({where}) GROUP BY type_key",
                          (unit_id, *params)).fetchall()
    if not counts:
        return 0
    conn.execute(f"DELETE FROM events WHERE {unit} = ? AND ({where})", (unit_id, *params))
    deleted = int(conn.changes())
    # A type none of whose events is left leaves the catalogue, as a deleted type does (the next event of it is
    # seen afresh); the others get their earliest and latest event times read again from what is left (two
    # probes of events_unit_type_time a type): the deleted events may have been either end.
    conn.executemany(
        "DELETE FROM event_types WHERE unit_id = ?1 AND type_key = ?2"
        " AND NOT EXISTS (SELECT 1 FROM events WHERE unit_id = ?1 AND type_key = ?2)",
        [(unit_id, key) for key, _ in counts])
    conn.executemany(
        "UPDATE event_types SET event_count = max(0, event_count - ?1),"
        " first_seen_at = (SELECT min(occurred_at) FROM events WHERE unit_id = ?2 AND type_key = ?3),"
        " last_seen_at = (SELECT max(occurred_at) FROM events WHERE unit_id = ?2 AND type_key = ?3)"
        " WHERE unit_id = ?2 AND type_key = ?3",
        [(n, unit_id, key) for key, n in counts])
    return deleted


def refresh_lead_activity(conn: apsw.Connection, unit_id: str, lead_ids: Iterable[str], now: int) -> None:
    """Recompute leads' recency columns from their remaining events, as the worker maintains them: the latest
    scored event that is neither observe-scope nor DECAY gives `last_event_at`, its type and key, and
    `last_organic_at`."""
    for lead_id in dict.fromkeys(lead_ids):
        # The lead's own entries, newest found on the covering index, then its one row: left to itself the planner
        # walked the OU's events by time until it met one of the lead's (0.2 s per lead at 1.5 M events, and the
        # whole OU for a lead with none left).
        latest = conn.execute("SELECT occurred_at, event_type, type_key FROM events WHERE seq = ("
                              "SELECT seq FROM events INDEXED BY events_lead_type_time"
                              " WHERE unit_id = ? AND lead_id = ? AND scope <> 'observe' AND decay_id IS NULL"
                              " ORDER BY occurred_at DESC, seq DESC LIMIT 1)", (unit_id, lead_id)).fetchone()
        at, event_type, key = latest if latest else (None, None, None)
        conn.execute("UPDATE leads SET last_event_at = ?, last_event_type = ?, last_type_key = ?, last_organic_at = ?,"
                     " updated_at = ? WHERE unit_id = ? AND id = ?", (at, event_type, key, at, now, unit_id, lead_id))
