"""Identifiers never hold control characters (SEMANTICS §2): every way in answers 400 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Api
from tests.helpers import wait_idle

BAD = ["a\x00b", "tab\there", "line\nbreak", "bell\x07", "del\x7f", "esc\x1b[31m"]
Maker = Callable[[str], dict[str, Any]]


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize(("field", "make"), [
    ("lead_id", lambda v: {"lead_id": v, "event_type": "page_view"}),
    ("event_type", lambda v: {"lead_id": "ld_ok", "event_type": v}),
    ("event_id", lambda v: {"lead_id": "ld_ok", "event_type": "page_view", "event_id": v}),
    ("aliases[0]", lambda v: {"event_type": "page_view", "aliases": [{"alias_kind": "email", "raw_value": v}]}),
    ("alias", lambda v: {"event_type": "page_view", "alias_kind": "external_id", "alias": v}),
])
async def test_ingest_refuses_control_characters(api: Api, bad: str, field: str, make: Maker) -> None:
    r = await api.post("/ingest", json=make(bad))
    assert r.status_code == 400, r.text
    assert f"`{field}`" in r.json()["error"] and "control characters" in r.json()["error"]


async def test_idempotency_key_header_refuses_control_characters(api: Api) -> None:
    r = await api.post("/ingest", json={"lead_id": "ld_ok", "event_type": "x"},
                       headers={**api.headers, "Idempotency-Key": "k\x01"})
    assert r.status_code == 400 and "Idempotency-Key" in r.json()["error"]


async def test_batch_rejects_only_the_bad_item(api: Api) -> None:
    r = await api.post("/ingest/batch", json={"events": [
        {"lead_id": "ld_ok", "event_type": "page_view"},
        {"lead_id": "ld\x00evil", "event_type": "page_view"},
    ]})
    assert r.status_code == 202
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["accepted", "rejected"]
    assert "control characters" in results[1]["error"]


async def test_csv_import_counts_rows_with_control_characters_as_errors(api: Api) -> None:
    csv = "lead_id,event_type,email\nld_a,page_view,\nld_b\x00x,page_view,\nld_c,page\x07view,\nld_d,x,a\x1b@b.co\n"
    r = await api.post("/import", files={"file": ("e.csv", csv.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["imported"] == 1 and body["errors"] == 3, body
    assert all("control characters" in row["error"] for row in body["error_rows"])
    await wait_idle(api)
    stored = await api.rt.db.read(lambda c: [r[0] for r in c.execute(
        "SELECT lead_id FROM events WHERE unit_id = 'unit_default'")])
    assert stored == ["ld_a"]


async def test_created_leads_and_orders_refuse_control_characters(api: Api) -> None:
    r = await api.post("/leads", json={"id": "ld\x00x"})
    assert r.status_code == 400 and "`id`" in r.json()["error"]
    order = {"order_id": "o1", "amount": 5, "currency": "USD", "lead_id": "ld_ok"}
    r = await api.post("/orders", json={**order, "order_id": "o\n1"})
    assert r.status_code == 400 and "`order_id`" in r.json()["error"]
    r = await api.post("/orders", json={**order, "lead_id": "ld\x7f"})
    assert r.status_code == 400 and "`lead_id`" in r.json()["error"]
    r = await api.post("/orders", json={"order_id": "o2", "amount": 5, "currency": "USD",
                                        "aliases": [{"alias_kind": "email", "raw_value": "a\x00@b.co"}]})
    assert r.status_code == 400 and "control characters" in r.json()["error"]


async def test_blank_or_broken_identifiers_are_refused_everywhere(api: Api) -> None:
    order = {"order_id": "o1", "amount": 5, "currency": "USD"}
    r = await api.post("/orders", json={**order, "lead_id": "   "})
    assert r.status_code == 400 and "`lead_id`" in r.json()["error"]
    for bad in ("", "   ", "a\x00b\x1f\x7f", "x" * 129):
        r = await api.post("/leads", json={"id": "ld_acct", "account_id": bad})
        assert r.status_code == 400 and "`account_id`" in r.json()["error"], bad
    assert (await api.post("/leads", json={"id": "ld_acct"})).status_code == 201
    r = await api.put("/leads/ld_acct", json={"metadata": {}, "account_id": "   "})
    assert r.status_code == 400 and "`account_id`" in r.json()["error"]
    for path in ("%00", "%01%7F", "ld_x%00", "%0d%0aX-Injected:%201", "page_view%0A", "%09page_view"):
        r = await api.put(f"/settings/event-types/{path}", json={"hidden": False, "max_processing_scope": "activate"})
        assert r.status_code == 400 and "control characters" in r.json()["error"], path
    names = [t["event_type"] for t in (await api.get("/settings/event-types")).json()]
    assert not any(any(ord(c) < 32 or ord(c) == 127 for c in n) for n in names)


async def test_order_amounts_are_bounded(api: Api) -> None:
    order = {"order_id": "o2", "currency": "USD", "lead_id": "ld_amount"}
    r = await api.post("/orders", json={**order, "amount": 18446744073709551616})
    assert r.status_code == 400 and "`amount`" in r.json()["error"]
    assert (await api.post("/orders", json={**order, "amount": 1_000_000_000_000})).status_code == 201


async def test_lead_metadata_nests_no_deeper_than_event_metadata(api: Api) -> None:
    def nested(levels: int) -> dict[str, object]:
        value: dict[str, object] = {"x": 1}
        for _ in range(levels - 1):
            value = {"x": value}
        return value

    # "At most 32 levels": 32 pass (31 did, while the message said 32), 33 do not.
    assert (await api.post("/leads", json={"id": "ld_deep", "metadata": nested(32)})).status_code == 201
    r = await api.post("/ingest", json={"lead_id": "ld_deep", "event_type": "x", "metadata": nested(32)})
    assert r.status_code == 202, r.text
    for method, path, body in (("post", "/leads", {"id": "ld_deeper", "metadata": nested(33)}),
                               ("put", "/leads/ld_deep", {"metadata": nested(33)}),
                               ("patch", "/leads/ld_deep/metadata", nested(33))):
        r = await getattr(api, method)(path, json=body)
        assert r.status_code == 400 and "nested too deeply" in r.json()["error"], (method, path, r.text)
    r = await api.post("/ingest", json={"lead_id": "ld_deep", "event_type": "x", "metadata": nested(33)})
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]


async def test_order_metadata_nests_no_deeper_than_event_metadata(api: Api) -> None:
    order = {"order_id": "o1", "amount": 5, "currency": "EUR", "lead_id": "ld_1"}
    deep: object = 1
    for _ in range(40):
        deep = {"x": deep}
    r = await api.post("/orders", json={**order, "metadata": deep})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "`metadata` is nested too deeply (at most 32 levels)"
    assert (await api.post("/orders", json={**order, "metadata": {"x": {"y": 1}}})).status_code == 201


@pytest.mark.parametrize(("method", "path", "field", "make"), [
    ("POST", "/org-units", "name", lambda v: {"name": v}),
    ("PUT", "/org-units/unit_default", "name", lambda v: {"name": v}),
    ("POST", "/members", "first_name", lambda v: {"first_name": v, "last_name": "Lee", "email": "pat@example.com",
                                                  "password": "member-password-1"}),
    ("POST", "/secrets", "name", lambda v: {"name": v}),
    ("POST", "/rulesets", "name", lambda v: {"name": v}),
    ("POST", "/levels/engagement", "name", lambda v: {"name": v, "min_score": 0, "max_score": 10}),
    ("POST", "/profile/rulesets", "name", lambda v: {"name": v}),
    ("POST", "/segments", "name", lambda v: {"name": v}),
    ("POST", "/triggers/milestones", "event_type", lambda v: {"event_type": v, "score_threshold": 5}),
    ("POST", "/surge-triggers", "event_type", lambda v: {"event_type": v, "window_seconds": 5, "threshold_count": 2,
                                                         "emails": ["a@b.co"]}),
    ("POST", "/triggers/sequences", "event_types[1]", lambda v: {"event_types": ["a", v], "window_seconds": 5,
                                                                 "emails": ["a@b.co"]}),
    ("POST", "/triggers/patterns", "conditions[0].event_type", lambda v: {"conditions": [{"event_type": v}],
                                                                          "window_seconds": 5}),
])
@pytest.mark.parametrize("bad", ["a\x00b", "line\nbreak", "esc\x1b[31m", "\tat the start", "at the end\n"])
async def test_names_and_trigger_event_types_refuse_control_characters(api: Api, method: str, path: str,
                                                                       field: str, make: Maker, bad: str) -> None:
    """A name is shown in lists, logs and exports; an event type with a control character can never arrive (the
    trigger waiting for it would never fire)."""
    r = await api.request(method, path, json=make(bad))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == f"`{field}` must not contain control characters"
    r = await api.request(method, path, json=make("Fine \u00e9 name"))
    assert r.status_code in (200, 201), r.text


async def test_an_audit_search_for_a_control_character_is_refused_not_answered_with_everything(api: Api) -> None:
    await api.post("/secrets", json={"name": "audited"})
    r = await api.get("/admin/audit-logs", params={"search": "\x00"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "`search` must not contain control characters"
    assert (await api.get("/admin/audit-logs", params={"search": "secrets"})).json()["items"]


@pytest.mark.parametrize(("method", "path", "field", "make"), [
    ("POST", "/rules", "icon", lambda v: {"event_type": "page_view", "weight": 1, "icon": v}),
    ("PUT", "/settings/slack-app", "client_id", lambda v: {"client_id": v, "client_secret": "s3cret"}),
    ("PUT", "/settings/slack-app", "client_secret", lambda v: {"client_id": "123.456", "client_secret": v}),
    ("PUT", "/settings/slack/target", "id", lambda v: {"kind": "channel", "id": v}),
    ("POST", "/settings/slack/test", "id", lambda v: {"kind": "channel", "id": v}),
])
@pytest.mark.parametrize("bad", ["a\x00b", "C0\nX", "esc\x1b[31m", "\tC0 at the start", "C0 at the end\n"])
async def test_rule_icons_and_slack_identifiers_refuse_control_characters(api: Api, method: str, path: str,
                                                                         field: str, make: Maker, bad: str) -> None:
    """An icon is shown beside its rule; a Slack id is sent to Slack and shown in messages: neither has a use for
    a control character, and nothing is stored when one is refused."""
    r = await api.request(method, path, json=make(bad))
    assert r.status_code == 400, r.text
    assert r.json()["error"] == f"`{field}` must not contain control characters"
    assert all(rule.get("icon") is None for rule in (await api.get("/rules")).json())
    assert (await api.get("/settings/slack-app")).json()["configured"] is False
    assert (await api.get("/settings/slack")).json()["default_target_id"] is None


MILESTONE = {"event_type": "", "score_threshold": 5, "emails": ["a@b.co"]}
LINE = "Fine \u00e9 line"
TEXT = "First line\n\tindented\r\nlast"


@pytest.mark.parametrize(("path", "field", "fine", "make"), [
    ("/triggers/milestones", "name", LINE, lambda v: {**MILESTONE, "name": v}),
    ("/triggers/milestones", "email_subject", LINE, lambda v: {**MILESTONE, "email_subject": v}),
    ("/triggers/milestones", "email_preheader", LINE, lambda v: {**MILESTONE, "email_preheader": v}),
    ("/triggers/milestones", "slack_target_id", "C0123", lambda v: {**MILESTONE, "slack_target_kind": "channel",
                                                                     "slack_target_id": v}),
    ("/triggers/milestones", "description", TEXT, lambda v: {**MILESTONE, "description": v}),
    ("/triggers/milestones", "email_message", TEXT, lambda v: {**MILESTONE, "email_message": v}),
    ("/surge-triggers", "name", LINE, lambda v: {"event_type": "page_view", "window_seconds": 5,
                                                 "threshold_count": 2, "emails": ["a@b.co"], "name": v}),
    ("/segments", "description", TEXT, lambda v: {"name": "Seg", "description": v}),
])
@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[31m", "del\x7f"])
async def test_trigger_texts_and_descriptions_refuse_control_characters(api: Api, path: str, field: str, fine: str,
                                                                        make: Maker, bad: str) -> None:
    """Trigger names, subjects and targets are single lines; descriptions and messages keep their tabs and line
    breaks; no other control character is taken into either, and nothing is created when one is refused. A single
    line's tab or line break at either end is refused as well (it was trimmed away and the text taken)."""
    single = fine == LINE or field == "slack_target_id"
    for sent in [bad, *(["\tat the start", "at the end\n"] if single else [])]:
        r = await api.post(path, json=make(sent))
        assert r.status_code == 400, r.text
        assert r.json()["error"] == f"`{field}` must not contain control characters"
    assert (await api.get(path)).json() == []
    r = await api.post(path, json=make(fine))
    assert r.status_code == 201 and r.json()[field] == fine, r.text
