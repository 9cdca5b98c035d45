"""A password change ends the member's sessions (but the changer's own), and a refused request is audited in the
OU it was refused in."""

from __future__ import annotations

from tests.conftest import Api
from tests.helpers import member_headers


async def test_a_password_reset_ends_every_session_the_member_had(api: Api) -> None:
    viewer = await member_headers(api, "reset@example.com", "Viewer")
    assert (await api.client.get("/me", headers=viewer)).status_code == 200
    members = (await api.get("/members")).json()
    member_id = next(m["org_member_id"] for m in members if m["email"] == "reset@example.com")
    r = await api.put(f"/members/{member_id}", json={"password": "a-new-password-9"})
    assert r.status_code == 200, r.text
    refused = await api.client.get("/me", headers=viewer)
    assert refused.status_code == 401 and "password was changed" in refused.json()["error"]
    # Signing in again with the new password works at once; the admin who made the change is still signed in.
    fresh = await api.login("reset@example.com", "a-new-password-9", api.unit)
    assert (await api.client.get("/me", headers=fresh)).status_code == 200
    assert (await api.get("/me")).status_code == 200


async def test_an_admin_changing_their_own_password_keeps_this_session_only(api: Api) -> None:
    me = (await api.get("/me")).json()
    saved = dict(api.headers)
    other = await api.login(me["email"], "admin-password-1", api.unit)  # a second session of the admin
    api.headers = saved
    member_id = me.get("org_member_id") or me.get("id")
    r = await api.put(f"/members/{member_id}", json={"password": "admin-password-2"})
    assert r.status_code == 200, r.text
    assert (await api.get("/me")).status_code == 200
    assert (await api.client.get("/me", headers=other)).status_code == 401


async def test_a_refused_request_is_audited_in_its_ou(api: Api) -> None:
    viewer = await member_headers(api, "refused@example.com", "Viewer")
    r = await api.client.post("/rules", json={"event_type": "viewer_attempt", "weight": 100}, headers=viewer)
    assert r.status_code == 403
    entries = (await api.get("/admin/audit-logs", params={"user_email": "refused@example.com"})).json()["items"]
    refused = [e for e in entries if e["path"] == "/rules"]
    assert [(e["method"], e["status"], e["unit_id"]) for e in refused] == [("POST", 403, api.unit)]
