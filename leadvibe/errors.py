"""One error shape everywhere: `{"error": "<one readable sentence>"}` (plus `details` for validation).

Free of the web framework: the worker process raises and words these errors too, and importing the framework
there would cost it ~9 MB for nothing. The framework's side (rendering, its own exceptions) is
`api/error_handlers.py`."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import apsw
import structlog

from leadvibe.db.damage import DAMAGE_ERRORS, note_damaged
from leadvibe.db.database import DatabaseClosed, ReadTimeout
from leadvibe.disk_space import note_full
from leadvibe.timeutil import TIMESTAMP_FORM

log = structlog.get_logger("leadvibe.errors")


# A body the client stopped sending (it closed the connection, or its chunked framing broke and the HTTP layer
# answered for it): the client's doing, so a 400 in the log and the metrics, never a 500.
CLIENT_WENT_AWAY = "the client went away before sending the whole body"


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


# Body fields that hold an RFC 3339 instant (`timeutil.parse_rfc3339`): sent as a number (epoch seconds or
# milliseconds, as many tools write one), they are told the form they take rather than "must be a string".
INSTANT_FIELDS = frozenset({"timestamp", "occurred_at", "start_at", "end_at"})


def plain_message(raw: str, field: str | None, *, from_text: bool = False, body_shape: str = "",
                  whole: str = "the request body") -> str:
    """A decoder's message (msgspec, the framework) said in the user's words, naming the field. `from_text`: the
    value came from a query string, a path or a header, where every value is text, so "not a string" would
    mislead: the message then says only what the value must be. `body_shape`: what the route takes, said after
    a body that is not a JSON object (a list of records posted as it is, by a webhook tool). `whole`: what the
    decoded value is called when the message names no field (one event of a batch, decoded on its own)."""
    name = f"`{field}`" if field else whole
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
            return f"{whole} must be a JSON object, not {got}" + (f": {body_shape}" if body_shape else "")
        if field and field.rsplit(".", 1)[-1] in INSTANT_FIELDS and m.group(2) in ("int", "float"):
            return f"{name} {TIMESTAMP_FORM}, not a number"
        if from_text and m.group(2) == "str":
            return f"{name} must be {_kinds(m.group(1))}"
        return f"{name} must be {_kinds(m.group(1))}, not {got}"
    if m := re.match(r"Invalid enum value (.+)$", raw):
        return f"{name} does not accept the value {m.group(1)}"
    if raw.startswith("Expected `str` matching regex"):
        return f"{name} has the wrong format"
    if m := re.match(r"Missing required (query|header|cookie) parameter '([^']+)'", raw):
        return f"`{m.group(2)}` is required (a {m.group(1)} parameter)"
    if raw == "Input data was truncated":
        return "the request body is not valid JSON: it ends too early"
    if raw == "Invalid UTF-8 encoded string":
        return "the request body is not valid JSON: it is not UTF-8 text"
    if raw.startswith("JSON is malformed:"):
        return "the request body is not valid JSON: " + raw.split(":", 1)[1].strip()
    return f"invalid {name}: {raw}" if field else raw


_OUT_OF_RANGE = re.compile(r"(Number|Integer value) out of range$")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*$")


class _Overflow:
    """Marks, in a scan of a body, a number the decoder cannot hold."""


_OVERFLOW = _Overflow()


def _float_or_overflow(text: str) -> Any:
    return _OVERFLOW if math.isinf(float(text)) else 0.0


def _int_or_overflow(text: str) -> Any:
    try:
        int(text)  # the decoder's limit is the interpreter's: 4,300 digits
    except ValueError:
        return _OVERFLOW
    return 0


class _Pair:
    """One member of a JSON object, or one item of an array (its index as key)."""

    __slots__ = ("key", "value")

    def __init__(self, key: str | int, value: Any) -> None:
        self.key = key
        self.value = value


def _pairs(pairs: list[tuple[str, Any]]) -> list[_Pair]:
    return [_Pair(k, v) for k, v in pairs]


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not path:
        return key or '[""]'
    return f"{path}.{key}" if _NAME.match(key) else f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _overflow_in(value: Any, path: str) -> str | None:
    if value is _OVERFLOW:
        return path
    items: Any = ()
    if isinstance(value, list):
        # Objects are scanned as lists of (key, value) pairs so that a repeated key is seen as often as it is sent.
        items = value if value and isinstance(value[0], _Pair) else [_Pair(i, v) for i, v in enumerate(value)]
    for pair in items:
        found = _overflow_in(pair.value, _step(path, pair.key))
        if found is not None:
            return found
    return None


def out_of_range_path(body: bytes, root: str = "") -> str | None:
    """Where the first number too large for the decoder (beyond a double's range, or an integer of over 4,300
    digits) sits in a JSON body, in the words the other messages use (`rules[0].weight`, `metadata.plan`), under
    `root` (the field the body was sent in, when it came apart from the request's); `root` itself ("" by default)
    when the body is that number; None when there is none, or the body is not JSON. The decoder itself says
    `$[...]` for any key it has not matched to a field yet, which names nothing."""
    try:
        tree = json.loads(body, parse_float=_float_or_overflow, parse_int=_int_or_overflow,
                          object_pairs_hook=_pairs)
        return _overflow_in(tree, root)
    except (ValueError, RecursionError):
        return None


def out_of_range(text: str, body: bytes | None, key: str | None = None,
                 whole: str = "the request body") -> ApiError | None:
    """400 naming the field when the decoder refused a number too large to hold (`text`: its message, with or
    without its `- at `$...`` suffix; `key`: the field it named, if it named one apart; `body`: the request body,
    or the part of it decoded on its own, which `whole` then names); None for any other message. A field the
    decoder named exactly is kept (a 400-digit integer is fine in metadata but out of range as an `amount`); one
    behind `[...]` is looked up in the body."""
    raw, found, where = text.partition(" - at `$")
    if not _OUT_OF_RANGE.match(raw):
        return None
    path = key if key is not None else where.rstrip("`").lstrip(".") if found else None
    if path is None or "[...]" in path:
        path = out_of_range_path(body) if body else None
    if path:
        message = f"`{path}` is out of range"
    elif path == "":
        message = f"{whole} is a number out of range"
    else:
        message = f"a number in {whole} is out of range"
    return ApiError(400, message, [{"message": raw, "key": path or "data", "source": "body"}])


# A high surrogate escape (`\ud800`) not followed by a low one: the decoder reports the string as cut short.
_UNPAIRED_HIGH = re.compile(rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})")


def malformed_body(text: str, body: bytes) -> ApiError:
    """400 for a body the decoder could not read as JSON at all (`text`: its message), with the real reason where
    its message would mislead: a string holding half of a UTF-16 surrogate pair is reported as input ending early,
    and a body opening with a byte order mark (which some Windows tools write) as an invalid character at byte 0."""
    if body.startswith(b"\xef\xbb\xbf"):
        return ApiError(400, "the request body starts with a byte order mark (U+FEFF): send JSON without one"
                             " (RFC 8259 allows none)")
    if text == "Input data was truncated" and (m := _UNPAIRED_HIGH.search(body)):
        escape = m.group().decode()
        return ApiError(400, f"the request body is not valid JSON: `{escape}` is half of a UTF-16 surrogate pair"
                             " (a low surrogate escape must follow it)")
    return ApiError(400, plain_message(text, None))


def validation_error(text: str, body: bytes | None = None, body_shape: str = "",
                     whole: str = "the request body") -> ApiError:
    """400 for a body msgspec refused (`<message> - at `$.<path>``), said as the framework's validation errors
    are (`plain_message`, the field named in the message and in `details`): the lean ingest path uses it.
    `whole`: what the decoded value is called where no field is named."""
    if (overflow := out_of_range(text, body, whole=whole)) is not None:
        return overflow
    raw, found, where = text.partition(" - at `$")
    key = where.rstrip("`").lstrip(".") if found else ""
    return ApiError(400, plain_message(raw, key or None, body_shape=body_shape, whole=whole),
                    [{"message": raw, "key": key or "data", "source": "body"}])


def _unavailable(exc: BaseException) -> str | None:
    """The sentence for a database that cannot serve right now (503), or None for a real bug."""
    if isinstance(exc, apsw.FullError):
        note_full()
        return "the disk is full: nothing was stored; free some space and retry"
    if isinstance(exc, ReadTimeout | DatabaseClosed):
        return str(exc)
    if isinstance(exc, DAMAGE_ERRORS):
        note_damaged(exc)
        return (f"the database file is damaged ({exc}): stop the server and restore the latest backup "
                "(`leadvibe restore`, docs/backup.md)")
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
        # Retrying helps a full disk or a busy database, not a damaged file.
        return ApiError(503, unavailable, headers=None if isinstance(exc, DAMAGE_ERRORS) else {"Retry-After": "30"})
    log.error("unhandled_error", path=path, method=method, exc_info=exc)
    return ApiError(500, "internal error")
