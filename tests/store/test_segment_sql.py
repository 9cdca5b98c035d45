"""Segment membership by SQL (`store.segments`) agrees with the engine's reference (`segment_matches`), on a real
SQLite database with the product's schema, for generated leads, events and rules."""

from __future__ import annotations

import json
from typing import Any

import apsw
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadvibe.engine.conditions import OPERATORS, SegmentRule, segment_matches
from leadvibe.store import lead_props, segment_members
from leadvibe.store import leads as lead_store
from leadvibe.store import segments as store

UNIT = "unit_t"


def _reset(conn: apsw.Connection) -> None:
    for table in ("leads", "events", "lead_props", "property_keys", "segment_members", "segments"):
        conn.execute(f"DELETE FROM {table}")


def _load(conn: apsw.Connection, leads: list[dict[str, Any]], events: list[tuple[int, str, dict[str, Any]]]) -> None:
    _reset(conn)
    for i, meta in enumerate(leads):
        lead_store.insert_lead(conn, UNIT, "org_t", f"l{i}", json.dumps(meta), None, 0)
        rowid = conn.execute("SELECT rowid FROM leads WHERE id = ?", (f"l{i}",)).fetchone()[0]
        lead_props.sync(conn, UNIT, rowid, {}, meta)
    for seq, (lead, key, meta) in enumerate(events, start=1):
        conn.execute(
            "INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
            " processed_at, metadata, channel) VALUES (?,?,?,?,?,?,?,0,0,0,?,'web')",
            (seq, f"e{seq}", "org_t", UNIT, f"l{lead % max(1, len(leads))}", key, key, json.dumps(meta)))


scalars = st.one_of(st.none(), st.booleans(), st.integers(-20, 20), st.floats(-20, 20, allow_nan=False).map(
    lambda f: round(f, 2)), st.sampled_from(["", "a", "A", "ab", "Ba", "10", " 7 ", "1e1", "x,y", "Ünï", "ß"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.sampled_from(["k", "n"]), scalars,
                                                                             max_size=2))
metadata = st.dictionaries(st.sampled_from(["plan", "size", "tags", "co"]), values, max_size=3)
expected = st.sampled_from(["a", "A", "10", "7", "1e1", "-3.5", "a,10", "b, 7", "", "ss", "{\"k\":1}", "true"])
rules = st.lists(
    st.builds(
        SegmentRule,
        rule_id=st.uuids().map(str),
        field=st.sampled_from(["plan", "size", "tags", "co", "co.k", "missing"]),
        op=st.sampled_from(OPERATORS),
        value=expected,
        rule_type=st.sampled_from(["lead_metadata", "lead_metadata", "event_metadata"]),
        event_type=st.sampled_from([None, "view", "click"]),
        logic_group=st.integers(0, 2),
        logic_op=st.sampled_from(["AND", "AND", "OR"]),
        active=st.booleans().map(lambda b: b or True) | st.just(False),
    ),
    min_size=1, max_size=4)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(leads=st.lists(metadata, min_size=1, max_size=6),
       events=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["view", "click"]), metadata), max_size=6),
       segment=rules)
def test_sql_membership_equals_the_engine(conn: apsw.Connection, leads: list[dict[str, Any]],
                                          events: list[tuple[int, str, dict[str, Any]]],
                                          segment: list[SegmentRule]) -> None:
    conn.execute("BEGIN")
    try:
        _load(conn, leads, events)
        expected_ids = set()
        for i, meta in enumerate(leads):
            own = [(key, m) for lead, key, m in events if lead % len(leads) == i]
            if segment_matches(segment, meta, own):
                expected_ids.add(f"l{i}")
        sql, params = store.member_sql(conn, UNIT, segment)
        got = {r[0] for r in conn.execute(f"SELECT l.id FROM leads l WHERE l.rowid IN ({sql})", params)}
        assert got == expected_ids
        assert store.count_members(conn, UNIT, segment) == len(expected_ids)
        assert set(store.lead_in_segments(conn, UNIT, "l0", {"s": segment})) == ({"s"} if "l0" in expected_ids
                                                                                 else set())
        if segment_members.kept(segment):
            # Kept membership, rebuilt in chunks of two leads, holds the same leads.
            conn.execute("INSERT INTO segments (id, org_id, unit_id, name, created_at, updated_at)"
                         " VALUES ('s', 'org_t', ?, 's', 0, 0)", (UNIT,))
            cursor: int | None = 0
            while cursor is not None:
                cursor = segment_members.rebuild_chunk(conn, UNIT, "s", segment, cursor, 2)
            segment_members.set_ready(conn, UNIT, "s", True)
            assert store.count_members(conn, UNIT, segment, "s") == len(expected_ids)
    finally:
        conn.execute("ROLLBACK")


def test_index_follows_metadata_changes(conn: apsw.Connection) -> None:
    conn.execute("BEGIN")
    try:
        _load(conn, [{"plan": "Pro"}], [])
        rule = [SegmentRule("r", "plan", "equals", "pro")]
        assert store.count_members(conn, UNIT, rule) == 1
        lead_props.sync(conn, UNIT, 1, {"plan": "Pro"}, {"plan": "Free"})
        assert store.count_members(conn, UNIT, rule) == 0
        assert store.count_members(conn, UNIT, [SegmentRule("r", "plan", "equals", "FREE")]) == 1
        lead_props.drop(conn, UNIT, ["l0"])
        assert conn.execute("SELECT count(*) FROM lead_props").fetchone()[0] == 0
    finally:
        conn.execute("ROLLBACK")
