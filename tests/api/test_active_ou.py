"""Resolving the active OU (SEMANTICS §1): cookie, X-OU-ID, a credential's home OU, the OU a person last selected,
else their only OU; so the seed guides' Bearer-only curls work on a one-OU install."""

from __future__ import annotations

from tests.conftest import Api
from tests.helpers import member_headers, member_id_of, wait_idle


def bearer_only(api: Api, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {"Authorization": (headers or api.headers)["Authorization"]}


async def test_bearer_only_uses_the_only_ou(api: Api) -> None:
    r = await api.client.post("/ingest", json={"lead_id": "ld_1", "event_type": "page_view"},
                              headers=bearer_only(api))
    assert r.status_code == 202, r.text
    await wait_idle(api)  # an event is listed once the worker has scored it
    r = await api.client.get("/events", headers=bearer_only(api))
    assert r.status_code == 200 and r.json()["total"] == 1


async def test_with_several_ous_the_last_selected_one_is_remembered(api: Api) -> None:
    second = (await api.post("/org-units", json={"name": "Second"})).json()["unit_id"]
    r = await api.client.get("/rulesets", headers=bearer_only(api))
    assert r.status_code == 400 and r.json() == {"error": "active OU not set"}

    r = await api.client.post("/org-units/active", json={"ouId": second}, headers=bearer_only(api))
    assert r.status_code == 200
    api.client.cookies.clear()  # a client that keeps no cookie (curl without -c/-b)
    r = await api.client.post("/rulesets", json={"name": "Only in second"}, headers=bearer_only(api))
    assert r.status_code == 201
    in_second = (await api.client.get("/rulesets", headers={**bearer_only(api), "X-OU-ID": second})).json()
    assert [rs["name"] for rs in in_second] == ["Only in second"]
    # An explicit header still wins over the remembered selection.
    listed = (await api.client.get("/rulesets", headers={**bearer_only(api), "X-OU-ID": "unit_default"})).json()
    assert listed == []


async def test_a_member_with_one_ou_needs_no_selection(api: Api) -> None:
    viewer = await member_headers(api, "solo@example.com", "Viewer")
    assert (await api.client.get("/leads", headers=bearer_only(api, viewer))).status_code == 200


async def test_a_remembered_ou_that_is_no_longer_allowed_is_ignored(api: Api) -> None:
    second = (await api.post("/org-units", json={"name": "Second"})).json()["unit_id"]
    member = await member_headers(api, "mover@example.com", "Viewer")
    member_id = await member_id_of(api, "mover@example.com")
    assert (await api.post(f"/org-units/{second}/memberships",
                           json={"org_member_id": member_id, "role": "Viewer"})).status_code == 200
    assert (await api.client.post("/org-units/active", json={"ouId": second},
                                  headers=bearer_only(api, member))).status_code == 200
    api.client.cookies.clear()
    assert (await api.delete(f"/org-units/{second}/memberships/{member_id}")).status_code == 204
    # Back to one OU: that one is used, never the OU the member lost.
    r = await api.client.get("/leads", headers=bearer_only(api, member))
    assert r.status_code == 200


async def test_a_person_without_any_ou_gets_a_clear_400(api: Api) -> None:
    from tests.helpers import new_member

    await new_member(api, "nowhere@example.com")
    saved = api.headers
    headers = await api.login("nowhere@example.com", "member-password-1", unit=None)
    api.headers = saved
    r = await api.client.get("/leads", headers=headers)
    assert r.status_code == 400 and r.json() == {"error": "active OU not set"}


async def test_renaming_an_ou_answers_it_as_listed_with_the_callers_role(api: Api) -> None:
    r = await api.put("/org-units/unit_default", json={"name": "Renamed"})
    assert r.status_code == 200, r.text
    listed = {u["unit_id"]: u for u in (await api.get("/org-units")).json()["units"]}
    assert r.json() == listed["unit_default"] and r.json()["role"] == "Owner"
    owner = await member_headers(api, "owner@example.com", "Owner")
    r = await api.client.put("/org-units/unit_default", json={"name": "Renamed again"}, headers=owner)
    assert r.status_code == 200 and r.json()["role"] == "Owner" and r.json()["name"] == "Renamed again"


async def test_an_ou_id_with_characters_no_ou_id_has_is_a_400_that_does_not_echo_them(api: Api) -> None:
    token = api.headers["Authorization"]
    for path in ("/leads", "/ingest"):
        method = api.client.get if path == "/leads" else api.client.post
        kw = {} if path == "/leads" else {"json": {"lead_id": "ld_ou", "event_type": "page_view"}}
        for headers, where in (({"Authorization": token, "X-OU-ID": b"unit_\xff"}, "the `X-OU-ID` header"),
                               ({"Authorization": token, "Cookie": "activeOu=%FF%FE"}, "the `activeOu` cookie"),
                               ({"Authorization": token, "X-OU-ID": b"unit_\x01"}, "the `X-OU-ID` header")):
            r = await method(path, headers=headers, **kw)
            assert r.status_code == 400, (path, headers, r.text)
            assert r.json() == {"error": f"{where} must be an OU id (such as unit_default): it holds characters no"
                                         " OU id has"}, path
    await wait_idle(api)
    assert (await api.get("/leads")).json()["total"] == 0
