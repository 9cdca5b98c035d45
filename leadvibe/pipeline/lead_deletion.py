"""The background part of `DELETE /leads/{id}`: remove a deleted lead's events in bounded write batches.

The request itself already removed the lead from every view (lead row, scores, aliases, orders) and recorded a
pending deletion. This task deletes the events (their score rows cascade) a batch per transaction, so a lead
with a million events never holds the writer for long, then the rows other domains keep for the lead, and
marks the deletion completed. Pending deletions survive a restart: the task resumes them at start."""

from __future__ import annotations

from functools import partial
from typing import Any

import apsw
import structlog

from leadvibe.pipeline.periodic import Periodic
from leadvibe.runtime import Runtime
from leadvibe.store import leads as lead_store

log = structlog.get_logger("leadvibe.lead_deletion")

BATCH = 2000  # events per transaction


def _delete_batch(rt: Runtime, item: dict[str, Any], conn: apsw.Connection) -> bool:
    unit_id, lead_id, now = item["unit_id"], item["lead_id"], rt.now_ms()
    done = lead_store.delete_batch(conn, unit_id, lead_id, int(item["upto_seq"]), BATCH, now)
    if done and rt.scoring_config is not None and lead_store.live_ids(conn, unit_id, [lead_id]):
        # Events made the lead again while its old ones were being removed, and a replay in between (a rule
        # change's rescore) counted those: its scores are replayed from what is left, as a deletion of events is.
        from leadvibe.pipeline.rescore import rescore_leads  # the replay imports the engine: only when needed

        rescore_leads(conn, rt.scoring_config.get(conn, unit_id), [lead_id], now)
    return done


async def run_deletions(rt: Runtime) -> int:
    """Finish every pending deletion; return how many completed."""
    done = 0
    while True:
        pending = await rt.db.read(lambda c: lead_store.pending_deletions(c))
        if not pending:
            return done
        for item in pending:
            while not await rt.db.write(partial(_delete_batch, rt, item), alone=True):
                pass
            done += 1
            log.info("lead_deleted", unit_id=item["unit_id"], lead_id=item["lead_id"])


def deletion_task(rt: Runtime) -> Periodic:
    """Runs at start (resuming deletions interrupted by a restart), then whenever poked by a DELETE."""

    async def tick() -> None:
        await run_deletions(rt)

    return Periodic("lead-deletions", 30.0, tick, run_at_start=True)
