"""The worker's lead state kept from one batch to the next (pipeline/lead_cache.py), through the running worker:
used while only the worker commits, dropped by any other write, so a score is always the sum of its lead's stored
deltas however the writes interleave."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, ingest, scores_of, wait_idle


def _named_reads(api: Api) -> list[int]:
    """Counts, one per statement run, of the worker's reads of stored lead state (`named_leads`' queries)."""
    seen: list[int] = []

    def trace(cursor: Any, sql: str, bindings: Any) -> bool:
        if "FROM lead_scores WHERE unit_id = ?1 AND lead_id IN (SELECT value FROM json_each" in sql:
            seen.append(1)
        return True

    api.rt.db.write_blocking(lambda c: c.set_exec_trace(trace), transaction=False)
    return seen


async def test_a_lead_seen_by_the_last_batch_is_not_read_again(api: Api) -> None:
    await add_rules(api, {"page_view": 5})
    reads = _named_reads(api)  # (a bare job: the first batch after it reads)
    try:
        await ingest(api, "ld_warm", "page_view")
        await wait_idle(api)
        assert ("unit_default", "ld_warm") in api.rt.worker.lead_cache.leads
        assert reads == [1]
        for _ in range(3):
            await ingest(api, "ld_warm", "page_view")
            await wait_idle(api)
    finally:
        api.rt.db.write_blocking(lambda c: c.set_exec_trace(None), transaction=False)
    assert reads == [1]
    assert await scores_of(api, "ld_warm") == await delta_sums(api, "ld_warm")


async def test_a_write_between_batches_drops_what_was_kept(api: Api) -> None:
    """Each foreign write changes the kept lead's stored state; the next event must score from the new state."""
    await add_rules(api, {"page_view": 5, "demo_request": 30})
    ids = [await ingest(api, "ld_a", "page_view") for _ in range(2)]
    await ingest(api, "ld_b", "demo_request")
    await wait_idle(api)
    # an event deleted through the API: the lead is rescored in another transaction
    r = await api.request("DELETE", "/events/batch", json={"event_ids": ids[:1]})
    assert r.status_code == 200, r.text
    await wait_idle(api)
    await ingest(api, "ld_a", "page_view")
    await wait_idle(api)
    assert await scores_of(api, "ld_a") == await delta_sums(api, "ld_a")
    # a merge moves ld_b's score into ld_a
    before = (await scores_of(api, "ld_a"))["rs_test"]
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_a", "sourceLeadIds": ["ld_b"]})
    assert r.status_code == 200, r.text
    await ingest(api, "ld_a", "page_view")
    await wait_idle(api)
    assert await scores_of(api, "ld_a") == await delta_sums(api, "ld_a")
    assert (await scores_of(api, "ld_a"))["rs_test"] > before + 30
    # a rule change rescores every lead
    await add_rules(api, {"page_view": 1, "demo_request": 30})
    await wait_idle(api)
    await ingest(api, "ld_a", "page_view")
    await wait_idle(api)
    assert await scores_of(api, "ld_a") == await delta_sums(api, "ld_a")


async def test_a_foreign_commit_empties_it(api: Api) -> None:
    await add_rules(api, {"page_view": 5})
    await ingest(api, "ld_c", "page_view")
    await wait_idle(api)
    cache = api.rt.worker.lead_cache
    mark = cache.mark  # taken now: the worker's next batch may see the commit below first and empty the cache
    assert cache.leads and mark is not None
    await api.post("/leads", json={"id": "ld_other"})  # any other commit
    assert not api.rt.db.write_blocking(lambda c: api.rt.db.unchanged_since(c, mark))
    await ingest(api, "ld_d", "page_view")
    await wait_idle(api)
    assert set(cache.leads) == {("unit_default", "ld_d")}  # ld_c went with the foreign commit
