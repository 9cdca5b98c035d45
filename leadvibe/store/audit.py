"""SQL for the audit log."""

from __future__ import annotations

import re
from typing import Any

import apsw

from leadvibe.db.rows import query, scalar

SORTABLE = ("created_at", "user_email", "method", "path", "status", "ip", "latency_ms")


def record_many(conn: apsw.Connection, entries: list[tuple[Any, ...]]) -> None:
    """Append entries: (org_id, unit_id, actor_kind, actor_id, user_email, method, path, status, ip, latency_ms,
    request_id, created_at, subject)."""
    conn.executemany(
        "INSERT INTO audit_logs (org_id, unit_id, actor_kind, actor_id, user_email, method, path, status, ip,"
        " latency_ms, request_id, created_at, subject) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", entries)


# A path naming one object by its id (the id is the last group), and where that object's name is read.
_SUBJECTS: list[tuple[re.Pattern[str], str]] = [(re.compile(pattern), sql) for pattern, sql in (
    (r"^/secrets/([^/]+)/?$", "SELECT name FROM api_credentials WHERE id = ?"),
    (r"^/rulesets/([^/]+)(?:/[a-z]+)?/?$", "SELECT name FROM rulesets WHERE id = ?"),
    (r"^/(?:profile|accounts)/rulesets/([^/]+)(?:/[a-z]+)?/?$", "SELECT name FROM fit_rulesets WHERE id = ?"),
    (r"^/segments/([^/]+)(?:/rules)?/?$", "SELECT name FROM segments WHERE id = ?"),
    (r"^/triggers/[a-z]+s/([^/]+)(?:/simulate)?/?$", "SELECT name FROM triggers WHERE id = ?"),
    (r"^/levels/[a-z]+/([^/]+)/?$", "SELECT name FROM levels WHERE id = ?"),
    (r"^/members/([^/]+)/?$", "SELECT email FROM members WHERE id = ?"),
    (r"^/org-units/([^/]+)/?$", "SELECT name FROM org_units WHERE id = ?"),
)]


def subject_name(conn: apsw.Connection, path: str) -> str | None:
    """The name of the object `path` names by its id, as it is now (None: no such path, or no such object)."""
    for pattern, sql in _SUBJECTS:
        found = pattern.match(path)
        if found:
            name = scalar(conn, sql, (found.group(1),))
            return str(name) if name else None
    return None


def names_a_subject(path: str) -> bool:
    """Whether `path` names one object whose name an audit entry keeps (a read is worth making first)."""
    return any(pattern.match(path) for pattern, _ in _SUBJECTS)


def list_entries(conn: apsw.Connection, unit_id: str, org_id: str, *, include_org_level: bool, limit: int,
                 offset: int, search: str | None, method: str | None, status_min: int | None,
                 status_max: int | None, user_email: str | None, sort_by: str,
                 sort_order: str) -> list[dict[str, Any]]:
    """Entries of one OU (plus org-level ones such as logins for org admins), filtered and sorted.

    A failed login for an unknown email belongs to no organization; there is one organization per instance,
    so its admins see those too."""
    org_level = " OR (unit_id IS NULL AND (org_id = ? OR org_id IS NULL)))" if include_org_level else ")"
    where = ["(unit_id = ?" + org_level]
    params: list[Any] = [unit_id] + ([org_id] if include_org_level else [])
    if search:
        where.append("(user_email LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\' OR ip LIKE ? ESCAPE '\\')")
        pat = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pat, pat, pat]
    if method:
        where.append("method = ?")
        params.append(method)
    if status_min is not None:
        where.append("status >= ?")
        params.append(status_min)
    if status_max is not None:
        where.append("status <= ?")
        params.append(status_max)
    if user_email:
        where.append("user_email = ? COLLATE NOCASE")
        params.append(user_email)
    column = sort_by if sort_by in SORTABLE else "created_at"
    order = "ASC" if sort_order.upper() == "ASC" else "DESC"
    sql = (f"SELECT id, org_id, unit_id, actor_kind, actor_id, user_email, method, path, status, ip, latency_ms,"
           f" request_id, created_at, subject FROM audit_logs WHERE {' AND '.join(where)}"
           f" ORDER BY {column} {order}, id {order} LIMIT ? OFFSET ?")
    return query(conn, sql, (*params, limit, offset))
