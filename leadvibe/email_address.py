"""One email address in a header value (`Jane <jane@example.com>` or `jane@example.com`), checked the way the SMTP
sender checks it before sending: the settings check `LEADVIBE_SMTP_FROM` with it at start, so a sender every email
would be refused for is refused once, naming the variable."""

from __future__ import annotations

from email.utils import getaddresses, parseaddr

__all__ = ["mailbox"]


def mailbox(value: str, what: str) -> str:
    """The address of `value`, which must be exactly one mailbox without line breaks; ValueError naming `what`."""
    # A CR or LF in a header value would let template authors (or lead data) add headers such as Bcc.
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{what} must not contain line breaks")
    # parseaddr silently keeps the first of "a@x, b@y"; one header value must be exactly one mailbox.
    if len(getaddresses([value])) != 1:
        raise ValueError(f"{what} must be a single email address")
    _name, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in addr) or "," in addr:
        raise ValueError(f"{what} is not a valid email address: {value!r}")
    return addr
