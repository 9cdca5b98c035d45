"""Dependencies every controller shares: the runtime, the caller, the active OU, and list paging."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.di import Provide
from litestar.params import Parameter

from leadvibe.api.bounds import LimitParam, PageParam
from leadvibe.errors import bad_request
from leadvibe.runtime import Runtime
from leadvibe.security.principal import Principal, Tenant
from leadvibe.timeutil import RANGES, range_bounds


def provide_rt(request: Request[Any, Any, Any]) -> Runtime:
    """The app's Runtime."""
    return request.app.state.runtime


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """The authenticated caller (set by the guard)."""
    return request.state.principal


def provide_tenant(request: Request[Any, Any, Any]) -> Tenant:
    """The active OU and role (set by the guard)."""
    return request.state.tenant


__all__ = ["DEPENDENCIES", "Deleted", "LimitParam", "Message", "PageParam", "provide_principal",
           "provide_rt", "provide_tenant"]

DEPENDENCIES = {
    "rt": Provide(provide_rt, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "tenant": Provide(provide_tenant, sync_to_thread=False),
}


# The `range` filter of the lead and account lists (`created_range`).
CreatedRange = Annotated[str | None, Parameter(query="range", description="Created within: " + ", ".join(RANGES),
                                               schema_extra={"enum": list(RANGES)})]


def created_range(value: str | None, now: int) -> tuple[int | None, int | None]:
    """A `range` query parameter (`last_7d`, ...) as [from, to) in ms; (None, None) when absent; 400 otherwise."""
    if value is None:
        return None, None
    try:
        return range_bounds(value, now)
    except ValueError as exc:
        raise bad_request(f"`range`: {exc}") from None


class Deleted(msgspec.Struct):
    """Acknowledges a deletion that has a body."""

    deleted: int


class Message(msgspec.Struct):
    """A one-line acknowledgement."""

    message: str
