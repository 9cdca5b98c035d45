"""How the OpenAPI document states rules a handler checks itself with messages of its own (one-line text such as
names, event types and ids a client chooses; list sizes; a field's choices): the document says exactly what the
handler takes, so a client generated from it sends only what the server accepts. Integers: `api/bounds.py`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

# What `clean_name` accepts, for the OpenAPI document: something besides spaces (a pattern is a search), and no
# control character anywhere. Said without anchors: `$` lets a final line break through in Python's reading of a
# pattern (which generates clients' test data) and not in ECMA's (which the document's readers validate with).
NAME_PATTERN = r"\S"
CONTROL_PATTERN = r"[\x00-\x1f\x7f]"
# A query parameter refused when blank (`Parameter(schema_extra=NOT_BLANK)`).
NOT_BLANK: dict[str, Any] = {"pattern": NAME_PATTERN}


def string_matching(pattern: str) -> dict[str, Any]:
    """A string matching `pattern`, for a `not`: typed, so that `null` (where a field takes it) is not a string
    matching and stays valid. Plain JSON Schema, not the framework's classes: the worker process imports the
    structs that use these rules, and it never loads the web framework."""
    return {"type": "string", "pattern": pattern}


def single_line_schema(limit: int) -> dict[str, Any]:
    """The rule of a one-line text of 1 to `limit` characters, not only spaces, without control characters, as
    JSON Schema keywords (the framework takes them as a body field's `extra` or a parameter's `schema_extra`)."""
    return {"minLength": 1, "maxLength": limit, "pattern": NAME_PATTERN, "not": string_matching(CONTROL_PATTERN)}


def single_line_json(limit: int) -> dict[str, Any]:
    """`single_line_schema` of a string, where the type is not the field's own: a list's items, a branch of a
    rule (`across_fields`)."""
    return {"type": "string", **single_line_schema(limit)}


def single_line(limit: int, *, trimmed: bool = True) -> msgspec.Meta:
    """Metadata of a one-line text checked as sent (a name: `clean_name`; an event type:
    `scoring_common.clean_event_type`; an id a client chooses): shown in the document only, the handler checks it
    with messages that name the field. `trimmed`: stored without its leading and trailing spaces."""
    stored = "; stored without leading and trailing spaces" if trimmed else ""
    return msgspec.Meta(description=f"1 to {limit} characters, not only spaces, no control characters{stored}",
                        extra_json_schema={"extra": single_line_schema(limit)})


def one_line(limit: int, *, blank: str = "blank clears it") -> msgspec.Meta:
    """Metadata of a one-line text that may be blank, at most `limit` characters as sent, without control
    characters (a trigger's name, an email subject): shown in the document only, the handler checks it with
    messages that name the field. `blank`: what a blank value does."""
    rules = single_line_schema(limit)
    del rules["minLength"], rules["pattern"]  # blank is taken
    return msgspec.Meta(description=f"at most {limit} characters on one line, no control characters; {blank}",
                        extra_json_schema={"extra": rules})


def sized(low: int, high: int | None = None, *, items: dict[str, Any] | None = None) -> msgspec.Meta:
    """Metadata of a list a handler refuses outside `low`..`high` items (with its own message), and the rule its
    items are checked by, as JSON Schema (`single_line_json`: the framework leaves out the metadata of a list's
    item type): document only."""
    extra: dict[str, Any] = {"min_items": low}
    if high is not None:
        extra["max_items"] = high
    if items is not None:
        extra["items"] = items
    return msgspec.Meta(extra_json_schema={"extra": extra})


def choices(values: Iterable[str], *, nullable: bool = False) -> msgspec.Meta:
    """Metadata of a text field a handler checks against `values` (naming them in its message): the document's
    `enum`. `nullable`: the field also takes `null` (an optional one), which a JSON Schema enum must list."""
    listed: list[str | None] = list(values)
    return msgspec.Meta(extra_json_schema={"extra": {"enum": [*listed, None] if nullable else listed}})


# Rules across a body's fields ("one of these identifies the lead"), by the component name of their struct, and
# rules only a create's body obeys (its required fields, where the update's body is the same struct): added to
# the document's components by `openapi.make_true`.
COMPONENT_RULES: dict[str, dict[str, Any]] = {}
CREATE_RULES: dict[str, dict[str, Any]] = {}


def _component_names(cls: type) -> tuple[str, str]:
    # The framework names a component after its class, or after its module too when two classes share a name.
    return cls.__name__, "_".join([*cls.__module__.split(".")[1:], cls.__name__])


def across_fields(cls: type, rules: dict[str, Any] | None = None, *, creating: dict[str, Any] | None = None) -> None:
    """Document rules a handler checks across the fields of `cls` (JSON Schema keywords such as `anyOf` or
    `allOf` of `if`/`then`), added to the component the framework makes of the class; `creating`: rules of a
    create's body alone, when an update reads the same class (its component is then a copy, `<name>Update`)."""
    for name in _component_names(cls):
        if rules:
            COMPONENT_RULES[name] = rules
        if creating is not None:
            CREATE_RULES[name] = creating


# List fields whose items are checked one by one, an item that fails answered in the results instead of refusing
# the request (a batch's events), as (component name, field): the document shows the item's component and that
# any other value is a rejected item (`openapi.make_true`).
CHECKED_ONE_BY_ONE: set[tuple[str, str]] = set()


def one_by_one(cls: type, field: str) -> None:
    """Document that the items of `cls.field` (a list of structs) are checked one by one: the request is not
    refused for an item of the wrong shape or breaking the item's rules, so the list's items take any value."""
    for name in _component_names(cls):
        CHECKED_ONE_BY_ONE.add((name, field))


def present(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON Schema: the object has `name`, not null (and matching `schema`)."""
    not_null: dict[str, Any] = {"not": {"type": "null"}}
    return {"required": [name], "properties": {name: {"allOf": [not_null, schema]} if schema else not_null}}
