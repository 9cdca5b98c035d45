"""SQL for integration secrets: per-OU webhook signing secrets, the org's Slack app, per-OU Slack installs and
OAuth states — plus the sealing of those secrets at rest.

Secrets here must be usable again (signing, calling Slack), so they are encrypted rather than hashed: a copy
of
the database file alone (a backup, a support bundle) does not hand out the tokens. The key is derived from the
instance secret in the data directory; see :func:`seal`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

import apsw

from leadvibe.db.rows import query_one

_NONCE = 16
_TAG = 16
_VERSION = b"\x01"
OAUTH_STATE_TTL_MS = 10 * 60 * 1000
ROTATION_OVERLAP_MS = 24 * 3600 * 1000


# ---------------------------------------------------------------------------------------------------- sealing


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    # HMAC-SHA256 as a PRF in counter mode: the standard library has no block cipher, and this construction
    # (encrypt-then-MAC with independent subkeys) is sound for short secrets like tokens.
    out = bytearray()
    counter = 0
    while len(out) < length:
        out.extend(hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest())
        counter += 1
    return bytes(out[:length])


def _subkeys(key: bytes) -> tuple[bytes, bytes]:
    return (
        hmac.new(key, b"seal-encrypt", hashlib.sha256).digest(),
        hmac.new(key, b"seal-authenticate", hashlib.sha256).digest(),
    )


def seal(key: bytes, plaintext: str) -> bytes:
    """Encrypt and authenticate `plaintext` with `key` (32 bytes) -> version | nonce | ciphertext | tag."""
    enc, mac = _subkeys(key)
    nonce = os.urandom(_NONCE)
    data = plaintext.encode()
    ct = bytes(a ^ b for a, b in zip(data, _keystream(enc, nonce, len(data)), strict=True))
    tag = hmac.new(mac, _VERSION + nonce + ct, hashlib.sha256).digest()[:_TAG]
    return _VERSION + nonce + ct + tag


def unseal(key: bytes, blob: bytes) -> str:
    """The plaintext of :func:`seal`; ValueError when the blob was tampered with or has another key."""
    blob = bytes(blob)
    if len(blob) < 1 + _NONCE + _TAG or blob[:1] != _VERSION:
        raise ValueError("sealed secret is malformed")
    enc, mac = _subkeys(key)
    nonce, ct, tag = blob[1 : 1 + _NONCE], blob[1 + _NONCE : -_TAG], blob[-_TAG:]
    if not hmac.compare_digest(tag, hmac.new(mac, _VERSION + nonce + ct, hashlib.sha256).digest()[:_TAG]):
        raise ValueError("sealed secret does not authenticate (wrong instance key?)")
    return bytes(a ^ b for a, b in zip(ct, _keystream(enc, nonce, len(ct)), strict=True)).decode()


# --------------------------------------------------------------------------------------------------- webhooks


def webhook_secret_row(conn: apsw.Connection, unit_id: str) -> dict[str, Any] | None:
    """The OU's sealed webhook secrets."""
    return query_one(conn, "SELECT * FROM webhook_secrets WHERE unit_id = ?", (unit_id,))


def create_webhook_secret(conn: apsw.Connection, unit_id: str, sealed: bytes, now: int) -> None:
    """The OU's first secret (no-op if one appeared meanwhile)."""
    conn.execute(
        "INSERT OR IGNORE INTO webhook_secrets (unit_id, current, created_at) VALUES (?,?,?)",
        (unit_id, sealed, now),
    )


def rotate_webhook_secret(conn: apsw.Connection, unit_id: str, sealed: bytes, now: int) -> None:
    """Make `sealed` current; the old current becomes `previous` (signs too, for 24 h)."""
    conn.execute(
        "UPDATE webhook_secrets SET previous = current, current = ?, rotated_at = ? WHERE unit_id = ?",
        (sealed, now, unit_id),
    )


# -------------------------------------------------------------------------------------------------- Slack app


def slack_app(conn: apsw.Connection, org_id: str) -> dict[str, Any] | None:
    """The org's Slack app credentials (client secret sealed)."""
    return query_one(conn, "SELECT * FROM slack_apps WHERE org_id = ?", (org_id,))


