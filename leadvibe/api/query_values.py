"""Query values the framework would read loosely, refused by name instead.

- One value per scalar query parameter: `?lead_id=a&lead_id=b` on an operation whose `lead_id` takes one value is
  refused (400 naming the parameter) instead of the framework silently keeping the last one. Parameters declared
  as lists (`metadata` on /events) repeat freely.
- Integers are plain decimal integers: the framework converts a query value as its decoder converts any text, so
  `?limit=2.0` read as 2 and `?page=1e3` as 1000. An integer query parameter takes `-?(0|[1-9][0-9]*)` (what
  the decoder takes from text, less its float spellings) and answers anything else as it answers `?limit=abc`.

The framework knows each handler's query parameters once its routes are built; `index_queries(app)` reads them
from there into the app's state, and the guard looks a handler up by its function (the handler objects the routes
hold are copies of the ones a guard is given)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, NamedTuple

import msgspec.inspect as mi
import msgspec.structs
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.routes import HTTPRoute

from leadvibe.errors import ApiError

__all__ = ["DECIMAL_INTEGER", "QueryShape", "check_query_values", "index_queries", "refuse_blank"]

_STATE_KEY = "query_shapes"

DECIMAL_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
"""The one spelling of an integer in a query string (no sign `+`, spaces, fraction, exponent or leading zero)."""


class QueryShape(NamedTuple):
    """What a handler's query string may hold: the parameters taking one value, and those taking integers."""

    scalars: frozenset[str]
    integers: frozenset[str]


_NONE = QueryShape(frozenset(), frozenset())


def _takes_integers(t: Any) -> bool:
    """True when a parameter's type (`int`, `int | None`, `list[int]`, with or without bounds) reads integers."""
    if isinstance(t, mi.Metadata):
        return _takes_integers(t.type)
    if isinstance(t, mi.IntType):
        return True
    if isinstance(t, mi.UnionType):
        return any(_takes_integers(item) for item in t.types)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return _takes_integers(t.item_type)
    return False


def _shape(handler: Any, kwargs_model: Any) -> QueryShape:
    params = kwargs_model.expected_query_params
    if not params:
        return _NONE
    # Only the query parameters' own types are inspected: the signature model's other fields include request
    # bodies, whose whole type trees `mi.type_info` would translate (most of an app's build time when it did).
    annotations = {f.name: f.type for f in msgspec.structs.fields(handler.signature_model)}
    return QueryShape(
        scalars=frozenset(p.field_alias for p in params if not p.is_sequence),
        integers=frozenset(p.field_alias for p in params
                           if p.field_name in annotations and _takes_integers(mi.type_info(annotations[p.field_name]))),
    )


def index_queries(app: Litestar) -> None:
    """Record, per HTTP route handler of `app`, the `QueryShape` of its query parameters."""
    index: dict[Any, QueryShape] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler, kwargs_model in route.route_handler_map.values():
                index[handler.fn] = _shape(handler, kwargs_model)
    app.state[_STATE_KEY] = index


def query_shape(app: Litestar, handler: BaseRouteHandler) -> QueryShape:
    """The `QueryShape` `index_queries` recorded for `handler` (none when it was not indexed)."""
    return app.state.get(_STATE_KEY, {}).get(handler.fn, _NONE)


def check_query_values(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: a scalar query parameter given more than once, or an integer one not written as a plain decimal
    integer, is a 400 naming it."""
    if not connection.scope.get("query_string"):
        return
    shape = query_shape(connection.app, handler)
    if not shape.integers and not shape.scalars:
        return
    items = list(connection.query_params.multi_items())
    counts = Counter(key for key, _ in items)
    for key in sorted(key for key, n in counts.items() if n > 1 and key in shape.scalars):
        raise ApiError(400, f"`{key}` was given more than once; it takes one value")
    for key, value in items:
        # An empty value is the framework's to judge: it reads it as absent where a default allows.
        if key in shape.integers and value and not DECIMAL_INTEGER.fullmatch(value):
            # Said as the framework says `?limit=abc`, so a client sees one answer for every malformed integer.
            raise ApiError(400, f"`{key}` must be an integer",
                           [{"message": "Expected `int`, got `str`", "key": key, "source": "query"}])


def refuse_blank(**filters: str | None) -> None:
    """A filter given blank is a mistake, not "any" (leaving the parameter out says that): a 400 naming it."""
    for name, value in filters.items():
        if value is not None and not value.strip():
            raise ApiError(400, f"`{name}` must not be blank")
