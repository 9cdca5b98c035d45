"""A fake Slack Web API for the integration's tests (the API's through the test client, the dashboard's through a
real server): OAuth v2 token exchange, conversations.list/open, users.list, chat.postMessage, each checking the
credentials a real Slack would."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from typing import Any
from urllib.parse import parse_qs

from tests.notify._fakehttp import FakeHTTPServer, Request, Response

CLIENT_ID, CLIENT_SECRET, BOT_TOKEN = "cid.123", "csecret-very-secret", "xoxb-bot-token-999"
PUBLIC = "https://lv.example"
# What users.list gives: people, a deactivated account, a bot and Slackbot (a picker offers the people only).
MEMBERS = [
    {"id": "U1", "name": "ana", "real_name": "Ana Lima", "profile": {"real_name": "Ana Lima"}},
    {"id": "U2", "name": "bo", "real_name": "Bo Berg", "profile": {"real_name": "Bo Berg", "display_name": "bo"}},
    {"id": "U3", "name": "gone", "real_name": "Old Account", "deleted": True},
    {"id": "B1", "name": "crm-bot", "real_name": "CRM bot", "is_bot": True},
    {"id": "USLACKBOT", "name": "slackbot", "real_name": "Slackbot"},
]


def json_response(data: dict[str, Any]) -> Response:
    """A 200 with a JSON body, as the Web API answers every call (its `ok` says whether it worked)."""
    return Response(200, json.dumps(data).encode(), {"content-type": "application/json"})


class FakeSlack:
    """oauth.v2.access, conversations.list/open, users.list, chat.postMessage; checks credentials."""

    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.opened: list[str] = []
        # Set: the workspace revoked the bot token, every call with it answers so.
        self.revoked = False

    def __call__(self, req: Request) -> Response:
        method = req.path.removeprefix("/api/")
        if method == "oauth.v2.access":
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            if req.headers.get("authorization") != f"Basic {basic}":
                return json_response({"ok": False, "error": "invalid_client_id"})
            if form.get("code") != "good-code":
                return json_response({"ok": False, "error": "invalid_code"})
            assert form["redirect_uri"] == f"{PUBLIC}/settings/slack/callback"
            return json_response(
                {
                    "ok": True,
                    "access_token": BOT_TOKEN,
                    "bot_user_id": "U0BOT",
                    "team": {"id": "T123", "name": "Acme"},
                }
            )
        if req.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return json_response({"ok": False, "error": "invalid_auth"})
        if self.revoked:
            return json_response({"ok": False, "error": "token_revoked"})
        if method == "conversations.list":
            return json_response(
                {
                    "ok": True,
                    "channels": [{"id": "C1", "name": "sales"}],
                    "response_metadata": {"next_cursor": ""},
                    "query": req.query,
                }
            )
        if method == "users.list":
            return json_response({"ok": True, "members": MEMBERS, "response_metadata": {"next_cursor": ""}})
        if method == "conversations.open":
            user = json.loads(req.body)["users"]
            self.opened.append(user)
            return json_response({"ok": True, "channel": {"id": f"D{user}"}})
        if method == "chat.postMessage":
            body = json.loads(req.body)
            if body["channel"] == "C_GONE":
                return json_response({"ok": False, "error": "channel_not_found"})
            self.posted.append(body)
            return json_response({"ok": True, "channel": body["channel"], "ts": "1.2"})
        return json_response({"ok": False, "error": "unknown_method"})


class ThreadedServer:
    """A FakeHTTPServer on its own loop and thread: the test client calls the app while blocking the test's
    loop, so a fake the app calls from a request handler cannot live on that loop."""

    def __init__(self, handler: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = FakeHTTPServer(handler)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
