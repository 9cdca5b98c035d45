"""Names people give things (OUs, members, credentials, rulesets, levels, segments): one rule for all of them; and
the rule for the free text beside them (descriptions, messages)."""

from __future__ import annotations

from leadvibe.errors import bad_request
from leadvibe.pipeline.inbox import no_control

NAME_MAX = 100
# Free text keeps its tabs and line breaks; any other control character has no use in it.
_TEXT_WHITESPACE = str.maketrans("", "", "\t\n\r")


def clean_name(value: str, field: str = "name", limit: int = NAME_MAX) -> str:
    """Trimmed non-empty name of at most `limit` characters without control characters (a name is shown in lists,
    logs and CSV exports, where a NUL or a line break would break or forge a line), else 400 naming the field."""
    text = value.strip()
    if not text or len(text) > limit:
        raise bad_request(f"`{field}` must be 1 to {limit} characters")
    no_control(text, field)
    return text


def no_control_in_text(value: str, field: str) -> None:
    """400 naming the field when free text (a description, a message body) holds a control character other than a
    tab or a line break: a NUL or an escape sequence would reach emails, exports and logs as it is."""
    no_control(value.translate(_TEXT_WHITESPACE), field)
