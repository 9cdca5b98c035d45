"""Integration settings: the OU's webhook signing secret, the org's Slack app, and the OU's Slack connection
(OAuth v2 install, status, channels/users proxies, default target, test message)."""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import msgspec
from litestar import Response, delete, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_302_FOUND

from leadvibe.documented import single_line
from leadvibe.errors import ApiError, bad_request
from leadvibe.notify import webhook
from leadvibe.notify.slack import SlackClient, SlackError, authorize_url
from leadvibe.pipeline.delivery import ensure_webhook_secret, forget_revoked_slack_token, secrets_key
from leadvibe.pipeline.inbox import no_control
from leadvibe.runtime import Runtime
from leadvibe.security.guards import PUBLIC, access
from leadvibe.security.principal import Principal, Role, Tenant
from leadvibe.store import integrations as store
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Settings"]
CLIENT_ID_MAX = 200
CLIENT_SECRET_MAX = 500
INTEGRATIONS_PAGE = "/ui/settings/integrations"  # the dashboard's Integrations page
TargetKind = Literal["channel", "user"]
T = TypeVar("T")


# ------------------------------------------------------------------------------------------------ webhooks


class WebhookSecret(msgspec.Struct):
    """The OU's webhook signing secret."""

    secret: str
    rotated_at: Instant | None
    previous_valid_until: Instant | None = None


def _secret_out(rt: Runtime, row: dict[str, Any]) -> WebhookSecret:
    until = None
    if row["previous"] is not None and row["rotated_at"] is not None:
        end = row["rotated_at"] + store.ROTATION_OVERLAP_MS
        until = to_rfc3339(end) if end > rt.now_ms() else None
    return WebhookSecret(store.unseal(secrets_key(rt), row["current"]), to_rfc3339(row["rotated_at"]), until)


@get(
    "/settings/webhooks",
    opt=access(Role.OWNER, auth="jwt"),
    operation_id="getWebhookSecret",
    summary="The OU's webhook signing secret",
    tags=TAGS,
)
async def get_webhook_secret(rt: Runtime, tenant: Tenant) -> WebhookSecret:
    """Created on first read; receivers verify `webhook-signature` with it (Standard Webhooks)."""
    key, now = secrets_key(rt), rt.now_ms()
    return _secret_out(rt, await rt.db.write(lambda c: ensure_webhook_secret(c, key, tenant.unit_id, now)))


@post(
    "/settings/webhooks/rotate",
    opt=access(Role.OWNER, auth="jwt"),
    operation_id="rotateWebhookSecret",
    summary="Rotate the OU's webhook signing secret",
    tags=TAGS,
    status_code=200,
)
async def rotate_webhook_secret(rt: Runtime, tenant: Tenant) -> WebhookSecret:
    """A new secret; for 24 h deliveries carry signatures by both the new and the old one."""
    key, now = secrets_key(rt), rt.now_ms()

    def run(c: Any) -> dict[str, Any]:
        ensure_webhook_secret(c, key, tenant.unit_id, now)
        store.rotate_webhook_secret(c, tenant.unit_id, store.seal(key, webhook.generate_secret()), now)
        return store.webhook_secret_row(c, tenant.unit_id)  # type: ignore[return-value]

    return _secret_out(rt, await rt.db.write(run))


# ------------------------------------------------------------------------------------------------ Slack app


class SlackAppIn(msgspec.Struct):
    """The org's Slack app credentials."""

    client_id: Annotated[str, single_line(CLIENT_ID_MAX)]
    client_secret: Annotated[str, single_line(CLIENT_SECRET_MAX)]


class SlackAppStatus(msgspec.Struct):
    """Whether the org's Slack app is configured (the secret is never returned), and the redirect URL to register
    in it: the one this server sends Slack (`LEADVIBE_PUBLIC_URL`, else its own address), whatever address the
    browser reached it at."""

    configured: bool
    redirect_url: str
    client_id: str | None = None
    updated_at: Instant | None = None


@get(
    "/settings/slack-app",
    opt=access(Role.ORG_ADMIN, auth="jwt", ou=False),
    operation_id="getSlackApp",
    summary="Get Slack app configuration (org-level)",
    tags=TAGS,
)
async def get_slack_app(rt: Runtime, principal: Principal) -> SlackAppStatus:
    """Whether Slack app credentials are configured for the organization."""
    row = await rt.db.read(lambda c: store.slack_app(c, principal.org_id))
    if row is None:
        return SlackAppStatus(False, redirect_uri(rt))
    return SlackAppStatus(True, redirect_uri(rt), row["client_id"], to_rfc3339(row["updated_at"]))


