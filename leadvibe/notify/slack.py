"""Slack Web API client: OAuth v2 installation, channel/user listing, and trigger messages.

The API base URL is a parameter (``LEADVIBE_SLACK_API_URL`` in settings, ``https://slack.com/api`` by
default) so tests and air-gapped demos talk to a local fake. Slack reports most failures as HTTP 200 with
``{"ok": false, "error": "..."}``; every such answer becomes a :class:`SlackError` carrying that code. Tokens
and client secrets never appear in exception messages or reprs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from leadvibe.notify.webhook import parse_retry_after

# Imported where a request is made (see notify/webhook.py): idle processes never load httpx.
if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_SCOPES",
    "SlackClient",
    "SlackError",
    "authorize_url",
    "trigger_message",
]

DEFAULT_SCOPES: tuple[str, ...] = ("chat:write", "channels:read", "groups:read", "users:read", "im:write")

_AUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope"}
)
_MESSAGES: Mapping[str, str] = {
    "channel_not_found": "Slack channel not found",
    "not_in_channel": "the Slack bot is not a member of that channel",
    "is_archived": "the Slack channel is archived",
    "user_not_found": "Slack user not found",
    "invalid_auth": "the Slack token is invalid",
    "not_authed": "no Slack token was sent",
    "token_revoked": "the Slack token was revoked (reinstall the app)",
    "token_expired": "the Slack token has expired (reinstall the app)",
    "account_inactive": "the Slack installation is no longer active (reinstall the app)",
    "missing_scope": "the Slack app lacks a required permission (reinstall the app)",
    "invalid_code": "the Slack authorization code is invalid or was already used",
    "bad_redirect_uri": "the Slack redirect URI does not match the app's configuration",
    "invalid_client_id": "the Slack client id is wrong",
    "bad_client_secret": "the Slack client secret is wrong",
    "ratelimited": "Slack rate limit reached",
    "msg_too_long": "the Slack message is too long",
    "no_text": "the Slack message has no text",
}


class SlackError(Exception):
    """A Slack API failure. ``code`` is Slack's ``error`` string (``channel_not_found``, ``invalid_auth``,
    ``ratelimited``, ...) or one of ours (``http_502``, ``timeout``, ``request_failed``,
    ``invalid_response``);
    ``retry_after`` is set for rate limits (and a 503 that says when); ``status`` is the HTTP status of the
    answer, when one came."""

    def __init__(self, code: str, method: str, retry_after: float | None = None, detail: str | None = None,
                 status: int | None = None):
        self.code = code
        self.method = method
        self.retry_after = retry_after
        self.status = status
        readable = _MESSAGES.get(code, f"Slack error {code}")
        if detail:
            readable = f"{readable} ({detail})"
        if retry_after is not None:
            readable = f"{readable}; retry after {retry_after:g} s"
        super().__init__(f"{method}: {readable}")

    @property
    def needs_reinstall(self) -> bool:
        """True when the stored token can no longer work and the OU must reconnect Slack."""
        return self.code in _AUTH_CODES


def authorize_url(
    oauth_base: str,
    client_id: str,
    state: str,
    redirect_uri: str,
    scopes: Sequence[str] = DEFAULT_SCOPES,
) -> str:
    """The OAuth v2 authorize URL to send the installing user to (``{oauth_base}/oauth/v2/authorize?...``)."""
    query = urlencode(
        {"client_id": client_id, "scope": ",".join(scopes), "state": state, "redirect_uri": redirect_uri}
    )
    return f"{oauth_base.rstrip('/')}/oauth/v2/authorize?{query}"


def _retry_after(value: str | None) -> float:
    # Slack sends whole seconds; a missing or odd header (not a number, infinite, negative) still must not make the
    # caller spin or wait for ever: at least a second, at most a day (webhook.parse_retry_after's cap).
    seconds = parse_retry_after(value)
    return max(seconds, 1.0) if seconds is not None else 1.0


class SlackClient:
    """A thin async client over the Slack Web API methods LeadVibe uses.

    ``api_base`` is e.g. ``https://slack.com/api``. ``token`` is the bot token (``xoxb-...``), sent as
    ``Authorization: Bearer``; not needed for :meth:`oauth_v2_access`. Pass ``client`` to share a connection
    pool (it is not closed here); otherwise each call uses a short-lived client.
    """

    def __init__(
        self,
        api_base: str,
        token: str | None = None,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s
        self._client = client

    def __repr__(self) -> str:
        # Never the token: reprs end up in logs and tracebacks.
        return f"SlackClient(api_base={self.api_base!r}, token={'set' if self._token else 'unset'})"

    async def _call(
        self,
        method: str,
        *,
        params: Mapping[str, str | int] | None = None,
        form: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
        auth: httpx.BasicAuth | None = None,
        use_token: bool = True,
    ) -> dict[str, Any]:
        import httpx

        headers: dict[str, str] = {}
        if use_token:
            if not self._token:
                raise SlackError("not_authed", method)
            headers["Authorization"] = f"Bearer {self._token}"
        url = f"{self.api_base}/{method}"
        http_method = "POST" if (form is not None or json_body is not None) else "GET"
        try:
            if self._client is not None:
                response = await self._client.request(
                    http_method,
                    url,
                    params=params,
                    data=form,
                    json=json_body,
                    headers=headers,
                    auth=auth,
                    timeout=self.timeout_s,
                )
            else:
                # trust_env=False: configuration is explicit; environment proxies are not silently picked up.
                async with httpx.AsyncClient(timeout=self.timeout_s, trust_env=False) as client:
                    response = await client.request(
                        http_method, url, params=params, data=form, json=json_body, headers=headers, auth=auth
                    )
        except httpx.TimeoutException:
            raise SlackError("timeout", method, detail=f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            # The exception text is about the connection (no headers), so it cannot carry the token.
            raise SlackError("request_failed", method, detail=type(exc).__name__) from None

        status = response.status_code
        if status == 429:
            raise SlackError("ratelimited", method, retry_after=_retry_after(response.headers.get("retry-after")),
                             status=status)
        if status != 200:
            # A 503 may say when to come back, as a webhook receiver's does.
            later = parse_retry_after(response.headers.get("retry-after")) if status == 503 else None
            raise SlackError(f"http_{status}", method, retry_after=later, status=status)
        try:
            data = response.json()
        except ValueError:
            raise SlackError("invalid_response", method, detail="not JSON") from None
        if not isinstance(data, dict):
            raise SlackError("invalid_response", method, detail="not a JSON object")
        if not data.get("ok"):
            code = str(data.get("error") or "unknown_error")
            retry = _retry_after(response.headers.get("retry-after")) if code == "ratelimited" else None
            raise SlackError(code, method, retry_after=retry, status=status)
        return data

    async def oauth_v2_access(
        self, client_id: str, client_secret: str, code: str, redirect_uri: str
    ) -> dict[str, Any]:
        """Exchange an OAuth ``code`` for the bot token: ``{"access_token", "team": {"id","name"},
        "bot_user_id", ...}`` as Slack returns it. The client credentials go in HTTP Basic auth, which Slack
        prefers over form fields."""
        import httpx

        return await self._call(
            "oauth.v2.access",
            form={"code": code, "redirect_uri": redirect_uri},
            auth=httpx.BasicAuth(client_id, client_secret),
            use_token=False,
        )

    async def conversations_list(
        self, types: str | None, cursor: str | None = None, limit: int = 200
    ) -> dict[str, Any]:
        """One page of channels (``{"channels": [...], "response_metadata": {"next_cursor"}}``), archived
        ones excluded. ``types`` e.g. ``"public_channel,private_channel"``."""
        params: dict[str, str | int] = {"limit": limit, "exclude_archived": "true"}
        if types:
            params["types"] = types
        if cursor:
            params["cursor"] = cursor
        return await self._call("conversations.list", params=params)

    async def users_list(self, cursor: str | None = None, limit: int = 200) -> dict[str, Any]:
        """One page of workspace members (``{"members": [...], "response_metadata": {"next_cursor"}}``)."""
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        return await self._call("users.list", params=params)

    async def conversations_open(self, user_id: str) -> str:
        """Open (or reuse) the bot's direct-message channel with ``user_id``; returns its channel id."""
        data = await self._call("conversations.open", json_body={"users": user_id})
        channel = data.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else None
        if not isinstance(channel_id, str) or not channel_id:
            raise SlackError("invalid_response", "conversations.open", detail="no channel id")
        return channel_id

    async def chat_post_message(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Post ``text`` (the notification fallback and accessibility text) with optional Block Kit ``blocks``
        to a channel id (or a DM channel from :meth:`conversations_open`). Returns ``{"channel", "ts", ...}``
        as Slack does."""
        body: dict[str, Any] = {"channel": channel, "text": text}
        if blocks:
            body["blocks"] = blocks
        return await self._call("chat.postMessage", json_body=body)


def _mrkdwn_escape(text: str) -> str:
    # Slack's only required escapes: a lead id containing "<!channel>" must not ping everyone.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def trigger_message(
    lead_id: str,
    score: int,
    level: str | None,
    trigger_name: str,
    event_type: str | None,
    lead_url: str | None,
) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and Block Kit blocks for a "lead turned hot" notification.

    The text is what notifications and screen readers show; the blocks add a header, the fields (lead,
    score, level, trigger, event) and a button to the lead in the dashboard when ``lead_url`` is given.
    """
    level_text = level or "—"
    event_text = event_type or "—"
    # The fallback text is what Slack notifies with, and it reads mrkdwn too: escaped like the fields below.
    text = (f"🔥 Lead turned hot: {_mrkdwn_escape(lead_id)} scored {score} (level {_mrkdwn_escape(level_text)})"
            f" — trigger “{_mrkdwn_escape(trigger_name)}”")
    if event_type:
        text += f" on {_mrkdwn_escape(event_type)}"
    lead_field = _mrkdwn_escape(lead_id)
    if lead_url:
        lead_field = f"<{lead_url}|{lead_field}>"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "🔥 Lead turned hot", "emoji": True}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Lead*\n{lead_field}"},
                {"type": "mrkdwn", "text": f"*Score*\n{score}"},
                {"type": "mrkdwn", "text": f"*Level*\n{_mrkdwn_escape(level_text)}"},
                # Section fields are capped at 2000 characters by Slack; trigger names are far shorter.
                {"type": "mrkdwn", "text": f"*Trigger*\n{_mrkdwn_escape(trigger_name)[:1900]}"},
                {"type": "mrkdwn", "text": f"*Event*\n{_mrkdwn_escape(event_text)}"},
            ],
        },
    ]
    if lead_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open lead"},
                        "url": lead_url,
                        "action_id": "open_lead",
                    }
                ],
            }
        )
    return text, blocks
