"""JSON request bodies are declared as JSON: every operation that reads one answers 415 to any other Content-Type.

The framework decodes a handler's `data` argument as JSON whatever the request declares, so without this check
`text/plain` (or no Content-Type at all) was accepted everywhere but on ingestion. One guard covers every
framework route that reads a JSON body; the lean ingestion path (api/ingest_asgi.py) calls `require_json` itself.
Operations without a body (a POST that takes none, a DELETE) are not concerned; the one multipart upload (`/import`)
has its own guard, `multipart_upload`, in the same spirit.

The framework also converts a body's values leniently (`"5"` for a number, `"false"` for a boolean, `"1e3"` for
an integer), as it must for query strings, which are all text. A JSON body has types of its own, so
`decode_strictly` checks it against the handler's type first, as ingestion does: a string where a number belongs
is a 400 naming the field. A number with no fraction (`5.0`, `1e3`) is an integer, as JSON Schema and the
OpenAPI document say: it is taken where an integer belongs (2.5 is not).

An update (PUT, PATCH) keeps the fields it leaves out. For a field that has a value always (a name, a threshold, a
switch), `null` is not a way to leave it out: `refuses_null` marks such fields of a body type, and an update that
sends one of them as `null` is a 400 naming it, instead of a 200 that changed nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
from litestar.connection import ASGIConnection, Request
from litestar.enums import RequestEncodingType
from litestar.handlers.base import BaseRouteHandler

from leadvibe.errors import ApiError, bad_request, malformed_body, validation_error

_T = TypeVar("_T")
_NOT_NULL = "__leadvibe_not_null__"

_JSON_TYPES = frozenset({"application/json", "application/x-json"})
# A structured-syntax suffix (RFC 6839): `application/merge-patch+json`, `application/vnd.acme+json`.
_JSON_SUFFIX = re.compile(r"^application/[a-z0-9!#$&^_.-]+\+json$")
# `name=value` with a token or a quoted string as value (RFC 9110 §5.6.6); empty parameters (`;;`) are allowed.
_PARAMETER = re.compile(r'^[A-Za-z0-9!#$%&\'*+.^_`|~-]+=([A-Za-z0-9!#$%&\'*+.^_`|~-]+|"(?:[^"\\]|\\.)*")$')
# JSON is UTF-8 (RFC 8259); ASCII is a subset of it.
_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii"})
_HOW = "send the body as JSON (Content-Type: application/json)"


def _content_type_problem(content_type: str) -> str | None:
    """Why `content_type` does not declare a UTF-8 JSON body, or None when it does."""
    media_type, *parameters = content_type.split(";")
    media_type = media_type.strip().lower()
    if media_type not in _JSON_TYPES and not _JSON_SUFFIX.match(media_type):
        return f"Content-Type {media_type or '(empty)'} is not JSON: {_HOW}"
    for parameter in (p.strip() for p in parameters):
        if not parameter:
            continue
        if not _PARAMETER.match(parameter):
            return f"the Content-Type header is malformed (parameter {parameter!r}): {_HOW}"
        name, value = parameter.split("=", 1)
        if name.lower() == "charset" and value.strip('"').lower() not in _CHARSETS:
            return f"JSON bodies are UTF-8, not charset {value.strip(chr(34))}: {_HOW}"
    return None


def _declares_body(headers: Mapping[str, str]) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() != "0"
    return "transfer-encoding" in headers


def require_json(headers: Mapping[str, str]) -> None:
    """415 unless the request's Content-Type declares JSON. A request without Content-Type is refused when it has
    a body; one without either passes, so the decoder can say that the body is missing (400), which is the
    actual problem. `headers`: lower-case names."""
    content_type = headers.get("content-type")
    if content_type is None:
        if _declares_body(headers):
            raise ApiError(415, f"missing Content-Type: {_HOW}")
        return
    problem = _content_type_problem(content_type)
    if problem is not None:
        raise ApiError(415, problem)


def reads_json_body(handler: BaseRouteHandler) -> bool:
    """True when the framework decodes `handler`'s `data` argument as JSON (not a multipart or form upload)."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return False
    media_type = getattr(data.kwarg_definition, "media_type", None)
    return media_type in (None, RequestEncodingType.JSON)


