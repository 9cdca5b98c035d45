"""Deliveries end to end inside one process: a real receiver on 127.0.0.1, signatures, retries on a short
schedule,
410, secret rotation, restart survival, SMTP to a local aiosmtpd, the /deliveries list and retry."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient

from leadvibe.app import create_app
from leadvibe.notify.webhook import verify
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, member_headers, wait_idle
from tests.notify._fakehttp import FakeHTTPServer, Request, Response

FAST = {"webhook_allow_private": True, "delivery_schedule": (0.2, 0.2, 0.2), "delivery_interval": 0.05}


class Receiver:
    """A webhook receiver answering from a list of statuses (the last one repeats)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = statuses or [200]
        self.server = FakeHTTPServer(self._handle)

    def _handle(self, req: Request) -> Response:
        n = len(self.server.requests)
        return Response(self.statuses[min(n, len(self.statuses)) - 1], b"ok")

    @property
    def requests(self) -> list[Request]:
        return self.server.requests

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/hook"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.server.start()
    yield r
    await r.server.close()


class SmtpRecorder:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpRecorder, int]]:
    recorder, port = SmtpRecorder(), _free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


async def _app(data_dir: Path, **overrides: Any) -> tuple[Any, AsyncTestClient[Any], Api]:
    app = create_app(make_settings(data_dir, **{**FAST, **overrides}), announce_first_start=False)
    client = AsyncTestClient(app=app)
    await client.__aenter__()
    api = Api(client, app)
    await api.login()
    return app, client, api


@pytest.fixture
async def fast(tmp_path: Path) -> AsyncIterator[Api]:
    _, client, api = await _app(tmp_path / "data")
    yield api
    await client.__aexit__(None, None, None)


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def _deliveries(api: Api, status: str | None = None) -> list[dict[str, Any]]:
    query = f"?status={status}" if status else ""
    return (await api.get(f"/deliveries{query}")).json()["deliveries"]  # type: ignore[no-any-return]


async def _fire_milestone(api: Api, lead: str = "ld_hot", **trigger: Any) -> str:
    await add_rules(api, {"demo": 50})
    r = await api.post(
        "/triggers/milestones", json={"event_type": "", "score_threshold": 40, "name": "Hot", **trigger}
    )
    assert r.status_code == 201, r.text
    assert (await api.post("/ingest", json={"lead_id": lead, "event_type": "demo"})).status_code == 202
    await wait_idle(api)
    return str(r.json()["trigger_id"])


async def test_webhook_delivered_once_with_a_verifiable_signature(fast: Api, receiver: Receiver) -> None:
    tid = await _fire_milestone(fast, webhook_url=receiver.url)
    await _until(lambda: _has(receiver, 1))
    await _until(lambda: _status_is(fast, "delivered"))
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    secret = (await fast.get("/settings/webhooks")).json()["secret"]
    assert secret.startswith("whsec_")
    assert verify(secret, req.headers, req.body)
    assert req.headers["content-type"] == "application/json"
    body = json.loads(req.body)
    assert body["type"] == "milestone.fired"
    assert body["trigger"] == {"id": tid, "kind": "milestone", "name": "Hot"}
    assert body["lead"] == {"id": "ld_hot", "score": 50, "level": None}
    assert body["event"]["type"] == "demo" and body["event"]["id"].startswith("ev_")
    assert body["event"]["occurred_at"].endswith("Z") and body["fired_at"].endswith("Z")
    [d] = await _deliveries(fast)
    assert d["kind"] == "webhook" and d["status"] == "delivered" and d["attempts"] == 1
    assert d["last_status"] == 200 and d["webhook_id"] == req.headers["webhook-id"] and d["delivered_at"]
    assert (d["lead_id"], d["lead_name"]) == ("ld_hot", None)


async def test_a_delivery_names_the_lead_its_firing_was_about(fast: Api) -> None:
    assert (await fast.post("/leads", json={"id": "ld_ada", "metadata": {"name": "Ada Lovelace"}})).status_code == 201
    await _fire_milestone(fast, lead="ld_ada", emails=["sales@example.com"])
    await _until(lambda: _status_is(fast, "failed"))  # no SMTP server configured
    [d] = await _deliveries(fast)
    assert (d["kind"], d["lead_id"], d["lead_name"]) == ("email", "ld_ada", "Ada Lovelace")
    r = await fast.post(f"/deliveries/{d['delivery_id']}/retry")
    assert r.status_code == 200 and (r.json()["lead_id"], r.json()["lead_name"]) == ("ld_ada", "Ada Lovelace")


