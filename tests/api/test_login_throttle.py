"""Login throttling (SEMANTICS §1): 10 failures in 15 minutes per account or per client address, then 429 with
Retry-After until the window passes, whatever the rate-limit mode; parallel guessing included."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from leadvibe.timeutil import ManualClock
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.helpers import new_member

Login = Callable[..., Any]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(int(time.time()) * 1000)


@pytest.fixture
async def login_from(api: Api) -> AsyncIterator[Login]:
    """`await login_from(address, email, password)` -> response, as sent from that client address."""
    clients: dict[str, httpx.AsyncClient] = {}

    async def send(address: str, email: str, password: str) -> httpx.Response:
        if address not in clients:
            transport = httpx.ASGITransport(app=api.app, client=(address, 40000))
            clients[address] = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return await clients[address].post("/auth/login", json={"email": email, "password": password})

    yield send
    for c in clients.values():
        await c.aclose()


async def test_an_account_is_locked_after_ten_failures_until_the_window_passes(
        api: Api, login_from: Login, clock: ManualClock) -> None:
    for i in range(10):  # ten addresses, so only the account's count can block
        r = await login_from(f"10.0.0.{i}", ADMIN_EMAIL, "wrong-password")
        assert r.status_code == 401
    r = await login_from("10.0.1.1", ADMIN_EMAIL, ADMIN_PASSWORD)  # even the right password waits
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 15 * 60
    assert r.json() == {"error": "too many failed logins; try again later"}
    clock.advance(15 * 60)
    assert (await login_from("10.0.1.1", ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


async def test_one_address_guessing_many_accounts_is_stopped(api: Api, login_from: Login) -> None:
    for i in range(10):
        r = await login_from("203.0.113.9", f"nobody{i}@example.com", "guess")
        assert r.status_code == 401
    assert (await login_from("203.0.113.9", "someone-else@example.com", "guess")).status_code == 429
    # Another address is not affected, nor is the account from elsewhere.
    assert (await login_from("198.51.100.2", ADMIN_EMAIL, ADMIN_PASSWORD)).status_code == 200


async def test_parallel_guesses_cannot_exceed_the_limit(api: Api, login_from: Login) -> None:
    results = await asyncio.gather(*(login_from(f"10.1.0.{i}", ADMIN_EMAIL, f"guess-{i}") for i in range(30)))
    statuses = [r.status_code for r in results]
    assert statuses.count(401) <= 10
    assert statuses.count(429) >= 20


async def test_a_success_resets_the_accounts_count(api: Api, login_from: Login) -> None:
    await new_member(api, "pat@example.com")
    for i in range(9):
        assert (await login_from(f"10.2.0.{i}", "pat@example.com", "wrong")).status_code == 401
    assert (await login_from("10.2.1.0", "pat@example.com", "member-password-1")).status_code == 200
    for i in range(9):
        assert (await login_from(f"10.2.2.{i}", "pat@example.com", "wrong")).status_code == 401


async def test_throttled_attempts_are_audited(api: Api, login_from: Login) -> None:
    for i in range(11):
        await login_from(f"10.3.0.{i}", ADMIN_EMAIL, "wrong")
    r = await api.get("/admin/audit-logs?search=auth/login&limit=50")
    statuses = sorted({e["status"] for e in r.json()["items"]})
    assert statuses == [401, 429]
