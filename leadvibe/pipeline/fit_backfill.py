"""The admin backfills over existing data: apply profile mappings to history, link accounts and recompute
profile scores, stamp events with their lead's account.

Each runs over the OU's live leads in rowid order, one short write transaction per chunk, so ingestion keeps
flowing between chunks; each reports counts and is safe to run twice (a second run changes nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw

from leadvibe.engine.fit import replay_mappings, set_by_hand
from leadvibe.pipeline.fit import FitWriter, LeadState, decode_metadata
from leadvibe.store import accounts as account_store
from leadvibe.store import fit as store

if TYPE_CHECKING:
    from leadvibe.runtime import Runtime

CHUNK_LEADS = 200


@dataclass
class Counts:
    """Running totals of a backfill."""

    values: dict[str, int] = field(default_factory=dict)

    def add(self, **deltas: int) -> None:
        for key, n in deltas.items():
            self.values[key] = self.values.get(key, 0) + n


async def _over_leads(rt: Runtime, unit_id: str, step: Callable[[apsw.Connection, list[dict[str, Any]], int], None],
                      chunk: int = CHUNK_LEADS) -> None:
    """Call `step(conn, leads, now)` for each chunk of the OU's live leads, each chunk in its own write."""
    cursor = 0
    while True:
        def run(c: apsw.Connection, after: int = cursor) -> int | None:
            rows = store.lead_chunk(c, unit_id, after, chunk)
            if rows:
                step(c, rows, rt.now_ms())
            return int(rows[-1]["rowid"]) if len(rows) == chunk else None

        nxt = await rt.db.write(run)
        if nxt is None:
            return
        cursor = nxt


def _writer(rt: Runtime, conn: apsw.Connection, unit_id: str, rows: list[dict[str, Any]], now: int) -> FitWriter:
    """A writer that starts from the chunk's rows (no second read per lead)."""
    writer = rt.fit.writer(conn, now)
    for row in rows:
        writer.leads[(unit_id, row["id"])] = LeadState.from_row(row)
    return writer


async def apply_profile_mappings(rt: Runtime, unit_id: str) -> dict[str, int]:
    """Replay the profile mappings over every lead's events (arrival order) and then its own metadata, as if
    the mappings had existed all along; write the leads whose properties change."""
    counts = Counts({"leads_processed": 0, "leads_updated": 0})

    def step(c: apsw.Connection, rows: list[dict[str, Any]], now: int) -> None:
        writer = _writer(rt, c, unit_id, rows, now)
        cfg = writer.config(unit_id)
        histories = store.events_with_metadata(c, unit_id, [r["id"] for r in rows]) if cfg.profile_mappings else {}
        updated = 0
        for row in rows:
            lead = writer.leads[(unit_id, row["id"])]
            history = histories.get(row["id"], [])
            sources = [decode_metadata(m) for _, m in history]
            # A property someone set through the API after the last event carrying its value stays theirs.
            kept = set_by_hand(cfg.profile_mappings, lead.metadata, sources, [at for at, _ in history],
                               lead.metadata_set_at)
            sources.append(lead.metadata)
            replayed = replay_mappings(cfg.profile_mappings, lead.metadata, sources, kept=kept)
            if replayed is not None:
                writer.replace_properties(cfg, lead, replayed)
                updated += 1
        counts.add(leads_processed=len(rows), leads_updated=updated)

    await _over_leads(rt, unit_id, step)
    return counts.values


async def backfill_accounts(rt: Runtime, unit_id: str) -> dict[str, Any]:
    """Link every lead to its account (ABM on: the account its `account_id` names, created when missing, else
    its email domain's), recompute every profile score, then every account score."""
    counts = Counts({"leads_processed": 0, "accounts_linked": 0, "accounts_created": 0, "profile_scores_updated": 0})
    abm = await rt.db.read(lambda c: store.abm_enabled(c, unit_id))

    def step(c: apsw.Connection, rows: list[dict[str, Any]], now: int) -> None:
        writer = _writer(rt, c, unit_id, rows, now)
        cfg = writer.config(unit_id)
        for row in rows:
            writer.backfill_lead(cfg, writer.leads[(unit_id, row["id"])])
        counts.add(leads_processed=len(rows), accounts_linked=writer.counts.accounts_linked,
                   accounts_created=writer.counts.accounts_created,
                   profile_scores_updated=writer.counts.profile_scores_updated)

    await _over_leads(rt, unit_id, step)
    await rt.db.write(lambda c: rt.fit.request_rescore(c, unit_id, "account", rt.now_ms()))
    await rt.fit.run_pending()
    return {**counts.values, "abm_enabled": abm}


async def backfill_event_accounts(rt: Runtime, unit_id: str) -> dict[str, int]:
    """Set `accountId` in the metadata of each event whose lead has an account, where it is missing or names
    another account; events of leads without an account are counted, not changed."""
    counts = Counts({"events_scanned": 0, "events_updated": 0, "leads_without_account": 0})

    def step(c: apsw.Connection, rows: list[dict[str, Any]], now: int) -> None:
        with_account = [(r["id"], r["account_id"]) for r in rows if r["account_id"]]
        scanned, updated = account_store.stamp_event_accounts(c, unit_id, with_account)
        counts.add(events_scanned=scanned, events_updated=updated,
                   leads_without_account=len(rows) - len(with_account))

    await _over_leads(rt, unit_id, step)
    return counts.values
