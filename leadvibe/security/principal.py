"""Who is calling (Principal) and in which OU with which role (Tenant)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What a caller may do. The OU roles are stored and sent by their value; `ORG_ADMIN` is the org-wide role
    (an org admin acts as Owner in every OU) and only ever appears as a requirement."""

    VIEWER = "Viewer"
    OPERATOR = "Operator"
    OWNER = "Owner"
    ORG_ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Order of power: Viewer < Operator < Owner < org admin."""
        return _RANK[self]

    def covers(self, other: Role) -> bool:
        """True when this role may do what `other` may."""
        return self.rank >= other.rank


_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.OWNER: 3, Role.ORG_ADMIN: 4}
OU_ROLES = (Role.VIEWER, Role.OPERATOR, Role.OWNER)


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
    role: Role  # an OU role: Owner, Operator or Viewer

    def at_least(self, role: Role) -> bool:
        """True when the effective role is `role` or higher."""
        return self.role.covers(role)
