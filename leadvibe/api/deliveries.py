"""Notification deliveries (webhook, email, Slack): list them, retry a failed one."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import get, post
from litestar.params import Parameter

from leadvibe.api.deps import LimitParam, PageParam
from leadvibe.api.query_values import refuse_blank
from leadvibe.config import Settings
from leadvibe.documented import NOT_BLANK
from leadvibe.errors import conflict, not_found
from leadvibe.pipeline.delivery import smtp_config
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import deliveries as store
from leadvibe.store import leads as lead_store
from leadvibe.timeutil import Instant, to_rfc3339

TAGS = ["Triggers"]
Status = Literal["pending", "delivered", "failed", "disabled"]


class Delivery(msgspec.Struct):
    """One notification: where it goes, how it went."""

    delivery_id: str
    kind: str
    destination: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: Instant | None
    trigger_id: str | None
    emitted_id: str
    webhook_id: str
    created_at: Instant | None
    updated_at: Instant | None
    delivered_at: Instant | None
    # The lead the firing was about, and its name (metadata `name`, else first and last name, else `email`).
    lead_id: str | None = None
    lead_name: str | None = None


class EmailTransport(msgspec.Struct):
    """Whether this server can send email deliveries, and through which SMTP server (`LEADVIBE_SMTP_*`; never the
    login or the password). Unconfigured, every email delivery fails at once saying so."""

    configured: bool
    host: str | None
    port: int | None
    # "tls" from the first byte (port 465), "starttls" (an upgraded connection) or "none" (plain text)
    security: Literal["tls", "starttls", "none"] | None
    sender: str | None


class WebhookTransport(msgspec.Struct):
    """How webhook deliveries leave this server: to addresses on private networks only with
    `LEADVIBE_WEBHOOK_ALLOW_PRIVATE`."""

    private_addresses: bool


class Transports(msgspec.Struct):
    """What this server is set up to send (its settings, the same for every OU; Slack is per OU: /settings/slack)."""

    email: EmailTransport
    webhook: WebhookTransport


class DeliveryPage(msgspec.Struct):
    """A page of deliveries, and whether email and webhooks can go out at all."""

    deliveries: list[Delivery]
    total: int
    page: int
    limit: int
    transports: Transports


def transports(settings: Settings) -> Transports:
    """The server's delivery settings as the dashboard shows them."""
    smtp, webhooks = smtp_config(settings), WebhookTransport(settings.webhook_allow_private)
    if not smtp.configured:
        return Transports(EmailTransport(False, None, None, None, None), webhooks)
    security: Literal["tls", "starttls", "none"] = (
        "tls" if smtp.port == 465 else "starttls" if smtp.starttls else "none"
    )
    return Transports(EmailTransport(True, (smtp.host or "").strip(), smtp.port, security, smtp.sender), webhooks)


def delivery_out(r: dict[str, Any], names: dict[str, str]) -> Delivery:
    """Response shape of a delivery row (never the payload: it may hold lead data the list does not need);
    `names`: lead names by id."""
    return Delivery(
        r["id"],
        r["kind"],
        r["destination"],
        r["status"],
        r["attempts"],
        r["last_status"],
        r["last_error"],
        to_rfc3339(r["next_attempt_at"]),
        r["trigger_id"],
        r["emitted_id"],
        r["webhook_id"],
        to_rfc3339(r["created_at"]),
        to_rfc3339(r["updated_at"]),
        to_rfc3339(r["delivered_at"]),
        r["lead_id"],
        names.get(r["lead_id"]) if r["lead_id"] else None,
    )


def _named(conn: Any, unit_id: str, rows: list[dict[str, Any]]) -> list[Delivery]:
    leads = sorted({r["lead_id"] for r in rows if r["lead_id"]})
    names = lead_store.lead_names(conn, unit_id, leads)
    return [delivery_out(r, names) for r in rows]


@get(
    "/deliveries",
    opt=access(Role.VIEWER),
    operation_id="listDeliveries",
    summary="Notification deliveries (webhook/email/Slack)",
    tags=TAGS,
)
async def list_deliveries(
    rt: Runtime, tenant: Tenant, page: PageParam = 1, limit: LimitParam = 50, status: Status | None = None,
    lead_id: Annotated[str | None, Parameter(max_length=128, description="Only the deliveries of this lead's firings",
                                             schema_extra=NOT_BLANK)]
    = None,
) -> DeliveryPage:
    """Deliveries of the active OU, newest first: status, attempts, last error; and `transports`: whether this
    server can send email (SMTP configured, its host) and webhooks to private addresses."""
    refuse_blank(lead_id=lead_id)

    def run(c: Any) -> tuple[list[Delivery], int]:
        rows, total = store.list_deliveries(c, tenant.unit_id, status=status, limit=limit, offset=(page - 1) * limit,
                                            lead_id=lead_id)
        return _named(c, tenant.unit_id, rows), total

    deliveries, total = await rt.db.read(run)
    return DeliveryPage(deliveries, total, page, limit, transports(rt.settings))


@post(
    "/deliveries/{delivery_id:str}/retry",
    opt=access(Role.OPERATOR),
    operation_id="retryDelivery",
    summary="Retry a failed delivery now",
    tags=TAGS,
    status_code=200,
)
async def retry_delivery(rt: Runtime, tenant: Tenant, delivery_id: str) -> Delivery:
    """A failed (or disabled) delivery becomes pending, due now; it keeps its webhook-id."""
    now = rt.now_ms()

    def run(c: Any) -> Delivery:
        row = store.get_delivery(c, tenant.unit_id, delivery_id)
        if row is None:
            raise not_found("delivery")
        if row["status"] not in ("failed", "disabled"):
            raise conflict(f"only a failed delivery can be retried (this one is {row['status']})")
        store.retry_now(c, tenant.unit_id, delivery_id, now)
        retried = store.get_delivery(c, tenant.unit_id, delivery_id)
        assert retried is not None  # written just now, in this transaction
        return _named(c, tenant.unit_id, [retried])[0]

    delivery = await rt.db.write(run)
    sender = rt.delivery
    if sender is not None:
        sender.poke()
    return delivery


ROUTES = [list_deliveries, retry_delivery]
