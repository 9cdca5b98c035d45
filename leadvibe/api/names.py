"""Names people give things (OUs, members, credentials, rulesets, levels, segments): one rule for all of them; and
the rule for the free text beside them (descriptions, messages)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from leadvibe.documented import single_line, string_matching
from leadvibe.errors import bad_request
from leadvibe.pipeline.inbox import no_control

NAME_MAX = 100
SECRET_NAME_MAX = 50
Name = Annotated[str, single_line(NAME_MAX)]
SecretName = Annotated[str, single_line(SECRET_NAME_MAX)]
# Free text keeps its tabs and line breaks; any other control character has no use in it.
_TEXT_WHITESPACE = str.maketrans("", "", "\t\n\r")


def clean_name(value: str, field: str = "name", limit: int = NAME_MAX) -> str:
    """A name of at most `limit` characters as sent, not only spaces and without control characters anywhere (a
    name is shown in lists, logs and CSV exports, where a NUL or a line break would break or forge a line),
    returned trimmed; else 400 naming the field. Checked as sent, so the document's `Name` says exactly what is
    taken."""
    text = value.strip()
    if not text or len(value) > limit:
        raise bad_request(f"`{field}` must be 1 to {limit} characters")
    no_control(value, field)
    return text


# A control character other than a tab or a line break: what free text refuses (`no_control_in_text`).
TEXT_CONTROL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def free_text(limit: int) -> msgspec.Meta:
    """Metadata of free text checked as sent by `no_control_in_text` and a length limit: shown in the document."""
    return msgspec.Meta(description=f"at most {limit} characters; tabs and line breaks, no other control character",
                        extra_json_schema={"extra": {"max_length": limit,
                                                     "schema_not": string_matching(TEXT_CONTROL_PATTERN)}})


def no_control_in_text(value: str, field: str) -> None:
    """400 naming the field when free text (a description, a message body) holds a control character other than a
    tab or a line break: a NUL or an escape sequence would reach emails, exports and logs as it is."""
    no_control(value.translate(_TEXT_WHITESPACE), field)
