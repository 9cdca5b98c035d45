"""Worker batches: a batch gives the writer back to queued writes (an inbox commit holding a 202) after a short
slice, and the events it did not reach are scored by the next batches exactly as if it had not stopped; a batch
larger than one prepare chunk, in an OU where only the filtered type is written as it goes, scores exactly what
the replay engine computes (the rescore rewrites nothing)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.pipeline import filter_windows as fw
from leadvibe.pipeline import inbox as inbox_mod
from leadvibe.pipeline.filter_windows import HOLD_AFTER, WindowHold
from leadvibe.pipeline.worker import process_batch
from tests.conftest import Api
from tests.helpers import add_filter, add_rules, delta_sums, scores_of, wait_idle


def _queue(rt: Any, c: Any, events: list[inbox_mod.QueuedEvent], now: int) -> None:
    """Commit events to the inbox file from inside a write to the main database: the in-process worker runs on
    that database's writer thread, so it cannot take them before the write that queued them does."""
    org_id = c.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    rt.inbox_db.write_blocking(lambda ic: inbox_mod.store_events(ic, org_id, "unit_default", events, "api", False,
                                                                 now))


def _events(prefix: str, now: int) -> list[inbox_mod.QueuedEvent]:
    return [inbox_mod.validate(inbox_mod.IngestEvent(event_type=("page_view", "email_open", "demo")[i % 3],
                                                     lead_id=f"{prefix}{i % 7}"), now + i // 20) for i in range(200)]


async def test_a_batch_yields_to_a_queued_write_and_the_rest_is_scored_later(api: Api) -> None:
    await add_rules(api, {"page_view": 3, "email_open": 1, "demo": -2})
    rt = api.rt
    loop = asyncio.get_running_loop()
    now = rt.now_ms()
    queued: list[Any] = []

    def store(c: Any, events: list[inbox_mod.QueuedEvent]) -> None:
        _queue(rt, c, events, now)

    def yielding(c: Any) -> Any:
        store(c, _events("ld_y", now))
        # A write that arrives while the batch runs (as an inbox commit does under load).
        queued.append(asyncio.run_coroutine_threadsafe(rt.db.write(lambda _c: None), loop))
        limit = time.monotonic() + 10
        while not rt.db.queue_length and time.monotonic() < limit:
            time.sleep(0.001)
        return process_batch(rt, c, 2000, budget_ms=60_000, yield_ms=0)

    result = await rt.db.write(yielding)
    await asyncio.wrap_future(queued[0])
    assert result.yielded
    assert 0 < result.processed < 200
    # The running worker takes the rest from the inbox.
    rt.worker.notify(200 - result.processed)
    await wait_idle(api)

    # The same history for other leads, in one batch that never yields.
    def whole(c: Any) -> Any:
        store(c, _events("ld_w", now))
        return process_batch(rt, c, 2000, budget_ms=60_000)

    assert (await rt.db.write(whole)).processed == 200
    assert await inbox_mod.pending_count(rt) == 0
    for i in range(7):
        yielded = await scores_of(api, f"ld_y{i}")
        assert yielded == await scores_of(api, f"ld_w{i}")
        assert yielded == await delta_sums(api, f"ld_y{i}")


async def test_a_batch_counts_its_writes_and_commit_against_its_budget(api: Api) -> None:
    """The budget bounds the whole transaction: with a known cost per event after scoring (its writes and commit,
    `tail_ms_per_event`) a batch stops where scoring plus that tail reaches the budget, and so does the slice a
    queued write gets; the worker learns the tail from the batches it runs."""
    await add_rules(api, {"page_view": 3, "email_open": 1, "demo": -2})
    rt = api.rt
    now = rt.now_ms()

    def batch(c: Any, prefix: str, **limits: Any) -> Any:
        _queue(rt, c, _events(prefix, now), now)
        return process_batch(rt, c, 2000, **limits)

    # 16 events scored and a 10 ms tail each: 160 ms past a 100 ms budget at the first check.
    cut = await rt.db.write(lambda c: batch(c, "ld_t", budget_ms=100, tail_ms_per_event=10))
    assert cut.processed == 16 and not cut.yielded and cut.cut_short
    assert cut.started > 0 and 0 < cut.loop_ms < 100
    rt.worker.notify(200 - cut.processed)
    await wait_idle(api)
    # No tail: the same budget holds all 200 events of this small OU.
    whole = await rt.db.write(lambda c: batch(c, "ld_u", budget_ms=100))
    assert whole.processed == 200 and not whole.cut_short

    loop = asyncio.get_running_loop()
    queued: list[Any] = []

    def yielding(c: Any) -> Any:
        queued.append(asyncio.run_coroutine_threadsafe(rt.db.write(lambda _c: None), loop))
        limit = time.monotonic() + 10
        while not rt.db.queue_length and time.monotonic() < limit:
            time.sleep(0.001)
        return batch(c, "ld_v", budget_ms=60_000, yield_ms=50, tail_ms_per_event=10)

    sliced = await rt.db.write(yielding)
    await asyncio.wrap_future(queued[0])
    assert sliced.processed == 16 and sliced.yielded and sliced.cut_short
    rt.worker.notify(200 - sliced.processed)
    await wait_idle(api)
    for i in range(7):
        assert await scores_of(api, f"ld_t{i}") == await scores_of(api, f"ld_u{i}") == await scores_of(api, f"ld_v{i}")
    # The running worker has measured what its batches cost after scoring.
    assert rt.worker.tail_ms > 0


async def test_a_batch_reads_the_inbox_in_parts_up_to_its_first_read(api: Api) -> None:
    """A batch reads the inbox as it gets to the rows, never past the last row stored when it first read: the
    cache invalidations applied after that read (`after_fetch`) cover every event it scores; a later arrival waits
    for the next batch. A limit between two reads is kept exactly."""
    await add_rules(api, {"page_view": 3, "email_open": 1, "demo": -2})
    rt = api.rt
    now = rt.now_ms()

    def batch(c: Any, limit: int) -> tuple[Any, int]:
        many = [inbox_mod.validate(inbox_mod.IngestEvent(event_type=("page_view", "email_open", "demo")[i % 3],
                                                         lead_id=f"ld_p{i % 40}"), now + i) for i in range(5000)]
        _queue(rt, c, many, now)
        stored: list[int] = []

        def late() -> None:
            _queue(rt, c, _events("ld_late", now)[:10], now)
            stored.append(rt.inbox_db.read_here(lambda ic: ic.execute("SELECT max(seq) FROM inbox").fetchone()[0]))

        return process_batch(rt, c, limit, budget_ms=600_000, after_fetch=late), stored[0]

    # The running worker may take what is left once the batch commits: the batch's own mark says where it stopped
    # (the late rows are the last ten).
    whole, last = await rt.db.write(lambda c: batch(c, 16_000))
    assert whole.processed == 5000 and not whole.cut_short and whole.last_seq == last - 10
    rt.worker.notify(10)
    await wait_idle(api)

    part, last = await rt.db.write(lambda c: batch(c, 3000))
    assert part.processed == 3000 and not part.cut_short and part.last_seq == last - 10 - 2000
    rt.worker.notify(2010)
    await wait_idle(api)
    assert await inbox_mod.pending_count(rt) == 0
    for i in range(40):
        assert await scores_of(api, f"ld_p{i}") == await delta_sums(api, f"ld_p{i}")
    assert await scores_of(api, "ld_late0") == await delta_sums(api, "ld_late0") != {}


MINUTE = 60_000
TYPES = ("page_view", "email_open", "demo", "webinar")
histories = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(TYPES), st.integers(-300, 0)),
                     min_size=300, max_size=700)