async def test_deliveries_filter_by_the_lead_their_firing_was_about(fast: Api) -> None:
    await _fire_milestone(fast, lead="ld_one", emails=["sales@example.com"])
    assert (await fast.post("/ingest", json={"lead_id": "ld_two", "event_type": "demo"})).status_code == 202
    await wait_idle(fast)
    await _until(lambda: _status_is(fast, "failed", 2))  # no SMTP server configured
    page = (await fast.get("/deliveries", params={"lead_id": "ld_two"})).json()
    assert [d["lead_id"] for d in page["deliveries"]] == ["ld_two"] and page["total"] == 1
    assert (await fast.get("/deliveries", params={"lead_id": "ld_none"})).json()["total"] == 0
    both = (await fast.get("/deliveries", params={"lead_id": "ld_one", "status": "failed"})).json()
    assert [d["lead_id"] for d in both["deliveries"]] == ["ld_one"]
    r = await fast.get("/deliveries", params={"lead_id": " "})
    assert r.status_code == 400 and r.json() == {"error": "`lead_id` must not be blank"}


async def _has(receiver: Receiver, n: int) -> bool:
    return len(receiver.requests) >= n


async def _status_is(api: Api, status: str, n: int = 1) -> bool:
    return len(await _deliveries(api, status)) >= n


async def test_500_500_200_is_delivered_on_the_third_attempt(fast: Api, receiver: Receiver) -> None:
    receiver.statuses = [500, 500, 200]
    await _fire_milestone(fast, webhook_url=receiver.url)
    await _until(lambda: _status_is(fast, "delivered"))
    [d] = await _deliveries(fast)
    assert d["attempts"] == 3 and d["last_status"] == 200 and d["last_error"] is None
    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # one id across retries
    secret = (await fast.get("/settings/webhooks")).json()["secret"]
    assert all(verify(secret, r.headers, r.body) for r in receiver.requests)


async def test_failed_after_the_last_retry_then_retry_endpoint(fast: Api, receiver: Receiver) -> None:
    receiver.statuses = [500]
    await _fire_milestone(fast, webhook_url=receiver.url)
    await _until(lambda: _status_is(fast, "failed"))
    [d] = await _deliveries(fast)
    assert d["attempts"] == 4 and d["last_status"] == 500 and "HTTP 500" in d["last_error"]
    assert d["next_attempt_at"] is None

    foreign = await fast.post(
        f"/deliveries/{d['delivery_id']}/retry", headers={**fast.headers, "X-OU-ID": "unit_nope"}
    )
    assert foreign.status_code == 403
    receiver.statuses = [200]
    r = await fast.post(f"/deliveries/{d['delivery_id']}/retry")
    assert r.status_code == 200 and r.json()["status"] == "pending"
    await _until(lambda: _status_is(fast, "delivered"))
    assert (await fast.post(f"/deliveries/{d['delivery_id']}/retry")).status_code == 409
    assert (await fast.post("/deliveries/dl_nope/retry")).status_code == 404
    page = (await fast.get("/deliveries?page=1&limit=1")).json()
    assert page["total"] == 1 and page["page"] == 1 and page["limit"] == 1
    assert (await fast.get("/deliveries?status=weird")).status_code == 400


async def test_deleting_a_trigger_stops_what_it_would_still_send(tmp_path: Path, receiver: Receiver) -> None:
    # Retries a minute apart: the delivery waits for its second attempt when the trigger is deleted.
    _, client, api = await _app(tmp_path / "data", delivery_schedule=(60.0,))
    try:
        receiver.statuses = [500]
        trigger_id = await _fire_milestone(api, webhook_url=receiver.url)
        await _until(lambda: _attempted(api))
        r = await api.delete(f"/triggers/milestones/{trigger_id}")
        assert r.status_code == 204, r.text
        [d] = await _deliveries(api)
        assert d["status"] == "failed" and d["last_error"] == "not sent: its trigger was deleted"
        assert d["attempts"] == 1 and d["next_attempt_at"] is None and len(receiver.requests) == 1
        # Still there to read, and to send by hand.
        receiver.statuses = [200]
        assert (await api.post(f"/deliveries/{d['delivery_id']}/retry")).status_code == 200
        await _until(lambda: _status_is(api, "delivered"))
    finally:
        await client.__aexit__(None, None, None)


