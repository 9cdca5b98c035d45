"""Score decay: rules CRUD and the scheduler's pass, on an injected clock (never by sleeping)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from leadvibe.pipeline.decay import run_pass
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api
from tests.helpers import add_rules, delta_sums, scores_of, wait_idle

# The clock starts at the real time: login tokens are checked against the wall clock; only domain time moves.
START = time.time_ns() // 1_000_000_000 * 1000
DAY = 86_400


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def ingest(api: Api, lead_id: str, event_type: str = "demo_request", **extra: Any) -> None:
    r = await api.post("/ingest", json={"lead_id": lead_id, "event_type": event_type, **extra})
    assert r.status_code == 202, r.text
    await wait_idle(api)


async def decay(api: Api, inactive_for: int, unit: str, decrease: int) -> str:
    r = await api.post("/decays", json={"inactive_for": inactive_for, "unit": unit, "decrease": decrease})
    assert r.status_code == 201, r.text
    return str(r.json()["decay_id"])


async def decay_events(api: Api, lead_id: str) -> list[dict[str, Any]]:
    def run(c: Any) -> list[dict[str, Any]]:
        cur = c.execute(
            "SELECT event_type, channel, decay_id, metadata, occurred_at FROM events"
            " WHERE unit_id = 'unit_default' AND lead_id = ? AND decay_id IS NOT NULL ORDER BY seq",
            (lead_id,),
        )
        return [
            dict(zip(("event_type", "channel", "decay_id", "metadata", "occurred_at"), r, strict=True))
            for r in cur
        ]

    return await api.rt.db.read(run)


async def score(api: Api, lead_id: str) -> int:
    scores = await scores_of(api, lead_id)
    assert scores.get("rs_test", 0) == (await delta_sums(api, lead_id)).get("rs_test", 0)  # the invariant
    return scores.get("rs_test", 0)


@pytest.fixture
async def ready(api: Api) -> Api:
    await add_rules(api, {"demo_request": 20, "page_view": 5})
    return api


# -- CRUD ----------------------------------------------------------------------------------------------------
async def test_decay_rules_crud(api: Api) -> None:
    d30 = await decay(api, 30, "days", 25)
    d7 = await decay(api, 1, "weeks", 5)
    assert d30.startswith("dc_")
    listed = (await api.get("/decays")).json()
    assert [(x["decay_id"], x["inactive_for"], x["unit"], x["decrease"]) for x in listed] == [
        (d7, 1, "weeks", 5),
        (d30, 30, "days", 25),
    ]
    r = await api.put(f"/decays/{d30}", json={"decrease": 30, "unit": "hours"})
    assert r.status_code == 200, r.text
    assert (r.json()["inactive_for"], r.json()["unit"], r.json()["decrease"], r.json()["active"]) == (
        30,
        "hours",
        30,
        True,
    )
    assert (await api.put(f"/decays/{d30}", json={"active": False})).json()["active"] is False
    assert (await api.delete(f"/decays/{d30}")).status_code == 204
    assert [x["decay_id"] for x in (await api.get("/decays")).json()] == [d7]
    assert (await api.delete(f"/decays/{d30}")).status_code == 404
    assert (await api.put("/decays/dc_nope", json={"decrease": 1})).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"inactive_for": 0, "unit": "days", "decrease": 5},
        {"inactive_for": 7, "unit": "months", "decrease": 5},
        {"inactive_for": 7, "unit": "days", "decrease": 0},
        {"inactive_for": 7, "unit": "days", "decrease": -5},
        {"inactive_for": 7, "unit": "days"},
        {"inactive_for": 7, "unit": "days", "decrease": "lots"},
    ],
)
async def test_decay_rule_bad_inputs(api: Api, body: dict[str, Any]) -> None:
    r = await api.post("/decays", json=body)
    assert r.status_code == 400, r.text
    assert (await api.get("/decays")).json() == []


async def test_decay_update_bad_inputs(api: Api) -> None:
    d = await decay(api, 7, "days", 5)
    assert (await api.put(f"/decays/{d}", json={"inactive_for": 0})).status_code == 400
    assert (await api.put(f"/decays/{d}", json={"unit": "years"})).status_code == 400


# -- the pass ------------------------------------------------------------------------------------------------
async def test_decay_applies_once_per_inactivity_period(ready: Api, clock: ManualClock) -> None:
    api = ready
    d7 = await decay(api, 7, "days", 5)
    await ingest(api, "ld_a")
    clock.advance(6 * DAY)
    assert (await run_pass(api.rt)).applied == 0
    clock.advance(1 * DAY)  # exactly 7 days: due
    result = await run_pass(api.rt)
    assert result.applied == 1 and result.by_rule == {d7: 1}
    events = await decay_events(api, "ld_a")
    assert len(events) == 1
    assert (
        events[0]["event_type"] == "DECAY"
        and events[0]["channel"] == "system"
        and events[0]["decay_id"] == d7
    )
    assert '"channel":"system"' in events[0]["metadata"] and d7 in events[0]["metadata"]
    assert events[0]["occurred_at"] == clock.now_ms()
    assert await score(api, "ld_a") == 15
    clock.advance(20 * DAY)
    assert (await run_pass(api.rt)).applied == 0  # once per period, however long it lasts
    assert await score(api, "ld_a") == 15
    # the DECAY event did not count as activity
    last_organic = await api.rt.db.read(
        lambda c: c.execute("SELECT last_organic_at FROM leads WHERE id = 'ld_a'").fetchone()[0]
    )
    assert last_organic == START


async def test_new_organic_event_starts_a_new_period(ready: Api, clock: ManualClock) -> None:
    api = ready
    await decay(api, 7, "days", 5)
    await ingest(api, "ld_a")
    clock.advance(8 * DAY)
    await run_pass(api.rt)
    assert await score(api, "ld_a") == 15
    await ingest(api, "ld_a", "page_view")
    assert await score(api, "ld_a") == 20
    clock.advance(3 * DAY)
    assert (await run_pass(api.rt)).applied == 0
    clock.advance(5 * DAY)
    assert (await run_pass(api.rt)).applied == 1
    assert await score(api, "ld_a") == 15
    assert len(await decay_events(api, "ld_a")) == 2


async def test_rules_stack_and_scores_floor_at_zero(ready: Api, clock: ManualClock) -> None:
    api = ready
    d7 = await decay(api, 7, "days", 5)
    d30 = await decay(api, 30, "days", 25)
    await ingest(api, "ld_a")  # 20
    await ingest(api, "ld_b")
    await ingest(api, "ld_b")  # 40
    clock.advance(8 * DAY)
    assert (await run_pass(api.rt)).by_rule == {d7: 2}
    assert (await score(api, "ld_a"), await score(api, "ld_b")) == (15, 35)
    clock.advance(23 * DAY)  # 31 days
    assert (await run_pass(api.rt)).by_rule == {d30: 2}
    # ld_a: 15 - 25 floors at 0 and the stored delta is the applied -15
    assert (await score(api, "ld_a"), await score(api, "ld_b")) == (0, 10)
    deltas = await api.rt.db.read(
        lambda c: [
            r[0]
            for r in c.execute(
                "SELECT s.delta FROM event_scores s JOIN events e ON e.seq = s.event_seq WHERE"
                " e.lead_id = 'ld_a'"
                " AND e.decay_id IS NOT NULL ORDER BY e.seq"
            )
        ]
    )
    assert deltas == [-5, -15]
    clock.advance(60 * DAY)
    assert (await run_pass(api.rt)).applied == 0


async def test_late_first_pass_applies_stacked_rules_in_order(ready: Api, clock: ManualClock) -> None:
    api = ready
    d7 = await decay(api, 7, "days", 5)
    d30 = await decay(api, 30, "days", 25)
    await ingest(api, "ld_b")
    await ingest(api, "ld_b")
    clock.advance(40 * DAY)  # the server was down through both thresholds
    assert (await run_pass(api.rt)).by_rule == {d7: 1, d30: 1}
    assert [e["decay_id"] for e in await decay_events(api, "ld_b")] == [d7, d30]
    assert await score(api, "ld_b") == 10


async def test_inactive_rules_other_ous_and_merged_leads_are_left_alone(
    ready: Api, clock: ManualClock
) -> None:
    api = ready
    d = await decay(api, 1, "hours", 5)
    await ingest(api, "ld_a")
    await ingest(api, "ld_src")
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_a", "sourceLeadIds": ["ld_src"]})
    assert r.status_code == 200, r.text
    other = (await api.post("/org-units", json={"name": "Other"})).json()["unit_id"]
    r = await api.post(
        "/ingest",
        json={"lead_id": "ld_o", "event_type": "demo_request"},
        headers={**api.headers, "X-OU-ID": other},
    )
    assert r.status_code == 202
    await wait_idle(api)
    await api.put(f"/decays/{d}", json={"active": False})
    clock.advance(2 * 3600)
    assert (await run_pass(api.rt)).applied == 0
    await api.put(f"/decays/{d}", json={"active": True})
    result = await run_pass(api.rt)
    assert result.applied == 1 and result.units == 1  # only ld_a: the source is merged, ld_o is in another OU
    assert await decay_events(api, "ld_src") == []


async def test_decay_shows_in_activity_and_explanation(ready: Api, clock: ManualClock) -> None:
    api = ready
    await decay(api, 1, "days", 5)
    await ingest(api, "ld_a")
    clock.advance(2 * DAY)
    await run_pass(api.rt)
    act = (await api.get("/leads/ld_a/activity", params={"channel": "system"})).json()
    assert [(e["event_type"], e["channel"], e["score_delta"]) for e in act["events"]] == [
        ("DECAY", "system", -5)
    ]
    exp = (await api.get("/leads/ld_a/explanation", params={"hours": 72})).json()
    assert exp["decay_applied"] == -5 and exp["score"] == 15
    assert [d["event_type"] for d in exp["top_drivers"]] == ["demo_request"]
    # The lead's event list and its count hold the DECAY event (indexed apart from the others, migration 0061).
    listed = await api.get("/leads/ld_a/events")
    assert [e["event_type"] for e in listed.json()] == ["DECAY", "demo_request"]
    assert listed.headers["X-Total-Count"] == "2"
    by_type = (await api.get("/events", params={"lead_id": "ld_a", "event_type": "DECAY"})).json()
    assert [e["event_type"] for e in by_type["events"]] == ["DECAY"] and by_type["total"] == 1


async def test_scheduler_runs_a_pass_when_poked(ready: Api, clock: ManualClock) -> None:
    api = ready
    await decay(api, 1, "days", 5)
    await ingest(api, "ld_a")
    clock.advance(2 * DAY)
    scheduler = api.rt.decay
    assert scheduler.alive
    scheduler.poke()
    for _ in range(200):
        if await decay_events(api, "ld_a"):
            break
        await asyncio.sleep(0.02)
    assert await score(api, "ld_a") == 15


async def test_many_leads_in_several_batches(ready: Api, clock: ManualClock, monkeypatch: Any) -> None:
    from leadvibe.pipeline import decay as decay_mod

    api = ready
    monkeypatch.setattr(decay_mod, "CHUNK", 3)
    monkeypatch.setattr(decay_mod, "MAX_CHUNK", 3)
    monkeypatch.setattr(decay_mod, "READ_CHUNK", 4)
    await decay(api, 1, "days", 5)
    r = await api.post(
        "/ingest/batch",
        json={"events": [{"lead_id": f"ld_{i}", "event_type": "demo_request"} for i in range(10)]},
    )
    assert r.status_code == 202, r.text
    await wait_idle(api)
    clock.advance(2 * DAY)
    assert (await run_pass(api.rt)).applied == 10
    assert (await run_pass(api.rt)).applied == 0
    assert {await score(api, f"ld_{i}") for i in range(10)} == {15}


def test_chunks_are_sized_to_the_time_budget() -> None:
    from leadvibe.pipeline.decay import CHUNK_MS, MAX_CHUNK, MIN_CHUNK, next_chunk

    def settle(per_lead: float) -> int:
        size = 250
        for _ in range(30):
            size = next_chunk(size, per_lead * size, size)
        return size

    fits = int(CHUNK_MS / 1000 / 160e-6)  # scattered leads: ~160 µs each
    assert abs(settle(160e-6) - fits) <= 1
    assert abs(settle(40e-6) - int(CHUNK_MS / 1000 / 40e-6)) <= 1
    assert next_chunk(250, 160e-6 * 250, 250) == (250 + fits) // 2  # halfway: one odd chunk does not swing it
    assert settle(1.0) == MIN_CHUNK and settle(1e-9) == MAX_CHUNK
    assert next_chunk(250, 0.0, 250) == MAX_CHUNK  # none of them due any more: nearly free


@pytest.mark.parametrize("offline", [False, True], ids=["server", "cli"])
async def test_a_pass_no_write_waits_on_takes_larger_transactions(ready: Api, clock: ManualClock, monkeypatch: Any,
                                                                   offline: bool) -> None:
    from leadvibe.pipeline import decay as decay_mod
    from leadvibe.store import decay as decay_store

    api = ready
    await decay(api, 1, "days", 5)
    await api.rt.db.write(lambda c: c.executemany(
        "INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
        " SELECT 'unit_default', ?, org_id, 0, 0, ? FROM org_units WHERE id = 'unit_default'",
        [(f"ld_{i:05d}", START - 10 * DAY * 1000) for i in range(300)]))
    monkeypatch.setattr(decay_mod, "CHUNK", 10)
    monkeypatch.setattr(decay_mod, "MAX_CHUNK", 40)
    monkeypatch.setattr(decay_mod, "OFFLINE_MAX_CHUNK", 1_000)
    for budget in ("CHUNK_MS", "OFFLINE_CHUNK_MS"):  # any chunk here fits: sizes go to the cap that applies
        monkeypatch.setattr(decay_mod, budget, 1e6)
    sizes: list[int] = []
    real = decay_store.record_due

    def spy(conn: Any, unit_id: str, candidates: Any, *args: Any, **kw: Any) -> int:
        sizes.append(len(candidates))
        return real(conn, unit_id, candidates, *args, **kw)

    monkeypatch.setattr(decay_store, "record_due", spy)
    assert (await run_pass(api.rt, offline=offline)).applied == 300
    # The first two are queued before either has run (the second while the first runs); the rest are sized.
    assert sum(sizes) == 300 and sizes[:2] == [10, 10]
    assert max(sizes) == (280 if offline else 40), sizes


async def test_decay_publishes_each_decayed_score_to_the_stream(ready: Api, clock: ManualClock,
                                                                 monkeypatch: Any) -> None:
    from leadvibe.pipeline import decay as decay_mod

    api = ready
    monkeypatch.setattr(decay_mod, "MAX_CHUNK", 2)  # several chunks, each published after its commit
    await decay(api, 1, "days", 5)
    for i in range(5):
        await ingest(api, f"ld_s{i}")
    clock.advance(2 * DAY)
    gen = api.rt.stream.stream("unit_default")
    assert (await gen.__anext__()).startswith(b": connected")
    assert (await run_pass(api.rt)).applied == 5
    # Frames published before the reader's turn arrive together in one chunk: split the messages out.
    frames: list[bytes] = []
    while len(frames) < 5:
        chunk = await asyncio.wait_for(gen.__anext__(), 5)
        frames += [m + b"\n\n" for m in chunk.split(b"\n\n") if m]
    await gen.aclose()
    assert sorted(f for f in frames if b"score_update" in f) == sorted(
        b'event: score_update\ndata: {"lead_id":"ld_s%d","ruleset_id":"rs_test","delta":-5,"score":15,'
        b'"lead_name":null}\n\n' % i
        for i in range(5))


async def test_a_decay_below_a_milestone_rearms_it_for_the_next_crossing(ready: Api, clock: ManualClock) -> None:
    api = ready
    r = await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 20, "name": "Hot"})
    assert r.status_code == 201, r.text
    await decay(api, 1, "days", 5)
    for lead_id in ("ld_r1", "ld_r2"):
        await ingest(api, lead_id)  # 20: the milestone fires once each
    await ingest(api, "ld_r2", "page_view")  # 25: stays above after the decay
    clock.advance(2 * DAY)
    assert (await run_pass(api.rt)).applied == 2
    assert (await score(api, "ld_r1"), await score(api, "ld_r2")) == (15, 20)
    for lead_id in ("ld_r1", "ld_r2"):
        await ingest(api, lead_id, "page_view")  # 20 again (re-armed: fires) and 25 (still disarmed)
    fired = [e["lead_id"] for e in (await api.get("/triggers/milestones/events")).json()]
    assert sorted(fired) == ["ld_r1", "ld_r1", "ld_r2"]


# -- CLI -----------------------------------------------------------------------------------------------------
async def test_cli_decay_refuses_while_the_server_holds_the_data_dir(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    from leadvibe.cli import main

    data_dir = api.rt.settings.data_path
    assert main(["decay", "--now", "--data-dir", str(data_dir)]) == 1
    err = capsys.readouterr().err
    assert "decay refused" in err and "scheduler" in err
    assert main(["decay", "--data-dir", str(data_dir)]) == 2


async def test_cli_decay_runs_one_pass_on_a_stopped_server(
    settings: Any, data_dir: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import apsw
    from litestar.testing import AsyncTestClient

    from leadvibe.app import create_app
    from leadvibe.cli import main

    two_days_ago = to_rfc3339(int(time.time() * 1000) - 2 * DAY * 1000)
    app = create_app(settings, announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        api = Api(client, app)
        await api.login()
        await add_rules(api, {"demo_request": 20})
        await decay(api, 1, "days", 5)
        r = await api.post(
            "/ingest", json={"lead_id": "ld_a", "event_type": "demo_request", "timestamp": two_days_ago}
        )
        assert r.status_code == 202
        await wait_idle(api)
    assert (
        await asyncio.to_thread(main, ["decay", "--now", "--data-dir", str(data_dir)]) == 0
    )  # it runs its own loop
    assert "1 DECAY events" in capsys.readouterr().out
    conn = apsw.Connection(str(data_dir / "leadvibe.db"))
    assert conn.execute("SELECT score FROM lead_scores WHERE lead_id = 'ld_a'").fetchone()[0] == 15
    conn.close()
    assert (
        await asyncio.to_thread(main, ["decay", "--now", "--data-dir", str(data_dir)]) == 0
    )  # it runs its own loop
    assert "0 DECAY events" in capsys.readouterr().out


async def test_backtest_of_the_current_rules_reproduces_decayed_and_floored_scores(
    ready: Api, clock: ManualClock
) -> None:
    # DECAY events reach the whole-OU backtest with their decrease read from metadata; the floor cuts the second.
    await decay(ready, 7, "days", 15)
    await decay(ready, 30, "days", 25)
    for lead, types in (("ld_a", ["page_view"]), ("ld_b", ["demo_request", "page_view", "page_view"])):
        for t in types:
            await ingest(ready, lead, t)
    clock.advance(31 * DAY)
    await run_pass(ready.rt)
    await ingest(ready, "ld_b", "page_view")
    assert (await score(ready, "ld_a"), await score(ready, "ld_b")) == (0, 5)
    rules = [{"event_type": "demo_request", "weight": 20}, {"event_type": "page_view", "weight": 5}]
    r = await ready.post("/rulesets/rs_test/backtest", json={"rules": rules})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["leads_evaluated"], body["leads_changed"], body["total_old_score"], body["total_new_score"]) == (
        2, 0, 5, 5)
    r = await ready.post("/rulesets/rs_test/backtest", json={"rules": [{"event_type": "page_view", "weight": 50}]})
    new = {x["lead_id"]: x["new_score"] for x in r.json()["leads"]}
    # ld_a: 50 - 15 - 25; ld_b: 0 + 50 + 63 (the session's third event, x1.25) - 15 - 25 + 50
    assert new == {"ld_a": 10, "ld_b": 123}