def _snapshot(c: Any) -> tuple[Any, ...]:
    return tuple(tuple(c.execute(sql).fetchall()) for sql in (
        "SELECT ruleset_id, lead_id, score FROM lead_scores WHERE unit_id = 'unit_default' ORDER BY 1, 2",
        "SELECT * FROM event_scores WHERE unit_id = 'unit_default' ORDER BY 1, 2",
        "SELECT * FROM events WHERE unit_id = 'unit_default' ORDER BY seq",
        "SELECT id, session_n, session_last_ts, session_started_at, session_count, last_event_at, last_organic_at"
        " FROM leads WHERE unit_id = 'unit_default' ORDER BY id"))


async def _two_rulesets_and_a_filter(api: Api) -> None:
    """An emptied default OU with two rulesets and a grouped email-open filter."""
    await api.rt.db.write(lambda c: [c.execute(f"DELETE FROM {t} WHERE unit_id = 'unit_default'") for t in (
        "event_scores", "lead_scores", "events", "lead_aliases", "leads", "rules", "rulesets", "inorganic_filters")])
    api.rt.scoring_config.invalidate("unit_default")
    await add_rules(api, {"page_view": 2, "email_open": 3, "demo": -4, "webinar": 9}, "rs_a")
    await add_rules(api, {"page_view": 1, "demo": 5}, "rs_b", primary=False)
    await add_filter(api, "if_mail", "email_open", 2, 20 * MINUTE, True)


