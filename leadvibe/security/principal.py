"""Who is calling (Principal) and in which OU with which role (Tenant)."""

from __future__ import annotations

from dataclasses import dataclass

ROLE_RANK = {"Viewer": 1, "Operator": 2, "Owner": 3}
ROLE_CODES = {"V": "Viewer", "O": "Operator", "W": "Owner"}


@dataclass(slots=True)
class Principal:
    """An authenticated caller: a person (JWT) or an API credential (Basic)."""

    kind: str  # "member" | "credential"
    org_id: str
    member_id: str | None = None
    email: str | None = None
    org_role: str | None = None  # "admin" | "member" for people
    credential_id: str | None = None
    home_unit: str | None = None  # a credential's OU
    jti: str | None = None
    token_expires_at: int | None = None

    @property
    def is_admin(self) -> bool:
        """Org admins act as Owner in every OU of their org."""
        return self.kind == "member" and self.org_role == "admin"

    @property
    def actor_id(self) -> str | None:
        """Member id or credential id (audit, created_by)."""
        return self.member_id if self.kind == "member" else self.credential_id


@dataclass(slots=True)
class Tenant:
    """The active OU of a request and the caller's effective role in it."""

    org_id: str
    unit_id: str
    role: str  # "Owner" | "Operator" | "Viewer"

    def at_least(self, role: str) -> bool:
        """True when the effective role is `role` or higher."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]
