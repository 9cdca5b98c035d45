from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from leadvibe.notify.slack import DEFAULT_SCOPES, SlackClient, SlackError, authorize_url, trigger_message

from ._fakehttp import Request, Response

TOKEN = "xoxb-test-token-123"


def _json(data: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(data).encode(), {"content-type": "application/json", **(headers or {})}
    )


class FakeSlack:
    """Enough of the Slack Web API for the client: checks the bearer token like Slack does."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def __call__(self, req: Request) -> Response:
        method = req.path.removeprefix("/api/")
        query = {k: v[0] for k, v in parse_qs(req.query).items()}
        if method == "oauth.v2.access":
            basic = base64.b64encode(b"cid.123:csecret").decode()
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            if req.headers.get("authorization") != f"Basic {basic}":
                return _json({"ok": False, "error": "invalid_client_id"})
            if form.get("code") != "good-code":
                return _json({"ok": False, "error": "invalid_code"})
            assert form["redirect_uri"] == "https://lv.example/settings/slack/callback"
            return _json(
                {
                    "ok": True,
                    "access_token": "xoxb-new",
                    "token_type": "bot",
                    "bot_user_id": "U0BOT",
                    "team": {"id": "T123", "name": "Acme"},
                    "scope": ",".join(DEFAULT_SCOPES),
                }
            )
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return _json({"ok": False, "error": "invalid_auth"})
        if method == "conversations.list":
            assert req.method == "GET"
            channels = [{"id": "C1", "name": "sales"}, {"id": "C2", "name": "hot-leads", "is_private": True}]
            if query.get("cursor") == "page2":
                return _json(
                    {
                        "ok": True,
                        "channels": [{"id": "C3", "name": "ops"}],
                        "response_metadata": {"next_cursor": ""},
                        "echo": query,
                    }
                )
            return _json(
                {
                    "ok": True,
                    "channels": channels,
                    "response_metadata": {"next_cursor": "page2"},
                    "echo": query,
                }
            )
        if method == "users.list":
            return _json(
                {
                    "ok": True,
                    "members": [{"id": "U1", "name": "ana"}],
                    "echo": query,
                    "response_metadata": {"next_cursor": ""},
                }
            )
        if method == "conversations.open":
            body = json.loads(req.body)
            if body["users"] == "UNOPE":
                return _json({"ok": False, "error": "user_not_found"})
            return _json({"ok": True, "channel": {"id": "D" + body["users"]}})
        if method == "chat.postMessage":
            assert req.headers["content-type"].startswith("application/json")
            body = json.loads(req.body)
            if body["channel"] == "CLIMIT":
                return _json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": "12"})
            if body["channel"].startswith("CAFTER_"):  # a 429 whose Retry-After is the rest of the name
                return _json({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": body["channel"][7:]})
            if body["channel"] == "CBUSY":
                return Response(503, b"busy", {"Retry-After": "120"})
            if body["channel"] == "CGONE":
                return _json({"ok": False, "error": "channel_not_found"})
            self.posted.append(body)
            return _json({"ok": True, "channel": body["channel"], "ts": "1700000000.000100"})
        return Response(404, b"unknown method")


@pytest.fixture
async def slack(http_server) -> tuple[FakeSlack, str]:
    fake = FakeSlack()
    server = await http_server(fake)
    return fake, f"http://127.0.0.1:{server.port}/api"


def test_authorize_url() -> None:
    url = authorize_url("https://slack.com/", "cid.123", "st&ate", "https://lv.example/cb?x=1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "slack.com", "/oauth/v2/authorize")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q == {
        "client_id": "cid.123",
        "scope": "chat:write,channels:read,groups:read,users:read,im:write",
        "state": "st&ate",
        "redirect_uri": "https://lv.example/cb?x=1",
    }
    assert "scope=chat%3Awrite" in url
    assert parse_qs(urlsplit(authorize_url("http://x", "c", "s", "r", ["a", "b"])).query)["scope"] == ["a,b"]


async def test_oauth_v2_access(slack) -> None:
    _fake, base = slack
    client = SlackClient(base)
    data = await client.oauth_v2_access(
        "cid.123", "csecret", "good-code", "https://lv.example/settings/slack/callback"
    )
    assert data["access_token"] == "xoxb-new" and data["bot_user_id"] == "U0BOT"
    assert data["team"] == {"id": "T123", "name": "Acme"}
    with pytest.raises(SlackError) as info:
        await client.oauth_v2_access(
            "cid.123", "csecret", "bad", "https://lv.example/settings/slack/callback"
        )
    assert info.value.code == "invalid_code"
    with pytest.raises(SlackError) as info:
        await client.oauth_v2_access("cid.123", "wrong-secret", "good-code", "https://lv.example/x")
    assert info.value.code == "invalid_client_id" and "wrong-secret" not in str(info.value)


async def test_lists_send_bearer_token_and_paging(slack) -> None:
    _fake, base = slack
    client = SlackClient(base, TOKEN)
    page1 = await client.conversations_list("public_channel,private_channel")
    assert [c["id"] for c in page1["channels"]] == ["C1", "C2"]
    assert page1["echo"] == {
        "types": "public_channel,private_channel",
        "limit": "200",
        "exclude_archived": "true",
    }
    page2 = await client.conversations_list(None, cursor=page1["response_metadata"]["next_cursor"], limit=50)
    assert [c["id"] for c in page2["channels"]] == ["C3"] and page2["echo"]["limit"] == "50"
    assert "types" not in page2["echo"]
    users = await client.users_list(limit=10)
    assert users["members"][0]["id"] == "U1" and users["echo"] == {"limit": "10"}


async def test_conversations_open_and_post(slack) -> None:
    fake, base = slack
    client = SlackClient(base, TOKEN)
    dm = await client.conversations_open("U1")
    assert dm == "DU1"
    text, blocks = trigger_message(
        "ld_42", 87, "A", "Pricing surge", "pricing_view", "https://lv.example/leads/ld_42"
    )
    result = await client.chat_post_message(dm, text, blocks)
    assert result["ts"] == "1700000000.000100"
    (posted,) = fake.posted
    assert posted == {"channel": "DU1", "text": text, "blocks": blocks}
    await client.chat_post_message("C1", "plain")
    assert fake.posted[1] == {"channel": "C1", "text": "plain"}
    with pytest.raises(SlackError) as info:
        await client.conversations_open("UNOPE")
    assert info.value.code == "user_not_found"


async def test_slack_errors_carry_the_code_and_the_status(slack) -> None:
    _fake, base = slack
    client = SlackClient(base, TOKEN)
    with pytest.raises(SlackError) as info:
        await client.chat_post_message("CGONE", "hi")
    assert info.value.code == "channel_not_found"
    assert str(info.value) == "chat.postMessage: Slack channel not found"
    assert not info.value.needs_reinstall

    with pytest.raises(SlackError) as info:
        await client.chat_post_message("CLIMIT", "hi")
    assert info.value.code == "ratelimited" and info.value.retry_after == 12 and info.value.status == 429


@pytest.mark.parametrize(("header", "waits"), [
    ("999999", 86_400.0),  # at most a day, as a webhook receiver's
    ("inf", 1.0),  # not a number of seconds: a second (it crashed the sender, which then resent at once)
    ("nan", 1.0), ("-5", 1.0), ("soon", 1.0), ("0", 1.0),
])
async def test_a_rate_limit_waits_at_least_a_second_and_at_most_a_day(slack, header: str, waits: float) -> None:
    _fake, base = slack
    with pytest.raises(SlackError) as info:
        await SlackClient(base, TOKEN).chat_post_message(f"CAFTER_{header}", "hi")
    assert info.value.retry_after == waits


async def test_a_503_says_when_to_come_back(slack) -> None:
    """A 503's Retry-After was dropped (the next try came after the schedule's 5 s)."""
    _fake, base = slack
    with pytest.raises(SlackError) as info:
        await SlackClient(base, TOKEN).chat_post_message("CBUSY", "hi")
    assert (info.value.code, info.value.retry_after, info.value.status) == ("http_503", 120.0, 503)


async def test_slack_errors_never_carry_the_token(slack) -> None:
    _fake, base = slack
    client = SlackClient(base, TOKEN)

    bad = SlackClient(base, "xoxb-revoked-secret")
    with pytest.raises(SlackError) as info:
        await bad.conversations_list(None)
    assert info.value.code == "invalid_auth" and info.value.needs_reinstall
    assert "xoxb-revoked-secret" not in str(info.value) + repr(info.value) + repr(bad)
    assert TOKEN not in repr(client)

    with pytest.raises(SlackError) as info:
        await SlackClient(base).users_list()
    assert info.value.code == "not_authed"

    with pytest.raises(SlackError) as info:
        await client._call("no.such.method")
    assert info.value.code == "http_404"


async def test_transport_failures_become_slack_errors(http_server) -> None:
    import asyncio

    async def hang(req: Request) -> Response:
        await asyncio.sleep(30)
        return Response(200)

    server = await http_server(hang)
    client = SlackClient(f"http://127.0.0.1:{server.port}/api", TOKEN, timeout_s=0.3)
    with pytest.raises(SlackError) as info:
        await client.chat_post_message("C1", "hi")
    assert info.value.code == "timeout"

    junk = await http_server(lambda req: Response(200, b"<html>not json</html>"))
    with pytest.raises(SlackError) as info:
        await SlackClient(f"http://127.0.0.1:{junk.port}/api", TOKEN).users_list()
    assert info.value.code == "invalid_response"

    port = junk.port
    await junk.close()
    with pytest.raises(SlackError) as info:
        await SlackClient(f"http://127.0.0.1:{port}/api", TOKEN).users_list()
    assert info.value.code == "request_failed" and TOKEN not in str(info.value)


async def test_shared_client_is_used_and_left_open(slack) -> None:
    _fake, base = slack
    async with httpx.AsyncClient(trust_env=False) as shared:
        client = SlackClient(base, TOKEN, client=shared)
        assert (await client.users_list())["members"]
        assert not shared.is_closed


def test_trigger_message() -> None:
    text, blocks = trigger_message(
        "ld_<!channel>", 91, None, "Hot & ready", None, "https://lv.example/leads/ld_1"
    )
    assert "ld_&lt;!channel&gt;" in text and "91" in text and "Hot &amp; ready" in text
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "🔥 Lead turned hot", "emoji": True},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert fields == [
        "*Lead*\n<https://lv.example/leads/ld_1|ld_&lt;!channel&gt;>",
        "*Score*\n91",
        "*Level*\n—",
        "*Trigger*\nHot &amp; ready",
        "*Event*\n—",
    ]
    button = blocks[2]["elements"][0]
    assert button["type"] == "button" and button["url"] == "https://lv.example/leads/ld_1"

    text2, blocks2 = trigger_message("ld_2", 50, "B", "T", "demo_request", None)
    assert len(blocks2) == 2 and "*Lead*\nld_2" in blocks2[1]["fields"][0]["text"]
    assert "demo_request" in text2 and "level B" in text2


def test_the_fallback_text_cannot_ping_a_channel() -> None:
    # Lead ids and event types come from whoever may ingest: Slack notifies with the fallback text, so it is escaped
    # as the fields are.
    text, blocks = trigger_message("<!channel>", 5, "<!here>", "A & B", "<@U123>", None)
    assert "<!" not in text and "<@" not in text
    assert text == ("🔥 Lead turned hot: &lt;!channel&gt; scored 5 (level &lt;!here&gt;) — trigger “A &amp; B”"
                    " on &lt;@U123&gt;")
    assert "<!" not in str(blocks)
