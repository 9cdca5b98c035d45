"""OU memberships (SEMANTICS §1): Operators manage memberships up to Operator; an Owner's membership is changed or
removed only by an Owner or an org admin; nobody grants above their own role."""

from __future__ import annotations

from tests.conftest import Api
from tests.helpers import member_headers, member_id_of


async def test_an_operator_cannot_demote_or_remove_an_owner(api: Api) -> None:
    unit = api.unit
    await member_headers(api, "owner@example.com", "Owner")
    operator = await member_headers(api, "operator@example.com", "Operator")
    owner_id = await member_id_of(api, "owner@example.com")
    path = f"/org-units/{unit}/memberships/{owner_id}"

    r = await api.client.put(path, json={"role": "Viewer"}, headers=operator)
    assert r.status_code == 403 and "Owner" in r.json()["error"]
    r = await api.client.put(path, json={"role": "Operator"}, headers=operator)
    assert r.status_code == 403
    r = await api.client.delete(path, headers=operator)
    assert r.status_code == 403
    # The idempotent assign is no back door: re-assigning an Owner as Operator is a change of an Owner's role.
    r = await api.client.post(f"/org-units/{unit}/memberships", json={"org_member_id": owner_id, "role": "Operator"},
                              headers=operator)
    assert r.status_code == 403
    roles = {m["org_member_id"]: m["role"] for m in (await api.get(f"/org-units/{unit}/memberships")).json()}
    assert roles[owner_id] == "Owner"


async def test_an_operator_manages_memberships_up_to_operator(api: Api) -> None:
    unit = api.unit
    operator = await member_headers(api, "op2@example.com", "Operator")
    await member_headers(api, "viewer@example.com", "Viewer")
    viewer_id = await member_id_of(api, "viewer@example.com")
    path = f"/org-units/{unit}/memberships/{viewer_id}"
    r = await api.client.put(path, json={"role": "Operator"}, headers=operator)
    assert r.status_code == 200 and r.json()["role"] == "Operator"
    r = await api.client.put(path, json={"role": "Owner"}, headers=operator)
    assert r.status_code == 403  # never above its own role
    assert (await api.client.delete(path, headers=operator)).status_code == 204


async def test_owners_and_org_admins_change_an_owners_membership(api: Api) -> None:
    unit = api.unit
    owner = await member_headers(api, "owner-a@example.com", "Owner")
    await member_headers(api, "owner-b@example.com", "Owner")
    other = await member_id_of(api, "owner-b@example.com")
    path = f"/org-units/{unit}/memberships/{other}"
    r = await api.client.put(path, json={"role": "Operator"}, headers=owner)
    assert r.status_code == 200 and r.json()["role"] == "Operator"
    r = await api.put(path, json={"role": "Owner"})  # the org admin
    assert r.status_code == 200
    assert (await api.delete(path)).status_code == 204
