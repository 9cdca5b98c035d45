"""OPTIONS lists every method a path answers (`api/head_requests.list_every_method_in_options`)."""

from __future__ import annotations

from tests.conftest import Api


def _allow(header: str) -> set[str]:
    return {m.strip() for m in header.split(",")}


async def test_options_lists_every_method_of_the_path(api: Api) -> None:
    # Each path's handlers come from more than one declaration (list and create, read and change and delete).
    expected = {
        "/leads": {"GET", "HEAD", "POST", "OPTIONS"},
        "/leads/ld_1": {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"},
        "/segments": {"GET", "HEAD", "POST", "OPTIONS"},
        "/segments/sg_1": {"PUT", "DELETE", "OPTIONS"},
        "/triggers/milestones": {"GET", "HEAD", "POST", "OPTIONS"},
        "/ingest/batch": {"POST", "OPTIONS"},
        "/healthz": {"GET", "HEAD", "OPTIONS"},
    }
    for path, methods in expected.items():
        r = await api.client.options(path, headers=api.headers)
        assert r.status_code == 204, path
        assert _allow(r.headers["allow"]) == methods, path


async def test_every_method_options_lists_is_answered(api: Api) -> None:
    r = await api.client.options("/leads", headers=api.headers)
    for method in _allow(r.headers["allow"]) - {"OPTIONS"}:
        answer = await api.client.request(method, "/leads", headers=api.headers)
        assert answer.status_code != 405, method


async def test_a_405_lists_the_same_methods_as_options(api: Api) -> None:
    for path in ("/leads", "/ingest/batch", "/segments/sg_1"):
        options = await api.client.options(path, headers=api.headers)
        refused = await api.client.patch(path, headers=api.headers, json={})
        assert refused.status_code == 405, path
        assert _allow(refused.headers["allow"]) == _allow(options.headers["allow"]), path


async def test_a_public_paths_options_answers_without_credentials(api: Api) -> None:
    r = await api.client.options("/healthz", headers={})
    assert r.status_code == 204 and _allow(r.headers["allow"]) == {"GET", "HEAD", "OPTIONS"}
    # a path of the API still asks who is asking
    assert (await api.client.options("/leads", headers={})).status_code == 401
