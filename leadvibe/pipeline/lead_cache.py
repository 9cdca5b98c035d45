"""Lead state kept warm from one worker batch to the next.

A batch reads the state of every lead it names (scores per ruleset, the current session, the session count: two
queries per chunk of 256 events, `store.events.named_leads`) and writes it back before it commits. When the next
batch names the same leads and nothing but the worker has committed in between, what the last batch wrote is
still what is stored: the cache hands it over instead of reading it again.

Whether anything else committed is the writer's to say (`Database.write_mark(WORKER)` / `unchanged_since`): the
mark is taken at the end of each batch's own job, so its commit (only the worker's job in it) leaves it holding,
while any other commit in this process (an API write, a decay step, a write riding in the batch's own commit)
or in another (the server, when the worker runs in a process of its own: `PRAGMA data_version`) ends it, and the
next batch starts from an empty cache. A batch that fails, or runs in the careful one-event-at-a-time mode,
empties it too.
"""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.database import WriteMark
from leadvibe.engine.surge import Session

# The owner of the worker's write jobs (`Database.write(owner=...)`).
WORKER = "worker"
# Leads kept at most; past it the least recently written half goes (about 40 MB at the limit).
MAX_LEADS = 100_000

# (scores per ruleset, current session, session_count) as committed: what `store.events.named_leads` reads.
WarmLead = tuple[dict[str, int], Session | None, int]


class LeadCache:
    """The state of the leads the worker's recent batches wrote, valid while only the worker has committed."""

    def __init__(self, limit: int = MAX_LEADS) -> None:
        self.limit = limit
        self.leads: dict[tuple[str, str], WarmLead] = {}
        self.mark: WriteMark | None = None

    def begin(self, db: Any, conn: apsw.Connection) -> None:
        """Inside a batch's transaction, before it reads anything: forget every lead if anything but the worker
        has committed since the last batch's mark (or there is none)."""
        if self.mark is None or not db.unchanged_since(conn, self.mark):
            self.leads.clear()
        self.mark = None  # until the batch hands a new one over, having committed

    def get(self, unit_id: str, lead_id: str) -> WarmLead | None:
        """A lead's state as the last batch that wrote it committed it."""
        return self.leads.get((unit_id, lead_id))

    def committed(self, mark: WriteMark | None, leads: dict[tuple[str, str], WarmLead]) -> None:
        """A batch committed: the state it wrote of its leads, and the mark it took at its end."""
        if mark is None:
            self.clear()
            return
        kept = self.leads
        for key, state in leads.items():
            kept.pop(key, None)  # to the end: the least recently written go first
            kept[key] = state
        if len(kept) > self.limit:
            self.leads = dict(list(kept.items())[len(kept) - self.limit // 2:])
        self.mark = mark

    def clear(self) -> None:
        """Forget everything (a batch failed, or ran in the careful mode)."""
        self.leads.clear()
        self.mark = None
