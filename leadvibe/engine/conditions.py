"""Condition operators shared by profile rules, account rules and segment rules.

One definition of what ``equals``, ``contains``, ``greater_than``, ... mean, so a profile score, an account
score and a segment membership test can never disagree about the same value. Pure: plain data in, decisions
out.

Semantics (SEMANTICS §6, §7; the choices the spec leaves open are fixed here):

- **Text** comparisons are case-insensitive (``str.casefold``) and ignore leading/trailing whitespace on both
  sides. Booleans read as ``"true"``/``"false"``; numbers as their decimal text; nested objects as compact
  JSON.
- **Numbers**: when both sides parse as finite decimal numbers (``42``, ``" 42 "``, ``-1.5``, ``"1e3"``,
  ``.5``) ``equals``/``not_equals``/``greater_than``/``less_than``/``in`` compare numerically (exactly, as
  decimals, so ``"1e3"`` equals ``1000`` and ``0.1`` equals ``"0.10"``). Booleans are never numbers;
  ``nan``, ``inf`` and ``1_000`` are text.
- ``greater_than``/``less_than`` on values that are not both numbers compare the (folded) text, which orders
  ISO-8601 dates correctly (``signup_date greater_than 2024-01-01``).
- ``in``: ``expected`` is a comma-separated list; items are trimmed, empty items dropped; matches when the
  value ``equals`` any item (so numeric items match numerically).
- **Existence**: ``None`` (absent), a blank string, an empty list/object, and a list none of whose elements
  exist, count as *not existing*. ``0`` and ``false`` exist. ``exists``/``not_exists`` ignore ``expected``.
- A value that does not exist never satisfies a positive comparison (``equals``, ``contains``,
  ``starts_with``, ``ends_with``, ``greater_than``, ``less_than``, ``in``).
- **Lists** (e.g. ``<property>_list`` from ``append`` mappings): a positive operator matches when *any*
  element matches.
- **Negations** are exact complements of their positive operator for every value, lists and absent values
  included: ``not_equals`` = not ``equals``, ``not_contains`` = not ``contains``, ``not_exists`` = not
  ``exists``. So ``not_contains "x"`` on a list is true when *no* element contains ``"x"``, and on an
  absent value is true.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "LOGIC_OPS",
    "OPERATORS",
    "RULE_TYPES",
    "Condition",
    "SegmentRule",
    "WeightedCondition",
    "evaluate_segment",
    "lookup",
    "matches",
    "number_form",
    "profile_score",
    "property_atoms",
    "property_paths",
    "segment_matches",
    "segment_rule_matches",
    "text_form",
    "validate_operator",
]

OPERATORS: tuple[str, ...] = (
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
_OPERATOR_SET = frozenset(OPERATORS)
# Each negated operator is evaluated as the complement of its positive twin, so the two can never drift apart.
_NEGATIONS: dict[str, str] = {"not_equals": "equals", "not_contains": "contains", "not_exists": "exists"}

LOGIC_OPS: tuple[str, ...] = ("AND", "OR")
RULE_TYPES: tuple[str, ...] = ("lead_metadata", "event_metadata")

# A plain decimal literal. float() alone would also accept "nan", "infinity" and "1_000", which a user
# typing a comparison value does not mean as numbers.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def validate_operator(op: str) -> str:
    """Return the canonical spelling of a condition operator.

    Accepts any letter case and surrounding whitespace (``" Greater_Than "`` → ``"greater_than"``). Raises
    ``ValueError`` naming the valid operators when ``op`` is not one of ``OPERATORS``.
    """
    canonical = op.strip().lower() if isinstance(op, str) else ""
    if canonical not in _OPERATOR_SET:
        raise ValueError(f"unknown condition operator {op!r}; expected one of: {', '.join(OPERATORS)}")
    return canonical


def _as_number(value: object) -> Decimal | None:
    """The value as an exact decimal, or None when it is not a finite number."""
    if isinstance(value, bool):
        # bool is an int subclass, but "true" > 0 is not something a rule author means.
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # repr() is the shortest text that round-trips, so 0.1 compares equal to "0.1" (Decimal(0.1)
        # would not).
        text = repr(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        return None
    if not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern only admits valid literals
        return None


def _as_text(value: object) -> str:
    """The folded, trimmed text form used by every string comparison."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text.strip().casefold()