def _queued(history: list[tuple[int, str, int]], prefix: str, now: int) -> list[Any]:
    """The history's (lead, type, minute) as validated inbox events, each at its minute from now."""
    events = [inbox_mod.validate(inbox_mod.IngestEvent(event_type=t, lead_id=f"{prefix}{lead}"), now)
              for lead, t, _ in history]
    for q, (_, _, minutes) in zip(events, history, strict=True):
        q.ts = now + minutes * MINUTE
    return events


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=histories)
async def test_a_batch_over_several_chunks_scores_what_the_replay_engine_scores(
        api: Api, history: list[tuple[int, str, int]]) -> None:
    rt = api.rt
    await _two_rulesets_and_a_filter(api)
    now = rt.now_ms()
    events = _queued(history, "ld_c", now)

    def whole(c: Any) -> Any:
        _queue(rt, c, events, now)
        return process_batch(rt, c, 2000, budget_ms=600_000)

    assert (await rt.db.write(whole)).processed == len(events)
    live = await rt.db.read(_snapshot)
    for rs in ("rs_a", "rs_b"):
        assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 200
    assert await rt.db.read(_snapshot) == live


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=histories, limits=st.lists(st.integers(1, 400), min_size=1, max_size=6))
async def test_batches_cut_anywhere_score_what_the_replay_engine_scores(
        api: Api, history: list[tuple[int, str, int]], limits: list[int]) -> None:
    """Filter windows and groups that span batches: the stored part of a window is counted in SQL and the part
    buffered by the running batch in memory; the lead scores a batch writes back are only those that moved."""
    rt = api.rt
    await _two_rulesets_and_a_filter(api)
    await add_filter(api, "if_demo", "demo", 1, 5 * MINUTE, False)
    now = rt.now_ms()
    events = _queued(history, "ld_k", now)

    def store(c: Any) -> None:
        _queue(rt, c, events, now)

    await rt.db.write(store)
    # The app's own worker may take batches in between: they are cut elsewhere, which is just as good.
    for i in range(len(events)):
        limit = limits[i % len(limits)]
        if not (await rt.db.write(lambda c, n=limit: process_batch(rt, c, n, budget_ms=600_000))).processed:
            break
    rt.worker.notify(0)
    await wait_idle(api)
    live = await rt.db.read(_snapshot)
    assert len(live[2]) == len(events)
    assert any(row[13] for row in live[2])  # some events were filtered (column `inorganic`)
    for rs in ("rs_a", "rs_b"):
        assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 200
    assert await rt.db.read(_snapshot) == live


# (type, minute) of events sent by 560 leads in turn.
wide_histories = st.lists(st.tuples(st.sampled_from(TYPES), st.integers(-300, 0)), min_size=1100, max_size=1500)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=wide_histories)
async def test_a_batch_that_writes_as_it_goes_scores_what_the_replay_engine_scores(
        api: Api, history: list[tuple[str, int]]) -> None:
    """A long batch writes its event rows every 512 events and its leads' state once 512 leads wait (a known
    tail of 5 ms per event): leads scored again after their state was written, new leads, filter windows and
    groups across those writes all end as the replay engine computes them, and the type catalogue counts each
    event once."""
    rt = api.rt
    await _two_rulesets_and_a_filter(api)
    now = rt.now_ms()
    # 560 leads in turn: 512 wait when the first rows are written, and most are scored again after their state is.
    sent = [(i % 560, t, minutes) for i, (t, minutes) in enumerate(history)]
    events = _queued(sent, "ld_f", now)

    def catalogue(c: Any) -> Counter[str]:
        return Counter(dict(c.execute("SELECT type_key, event_count FROM event_types WHERE unit_id = 'unit_default'")))

    counted = await rt.db.read(catalogue)

    def batch(c: Any) -> Any:
        _queue(rt, c, events, now)
        return process_batch(rt, c, 2000, budget_ms=600_000, tail_ms_per_event=5.0)

    result = await rt.db.write(batch)
    assert result.processed == len(events) and result.flush_ms > 0
    live = await rt.db.read(_snapshot)
    assert len(live[2]) == len(events)
    assert await rt.db.read(catalogue) - counted == Counter(t for t, _ in history)
    for rs in ("rs_a", "rs_b"):
        assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 200
    assert await rt.db.read(_snapshot) == live


