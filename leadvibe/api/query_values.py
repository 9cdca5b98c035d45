"""One value per scalar query parameter: `?lead_id=a&lead_id=b` on an operation whose `lead_id` takes one value is
refused (400 naming the parameter) instead of the framework silently keeping the last one. Parameters declared as
lists (`metadata` on /events) repeat freely.

The framework knows each handler's query parameters once its routes are built; `index_scalar_queries(app)` reads
them from there into the app's state, and the guard looks a handler up by its function (the handler objects the
routes hold are copies of the ones a guard is given)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute

from leadvibe.errors import ApiError

_STATE_KEY = "scalar_query_params"


def index_scalar_queries(app: Litestar) -> None:
    """Record, per HTTP route handler of `app`, the names of its query parameters that take one value."""
    index: dict[Any, frozenset[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                index[handler.fn] = frozenset(
                    p.field_alias for p in kwargs_model.expected_query_params if not p.is_sequence)
    app.state[_STATE_KEY] = index


def one_value_each(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: a scalar query parameter given more than once is a 400."""
    if b"&" not in connection.scope.get("query_string", b""):
        return
    counts = Counter(key for key, _ in connection.query_params.multi_items())
    repeated = [key for key, n in counts.items() if n > 1]
    if not repeated:
        return
    scalars = connection.app.state.get(_STATE_KEY, {}).get(handler.fn, frozenset())
    for key in sorted(repeated):
        if key in scalars:
            raise ApiError(400, f"`{key}` was given more than once; it takes one value")
