"""Validation shared by every API that takes a condition (profile rules, account rules, segment rules) or names
a property (mappings, rules). Not a domain: it has no routes.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from leadvibe.documented import choices, single_line
from leadvibe.engine.conditions import OPERATORS, validate_operator
from leadvibe.errors import bad_request
from leadvibe.limits import INT_LIMIT, INT_LIMIT_TEXT

PROPERTY_MAX = 200
VALUE_MAX = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A property or field name as `check_property` takes it, and a condition operator as `check_condition` does (any
# letter case and surrounding spaces are taken too; the document lists the canonical spellings).
PropertyName = Annotated[str, single_line(PROPERTY_MAX)]
Operator = Annotated[str, choices(OPERATORS)]
OptionalOperator = Annotated[str | None, choices(OPERATORS, nullable=True)]

# Integers that bound rule weights and ordering fields: documented in the schema, checked by msgspec (400).
Weight = Annotated[int, msgspec.Meta(ge=-INT_LIMIT, le=INT_LIMIT, description=f"-{INT_LIMIT_TEXT}..{INT_LIMIT_TEXT}")]
Order = Annotated[int, msgspec.Meta(ge=-INT_LIMIT, le=INT_LIMIT, description="Display order")]

# Values the product computes and shows beside a lead's or an account's properties: no mapping may write them.
# What a lead's answer shows beside its metadata, computed by the product (a segment's metadata rule cannot test it).
COMPUTED_PROFILE = frozenset({"profile_score", "profile_level"})
RESERVED_PROFILE = frozenset({*COMPUTED_PROFILE, "account_id", "accountId", "id", "lead_id"})
RESERVED_ACCOUNT = frozenset({"domain", "account_id", "accountId", "id", "score", "intent_level"})


def check_property(value: str, field: str) -> str:
    """A property / field name of 1 to 200 characters as sent, not only spaces, without control characters
    anywhere (`PropertyName`), returned trimmed."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(value) > PROPERTY_MAX or _CONTROL.search(value):
        raise bad_request(f"`{field}` must be 1 to {PROPERTY_MAX} characters without control characters")
    return text


def check_condition(op: str, value: str | None, op_field: str, value_field: str) -> tuple[str, str]:
    """A condition operator (any case, canonicalized) and a comparison value that fits it: `exists` and
    `not_exists` ignore the value; `in` needs at least one non-empty item; every other operator a non-empty
    value. Values are at most 1,000 characters."""
    try:
        canonical = validate_operator(op)
    except ValueError as exc:
        raise bad_request(f"`{op_field}`: {exc}") from None
    text = "" if value is None else value
    if len(text) > VALUE_MAX:
        raise bad_request(f"`{value_field}` must be at most {VALUE_MAX} characters")
    if canonical in ("exists", "not_exists"):
        return canonical, text
    if canonical == "in":
        if not any(item.strip() for item in text.split(",")):
            raise bad_request(f"`{value_field}` must list at least one value (comma-separated) for `in`")
    elif not text.strip():
        raise bad_request(f"`{value_field}` is required for condition `{canonical}`")
    return canonical, text