async def test_new_leads_of_a_batch_are_created_once_in_the_order_their_first_events_came(api: Api) -> None:
    """Leads first named in a batch are inserted when it finishes (one statement for many): an alias-only event
    that finds one of them by an alias an earlier event gave it scores it, the live-lead count holds every new
    lead once, and the lead list's newest-first order (ties of one batch by insertion) follows the first events."""
    await add_rules(api, {"page_view": 3})
    rt = api.rt
    now = rt.now_ms()
    named = [f"ld_new{i}" for i in (4, 1, 3, 0, 2)]
    events = [inbox_mod.validate(inbox_mod.IngestEvent(event_type="page_view", lead_id=lead_id), now)
              for lead_id in named]
    events.insert(2, inbox_mod.validate(inbox_mod.IngestEvent(
        event_type="page_view", lead_id="ld_new4", alias_kind="email", alias="four@example.com"), now))
    events.append(inbox_mod.validate(inbox_mod.IngestEvent(
        event_type="page_view", alias_kind="email", alias="four@example.com"), now))
    live_before = await rt.db.read(lambda c: c.execute(
        "SELECT live FROM lead_counts WHERE unit_id = 'unit_default'").fetchone())

    def batch(c: Any) -> Any:
        _queue(rt, c, events, now)
        return process_batch(rt, c, 2000, budget_ms=600_000)

    assert (await rt.db.write(batch)).processed == len(events)
    assert await scores_of(api, "ld_new4") == {"rs_test": 3 + 3 + 4} == await delta_sums(api, "ld_new4")  # 3rd x1.25
    for lead_id in named[1:]:
        assert await scores_of(api, lead_id) == {"rs_test": 3}
    live_after = await rt.db.read(lambda c: c.execute(
        "SELECT live FROM lead_counts WHERE unit_id = 'unit_default'").fetchone())
    assert live_after[0] == (live_before[0] if live_before else 0) + len(named)
    listed = (await api.get("/leads", params={"sort": "created", "limit": 5})).json()["leads"]
    assert [item["id"] for item in listed] == named[::-1]


async def test_batches_of_live_traffic_parse_their_statements_once(api: Api) -> None:
    # A batch runs each multi-row write once, after a filter window per email open: more executions than apsw's
    # default cache of 100 holds, so with it every batch parsed its writes again. The writer keeps enough.
    await add_rules(api, {"page_view": 3, "email_open": 1})
    await add_filter(api, "if_cache", "email_open", 5, 3_600_000, False)
    await wait_idle(api)  # nothing else in the inbox: each batch below takes exactly the events it stored
    rt = api.rt
    now = rt.now_ms()

    def batches(c: Any) -> list[int]:
        parsed = []
        for k in range(4):
            events = [inbox_mod.validate(inbox_mod.IngestEvent(
                event_type=("email_open", "page_view")[i % 3 == 2], lead_id=f"ld_c{k}_{i % 9}"), now + i)
                for i in range(150)]
            _queue(rt, c, events, now)
            before = c.cache_stats()["misses"]
            assert process_batch(rt, c, 150, budget_ms=60_000).processed == 150
            parsed.append(c.cache_stats()["misses"] - before)
        return parsed

    parsed = await rt.db.write(batches)
    assert parsed[0] > 0 and parsed[-2:] == [0, 0], parsed


# (lead, minute) of email opens from three leads: each sends far more than HOLD_AFTER, out of time order at times.
burst_histories = st.lists(st.tuples(st.integers(0, 2), st.integers(-120, 0)), min_size=120, max_size=220)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(history=burst_histories, limits=st.lists(st.integers(1, 12), min_size=1, max_size=5))
async def test_windows_held_across_batches_score_what_the_replay_engine_scores(
        api: Api, history: list[tuple[int, int]], limits: list[int]) -> None:
    """Small batches with the worker's hold: each lead's email opens are counted in SQL until it has sent
    HOLD_AFTER of them, then from the window held across batches (each committed batch's own opens added to it,
    windows trimmed as they move on, read back for an older open), and every flag and group is what a replay
    finds."""
    rt = api.rt
    await _two_rulesets_and_a_filter(api)
    now = rt.now_ms()
    events = _queued([(lead, "email_open", minutes) for lead, minutes in history], "ld_h", now)
    hold = WindowHold()
    done = i = 0
    while done < len(events):
        part = events[done:done + limits[i % len(limits)]]

        # Queued and taken in one write: the app's own worker, another worker to this hold, never takes a part.
        def batch(c: Any, part: list[Any] = part) -> Any:
            _queue(rt, c, part, now)
            return process_batch(rt, c, len(part), budget_ms=600_000, hold=hold)

        result = await rt.db.write(batch)
        assert result.processed == len(part)
        hold.committed(result.held)
        done, i = done + len(part), i + 1
    assert hold.windows, "no window was held across batches"
    live = await rt.db.read(_snapshot)
    assert len(live[2]) == len(events)
    for rs in ("rs_a", "rs_b"):
        assert (await api.post(f"/rulesets/{rs}/rescore")).status_code == 200
    assert await rt.db.read(_snapshot) == live


