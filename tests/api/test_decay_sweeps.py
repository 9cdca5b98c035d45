"""Decay passes that read only what became due since a rule's last sweep (migration 0040) decay exactly the leads
the definition names, over random histories on a real database: organic events (late and backdated), activity
recomputed lower, merges and un-merges, DECAY events deleted, rules switched off and on or given another period,
and the clock moving between passes. The reference is SEMANTICS.md §5 checked lead by lead, rule by rule: every
live lead whose last organic event is at least the rule's period old and that has no DECAY of that rule since it
gets one, `-decrease` in every active ruleset, floored at 0 (engine.scoring.decay_scores)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import apsw
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.bootstrap import DEFAULT_UNIT, bootstrap
from leadvibe.engine.scoring import Ruleset, decay_scores
from leadvibe.pipeline import decay as decay_mod
from leadvibe.pipeline.decay import run_pass
from leadvibe.runtime import Runtime
from leadvibe.runtime_build import build_runtime
from leadvibe.store import decay as decay_store
from leadvibe.store import events as ev_store
from leadvibe.timeutil import ManualClock
from tests.conftest import make_settings

START = 1_790_000_000_000
HOUR = 3_600_000
DAY = 24 * HOUR
RULESETS = ("rs_a", "rs_b")
LEADS = tuple(f"ld_{i}" for i in range(5))
RULES = (("dc_1", 7, 3), ("dc_2", 30, 8))  # id, days, decrease
U = DEFAULT_UNIT

lead = st.sampled_from(LEADS)
rule = st.integers(min_value=0, max_value=len(RULES) - 1)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("organic"), lead, st.integers(min_value=-45 * 24, max_value=0)),
        st.tuples(st.just("recompute"), lead, st.integers(min_value=-45 * 24, max_value=0)),
        st.tuples(st.just("advance"), st.integers(min_value=1, max_value=12 * 24)),
        st.tuples(st.just("pass")),
        st.tuples(st.just("toggle"), rule),
        st.tuples(st.just("period"), rule, st.integers(min_value=1, max_value=40)),
        st.tuples(st.just("merge"), lead, lead),
        st.tuples(st.just("unmerge"), lead),
        st.tuples(st.just("forget"), lead),
    ),
    min_size=1,
    max_size=30,
)


@dataclass
class Model:
    """What the database should hold, kept by the definition."""

    now: int = START
    last: dict[str, int] = field(default_factory=dict)
    merged: set[str] = field(default_factory=set)
    scores: dict[str, dict[str, int]] = field(default_factory=dict)
    decays: dict[str, list[tuple[str, int, tuple[tuple[Any, ...], ...]]]] = field(default_factory=dict)
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def run_pass(self) -> int:
        applied = 0
        active = sorted((r for r in self.rules.values() if r["active"]), key=lambda r: (r["ms"], r["created"]))
        rulesets = [Ruleset(rs, True, ()) for rs in RULESETS]
        for r in active:
            for lead_id in sorted(self.last):
                last = self.last[lead_id]
                if lead_id in self.merged or not 0 < last <= self.now - r["ms"]:
                    continue
                if any(d == r["id"] and at > last for d, at, _ in self.decays.get(lead_id, [])):
                    continue
                rows = decay_scores(rulesets, r["decrease"], self.scores[lead_id], False, r["id"])
                self.scores[lead_id] = {x.ruleset_id: x.after for x in rows}
                self.decays.setdefault(lead_id, []).append(
                    (r["id"], self.now, tuple((x.ruleset_id, x.weight, x.delta, x.before, x.after) for x in rows)))
                applied += 1
        return applied


def _open(tmp: str) -> Runtime:
    rt = build_runtime(make_settings(Path(tmp) / "data"), clock=ManualClock(START))
    rt.open_databases()

    def setup(c: Any) -> None:
        bootstrap(c, rt.settings, START)
        for i, rs in enumerate(RULESETS):
            c.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                      " SELECT ?, org_id, id, ?, ?, 0, 0 FROM org_units WHERE id = ?", (rs, rs, int(i == 0), U))
        for n, (rule_id, days, decrease) in enumerate(RULES):
            decay_store.create_rule(c, U, "org", rule_id=rule_id, inactive_for=days, unit="days",
                                    decrease=decrease, actor=None, now=START + n)

    rt.db.write_blocking(setup)
    return rt


def _stored(c: Any) -> tuple[dict[str, dict[str, int]], dict[str, list[tuple[str, int, tuple[tuple[Any, ...], ...]]]]]:
    scores: dict[str, dict[str, int]] = {}
    for lead_id, rs, score in c.execute("SELECT lead_id, ruleset_id, score FROM lead_scores WHERE unit_id = ?", (U,)):
        scores.setdefault(lead_id, {})[rs] = score
    decays: dict[str, list[tuple[str, int, tuple[tuple[Any, ...], ...]]]] = {}
    for lead_id, seq, decay_id, at in c.execute("SELECT lead_id, seq, decay_id, occurred_at FROM events"
                                                " WHERE unit_id = ? AND decay_id IS NOT NULL ORDER BY seq", (U,)):
        rows = c.execute("SELECT ruleset_id, weight, delta, before, after FROM event_scores WHERE event_seq = ?"
                         " ORDER BY ruleset_id", (seq,)).fetchall()
        decays.setdefault(lead_id, []).append((decay_id, at, tuple(rows)))
    return scores, decays


def _apply(rt: Runtime, m: Model, op: tuple[Any, ...]) -> None:
    """One change, to the database (the SQL the writers use) and to the model."""
    kind = op[0]

    def write(c: Any) -> None:
        if kind == "organic":
            lead_id, at = op[1], m.now + op[2] * HOUR
            if lead_id in m.merged:
                return
            if lead_id not in m.last:
                c.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
                          " VALUES (?, ?, 'org', ?, ?, ?)", (U, lead_id, at, at, at))
                c.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                              " VALUES (?, ?, ?, 20, 0)", [(U, rs, lead_id) for rs in RULESETS])
                m.last[lead_id], m.scores[lead_id] = at, dict.fromkeys(RULESETS, 20)
            else:
                ev_store.save_lead_activity(c, [ev_store.activity_row(
                    U, lead_id, last_event_at=at, last_event_type="x", last_type_key="x", last_organic_at=at,
                    session=None, session_count=0, now=m.now)])
                m.last[lead_id] = max(m.last[lead_id], at)
        elif kind == "recompute" and op[1] in m.last and op[1] not in m.merged:
            at = m.now + op[2] * HOUR  # as refresh_lead_activity after some of the lead's events were deleted
            c.execute("UPDATE leads SET last_organic_at = ? WHERE unit_id = ? AND id = ?", (at, U, op[1]))
            m.last[op[1]] = at
        elif kind == "toggle":
            r = m.rules[RULES[op[1]][0]]
            r["active"] = not r["active"]
            decay_store.update_rule(c, U, r["id"], inactive_for=None, unit=None, decrease=None, active=r["active"],
                                    actor=None, now=m.now)
        elif kind == "period":
            r = m.rules[RULES[op[1]][0]]
            r["ms"] = op[2] * DAY
            decay_store.update_rule(c, U, r["id"], inactive_for=op[2], unit="days", decrease=None, active=None,
                                    actor=None, now=m.now)
        elif kind == "merge":
            source, target = op[1], op[2]
            live = set(m.last) - m.merged
            if source == target or source not in live or target not in live:
                return
            c.execute("UPDATE leads SET merged_into = ? WHERE unit_id = ? AND id = ?", (target, U, source))
            c.execute("UPDATE leads SET last_organic_at = max(last_organic_at, ?) WHERE unit_id = ? AND id = ?",
                      (m.last[source], U, target))
            m.merged.add(source)
            m.last[target] = max(m.last[target], m.last[source])
        elif kind == "unmerge" and op[1] in m.merged:
            c.execute("UPDATE leads SET merged_into = NULL WHERE unit_id = ? AND id = ?", (U, op[1]))
            m.merged.discard(op[1])
        elif kind == "forget" and op[1] in m.last:
            ev_store.delete_events_where(c, U, "decay_id IS NOT NULL AND lead_id = ?", (op[1],))
            m.decays.pop(op[1], None)

    if kind == "advance":
        rt.clock.advance(op[1] * 3600)  # type: ignore[attr-defined]
        m.now += op[1] * HOUR
    elif kind == "pass":
        assert asyncio.run(run_pass(rt)).applied == m.run_pass()
    else:
        rt.db.write_blocking(write)
        rt.scoring_config.invalidate(U)


@pytest.mark.parametrize("read_chunk", [decay_mod.READ_CHUNK, 1], ids=["by-range", "walked-by-id"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_sweeping_passes_decay_exactly_the_leads_the_definition_names(read_chunk: int,
                                                                      history: list[tuple[Any, ...]]) -> None:
    # One lead per read makes every pass with a due lead walk the OU by lead id, a page per lead, each next page
    # read while the one before is written.
    saved, decay_mod.READ_CHUNK = decay_mod.READ_CHUNK, read_chunk
    with tempfile.TemporaryDirectory() as tmp:
        rt = _open(tmp)
        try:
            m = Model(rules={rid: {"id": rid, "ms": days * DAY, "decrease": x, "active": True, "created": START + n}
                             for n, (rid, days, x) in enumerate(RULES)})
            for op in [*history, ("pass",), ("advance", 24), ("pass",), ("pass",)]:
                _apply(rt, m, op)
                scores, decays = rt.db.read_blocking(_stored)
                assert decays == m.decays
                assert scores == m.scores
        finally:
            rt.close_databases()
            decay_mod.READ_CHUNK = saved


# -- a lead that becomes due behind a pass's back ------------------------------------------------------------
@pytest.fixture
def rt() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = _open(tmp)
        try:
            yield runtime
        finally:
            runtime.db.close()


def _sweep_row(rt: Runtime) -> tuple[int, int]:
    row: Any = rt.db.read_blocking(lambda c: c.execute(
        "SELECT swept_through, claim FROM decay_sweeps WHERE unit_id = ? AND decay_id = 'dc_1'", (U,)).fetchone())
    return int(row[0]), int(row[1])


def _decayed(rt: Runtime, lead_id: str) -> list[str]:
    return [r[0] for r in rt.db.read_blocking(lambda c: c.execute(
        "SELECT decay_id FROM events WHERE unit_id = ? AND lead_id = ? AND decay_id IS NOT NULL ORDER BY seq",
        (U, lead_id)).fetchall())]


@pytest.mark.parametrize("read_chunk", [decay_mod.READ_CHUNK, 1], ids=["by-range", "walked-by-id"])
@pytest.mark.parametrize("how", ["backdated", "created", "unmerged"])
def test_a_lead_landing_behind_the_read_drops_the_claim(rt: Runtime, monkeypatch: Any, how: str,
                                                        read_chunk: int) -> None:
    """Between a pass's read of its first due leads and its end a lead lands at or below the cutoff it claimed:
    the pass does not move the rule's mark past it, the next pass decays it, and no lead is decayed twice. Read by
    range, the pass has read every lead before; walked by id a page at a time, a lead landing after the position
    reached may still be found by this pass."""
    old = START - 10 * DAY
    monkeypatch.setattr(decay_mod, "READ_CHUNK", read_chunk)

    def setup(c: Any) -> None:
        for lead_id, at in (("ld_old", old), ("ld_new", START - HOUR), ("ld_src", START - HOUR)):
            c.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
                      " VALUES (?, ?, 'org', 0, 0, ?)", (U, lead_id, at))
        c.execute("UPDATE leads SET merged_into = 'ld_new' WHERE unit_id = ? AND id = 'ld_src'", (U,))
        c.execute("UPDATE leads SET last_organic_at = ? WHERE unit_id = ? AND id = 'ld_src'", (old, U))

    rt.db.write_blocking(setup)
    real = decay_mod._due_pages

    async def read_then_interfere(*args: Any) -> AsyncIterator[list[str]]:
        pages = real(*args)
        first = await pages.__anext__()
        if args[2] == "dc_1":
            await rt.db.write(behind)
        yield first
        async for page in pages:
            yield page

    def behind(c: Any) -> None:
        if how == "backdated":
            c.execute("UPDATE leads SET last_organic_at = ? WHERE unit_id = ? AND id = 'ld_new'", (old, U))
        elif how == "created":
            c.execute("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
                      " VALUES (?, 'ld_late', 'org', 0, 0, ?)", (U, old))
        else:
            c.execute("UPDATE leads SET merged_into = NULL WHERE unit_id = ? AND id = 'ld_src'", (U,))

    monkeypatch.setattr(decay_mod, "_due_pages", read_then_interfere)
    cutoff_7d = START - 7 * DAY
    landed = {"backdated": "ld_new", "created": "ld_late", "unmerged": "ld_src"}[how]
    first = asyncio.run(run_pass(rt)).by_rule["dc_1"]
    # ld_old only, or (walked by id, the lead landing after the walk's position) the landed one as well
    assert first == 1 or (read_chunk == 1 and landed > "ld_old" and first == 2)
    swept, claim = _sweep_row(rt)
    assert swept < old and claim == 0
    monkeypatch.setattr(decay_mod, "_due_pages", real)
    assert asyncio.run(run_pass(rt)).by_rule.get("dc_1", 0) == 2 - first
    assert _decayed(rt, landed) == ["dc_1"] and _decayed(rt, "ld_old") == ["dc_1"]
    assert _sweep_row(rt) == (cutoff_7d, 0)
    assert asyncio.run(run_pass(rt)).applied == 0


@pytest.mark.parametrize("read_chunk", [decay_mod.READ_CHUNK, 1], ids=["by-range", "walked-by-id"])
@pytest.mark.parametrize("writer", ["nobody", "this process", "another process"])
def test_a_lead_active_again_after_the_read_is_not_decayed(rt: Runtime, monkeypatch: Any, writer: str,
                                                           read_chunk: int) -> None:
    """The leads a pass read as due are taken as they are only when nothing but the pass's own chunks committed
    since the read (store.decay.record_due's `still_due`); after any other write, from this process or another
    connection (the worker process's), each is checked again, and one active again since is not decayed."""
    monkeypatch.setattr(decay_mod, "READ_CHUNK", read_chunk)
    leads = ("ld_a", "ld_b", "ld_c")
    rt.db.write_blocking(lambda c: c.executemany(
        "INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
        " VALUES (?, ?, 'org', 0, 0, ?)", [(U, lead_id, START - 10 * DAY) for lead_id in leads]))
    active_again = "UPDATE leads SET last_organic_at = ? WHERE unit_id = ? AND id = 'ld_c'"

    def from_another_connection() -> None:
        other = apsw.Connection(rt.db.path)
        other.set_busy_timeout(5_000)
        other.execute(active_again, (START - HOUR, U))
        other.close()

    real = decay_mod._due_pages

    async def read_then_write(*args: Any) -> AsyncIterator[Any]:
        async for page in real(*args):
            if args[2] == "dc_1" and writer == "this process":
                await rt.db.write(lambda c: c.execute(active_again, (START - HOUR, U)))
            elif args[2] == "dc_1" and writer == "another process":
                await asyncio.get_running_loop().run_in_executor(None, from_another_connection)
            yield page

    checked: list[bool] = []
    record = decay_store.record_due

    def spy(conn: Any, *args: Any, **kw: Any) -> int:
        if kw["decay_id"] == "dc_1":
            checked.append(not kw["still_due"])
        return record(conn, *args, **kw)

    monkeypatch.setattr(decay_mod, "_due_pages", read_then_write)
    monkeypatch.setattr(decay_store, "record_due", spy)
    asyncio.run(run_pass(rt))
    assert [lead_id for lead_id in leads if _decayed(rt, lead_id)] == (
        list(leads) if writer == "nobody" else ["ld_a", "ld_b"])
    if writer == "nobody":
        assert checked and not any(checked)  # nothing committed between: taken as read
    else:
        assert checked[0]


def test_a_steady_state_pass_reads_only_past_the_mark(rt: Runtime, monkeypatch: Any) -> None:
    """Once a rule has swept, the next pass reads from its mark: leads decayed long ago are not read again."""
    def setup(c: Any) -> None:
        c.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at)"
                      " VALUES (?, ?, 'org', 0, 0, ?)", [(U, f"ld_{i}", START - (40 + i) * DAY) for i in range(5)])

    rt.db.write_blocking(setup)
    assert asyncio.run(run_pass(rt)).by_rule == {"dc_1": 5, "dc_2": 5}
    reads: list[tuple[int, int]] = []
    real = decay_store.due_after

    def spy(conn: Any, unit_id: str, decay_id: str, swept: int, cutoff: int, after: Any, limit: int) -> Any:
        reads.append((swept, cutoff))
        return real(conn, unit_id, decay_id, swept, cutoff, after, limit)

    monkeypatch.setattr(decay_store, "due_after", spy)
    rt.clock.advance(60)  # type: ignore[attr-defined]
    assert asyncio.run(run_pass(rt)).applied == 0
    assert reads == [(START - 7 * DAY, START + 60_000 - 7 * DAY), (START - 30 * DAY, START + 60_000 - 30 * DAY)]


def test_a_deleted_decay_is_recorded_again(rt: Runtime) -> None:
    """A lead whose DECAY events are deleted (sample data removal) is behind the rule's mark without one: the
    mark drops below it and the next pass decays it again."""
    rt.db.write_blocking(lambda c: c.execute(
        "INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_organic_at) VALUES (?, 'ld_a', 'org',"
        " 0, 0, ?)", (U, START - 10 * DAY)))
    assert asyncio.run(run_pass(rt)).by_rule == {"dc_1": 1}
    rt.clock.advance(3600)  # type: ignore[attr-defined]
    assert asyncio.run(run_pass(rt)).applied == 0
    rt.db.write_blocking(lambda c: ev_store.delete_events_where(c, U, "decay_id IS NOT NULL", ()))
    assert _sweep_row(rt)[0] < START - 10 * DAY
    assert asyncio.run(run_pass(rt)).by_rule == {"dc_1": 1}
    assert _decayed(rt, "ld_a") == ["dc_1"]
