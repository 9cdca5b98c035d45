"""The framework's side of `leadvibe.errors`: ApiError rendered as a response, and Litestar's own exceptions (an
unknown route, a wrong method, a body that did not validate) said in the same `{"error": ...}` shape."""

from __future__ import annotations

import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, InternalServerException, NotAuthorizedException, ValidationException
from litestar.utils.scope.state import ScopeState

from leadvibe.api.request_target import ENCODED_SLASH
from leadvibe.errors import CLIENT_WENT_AWAY, ApiError, error_body, out_of_range, plain_message, unexpected_error


def _public_name(request: Request[Any, Any, Any], key: str) -> str:
    # The decoder names the handler's argument; a query alias (`minScore`) is what the client sent.
    try:
        param = request.route_handler.parsed_fn_signature.parameters.get(key)
    except Exception:
        return key
    definition = getattr(param, "kwarg_definition", None)
    return getattr(definition, "query", None) or getattr(definition, "header", None) or key


def _validation_message(request: Request[Any, Any, Any], exc: ValidationException) -> tuple[str, list[Any] | None]:
    extra = exc.extra if isinstance(exc.extra, list) else None
    if extra:
        first = extra[0] if isinstance(extra[0], dict) else {}
        key = str(first.get("key") or "")
        raw = str(first.get("message", "invalid value"))
        if key == "data" and (raw == "'data'" or _body_is_empty(request)):
            return "the request body is empty", None
        field = None if key in ("", "data") else _public_name(request, key)
        for item in extra:
            if isinstance(item, dict) and item.get("key"):
                item["key"] = _public_name(request, str(item["key"]))
        from_text = first.get("source") in ("query", "path", "header", "cookie")
        return plain_message(raw, field, from_text=from_text), extra
    detail = exc.detail or "invalid request"
    if detail.startswith("Validation failed for"):
        detail = "the request body is not valid JSON of the expected shape"
    return plain_message(detail, None), None


def _body_of(request: Request[Any, Any, Any]) -> bytes | None:
    """The request body when the framework has read it (it keeps it in the scope), else None."""
    body = ScopeState.from_scope(request.scope).body
    return bytes(body) if isinstance(body, bytes | bytearray) else None


def _body_is_empty(request: Request[Any, Any, Any]) -> bool:
    body = _body_of(request)
    return body is not None and not body.strip()


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    """Render ApiError."""
    return Response(error_body(exc.message, exc.details), status_code=exc.status, headers=exc.headers,
                    media_type=MediaType.JSON)


def _framework_out_of_range(request: Request[Any, Any, Any], exc: HTTPException) -> ApiError | None:
    """`out_of_range` for the framework's refusals: a body it could not decode (`detail`) or convert (`extra`)."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    first = extra[0] if extra and isinstance(extra[0], dict) else {}
    text = str(first.get("message") or exc.detail or "")
    if "out of range" not in text:
        return None
    key = str(first["key"]) if first.get("key") not in (None, "", "data") else None
    return out_of_range(text, _body_of(request), key)


# What the framework raises when the connection closes while a handler reads the body.
_FRAMEWORK_DISCONNECT = "client disconnected prematurely"


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Render Litestar's own exceptions (404 route, 405, 413, validation) in our shape."""
    status = exc.status_code
    details = None
    overflow = _framework_out_of_range(request, exc) if status == 400 else None
    if overflow is not None:
        message, details = overflow.message, overflow.details
    elif isinstance(exc, ValidationException):
        message, details = _validation_message(request, exc)
        status = 400
    elif isinstance(exc, NotAuthorizedException):
        message = exc.detail or "authentication required"
    elif status == 404:
        message = exc.detail if exc.detail and exc.detail != "Not Found" else f"no such path: {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif status == 413:
        message = "request body too large"
    elif isinstance(exc, InternalServerException) and exc.detail == _FRAMEWORK_DISCONNECT:
        message, status = CLIENT_WENT_AWAY, 400
    elif status == 400 and exc.detail:
        message = plain_message(exc.detail, None)
    else:
        message = exc.detail or "request failed"
    # Framework messages name the path with its query string; the query may carry values that belong to the
    # caller only, so the message keeps the path alone.
    message = re.sub(r"(for path \S+?)\?\S*", r"\1", message)
    # A path not routed keeps the stand-in of an encoded slash (api/request_target.py): show it as sent.
    message = message.replace(ENCODED_SLASH, "%2F")
    headers = dict(exc.headers) if exc.headers else None
    if status == 405 and headers:
        # HEAD is answered wherever GET is (api/head_requests.py), so the list says so, as OPTIONS does.
        for name in [n for n in headers if n.lower() == "allow"]:
            allowed = [m.strip() for m in headers.pop(name).split(",")]
            headers["Allow"] = ", ".join(sorted({*allowed, "HEAD"} if "GET" in allowed else set(allowed)))
    return Response(error_body(message, details), status_code=status, headers=headers, media_type=MediaType.JSON)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Render `unexpected_error`."""
    return handle_api_error(request, unexpected_error(exc, request.url.path, request.method))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
