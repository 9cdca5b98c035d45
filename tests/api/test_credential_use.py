"""An API credential's "last used": written when it authenticates a request, at most once a minute."""

from __future__ import annotations

import asyncio
import base64
import threading
import time

import pytest

from leadvibe.security import guards
from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api

START = time.time_ns() // 1_000_000_000 * 1000  # real time: login tokens are checked against the wall clock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def _last_used(api: Api, secret_id: str) -> str | None:
    # The request queued its use record without waiting for it: a write queued after it commits after it.
    await api.rt.db.write(lambda c: None)
    listing = (await api.get("/secrets")).json()
    return next(c for c in listing if c["secret_id"] == secret_id)["last_used_at"]


async def test_last_used_follows_the_requests_a_credential_authenticates(api: Api, clock: ManualClock) -> None:
    basic = await api.credential("website")
    secret_id = basic.pop("X-Secret-Id")
    other = await api.credential("crm")
    other_id = other.pop("X-Secret-Id")
    assert await _last_used(api, secret_id) is None
    event = {"lead_id": "ld_a", "event_type": "page_view"}
    assert (await api.client.post("/ingest", json=event, headers=basic)).status_code == 202
    assert await _last_used(api, secret_id) == to_rfc3339(START)
    assert await _last_used(api, other_id) is None
    # Within the minute the stored time stays (one write a minute, not one per request)...
    clock.advance(30)
    assert (await api.client.post("/ingest/batch", json={"events": [event]}, headers=basic)).status_code == 202
    assert await _last_used(api, secret_id) == to_rfc3339(START)
    # ...and moves with the first request after it, whichever route the credential calls.
    clock.advance(31)
    assert (await api.client.get("/leads", headers=basic)).status_code == 200
    assert await _last_used(api, secret_id) == to_rfc3339(START + 61_000)
    # A wrong secret is no use of the credential.
    clock.advance(120)
    client_id = base64.b64decode(basic["Authorization"][6:]).split(b":")[0]
    wrong = {"Authorization": "Basic " + base64.b64encode(client_id + b":wrong").decode()}
    assert (await api.client.get("/leads", headers=wrong)).status_code == 401
    assert await _last_used(api, secret_id) == to_rfc3339(START + 61_000)


async def test_a_first_use_does_not_wait_for_the_main_databases_writer(api: Api) -> None:
    """The use record rides on the request without holding it: an /ingest answers while the main database's writer
    is busy (as behind a worker batch, or a worker process stopped holding the write lock)."""
    basic = await api.credential("website")
    secret_id = basic.pop("X-Secret-Id")
    release, released = threading.Event(), threading.Event()

    def hold(_: object) -> None:
        release.wait(10)
        released.set()

    busy = api.rt.db.enqueue(hold, alone=True)
    try:
        event = {"lead_id": "ld_a", "event_type": "page_view"}
        r = await api.client.post("/ingest", json=event, headers=basic)
        assert r.status_code == 202, r.text
        assert not released.is_set(), "the 202 waited for the main database's writer"
    finally:
        release.set()
    await busy
    assert await _last_used(api, secret_id) is not None


async def test_a_verified_header_is_remembered_only_while_its_credential_lives(api: Api) -> None:
    """The auth path skips the digest for a Basic header it has verified before; a wrong secret is never
    remembered, another spelling of the right one is verified on its own, and a deletion ends them all."""
    basic = await api.credential("website")
    secret_id = basic.pop("X-Secret-Id")
    client_id, secret = base64.b64decode(basic["Authorization"][6:]).decode().split(":", 1)
    event = {"lead_id": "ld_a", "event_type": "page_view"}
    wrong = {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}x".encode()).decode()}
    spelled = {"Authorization": "basic  " + basic["Authorization"][6:]}
    for _ in range(2):
        assert (await api.client.post("/ingest", json=event, headers=basic)).status_code == 202
        assert (await api.client.post("/ingest", json=event, headers=wrong)).status_code == 401
    assert (await api.client.post("/ingest", json=event, headers=spelled)).status_code == 202
    remembered = api.rt.verified_basic
    assert len(remembered) == 2
    assert remembered.get(basic["Authorization"]) is remembered.get(spelled["Authorization"]) is not None
    assert remembered.get(wrong["Authorization"]) is None
    assert (await api.delete(f"/secrets/{secret_id}")).status_code == 204
    assert not len(api.rt.verified_basic)
    for headers in (basic, spelled):
        assert (await api.client.post("/ingest", json=event, headers=headers)).status_code == 401


async def test_a_credential_read_overtaken_by_its_deletion_is_not_kept(api: Api) -> None:
    basic = await api.credential("website")
    client_id = base64.b64decode(basic["Authorization"][6:]).decode().split(":", 1)[0]
    rt = api.rt
    rt.credentials.clear()
    reading = asyncio.create_task(guards._credential(rt, client_id))
    await asyncio.sleep(0)  # the task now waits for its row on a reader
    rt.forget_credential(client_id)  # what deleting the secret does once its row is gone
    cred = await reading
    assert cred is not None and cred.client_id == client_id
    assert client_id not in rt.credentials
    rt.remember_basic(basic["Authorization"], cred)
    assert rt.verified_basic.get(basic["Authorization"]) is None
