"""Field mappings, the property index's atoms and paths, level score ranges, and account domains."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.conditions import OPERATORS, lookup, matches, property_atoms, property_paths
from leadvibe.engine.domains import account_domain, is_free_mail, registrable_domain
from leadvibe.engine.fit import APPEND_KEEP, FieldMapping, apply_mappings, replay_mappings, set_by_hand
from leadvibe.engine.levels import Level, level_for, score_ranges

# ------------------------------------------------------------------------------------------------ mappings


def test_always_latest_overwrites_and_reports_no_change_when_equal() -> None:
    m = [FieldMapping("m1", "utm_source", "source")]
    assert apply_mappings(m, {}, {"utm_source": "google"}) == {"source": "google"}
    assert apply_mappings(m, {"source": "google"}, {"utm_source": "bing"}) == {"source": "bing"}
    assert apply_mappings(m, {"source": "google"}, {"utm_source": "google"}) is None
    # 1 and True are different JSON values, even though Python calls them equal
    assert apply_mappings(m, {"source": 1}, {"utm_source": True}) == {"source": True}


def test_absent_or_null_source_changes_nothing() -> None:
    m = [FieldMapping("m1", "utm_source", "source")]
    assert apply_mappings(m, {"source": "x"}, {}) is None
    assert apply_mappings(m, {"source": "x"}, {"utm_source": None}) is None


def test_set_once_keeps_the_first_value() -> None:
    m = [FieldMapping("m1", "utm_source", "first_source", "set_once")]
    first = apply_mappings(m, {}, {"utm_source": "google"})
    assert first == {"first_source": "google"}
    assert apply_mappings(m, first, {"utm_source": "bing"}) is None
    assert apply_mappings(m, {"first_source": None}, {"utm_source": "bing"}) == {"first_source": "bing"}


def test_append_keeps_the_last_ten_in_the_list_property() -> None:
    m = [FieldMapping("m1", "page", "pages", "append")]
    props: dict[str, Any] = {}
    for i in range(13):
        props = apply_mappings(m, props, {"page": f"/p{i}"}) or props
    assert props == {"pages_list": [f"/p{i}" for i in range(3, 13)]}
    assert len(props["pages_list"]) == APPEND_KEEP
    # repeats are values too; a scalar already stored there counts as a one-element list
    assert apply_mappings(m, {"pages_list": "/old"}, {"page": "/old"}) == {"pages_list": ["/old", "/old"]}


def test_mappings_read_dotted_paths_like_rules() -> None:
    m = [FieldMapping("m1", "company.size", "employees")]
    assert apply_mappings(m, {}, {"company": {"size": 50}}) == {"employees": 50}


def test_unknown_behavior_is_refused() -> None:
    with pytest.raises(ValueError, match="update_behavior"):
        FieldMapping("m", "a", "b", "sometimes")


def test_replay_is_what_the_mappings_would_have_produced() -> None:
    m = [FieldMapping("m1", "utm_source", "first", "set_once"), FieldMapping("m2", "utm_source", "last"),
         FieldMapping("m3", "page", "pages", "append")]
    sources = [{"utm_source": "a", "page": "/1"}, {"page": "/2"}, {"utm_source": "b"}]
    live: dict[str, Any] = {}
    for s in sources:
        live = apply_mappings(m, live, s) or live
    assert replay_mappings(m, {}, sources) == live == {"first": "a", "last": "b", "pages_list": ["/1", "/2"]}


def test_a_value_set_by_hand_after_the_events_that_carry_it_is_kept() -> None:
    m = [FieldMapping("m1", "ind", "industry"), FieldMapping("m2", "plan", "tier", "set_once")]
    sources = [{"ind": "software", "plan": "free"}, {"ind": "fintech"}]
    arrived = [100, 200]
    by_hand = {"industry": "retail", "tier": "gold"}
    assert set_by_hand(m, by_hand, sources, arrived, 300) == {"industry"}  # set_once keeps its own anyway
    assert set_by_hand(m, by_hand, sources, arrived, 150) == set()  # the fintech event came after the edit
    assert set_by_hand(m, by_hand, sources, arrived, None) == set()  # never written through the API
    assert set_by_hand(m, {"tier": "gold"}, sources, arrived, 300) == set()  # nothing held to keep
    assert replay_mappings(m, by_hand, sources, kept={"industry"}) is None
    assert replay_mappings(m, by_hand, sources) == {"industry": "fintech", "tier": "gold"}


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-100, 100), st.sampled_from(["", "x", "Y", " 7 "]))
sources_strategy = st.lists(st.fixed_dictionaries({}, optional={"a": json_scalars, "b": json_scalars}), max_size=8)
mappings_strategy = st.lists(
    st.builds(FieldMapping, st.uuids().map(str), st.sampled_from(["a", "b", "c"]),
              st.sampled_from(["p", "q"]), st.sampled_from(["always_latest", "set_once", "append"])),
    max_size=4)


@given(mappings_strategy, sources_strategy)
def test_replay_twice_changes_nothing(mappings: list[FieldMapping], sources: list[dict[str, Any]]) -> None:
    once = replay_mappings(mappings, {}, sources) or {}
    assert replay_mappings(mappings, once, sources) is None


# ------------------------------------------------------------------------------------------------ index atoms

values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False, width=32),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["x", "y", "x.y"]), inner, max_size=2),
    max_leaves=8)
metadata_strategy = st.dictionaries(st.sampled_from(["a", "b", "a.b", "x"]), values, max_size=4)
fields = st.sampled_from(["a", "b", "a.b", "a.x", "a.x.y", "x", "x.y", "nope"])
expected = st.sampled_from(["", "1", "2.5", "-3", "abc", "ABC", "true", "x,1", "1e3", "a", "[1]"])


@given(metadata_strategy, fields, st.sampled_from([op for op in OPERATORS if not op.startswith("not_")]), expected)
def test_a_positive_operator_matches_exactly_when_an_indexed_atom_does(
    metadata: dict[str, Any], field: str, op: str, exp: str
) -> None:
    """What the index stores per path (`property_paths` + `property_atoms`) decides every positive operator
    as `matches` does on `lookup` — the ground the SQL translation stands on."""
    paths = property_paths(metadata)
    atoms = property_atoms(paths[field]) if field in paths else []
    assert matches(op, lookup(metadata, field), exp) == any(matches(op, atom, exp) for atom in atoms)
    assert (field in paths) == reachable(metadata, field)


def reachable(values: dict[str, Any], field: str) -> bool:
    """Whether `lookup` finds `field` at all (a present null counts, at the top or nested)."""
    if field in values:
        return True
    current: Any = values
    for part in field.split("."):
        if not isinstance(current, dict) or part not in current:
            return False
        current = current[part]
    return True


def test_paths_follow_lookup_precedence() -> None:
    meta = {"a.b": 1, "a": {"b": 2, "c": {"d": 3}, "e.f": 4}}
    paths = property_paths(meta)
    assert paths["a.b"] == 1 == lookup(meta, "a.b")  # the exact key wins over the nested path
    assert paths["a.c.d"] == 3 == lookup(meta, "a.c.d")
    assert "a.e.f" not in paths and lookup(meta, "a.e.f") is None  # dotted keys below the top are unreachable


def test_atoms_flatten_lists_and_drop_what_does_not_exist() -> None:
    assert property_atoms(["a", ["b", ""], None, [], {}, 0, False]) == ["a", "b", 0, False]
    assert property_atoms({"k": 1}) == [{"k": 1}]
    assert property_atoms("  ") == []


# ------------------------------------------------------------------------------------------------ levels


bands = st.lists(st.tuples(st.integers(-20, 20), st.integers(0, 15)), min_size=1, max_size=5)


@given(bands, st.integers(-30, 40))
def test_score_ranges_are_exactly_the_scores_of_the_level(spec: list[tuple[int, int]], score: int) -> None:
    levels = [Level(f"lv{i}", f"L{i}", lo, lo + width) for i, (lo, width) in enumerate(spec)]
    winner = level_for(levels, score)
    for level in levels:
        inside = any(lo <= score <= hi for lo, hi in score_ranges(levels, level))
        assert inside == (winner is not None and winner.level_id == level.level_id)


# ------------------------------------------------------------------------------------------------ domains


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("jane@acme.com", "acme.com"),
        ("Jane@Mail.EU.Acme.co.uk", "acme.co.uk"),
        ("ops@sub.team.acme.io", "acme.io"),
        ("x@northwind.example", "northwind.example"),
        ("bob@gmail.com", None),
        ("bob@googlemail.com", None),
        ("bob@outlook.com", None),
        ("bob@co.uk", None),
        ("bob@localhost", None),
        ("bob@10.0.0.1", None),
        ("not-an-email", None),
        ("trailing@acme.com.", "acme.com"),
        # An internationalized domain is one account however it is written: Unicode, or its ASCII (punycode) form.
        ("a@bücher.de", "bücher.de"),
        ("b@xn--bcher-kva.de", "bücher.de"),
        ("c@Sales.XN--BCHER-KVA.co.uk", "bücher.co.uk"),
        ("d@xn--99999999.de", "xn--99999999.de"),  # not punycode: kept as written
        ("e@xn--a-.de", "xn--a-.de"),
    ],
)
def test_account_domain(email: str, domain: str | None) -> None:
    assert account_domain(email) == domain


def test_free_mail_covers_sub_domains_and_registrable_domain_folds() -> None:
    assert is_free_mail("gmail.com") and is_free_mail("mail.yahoo.com")
    assert not is_free_mail("acme.com")
    assert registrable_domain("a.b.c.example.co.jp") == "example.co.jp"
    assert registrable_domain("com") is None