async def test_an_attempt_on_its_way_when_its_trigger_is_deleted_records_what_it_did(
        tmp_path: Path, receiver: Receiver) -> None:
    """The receiver takes its time; the trigger is deleted while the attempt waits for it. The attempt finishes (the
    deletion stops only what still waits) and its delivery is recorded: it was marked "not sent" and stayed so,
    and a retry by hand sent it twice."""
    _, client, api = await _app(tmp_path / "data", delivery_schedule=(60.0,))
    try:
        answered = asyncio.Event()

        async def slowly(req: Any) -> Response:
            await answered.wait()
            return Response(200, b"ok")

        receiver.server.handler = slowly
        trigger_id = await _fire_milestone(api, webhook_url=receiver.url)
        await _until(lambda: _has_requests(receiver))
        assert (await api.delete(f"/triggers/milestones/{trigger_id}")).status_code == 204
        [waiting] = await _deliveries(api)
        assert waiting["last_error"] == "not sent: its trigger was deleted"
        answered.set()
        await _until(lambda: _status_is(api, "delivered"))
        [d] = await _deliveries(api)
        assert d["attempts"] == 1 and d["last_status"] == 200 and d["last_error"] is None
        assert len(receiver.requests) == 1
    finally:
        await client.__aexit__(None, None, None)


async def _has_requests(receiver: Receiver) -> bool:
    return len(receiver.requests) >= 1


async def _attempted(api: Api) -> bool:
    return any(d["attempts"] >= 1 for d in await _deliveries(api, "pending"))


async def test_410_disables_the_destination(fast: Api, receiver: Receiver) -> None:
    receiver.statuses = [410]
    tid = await _fire_milestone(fast, webhook_url=receiver.url)
    await _until(lambda: _status_is(fast, "disabled"))
    assert len(receiver.requests) == 1
    [t] = (await fast.get("/triggers/milestones")).json()
    assert t["trigger_id"] == tid and t["webhook_disabled"] is True
    # A new firing (another lead) creates no webhook delivery to the disabled URL.
    assert (await fast.post("/ingest", json={"lead_id": "ld_other", "event_type": "demo"})).status_code == 202
    await wait_idle(fast)
    assert len(await _deliveries(fast)) == 1
    # Saving the URL again re-enables it.
    r = await fast.put(f"/triggers/milestones/{tid}", json={"webhook_url": receiver.url})
    assert r.json()["webhook_disabled"] is False


async def test_rotation_signs_with_both_secrets_for_a_day(fast: Api, receiver: Receiver) -> None:
    old = (await fast.get("/settings/webhooks")).json()
    assert old["rotated_at"] is None
    assert (await fast.get("/settings/webhooks")).json()["secret"] == old["secret"]  # created once
    new = (await fast.post("/settings/webhooks/rotate")).json()
    assert new["secret"] != old["secret"] and new["rotated_at"] and new["previous_valid_until"]
    await _fire_milestone(fast, webhook_url=receiver.url)
    await _until(lambda: _has(receiver, 1))
    req = receiver.requests[0]
    assert len(req.headers["webhook-signature"].split()) == 2
    assert verify(new["secret"], req.headers, req.body) and verify(old["secret"], req.headers, req.body)


async def test_webhook_settings_need_the_owner_role(fast: Api) -> None:
    operator = await member_headers(fast, "op@example.com", "Operator")
    assert (await fast.get("/settings/webhooks", headers=operator)).status_code == 403
    assert (await fast.post("/settings/webhooks/rotate", headers=operator)).status_code == 403
    assert (await fast.get("/deliveries", headers=operator)).status_code == 200


