"""Role declarations: the enum's order and the strict defaults of the guard."""

from __future__ import annotations

from leadvibe.api import all_routes
from leadvibe.security.guards import access, required_role
from leadvibe.security.principal import Role


def test_roles_are_ordered() -> None:
    assert Role.OWNER.covers(Role.OPERATOR) and Role.OPERATOR.covers(Role.VIEWER)
    assert not Role.VIEWER.covers(Role.OPERATOR)
    assert Role.ORG_ADMIN.covers(Role.OWNER)
    assert Role("Operator") is Role.OPERATOR


def test_undeclared_role_is_viewer_for_reads_and_operator_for_writes() -> None:
    bare = {"auth": "any", "ou": True}
    assert required_role(bare, "GET") is Role.VIEWER
    assert required_role(bare, "HEAD") is Role.VIEWER
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert required_role(bare, method) is Role.OPERATOR
    assert required_role(access(None, ou=False), "POST") is None
    assert required_role(access(Role.OWNER), "GET") is Role.OWNER


def test_every_route_declares_its_access_with_the_enum() -> None:
    for handler in all_routes():
        opt = getattr(handler, "opt", None)
        if opt is None or "auth" not in opt:
            continue
        role = opt.get("role")
        assert role is None or isinstance(role, Role), (handler, role)
