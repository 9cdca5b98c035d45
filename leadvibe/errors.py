"""One error shape everywhere: `{"error": "<one readable sentence>"}` (plus `details` for validation)."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

log = structlog.get_logger("leadvibe.errors")


class ApiError(Exception):
    """An error the client caused (4xx) or a named failure; handlers raise it, one handler renders it."""

    def __init__(self, status: int, message: str, details: list[Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers = headers


def bad_request(message: str, details: list[Any] | None = None) -> ApiError:
    """400: the request is malformed or a field is wrong (name the field)."""
    return ApiError(400, message, details)


def not_found(what: str) -> ApiError:
    """404: unknown id, or an id of another OU (indistinguishable on purpose)."""
    return ApiError(404, f"{what} not found")


def forbidden(message: str) -> ApiError:
    """403: authenticated but not allowed."""
    return ApiError(403, message)


def conflict(message: str) -> ApiError:
    """409: the request clashes with existing data."""
    return ApiError(409, message)


def unprocessable(message: str) -> ApiError:
    """422: well-formed but semantically invalid."""
    return ApiError(422, message)


def error_body(message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """The one error shape: `{"error": message}`, plus `details` when given."""
    body: dict[str, Any] = {"error": message}
    if details:
        body["details"] = details
    return body


_body = error_body


def validation_error(text: str) -> ApiError:
    """400 for a body msgspec refused (`<message> - at `$.<path>``), in the shape the framework's validation
    errors are rendered in (the field named in the message and in `details`)."""
    message, found, where = text.partition(" - at `$.")
    key = where.rstrip("`") if found else "data"
    return ApiError(400, message if key in message else f"invalid `{key}`: {message}",
                    [{"message": message, "key": key, "source": "body"}])


def _validation_message(exc: ValidationException) -> tuple[str, list[Any] | None]:
    extra = exc.extra if isinstance(exc.extra, list) else None
    if extra:
        first = extra[0] if isinstance(extra[0], dict) else {}
        key = first.get("key")
        msg = str(first.get("message", "invalid value"))
        if key and key not in msg:
            return f"invalid `{key}`: {msg}", extra
        return msg, extra
    detail = exc.detail or "invalid request"
    if detail.startswith("Validation failed for"):
        detail = "the request body is not valid JSON of the expected shape"
    return detail, None


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[Any]:
    """Render ApiError."""
    return Response(_body(exc.message, exc.details), status_code=exc.status, headers=exc.headers,
                    media_type=MediaType.JSON)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Render Litestar's own exceptions (404 route, 405, 413, validation) in our shape."""
    status = exc.status_code
    details = None
    if isinstance(exc, ValidationException):
        message, details = _validation_message(exc)
        status = 400
    elif isinstance(exc, NotAuthorizedException):
        message = exc.detail or "authentication required"
    elif status == 404:
        message = exc.detail if exc.detail and exc.detail != "Not Found" else f"no such path: {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    elif status == 413:
        message = "request body too large"
    else:
        message = exc.detail or "request failed"
    # Framework messages name the path with its query string; the query may carry values that belong to the
    # caller only, so the message keeps the path alone.
    message = re.sub(r"(for path \S+?)\?\S*", r"\1", message)
    headers = dict(exc.headers) if exc.headers else None
    return Response(_body(message, details), status_code=status, headers=headers, media_type=MediaType.JSON)


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A 500 is a bug: log it with the traceback (never the body) and answer without internals."""
    if isinstance(exc, RecursionError):
        return Response(_body("JSON nested too deeply (at most 32 levels)"), status_code=400)
    log.error("unhandled_error", path=request.url.path, method=request.method, exc_info=exc)
    return Response(_body("internal error"), status_code=HTTP_500_INTERNAL_SERVER_ERROR, media_type=MediaType.JSON)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
