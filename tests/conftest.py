"""Shared fixtures: a real app on a temp data dir, driven through Litestar's async test client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from leadvibe.app import create_app
from leadvibe.config import Settings, load_settings
from leadvibe.timeutil import Clock

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test server: fast login failures, short intervals, nothing from the real env."""
    base = {"data_dir": str(data_dir), "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD,
            "login_delay_ms": 20, "synchronous": "NORMAL", "worker_idle_poll": 0.01}
    base.update(overrides)
    return load_settings(base, env={})


class Api:
    """A test client plus the session of whoever is logged in."""

    def __init__(self, client: AsyncTestClient[Any], app: Any) -> None:
        self.client = client
        self.app = app
        self.headers: dict[str, str] = {}

    @property
    def rt(self) -> Any:
        """The app's Runtime (for injected clocks and direct checks)."""
        return self.app.state.runtime

    async def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD,
                    unit: str | None = "unit_default") -> dict[str, str]:
        """Log in and return headers (Bearer + X-OU-ID) for later calls; also made the default."""
        r = await self.client.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        if unit:
            headers["X-OU-ID"] = unit
        self.headers = headers
        return headers

    async def credential(self, name: str = "test") -> dict[str, str]:
        """Create an API credential in the active OU; return Basic auth headers for it."""
        r = await self.request("POST", "/secrets", json={"name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        token = base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
        return {"Authorization": f"Basic {token}", "X-Secret-Id": body["secret_id"]}

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        """A request with the default session headers unless others are given."""
        return await self.client.request(method, path, headers=headers if headers is not None else self.headers,
                                         **kw)

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, **kw: Any) -> Any:
        return await self.request("POST", path, **kw)

    async def put(self, path: str, **kw: Any) -> Any:
        return await self.request("PUT", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Any:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.request("DELETE", path, **kw)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(settings: Settings, clock: Clock) -> AsyncIterator[Api]:
    """A running app (lifespan included), logged in as the admin with unit_default active."""
    app = create_app(settings, clock=clock, announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        a = Api(client, app)
        await a.login()
        yield a
