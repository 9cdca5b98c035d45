"""The served OpenAPI document is true (ENDPOINTS.md conventions): schemathesis generates requests from it and
runs them against the app in-process (ASGI); any 5xx or any response the document does not describe fails.

Bounded for CI: a fixed seed (derandomized), a few examples per operation; the document itself is checked
directly for the promises a generated request cannot see (the error shape, no `/schema/*` helpers, public
operations without security)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from leadvibe.app import create_app
from tests.conftest import ADMIN_EMAIL, make_settings

EXAMPLES = 9


class Served:
    """An app of its own (the run creates members, OUs and events at random) and its document."""

    def __init__(self, data_dir: Path) -> None:
        self.app = create_app(make_settings(data_dir, sse_heartbeat=0.1), announce_first_start=False)
        self.schema = schemathesis.openapi.from_asgi("/schema/openapi.json", self.app)  # starts the lifespan
        # A query parameter no operation names is ignored, as HTTP APIs do, and a document cannot say so (its
        # parameters are no object with `additionalProperties`): invalid cases do not add any.
        self.schema.config.generation.update(allow_extra_parameters=False)
        rt = self.app.state.runtime
        self.admin = rt.db.read_blocking(lambda c: c.execute(
            "SELECT id, org_id FROM members WHERE email = ?", (ADMIN_EMAIL,)).fetchone())

    def headers(self) -> dict[str, str]:
        """A fresh admin session per call: a generated logout revokes only its own token."""
        token, _, _ = self.app.state.runtime.tokens.issue(self.admin[0], self.admin[1],
                                                           self.app.state.runtime.now_ms())
        return {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    return Served(tmp_path_factory.mktemp("openapi") / "data")


def _checker(served: Served, operation: Any) -> Any:
    """A Hypothesis test of one operation: generated requests, each answer checked against the document."""
    # An event stream never ends by itself: its shape is read for a moment (and its first heartbeat).
    extra = {"timeout": 0.5} if operation.path == "/stream" else {}

    @given(case=operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def check(case: Any) -> None:
        # Schema-valid input may still be refused for what it means (an event type without letters, a window
        # shorter than its steps): a 4xx for it is right, so "valid data is accepted" is no promise here.
        case.call_and_validate(headers=served.headers(), excluded_checks=[positive_data_acceptance], **extra)

    return check


PARTS = 4


@pytest.mark.parametrize("part", range(PARTS))
def test_every_answer_is_described_by_the_document(served: Served, part: int) -> None:
    """Every operation, in PARTS interleaved shares (the whole run is the suite's longest test: in parts, both
    workers share it)."""
    failures = []
    for result in list(served.schema.get_all_operations())[part::PARTS]:
        operation = result.ok()
        try:
            _checker(served, operation)()
        except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, not only the first one's
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def _document(served: Served) -> dict[str, Any]:
    """The document as the app serves it."""
    from schemathesis.python import asgi

    with asgi.get_client(served.app) as client:  # type: ignore[arg-type]  # an ASGI app, typed more narrowly
        return cast(dict[str, Any], client.get("http://testserver/schema/openapi.json").json())


def _reachable(doc: dict[str, Any], roots: list[Any]) -> dict[str, dict[str, Any]]:
    """The components the given schemas refer to, directly or through others, by name."""
    schemas, found, todo = doc["components"]["schemas"], {}, list(roots)
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[1] not in found:
                name = ref.rsplit("/", 1)[1]
                found[name] = schemas[name]
                todo.append(schemas[name])
            todo.extend(node.values())
    return found


def test_instants_in_answers_are_dates_and_requests_take_their_own_forms(served: Served) -> None:
    """A generated client reads every instant an answer holds as a date (`format: date-time`: the server writes
    RFC 3339); request bodies promise no format, since they take more forms than RFC 3339 (blank, offsets)."""
    doc = _document(served)
    operations = [op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)]
    answers = _reachable(doc, [r.get("content", {}) for op in operations
                               for status, r in op["responses"].items() if int(status) < 300])
    requests = _reachable(doc, [op.get("requestBody", {}) for op in operations])
    instants = {(name, field): prop for name, schema in answers.items() if name not in requests
                for field, prop in schema.get("properties", {}).items()
                if field.endswith(("_at", "_until")) or field in ("timestamp", "start", "end", "bucket_start")}
    assert len(instants) > 60
    missing = [k for k, prop in instants.items() if prop.get("format") != "date-time"]
    assert missing == [], missing
    assert [(name, field) for name, schema in requests.items() for field, prop in schema.get("properties", {}).items()
            if prop.get("format") == "date-time"] == []


def test_the_document_keeps_its_promises(served: Served) -> None:
    doc = _document(served)
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    assert [p for p in doc["paths"] if p.startswith("/schema")] == ["/schema", "/schema/openapi.json"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                schema_ref = response.get("content", {}).get("application/json", {}).get("schema", {})
                if int(status) >= 400 and not (path == "/healthz" and status == "503"):
                    assert schema_ref == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/auth/login"]["post"]["security"] == []
    assert doc["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(doc["paths"]["/rules"]["post"]["responses"])
    assert "401" not in doc["paths"]["/healthz"]["get"]["responses"]
    # A field that takes null and lists its choices lists null among them (else the document refuses it).
    for name, component in doc["components"]["schemas"].items():
        for field, prop in component.get("properties", {}).items():
            if {"type": "null"} in prop.get("oneOf", []) and "enum" in prop:
                assert None in prop["enum"], (name, field)
    # OpenAPI 3.1 gives every parameter and response header a `schema` or a `content`, never both or neither: a
    # client generator refuses the document otherwise.
    for path, item in doc["paths"].items():
        for method, op in item.items():
            described = [(p["name"], p) for p in op.get("parameters", [])] + [
                (name, h) for response in op["responses"].values() for name, h in response.get("headers", {}).items()]
            for name, obj in described:
                assert ("schema" in obj) != ("content" in obj), (method, path, name)
    for path in ("/ingest", "/ingest/batch"):
        assert [(p["name"], p["in"]) for p in doc["paths"][path]["post"]["parameters"]] == [("Idempotency-Key",
                                                                                             "header")]


# Operations whose refusals of schema-valid requests the document states (lengths, patterns, list sizes, choices,
# fields that name a lead together), each with the refusals left that no schema can state: what a value means (a
# timestamp before 1970 or days ahead, a level whose minimum is above its maximum). Schema-valid input is
# accepted, answered 404/409 for what it names, or refused with a message holding one of those texts.
# A trigger's texts, filters and destinations: checked for what they hold (an address, a URL, a filter's value, which
# destinations go together).
TRIGGER_MEANING = ("control characters", "single line", "at most", "email address", "`webhook_url` refused",
                   "destination", "go together", "filters[", "segment", "Slack")
MEANING: dict[str, tuple[str, ...]] = {
    "POST /ingest": ("`timestamp` ",),
    "POST /ingest/batch": (),
    # What the file holds: its encoding, its header, its rows.
    "POST /import": ("the CSV file ", "the CSV header ", "malformed CSV", "by_lead", "line "),
    "GET /leads": ("`min_score` must not be greater", "`min_profile_score` must not be greater", "`profile_level` "),
    "GET /leads/search": (),
    "POST /leads": ("`metadata` ",),
    "PUT /leads/{lead_id}": ("`metadata` ",),
    "POST /leads/merge": ("`sourceLeadIds` must not include the target", "`truncate.before` "),
    "POST /leads/scores": (),
    "DELETE /events/batch": (),
    "GET /events": ("`metadata` filter",),
    "GET /events/export": ("`metadata` filter",),
    "GET /leads/{lead_id}/events": (),
    # A rule's comparison value must fit its operator; an event type goes only with event rules.
    "POST /segments": ("value`", "event_type` only goes with"),
    "POST /segments/{segment_id}/rules": ("value`", "event_type` only goes with"),
    "PUT /segments/{segment_id}/rules/{rule_id}": ("value`", "event_type` only goes with"),
    "POST /orders": ("`occurred_at` ", "`metadata` "),
    "POST /org-units/active": (),
    # A history's end before its start.
    "GET /surge-events": ("`start` must be before `end`",),
    "GET /triggers/milestones/events": ("`start` must be before `end`",),
    "GET /triggers/milestones/events/export": ("`start` must be before `end`",),
    "GET /triggers/sequences/events": ("`start` must be before `end`",),
    "GET /triggers/sequences/events/export": ("`start` must be before `end`",),
    "PUT /settings/slack-app": (),
    "PUT /settings/ou/surge-policy": ("is used by another band",),
    "POST /accounts/batch-delete": (),
    "GET /deliveries": (),
    "GET /settings/event-types/{event_type}/delete-preview": (),
    "PUT /settings/event-types/{event_type}": ("give `hidden`",),
    "DELETE /settings/event-types/{event_type}": (),
    **{f"{method} /{path}": TRIGGER_MEANING for method, path in (
        ("POST", "triggers/milestones"), ("PUT", "triggers/milestones/{trigger_id}"),
        ("POST", "triggers/sequences"), ("PUT", "triggers/sequences/{trigger_id}"),
        ("POST", "triggers/patterns"), ("PUT", "triggers/patterns/{trigger_id}"),
        ("POST", "surge-triggers"), ("PUT", "surge-triggers/{trigger_id}"))},
    "POST /accounts/mappings": ("is computed",),
    "POST /profile/mappings": ("is computed",),
    "POST /profile/rulesets/{ruleset_id}/rules": ("comparison_value`", "is computed"),
}


@pytest.mark.parametrize("label", sorted(MEANING))
def test_schema_valid_input_is_accepted(served: Served, label: str) -> None:
    operation = served.schema.find_operation_by_label(label)
    assert operation is not None, label

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES * 2, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck),
              database=None)
    def check(case: Any) -> None:
        response = case.call(headers=served.headers())
        try:
            case.validate_response(response, checks=[positive_data_acceptance])
        except (Exception, BaseExceptionGroup):
            error = str(response.json().get("error", ""))
            if not any(text in error for text in MEANING[label]):
                raise

    check()