def json_content_type(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard (after authentication, so an anonymous caller learns nothing of the body's rules): `require_json` on
    every operation that reads a JSON body."""
    if reads_json_body(handler):
        require_json(connection.headers)


def multipart_upload(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of `/import`: 415 unless the request is a multipart upload. A CSV sent as the raw body (`text/csv`,
    `curl --data-binary`) is the usual mistake, and the framework's own answer ("Invalid multipart/form-data") did
    not say what to send instead. Without Content-Type and without a body, the handler says the file is missing."""
    content_type = connection.headers.get("content-type")
    if content_type is None and not _declares_body(connection.headers):
        return
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise ApiError(415, f"Content-Type {media_type or '(missing)'} is not multipart/form-data: upload the CSV "
                            "as the multipart field `file` (curl -F file=@events.csv)")


def refuses_null(*fields: str) -> Callable[[type[_T]], type[_T]]:
    """Class decorator of a request body type: on PUT and PATCH, each of `fields` may be left out (it keeps its
    value) but not sent as `null`. Adds to the fields a base class marked."""

    def mark(cls: type[_T]) -> type[_T]:
        setattr(cls, _NOT_NULL, frozenset(getattr(cls, _NOT_NULL, frozenset())) | frozenset(fields))
        return cls

    return mark


# msgspec's refusal of a float where an integer belongs (`int`, `int | null`, ...).
_INTEGRAL_FLOAT = re.compile(r"^Expected `int[^`]*`, got `float`")


def _as_integers(value: Any) -> Any:
    """`value` (decoded JSON) with every finite float without a fraction made an integer."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, list):
        return [_as_integers(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_integers(v) for k, v in value.items()}
    return value


def _refusal_with_whole_numbers(decoder: msgspec.json.Decoder[Any], body: bytes) -> str | None:
    """What the decoder refuses in the body once its whole-number floats are integers (None: nothing, and the body
    stands as it is: the framework converts `5.0` to 5 where an integer belongs and keeps it a float elsewhere)."""
    try:
        decoder.decode(msgspec.json.encode(_as_integers(msgspec.json.decode(body))))
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


def not_null_fields(annotation: Any) -> frozenset[str]:
    """The fields `refuses_null` marked on a body type (none for any other annotation)."""
    return frozenset(getattr(annotation, _NOT_NULL, frozenset()))


def _null_field(annotation: Any, body: bytes) -> str | None:
    """The first field of `body` that `annotation` marks with `refuses_null` and the body sends as `null`."""
    fields = not_null_fields(annotation)
    if not fields:
        return None
    raw = msgspec.json.decode(body)
    if isinstance(raw, dict):
        for name, value in raw.items():
            if value is None and name in fields:
                return str(name)
    return None


# Each handler function's strict decoder (None: it reads no JSON body, or its type is one msgspec cannot decode
# alone). Keyed by the function, which every app built in the process shares: the handler objects are the app's
# own copies, and would keep each app alive.
_STRICT: dict[Callable[..., Any], msgspec.json.Decoder[Any] | None] = {}


def _strict_decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any] | None:
    fn = handler.fn
    if fn not in _STRICT:
        decoder = None
        if reads_json_body(handler):
            try:
                decoder = msgspec.json.Decoder(handler.parsed_fn_signature.parameters["data"].annotation, strict=True)
            except TypeError:
                decoder = None
        _STRICT[fn] = decoder
    return _STRICT[fn]


async def decode_strictly(request: Request[Any, Any, Any]) -> None:
    """Before-request hook: a JSON body whose values do not have their field's JSON type is a 400 naming the field
    (the framework would convert `"5"` to 5); a body that is not JSON at all is a 400 saying why. Empty bodies
    are left to the framework's own message; the body read here is the one the handler gets (the framework keeps
    it)."""
    decoder = _strict_decoder(request.route_handler)
    if decoder is None:
        return
    body = await request.body()
    if not body.strip():
        return
    try:
        decoder.decode(body)
    except msgspec.ValidationError as exc:
        refusal = _refusal_with_whole_numbers(decoder, body) if _INTEGRAL_FLOAT.search(str(exc)) else str(exc)
        if refusal is not None:
            # A route may say what body it takes (`body_shape` in its opt), for a body that is not an object.
            raise validation_error(refusal, body, str(request.route_handler.opt.get("body_shape", ""))) from None
    except msgspec.DecodeError as exc:
        raise malformed_body(str(exc), body) from None
    if request.method in ("PUT", "PATCH"):
        field = _null_field(decoder.type, body)
        if field is not None:
            raise bad_request(f"`{field}` cannot be null: leave it out to keep its current value")
