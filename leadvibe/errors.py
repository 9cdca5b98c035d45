"""One error shape everywhere: `{"error": "<one readable sentence>"}` (plus `details` for validation).

Free of the web framework: the worker process raises and words these errors too, and importing the framework
there would cost it ~9 MB for nothing. The framework's side (rendering, its own exceptions) is
`api/error_handlers.py`."""

from __future__ import annotations

import re
from typing import Any

import apsw
import structlog

from leadvibe.db.database import DatabaseClosed, ReadTimeout

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


_KINDS = {"int": "an integer", "str": "a string", "object": "a JSON object", "array": "an array",
          "bool": "true or false", "float": "a number", "null": "null", "number": "a number"}
_COMPARE = {"<=": "at most", ">=": "at least", "<": "less than", ">": "greater than"}


def _kinds(spec: str) -> str:
    names = [_KINDS.get(k.strip(), k.strip()) for k in spec.split("|")]
    return " or ".join(n for n in names if n != "null") + (" (or null)" if "null" in spec else "")


def plain_message(raw: str, field: str | None) -> str:
    """A decoder's message (msgspec, the framework) said in the user's words, naming the field."""
    name = f"`{field}`" if field else "the request body"
    if m := re.match(r"Object missing required field `([^`]+)`", raw):
        inner = f"{field}.{m.group(1)}" if field else m.group(1)
        return f"`{inner}` is required"
    if m := re.match(r"Object contains unknown field `([^`]+)`", raw):
        return f"`{m.group(1)}` is not a known field" + (f" of `{field}`" if field else "")
    if m := re.match(r"Expected `(\w+)` (<=|>=|<|>) (\S+)$", raw):
        return f"{name} must be {_COMPARE[m.group(2)]} {m.group(3)}"
    if m := re.match(r"Expected `(str|array|object)` of length (<=|>=) (\d+)", raw):
        unit = "characters" if m.group(1) == "str" else "items"
        return f"{name} must have {_COMPARE[m.group(2)]} {m.group(3)} {unit}"
    if m := re.match(r"Expected `([^`]+)`, got `([^`]+)`", raw):
        got = _KINDS.get(m.group(2), m.group(2))
        if not field and m.group(1) == "object":
            return f"the request body must be a JSON object, not {got}"
        return f"{name} must be {_kinds(m.group(1))}, not {got}"
    if m := re.match(r"Invalid enum value (.+)$", raw):
        return f"{name} does not accept the value {m.group(1)}"
    if raw.startswith("Expected `str` matching regex"):
        return f"{name} has the wrong format"
    if raw == "Input data was truncated":
        return "the request body is not valid JSON: it ends too early"
    if raw.startswith("JSON is malformed:"):
        return "the request body is not valid JSON: " + raw.split(":", 1)[1].strip()
    return f"invalid {name}: {raw}" if field else raw


def validation_error(text: str) -> ApiError:
    """400 for a body msgspec refused (`<message> - at `$.<path>``), said as the framework's validation errors
    are (`plain_message`, the field named in the message and in `details`): the lean ingest path uses it."""
    raw, found, where = text.partition(" - at `$")
    key = where.rstrip("`").lstrip(".") if found else ""
    return ApiError(400, plain_message(raw, key or None), [{"message": raw, "key": key or "data", "source": "body"}])


def _unavailable(exc: BaseException) -> str | None:
    """The sentence for a database that cannot serve right now (503), or None for a real bug."""
    if isinstance(exc, apsw.FullError):
        return "the disk is full: nothing was stored; free some space and retry"
    if isinstance(exc, ReadTimeout | DatabaseClosed):
        return str(exc)
    return None


def unexpected_error(exc: BaseException, path: str, method: str) -> ApiError:
    """What an exception no handler expected answers: 400 for JSON nested too deeply, 503 for a database that
    cannot serve right now, else 500 — a bug, logged with its traceback (never the body), said without internals.
    Every entry point (the framework, the lean ingest path) answers the same way."""
    if isinstance(exc, RecursionError):
        return ApiError(400, "JSON nested too deeply (at most 32 levels)")
    unavailable = _unavailable(exc)
    if unavailable is not None:
        log.warning("database_unavailable", path=path, method=method, reason=unavailable)
        return ApiError(503, unavailable, headers={"Retry-After": "30"})
    log.error("unhandled_error", path=path, method=method, exc_info=exc)
    return ApiError(500, "internal error")