async def test_the_hold_is_emptied_when_anything_but_its_batches_changes_the_stored_events(api: Api) -> None:
    """An event deleted, a lead's events moved (a merge) or an event inserted by anyone else (a decay pass, another
    batch) since the hold's last batch: the next batch starts without what was held. A rescore's flags do not
    count: they are not what a window reads."""
    rt = api.rt
    await _two_rulesets_and_a_filter(api)
    now = rt.now_ms()
    hold = WindowHold()

    async def queued_and_taken(events: list[Any]) -> None:
        # In one write: the app's own worker, another worker to this hold, never takes them.
        def batch(c: Any) -> Any:
            _queue(rt, c, events, now)
            return process_batch(rt, c, len(events), budget_ms=600_000, hold=hold)

        result = await rt.db.write(batch)
        assert result.processed == len(events)
        hold.committed(result.held)

    async def one_batch(prefix: str) -> None:
        await queued_and_taken(_queued([(0, "email_open", -m) for m in range(HOLD_AFTER + 4)], prefix, now))

    async def still_held() -> bool:
        await queued_and_taken(_queued([(0, "page_view", 0)], "ld_e", now))
        return bool(hold.windows)

    changes = {
        "a delete": "DELETE FROM events WHERE seq = (SELECT min(seq) FROM events WHERE lead_id = 'ld_x0')",
        "a merge": "UPDATE events SET lead_id = 'ld_y0' WHERE lead_id = 'ld_x0' AND seq = (SELECT max(seq) FROM events"
                   " WHERE lead_id = 'ld_x0')",
        "an insert": "INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
                     " processed_at, channel, decay_id) SELECT 'ev_other', org_id, 'unit_default', 'ld_x0', 'DECAY',"
                     " 'decay', 0, 0, 0, 'system', 'dc_1' FROM org_units WHERE id = 'unit_default'",
    }
    for name, sql in changes.items():
        await one_batch("ld_x")
        assert await still_held(), name
        await rt.db.write(lambda c, s=sql: c.execute(s))
        assert not await still_held(), name
        hold.clear()
    await one_batch("ld_x")
    assert await still_held()
    await rt.db.write(lambda c: c.execute("UPDATE events SET inorganic = 1 - inorganic, has_delta = 1 - has_delta"
                                          " WHERE lead_id = 'ld_x0'"))
    assert await still_held()


def test_the_hold_stays_bounded() -> None:
    """Counts of keys not held yet are dropped past MAX_KEYS without dropping what is held; past MAX_HELD_EVENTS
    everything goes (the next batches count in SQL again); a batch whose own transaction moved `events_epoch`
    leaves nothing held."""
    hold = fw.WindowHold()
    hold.begin(0, 1)
    hold.windows[("u", "ld_burst", "t")] = (0, fw.ByTime([(5, 1)]))
    many = {("u", f"ld_{i}", "t"): fw.ByTime([(9, 2)]) for i in range(fw.MAX_KEYS + 1)}
    hold.committed(fw.HeldNews(many, 0, 0, 3))
    assert not hold.seen and ("u", "ld_burst", "t") in hold.windows
    hold.begin(0, 3)
    assert hold.windows  # the stored events are what the last batch left
    burst = fw.ByTime([(10 + i, 3 + i) for i in range(fw.MAX_HELD_EVENTS)])
    hold.committed(fw.HeldNews({("u", "ld_burst", "t"): burst}, 0, 0, 3 + fw.MAX_HELD_EVENTS))
    assert not hold.windows
    hold.windows[("u", "ld_burst", "t")] = (0, fw.ByTime([(5, 1)]))
    hold.committed(fw.HeldNews({}, 0, 1, 4))
    assert not hold.windows
