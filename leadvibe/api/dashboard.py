"""The bundled dashboard (SEMANTICS.md §10): its page for any `/ui/...` path, its assets under `/ui/assets/`.

The dashboard is a single-page app built from `web/` into `leadvibe/static/dashboard/`. Every `/ui/...` path
answers the app's `index.html` (the app reads the path and shows that screen, so deep links survive a reload),
except files that exist in the build (`/ui/favicon.svg`). Assets have content-hashed names and are cached as
immutable. Every answer carries the security headers below; the app itself loads nothing from another origin.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.response.file import create_etag_for_file
from litestar.static_files import create_static_files_router

from leadvibe.security.guards import PUBLIC
from leadvibe.static_pages import STATIC_DIR, index_html

DASHBOARD_DIR = STATIC_DIR / "dashboard"
TAGS = ["Root"]

# No inline scripts (the build emits none), nothing from other origins, never framed. Styles may be inline:
# components set sizes (bars, progress) through style attributes.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def page_response() -> Response[str]:
    """The dashboard's page with the security headers; revalidated on every load so a new build shows."""
    return Response(index_html(), media_type="text/html",
                    headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def _built_file(path: str) -> Path | None:
    """A file of the build at `path` (never outside the build directory), or None."""
    try:
        candidate = (DASHBOARD_DIR / path.lstrip("/")).resolve()
        found = candidate.is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte: no file of the build
        return None
    if found and candidate.is_relative_to(DASHBOARD_DIR.resolve()) and candidate.name != "index.html":
        return candidate
    return None


@get("/ui", opt=PUBLIC, operation_id="dashboard", summary="The bundled dashboard", tags=TAGS,
     media_type="text/html")
async def dashboard() -> Response[str]:
    """The dashboard's single-page app."""
    return page_response()


@get("/ui/{path:path}", opt=PUBLIC, operation_id="dashboardPage", summary="A page of the bundled dashboard",
     tags=TAGS, media_type="text/html")
async def dashboard_page(path: str) -> Response[Any]:
    """The app's page for any screen path (deep links), or a top-level file of the build such as its icon."""
    found = _built_file(path)
    if found is None:
        return page_response()
    media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    return Response(found.read_bytes(), media_type=media_type,
                    headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"})


def _asset_headers(response: Any) -> Any:
    response.headers.update(SECURITY_HEADERS)
    # The same file goes out gzipped or not (the compression middleware decides after this, and says Vary when it
    # compresses): one validator for both is a weak one (RFC 9110 8.8.1).
    path = getattr(response, "file_path", None)
    if path is not None:  # the file's own validator is set when it is sent, unless one is here already
        st = os.stat(path)
        response.headers["etag"] = "W/" + create_etag_for_file(path, st.st_mtime, st.st_size)
    return response


def _routes() -> list[Any]:
    routes: list[Any] = [dashboard, dashboard_page]
    assets = DASHBOARD_DIR / "assets"
    if assets.is_dir():
        # Hashed file names: a changed file is a new URL, so browsers may keep these for a year.
        routes.append(create_static_files_router(
            path="/ui/assets", directories=[assets], name="dashboard-assets", include_in_schema=False,
            opt=PUBLIC, after_request=_asset_headers,
            cache_control=CacheControlHeader(max_age=31_536_000, public=True, immutable=True)))
    return routes


ROUTES = _routes()
