"""A query parameter that takes one value, given twice, is refused by name; a list parameter repeats freely."""

from __future__ import annotations

from tests.conftest import Api


async def test_a_scalar_query_parameter_given_twice_is_refused(api: Api) -> None:
    for path in ("/triggers/milestones/events?lead_id=ld_a&lead_id=ld_b", "/leads?min_score=1&page=1&min_score=2",
                 "/events?limit=5&limit=6"):
        r = await api.get(path)
        assert r.status_code == 400, (path, r.text)
        name = path.split("?")[1].split("&")[-1].split("=")[0]
        assert r.json()["error"] == f"`{name}` was given more than once; it takes one value"
    r = await api.get("/triggers/milestones/events?lead_id=ld_a&limit=5")
    assert r.status_code == 200, r.text


async def test_a_list_query_parameter_repeats(api: Api) -> None:
    r = await api.get("/events?metadata=utm:spring&metadata=plan:pro&limit=5")
    assert r.status_code == 200, r.text


async def test_a_repeated_parameter_is_refused_only_after_authentication(api: Api) -> None:
    r = await api.client.get("/leads?page=1&page=2")
    assert r.status_code == 401
