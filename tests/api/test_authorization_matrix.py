"""The authorization matrix, generated from the routes: every operation's declared access (`handler.opt`) against
ENDPOINTS.md's auth/OU/role columns, then every operation called as anonymous, Viewer, Operator, Owner, org admin,
API credential and a member of another OU, each answer checked against what the declaration promises.

A route missing from the table below fails, so a new endpoint cannot ship without its role being decided here
(copy its row from ENDPOINTS.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from leadvibe.security.guards import required_role
from leadvibe.security.principal import Role
from tests.conftest import Api
from tests.helpers import member_headers, new_member

# ENDPOINTS.md, one row per method: "METHOD path auth ou role". role: V, O, W (Owner), A (org admin), - (any
# authenticated caller, or public when auth is none); "@path" = checked in the OU named by the path, not the
# active one.
ENDPOINTS = [
    "GET /metrics none no -",
    "GET / none no -",
    "GET /home none no -",
    "GET /healthz none no -",
    "GET /ui none no -",
    "GET /ui/{} none no -",
    "GET /ui/assets/{} none no -",
    "GET /schema none no -",
    "POST /auth/login none no -",
    "POST /auth/logout jwt no -",
    "POST /auth/cleanup none no -",
    "GET /me jwt no -",
    "GET /me/rate-limit jwt no -",
    "GET /org-units jwt no -",
    "POST /org-units jwt no A",
    "PUT /org-units/{} jwt no W@path",
    "POST /org-units/active any no -",
    "GET /members jwt no -",
    "POST /members jwt no A",
    "PUT /members/{} jwt no A",
    "DELETE /members/{} jwt no A",
    "GET /org-units/{}/memberships jwt no V@path",
    "POST /org-units/{}/memberships jwt no O@path",
    "PUT /org-units/{}/memberships/{} jwt no O@path",
    "DELETE /org-units/{}/memberships/{} jwt no O@path",
    "GET /secrets jwt yes W",
    "POST /secrets jwt yes W",
    "DELETE /secrets/{} jwt yes W",
    "POST /ingest any yes O",
    "POST /ingest/batch any yes O",
    "POST /import any yes O",
    "GET /event-types any yes V",
    "GET /event-types/{}/properties any yes V",
    "DELETE /events/batch any yes O",
    "GET /events any yes V",
    "GET /events/export any yes V",
    "GET /events/{}/explanation any yes V",
    "GET /channels any yes V",
    "GET /leads/{}/events any yes V",
    "GET /leads/{}/activity any yes V",
    "POST /orders any yes O",
    "GET /stream any yes V",
    "GET /analytics any yes V",
    "GET /analytics/stats any yes V",
    "GET /analytics/top-leads any yes V",
    "GET /analytics/score-gains any yes V",
    "GET /usage jwt yes V",
    "GET /surge/{}/metrics jwt no V@path",
    "GET /leads any yes V",
    "POST /leads any yes O",
    "POST /leads/scores any yes V",
    "GET /leads/search any yes V",
    "POST /leads/merge any yes O",
    "GET /leads/{} any yes V",
    "PUT /leads/{} any yes O",
    "DELETE /leads/{} any yes O",
    "GET /leads/{}/deletion any yes V",
    "PATCH /leads/{}/metadata any yes O",
    "GET /leads/{}/aliases any yes V",
    "GET /leads/{}/profile any yes V",
    "GET /leads/{}/account any yes V",
    "GET /leads/{}/score any yes V",
    "GET /leads/{}/explanation any yes V",
    "GET /rulesets any yes V",
    "POST /rulesets any yes O",
    "PUT /rulesets/{} any yes O",
    "DELETE /rulesets/{} any yes O",
    "GET /rulesets/{}/rules any yes V",
    "POST /rulesets/{}/rescore any yes O",
    "POST /rulesets/{}/backtest any yes V",
    "GET /rules any yes V",
    "POST /rules any yes O",
    "PUT /rules/{} any yes O",
    "DELETE /rules/{} any yes O",
    "GET /decays any yes V",
    "POST /decays any yes O",
    "PUT /decays/{} any yes O",
    "DELETE /decays/{} any yes O",
    "GET /filters any yes V",
    "POST /filters any yes O",
    "PUT /filters/{} any yes O",
    "DELETE /filters/{} any yes O",
    "GET /levels/engagement any yes V",
    "POST /levels/engagement any yes O",
    "PUT /levels/engagement/{} any yes O",
    "DELETE /levels/engagement/{} any yes O",
    "GET /levels/profile any yes V",
    "POST /levels/profile any yes O",
    "PUT /levels/profile/{} any yes O",
    "DELETE /levels/profile/{} any yes O",
    "GET /levels/account any yes V",
    "POST /levels/account any yes O",
    "PUT /levels/account/{} any yes O",
    "DELETE /levels/account/{} any yes O",
    "GET /settings/scoring any yes V",
    "PUT /settings/scoring any yes O",
    "GET /settings/ou/surge-policy jwt yes V",
    "PUT /settings/ou/surge-policy jwt yes O",
    "GET /surge-triggers jwt yes V",
    "POST /surge-triggers jwt yes O",
    "PUT /surge-triggers/{} jwt yes O",
    "DELETE /surge-triggers/{} jwt yes O",
    "GET /surge-events jwt yes V",
    "GET /profile/mappings any yes V",
    "POST /profile/mappings any yes O",
    "PUT /profile/mappings/{} any yes O",
    "DELETE /profile/mappings/{} any yes O",
    "GET /profile/rulesets any yes V",
    "POST /profile/rulesets any yes O",
    "PUT /profile/rulesets/{} any yes O",
    "DELETE /profile/rulesets/{} any yes O",
    "GET /profile/rulesets/{}/rules any yes V",
    "POST /profile/rulesets/{}/rules any yes O",
    "PUT /profile/rulesets/{}/rules/{} any yes O",
    "DELETE /profile/rulesets/{}/rules/{} any yes O",
    "GET /profile/properties any yes V",
    "GET /segments any yes V",
    "POST /segments any yes O",
    "PUT /segments/{} any yes O",
    "DELETE /segments/{} any yes O",
    "GET /segments/{}/count any yes V",
    "GET /segments/{}/leads any yes V",
    "GET /segments/{}/rules any yes V",
    "POST /segments/{}/rules any yes O",
    "PUT /segments/{}/rules/{} any yes O",
    "DELETE /segments/{}/rules/{} any yes O",
    "GET /triggers/patterns any yes V",
    "POST /triggers/patterns any yes O",
    "PUT /triggers/patterns/{} any yes O",
    "DELETE /triggers/patterns/{} any yes O",
    "GET /triggers/milestones any yes V",
    "POST /triggers/milestones any yes O",
    "PUT /triggers/milestones/{} any yes O",
    "DELETE /triggers/milestones/{} any yes O",
    "POST /triggers/milestones/{}/simulate any yes V",
    "GET /triggers/milestones/events any yes V",
    "GET /triggers/milestones/events/export any yes V",
    "GET /triggers/sequences any yes V",
    "POST /triggers/sequences any yes O",
    "PUT /triggers/sequences/{} any yes O",
    "DELETE /triggers/sequences/{} any yes O",
    "POST /triggers/sequences/{}/simulate any yes V",
    "GET /triggers/sequences/events any yes V",
    "GET /triggers/sequences/events/export any yes V",
    "GET /deliveries any yes V",
    "POST /deliveries/{}/retry any yes O",
    "GET /accounts any yes V",
    "POST /accounts/batch-delete any yes O",
    "GET /accounts/{} any yes V",
    "GET /accounts/rulesets any yes V",
    "POST /accounts/rulesets any yes O",
    "PUT /accounts/rulesets/{} any yes O",
    "DELETE /accounts/rulesets/{} any yes O",
    "GET /accounts/rulesets/{}/rules any yes V",
    "POST /accounts/rulesets/{}/rules any yes O",
    "PUT /accounts/rulesets/{}/rules/{} any yes O",
    "DELETE /accounts/rulesets/{}/rules/{} any yes O",
    "GET /accounts/properties any yes V",
    "GET /accounts/mappings any yes V",
    "POST /accounts/mappings any yes O",
    "PUT /accounts/mappings/{} any yes O",
    "DELETE /accounts/mappings/{} any yes O",
    "GET /settings/slack-app jwt no A",
    "PUT /settings/slack-app jwt no A",
    "GET /settings/event-types jwt yes V",
    "PUT /settings/event-types/{} jwt yes O",
    "GET /settings/event-types/{}/delete-preview jwt yes O",
    "DELETE /settings/event-types/{} jwt yes O",
    "GET /settings/webhooks jwt yes W",
    "POST /settings/webhooks/rotate jwt yes W",
    "GET /settings/slack jwt yes V",
    "GET /settings/slack/install jwt yes O",
    "POST /settings/slack/install jwt yes O",
    "GET /settings/slack/callback none no -",
    "DELETE /settings/slack jwt yes O",
    "GET /settings/slack/channels jwt yes V",
    "GET /settings/slack/users jwt yes V",
    "PUT /settings/slack/target jwt yes O",
    "POST /settings/slack/test jwt yes O",
    "POST /admin/backfill/accounts jwt yes W",
    "POST /admin/backfill/event-accounts jwt yes W",
    "POST /admin/profile-mappings/apply any yes W",
    "POST /admin/seed jwt yes W",
    "POST /admin/wipe jwt yes W",
    "GET /admin/audit-logs jwt yes W",
]

# Operations whose declaration is checked but which are not called here: each would outlive or disturb the call
# (an SSE stream never ends; logout revokes the caller's token; seeding writes a demo data set).
NOT_CALLED = {("GET", "/stream"), ("POST", "/auth/logout"), ("POST", "/admin/seed")}

GUARD_DENIALS = re.compile(
    r"^(authentication required|this endpoint needs a user session token|this action needs|you are not a member"
    r"|this API credential may only act|org unit not found)")

CALLERS = ["anonymous", "viewer", "operator", "owner", "admin", "credential", "other_ou"]
RANK = {"viewer": 1, "operator": 2, "owner": 3, "admin": 4}
NEEDED = {"V": 1, "O": 2, "W": 3}


@dataclass(frozen=True)
class Declared:
    auth: str
    ou: bool
    role: str  # V, O, W, A or -
    path_ou: bool


def _key(method: str, path: str) -> tuple[str, str]:
    return method, re.sub(r"\{[^}]+\}", "{}", path)


def _table() -> dict[tuple[str, str], Declared]:
    out = {}
    for row in ENDPOINTS:
        method, path, auth, ou, role = row.split()
        out[_key(method, path)] = Declared(auth, ou == "yes", role.split("@")[0], role.endswith("@path"))
    return out


def _declared(handler: Any, method: str) -> Declared:
    opt = handler.opt
    auth = opt.get("auth", "any")
    if auth == "none":
        return Declared("none", False, "-", False)
    need = required_role(opt, method)
    code = {None: "-", Role.VIEWER: "V", Role.OPERATOR: "O", Role.OWNER: "W", Role.ORG_ADMIN: "A"}[need]
    return Declared(auth, bool(opt.get("ou", True)), code, bool(opt.get("path_ou")))


def _operations(api: Api) -> list[tuple[str, str, Any]]:
    ops = []
    for route in api.app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in sorted(getattr(handler, "http_methods", [])):
                if method in ("HEAD", "OPTIONS"):
                    continue
                if route.path.startswith("/schema"):  # the OpenAPI document and its UI are public
                    assert handler.opt.get("auth", "none") == "none" or "auth" not in handler.opt
                    continue
                ops.append((method, route.path, handler))
    return ops


def test_every_route_is_declared_as_endpoints_md_says(api: Api) -> None:
    table = _table()
    undeclared, wrong = [], []
    for method, path, handler in _operations(api):
        expected = table.get(_key(method, path))
        if expected is None:
            undeclared.append(f"{method} {path}")
        elif _declared(handler, method) != expected:
            wrong.append(f"{method} {path}: declared {_declared(handler, method)}, ENDPOINTS.md {expected}")
    assert undeclared == [], "routes missing from the table (add their ENDPOINTS.md rows)"
    assert wrong == []


def _allowed(caller: str, d: Declared) -> bool:
    if d.auth == "none":
        return True
    if caller == "anonymous":
        return False
    if caller == "credential":
        return d.auth == "any" and d.role in ("-", "V", "O") and not d.path_ou
    if d.role == "A":
        return caller == "admin"
    if caller == "other_ou":
        return d.role == "-" and not d.ou and not d.path_ou
    return d.role == "-" or RANK[caller] >= NEEDED[d.role]


def _concrete(path: str) -> str:
    path = re.sub(r"\{(unit_id|ou_id)(:str)?\}", "unit_default", path)
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture
async def callers(api: Api) -> dict[str, dict[str, str]]:
    elsewhere = (await api.post("/org-units", json={"name": "Elsewhere"})).json()["unit_id"]
    outsider = await member_headers(api, "outsider@example.com", "Owner", unit_id=elsewhere)
    credential = await api.credential("matrix")
    credential.pop("X-Secret-Id")
    return {
        "anonymous": {},
        "viewer": await member_headers(api, "viewer@example.com", "Viewer"),
        "operator": await member_headers(api, "operator@example.com", "Operator"),
        "owner": await member_headers(api, "owner@example.com", "Owner"),
        "admin": dict(api.headers),
        "credential": credential,
        "other_ou": {**outsider, "X-OU-ID": "unit_default"},
    }


async def test_every_operation_answers_every_kind_of_caller_as_declared(
        api: Api, callers: dict[str, dict[str, str]]) -> None:
    assert await new_member(api, "spare@example.com")  # a member id exists for member routes to refuse or 404
    surprises = []
    for method, path, handler in _operations(api):
        if (method, path) in NOT_CALLED or _key(method, path) in {_key(*k) for k in NOT_CALLED}:
            continue
        declared = _declared(handler, method)
        for caller in CALLERS:
            kw: dict[str, Any] = {"headers": callers[caller]}
            if method in ("POST", "PUT", "PATCH"):
                kw["json"] = {}
            r = await api.client.request(method, _concrete(path), **kw)
            denied = r.status_code in (401, 403, 404) and bool(GUARD_DENIALS.match(_error(r)))
            if caller == "anonymous" and declared.auth != "none":
                denied = denied and r.status_code == 401
            if denied == _allowed(caller, declared) or r.status_code >= 500:
                surprises.append(f"{caller:10} {method} {path}: {r.status_code} {_error(r)[:80]}")
    assert surprises == []


def _error(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
