"""An API credential's "last used": written when it authenticates a request, at most once a minute."""

from __future__ import annotations

import base64
import time

import pytest

from leadvibe.timeutil import ManualClock, to_rfc3339
from tests.conftest import Api

START = time.time_ns() // 1_000_000_000 * 1000  # real time: login tokens are checked against the wall clock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def _last_used(api: Api, secret_id: str) -> str | None:
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
