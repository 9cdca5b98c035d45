"""Names people give things (OUs, members, credentials, rulesets, levels, segments): one rule for all of them."""

from __future__ import annotations

from leadvibe.errors import bad_request
from leadvibe.pipeline.inbox import no_control

NAME_MAX = 100


def clean_name(value: str, field: str = "name", limit: int = NAME_MAX) -> str:
    """Trimmed non-empty name of at most `limit` characters without control characters (a name is shown in lists,
    logs and CSV exports, where a NUL or a line break would break or forge a line), else 400 naming the field."""
    text = value.strip()
    if not text or len(text) > limit:
        raise bad_request(f"`{field}` must be 1 to {limit} characters")
    no_control(text, field)
    return text
