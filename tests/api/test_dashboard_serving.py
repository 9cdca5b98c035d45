"""Serving the bundled dashboard (SEMANTICS.md §10): its page for every /ui path, immutable assets, the
security headers, `/` and `/home` for browsers, and no API path shadowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadvibe.api.dashboard import DASHBOARD_DIR
from tests.conftest import Api

HTML = {"Accept": "text/html,application/xhtml+xml"}


def check_security_headers(headers: dict[str, str] | object) -> None:
    csp = headers["content-security-policy"]  # type: ignore[index]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert headers["referrer-policy"] == "no-referrer"  # type: ignore[index]
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]


@pytest.mark.parametrize("path", ["/ui", "/ui/", "/ui/leads", "/ui/leads/ld_1", "/ui/settings/integrations?x=1",
                                  # paths no file could have: a name too long for the file system, a NUL byte
                                  "/ui/" + "x" * 256, "/ui/leads/" + "y" * 5000, "/ui/a%00b"])
async def test_every_ui_path_answers_the_app_page(api: Api, path: str) -> None:
    r = await api.client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.text == (DASHBOARD_DIR / "index.html").read_text()
    assert r.headers["cache-control"] == "no-cache"
    check_security_headers(r.headers)


async def test_the_page_loads_only_its_own_assets(api: Api) -> None:
    page = (await api.client.get("/ui/")).text
    assert "http://" not in page and "https://" not in page and "<script>" not in page  # no inline script
    scripts = [part.split('"')[0] for part in page.split('src="')[1:]]
    assert scripts and all(s.startswith("/ui/assets/") for s in scripts)
    r = await api.client.get(scripts[0])
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert r.headers["cache-control"] == "max-age=31536000, public, immutable"
    check_security_headers(r.headers)
    # Sent gzipped or not, the file has one validator: a weak one.
    plain = await api.client.get(scripts[0], headers={"Accept-Encoding": "identity"})
    assert plain.headers.get("content-encoding") is None and r.headers.get("content-encoding") == "gzip"
    assert plain.headers["etag"] == r.headers["etag"] and r.headers["etag"].startswith('W/"')
    assert r.headers["vary"] == "Accept-Encoding"


async def test_missing_assets_are_404_not_the_page(api: Api) -> None:
    r = await api.client.get("/ui/assets/no-such-file.js")
    assert r.status_code == 404
    assert r.json() == {"error": r.json()["error"]}


async def test_top_level_build_files_and_no_escape(api: Api) -> None:
    r = await api.client.get("/ui/favicon.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    # A path naming a file outside the build answers the app page, never the file.
    r = await api.client.get("/ui/..%2f..%2fpyproject.toml")
    assert r.status_code in (200, 404) and "[project]" not in r.text
    assert Path(DASHBOARD_DIR / "index.html").is_file()


@pytest.mark.parametrize(("path", "body"), [("/", {"status": "ok"}), ("/home", {"status": "ok", "page": "home"})])
async def test_root_and_home_are_the_app_for_browsers_and_json_otherwise(api: Api, path: str,
                                                                          body: dict[str, str]) -> None:
    r = await api.client.get(path, headers=HTML)
    assert r.status_code == 200 and r.text == (DASHBOARD_DIR / "index.html").read_text()
    check_security_headers(r.headers)
    r = await api.client.get(path)
    assert r.json() == body


async def test_api_paths_are_not_shadowed(api: Api) -> None:
    r = await api.client.get("/leads", headers={**api.headers, **HTML})
    assert r.status_code == 200 and "leads" in r.json()
    r = await api.client.get("/healthz", headers=HTML)
    assert r.json()["status"] == "ok"
