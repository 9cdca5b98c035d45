"""Test helpers shared across domains."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import apsw


async def wait_idle(api: Any, timeout: float = 10.0) -> None:
    """Wait until the scoring worker has processed every acknowledged event."""
    worker = api.rt.worker
    if worker is None:
        raise AssertionError("the scoring worker is not running")
    await asyncio.wait_for(worker.wait_idle(), timeout)


async def on_app_loop(api: Any, job: Callable[[], Awaitable[Any]]) -> Any:
    """Run `job` on the event loop the test client runs the app on (its portal's thread), as a `/stream` handler
    runs. The stream hub wakes its subscribers' queues on that loop: a subscriber on the test's own loop would see
    a message only when something else woke its loop (a timeout seconds later)."""
    return await asyncio.wrap_future(api.client.blocking_portal.start_task_soon(job))


async def subscribed(api: Any, job: Callable[[], Awaitable[Any]], unit_id: str = "unit_default") -> asyncio.Future[Any]:
    """Start `job`, a reader of `unit_id`'s stream, on the app's loop; return once it has subscribed."""
    before = api.rt.stream.subscriber_count(unit_id)
    task = asyncio.ensure_future(on_app_loop(api, job))
    for _ in range(500):
        if api.rt.stream.subscriber_count(unit_id) > before or task.done():
            return task
        await asyncio.sleep(0.01)
    raise AssertionError("the stream reader never subscribed")


async def add_rules(api: Any, weights: dict[str, int], ruleset_id: str = "rs_test", primary: bool = True,
                    unit_id: str = "unit_default") -> str:
    """Insert a ruleset with rules directly (pipeline tests that must not depend on the config endpoints)."""
    from leadvibe.engine.normalize import type_key

    now = api.rt.now_ms()

    def run(c: Any) -> None:
        c.execute("INSERT OR IGNORE INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                  " SELECT ?, org_id, id, ?, ?, ?, ? FROM org_units WHERE id = ?",
                  (ruleset_id, ruleset_id, int(primary), now, now, unit_id))
        for i, (event_type, weight) in enumerate(weights.items()):
            c.execute("INSERT INTO rules (id, ruleset_id, org_id, unit_id, event_type, type_key, weight, created_at,"
                      " updated_at) SELECT ?, ?, org_id, id, ?, ?, ?, ?, ? FROM org_units WHERE id = ?",
                      (f"rl_{ruleset_id}_{i}_{now}", ruleset_id, event_type, type_key(event_type), weight, now, now,
                       unit_id))

    await api.rt.db.write(run)
    api.rt.scoring_config.invalidate(unit_id)
    return ruleset_id


async def scores_of(api: Any, lead_id: str, unit_id: str = "unit_default") -> dict[str, int]:
    """ruleset_id -> score of a lead."""
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT ruleset_id, score FROM lead_scores WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id)).fetchall())
    return {r[0]: r[1] for r in rows}


async def delta_sums(api: Any, lead_id: str, unit_id: str = "unit_default") -> dict[str, int]:
    """ruleset_id -> SUM(delta) of a lead's stored event scores (the scoring invariant's other side)."""
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT ruleset_id, SUM(delta) FROM event_scores WHERE unit_id = ? AND lead_id = ? GROUP BY ruleset_id",
        (unit_id, lead_id)).fetchall())
    return {r[0]: r[1] for r in rows}


def running_totals_mismatches(conn: Any, unit_id: str = "unit_default") -> list[tuple[Any, ...]]:
    """Where the scores after each event that store.running_totals reads (per lead, and for all leads at once)
    differ from the prefix sums of the stored deltas in arrival order (what a replay's running totals are):
    (lead, ruleset, seq, expected, per lead, all at once)."""
    from leadvibe.store.running_totals import scores_after

    rows = conn.execute("SELECT e.lead_id, s.ruleset_id, e.seq, s.delta FROM events e JOIN event_scores s"
                        " ON s.event_seq = e.seq WHERE e.unit_id = ? ORDER BY e.seq", (unit_id,)).fetchall()
    expected: dict[tuple[str, str, int], int] = {}
    totals: dict[tuple[str, str], int] = {}
    for lead_id, ruleset_id, seq, delta in rows:
        totals[(lead_id, ruleset_id)] = totals.get((lead_id, ruleset_id), 0) + delta
        expected[(lead_id, ruleset_id, seq)] = totals[(lead_id, ruleset_id)]
    rulesets = sorted({r[1] for r in rows})
    wanted: dict[str, list[int]] = {}
    for lead_id, _, seq, _ in rows:
        wanted.setdefault(lead_id, []).append(seq)
    together = scores_after(conn, unit_id, rulesets, wanted)
    alone: dict[tuple[str, str, int], int] = {}
    for lead_id, seqs in wanted.items():
        alone.update(scores_after(conn, unit_id, rulesets, {lead_id: seqs}))
    return [(*key, value, alone.get(key), together.get(key)) for key, value in expected.items()
            if not alone.get(key) == together.get(key) == value]


async def new_member(api: Any, email: str, org_role: str = "member", password: str = "member-password-1") -> str:
    """Create an org member (no OU membership yet) as the logged-in admin; return their id."""
    r = await api.post("/members", json={"first_name": "Pat", "last_name": "Lee", "email": email,
                                         "password": password, "role": org_role})
    assert r.status_code == 201, r.text
    return str(r.json()["org_member_id"])


async def member_headers(api: Any, email: str = "viewer@example.com", role: str = "Viewer",
                         unit_id: str | None = None, password: str = "member-password-1") -> dict[str, str]:
    """Create an org member with `role` in the OU (default: the test's OU) and return their session headers (the
    admin stays logged in). The one way tests make a member with a role."""
    unit_id = unit_id or api.unit
    member_id = await new_member(api, email, password=password)
    r = await api.post(f"/org-units/{unit_id}/memberships", json={"org_member_id": member_id, "role": role})
    assert r.status_code == 200, r.text
    saved = api.headers
    headers = await api.login(email, password, unit_id)
    api.headers = saved
    return dict(headers)


async def add_filter(api: Any, filter_id: str, event_type: str, threshold: int, window_ms: int, group: bool,
                     unit_id: str = "unit_default") -> None:
    """Insert an inorganic filter directly (pipeline tests that must not depend on the config endpoints)."""
    from leadvibe.engine.normalize import type_key

    await api.rt.db.write(lambda c: c.execute(
        "INSERT INTO inorganic_filters (id, org_id, unit_id, event_type, type_key, count_threshold, time_window_ms,"
        " group_events, created_at, updated_at) SELECT ?, org_id, id, ?, ?, ?, ?, ?, 0, 0 FROM org_units WHERE id = ?",
        (filter_id, event_type, type_key(event_type), threshold, window_ms, int(group), unit_id)))
    api.rt.scoring_config.invalidate(unit_id)


async def member_id_of(api: Any, email: str) -> str:
    """The org member id of the member with this email."""
    row = await api.rt.db.read(lambda c: c.execute("SELECT id FROM members WHERE email = ?", (email,)).fetchone())
    assert row is not None, f"no member {email}"
    return str(row[0])


def metric_values(text: str) -> dict[str, float]:
    """Prometheus text -> {"name{labels}": value} (labels as written), for before/after comparisons."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


async def other_unit(api: Any, name: str = "Elsewhere") -> dict[str, str]:
    """Create a second OU (the admin is its owner) and return session headers that make it the active one."""
    r = await api.post("/org-units", json={"name": name})
    assert r.status_code in (200, 201), r.text
    return {**api.headers, "X-OU-ID": r.json()["unit_id"]}


async def ingest(api: Any, lead_id: str | None, event_type: str, metadata: dict[str, Any] | None = None,
                 email: str | None = None, headers: dict[str, str] | None = None) -> str:
    """POST /ingest one event (by lead id and/or an email alias); the event id."""
    body: dict[str, Any] = {"event_type": event_type}
    if lead_id is not None:
        body["lead_id"] = lead_id
    if email is not None:
        body["aliases"] = [{"alias_kind": "email", "raw_value": email}]
    if metadata is not None:
        body["metadata"] = metadata
    r = await api.client.post("/ingest", json=body, headers=headers or api.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["metadata"]["event_id"])


async def enable_abm(api: Any, on: bool = True) -> None:
    """Turn the organization's ABM toggle on (the admin is an org admin)."""
    r = await api.put("/settings/scoring", json={"abm_enabled": on})
    assert r.status_code == 200, r.text


async def settle(api: Any) -> None:
    """Wait until the worker has scored everything and no profile/account re-score is pending."""
    await wait_idle(api)
    await asyncio.wait_for(api.rt.fit.wait_idle(), 10)


async def ingest_minutes(api: Any, events: list[tuple[str, str, int]]) -> None:
    """Ingest (lead, type, minute) triples as one batch, minute 0 being ten hours ago, and wait for the worker."""
    from leadvibe.timeutil import to_rfc3339

    start = api.rt.now_ms() - 600 * 60_000
    batch = [{"lead_id": lead, "event_type": t, "timestamp": to_rfc3339(start + m * 60_000)} for lead, t, m in events]
    r = await api.post("/ingest/batch", json={"events": batch})
    assert r.status_code == 202, r.text
    await wait_idle(api)


def database_before(tmp_path: Path, version: int) -> apsw.Connection:
    """A database file under `tmp_path` with the migrations before `version` applied (the schema a release before it
    left), to test what `version` does to data stored then."""
    from leadvibe.db.migrate import MIGRATIONS_DIR, apply_migrations, available

    before = tmp_path / f"migrations_before_{version}"
    before.mkdir()
    for number, _name, path in available(MIGRATIONS_DIR):
        if number < version:
            shutil.copy(path, before / path.name)
    conn = apsw.Connection(str(tmp_path / "db.sqlite"))
    apply_migrations(conn, before)
    return conn


def buffered_rows(events: list[tuple[str, str, int, str, list[tuple[str, int]]]], first_seq: int
                  ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Event rows (seq, *INSERT_EVENT columns) and score rows as the worker buffers them, from (unit, lead,
    occurred_at, type_key, [(ruleset, delta)]) events numbered from `first_seq`."""
    event_rows, score_rows = [], []
    for i, (unit, lead, at, key, scores) in enumerate(events):
        seq = first_seq + i
        event_rows.append((seq, f"ev_{seq}", "org_1", unit, lead, key, key, at, at, at, None, "web", "api",
                           "activate", 0, None, None, 1.0, None, int(any(d for _, d in scores)), None))
        score_rows.extend((seq, rs, unit, lead, "[]", d, 1.0, d, 0, d, None) for rs, d in scores)
    return event_rows, score_rows


async def wait_deleted(api: Any, lead_id: str) -> None:
    """Until the lead's deletion (DELETE /leads/{id}) reads completed."""
    for _ in range(200):
        if (await api.get(f"/leads/{lead_id}/deletion")).json()["status"] == "completed":
            return
        await asyncio.sleep(0.02)
    raise AssertionError("deletion did not complete")
