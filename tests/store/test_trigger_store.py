"""Trigger rows: walking every firing page by page while firings are added (the CSV exports of emitted events),
and a pattern or surge trigger's firing times across migration 0065."""

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


def test_firing_times_round_trip_and_a_row_from_before_0065_keeps_its_one_time(conn: apsw.Connection) -> None:
    conn.execute("INSERT INTO triggers (id, org_id, unit_id, kind, created_at, updated_at)"
                 " VALUES ('tr_s', 'org', 'u_state', 'surge', 0, 0)")
    store.save_state(conn, "u_state", "tr_s", "ld_1", fired=(5, 7, 9), now=1)
    saved = store.lead_states(conn, "u_state", "ld_1")["tr_s"]
    assert store.fired_times(saved) == (5, 7, 9) and saved["last_fired_ts"] == 9
    conn.execute("UPDATE trigger_state SET fired_ts = NULL WHERE trigger_id = 'tr_s'")  # as 0065 left older rows
    assert store.fired_times(store.lead_states(conn, "u_state", "ld_1")["tr_s"]) == (9,)
    assert store.fired_times(None) == ()
