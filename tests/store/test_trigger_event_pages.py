"""Walking every firing page by page while firings are added (the CSV exports of emitted events)."""

from __future__ import annotations

import apsw

from leadvibe.store import triggers as store


def _fire(conn: apsw.Connection, n: int, fired_at: int) -> None:
    store.record_trigger_event(conn, "u_pages", "org", event_row_id=f"te_{n:04d}", trigger_id="tr", kind="sequence",
                               trigger_name="T", lead_id=f"ld_{n}", event_id=None, event_type=None,
                               score_before=None, score_after=None, level=None, fired_at=fired_at)


def test_a_firing_committed_between_pages_neither_repeats_a_row_nor_drops_one(conn: apsw.Connection) -> None:
    for n in range(10):
        _fire(conn, n, 1_000 + n)
    seen: list[str] = []
    before: tuple[int, str] | None = None
    while True:
        rows = store.list_trigger_events(conn, "u_pages", "sequence", limit=3, end=2_000, before=before)
        seen += [r["id"] for r in rows]
        if len(seen) == 3:
            # A worker batch stamps its firings with its start: one committed now sorts among the first page.
            _fire(conn, 99, 1_009)
        if len(rows) < 3:
            break
        before = (rows[-1]["fired_at"], rows[-1]["id"])
    assert len(seen) == len(set(seen))
    assert set(seen) >= {f"te_{n:04d}" for n in range(10)}
