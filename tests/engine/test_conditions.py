"""Condition operators (profile, account and segment rules) and segment group logic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.conditions import (
    OPERATORS,
    Condition,
    SegmentRule,
    WeightedCondition,
    evaluate_segment,
    lookup,
    matches,
    profile_score,
    segment_matches,
    segment_rule_matches,
    validate_operator,
)

# ------------------------------------------------------------------------------------------------ operators


def test_operator_list_is_the_spec_list() -> None:
    assert OPERATORS == (
        "equals",
        "not_equals",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "greater_than",
        "less_than",
        "exists",
        "not_exists",
        "in",
    )


@pytest.mark.parametrize(
    ("given_op", "canonical"),
    [("equals", "equals"), ("EQUALS", "equals"), (" Greater_Than ", "greater_than"), ("In", "in")],
)
def test_validate_operator_is_case_insensitive(given_op: str, canonical: str) -> None:
    assert validate_operator(given_op) == canonical


@pytest.mark.parametrize("bad", ["", "eq", "greater than", "like", "not-equals"])
def test_validate_operator_rejects_unknown_with_the_valid_list(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        validate_operator(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(op in message for op in OPERATORS)


def test_matches_rejects_unknown_operator() -> None:
    with pytest.raises(ValueError):
        matches("between", 1, "2")


CASES: list[tuple[str, object, str | None, bool]] = [
    # equals: text is case-insensitive and trimmed; numbers compare numerically.
    ("equals", "SaaS", "saas", True),
    ("equals", " Acme ", "acme", True),
    ("equals", "acme", "acme inc", False),
    ("equals", 42, "42", True),
    ("equals", "42", " 42 ", True),
    ("equals", 1000, "1e3", True),
    ("equals", "1E3", "1000.0", True),
    ("equals", 0.1, "0.10", True),
    ("equals", "007", "7", True),
    ("equals", 42.5, "42", False),
    ("equals", "abc", "ABC ", True),
    ("equals", True, "true", True),
    ("equals", False, "FALSE", True),
    ("equals", True, "1", False),  # booleans are not numbers
    ("equals", "nan", "NaN", True),  # text, not a number that never equals itself
    ("equals", "1_000", "1000", False),  # underscores make it text
    ("equals", None, "", False),
    ("equals", "", "", False),  # a blank value does not exist
    ("equals", "x", None, False),
    ("equals", {"a": 1}, '{"a":1}', True),
    # not_equals is the complement of equals, absent values included.
    ("not_equals", "SaaS", "saas", False),
    ("not_equals", "SaaS", "fintech", True),
    ("not_equals", 10, "10.0", False),
    ("not_equals", None, "x", True),
    # contains / not_contains
    ("contains", "Hello World", "WORLD", True),
    ("contains", "Hello World", "planet", False),
    ("contains", 12345, "234", True),
    ("contains", "anything", "", True),
    ("contains", "anything", None, True),
    ("contains", None, "x", False),
    ("not_contains", "Hello World", "world", False),
    ("not_contains", "Hello World", "planet", True),
    ("not_contains", None, "x", True),
    # starts_with / ends_with
    ("starts_with", "Enterprise plan", "enter", True),
    ("starts_with", "Enterprise plan", "plan", False),
    ("starts_with", 4200, "42", True),
    ("ends_with", "jane@ACME.com", "@acme.com", True),
    ("ends_with", "jane@acme.com", "@acme", False),
    ("ends_with", None, "", False),
    # greater_than / less_than: numeric when both numbers, else by folded text.
    ("greater_than", 100, "99", True),
    ("greater_than", "100", "99", True),  # numerically, although "100" < "99" as text
    ("greater_than", "99", "100", False),
    ("greater_than", 50, "50", False),
    ("greater_than", "1e3", "999.5", True),
    ("greater_than", -1, "-2", True),
    ("less_than", 3.5, "4", True),
    ("less_than", "4", "4", False),
    ("less_than", " 10 ", "9", False),
    ("greater_than", "2024-03-01", "2024-01-15", True),  # ISO dates order as text
    ("less_than", "2023-12-31", "2024-01-01", True),
    ("greater_than", "b", "A", True),
    ("greater_than", None, "0", False),
    ("less_than", None, "0", False),
    ("less_than", "", "0", False),
    ("greater_than", True, "0", True),  # "true" vs "0" as text; booleans never compare numerically
    # in: comma-separated, trimmed, empty items dropped, numeric-aware.
    ("in", "SaaS", "saas, fintech , health", True),
    ("in", "fintech", "saas,fintech", True),
    ("in", "retail", "saas, fintech", False),
    ("in", 2, "1, 2.0, 3", True),
    ("in", "2", "1,,3", False),
    ("in", "", "a,,b", False),
    ("in", "x", "", False),
    ("in", "x", None, False),
    ("in", "us", " US ", True),
    # exists / not_exists ignore expected.
    ("exists", "x", None, True),
    ("exists", "x", "ignored", True),
    ("exists", 0, None, True),
    ("exists", False, None, True),
    ("exists", None, None, False),
    ("exists", "", None, False),
    ("exists", "   ", None, False),
    ("exists", [], None, False),
    ("exists", [None, ""], None, False),
    ("exists", {}, None, False),
    ("exists", {"k": None}, None, True),
    ("not_exists", None, "x", True),
    ("not_exists", "", None, True),
    ("not_exists", "x", None, False),
    ("not_exists", 0, None, False),
    # lists: positive operators match when any element matches, negations when none does.
    ("equals", ["a", "B", "c"], "b", True),
    ("equals", ["a", "c"], "b", False),
    ("equals", [1, 2, 3], "2.0", True),
    ("contains", ["alpha", "beta"], "ETA", True),
    ("contains", [], "x", False),
    ("in", ["x", "saas"], "fintech, saas", True),
    ("in", ["x", "y"], "fintech, saas", False),
    ("greater_than", [1, 5, 20], "10", True),
    ("starts_with", [["nested", "deep"]], "dee", True),
    ("not_equals", ["a", "b"], "b", False),
    ("not_equals", ["a", "c"], "b", True),
    ("not_contains", ["alpha", "beta"], "eta", False),
    ("not_contains", ["alpha", "gamma"], "eta", True),
    ("not_contains", [], "x", True),
    ("exists", ["", "x"], None, True),
    ("not_exists", ["", None], None, True),
]


@pytest.mark.parametrize(("op", "actual", "expected", "result"), CASES)
def test_operator_table(op: str, actual: object, expected: str | None, result: bool) -> None:
    assert matches(op, actual, expected) is result


def test_operator_is_case_insensitive_in_matches() -> None:
    assert matches("EQUALS", "a", "A")
    assert matches("Not_Exists", None, None)


@pytest.mark.parametrize("op", ["contains", "starts_with", "ends_with", "equals", "in"])
@given(text=st.text(max_size=8))
def test_string_operators_ignore_case(op: str, text: str) -> None:
    # Folding both sides makes the letter case of either side irrelevant.
    assert matches(op, text.upper(), text.lower()) == matches(op, text.lower(), text.upper())


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3)), max_size=3),
)


@pytest.mark.parametrize(
    ("negated", "positive"),
    [("not_equals", "equals"), ("not_contains", "contains"), ("not_exists", "exists")],
)
@given(actual=_VALUES, expected=st.one_of(st.none(), st.text(max_size=6)))
def test_negations_are_exact_complements(
    negated: str, positive: str, actual: object, expected: str | None
) -> None:
    assert matches(negated, actual, expected) is (not matches(positive, actual, expected))


@given(a=st.integers(-(10**20), 10**20), b=st.integers(-(10**20), 10**20))
def test_numeric_comparisons_are_exact_on_big_integers(a: int, b: int) -> None:
    assert matches("greater_than", a, str(b)) is (a > b)
    assert matches("less_than", str(a), f" {b} ") is (a < b)
    assert matches("equals", a, str(b)) is (a == b)


# --------------------------------------------------------------------------------------------- lookups


def test_lookup_exact_key_then_dotted_path() -> None:
    values = {"company.size": "exact", "company": {"size": 50, "geo": {"country": "DE"}}}
    assert lookup(values, "company.size") == "exact"
    assert lookup({"company": {"size": 50}}, "company.size") == 50
    assert lookup(values, "company.geo.country") == "DE"
    assert lookup(values, "company.missing") is None
    assert lookup(values, "nope") is None
    assert lookup({"a": "text"}, "a.b") is None


def test_condition_canonicalizes_and_tests() -> None:
    condition = Condition("Industry", "IN", "saas, fintech")
    assert condition.op == "in"
    assert condition.test({"Industry": "FinTech"})
    assert not condition.test({"industry": "FinTech"})  # field names are exact keys
    with pytest.raises(ValueError):
        Condition("x", "nope", None)


# ------------------------------------------------------------------------------------------- profile score


def test_profile_score_sums_matching_weights_in_rule_order() -> None:
    rules = [
        WeightedCondition("r1", "industry", "equals", "SaaS", 10),
        WeightedCondition("r2", "employees", "greater_than", "100", 20),
        WeightedCondition("r3", "country", "in", "us, ca", 5),
        WeightedCondition("r4", "email", "ends_with", "@gmail.com", -15),
        WeightedCondition("r5", "title", "exists", None, 3),
    ]
    profile = {"industry": "saas", "employees": "250", "country": "DE", "email": "x@GMAIL.com"}
    assert profile_score(rules, profile) == (15, ["r1", "r2", "r4"])
    assert profile_score(rules, {}) == (0, [])
    assert profile_score([], profile) == (0, [])


def test_profile_score_on_append_lists() -> None:
    rules = [WeightedCondition("r1", "interest_list", "contains", "pricing", 7)]
    assert profile_score(rules, {"interest_list": ["docs", "Pricing page"]}) == (7, ["r1"])
    assert profile_score(rules, {"interest_list": ["docs"]}) == (0, [])


def test_weighted_condition_validates_operator() -> None:
    assert WeightedCondition("r", "p", "Starts_With", "a", 1).op == "starts_with"
    with pytest.raises(ValueError):
        WeightedCondition("r", "p", "like", "a", 1)


# ----------------------------------------------------------------------------------------------- segments


def _rule(rule_id: str, group: int = 0, logic_op: str = "AND", active: bool = True) -> SegmentRule:
    return SegmentRule(rule_id, "f", "exists", logic_group=group, logic_op=logic_op, active=active)


def _evaluate(rules: list[SegmentRule], true_ids: set[str]) -> bool:
    return evaluate_segment(rules, lambda rule: rule.rule_id in true_ids)


@pytest.mark.parametrize(
    ("rules", "true_ids", "member"),
    [
        ([], set(), False),
        ([_rule("a", active=False)], {"a"}, False),  # inactive rules are ignored; none active → nobody
        ([_rule("a")], {"a"}, True),
        ([_rule("a")], set(), False),
        # Same group, AND (the default): all must hold.
        ([_rule("a"), _rule("b")], {"a"}, False),
        ([_rule("a"), _rule("b")], {"a", "b"}, True),
        # Same group, OR: any may hold.
        ([_rule("a", logic_op="OR"), _rule("b", logic_op="OR")], {"b"}, True),
        ([_rule("a", logic_op="OR"), _rule("b", logic_op="OR")], set(), False),
        # Groups combine with OR.
        ([_rule("a", 1), _rule("b", 1), _rule("c", 2)], {"c"}, True),
        ([_rule("a", 1), _rule("b", 1), _rule("c", 2)], {"a"}, False),
        ([_rule("a", 1), _rule("b", 1), _rule("c", 2)], {"a", "b"}, True),
        # Mixed groups: (a AND b) OR (c OR d).
        ([_rule("a", 1), _rule("b", 1), _rule("c", 2, "OR"), _rule("d", 2, "OR")], {"d"}, True),
        ([_rule("a", 1), _rule("b", 1), _rule("c", 2, "OR"), _rule("d", 2, "OR")], {"b"}, False),
        # An inactive failing rule does not block its group.
        ([_rule("a"), _rule("b", active=False)], {"a"}, True),
        # A group whose rules are all inactive contributes nothing.
        ([_rule("a", 1, active=False), _rule("b", 2)], {"a"}, False),
        # A group is OR when any of its active rules says OR (order-independent).
        ([_rule("a", 1, "AND"), _rule("b", 1, "OR")], {"a"}, True),
        ([_rule("b", 1, "OR"), _rule("a", 1, "AND")], {"a"}, True),
        # ... counting active rules only: an inactive OR rule leaves the group AND.
        ([_rule("a", 1), _rule("c", 1), _rule("b", 1, "OR", active=False)], {"a", "b"}, False),
    ],
)
def test_segment_group_logic(rules: list[SegmentRule], true_ids: set[str], member: bool) -> None:
    assert _evaluate(rules, true_ids) is member


def test_segment_rule_canonicalizes_and_validates() -> None:
    rule = SegmentRule("r", "plan", "Equals", "pro", rule_type="Lead_Metadata", logic_op="or", event_type="")
    assert (rule.op, rule.rule_type, rule.logic_op, rule.event_type) == (
        "equals",
        "lead_metadata",
        "OR",
        None,
    )
    assert SegmentRule("r", "plan", "equals", logic_op="").logic_op == "AND"
    with pytest.raises(ValueError, match="logic_op"):
        SegmentRule("r", "plan", "equals", logic_op="XOR")
    with pytest.raises(ValueError, match="rule_type"):
        SegmentRule("r", "plan", "equals", rule_type="account_metadata")
    with pytest.raises(ValueError, match="operator"):
        SegmentRule("r", "plan", "like")


def test_segment_rules_over_lead_and_event_metadata() -> None:
    lead = {"plan": "Pro", "seats": 12}
    events = [("page_view", {"path": "/pricing"}), ("form_submit", {"form": "demo", "path": "/contact"})]
    by_plan = SegmentRule("r1", "plan", "equals", "pro")
    visited_pricing = SegmentRule("r2", "path", "starts_with", "/pricing", "event_metadata", "page_view")
    any_type = SegmentRule("r3", "form", "equals", "DEMO", "event_metadata")
    wrong_type = SegmentRule("r4", "form", "equals", "demo", "event_metadata", "page_view")
    negated = SegmentRule("r5", "path", "not_equals", "/pricing", "event_metadata", "page_view")
    no_such_events = SegmentRule("r6", "x", "not_exists", None, "event_metadata", "webinar_join")
    missing_field = SegmentRule("r7", "form", "not_exists", None, "event_metadata", "page_view")
    assert segment_rule_matches(by_plan, lead, events)
    assert segment_rule_matches(visited_pricing, lead, events)
    assert segment_rule_matches(any_type, lead, events)
    assert not segment_rule_matches(wrong_type, lead, events)
    # Existential per event: the only page_view has path /pricing, so "a page_view whose path is not /pricing"
    # does not exist.
    assert not segment_rule_matches(negated, lead, events)
    # No event of the type → no match, whatever the operator.
    assert not segment_rule_matches(no_such_events, lead, events)
    assert segment_rule_matches(missing_field, lead, events)

    assert segment_matches([by_plan, wrong_type], lead, events) is False  # one AND group
    assert segment_matches([by_plan, SegmentRule("r8", "seats", "greater_than", "10")], lead, events)
    assert segment_matches(
        [by_plan.__class__("r9", "plan", "equals", "free", logic_group=1), any_type], lead, events
    )
    assert not segment_matches([], lead, events)


def test_evaluate_segment_short_circuits() -> None:
    calls: list[str] = []

    def test(rule: SegmentRule) -> bool:
        calls.append(rule.rule_id)
        return True

    assert evaluate_segment([_rule("a", 1), _rule("b", 2)], test)
    assert calls == ["a"]
