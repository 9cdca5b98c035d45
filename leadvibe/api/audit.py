"""The audit log: who did what, when, from where, with which outcome."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import get
from litestar.params import Parameter

from leadvibe.api.bounds import bounded_query
from leadvibe.errors import bad_request
from leadvibe.pipeline.inbox import no_control
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import audit as audit_store
from leadvibe.timeutil import Instant, to_rfc3339


class AuditEntry(msgspec.Struct):
    """One recorded request or login attempt."""

    id: int
    unit_id: str | None
    actor_kind: str
    actor_id: str | None
    user_email: str | None
    method: str
    path: str
    status: int
    ip: str | None
    latency_ms: float
    request_id: str | None
    created_at: Instant | None
    subject: str | None = None  # the name of what the change touched (a credential, a ruleset...), as it was then


class AuditPage(msgspec.Struct):
    """A page of entries."""

    items: list[AuditEntry]
    limit: int
    offset: int


SortBy = Literal["created_at", "user_email", "method", "path", "status", "ip", "latency_ms"]


@get("/admin/audit-logs", opt=access(Role.OWNER, auth="jwt"), operation_id="listAuditLogs", summary="List audit logs",
     tags=["Admin"])
async def list_audit_logs(
    rt: Runtime, tenant: Tenant, principal: Principal,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
    offset: Annotated[int, bounded_query(0)] = 0,
    search: str | None = None,
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] | None = None,
    status_min: Annotated[int | None, bounded_query(100, 599)] = None,
    status_max: Annotated[int | None, bounded_query(100, 599)] = None,
    user_email: str | None = None,
    sort_by: SortBy = "created_at",
    sort_order: Literal["ASC", "DESC", "asc", "desc"] = "DESC",
) -> AuditPage:
    """Entries of the active OU; org admins also see org-level entries (logins, member changes)."""
    if status_min is not None and status_max is not None and status_min > status_max:
        raise bad_request("`status_min` must not be greater than `status_max`")
    if search is not None:
        # SQLite's LIKE pattern ends at a NUL, so `search=%00` matched every entry: refused like other text.
        no_control(search, "search")
    rows = await rt.db.read(lambda c: audit_store.list_entries(
        c, tenant.unit_id, tenant.org_id, include_org_level=principal.is_admin, limit=limit, offset=offset,
        search=search, method=method, status_min=status_min, status_max=status_max, user_email=user_email,
        sort_by=sort_by, sort_order=sort_order))
    items = [AuditEntry(r["id"], r["unit_id"], r["actor_kind"], r["actor_id"], r["user_email"], r["method"],
                        r["path"], r["status"], r["ip"], r["latency_ms"], r["request_id"],
                        to_rfc3339(r["created_at"]), r["subject"]) for r in rows]
    return AuditPage(items, limit, offset)


ROUTES = [list_audit_logs]
