"""An app is freed once its client is done with it and a later app is built: nothing the process keeps (caches
of handlers, hooks) holds on to it, so a process that builds apps one after another (the tests, an embedding)
does not grow with each. (The framework's module-level handlers name the latest app that registered them as
their owner, so the last one lives until the next is built.)"""

from __future__ import annotations

import gc
import tempfile
import weakref
from pathlib import Path

from litestar.testing import TestClient

from leadvibe.app import create_app
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, make_settings


class _Marker:
    """Put in an app's state: it lives exactly as long as the app."""


def _use_an_app(data_dir: Path) -> weakref.ref[_Marker]:
    """Build an app, send it requests that go through the guards and the body checks, close it; a weak reference
    to an object only the app holds."""
    app = create_app(make_settings(data_dir), announce_first_start=False)
    marker = _Marker()
    app.state["lifetime_marker"] = marker
    with TestClient(app=app) as client:
        token = client.post("/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
        event = {"lead_id": "ld_a", "event_type": "demo"}
        assert client.post("/ingest", json=event, headers=headers).status_code == 202
        assert client.post("/rulesets", json={"name": 5}, headers=headers).status_code == 400
        assert client.get("/leads?limit=2&limit=3", headers=headers).status_code == 400
    return weakref.ref(marker)


def test_an_app_is_freed_once_its_client_is_done_and_another_is_built() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        refs = [_use_an_app(Path(tmp) / f"data{i}") for i in range(3)]
    gc.collect()
    assert [ref() is None for ref in refs[:-1]] == [True, True]