async def test_a_delivery_due_while_down_is_sent_after_restart(tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "data"
    receiver.statuses = [503, 200]
    _, client, api = await _app(data, delivery_schedule=(0.5, 0.5))
    await _fire_milestone(api, webhook_url=receiver.url)
    await _until(lambda: _has(receiver, 1))
    await client.__aexit__(None, None, None)  # stop before the retry is due
    assert len(receiver.requests) == 1
    await asyncio.sleep(0.7)
    _, client2, api2 = await _app(data, delivery_schedule=(0.5, 0.5))
    try:
        await _until(lambda: _status_is(api2, "delivered"))
        [d] = await _deliveries(api2)
        assert d["attempts"] == 2 and len(receiver.requests) == 2
        assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    finally:
        await client2.__aexit__(None, None, None)


async def test_email_deliveries_through_smtp(tmp_path: Path, smtp: tuple[SmtpRecorder, int]) -> None:
    recorder, port = smtp
    _, client, api = await _app(
        tmp_path / "data",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="alerts@leadvibe.example",
        public_url="https://lv.example",
    )
    try:
        await _fire_milestone(
            api,
            emails=["ana@example.com", "bo@example.com"],
            email_subject="{{lead_id}} hit {{score}}",
            email_preheader="Trigger {{trigger_name}}",
            email_message="Lead {{lead_id}} ({{level}}) after {{event_type}}",
        )
        await _until(lambda: _status_is(api, "delivered", 2))
        assert sorted(m["To"] for m in recorder.messages) == ["ana@example.com", "bo@example.com"]
        msg = recorder.messages[0]
        assert msg["Subject"] == "ld_hot hit 50" and msg["From"] == "alerts@leadvibe.example"
        text = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "Trigger Hot" in text and "Lead ld_hot () after demo" in text
        # The link opens the lead's page of the dashboard (the API's /leads/<id> answers a browser 401).
        assert "Open the lead: https://lv.example/ui/leads/ld_hot\r\n" in text
        page = await client.get("/ui/leads/ld_hot", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert msg.get_body(preferencelist=("html",)) is not None
        assert {(d["kind"], d["last_status"]) for d in await _deliveries(api)} == {("email", 250)}
    finally:
        await client.__aexit__(None, None, None)


async def test_email_without_smtp_fails_with_the_reason(fast: Api) -> None:
    await _fire_milestone(fast, emails=["ana@example.com"])
    await _until(lambda: _status_is(fast, "failed"))
    [d] = await _deliveries(fast)
    assert d["attempts"] == 1 and "SMTP is not configured" in d["last_error"]


async def test_deliveries_are_per_ou(fast: Api, receiver: Receiver) -> None:
    await _fire_milestone(fast, webhook_url=receiver.url)
    other = (await fast.post("/org-units", json={"name": "Other"})).json()["unit_id"]
    elsewhere = {**fast.headers, "X-OU-ID": other}
    assert (await fast.get("/deliveries", headers=elsewhere)).json()["total"] == 0
    [d] = await _deliveries(fast)
    assert (await fast.post(f"/deliveries/{d['delivery_id']}/retry", headers=elsewhere)).status_code == 404


async def test_the_list_says_email_cannot_go_out_without_an_smtp_server(fast: Api) -> None:
    viewer = await member_headers(fast, "viewer@example.com", "Viewer")
    r = await fast.get("/deliveries?limit=1", headers=viewer)
    assert r.status_code == 200, r.text
    assert r.json()["transports"] == {
        "email": {"configured": False, "host": None, "port": None, "security": None, "sender": None},
        "webhook": {"private_addresses": True},
    }


@pytest.mark.parametrize(
    ("port", "starttls", "security"), [(587, True, "starttls"), (465, True, "tls"), (25, False, "none")]
)
async def test_the_list_names_the_smtp_server_but_never_its_login(
    tmp_path: Path, port: int, starttls: bool, security: str
) -> None:
    _, client, api = await _app(
        tmp_path / "data",
        smtp_host=" smtp.example.com ",
        smtp_port=port,
        smtp_starttls=starttls,
        smtp_user="mailer-login",
        smtp_password="pw-never-shown",
        smtp_from="alerts@leadvibe.example",
        webhook_allow_private=False,
    )
    try:
        r = await api.get("/deliveries")
        assert r.json()["transports"] == {
            "email": {"configured": True, "host": "smtp.example.com", "port": port, "security": security,
                      "sender": "alerts@leadvibe.example"},
            "webhook": {"private_addresses": False},
        }
        assert "pw-never-shown" not in r.text and "mailer-login" not in r.text
        schema = (await api.client.get("/schema/openapi.json")).json()["components"]["schemas"]
        assert "transports" in schema["DeliveryPage"]["required"]
        assert set(schema["EmailTransport"]["properties"]) == {"configured", "host", "port", "security", "sender"}
    finally:
        await client.__aexit__(None, None, None)
