"""An id holding `/` is reached with the slash encoded (`/leads/crm%2F42`), as `encodeURIComponent` writes it; the
server used to decode it before routing, so such a lead could be created but never read, changed or deleted."""

from __future__ import annotations

from tests.conftest import Api
from tests.helpers import wait_idle


async def test_a_lead_id_with_a_slash_is_reachable_by_its_encoded_id(api: Api) -> None:
    r = await api.post("/leads", json={"id": "crm/42", "metadata": {"plan": "pro"}})
    assert r.status_code == 201, r.text
    creds = await api.credential()
    r = await api.client.post("/ingest", headers=creds, json={"event_type": "page_view", "lead_id": "crm/42"})
    assert r.status_code == 202, r.text

    r = await api.get("/leads/crm%2F42")
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["id"] == "crm/42"
    assert r.json()["lead"]["metadata"] == {"plan": "pro"}
    r = await api.get("/leads/crm%2f42/aliases")  # lower-case escape too
    assert r.status_code == 200, r.text
    r = await api.patch("/leads/crm%2F42/metadata", json={"plan": "team"})
    assert r.status_code == 200, r.text
    assert (await api.get("/leads/crm%2F42")).json()["lead"]["metadata"] == {"plan": "team"}
    r = await api.delete("/leads/crm%2F42")
    assert r.status_code == 202, r.text
    assert r.json()["lead_id"] == "crm/42"


async def test_an_encoded_slash_is_one_segment_not_a_route_of_its_own(api: Api) -> None:
    # `/leads/%2F` is the lead named "/", not the lead list; an unknown id says so.
    r = await api.get("/leads/%2F")
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "lead not found"}
    r = await api.get("/segments/a%2Fb/leads")
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "segment not found"}
    # A path no route has is named as it was sent.
    r = await api.get("/no-such/a%2Fb")
    assert r.status_code == 404, r.text
    assert r.json() == {"error": "no such path: /no-such/a%2Fb"}


async def test_plain_slashes_still_route_as_before(api: Api) -> None:
    assert (await api.get("/leads/crm/42")).status_code == 404
    assert (await api.get("/leads")).status_code == 200
    r = await api.post("/leads", json={"id": "a b"})
    assert r.status_code == 201, r.text
    assert (await api.get("/leads/a%20b")).json()["lead"]["id"] == "a b"


async def test_the_pages_of_such_a_lead_link_to_its_encoded_path(api: Api) -> None:
    creds = await api.credential()
    for lead_id in ("crm/7", "a b"):
        for n in range(2):
            r = await api.client.post("/ingest", headers=creds, json={"event_type": f"t{n}", "lead_id": lead_id})
            assert r.status_code == 202, r.text
    await wait_idle(api)
    for path in ("/leads/crm%2F7/events", "/leads/a%20b/events"):
        r = await api.get(path, params={"limit": 1})
        assert r.status_code == 200, r.text
        assert r.headers["Link"].startswith(f'<{path}?page=1&limit=1>; rel="first"'), r.headers["Link"]
        following = await api.get(r.headers["Link"].split(", ")[1].split(">")[0][1:])
        assert following.status_code == 200, following.text


async def test_an_encoded_slash_does_not_climb_out_of_the_static_files(api: Api) -> None:
    for path in ("/ui/assets/..%2F..%2F..%2Fapp.py", "/ui/assets/%2E%2E%2F%2E%2E%2Fstatic_pages.py",
                 "/schema/assets/..%2F..%2F..%2Fapp.py"):
        r = await api.client.get(path)
        assert r.status_code == 404, path
        assert "import" not in r.text and r.json()["error"], path
