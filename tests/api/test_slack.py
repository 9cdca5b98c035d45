"""Slack integration through HTTP against a fake Slack Web API on 127.0.0.1: org app credentials, OAuth v2
install (redirect and JSON forms, single-use expiring state, callback), status, proxies, default target, test
message, trigger notifications with the latency metric, disconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from leadvibe.app import create_app
from tests.conftest import Api, make_settings
from tests.helpers import add_rules, member_headers, wait_idle
from tests.notify._fakeslack import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, PUBLIC, FakeSlack, ThreadedServer


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[tuple[Api, FakeSlack]]:
    fake = FakeSlack()
    server = ThreadedServer(fake)
    server.start()
    settings = make_settings(
        tmp_path / "data",
        slack_api_url=f"http://127.0.0.1:{server.port}/api",
        slack_oauth_url="https://slack.example",
        public_url=PUBLIC,
        delivery_interval=0.05,
        delivery_schedule=(0.2, 0.2),
    )
    app = create_app(settings, announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        api = Api(client, app)
        await api.login()
        yield api, fake
    server.close()


async def _configure(api: Api) -> None:
    r = await api.put("/settings/slack-app", json={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert r.status_code == 200, r.text


async def _connect(api: Api) -> None:
    await _configure(api)
    url = (await api.post("/settings/slack/install")).json()["authorize_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    r = await api.client.get(f"/settings/slack/callback?code=good-code&state={state}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/ui/settings/integrations"


async def test_slack_app_credentials_are_admin_only_and_never_returned(slack: tuple[Api, FakeSlack]) -> None:
    api, _ = slack
    # The redirect URL to register is the one the server sends Slack: its public address, known before configuring.
    assert (await api.get("/settings/slack-app")).json() == {
        "configured": False,
        "redirect_url": f"{PUBLIC}/settings/slack/callback",
        "client_id": None,
        "updated_at": None,
    }
    await _configure(api)
    body = (await api.get("/settings/slack-app")).json()
    assert body["configured"] is True and body["client_id"] == CLIENT_ID
    assert body["redirect_url"] == f"{PUBLIC}/settings/slack/callback"
    assert CLIENT_SECRET not in json.dumps(body)
    raw = await api.rt.db.read(lambda c: c.execute("SELECT client_secret FROM slack_apps").fetchone()[0])
    assert CLIENT_SECRET.encode() not in bytes(raw)  # sealed at rest
    owner = await member_headers(api, "owner@example.com", "Owner")
    assert (await api.get("/settings/slack-app", headers=owner)).status_code == 403
    assert (
        await api.put("/settings/slack-app", headers=owner, json={"client_id": "x", "client_secret": "y"})
    ).status_code == 403
    assert (
        await api.put("/settings/slack-app", json={"client_id": " ", "client_secret": "y"})
    ).status_code == 400


async def test_install_redirect_and_json_forms(slack: tuple[Api, FakeSlack]) -> None:
    api, _ = slack
    r = await api.post("/settings/slack/install")
    assert r.status_code == 400 and "not configured" in r.json()["error"]
    await _configure(api)
    url = (await api.post("/settings/slack/install")).json()["authorize_url"]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://slack.example/oauth/v2/authorize"
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == f"{PUBLIC}/settings/slack/callback"
    assert "chat:write" in query["scope"] and len(query["state"]) >= 20
    r = await api.get("/settings/slack/install", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].startswith(
        "https://slack.example/oauth/v2/authorize?"
    )
    viewer = await member_headers(api, "viewer@example.com", "Viewer")
    assert (await api.post("/settings/slack/install", headers=viewer)).status_code == 403


async def test_callback_stores_the_token_once_per_state(slack: tuple[Api, FakeSlack]) -> None:
    api, _ = slack
    await _configure(api)
    status = (await api.get("/settings/slack")).json()
    assert status["connected"] is False and status["authorize_url"].startswith("https://slack.example/")
    # Choosing the default target before connecting answers the same status, install link included (it had none).
    put = (await api.put("/settings/slack/target", json={"kind": "channel", "id": "C1"})).json()
    assert put["authorize_url"].startswith("https://slack.example/") and put["default_target_id"] == "C1"
    url = (await api.post("/settings/slack/install")).json()["authorize_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    r = await api.client.get(f"/settings/slack/callback?code=good-code&state={state}", follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"] == "/ui/settings/integrations"
    status = (await api.get("/settings/slack")).json()
    assert status["connected"] is True and status["team_name"] == "Acme" and status["team_id"] == "T123"
    assert status["bot_user_id"] == "U0BOT" and status["authorize_url"] is None
    assert BOT_TOKEN not in json.dumps(status)
    raw = await api.rt.db.read(lambda c: c.execute("SELECT bot_token FROM slack_installs").fetchone()[0])
    assert BOT_TOKEN.encode() not in bytes(raw)
    # The state was used: a replay is refused.
    again = await api.client.get(
        f"/settings/slack/callback?code=good-code&state={state}", follow_redirects=False
    )
    assert again.status_code == 302 and "slack_error=invalid_state" in again.headers["location"]


async def test_callback_refuses_bad_code_unknown_and_expired_state(slack: tuple[Api, FakeSlack]) -> None:
    api, _ = slack
    await _configure(api)

    async def new_state() -> str:
        url = (await api.post("/settings/slack/install")).json()["authorize_url"]
        return parse_qs(urlsplit(url).query)["state"][0]

    r = await api.client.get(
        f"/settings/slack/callback?code=bad&state={await new_state()}", follow_redirects=False
    )
    assert "slack_error=invalid_code" in r.headers["location"]
    r = await api.client.get("/settings/slack/callback?code=good-code&state=forged", follow_redirects=False)
    assert "slack_error=invalid_state" in r.headers["location"]
    r = await api.client.get("/settings/slack/callback?code=good-code", follow_redirects=False)
    assert "slack_error=missing_state" in r.headers["location"]
    assert r.content == b"" and not r.headers["content-type"].startswith("application/json")  # no JSON `null`
    state = await new_state()
    await api.rt.db.write(lambda c: c.execute("UPDATE oauth_states SET expires_at = expires_at - 600001"))
    r = await api.client.get(f"/settings/slack/callback?code=good-code&state={state}", follow_redirects=False)
    assert "slack_error=invalid_state" in r.headers["location"]
    assert (await api.get("/settings/slack")).json()["connected"] is False


async def test_proxies_target_test_message_and_disconnect(slack: tuple[Api, FakeSlack]) -> None:
    api, fake = slack
    assert (await api.get("/settings/slack/channels")).status_code == 400
    await _connect(api)
    channels = (await api.get("/settings/slack/channels?types=public_channel")).json()
    assert channels["ok"] is True and channels["channels"][0]["name"] == "sales"
    assert "types=public_channel" in channels["query"]
    assert (await api.get("/settings/slack/users")).json()["members"][0]["id"] == "U1"

    r = await api.put("/settings/slack/target", json={"kind": "channel", "id": "C1"})
    assert r.status_code == 200 and r.json()["default_target_id"] == "C1" and r.json()["connected"] is True
    assert (await api.put("/settings/slack/target", json={"kind": "room", "id": "C1"})).status_code == 400

    r = await api.post("/settings/slack/test", json={"kind": "channel", "id": "C1", "text": "hello"})
    assert r.status_code == 200 and "C1" in r.json()["message"]
    r = await api.post("/settings/slack/test", json={"kind": "user", "id": "U1"})
    assert r.status_code == 200
    assert fake.opened == ["U1"] and [p["channel"] for p in fake.posted] == ["C1", "DU1"]
    assert fake.posted[0]["text"] == "hello"
    r = await api.post("/settings/slack/test", json={"kind": "channel", "id": "C_GONE"})
    assert r.status_code == 502 and "channel not found" in r.json()["error"]

    viewer = await member_headers(api, "v@example.com", "Viewer")
    assert (await api.get("/settings/slack", headers=viewer)).json()["authorize_url"] is None
    assert (await api.delete("/settings/slack", headers=viewer)).status_code == 403
    assert (await api.delete("/settings/slack")).status_code == 204
    assert (await api.get("/settings/slack")).json()["connected"] is False


async def test_trigger_notifies_slack_and_observes_latency(slack: tuple[Api, FakeSlack]) -> None:
    api, fake = slack
    await _connect(api)
    await api.put("/settings/slack/target", json={"kind": "channel", "id": "C1"})
    await add_rules(api, {"demo": 50})
    await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 40, "name": "Hot lead"})
    await api.post(
        "/triggers/sequences",
        json={
            "event_types": ["demo"],
            "window_seconds": 60,
            "name": "DM me",
            "slack_target_kind": "user",
            "slack_target_id": "U7",
        },
    )
    await api.post(
        "/triggers/sequences",
        json={
            "event_types": ["demo"],
            "window_seconds": 60,
            "name": "Gone",
            "slack_target_kind": "channel",
            "slack_target_id": "C_GONE",
        },
    )
    before = api.rt.metrics.slack_latency.count
    assert (
        await api.post("/ingest", json={"lead_id": "ld_<!channel>", "event_type": "demo"})
    ).status_code == 202
    await wait_idle(api)

    async def done() -> bool:
        rows = (await api.get("/deliveries")).json()["deliveries"]
        return len(rows) == 3 and all(d["status"] != "pending" for d in rows)

    for _ in range(200):
        if await done():
            break
        await asyncio.sleep(0.02)
    rows = {d["destination"]: d for d in (await api.get("/deliveries")).json()["deliveries"]}
    assert rows["channel:C1"]["status"] == "delivered" and rows["user:U7"]["status"] == "delivered"
    assert rows["channel:C1"]["last_status"] == 200 == rows["user:U7"]["last_status"]  # as a webhook's 200
    assert rows["channel:C_GONE"]["status"] == "failed" and rows["channel:C_GONE"]["attempts"] == 1
    by_channel = {p["channel"]: p for p in fake.posted}
    assert set(by_channel) == {"C1", "DU7"}
    message = by_channel["C1"]
    assert "Hot lead" in message["text"] and "50" in message["text"]
    blocks = json.dumps(message["blocks"])
    assert f"{PUBLIC}/ui/leads/ld_%3C%21channel%3E" in blocks and "<!channel>" not in blocks
    assert api.rt.metrics.slack_latency.count == before + 2
    assert "event_to_slack_latency_seconds_count 2" in (await api.client.get("/metrics")).text


async def test_a_token_slack_revoked_leaves_the_ou_not_connected(slack: tuple[Api, FakeSlack]) -> None:
    """Slack refused the token for good: every message failed while the settings said connected, with no link to
    install again. The OU is now not connected (its install link offered), its target kept for the reinstall."""
    api, fake = slack
    await _connect(api)
    await api.put("/settings/slack/target", json={"kind": "channel", "id": "C1"})
    await add_rules(api, {"demo": 50})
    await api.post("/triggers/milestones", json={"event_type": "", "score_threshold": 40, "name": "Hot lead"})
    fake.revoked = True
    assert (await api.post("/ingest", json={"lead_id": "ld_revoked", "event_type": "demo"})).status_code == 202
    await wait_idle(api)
    for _ in range(200):
        rows = (await api.get("/deliveries")).json()["deliveries"]
        if rows and rows[0]["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert rows[0]["status"] == "failed" and "revoked" in rows[0]["last_error"], rows
    status = (await api.get("/settings/slack")).json()
    assert status["connected"] is False and status["authorize_url"], status
    assert status["default_target_id"] == "C1"
    # The next firing makes no Slack delivery bound to fail ("Slack is not connected"): the triggers' view of the
    # OU's connection is reloaded when Slack refuses the token, as when someone disconnects it.
    assert (await api.post("/ingest", json={"lead_id": "ld_after", "event_type": "demo"})).status_code == 202
    await wait_idle(api)
    fired = (await api.get("/triggers/milestones/events")).json()
    assert any(e["lead_id"] == "ld_after" for e in fired), fired
    assert [r["lead_id"] for r in (await api.get("/deliveries")).json()["deliveries"]] == ["ld_revoked"]
    fake.revoked = False
    await _connect(api)  # installed again: connected, the target as it was
    status = (await api.get("/settings/slack")).json()
    assert status["connected"] is True and status["default_target_id"] == "C1"
