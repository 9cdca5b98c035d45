"""Removing events that were acknowledged (202) but are not scored yet, for the deletions that must reach them.

A deleted lead or event whose events still wait in the inbox would come back once the worker scores them: the
lead created again, the event stored after the `200` that said it was deleted. So a deletion first removes the
queued rows it concerns from the inbox file, then deletes from the main database. The order closes the race with
the worker: a worker batch reads its inbox rows inside its transaction on the main database, so one that read
the rows before they were removed here commits what they brought before the deletion's own write gets the lock,
and the deletion then removes that too; a later batch no longer finds them (`/admin/wipe` works the same way).

The rows are found with a read of the inbox (no lock held against new acknowledgements) and removed by `seq`: any
event acknowledged before the deletion was asked for is committed in the inbox by then.
"""

from __future__ import annotations

from collections.abc import Sequence

import apsw

from leadvibe.engine.normalize import type_key
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.runtime import Runtime
from leadvibe.store import inbox as inbox_store
from leadvibe.store import leads as lead_store


async def _handled(rt: Runtime) -> int:
    """The last inbox `seq` the worker has handled: rows at or below it are in the main database already."""
    return await rt.db.read(inbox_store.progress)


async def drop_queued_events(rt: Runtime, unit_id: str, event_ids: Sequence[str]) -> set[str]:
    """Remove the OU's queued rows of these events; the ids of those removed."""
    after = await _handled(rt)
    found = await rt.inbox_db.read(lambda c: inbox_store.queued_with_ids(c, unit_id, after, event_ids))
    if not found:
        return set()
    await rt.inbox_db.write(lambda c: inbox_store.delete_rows(c, [seq for seq, _ in found]))
    return {event_id for _, event_id in found}


async def drop_queued_of_lead(rt: Runtime, unit_id: str, lead_id: str) -> int:
    """Remove the OU's queued events that the worker would score on this lead: those naming it (or a lead merged
    into it) by id, and those naming it only by one of its aliases, including the aliases its queued events
    bring. Returns how many were removed."""
    ids, aliases = await rt.db.read(lambda c: lead_store.names_of(c, unit_id, lead_id))
    after = await _handled(rt)

    def find(c: apsw.Connection) -> list[int]:
        seqs = []
        for seq, _event_id, payload in inbox_store.queued_in_unit(c, unit_id, after):
            q = inbox_mod.decode(payload)
            named = [(kind, value) for kind, value, _raw in q.aliases]
            # An event naming a lead by id goes to that lead whatever its aliases say (and brings them to it).
            if q.lead_id in ids if q.lead_id else any(a in aliases for a in named):
                seqs.append(seq)
                aliases.update(named)
        return seqs

    seqs = await rt.inbox_db.read(find)
    if not seqs:
        return 0
    return await rt.inbox_db.write(lambda c: inbox_store.delete_rows(c, seqs))


async def queued_of_type(rt: Runtime, unit_id: str, key: str) -> list[tuple[int, str]]:
    """(inbox seq, event id) of the OU's queued events whose type normalizes to `key`."""
    after = await _handled(rt)

    def find(c: apsw.Connection) -> list[tuple[int, str]]:
        return [(seq, event_id) for seq, event_id, payload in inbox_store.queued_in_unit(c, unit_id, after)
                if type_key(inbox_mod.decode(payload).event_type) == key]

    return await rt.inbox_db.read(find)


async def drop_queued_of_type(rt: Runtime, unit_id: str, key: str) -> set[str]:
    """Remove the OU's queued events of the type (normalized key `key`); the ids of those removed (a worker batch
    that read them before may store them still: the caller's deletion then finds them stored too)."""
    found = await queued_of_type(rt, unit_id, key)
    if found:
        await rt.inbox_db.write(lambda c: inbox_store.delete_rows(c, [seq for seq, _ in found]))
    return {event_id for _, event_id in found}
