"""SQL for organization members and their OU memberships."""

from __future__ import annotations

from typing import Any

import apsw

from leadvibe.db.rows import query, query_one, scalar
from leadvibe.ids import new_id
from leadvibe.security.passwords import email_key, sign_in_email

MEMBER_COLUMNS = "id, org_id, email, first_name, last_name, role, verified, created_at, updated_at"


def create_member(conn: apsw.Connection, org_id: str, *, email: str, first_name: str, last_name: str, role: str,
                  password_hash: str, now: int) -> dict[str, Any]:
    """Insert a member; the caller checks the email is free."""
    mid = new_id("om")
    conn.execute(
        "INSERT INTO members (id, org_id, email, first_name, last_name, role, password_hash, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?)",
        (mid, org_id, email, first_name, last_name, role, password_hash, now, now))
    return get_member(conn, org_id, mid)  # type: ignore[return-value]


def get_member(conn: apsw.Connection, org_id: str, member_id: str) -> dict[str, Any] | None:
    """A member of the org (no password hash)."""
    return query_one(conn, f"SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = ? AND id = ?", (org_id, member_id))


def _by_email(conn: apsw.Connection, columns: str, email: str, exclude_id: str | None = None) -> dict[str, Any] | None:
    """The member whose address is `email` in any case and Unicode form (`passwords.email_key`). SQLite's NOCASE
    folds ASCII letters only: an address with others is compared here, over the members whose address is not
    ASCII (an instance has tens of members, not thousands)."""
    email = sign_in_email(email)
    row = query_one(conn, f"SELECT {columns} FROM members WHERE email = ? COLLATE NOCASE AND id IS NOT ?",
                    (email, exclude_id))
    if row is not None:
        return row
    key = email_key(email)
    if key.isascii() and not email.isascii():  # `STRASSE@…` is `straße@…` folded: a stored ASCII address
        row = query_one(conn, f"SELECT {columns} FROM members WHERE email = ? COLLATE NOCASE AND id IS NOT ?",
                        (key, exclude_id))
        if row is not None:
            return row
    # Stored addresses that are not ASCII, whatever the one looked up is (`straße@…` is `STRASSE@…` folded).
    for other in query(conn, f"SELECT {columns}, email AS email_ FROM members WHERE email GLOB '*[^ -~]*'"
                             " AND id IS NOT ?", (exclude_id,)):
        if email_key(str(other.pop("email_"))) == key:
            return other
    return None


def member_for_login(conn: apsw.Connection, email: str) -> dict[str, Any] | None:
    """A member by email, including the password hash (login only)."""
    return _by_email(conn, "*", email)


def password_hash_of(conn: apsw.Connection, member_id: str) -> str | None:
    """A member's stored password hash (None when the member is gone)."""
    return scalar(conn, "SELECT password_hash FROM members WHERE id = ?", (member_id,))


def email_taken(conn: apsw.Connection, email: str, exclude_id: str | None = None) -> bool:
    """True if another member uses the email in any case or Unicode form (emails are unique across the
    instance)."""
    return _by_email(conn, "id", email, exclude_id) is not None


def list_members(conn: apsw.Connection, org_id: str) -> list[dict[str, Any]]:
    """Every member of the org."""
    return query(conn, f"SELECT {MEMBER_COLUMNS} FROM members WHERE org_id = ? ORDER BY created_at, id", (org_id,))


def update_member(conn: apsw.Connection, org_id: str, member_id: str, fields: dict[str, Any], now: int) -> None:
    """Update the given columns (names are fixed by the caller, never user input)."""
    allowed = {"first_name", "last_name", "email", "role", "password_hash", "sessions_after", "session_kept"}
    cols = [k for k in fields if k in allowed]
    if not cols:
        return
    sets = ", ".join(f"{c} = ?" for c in cols)
    conn.execute(f"UPDATE members SET {sets}, updated_at = ? WHERE org_id = ? AND id = ?",
                 (*[fields[c] for c in cols], now, org_id, member_id))


def new_password_fields(password_hash: str, now: int, kept_jti: str | None = None) -> dict[str, Any]:
    """The columns a password change writes: the hash, and the end of every session begun before it (but
    `kept_jti`'s, the changer's own)."""
    return {"password_hash": password_hash, "sessions_after": now, "session_kept": kept_jti}


def delete_member(conn: apsw.Connection, org_id: str, member_id: str) -> bool:
    """Delete a member (memberships cascade)."""
    conn.execute("DELETE FROM members WHERE org_id = ? AND id = ?", (org_id, member_id))
    return conn.changes() > 0


def count_admins(conn: apsw.Connection, org_id: str) -> int:
    """How many org admins remain (the last one cannot be removed or demoted)."""
    row = query_one(conn, "SELECT count(*) AS n FROM members WHERE org_id = ? AND role = 'admin'", (org_id,))
    return int(row["n"]) if row else 0


def membership_role(conn: apsw.Connection, unit_id: str, member_id: str) -> str | None:
    """The member's role in the OU, or None."""
    row = query_one(conn, "SELECT role FROM ou_memberships WHERE unit_id = ? AND member_id = ?", (unit_id, member_id))
    return row["role"] if row else None


def remember_active_unit(conn: apsw.Connection, member_id: str, unit_id: str) -> None:
    """The OU a person selected last (POST /org-units/active)."""
    conn.execute("UPDATE members SET active_unit_id = ? WHERE id = ?", (unit_id, member_id))


def member_units(conn: apsw.Connection, member_id: str) -> dict[str, str]:
    """unit_id -> role for every OU the member belongs to."""
    return {r["unit_id"]: r["role"] for r in
            query(conn, "SELECT unit_id, role FROM ou_memberships WHERE member_id = ?", (member_id,))}


def upsert_membership(conn: apsw.Connection, unit_id: str, org_id: str, member_id: str, role: str, now: int) -> None:
    """Assign a member to an OU (idempotent: re-assigning updates the role)."""
    conn.execute(
        "INSERT INTO ou_memberships (unit_id, member_id, org_id, role, created_at, updated_at) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT (unit_id, member_id) DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at",
        (unit_id, member_id, org_id, role, now, now))


def delete_membership(conn: apsw.Connection, unit_id: str, member_id: str) -> bool:
    """Remove a member from an OU."""
    conn.execute("DELETE FROM ou_memberships WHERE unit_id = ? AND member_id = ?", (unit_id, member_id))
    return conn.changes() > 0


def list_memberships(conn: apsw.Connection, unit_id: str) -> list[dict[str, Any]]:
    """Members of an OU with their OU role."""
    return query(conn,
                 "SELECT m.unit_id, m.member_id AS org_member_id, m.role, m.created_at, m.updated_at,"
                 " p.email, p.first_name, p.last_name, p.role AS org_role"
                 " FROM ou_memberships m JOIN members p ON p.id = m.member_id"
                 " WHERE m.unit_id = ? ORDER BY m.created_at, m.member_id", (unit_id,))
