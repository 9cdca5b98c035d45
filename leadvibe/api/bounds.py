"""Integer ranges (SEMANTICS §12): every integer a client sends has a documented range, checked by the decoder.

A number without bounds reaches SQLite as an arbitrary-precision Python int and fails there (an overflow is a 500,
not a 400). So every `int` in a query, path or header parameter and in a request body carries its range in its
type: the framework checks it while decoding the request (400 naming the field) and the OpenAPI document shows it
(`minimum`/`maximum`). Use the aliases below; `unbounded_integers(handler)` lists what a handler left open, and the
test suite runs it over every route, so an endpoint added later cannot forget.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import msgspec.inspect as mi
from litestar.constants import RESERVED_KWARGS
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Parameter

from leadvibe.limits import INT_LIMIT, INT_LIMIT_TEXT

__all__ = [
    "PAGE_MAX",
    "Count",
    "LimitParam",
    "PageParam",
    "Positive",
    "Signed",
    "bounded_query",
    "checked_range",
    "unbounded_integers",
]

PAGE_MAX = 1_000_000

# Request-body integers (msgspec constraints).
Signed = Annotated[int, msgspec.Meta(ge=-INT_LIMIT, le=INT_LIMIT,
                                    description=f"an integer from -{INT_LIMIT_TEXT} to {INT_LIMIT_TEXT}")]
Count = Annotated[int, msgspec.Meta(ge=0, le=INT_LIMIT, description=f"an integer from 0 to {INT_LIMIT_TEXT}")]
Positive = Annotated[int, msgspec.Meta(ge=1, le=INT_LIMIT, description=f"an integer from 1 to {INT_LIMIT_TEXT}")]


def checked_range(low: int, high: int) -> msgspec.Meta:
    """Metadata of a body integer whose handler checks a narrower range than the decoder, with a message of its own
    ("`days` must be between 1 and 3650"): the decoder keeps the overflow bounds, the document shows the range the
    handler checks, so a client generated from it sends only what the server accepts. A range past the decoder's
    usual bounds (a window of a year in milliseconds) widens them: SQLite holds any 64-bit integer."""
    return msgspec.Meta(ge=min(-INT_LIMIT, low), le=max(INT_LIMIT, high),
                        description=f"an integer from {low:,} to {high:,}",
                        extra_json_schema={"extra": {"minimum": low, "maximum": high}})

# Query parameters shared by every list endpoint (1-based page; limit 1..500; out of range -> 400, not clamped).
PageParam = Annotated[int, Parameter(ge=1, le=PAGE_MAX, description="Page number, 1..1,000,000")]
LimitParam = Annotated[int, Parameter(ge=1, le=500, description="Items per page, 1..500")]


def bounded_query(lo: int = -INT_LIMIT, hi: int = INT_LIMIT, **kw: Any) -> Any:
    """A `Parameter(...)` for an integer query parameter with a range (defaults ±10^9)."""
    # The bounds are stated again for the document: the framework leaves out a lower bound of 0 (it tests it
    # for truth) of an optional parameter.
    return Parameter(ge=lo, le=hi, schema_extra={"minimum": lo, "maximum": hi}, **kw)


def _walk(t: Any, where: str, out: list[str], seen: frozenset[type]) -> None:
    if isinstance(t, mi.Metadata):
        _walk(t.type, where, out, seen)
    elif isinstance(t, mi.IntType):
        low = t.ge if t.ge is not None else t.gt
        high = t.le if t.le is not None else t.lt
        if low is None or high is None or abs(low) > 2**62 or abs(high) > 2**62:
            out.append(where)
    elif isinstance(t, mi.StructType | mi.DataclassType | mi.TypedDictType | mi.NamedTupleType):
        if t.cls in seen:
            return
        for f in t.fields:
            _walk(f.type, f"{where}.{f.encode_name}", out, seen | {t.cls})
    elif isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        _walk(t.item_type, f"{where}[]", out, seen)
    elif isinstance(t, mi.TupleType):
        for i, item in enumerate(t.item_types):
            _walk(item, f"{where}[{i}]", out, seen)
    elif isinstance(t, mi.DictType):
        _walk(t.value_type, f"{where}{{}}", out, seen)
    elif isinstance(t, mi.UnionType):
        for item in t.types:
            _walk(item, where, out, seen)


def unbounded_integers(handler: BaseRouteHandler) -> list[str]:
    """The integers a client can send to `handler` (parameters and body fields) that lack a lower or upper
    bound, as dotted paths (`limit`, `data.rules[].weight`). Dependencies and framework values are skipped."""
    skip = (set(handler.resolve_dependencies()) | set(RESERVED_KWARGS)) - {"data"}
    info = mi.type_info(handler.signature_model)
    out: list[str] = []
    for f in info.fields:  # type: ignore[attr-defined]
        if f.name not in skip:
            _walk(f.type, f.name, out, frozenset())
    return out
