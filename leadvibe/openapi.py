"""The served OpenAPI document, made true (ENDPOINTS.md conventions).

The framework generates the document from the handlers (paths, parameters with their ranges, bodies, success
responses). What it cannot know, this module adds from each route's own declarations, so routes added later are
covered without anyone editing a list:

- errors: every status an operation can answer, each with the one error body the server sends (`{"error": ...}`,
  `details` for validation), derived from its access declaration (401/403/429 when authenticated, 400 when it
  needs an active OU), its inputs (400 for parameters and bodies, 404 for path ids, 413 for bodies) and its method
  (writes may also meet a conflict, an invalid state or a full disk);
- security: public operations declare none; people-only operations declare Bearer only;
- update bodies: a field an update refuses as `null` (`api/json_body.py: refuses_null`) is not shown as nullable,
  where only updates use its body type;
- the `/schema/*` helper routes (the UI's pages and assets) are left out; `/schema` and `/schema/openapi.json`
  stay, since they are part of the contract.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, cast

from litestar import Litestar, Response
from litestar.connection import Request
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin

from leadvibe.api.json_body import not_null_fields, reads_json_body
from leadvibe.documented import CHECKED_ONE_BY_ONE, COMPONENT_RULES, CREATE_RULES
from leadvibe.security.guards import required_role

__all__ = ["ERROR_SCHEMA", "TrueJsonRenderPlugin", "TrueSwaggerRenderPlugin", "make_true", "schema_not_found_as_json"]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error the server sends: one readable sentence; validation errors may add `details`.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What is wrong, in one sentence (names the field)"},
        "details": {"type": "array", "items": {"type": "object"}, "description": "Per-field validation details"},
    },
}

REASONS = {
    400: "Bad input: a parameter or body field is wrong or missing, or no active OU (the error names it)",
    401: "No credentials, or credentials that are not valid (expired, revoked, wrong secret)",
    403: "Authenticated but not allowed: the role is too low, or the OU is not the caller's",
    404: "Not found, or it belongs to another OU",
    409: "Conflicts with existing data",
    413: "The body (or a part of it) is too large",
    415: "Wrong content type",
    422: "Well-formed but not valid in the current state",
    429: "Rate limited, or too many failed logins: retry after `Retry-After` seconds",
    503: "Temporarily unavailable (for writes: the disk is full); nothing was stored",
}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_HELPERS_KEPT = {"/schema", "/schema/openapi.json"}


def _statuses(opt: dict[str, Any], method: str, operation: dict[str, Any]) -> set[int]:
    params = operation.get("parameters") or []
    has_body = "requestBody" in operation
    out: set[int] = set()
    if opt.get("auth", "none") != "none":
        out |= {401, 403, 429}
        if opt.get("ou", True):
            out.add(400)
        if required_role(opt, method) is not None and opt.get("path_ou"):
            out.add(404)
    if params or has_body:
        out.add(400)
        if opt.get("ou", True) and opt.get("auth", "none") != "none":
            out.add(404)  # an id in the query or body that the OU does not have
    if any(p.get("in") == "path" for p in params):
        out.add(404)
    if has_body:
        out |= {413, 415}
    if method in WRITES and opt.get("auth", "none") != "none":
        out |= {409, 422, 503}
    out.update(opt.get("errors", ()))  # what a handler says it answers beyond these (login: 401, 429)
    return out


def _security(opt: dict[str, Any]) -> list[dict[str, list[str]]]:
    auth = opt.get("auth", "none")
    if auth == "none":
        return []
    if auth == "jwt":
        return [{"bearerAuth": []}]
    return [{"bearerAuth": []}, {"basicAuth": []}]


def _error_response(status: int) -> dict[str, Any]:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    response: dict[str, Any] = {"description": REASONS.get(status, "Error"), "content": body}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    return response


def _framework_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return {"status_code", "detail"} <= set(schema.get("properties", {}))


def make_true(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    """A copy of the generated document with true errors and security, without the `/schema/*` helpers."""
    doc = copy.deepcopy(document)
    doc.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    handlers: dict[tuple[str, str], Any] = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            for method in getattr(handler, "http_methods", ()):
                handlers[(route.path_format or "/", method.lower())] = handler
    paths = doc.get("paths", {})
    # Updates whose body refuses some fields as null, and the body components anything but an update reads.
    updates: list[tuple[dict[str, Any], str, frozenset[str]]] = []
    read_otherwise: set[str] = set()
    for path in list(paths):
        if path.startswith("/schema") and path not in _HELPERS_KEPT:
            del paths[path]
            continue
        for method, operation in paths[path].items():
            handler = handlers.get((path, method))
            if handler is None or not isinstance(operation, dict):
                continue
            opt = handler.opt if "auth" in handler.opt else {"auth": "none", **handler.opt}
            responses = operation.setdefault("responses", {})
            for code in list(responses):
                if _framework_error(responses[code]):
                    del responses[code]  # the framework's own error shape, which the server never sends
            for status in sorted(_statuses(opt, method.upper(), operation)):
                responses.setdefault(str(status), _error_response(status))
            operation["security"] = _security(opt)
            name = _body_component(operation)
            if name is not None and reads_json_body(handler):
                if method in ("put", "patch"):
                    fields = not_null_fields(handler.parsed_fn_signature.parameters["data"].annotation)
                    if fields:
                        updates.append((operation, name, fields))
                else:
                    read_otherwise.add(name)
    schemas = doc["components"]["schemas"]
    _updates_refuse_null(schemas, updates, read_otherwise)
    for name, rules in COMPONENT_RULES.items():
        for target in (name, f"{name}Update"):
            if target in schemas:
                schemas[target].update(copy.deepcopy(rules))
    for name, field in sorted(CHECKED_ONE_BY_ONE):
        prop = schemas.get(name, {}).get("properties", {}).get(field)
        if prop is not None:
            prop["items"] = _checked_alone(prop["items"])
    for name, rules in CREATE_RULES.items():
        if name in schemas:
            # Only where the update reads a copy of its own: else these rules would bind the update too.
            assert f"{name}Update" in schemas, f"{name}: an update reads the create's component"
            schemas[name]["allOf"] = [*schemas[name].get("allOf", []), copy.deepcopy(rules)]
    return doc


_REF = "#/components/schemas/"


def _body_component(operation: dict[str, Any]) -> str | None:
    """The component an operation's JSON body refers to, if it is one."""
    ref = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref[len(_REF):] if isinstance(ref, str) and ref.startswith(_REF) else None


