"""Shared fixtures: a real app on a temp data dir, driven through Litestar's async test client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from leadvibe import gc_policy
from leadvibe.app import create_app
from leadvibe.config import Settings, load_settings
from leadvibe.db.rows import triggers_suspended
from leadvibe.pipeline.worker import Worker
from leadvibe.timeutil import Clock

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def pytest_collection_finish(session: pytest.Session) -> None:
    """The collector set as a server sets it once started (leadvibe/gc_policy.py): what importing the tests
    built is frozen, and the young generation is larger. With the interpreter's defaults the test processes spent
    about a sixth of their time in full collections over the apps, hypothesis and the framework."""
    gc_policy.settle_after_start_up()


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test server: fast login failures, short intervals, nothing from the real env."""
    base = {"data_dir": str(data_dir), "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD,
            "login_delay_ms": 20, "synchronous": "NORMAL", "worker_idle_poll": 0.01,
            "worker_process": False}
    base.update(overrides)
    return load_settings(base, env={})


class Api:
    """A test client plus the session of whoever is logged in."""

    def __init__(self, client: AsyncTestClient[Any], app: Any) -> None:
        self.client = client
        self.app = app
        self.headers: dict[str, str] = {}
        self.unit = "unit_default"

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

    async def login_as_admin(self) -> dict[str, str]:
        """The admin's session without a password round trip (a token issued by the app's own key)."""
        rt = self.rt
        row = await rt.db.read(lambda c: c.execute(
            "SELECT id, org_id FROM members WHERE email = ?", (ADMIN_EMAIL,)).fetchone())
        token, _, _ = rt.tokens.issue(row[0], row[1], Clock().now_ms())
        self.headers = {"Authorization": f"Bearer {token}", "X-OU-ID": self.unit}
        return self.headers

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
    """The domain clock of the test's app. A module that overrides this fixture (with a `ManualClock`) gets that
    clock installed in the shared app for the duration of each of its tests."""
    return Clock()


class SharedApp:
    """One running app per test worker. Each test starts from a fresh `unit_default`: the fixture empties every
    OU-scoped table and puts back the rows first start created, which costs milliseconds where building an app,
    migrating and logging in cost a second."""

    def __init__(self, client: AsyncTestClient[Any], app: Any) -> None:
        self.client = client
        self.app = app
        self.rt = app.state.runtime
        self.first_rows: dict[str, list[tuple[Any, ...]]] = {}
        self.emptied_tables: list[str] = []

    def remember_first_start(self) -> None:
        """Keep the rows a first start creates; every other table (OU-scoped ones, and those keyed by a lead's
        rowid, which a later test's leads would reuse) is emptied between tests, except the worker's mark in the
        inbox file (the rows behind it stay handled)."""
        def run(c: Any) -> None:
            for table in ("organizations", "org_units", "members", "ou_memberships"):
                self.first_rows[table] = c.execute(f"SELECT * FROM {table}").fetchall()
            # A full-text table is emptied through itself: its shadow tables are its own business.
            tables = [r[0] for r in c.execute("SELECT name FROM pragma_table_list WHERE schema = 'main'"
                                               " AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite_%'")]
            self.emptied_tables = [t for t in tables if t not in self.first_rows
                                   and t not in ("schema_migrations", "inbox_progress")]
        self.rt.db.read_blocking(run)

    async def reset(self) -> None:
        """Back to the first-start state: scoring settled, every OU's rows gone, org rows as first created."""
        rt = self.rt
        if rt.worker is not None:
            await asyncio.wait_for(rt.worker.wait_idle(), 30)

        def run(c: Any) -> list[str]:
            units = [r[0] for r in c.execute("SELECT id FROM org_units")]
            c.execute("PRAGMA foreign_keys=OFF")
            try:
                c.execute("BEGIN IMMEDIATE")
                # Without the triggers: a delete's triggers would write into tables already emptied (the hourly
                # totals take the negative of every deleted score row), leaking into the next test.
                with triggers_suspended(c):
                    for table in [*self.emptied_tables, *self.first_rows]:
                        c.execute(f"DELETE FROM {table}")
                for table, rows in self.first_rows.items():
                    for row in rows:
                        c.execute(f"INSERT INTO {table} VALUES ({','.join('?' * len(row))})", row)
                c.execute("COMMIT")
            finally:
                c.execute("PRAGMA foreign_keys=ON")
            # What the worker holds between batches (a lead's state, a filter's window) is checked against the
            # writes that move its marks; these deletes, without their triggers, move none of them.
            worker = rt.worker
            if isinstance(worker, Worker):
                worker.filter_windows.clear()
                worker.lead_cache.clear()
            return units

        units = await rt.db.write(run, transaction=False)
        await rt.inbox_db.write(lambda c: c.execute("DELETE FROM idempotency_keys"))
        self.client.cookies.clear()
        rt.credentials.clear()
        rt.verified_basic.clear()
        rt.login_throttle.clear()
        rt.scoring_config.invalidate()
        rt.fit.invalidate()
        for unit in units:
            rt.invalidate_triggers(unit)


async def _shared(tmp_path_factory: pytest.TempPathFactory, **create: Any) -> AsyncIterator[SharedApp]:
    app = create_app(make_settings(tmp_path_factory.mktemp("shared") / "data"), announce_first_start=False, **create)
    async with AsyncTestClient(app=app) as client:
        shared = SharedApp(client, app)
        shared.remember_first_start()
        yield shared


@pytest.fixture(scope="session")
async def shared_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SharedApp]:
    """The worker's app (lifespan included), on its own data directory."""
    async for shared in _shared(tmp_path_factory):
        yield shared


@pytest.fixture(scope="session")
async def shared_framework_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SharedApp]:
    """A second shared app that answers the two ingestion POSTs through the framework's handlers instead of the
    lean path (`create_app(lean_ingest=False)`): the ingestion tests run against both."""
    async for shared in _shared(tmp_path_factory, lean_ingest=False):
        yield shared


def _overridden(request: pytest.FixtureRequest, name: str) -> bool:
    """True when a test module (or class) defines its own fixture `name` over this file's."""
    return len(request._fixturemanager.getfixturedefs(name, request.node) or ()) > 1


@pytest.fixture
async def api(request: pytest.FixtureRequest, shared_app: SharedApp, clock: Clock) -> AsyncIterator[Api]:
    """The worker's running app, logged in as the admin with unit_default active; `unit_default` is fresh for
    every test. A module's own `clock` is installed for the test; a module's own `settings` gets an app of its
    own (settings cannot change under a running app)."""
    if _overridden(request, "settings"):
        app = create_app(request.getfixturevalue("settings"), clock=clock, announce_first_start=False)
        async with AsyncTestClient(app=app) as client:
            own = Api(client, app)
            await own.login()
            yield own
        return
    async for a in on_shared(shared_app, request, clock):
        yield a


async def on_shared(shared: SharedApp, request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Api]:
    """A test's `Api` on a shared app: the module's own clock installed for the test, the app reset after it."""
    rt = shared.rt
    real_clock = rt.clock
    if _overridden(request, "clock"):
        rt.clock = clock
    a = Api(shared.client, shared.app)
    try:
        await a.login_as_admin()
        yield a
    finally:
        rt.clock = real_clock
        await shared.reset()


@pytest.fixture
async def own_api(settings: Settings) -> AsyncIterator[Api]:
    """An app of the test's own with the test's `settings`, logged in as the admin."""
    app = create_app(settings, announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        a = Api(client, app)
        await a.login()
        yield a
