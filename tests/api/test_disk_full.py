"""A full disk: writes answer 503 and store nothing, and `/healthz` reports `disk` (leadvibe/disk_space.py).

The disk is made full for SQLite by the inbox connection's `max_page_count` (the file may not grow past its size
now): SQLite then refuses writes with SQLITE_FULL, as on a full file system."""

from __future__ import annotations

from typing import Any

from leadvibe.disk_space import disk_state, free_bytes
from tests.conftest import Api


def _limited(db: Any, limited: bool) -> None:
    """Keep a database file from growing past its size now (SQLite then refuses writes: SQLITE_FULL), or not."""
    def run(conn: Any) -> None:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages if limited else 4294967294}").fetchall()

    db.write_blocking(run, transaction=False)


async def test_a_write_refused_for_want_of_space_is_503_and_the_disk_is_reported_full(own_api: Api) -> None:
    api = own_api
    path = str(api.rt.settings.data_path)
    health = await api.client.get("/healthz")
    assert health.status_code == 200 and health.json()["disk"] == "ok"
    free = free_bytes(path)
    assert free is not None
    # Free space alone: below the bound is full.
    assert disk_state(path, full_below=free + (1 << 30)) == "full"
    everything = free + (1 << 40)
    assert disk_state(path, room_after_full=everything) == "ok"  # no write has failed yet

    _limited(api.rt.inbox_db, True)
    try:
        metadata = {"note": "x" * 2000}
        answers = []
        for n in range(40):
            batch = [{"lead_id": f"ld_full{n}", "event_type": "page_view", "event_id": f"ev_full_{n}_{i}",
                      "metadata": metadata} for i in range(100)]
            r = await api.client.post("/ingest/batch", json={"events": batch}, headers=api.headers)
            answers.append(r.status_code)
            if r.status_code == 503:
                assert r.json() == {"error": "the disk is full: nothing was stored; free some space and retry"}
                assert r.headers["retry-after"] == "30"
                break
        assert answers[-1] == 503, answers
        # A write failed for want of space: full until that much room comes back (within a minute of it).
        assert disk_state(path, room_after_full=everything) == "full"
    finally:
        _limited(api.rt.inbox_db, False)
    r = await api.client.post("/ingest/batch", json={"events": [{"lead_id": "ld_full", "event_type": "page_view"}]},
                              headers=api.headers)
    assert r.status_code == 202
    health = (await api.client.get("/healthz")).json()
    assert set(health) >= {"status", "database", "disk", "worker", "queue_depth", "version"}


async def test_audit_entries_a_full_disk_refused_are_written_with_the_next(own_api: Api) -> None:
    """An audit entry is written once the request is answered; a full disk refused it and it was lost (the log
    only said so). It is kept and written with the next entry."""
    api = own_api
    _limited(api.rt.db, True)
    try:
        for n in range(400):  # 400s are audited: each adds a row until the last page is full
            r = await api.client.post("/rules", json={"bogus": n}, headers=api.headers)
            assert r.status_code == 400
            if api.rt.audit_unwritten:
                break
        kept = [entry[10] for entry in api.rt.audit_unwritten]
        assert kept
    finally:
        _limited(api.rt.db, False)
    r = await api.client.post("/rules", json={"bogus": "last"}, headers=api.headers)
    assert r.status_code == 400
    assert api.rt.audit_unwritten == []
    logged = (await api.client.get("/admin/audit-logs", params={"limit": 500}, headers=api.headers)).json()
    ids = [e["request_id"] for e in logged["items"]]
    assert set(kept) <= set(ids) and r.headers["x-request-id"] in ids
    assert len(ids) == len(set(ids))  # each once
