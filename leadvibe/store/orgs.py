"""SQL for organizations and org units."""

from __future__ import annotations

import re
from typing import Any

import apsw

from leadvibe.db.rows import query, query_one
from leadvibe.ids import new_id


def slugify(name: str) -> str:
    """`"EMEA Sales!"` -> `emea-sales`."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "unit"


def create_organization(conn: apsw.Connection, name: str, now: int) -> str:
    """Insert an organization; return its id."""
    org_id = new_id("org")
    conn.execute("INSERT INTO organizations (id, name, slug, created_at, updated_at) VALUES (?,?,?,?,?)",
                 (org_id, name, slugify(name), now, now))
    return org_id


def get_organization(conn: apsw.Connection, org_id: str) -> dict[str, Any] | None:
    """One organization row."""
    return query_one(conn, "SELECT * FROM organizations WHERE id = ?", (org_id,))


def any_organization(conn: apsw.Connection) -> dict[str, Any] | None:
    """The first organization (first-start check)."""
    return query_one(conn, "SELECT * FROM organizations ORDER BY created_at LIMIT 1")


def update_org_toggles(conn: apsw.Connection, org_id: str, *, allow_negative_scores: bool | None,
                       abm_enabled: bool | None, now: int) -> None:
    """Organization-wide scoring toggles. Setting ABM makes it the admin's: removing sample data no longer turns
    it back off."""
    if allow_negative_scores is not None:
        conn.execute("UPDATE organizations SET allow_negative_scores = ?, updated_at = ? WHERE id = ?",
                     (int(allow_negative_scores), now, org_id))
    if abm_enabled is not None:
        conn.execute("UPDATE organizations SET abm_enabled = ?, abm_sample_unit = NULL, updated_at = ? WHERE id = ?",
                     (int(abm_enabled), now, org_id))


def _unique_slug(conn: apsw.Connection, org_id: str, name: str, exclude: str | None = None) -> str:
    base = slugify(name)
    slug, n = base, 2
    while query_one(conn, "SELECT id FROM org_units WHERE org_id = ? AND slug = ? AND id IS NOT ?",
                    (org_id, slug, exclude)):
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_unit(conn: apsw.Connection, org_id: str, name: str, now: int, unit_id: str | None = None) -> dict[str, Any]:
    """Insert an OU (slug unique within the org)."""
    uid = unit_id or new_id("unit")
    slug = _unique_slug(conn, org_id, name)
    conn.execute("INSERT INTO org_units (id, org_id, name, slug, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                 (uid, org_id, name, slug, now, now))
    return get_unit(conn, org_id, uid)  # type: ignore[return-value]


def get_unit(conn: apsw.Connection, org_id: str, unit_id: str) -> dict[str, Any] | None:
    """One OU of the organization."""
    return query_one(conn, "SELECT * FROM org_units WHERE org_id = ? AND id = ?", (org_id, unit_id))


def any_unit(conn: apsw.Connection, unit_id: str) -> dict[str, Any] | None:
    """An OU by id whatever its organization (the command line names OUs directly)."""
    return query_one(conn, "SELECT id, org_id, name FROM org_units WHERE id = ?", (unit_id,))


def rename_unit(conn: apsw.Connection, org_id: str, unit_id: str, name: str, now: int) -> dict[str, Any] | None:
    """Rename an OU (and re-slug it)."""
    slug = _unique_slug(conn, org_id, name, exclude=unit_id)
    conn.execute("UPDATE org_units SET name = ?, slug = ?, updated_at = ? WHERE org_id = ? AND id = ?",
                 (name, slug, now, org_id, unit_id))
    return get_unit(conn, org_id, unit_id)


def list_units(conn: apsw.Connection, org_id: str) -> list[dict[str, Any]]:
    """Every OU of the organization."""
    return query(conn, "SELECT * FROM org_units WHERE org_id = ? ORDER BY created_at, id", (org_id,))


def set_session_timeout(conn: apsw.Connection, unit_id: str, minutes: int, now: int) -> None:
    """Per-OU session idle timeout (scoring settings)."""
    conn.execute("UPDATE org_units SET session_timeout_minutes = ?, updated_at = ? WHERE id = ?",
                 (minutes, now, unit_id))