@put(
    "/settings/slack-app",
    opt=access(Role.ORG_ADMIN, auth="jwt", ou=False),
    operation_id="setSlackApp",
    summary="Set Slack app configuration (org-level)",
    tags=TAGS,
)
async def set_slack_app(rt: Runtime, principal: Principal, data: SlackAppIn) -> SlackAppStatus:
    """Store the client id and (sealed) client secret; OUs then install the app with OAuth."""
    client_id, secret = data.client_id.strip(), data.client_secret.strip()
    if not client_id or len(data.client_id) > CLIENT_ID_MAX:
        raise bad_request(f"`client_id` is required (at most {CLIENT_ID_MAX} characters)")
    if not secret or len(data.client_secret) > CLIENT_SECRET_MAX:
        raise bad_request(f"`client_secret` is required (at most {CLIENT_SECRET_MAX} characters)")
    no_control(data.client_id, "client_id")
    no_control(data.client_secret, "client_secret")
    sealed, now = store.seal(secrets_key(rt), secret), rt.now_ms()
    await rt.db.write(
        lambda c: store.set_slack_app(c, principal.org_id, client_id, sealed, principal.actor_id, now)
    )
    return SlackAppStatus(True, redirect_uri(rt), client_id, to_rfc3339(now))


# ---------------------------------------------------------------------------------------------- Slack install


class SlackStatus(msgspec.Struct):
    """The OU's Slack connection."""

    connected: bool
    team_name: str | None
    team_id: str | None
    bot_user_id: str | None
    updated_at: Instant | None
    default_target_kind: str | None
    default_target_id: str | None
    authorize_url: str | None
    app_configured: bool


class AuthorizeUrl(msgspec.Struct):
    """Where to send the installing user."""

    authorize_url: str


class TargetIn(msgspec.Struct):
    """A Slack channel or user."""

    kind: TargetKind
    id: str


class TestIn(msgspec.Struct):
    """A test message to a channel or user."""

    kind: TargetKind
    id: str
    text: str | None = None


class Message(msgspec.Struct):
    """A one-line result."""

    message: str


def redirect_uri(rt: Runtime) -> str:
    """The OAuth redirect URI registered in the Slack app."""
    return f"{rt.settings.base_url}/settings/slack/callback"


async def _start_install(rt: Runtime, tenant: Tenant, principal: Principal) -> str:
    state, now = _secrets.token_urlsafe(24), rt.now_ms()

    def run(c: Any) -> str:
        app = store.slack_app(c, tenant.org_id)
        if app is None:
            raise bad_request("the organization's Slack app is not configured (PUT /settings/slack-app)")
        store.create_oauth_state(c, state, tenant.unit_id, tenant.org_id, principal.member_id, now)
        return str(app["client_id"])

    client_id = await rt.db.write(run)
    return authorize_url(rt.settings.slack_oauth_url, client_id, state, redirect_uri(rt))


def _status(row: dict[str, Any] | None, app_configured: bool, url: str | None) -> SlackStatus:
    if row is None:
        return SlackStatus(False, None, None, None, None, None, None, url, app_configured)
    connected = row["bot_token"] is not None
    return SlackStatus(
        connected,
        row["team_name"],
        row["team_id"],
        row["bot_user_id"],
        to_rfc3339(row["updated_at"]),
        row["default_target_kind"],
        row["default_target_id"],
        None if connected else url,
        app_configured,
    )


@get(
    "/settings/slack",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="getSlackStatus",
    summary="Get OU Slack integration status",
    tags=TAGS,
)
async def slack_status(rt: Runtime, tenant: Tenant, principal: Principal) -> SlackStatus:
    """Whether the OU is connected, the workspace, the default target (never the token). For Operators of a
    disconnected OU with a configured app, `authorize_url` starts an install."""
    row, app = await rt.db.read(
        lambda c: (store.slack_install(c, tenant.unit_id), store.slack_app(c, tenant.org_id))
    )
    return await _answered_status(rt, tenant, principal, row, app is not None)


