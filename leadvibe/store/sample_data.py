"""SQL for sample data: marking what the seed wrote, finding it, and removing exactly it.

Sample rows carry `source = 'seed'` (and `created_by = 'seed'` where the table has it). Rows without a source
column belong to a sample row and go with it: a seeded lead's aliases, scores, index rows, trigger history; a
seeded ruleset's per-event scores (also those it gave real events); a seeded decay rule's DECAY events; a seeded
trigger's state, history and deliveries. Every statement filters by the OU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import apsw

from leadvibe.db.rows import placeholders, query_one, scalar
from leadvibe.store import events as ev_store
from leadvibe.store import lead_props

SEED = "seed"
# Tables with a `source` column whose seeded rows the seed writes (the order wipe deletes them in comes later).
SOURCE_TABLES = ("leads", "events", "rulesets", "rules", "levels", "decay_rules", "triggers", "orders",
                 "inorganic_filters", "field_mappings", "fit_rulesets", "fit_rules", "accounts", "segments",
                 "segment_rules")
# `IS`: a row without `created_by` (NULL) is not sample data, and `NOT` of this says so instead of NULL.
_SEEDED = "(source = 'seed' OR created_by IS 'seed')"
_HAS_CREATED_BY = {"rulesets", "rules", "levels", "decay_rules", "triggers", "inorganic_filters",
                   "field_mappings", "fit_rulesets", "fit_rules", "accounts", "segments", "segment_rules"}


def _seeded(table: str) -> str:
    return _SEEDED if table in _HAS_CREATED_BY else "source = 'seed'"


def mark_seeded(conn: apsw.Connection, unit_id: str, table: str, ids: Sequence[str]) -> None:
    """Mark rows the seed created through the ordinary store functions as sample data."""
    if table not in SOURCE_TABLES:
        raise ValueError(f"{table} has no source column")  # a programming error
    for i in range(0, len(ids), 500):
        chunk = list(ids[i : i + 500])
        conn.execute(
            f"UPDATE {table} SET source = 'seed' WHERE unit_id = ? AND id IN ({placeholders(len(chunk))})",
            (unit_id, *chunk),
        )


def holds_sample_data(conn: apsw.Connection, unit_id: str) -> bool:
    """True when any sample row is left in the OU."""
    return any(
        scalar(conn, f"SELECT 1 FROM {table} WHERE unit_id = ? AND {_seeded(table)} LIMIT 1", (unit_id,))
        for table in SOURCE_TABLES
    )


AbmForSample = Literal["already_on", "turned_on", "needs_admin", "own_leads"]


def turn_on_abm_for_sample(conn: apsw.Connection, unit_id: str, *, may: bool, now: int) -> AbmForSample:
    """Account-based marketing for the OU's sample data: turned on (remembering this OU, so that wiping it turns it
    off again) when it is off, the caller may change it (`may`: an organization admin) and the organization holds
    no leads but sample ones. ABM is organization-wide: with leads of its own it would start linking them to
    accounts of their email domains, which would outlive the sample data. Says what it found or did."""
    org = query_one(conn, "SELECT o.id, o.abm_enabled FROM org_units u JOIN organizations o ON o.id = u.org_id"
                          " WHERE u.id = ?", (unit_id,))
    if org is None or org["abm_enabled"]:
        return "already_on"
    if not may:
        return "needs_admin"
    if scalar(conn, "SELECT 1 FROM leads WHERE unit_id IN (SELECT id FROM org_units WHERE org_id = ?)"
                    f" AND NOT {_seeded('leads')} LIMIT 1", (org["id"],)):
        return "own_leads"
    conn.execute("UPDATE organizations SET abm_enabled = 1, abm_sample_unit = ?, updated_at = ? WHERE id = ?",
                 (unit_id, now, org["id"]))
    return "turned_on"


def restore_abm_after_sample(conn: apsw.Connection, unit_id: str, now: int) -> bool:
    """Turn ABM off again when this OU's sample data turned it on and no admin has set it since; True if so."""
    conn.execute("UPDATE organizations SET abm_enabled = 0, abm_sample_unit = NULL, updated_at = ?"
                 " WHERE abm_sample_unit = ? AND id = (SELECT org_id FROM org_units WHERE id = ?)",
                 (now, unit_id, unit_id))
    return bool(conn.changes())