def _updates_refuse_null(schemas: dict[str, Any], updates: list[tuple[dict[str, Any], str, frozenset[str]]],
                         read_otherwise: set[str]) -> None:
    """Take `null` out of the fields each update refuses as null. A component that a create reads too keeps its
    nulls (a create may take them), and the update's body refers to a copy of it, `<name>Update`, instead."""
    for operation, name, fields in updates:
        if name not in schemas:
            continue
        target = name
        if name in read_otherwise:
            target = f"{name}Update"
            if target not in schemas:
                schemas[target] = copy.deepcopy(schemas[name])
                schemas[target]["title"] = target
            operation["requestBody"]["content"]["application/json"]["schema"]["$ref"] = _REF + target
        for field in fields:
            _not_nullable(schemas[target].get("properties", {}).get(field))


def _checked_alone(item: dict[str, Any]) -> dict[str, Any]:
    """The items of a list checked one by one: the item the list takes (its component, rules and all), or any
    other value, which is answered as a rejected item in the results (the request is not refused for it)."""
    return {"anyOf": [item, {"description": "Any other value (not an object, a field of the wrong type or breaking "
                                            "a rule): not stored, answered as a `rejected` item naming the reason"}]}


def _not_nullable(prop: dict[str, Any] | None) -> None:
    """Take `null` out of a property's schema: the framework writes an optional field as `oneOf` with a null
    branch, an optional choice of values as a type list and an `enum` naming null."""
    if prop is None:
        return
    branches = prop.get("oneOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        del prop["oneOf"]
        if len(kept) == 1:
            # The property's own keywords win: they carry what the branch's plain type does not (a list's
            # documented items, a text's length).
            prop.update({k: v for k, v in kept[0].items() if k not in prop})
        else:
            prop["oneOf"] = kept
    types = prop.get("type")
    if isinstance(types, list) and "null" in types:
        kept_types = [t for t in types if t != "null"]
        prop["type"] = kept_types[0] if len(kept_types) == 1 else kept_types
    if isinstance(prop.get("enum"), list):
        prop["enum"] = [v for v in prop["enum"] if v is not None]


def _once_per_document(app: Litestar, name: str, openapi_schema: dict[str, Any], build: Callable[[], Any]) -> Any:
    """`build()` for the framework's document, computed once per app and document (kept in the app's state under
    `name`; the framework keeps its document for the app's life, so its id names it)."""
    cache = app.state.setdefault(name, {})
    key = id(openapi_schema)
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _true_for(app: Litestar, openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """`make_true` of the framework's document, computed once."""
    return cast(dict[str, Any], _once_per_document(app, "true_openapi", openapi_schema,
                                                   lambda: make_true(app, openapi_schema)))


class _TrueDocument:
    """Renders the document after `make_true`."""

    def _true(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> dict[str, Any]:
        return _true_for(request.app, openapi_schema)


class TrueJsonRenderPlugin(_TrueDocument, JsonRenderPlugin):
    """`/schema/openapi.json`, encoded once per document (430 KB of JSON: ~35 ms to encode again per request)."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        encode = super().render
        return cast(bytes, _once_per_document(request.app, "true_openapi_json", openapi_schema,
                                              lambda: encode(request, self._true(request, openapi_schema))))


class TrueSwaggerRenderPlugin(_TrueDocument, SwaggerRenderPlugin):
    """The browsable console at `/schema`."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._true(request, openapi_schema))


# The console's page runs the framework's inline script, so it takes no content policy of the dashboard's; the rest
# of the dashboard's headers apply (never framed: its console sends requests with the visitor's token).
_CONSOLE_HEADERS = {"Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def schema_not_found_as_json(response: Response[Any]) -> Response[Any]:
    """The schema router's answer for a page it does not have (`/schema/redoc`): the framework sends an HTML
    page there, every other unknown path of the API answers the JSON error body, so this one does too. Its pages
    get the dashboard's framing and sniffing headers."""
    if response.status_code != 404 or response.media_type != "text/html":
        response.headers.update(_CONSOLE_HEADERS)
        return response
    return Response({"error": "no such path: the API reference is at /schema, its document at /schema/openapi.json"},
                    status_code=404, media_type="application/json")