def set_slack_app(
    conn: apsw.Connection, org_id: str, client_id: str, sealed_secret: bytes, actor: str | None, now: int
) -> None:
    """Create or replace the org's Slack app credentials."""
    conn.execute(
        "INSERT INTO slack_apps (org_id, client_id, client_secret, updated_by, updated_at)"
        " VALUES (?,?,?,?,?) ON CONFLICT (org_id) DO UPDATE SET client_id = excluded.client_id,"
        " client_secret = excluded.client_secret, updated_by = excluded.updated_by,"
        " updated_at = excluded.updated_at",
        (org_id, client_id, sealed_secret, actor, now),
    )


# --------------------------------------------------------------------------------------------- Slack installs


def slack_install(conn: apsw.Connection, unit_id: str) -> dict[str, Any] | None:
    """The OU's Slack connection row (token sealed; NULL when not connected)."""
    return query_one(conn, "SELECT * FROM slack_installs WHERE unit_id = ?", (unit_id,))


def save_slack_install(
    conn: apsw.Connection,
    unit_id: str,
    org_id: str,
    *,
    team_id: str | None,
    team_name: str | None,
    bot_user_id: str | None,
    sealed_token: bytes,
    actor: str | None,
    now: int,
) -> None:
    """Store (or replace) the OU's bot token and workspace; a saved default target is kept."""
    conn.execute(
        "INSERT INTO slack_installs (unit_id, org_id, team_id, team_name, bot_user_id, bot_token,"
        " installed_by,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (unit_id) DO UPDATE SET"
        " team_id = excluded.team_id, team_name = excluded.team_name, bot_user_id = excluded.bot_user_id,"
        " bot_token = excluded.bot_token, installed_by = excluded.installed_by,"
        " updated_at = excluded.updated_at",
        (unit_id, org_id, team_id, team_name, bot_user_id, sealed_token, actor, now, now),
    )


def set_slack_target(
    conn: apsw.Connection, unit_id: str, org_id: str, kind: str, target_id: str, now: int
) -> None:
    """The OU's default Slack notification target."""
    conn.execute(
        "INSERT INTO slack_installs (unit_id, org_id, default_target_kind, default_target_id, created_at,"
        " updated_at) VALUES (?,?,?,?,?,?) ON CONFLICT (unit_id) DO UPDATE SET"
        " default_target_kind = excluded.default_target_kind, default_target_id = excluded.default_target_id,"
        " updated_at = excluded.updated_at",
        (unit_id, org_id, kind, target_id, now, now),
    )


def forget_slack_token(conn: apsw.Connection, unit_id: str, sealed_token: bytes, now: int) -> bool:
    """Slack refused the token for good (revoked, expired): the OU is no longer connected, and says so, until it
    installs again; the workspace and default target stay for then. Only that token: one a reinstall stored
    meanwhile is kept."""
    conn.execute("UPDATE slack_installs SET bot_token = NULL, updated_at = ? WHERE unit_id = ? AND bot_token = ?",
                 (now, unit_id, sealed_token))
    return conn.changes() > 0


def delete_slack_install(conn: apsw.Connection, unit_id: str) -> bool:
    """Disconnect: forget the token, workspace and default target."""
    conn.execute("DELETE FROM slack_installs WHERE unit_id = ?", (unit_id,))
    return conn.changes() > 0


# ----------------------------------------------------------------------------------------------- OAuth states


def create_oauth_state(
    conn: apsw.Connection, state: str, unit_id: str, org_id: str, member_id: str | None, now: int
) -> None:
    """A single-use state valid for 10 minutes (expired ones are purged on the way)."""
    conn.execute("DELETE FROM oauth_states WHERE expires_at < ?", (now,))
    conn.execute(
        "INSERT INTO oauth_states (state, unit_id, org_id, member_id, expires_at) VALUES (?,?,?,?,?)",
        (state, unit_id, org_id, member_id, now + OAUTH_STATE_TTL_MS),
    )


def consume_oauth_state(conn: apsw.Connection, state: str, now: int) -> dict[str, Any] | None:
    """Take a state: returns it when it exists and has not expired, and deletes it either way (single use)."""
    row = query_one(conn, "SELECT * FROM oauth_states WHERE state = ?", (state,))
    conn.execute("DELETE FROM oauth_states WHERE state = ?", (state,))
    if row is None or row["expires_at"] < now:
        return None
    return row
