"""Normalization of event types, aliases and channels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.engine.normalize import (
    ALIAS_KINDS,
    CHANNELS,
    DECAY_EVENT_TYPE,
    channel_for,
    has_control_chars,
    normalize_alias,
    type_key,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Page View", "page_view"),
        ("page-view", "page_view"),
        ("page_view", "page_view"),
        ("  PAGE   VIEW ", "page_view"),
        ("page - view", "page_view"),
        ("page\tview", "page_view"),
        ("Email Open", "email_open"),
        ("a--b  c", "a_b_c"),
        ("Demo_Request", "demo_request"),
        ("DECAY", "decay"),
        ("", ""),
    ],
)
def test_type_key_table(raw: str, expected: str) -> None:
    assert type_key(raw) == expected


@given(st.text(max_size=30))
def test_type_key_is_idempotent(raw: str) -> None:
    assert type_key(type_key(raw)) == type_key(raw)


@given(st.text(alphabet=st.characters(max_codepoint=0x3000)))
def test_control_characters_are_exactly_u0000_to_u001f_and_u007f(value: str) -> None:
    # The check skips its search for printable text: unprintable characters that are not control characters
    # (a no-break space, U+2028, U+0085) must still pass.
    assert has_control_chars(value) == any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)


@pytest.mark.parametrize(("value", "expected"), [("ld_1", False), ("ld\x00", True), ("a\tb", True), ("\x7f", True),
                                                 ("a\u00a0b", False), ("\u2028", False), ("\x85", False),
                                                 ("", False)])
def test_control_character_examples(value: str, expected: bool) -> None:
    assert has_control_chars(value) is expected


def test_alias_kinds() -> None:
    assert frozenset({"email", "phone", "external_id", "cookie", "social"}) == ALIAS_KINDS


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("email", "  Ada@Example.COM ", "ada@example.com"),
        ("phone", "+1 (555) 010-9999", "+15550109999"),
        ("phone", " +44 20 7946 0958 ", "+442079460958"),
        ("phone", "555.010.9999", "5550109999"),
        ("phone", "1+2", "12"),
        ("external_id", "  CRM-42 ", "CRM-42"),
        ("cookie", "abc", "abc"),
        ("social", " @Ada ", "@Ada"),
    ],
)
def test_normalize_alias_table(kind: str, value: str, expected: str) -> None:
    assert normalize_alias(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("fax", "123", "unknown alias kind"),
        ("Email", "a@b.c", "unknown alias kind"),
        ("email", "   ", "empty"),
        ("phone", "+", "empty"),
        ("phone", "call me", "empty"),
        ("cookie", "", "empty"),
    ],
)
def test_normalize_alias_errors(kind: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_alias(kind, value)


@pytest.mark.parametrize(
    ("event_type", "metadata", "expected"),
    [
        ("Page View", None, "web"),
        ("email_open", None, "email"),
        ("Email Click", None, "email"),
        ("emailed", None, "web"),
        ("webinar_attended", None, "webinar"),
        ("Webinar-Registered", None, "webinar"),
        ("slack_message", None, "slack"),
        ("slackbot", None, "slack"),
        ("crm_update", None, "crm"),
        ("Deal Won", None, "crm"),
        ("opportunity_created", None, "crm"),
        (DECAY_EVENT_TYPE, None, "system"),
        ("decay", None, "system"),
        ("decay_extra", None, "web"),
        ("page_view", {"channel": " Slack "}, "slack"),
        ("email_open", {"channel": "partner"}, "partner"),
        ("email_open", {"channel": ""}, "email"),
        ("email_open", {"channel": "   "}, "email"),
        ("email_open", {"channel": 7}, "email"),
        ("email_open", {"other": "x"}, "email"),
        (DECAY_EVENT_TYPE, {"channel": "system", "decay_id": "d1"}, "system"),
    ],
)
def test_channel_for_table(event_type: str, metadata: dict[str, object] | None, expected: str) -> None:
    assert channel_for(event_type, metadata) == expected


def test_derived_channels_are_known() -> None:
    for event_type in ("x", "email_x", "webinar_x", "slack", "crm", "deal", "opportunity", "DECAY"):
        assert channel_for(event_type, None) in CHANNELS
