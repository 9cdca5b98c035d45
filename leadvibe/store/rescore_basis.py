"""SQL for what a rescore may leave alone: the OU's scoring epoch, each ruleset's basis, the pending rule changes
(tables and triggers of migration 0052), and the leads a set of event types touches."""

from __future__ import annotations

from collections.abc import Collection, Iterable

import apsw


def scoring_epoch(conn: apsw.Connection, unit_id: str) -> int:
    """The OU's scoring epoch: raised by every change to its configuration other than rules (0: never)."""
    row = conn.execute("SELECT epoch FROM scoring_epochs WHERE unit_id = ?", (unit_id,)).fetchone()
    return int(row[0]) if row else 0


def basis_epoch(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> int | None:
    """The epoch under which the ruleset's rows were last made whole by a replay of every live lead (None:
    never, or the ruleset's basis was dropped)."""
    row = conn.execute("SELECT epoch FROM rescore_basis WHERE unit_id = ? AND ruleset_id = ?",
                       (unit_id, ruleset_id)).fetchone()
    return int(row[0]) if row else None


def pending_types(conn: apsw.Connection, unit_id: str, ruleset_id: str) -> tuple[int, list[str]]:
    """(the last pending change's id, 0 when none; the event types whose rules in the ruleset changed)."""
    through = 0
    types: list[str] = []
    for last, type_key in conn.execute("SELECT max(id), type_key FROM rescore_pending WHERE unit_id = ?"
                                       " AND ruleset_id = ? GROUP BY type_key ORDER BY type_key",
                                       (unit_id, ruleset_id)):
        through = max(through, int(last))
        types.append(str(type_key))
    return through, types


def live_leads_with_types(conn: apsw.Connection, unit_id: str, type_keys: Collection[str]) -> list[str]:
    """The live leads of the OU that have at least one event of one of the types, by id. Walks the OU's
    events_lead_type_time alone: one pass, whatever the number of types. DECAY events are not in it (migration
    0061) and need not be: no rule scores them."""
    if not type_keys:
        return []
    marks = ",".join("?" * len(type_keys))
    return [str(r[0]) for r in conn.execute(
        "SELECT l.id FROM leads l WHERE l.unit_id = ? AND l.merged_into IS NULL AND l.id IN"
        f" (SELECT e.lead_id FROM events e WHERE e.unit_id = ? AND e.type_key IN ({marks}) AND e.decay_id IS NULL)"
        " ORDER BY l.id",
        (unit_id, unit_id, *sorted(type_keys)))]


def record_basis(conn: apsw.Connection, unit_id: str, ruleset_ids: Iterable[str], epoch: int,
                 pending_through: int | None) -> bool:
    """Inside a write: note that the rulesets' rows were made whole under `epoch`, and forget their pending
    changes up to id `pending_through` (None: all of them). Does nothing and returns False when the OU's epoch
    has moved on since (the replay may then have read two configurations)."""
    if scoring_epoch(conn, unit_id) != epoch:
        return False
    for ruleset_id in ruleset_ids:
        conn.execute("INSERT INTO rescore_basis (unit_id, ruleset_id, epoch) VALUES (?, ?, ?)"
                     " ON CONFLICT (unit_id, ruleset_id) DO UPDATE SET epoch = excluded.epoch",
                     (unit_id, ruleset_id, epoch))
        conn.execute("DELETE FROM rescore_pending WHERE unit_id = ? AND ruleset_id = ? AND id <= ?",
                     (unit_id, ruleset_id, pending_through if pending_through is not None else 2**63 - 1))
    return True