def _exists(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip() != ""
    if isinstance(value, list | tuple):
        return any(_exists(item) for item in value)
    if isinstance(value, Mapping):
        return len(value) > 0
    return True


def _equals(actual: object, expected: object) -> bool:
    a_num, e_num = _as_number(actual), _as_number(expected)
    if a_num is not None and e_num is not None:
        return a_num == e_num
    return _as_text(actual) == _as_text(expected)


def _compare(actual: object, expected: object) -> int:
    """-1, 0 or 1: numeric when both sides are numbers, else by folded text."""
    a_num, e_num = _as_number(actual), _as_number(expected)
    if a_num is not None and e_num is not None:
        return (a_num > e_num) - (a_num < e_num)
    a_txt, e_txt = _as_text(actual), _as_text(expected)
    return (a_txt > e_txt) - (a_txt < e_txt)


def _scalar_matches(op: str, actual: object, expected: str | None) -> bool:
    """A positive operator (never ``not_*``/``exists``) against one non-list value."""
    if not _exists(actual):
        return False
    exp: object = "" if expected is None else expected
    if op == "equals":
        return _equals(actual, exp)
    if op == "contains":
        return _as_text(exp) in _as_text(actual)
    if op == "starts_with":
        return _as_text(actual).startswith(_as_text(exp))
    if op == "ends_with":
        return _as_text(actual).endswith(_as_text(exp))
    if op == "greater_than":
        return _compare(actual, exp) > 0
    if op == "less_than":
        return _compare(actual, exp) < 0
    if op == "in":
        items = [item.strip() for item in _as_text(exp).split(",")]
        return any(_equals(actual, item) for item in items if item)
    raise AssertionError(f"unhandled operator {op}")  # pragma: no cover - OPERATORS is exhaustive above


def _positive_matches(op: str, actual: object, expected: str | None) -> bool:
    if op == "exists":
        return _exists(actual)
    if isinstance(actual, list | tuple):
        # Any element; nested lists are searched the same way.
        return any(_positive_matches(op, item, expected) for item in actual)
    return _scalar_matches(op, actual, expected)


def text_form(value: object) -> str:
    """The folded, trimmed text every string comparison uses (public for the SQL translation)."""
    return _as_text(value)


def number_form(value: object) -> Decimal | None:
    """The value as an exact decimal when it reads as a finite number, else None (public for the SQL
    translation)."""
    return _as_number(value)


def property_atoms(value: object) -> list[object]:
    """The scalar pieces a positive operator is tested against, existing ones only.

    A positive operator matches ``value`` exactly when it matches one of these atoms (lists are searched
    element by element, nested lists too; pieces that do not exist are never matched), and ``exists`` holds
    exactly when there is at least one. This is what the lead property index stores, one row per atom.
    """
    if isinstance(value, list | tuple):
        return [atom for item in value for atom in property_atoms(item)]
    return [value] if _exists(value) else []


def property_paths(values: Mapping[str, object]) -> dict[str, object]:
    """Every field name ``lookup`` resolves in ``values`` to a value, with that value.

    Top-level keys as they are; then dotted paths into nested objects (``company.size``), walked the way
    ``lookup`` walks them: through objects only, along keys without a dot, and never shadowing a top-level key
    of the same name (``lookup`` prefers the exact key).
    """
    out: dict[str, object] = {str(k): v for k, v in values.items()}

    def walk(prefix: str, node: Mapping[str, object]) -> None:
        for key, child in node.items():
            key = str(key)
            if "." in key:
                continue  # lookup splits every dot, so a dotted key below the top level is unreachable
            path = f"{prefix}.{key}"
            if path not in out:
                out[path] = child
            if isinstance(child, Mapping):
                walk(path, child)

    for key, value in values.items():
        key = str(key)
        if isinstance(value, Mapping) and "." not in key:
            walk(key, value)
    return out


def matches(op: str, actual: object, expected: str | None) -> bool:
    """Whether ``actual`` (a profile property / metadata value) satisfies ``op expected``.

    ``op`` is validated (any case; ``ValueError`` when unknown). ``actual`` may be ``None`` (absent), a
    string, number, boolean, object, or a list of those (any element matching is enough for positive
    operators; negated operators are the exact complement). See the module docstring for the full rules.
    """
    canonical = validate_operator(op)
    positive = _NEGATIONS.get(canonical)
    if positive is not None:
        return not _positive_matches(positive, actual, expected)
    return _positive_matches(canonical, actual, expected)


def lookup(values: Mapping[str, object], field: str) -> object:
    """The value of ``field`` in ``values``: the exact key if present, else a dotted path into nested objects.

    ``lookup({"company": {"size": 50}}, "company.size")`` → ``50``. Missing → ``None`` (which does not exist).
    """
    if field in values:
        return values[field]
    current: object = values
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``, e.g. ``Condition("industry", "in", "saas, fintech")``. ``op`` is canonicalized."""

    field: str
    op: str
    value: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", validate_operator(self.op))

    def test(self, values: Mapping[str, object]) -> bool:
        """Whether the condition holds for ``values`` (a profile, lead metadata or event metadata)."""
        return matches(self.op, lookup(values, self.field), self.value)


@dataclass(frozen=True, slots=True)
class WeightedCondition:
    """A profile or account rule: when ``property op value`` holds, it adds ``weight`` (may be < 0)."""

    rule_id: str
    property: str
    op: str
    value: str | None
    weight: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", validate_operator(self.op))


def profile_score(
    rules: Sequence[WeightedCondition], properties: Mapping[str, object]
) -> tuple[int, list[str]]:
    """Profile (or account) score: the sum of the weights of the matching rules, and their ids in rule order.

    The caller passes the rules of the primary enabled profile ruleset (or the account rules), already
    limited to active ones. No rule matching → ``(0, [])``.
    """
    total = 0
    matched: list[str] = []
    for rule in rules:
        if matches(rule.op, lookup(properties, rule.property), rule.value):
            total += rule.weight
            matched.append(rule.rule_id)
    return total, matched


def _canonical_logic_op(logic_op: str | None) -> str:
    canonical = (logic_op or "AND").strip().upper() or "AND"
    if canonical not in LOGIC_OPS:
        raise ValueError(f"unknown logic_op {logic_op!r}; expected one of: {', '.join(LOGIC_OPS)}")
    return canonical


@dataclass(frozen=True, slots=True)
class SegmentRule:
    """One segment rule (SEMANTICS §7).

    ``rule_type`` ``lead_metadata`` tests the lead's metadata ``field``; ``event_metadata`` is true when
    the lead has an event of ``event_type`` (an already-normalized type key; ``None``/``""`` = any type)
    whose metadata ``field`` satisfies the condition. ``logic_op`` is ``AND`` (default; ``None``/``""``
    mean AND) or ``OR``, any case. ``op``, ``logic_op`` and ``rule_type`` are canonicalized; unknown values
    raise ``ValueError``.
    """

    rule_id: str
    field: str
    op: str
    value: str | None = None
    rule_type: str = "lead_metadata"
    event_type: str | None = None
    logic_group: int = 0
    logic_op: str = "AND"
    active: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", validate_operator(self.op))
        object.__setattr__(self, "logic_op", _canonical_logic_op(self.logic_op))
        rule_type = self.rule_type.strip().lower()
        if rule_type not in RULE_TYPES:
            raise ValueError(
                f"unknown rule_type {self.rule_type!r}; expected one of: {', '.join(RULE_TYPES)}"
            )
        object.__setattr__(self, "rule_type", rule_type)
        object.__setattr__(self, "event_type", self.event_type or None)


def evaluate_segment(rules: Sequence[SegmentRule], test: Callable[[SegmentRule], bool]) -> bool:
    """Segment membership from per-rule results (SEMANTICS §7).

    Inactive rules are ignored. Active rules are grouped by ``logic_group``; a group holds when all its
    rules hold (``AND``) or any does (``OR``); the segment holds when any group holds. A group's operator
    is ``OR`` when any of its active rules says ``OR``, else ``AND`` — an order-independent choice, so the
    SQL translation (``MAX(logic_op = 'OR')`` per group) agrees. No active rule → ``False`` (an empty
    segment matches nobody).

    ``test`` decides one rule for the lead at hand (see ``segment_rule_matches``); it is called lazily, so
    groups short-circuit.
    """
    groups: dict[int, list[SegmentRule]] = {}
    for rule in rules:
        if rule.active:
            groups.setdefault(rule.logic_group, []).append(rule)
    for group in groups.values():
        combine = any if any(rule.logic_op == "OR" for rule in group) else all
        if combine(test(rule) for rule in group):
            return True
    return False


def segment_rule_matches(
    rule: SegmentRule,
    lead_metadata: Mapping[str, object],
    events: Sequence[tuple[str, Mapping[str, object]]] = (),
) -> bool:
    """Whether one segment rule holds for a lead.

    ``events`` are the lead's events as ``(type_key, metadata)`` pairs (only needed for ``event_metadata``
    rules). An ``event_metadata`` rule is existential over the matching events — *some* event of the type
    satisfies the condition — with the operator applied per event, so ``not_equals`` means "has such an
    event whose field is not …", and a lead with no event of the type never matches, whatever the operator.
    """
    if rule.rule_type == "lead_metadata":
        return matches(rule.op, lookup(lead_metadata, rule.field), rule.value)
    return any(
        matches(rule.op, lookup(metadata, rule.field), rule.value)
        for type_key, metadata in events
        if rule.event_type is None or type_key == rule.event_type
    )


def segment_matches(
    rules: Sequence[SegmentRule],
    lead_metadata: Mapping[str, object],
    events: Sequence[tuple[str, Mapping[str, object]]] = (),
) -> bool:
    """Segment membership of one lead, evaluated in Python (the reference the SQL translation must agree
    with)."""
    return evaluate_segment(rules, lambda rule: segment_rule_matches(rule, lead_metadata, events))
