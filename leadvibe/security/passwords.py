"""What a person signs in with: an email address, and a password kept as argon2id at OWASP's parameters (19 MiB,
t=2, p=1), PHC strings, re-hashed on login."""

from __future__ import annotations

import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 256  # caps the work an attacker can ask of the KDF per request

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
_dummy: str | None = None


def _dummy_hash() -> str:
    # A fixed hash to verify against when the email is unknown, so both failures cost the same. Made on first
    # use, not at import: one hash costs ~50 ms of every start-up otherwise.
    global _dummy
    if _dummy is None:
        _dummy = _hasher.hash("leadvibe-timing-equalizer")
    return _dummy


# name@domain.tld, none of the parts holding a space, a control character, or what only a display form or a
# quoted local part would (`<a@b.com>`, `a@b.co,`): a sign-in address is typed, shown and mailed as it is. The
# domain's labels are not empty (`a@b..c`, a trailing dot: the same mailbox as without it, or none).
_PART = r'[^@\s<>()\[\]\\,;:"\x00-\x1f\x7f]+'
_LABEL = r'[^@\s<>()\[\]\\,;:"\x00-\x1f\x7f.]+'
EMAIL = re.compile(rf"^{_PART}@{_LABEL}(?:\.{_LABEL})+$")
EMAIL_MAX = 320


def sign_in_email(email: str) -> str:
    """An address as it is stored and looked up: trimmed, in Unicode's composed form (NFC), so `é` typed as one
    character or as `e` and an accent is one address."""
    return unicodedata.normalize("NFC", email.strip())


def email_key(email: str) -> str:
    """What makes two sign-in addresses one: the stored form in any case (Unicode's, not only ASCII's)."""
    return sign_in_email(email).casefold()


def is_sign_in_email(email: str) -> bool:
    """Whether `email` (trimmed) can be a member's sign-in address. Invisible format characters (a zero-width
    space) are refused: two addresses that read the same would be two members."""
    email = sign_in_email(email)
    return (bool(EMAIL.match(email)) and len(email) <= EMAIL_MAX
            and not any(unicodedata.category(c) == "Cf" for c in email))


def check_new_password(password: str) -> str | None:
    """None if acceptable, else the reason."""
    if len(password) < MIN_LENGTH:
        return f"password must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password must be at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """PHC-format argon2id hash."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Constant-work verification; an unknown user (stored=None) still runs the KDF."""
    if len(password) > MAX_LENGTH:
        password = password[:MAX_LENGTH]
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when the stored hash used other parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
