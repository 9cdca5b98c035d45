"""Normalization of event types, aliases and channels.

Everything that matches one string against another (rules, triggers, filters, alias lookup) goes through these
functions first, so two spellings of the same thing can never score differently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ALIAS_KINDS",
    "CHANNELS",
    "DECAY_EVENT_TYPE",
    "channel_for",
    "channel_for_key",
    "normalize_alias",
    "type_key",
]

ALIAS_KINDS: frozenset[str] = frozenset({"email", "phone", "external_id", "cookie", "social"})
CHANNELS: tuple[str, ...] = ("web", "email", "slack", "webinar", "crm", "system")
DECAY_EVENT_TYPE = "DECAY"

# Whitespace of any kind counts as a space: a tab pasted into a CSV must not create a new event type.
_SEPARATOR_RUN = re.compile(r"[\s\-]+")
_DIGITS = frozenset("0123456789")

# Checked in order; the first prefix that matches names the channel.
_CHANNEL_PREFIXES: tuple[tuple[str, str], ...] = (
    ("email_", "email"),
    ("webinar_", "webinar"),
    ("slack", "slack"),
    ("crm", "crm"),
    ("deal", "crm"),
    ("opportunity", "crm"),
)
_DECAY_KEY = DECAY_EVENT_TYPE.lower()


def type_key(event_type: str) -> str:
    """Return the matching key of a free-form event type.

    Trimmed, lower-cased, and every run of spaces and/or hyphens replaced by a single ``_``:
    ``"Page View"``, ``"page-view"`` and ``"  PAGE   VIEW "`` all give ``"page_view"``. Underscores already
    present are kept as they are. Idempotent: ``type_key(type_key(t)) == type_key(t)``.
    """
    return _SEPARATOR_RUN.sub("_", event_type.strip().lower())


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def has_control_chars(value: str) -> bool:
    """True when `value` holds a control character (U+0000 to U+001F, U+007F): identifiers never do (§2), since
    they end up in logs, CSV exports, URLs and other systems where such bytes break or forge things."""
    # Every control character is unprintable, so a printable value (nearly every identifier) needs no search:
    # one C call instead of a pattern search, on each ingested event.
    return not value.isprintable() and _CONTROL.search(value) is not None


def normalize_alias(kind: str, value: str) -> str:
    """Return the stored form of an alias value.

    ``email``: trimmed and lower-cased. ``phone``: ASCII digits only, plus a ``+`` when the (trimmed) value
    starts with one. Other kinds: trimmed. Raises ``ValueError`` for an unknown kind or when nothing is left.
    """
    if kind not in ALIAS_KINDS:
        raise ValueError(f"unknown alias kind {kind!r}; expected one of {', '.join(sorted(ALIAS_KINDS))}")
    if has_control_chars(value):
        raise ValueError("alias value must not contain control characters")
    trimmed = value.strip()
    if kind == "email":
        normalized = trimmed.lower()
    elif kind == "phone":
        digits = "".join(c for c in trimmed if c in _DIGITS)
        # A bare "+" is not a phone number, so the prefix only survives next to digits.
        normalized = f"+{digits}" if digits and trimmed.startswith("+") else digits
    else:
        normalized = trimmed
    if not normalized:
        raise ValueError(f"alias value for kind {kind!r} is empty after normalization")
    return normalized


def channel_for(event_type: str, metadata: Mapping[str, Any] | None) -> str:
    """Return the channel of an event.

    ``metadata["channel"]`` wins when it is a non-blank string (trimmed, lower-cased; any value is accepted,
    not only the known ``CHANNELS``). Otherwise it is derived from the type key: ``email_*`` → email,
    ``webinar_*`` → webinar, ``slack*`` → slack, ``crm*``/``deal*``/``opportunity*`` → crm, ``DECAY`` →
    system, else web.
    """
    return channel_for_key(type_key(event_type), metadata)


def channel_for_key(key: str, metadata: Mapping[str, Any] | None) -> str:
    """:func:`channel_for` given the event's type key (callers that hold it already skip normalizing again)."""
    if metadata is not None:
        given = metadata.get("channel")
        if isinstance(given, str) and given.strip():
            return given.strip().lower()
    if key == _DECAY_KEY:
        return "system"
    for prefix, channel in _CHANNEL_PREFIXES:
        if key.startswith(prefix):
            return channel
    return "web"
