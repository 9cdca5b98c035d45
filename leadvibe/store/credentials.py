"""SQL for API credentials and revoked session tokens."""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, query_one


def create_credential(conn: apsw.Connection, unit_id: str, org_id: str, *, cred_id: str, name: str, client_id: str,
                      secret_digest: bytes, created_by: str | None, now: int) -> None:
    """Insert a credential; only the digest of the secret is stored."""
    conn.execute(
        "INSERT INTO api_credentials (id, org_id, unit_id, name, client_id, secret_digest, created_by, created_at)"
        " VALUES (?,?,?,?,?,?,?,?)", (cred_id, org_id, unit_id, name, client_id, secret_digest, created_by, now))


def list_credentials(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Credentials of an OU, never the digest."""
    return query(conn, "SELECT id, name, client_id, created_by, created_at, last_used_at FROM api_credentials"
                       " WHERE unit_id = ? ORDER BY created_at, id", (unit_id,))


def credential_by_client_id(conn: apsw.Connection, client_id: str) -> dict[str, Any] | None:
    """A credential with its digest (authentication only)."""
    return query_one(conn, "SELECT id, org_id, unit_id, name, client_id, secret_digest FROM api_credentials"
                           " WHERE client_id = ?", (client_id,))


def delete_credential(conn: apsw.Connection, unit_id: str, cred_id: str) -> str | None:
    """Delete; return its client_id (to drop it from the auth cache) or None if not in this OU."""
    row = query_one(conn, "SELECT client_id FROM api_credentials WHERE unit_id = ? AND id = ?", (unit_id, cred_id))
    if row is None:
        return None
    conn.execute("DELETE FROM api_credentials WHERE unit_id = ? AND id = ?", (unit_id, cred_id))
    return str(row["client_id"])


def revoke_token(conn: apsw.Connection, jti: str, expires_at: int) -> None:
    """Remember a logged-out token until it would have expired anyway."""
    conn.execute("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)", (jti, expires_at))


def live_revocations(conn: apsw.Connection, now: int) -> set[str]:
    """Revoked token ids not yet expired (loaded into memory at start)."""
    return {r["jti"] for r in query(conn, "SELECT jti FROM revoked_tokens WHERE expires_at > ?", (now,))}


def purge_revocations(conn: apsw.Connection, now: int) -> int:
    """Forget revocations of tokens that have expired."""
    conn.execute("DELETE FROM revoked_tokens WHERE expires_at <= ?", (now,))
    return conn.changes()


def record_use(conn: apsw.Connection, cred_id: str, at: int) -> None:
    """Note that a credential authenticated a request at `at` (ms)."""
    conn.execute("UPDATE api_credentials SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?",
                 (at, cred_id))
