"""Request bodies are declared as JSON (ENDPOINTS.md conventions: bodies are JSON, 415 is a wrong content type):
every operation whose OpenAPI entry has a JSON request body answers 415 to any other Content-Type, while
operations without a body work without one."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from leadvibe.app import create_app
from tests.conftest import Api, make_settings


def _json_body_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the served document gives a JSON request body."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(make_settings(Path(data_dir) / "data"), announce_first_start=False)
        document = app.openapi_schema.to_schema()
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body and "application/json" in body.get("content", {}):
                operations.append((method.upper(), path))
    return operations


JSON_BODY_OPERATIONS = _json_body_operations()


def _concrete(path: str) -> str:
    # The check runs before the handler reads its ids; an OU named in the path must still be the caller's own.
    return path.replace("{unit_id}", "unit_default").replace("{", "x_").replace("}", "")


def test_the_document_lists_the_json_body_operations() -> None:
    assert ("POST", "/rules") in JSON_BODY_OPERATIONS and ("DELETE", "/events/batch") in JSON_BODY_OPERATIONS
    assert ("POST", "/import") not in JSON_BODY_OPERATIONS  # multipart: its own rules
    assert len(JSON_BODY_OPERATIONS) > 50


@pytest.mark.parametrize(("method", "path"), JSON_BODY_OPERATIONS, ids=[f"{m} {p}" for m, p in JSON_BODY_OPERATIONS])
async def test_a_json_body_sent_as_text_is_415(api: Api, method: str, path: str) -> None:
    r = await api.request(method, _concrete(path), content=b"{}", headers={**api.headers, "Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    assert r.json() == {"error": "Content-Type text/plain is not JSON: send the body as JSON"
                                 " (Content-Type: application/json)"}


@pytest.mark.parametrize(("content_type", "message"), [
    (None, "missing Content-Type"),
    ("", "Content-Type (empty) is not JSON"),
    ("application/json;;;==;", "the Content-Type header is malformed (parameter '==')"),
    ("application/json; charset=iso-8859-1", "JSON bodies are UTF-8, not charset iso-8859-1"),
    ("application/x-www-form-urlencoded", "Content-Type application/x-www-form-urlencoded is not JSON"),
    ("multipart/form-data; boundary=x", "Content-Type multipart/form-data is not JSON"),
])
@pytest.mark.parametrize("path", ["/rules", "/auth/login"])
async def test_what_is_not_json_is_415(api: Api, path: str, content_type: str | None, message: str) -> None:
    headers = {**api.headers, **({"Content-Type": content_type} if content_type is not None else {})}
    r = await api.post(path, content=b'{"event_type":"page_view","weight":5}', headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"].startswith(message + ": send the body as JSON")


@pytest.mark.parametrize("content_type", [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    'application/json;charset="UTF-8"',
    "application/json;",
    "application/merge-patch+json",
    "application/vnd.leadvibe+json; version=1",
])
async def test_json_with_parameters_or_a_json_suffix_is_accepted(api: Api, content_type: str) -> None:
    r = await api.post("/rules", content=b'{"event_type":"page_view","weight":5}',
                       headers={**api.headers, "Content-Type": content_type})
    assert r.status_code == 201, r.text


async def test_a_json_body_operation_without_any_body_says_the_body_is_missing(api: Api) -> None:
    """No Content-Type and no body: the missing body is the problem to name, not its type."""
    r = await api.post("/rules", headers=api.headers)
    assert r.status_code == 400
    assert r.json() == {"error": "the request body is empty"}


async def test_operations_without_a_body_need_no_content_type(api: Api) -> None:
    r = await api.post("/rules", json={"event_type": "page_view", "weight": 5})
    rule_id = r.json()["rule_id"]
    ruleset_id = r.json()["ruleset_id"]
    assert "content-type" not in {k.lower() for k in api.headers}
    r = await api.post(f"/rulesets/{ruleset_id}/rescore")
    assert r.status_code in (200, 202), r.text
    r = await api.delete(f"/rules/{rule_id}")
    assert r.status_code in (200, 204), r.text
    r = await api.post("/settings/webhooks/rotate")
    assert r.status_code == 200, r.text
    r = await api.post("/auth/logout")
    assert r.status_code in (200, 204), r.text


async def test_a_delete_with_a_json_body_checks_its_type(api: Api) -> None:
    body = b'{"event_ids":["ev_x"]}'
    r = await api.request("DELETE", "/events/batch", content=body,
                          headers={**api.headers, "Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await api.request("DELETE", "/events/batch", content=body,
                          headers={**api.headers, "Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.text


async def test_an_anonymous_caller_is_told_to_authenticate_first(api: Api) -> None:
    r = await api.client.post("/rules", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 401


async def test_imports_keep_their_multipart_rules(api: Api) -> None:
    files: dict[str, Any] = {"file": ("events.csv", b"event_type,lead_id\npage_view,ld_1\n", "text/csv")}
    r = await api.post("/import", files=files)
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(("content_type", "named"), [
    ("text/csv", "text/csv"), ("application/json", "application/json"), (None, "(missing)"),
    ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
])
async def test_a_csv_sent_as_the_raw_body_is_415_saying_how_to_upload_it(api: Api, content_type: str | None,
                                                                        named: str) -> None:
    headers = {**api.headers, **({"Content-Type": content_type} if content_type else {})}
    r = await api.post("/import", content=b"event_type,lead_id\npage_view,ld_1\n", headers=headers)
    assert r.status_code == 415, r.text
    assert r.json()["error"] == (f"Content-Type {named} is not multipart/form-data: upload the CSV as the "
                                 "multipart field `file` (curl -F file=@events.csv)")
    assert (await api.get("/events")).json()["total"] == 0
    r = await api.post("/import", headers=api.headers)
    assert r.status_code == 400 and "multipart field `file`" in r.json()["error"]