async def _answered_status(rt: Runtime, tenant: Tenant, principal: Principal, row: dict[str, Any] | None,
                           app_configured: bool) -> SlackStatus:
    """The OU's Slack status as every route answers it: with an install link for an Operator of a disconnected
    OU whose organization has an app."""
    url = None
    connected = row is not None and row["bot_token"] is not None
    if app_configured and not connected and tenant.at_least(Role.OPERATOR):
        url = await _start_install(rt, tenant, principal)
    return _status(row, app_configured, url)


def _redirect(location: str) -> Response[bytes]:
    # An empty body: a redirect has nothing to say in JSON (`None` would be sent as the JSON text `null`).
    return Response(b"", status_code=HTTP_302_FOUND, media_type="text/plain", headers={"Location": location})


@get(
    "/settings/slack/install",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="beginSlackInstall",
    summary="Begin Slack installation",
    tags=TAGS,
    status_code=HTTP_302_FOUND,
    media_type="text/plain",
)
async def begin_install(rt: Runtime, tenant: Tenant, principal: Principal) -> Response[bytes]:
    """302 to Slack's authorize URL (single-use state, valid 10 minutes)."""
    return _redirect(await _start_install(rt, tenant, principal))


@post(
    "/settings/slack/install",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="initiateSlackInstall",
    summary="Initiate Slack installation",
    tags=TAGS,
    status_code=200,
)
async def initiate_install(rt: Runtime, tenant: Tenant, principal: Principal) -> AuthorizeUrl:
    """A single-use state for the active OU and Slack's authorize URL."""
    return AuthorizeUrl(await _start_install(rt, tenant, principal))


def _back(error: str | None = None) -> Response[bytes]:
    return _redirect(
        INTEGRATIONS_PAGE if error is None else f"{INTEGRATIONS_PAGE}?{urlencode({'slack_error': error})}"
    )