def _ids(conn: apsw.Connection, unit_id: str, table: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE unit_id = ? AND {_seeded(table)}", (unit_id,))]


def _delete(conn: apsw.Connection, sql: str, params: Sequence[Any]) -> int:
    conn.execute(sql, params)
    return int(conn.changes())


# Sample containers of rules, and their rules: (table, rule table, the rule's column naming its container).
_CONTAINERS = (("rulesets", "rules", "ruleset_id"), ("fit_rulesets", "fit_rules", "ruleset_id"),
               ("segments", "segment_rules", "segment_id"))


def _adopt_containers(conn: apsw.Connection, unit_id: str) -> dict[str, list[str]]:
    """A sample ruleset, fit ruleset or segment that holds rules of the user's own is theirs: it stops being sample
    data (and stays, with their rules), so the wipe removes only its sample rules. The ids adopted, by table."""
    adopted: dict[str, list[str]] = {}
    for table, rules, column in _CONTAINERS:
        # Inside EXISTS the unqualified columns are the rule's: a sample container holding a rule not seeded.
        ids = [r[0] for r in conn.execute(
            f"SELECT id FROM {table} WHERE unit_id = ? AND {_seeded(table)}"
            f" AND EXISTS (SELECT 1 FROM {rules} WHERE {column} = {table}.id AND NOT {_seeded(rules)})", (unit_id,))]
        if ids:
            conn.execute(f"UPDATE {table} SET source = 'api', created_by = NULL WHERE unit_id = ? AND id IN"
                         f" ({placeholders(len(ids))})", (unit_id, *ids))
            adopted[table] = ids
    return adopted


def wipe(conn: apsw.Connection, unit_id: str, now: int) -> tuple[dict[str, int], list[str], list[str]]:
    """Remove every sample row of the OU and what hangs off it. Returns counts per table, the real leads whose
    scores lose what sample rules gave them (a seeded decay rule's DECAY events, a sample rule of a ruleset kept
    for the user's own rules: the caller re-scores them in the same transaction), and the segments kept for the
    user's own rules (their members are to be rebuilt)."""
    counts: dict[str, int] = {}
    seeded_leads = f"SELECT id FROM leads WHERE unit_id = ? AND {_seeded('leads')}"
    adopted = _adopt_containers(conn, unit_id)
    triggers = _ids(conn, unit_id, "triggers")
    decays = _ids(conn, unit_id, "decay_rules")
    rulesets = _ids(conn, unit_id, "rulesets")

    # Events: the seeded ones (all on seeded leads) and the DECAY events seeded decay rules gave real leads.
    touched: list[str] = []
    kept = adopted.get("rulesets", [])
    if kept:
        marks = placeholders(len(kept))
        touched = [r[0] for r in conn.execute(
            f"SELECT DISTINCT lead_id FROM lead_scores WHERE unit_id = ? AND ruleset_id IN ({marks})"
            f" AND lead_id NOT IN ({seeded_leads})", (unit_id, *kept, unit_id))]
    if decays:
        marks = placeholders(len(decays))
        touched += [r[0] for r in conn.execute(
            f"SELECT DISTINCT lead_id FROM events WHERE unit_id = ? AND decay_id IN ({marks})"
            f" AND lead_id NOT IN ({seeded_leads})", (unit_id, *decays, unit_id))]
        counts["decay_events"] = ev_store.delete_events_where(conn, unit_id, f"decay_id IN ({marks})", decays)
    counts["events"] = ev_store.delete_events_where(
        conn, unit_id, f"source = 'seed' OR lead_id IN ({seeded_leads})", (unit_id,))

    # What belongs to seeded leads.
    for table in ("lead_scores", "lead_aliases", "trigger_state", "trigger_events", "surge_events"):
        counts[table] = _delete(conn, f"DELETE FROM {table} WHERE unit_id = ? AND lead_id IN ({seeded_leads})",
                                (unit_id, unit_id))
    counts["orders"] = _delete(
        conn, f"DELETE FROM orders WHERE unit_id = ? AND (source = 'seed' OR lead_id IN ({seeded_leads}))",
        (unit_id, unit_id))
    lead_props.drop_where(conn, unit_id, _seeded("leads"), ())

    # What belongs to seeded triggers and rulesets, whoever it concerns.
    if triggers:
        marks = placeholders(len(triggers))
        counts["deliveries"] = _delete(
            conn, f"DELETE FROM deliveries WHERE unit_id = ? AND trigger_id IN ({marks})", (unit_id, *triggers))
        for table in ("trigger_state", "trigger_events", "surge_events"):
            counts[table] = counts.get(table, 0) + _delete(
                conn, f"DELETE FROM {table} WHERE unit_id = ? AND trigger_id IN ({marks})", (unit_id, *triggers))
    if rulesets:
        marks = placeholders(len(rulesets))
        counts["event_scores"] = _delete(
            conn, f"DELETE FROM event_scores WHERE unit_id = ? AND ruleset_id IN ({marks})", (unit_id, *rulesets))
        counts["lead_scores"] = counts.get("lead_scores", 0) + _delete(
            conn, f"DELETE FROM lead_scores WHERE unit_id = ? AND ruleset_id IN ({marks})", (unit_id, *rulesets))

    # Real leads leave seeded accounts (they would join again by their own email domain on their next event).
    accounts = _ids(conn, unit_id, "accounts")
    if accounts:
        counts["leads_unlinked"] = _delete(
            conn, f"UPDATE leads SET account_id = NULL, updated_at = ? WHERE unit_id = ? AND account_id IN"
            f" ({placeholders(len(accounts))}) AND NOT {_seeded('leads')}", (now, unit_id, *accounts))

    # Event types only the sample's events had (none left, no settings of the OU's own): listed with no event,
    # dated from the sample, they outlived it.
    unused = ("FROM {table} WHERE unit_id = ?1 AND type_key IN (SELECT t.type_key FROM event_types t"
              " WHERE t.unit_id = ?1 AND t.event_count = 0 AND NOT EXISTS (SELECT 1 FROM event_type_settings s"
              " WHERE s.unit_id = ?1 AND s.type_key = t.type_key))")
    _delete(conn, "DELETE " + unused.format(table="event_type_properties"), (unit_id,))
    counts["event_types"] = _delete(conn, "DELETE " + unused.format(table="event_types"), (unit_id,))

    # The sample rows themselves, children before parents.
    for table in ("segment_rules", "segments", "fit_rules", "fit_rulesets", "field_mappings", "rules", "rulesets",
                  "levels", "decay_rules", "inorganic_filters", "triggers", "accounts", "leads"):
        counts[table] = counts.get(table, 0) + _delete(
            conn, f"DELETE FROM {table} WHERE unit_id = ? AND {_seeded(table)}", (unit_id,))
    return {k: v for k, v in counts.items() if v}, sorted(set(touched)), adopted.get("segments", [])
