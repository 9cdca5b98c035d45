"""Notification deliveries (webhook, email, Slack): list them, retry a failed one."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import get, post

from leadvibe.api.deps import LimitParam, PageParam
from leadvibe.errors import conflict, not_found
from leadvibe.runtime import Runtime
from leadvibe.security.guards import access
from leadvibe.security.principal import Role, Tenant
from leadvibe.store import deliveries as store
from leadvibe.timeutil import to_rfc3339

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
    next_attempt_at: str | None
    trigger_id: str | None
    emitted_id: str
    webhook_id: str
    created_at: str | None
    updated_at: str | None
    delivered_at: str | None


class DeliveryPage(msgspec.Struct):
    """A page of deliveries."""

    deliveries: list[Delivery]
    total: int
    page: int
    limit: int


def delivery_out(r: dict[str, Any]) -> Delivery:
    """Response shape of a delivery row (never the payload: it may hold lead data the list does not need)."""
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
    )


@get(
    "/deliveries",
    opt=access(Role.VIEWER),
    operation_id="listDeliveries",
    summary="Notification deliveries (webhook/email/Slack)",
    tags=TAGS,
)
async def list_deliveries(
    rt: Runtime, tenant: Tenant, page: PageParam = 1, limit: LimitParam = 50, status: Status | None = None
) -> DeliveryPage:
    """Deliveries of the active OU, newest first: status, attempts, last error."""
    rows, total = await rt.db.read(
        lambda c: store.list_deliveries(
            c, tenant.unit_id, status=status, limit=limit, offset=(page - 1) * limit
        )
    )
    return DeliveryPage([delivery_out(r) for r in rows], total, page, limit)


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

    def run(c: Any) -> dict[str, Any]:
        row = store.get_delivery(c, tenant.unit_id, delivery_id)
        if row is None:
            raise not_found("delivery")
        if row["status"] not in ("failed", "disabled"):
            raise conflict(f"only a failed delivery can be retried (this one is {row['status']})")
        store.retry_now(c, tenant.unit_id, delivery_id, now)
        return store.get_delivery(c, tenant.unit_id, delivery_id)  # type: ignore[return-value]

    row = await rt.db.write(run)
    sender = rt.delivery
    if sender is not None:
        sender.poke()
    return delivery_out(row)


ROUTES = [list_deliveries, retry_delivery]
