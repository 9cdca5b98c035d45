"""API credentials (HTTP Basic): long random secrets stored as a keyed SHA-256 digest.

A slow password KDF on every ingest request would cap throughput; a 256-bit random secret does not need one.
The digest is keyed (HMAC) with a server key so a stolen database alone cannot be used to test guesses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass


@dataclass(slots=True)
class CachedCredential:
    """An API credential as the auth path needs it (kept in `Runtime.credentials` by client id)."""

    cred_id: str
    org_id: str
    unit_id: str
    client_id: str
    digest: bytes
    # When this process last wrote the credential's `last_used_at` (ms; 0: not yet).
    use_recorded_at: int = 0


class VerifiedBasic:
    """Basic `Authorization` header values already checked against their credential, so that a client's next
    request with the same header skips the parse and the keyed digest.

    The digest was a twentieth of the event loop's samples per single-event `/ingest`, and OpenSSL's HMAC call
    gives the interpreter lock up, so under load the loop waited to get it back from the writer thread. Headers
    are held by a keyed BLAKE2b of their text (a random key of this process; ~0.4 µs, no lock release for a short
    input), never as text: the process keeps no API secret past its request. Only verified headers are added;
    past `limit` entries the map starts again.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._keyed = hashlib.blake2b(key=os.urandom(32), digest_size=16)
        self._creds: dict[bytes, CachedCredential] = {}
        self.limit = limit

    def _key(self, header: str) -> bytes:
        h = self._keyed.copy()
        h.update(header.encode())
        return h.digest()

    def get(self, header: str) -> CachedCredential | None:
        """The credential this exact header was verified for, if remembered."""
        return self._creds.get(self._key(header))

    def remember(self, header: str, cred: CachedCredential) -> None:
        """Keep a header that matched `cred`'s digest."""
        if len(self._creds) >= self.limit:
            self._creds.clear()
        self._creds[self._key(header)] = cred

    def forget(self, client_id: str) -> None:
        """Drop every header of a credential."""
        for key in [k for k, cred in self._creds.items() if cred.client_id == client_id]:
            del self._creds[key]

    def clear(self) -> None:
        """Drop everything."""
        self._creds.clear()

    def __len__(self) -> int:
        return len(self._creds)


def new_client_id() -> str:
    """Public half of a credential pair."""
    return "lv_" + secrets.token_hex(12)


def new_client_secret() -> str:
    """Secret half: 256 random bits, shown once."""
    return "lvs_" + secrets.token_urlsafe(32)


def digest(pepper: bytes, secret: str) -> bytes:
    """Keyed digest stored in place of the secret."""
    # The one-shot C function: the same digest as hmac.new(...).digest() without building an HMAC object.
    return hmac.digest(pepper, secret.encode(), "sha256")


def matches(pepper: bytes, secret: str, stored: bytes) -> bool:
    """Constant-time comparison against the stored digest."""
    return hmac.compare_digest(digest(pepper, secret), stored)


def parse_basic(header_value: str) -> tuple[str, str] | None:
    """`Basic base64(id:secret)` -> (id, secret), or None if malformed."""
    scheme, _, encoded = header_value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # ValueError: not base64's alphabet at all (a non-ASCII character)
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id or not secret:
        return None
    return client_id, secret