@get(
    "/settings/slack/callback",
    opt=PUBLIC,
    operation_id="slackOAuthCallback",
    summary="Slack OAuth callback",
    tags=TAGS,
    status_code=HTTP_302_FOUND,
    media_type="text/plain",
)
async def slack_callback(
    rt: Runtime,
    code: str | None = None,
    oauth_state: Annotated[str | None, Parameter(query="state")] = None,
    error: str | None = None,
) -> Response[bytes]:
    """Exchange the code for the bot token and store it for the OU that started the install; back to the
    Integrations page (with `slack_error` when something failed)."""
    state = oauth_state
    if not state:
        return _back("missing_state")
    now = rt.now_ms()

    def take(c: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        found = store.consume_oauth_state(c, state, now)  # single use: gone even if what follows fails
        return found, (store.slack_app(c, found["org_id"]) if found else None)

    found, app = await rt.db.write(take)
    if found is None:
        return _back("invalid_state")
    if error or not code:
        return _back(error or "missing_code")
    if app is None:
        return _back("app_not_configured")
    key = secrets_key(rt)
    client = SlackClient(rt.settings.slack_api_url, timeout_s=rt.settings.webhook_timeout)
    try:
        data = await client.oauth_v2_access(
            app["client_id"], store.unseal(key, app["client_secret"]), code, redirect_uri(rt)
        )
    except SlackError as exc:
        return _back(exc.code)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        return _back("no_token")
    raw_team = data.get("team")
    team: dict[str, Any] = raw_team if isinstance(raw_team, dict) else {}
    sealed = store.seal(key, token)

    def save(c: Any) -> None:
        store.save_slack_install(
            c,
            found["unit_id"],
            found["org_id"],
            team_id=team.get("id"),
            team_name=team.get("name"),
            bot_user_id=data.get("bot_user_id"),
            sealed_token=sealed,
            actor=found["member_id"],
            now=rt.now_ms(),
        )
        rt.invalidate_triggers(found["unit_id"])

    await rt.db.write(save)
    return _back()


@delete(
    "/settings/slack",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="disconnectSlack",
    summary="Disconnect OU Slack integration",
    tags=TAGS,
)
async def disconnect_slack(rt: Runtime, tenant: Tenant) -> None:
    """Forget the OU's bot token, workspace and default target."""

    def run(c: Any) -> None:
        store.delete_slack_install(c, tenant.unit_id)
        rt.invalidate_triggers(tenant.unit_id)

    await rt.db.write(run)


async def _slack_call(rt: Runtime, unit_id: str, call: Callable[[SlackClient], Awaitable[T]]) -> T:
    """`call` with a client on the OU's bot token (400 when not connected); a Slack error answers 502."""
    row = await rt.db.read(lambda c: store.slack_install(c, unit_id))
    if row is None or row["bot_token"] is None:
        raise bad_request("Slack is not connected for this OU")
    client = SlackClient(
        rt.settings.slack_api_url,
        store.unseal(secrets_key(rt), row["bot_token"]),
        timeout_s=rt.settings.webhook_timeout,
    )
    try:
        return await call(client)
    except SlackError as exc:
        if exc.needs_reinstall:
            await forget_revoked_slack_token(rt, unit_id, row["bot_token"])
        raise ApiError(502, f"Slack answered an error: {exc}") from None


@get(
    "/settings/slack/channels",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="listSlackChannels",
    summary="List Slack channels for the connected workspace",
    tags=TAGS,
)
async def slack_channels(
    rt: Runtime,
    tenant: Tenant,
    types: str | None = "public_channel,private_channel",
    cursor: str | None = None,
) -> dict[str, Any]:
    """Proxies Slack `conversations.list` and returns the upstream response."""
    return await _slack_call(rt, tenant.unit_id, lambda client: client.conversations_list(types, cursor))


@get(
    "/settings/slack/users",
    opt=access(Role.VIEWER, auth="jwt"),
    operation_id="listSlackUsers",
    summary="List Slack users for the connected workspace",
    tags=TAGS,
)
async def slack_users(rt: Runtime, tenant: Tenant, cursor: str | None = None) -> dict[str, Any]:
    """Proxies Slack `users.list` and returns the upstream response."""
    return await _slack_call(rt, tenant.unit_id, lambda client: client.users_list(cursor))


def _target_id(value: str) -> str:
    """A Slack channel or user id: trimmed, 1-200 characters, no control characters (Slack ids never have any)."""
    no_control(value, "id")  # before trimming: a control character at either end is refused too
    target = value.strip()
    if not target:
        raise bad_request("`id` is required (a Slack channel or user id)")
    if len(target) > 200:
        raise bad_request("`id` must be at most 200 characters")
    return target


@put(
    "/settings/slack/target",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="setSlackTarget",
    summary="Set default Slack notification target for the active OU",
    tags=TAGS,
)
async def set_slack_target(rt: Runtime, tenant: Tenant, principal: Principal, data: TargetIn) -> SlackStatus:
    """Triggers without their own Slack target notify this channel or user."""
    target = _target_id(data.id)

    def run(c: Any) -> tuple[dict[str, Any] | None, bool]:
        store.set_slack_target(c, tenant.unit_id, tenant.org_id, data.kind, target, rt.now_ms())
        rt.invalidate_triggers(tenant.unit_id)
        return store.slack_install(c, tenant.unit_id), store.slack_app(c, tenant.org_id) is not None

    row, configured = await rt.db.write(run)
    return await _answered_status(rt, tenant, principal, row, configured)


@post(
    "/settings/slack/test",
    opt=access(Role.OPERATOR, auth="jwt"),
    operation_id="testSlackNotification",
    summary="Send a test Slack notification to the selected target",
    tags=TAGS,
    status_code=200,
)
async def test_slack(rt: Runtime, tenant: Tenant, data: TestIn) -> Message:
    """A simple message to a channel, or to a user (opening a DM first)."""
    target = _target_id(data.id)
    text = (data.text or "").strip() or "✅ LeadVibe test notification: Slack is connected."
    if len(text) > 3000:
        raise bad_request("`text` must be at most 3000 characters")

    async def send(client: SlackClient) -> None:
        channel = await client.conversations_open(target) if data.kind == "user" else target
        await client.chat_post_message(channel, text)

    await _slack_call(rt, tenant.unit_id, send)
    return Message(f"Test message sent to {data.kind} {target}")


ROUTES = [
    get_webhook_secret,
    rotate_webhook_secret,
    get_slack_app,
    set_slack_app,
    slack_status,
    begin_install,
    initiate_install,
    slack_callback,
    disconnect_slack,
    slack_channels,
    slack_users,
    set_slack_target,
    test_slack,
]
