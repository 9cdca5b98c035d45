"""Ingestion through HTTP: validation, durability contract, idempotency, batch, CSV import, stream, replay."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from leadvibe.pipeline.inbox import pending_count
from leadvibe.pipeline.rescore import rescore_leads
from leadvibe.timeutil import Clock
from tests.conftest import Api, SharedApp, on_shared
from tests.helpers import (
    add_filter,
    add_rules,
    delta_sums,
    metric_values,
    other_unit,
    scores_of,
    subscribed,
    wait_idle,
)


@pytest.fixture(params=["lean", "framework"])
async def api(request: pytest.FixtureRequest, shared_app: SharedApp, shared_framework_app: SharedApp,
              clock: Clock) -> AsyncIterator[Api]:
    """Every ingestion test runs against both ways the server can answer /ingest and /ingest/batch: the lean
    ASGI path it uses and the framework's handlers that describe the routes (an app shared by the tests of each)."""
    async for a in on_shared(shared_app if request.param == "lean" else shared_framework_app, request, clock):
        yield a


@pytest.fixture
async def basic(api: Api) -> dict[str, str]:
    headers = await api.credential("ingest")
    headers.pop("X-Secret-Id")
    return headers


async def _ingest(api: Api, basic: dict[str, str], **event: Any) -> Any:
    return await api.client.post("/ingest", json=event, headers=basic)


async def _last_queued(api: Api) -> int:
    """The last arrival position the inbox ever gave (positions are never reused): a test's refused request
    leaves it where it was."""
    row = await api.rt.inbox_db.read(lambda c: c.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = 'inbox'").fetchone())
    return int(row[0]) if row else 0


async def test_seed_guide_examples_score_as_configured(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"page_view": 5, "demo_request": 20, "email_open": 2})
    r = await api.client.post("/org-units/active", json={"ouId": "unit_default"}, headers=basic)
    assert r.status_code == 200
    r = await _ingest(api, basic, alias_kind="email", alias="user@example.com", event_type="page_view")
    assert r.status_code == 202
    assert r.json()["message"] == "event ingested" and r.json()["metadata"]["event_id"].startswith("ev_")
    await _ingest(api, basic, lead_id="ld_abc123", event_type="demo_request",
                  metadata={"product": "enterprise", "source": "website"})
    await _ingest(api, basic, alias_kind="email", alias="user@example.com", event_type="email_open",
                  timestamp="2025-09-15T14:30:00Z")
    await wait_idle(api)
    assert (await scores_of(api, "ld_abc123")) == {"rs_test": 20}
    lead = await api.rt.db.read(lambda c: c.execute(
        "SELECT lead_id FROM lead_aliases WHERE kind='email' AND value='user@example.com'").fetchone()[0])
    assert (await scores_of(api, lead)) == {"rs_test": 7}


async def test_title_case_types_match_snake_case_rules(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"page_view": 5, "Demo Request": 20})
    for t in ("Page View", "page-view", "PAGE_VIEW", "demo_request"):
        assert (await _ingest(api, basic, lead_id="ld_tc", event_type=t)).status_code == 202
    await wait_idle(api)
    # surge (standard): events 3 and 4 of the session get x1.25
    assert (await scores_of(api, "ld_tc")) == {"rs_test": 5 + 5 + 6 + 25}
    names = await api.rt.db.read(lambda c: c.execute(
        "SELECT display_name FROM event_types WHERE type_key='page_view'").fetchone()[0])
    assert names == "Page View"


@pytest.mark.parametrize("event,status,needle", [
    ({"lead_id": "a"}, 400, "event_type"),
    ({"lead_id": "a", "event_type": ""}, 400, "event_type"),
    ({"lead_id": "a", "event_type": "x" * 129}, 400, "event_type"),
    ({"event_type": "page_view"}, 400, "lead_id"),
    ({"event_type": "page_view", "alias_kind": "fax", "alias": "1"}, 400, "alias_kind"),
    ({"event_type": "page_view", "alias_kind": "email"}, 400, "alias"),
    ({"event_type": "page_view", "aliases": [{"alias_kind": "email", "raw_value": " "}]}, 400, "aliases[0]"),
    ({"lead_id": "a", "event_type": "x", "timestamp": "yesterday"}, 400, "timestamp"),
    ({"lead_id": "a", "event_type": "x", "timestamp": "2999-01-01T00:00:00Z"}, 400, "future"),
    ({"lead_id": "a", "event_type": "x", "metadata": [1, 2]}, 400, "metadata"),
    ({"lead_id": "a", "event_type": "x", "metadata": {"big": "y" * 110_000}}, 413, "100 KB"),
    ({"lead_id": 5, "event_type": "x"}, 400, "lead_id"),
    ({"lead_id": "a", "event_type": "x", "event_id": "k" * 129}, 400, "event_id"),
])
async def test_validation_names_the_field(api: Api, basic: dict[str, str], event: dict[str, Any], status: int,
                                          needle: str) -> None:
    before = await _last_queued(api)
    r = await _ingest(api, basic, **event)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]
    assert await _last_queued(api) == before


async def test_content_type_size_and_depth_limits(api: Api, basic: dict[str, str]) -> None:
    body = b'{"lead_id":"a","event_type":"x"}'
    r = await api.client.post("/ingest", content=body, headers={**basic, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "JSON" in r.json()["error"]
    deep = b'{"lead_id":"a","event_type":"x","metadata":' + b'{"a":' * 40 + b"1" + b"}" * 41
    r = await api.client.post("/ingest", content=deep, headers={**basic, "Content-Type": "application/json"})
    assert r.status_code == 400 and "nested" in r.json()["error"]
    huge = b'{"lead_id":"a","event_type":"x","pad":"' + b"y" * (1024 * 1024) + b'"}'
    r = await api.client.post("/ingest", content=huge, headers={**basic, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = await api.client.post("/ingest", content=b"{nope", headers={**basic, "Content-Type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json; charset=utf-8", 202),
    ("application/merge-patch+json", 202),
    ("application/json;;;==;", 415),
    ("application/json; charset=latin-1", 415),
    (None, 415),
])
@pytest.mark.parametrize("path", ["/ingest", "/ingest/batch"])
async def test_content_types_on_both_ingestion_paths(api: Api, basic: dict[str, str], path: str,
                                                     content_type: str | None, status: int) -> None:
    event = b'{"lead_id":"a","event_type":"x"}'
    body = event if path == "/ingest" else b'{"events":[' + event + b"]}"
    headers = {**basic, **({"Content-Type": content_type} if content_type else {})}
    r = await api.client.post(path, content=body, headers=headers)
    assert r.status_code == status, r.text
    if status == 415:
        assert r.json()["error"].endswith("send the body as JSON (Content-Type: application/json)")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"lead_id":"a","event_type":"x","metadata":{"plan":1e400}}', "`metadata.plan` is out of range"),
    (b'{"lead_id":"a","event_type":"x","metadata":{"a b":[0,-1e309]}}', '`metadata["a b"][1]` is out of range'),
    (b'{"lead_id":"a","event_type":"x","metadata":{"n":' + b"9" * 4301 + b"}}", "`metadata.n` is out of range"),
])
async def test_numbers_out_of_range_name_their_field(api: Api, basic: dict[str, str], body: bytes,
                                                    message: str) -> None:
    r = await api.client.post("/ingest", content=body, headers={**basic, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == message


@pytest.fixture
async def lean_api(shared_app: SharedApp, request: pytest.FixtureRequest, clock: Clock) -> AsyncIterator[Api]:
    """The lean path alone, for what only it does: the framework's batch handler has the whole body decoded
    (refused at the first event of the wrong JSON shape) before it runs."""
    async for a in on_shared(shared_app, request, clock):
        yield a


@pytest.mark.parametrize(("event", "error"), [
    (b'{"lead_id":5,"event_type":"x"}', "`lead_id` must be a string (or null), not an integer"),
    (b'{"lead_id":"b"}', "`event_type` is required"),
    (b'"page_view"', "the event must be a JSON object, not a string"),
    (b"null", "the event must be a JSON object, not null"),
    (b"[]", "the event must be a JSON object, not an array"),
    (b'{"lead_id":"b","event_type":"x","metadata":[1]}', "`metadata` must be a JSON object (or null), not an array"),
    (b'{"lead_id":"b","event_type":"x","timestamp":1733550000}',
     "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number"),
    (b'{"lead_id":"b","event_type":"x","timestamp":1733550000123.0}',
     "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number"),
    (b'{"event_type":"x","aliases":[{"alias_kind":"email","raw_value":3}]}',
     "`aliases[0].raw_value` must be a string (or null), not an integer"),
    # The top-level pair's name used inside `aliases`: the message names the field it lacks.
    (b'{"event_type":"x","aliases":[{"alias_kind":"email","alias":"sam@acme.com"}]}',
     "`aliases[0].raw_value` is required (the alias's value; `value` is taken too)"),
    (b'{"lead_id":"b","event_type":"x","metadata":{"plan":1e400}}', "`metadata.plan` is out of range"),
    (b'{"lead_id":"b","event_type":"x","metadata":{"a b":[0,-1e309]}}', '`metadata["a b"][1]` is out of range'),
    (b"1e400", "the event is a number out of range"),
])
async def test_an_event_of_the_wrong_json_shape_is_rejected_alone(lean_api: Api, event: bytes, error: str) -> None:
    api = lean_api
    headers = {**await api.credential("ingest"), "Content-Type": "application/json"}
    # The same words /ingest answers that event with.
    single = await api.client.post("/ingest", content=event, headers=headers)
    said = single.json()["error"].removesuffix(_SINGLE_SHAPE).replace("the request body", "the event")
    assert (single.status_code, said) == (400, error)
    body = b'{"events":[{"lead_id":"ld_ok","event_type":"x"},' + event + b',{"lead_id":"ld_ok","event_type":"x"}]}'
    # A batch key replays the rejection as it replays the rest.
    for key, stored in ((None, "accepted"), ("shape-key", "accepted"), ("shape-key", "duplicate")):
        r = await api.client.post("/ingest/batch", content=body,
                                  headers={**headers, **({"Idempotency-Key": key} if key else {})})
        assert r.status_code == 202, r.text
        answer = r.json()
        assert [item["status"] for item in answer["results"]] == [stored, "rejected", stored]
        assert answer["results"][1] == {"index": 1, "status": "rejected", "error": error}
        assert answer["rejected"] == 1
    await wait_idle(api)
    # Each of the first two batches stored its two good events, the repeat nothing.
    stored_events = await api.rt.db.read(lambda c: c.execute(
        "SELECT count(*) FROM events WHERE lead_id = 'ld_ok'").fetchone()[0])
    assert stored_events == 4


_SINGLE_SHAPE = ': send one event as an object, or several to /ingest/batch as {"events": [...]}'


async def test_a_batch_body_of_the_wrong_shape_is_refused_whole(lean_api: Api) -> None:
    api = lean_api
    headers = {**await api.credential("ingest"), "Content-Type": "application/json"}
    before = await _last_queued(api)
    for body, error in [
        (b'{"events":{"lead_id":"a","event_type":"x"}}', "`events` must be an array, not a JSON object"),
        (b'{"events":"x"}', "`events` must be an array, not a string"),
        (b'{"event":[]}', "`events` is required"),
        (b'{"events":[]}', "`events` must hold at least one event"),
    ]:
        r = await api.client.post("/ingest/batch", content=body, headers=headers)
        assert (r.status_code, r.json()["error"]) == (400, error), body
    # Too many events is said before any of them is looked at, whatever they hold.
    r = await api.client.post("/ingest/batch", content=b'{"events":[' + b",".join([b"1"] * 1001) + b"]}",
                              headers=headers)
    assert (r.status_code, r.json()["error"]) == (413, "at most 1000 events per batch")
    assert await _last_queued(api) == before  # nothing of them was stored


async def test_unknown_fields_and_unit_id_are_ignored(api: Api, basic: dict[str, str]) -> None:
    other = (await api.post("/org-units", json={"name": "Other"})).json()["unit_id"]
    r = await _ingest(api, basic, lead_id="ld_x", event_type="x", unit_id=other, surprise=True)
    assert r.status_code == 202
    await wait_idle(api)
    unit = await api.rt.db.read(lambda c: c.execute("SELECT unit_id FROM events").fetchone()[0])
    assert unit == "unit_default"


async def test_active_ou_required_for_people(api: Api) -> None:
    assert (await api.post("/org-units", json={"name": "Second"})).status_code == 201  # not a one-OU install
    r = await api.client.post("/ingest", json={"lead_id": "a", "event_type": "x"},
                              headers={"Authorization": api.headers["Authorization"]})
    assert r.status_code == 400 and r.json()["error"] == "active OU not set"
    r = await api.client.post("/ingest", json={"lead_id": "a", "event_type": "x"}, headers=api.headers)
    assert r.status_code == 202


async def test_the_active_ou_is_read_from_the_cookie_or_the_header(api: Api, basic: dict[str, str]) -> None:
    other = (await api.post("/org-units", json={"name": "Other"})).json()["unit_id"]
    event = {"lead_id": "a", "event_type": "x"}
    # A credential acts in its home OU only, whichever way another one is named.
    for naming in ({"Cookie": f"theme=dark; activeOu={other}"}, {"X-OU-ID": other}):
        r = await api.client.post("/ingest", json=event, headers={**basic, **naming})
        assert r.status_code == 403, naming
        assert r.json()["error"] == "this API credential may only act in its own OU (unit_default)"
    # A person's event lands in the OU the cookie names, else in the header's.
    bearer = {"Authorization": api.headers["Authorization"]}
    for lead, naming in (("by_cookie", {"Cookie": f"activeOu={other}"}), ("by_header", {"X-OU-ID": other})):
        r = await api.client.post("/ingest", json={**event, "lead_id": lead}, headers={**bearer, **naming})
        assert r.status_code == 202, r.text
    await wait_idle(api)
    placed = await api.rt.db.read(lambda c: dict(c.execute("SELECT lead_id, unit_id FROM events").fetchall()))
    assert placed == {"by_cookie": other, "by_header": other}


async def test_idempotency_by_event_id_and_header_even_when_racing(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 1})
    first = await _ingest(api, basic, lead_id="ld_i", event_type="x", event_id="evt-1")
    again = await _ingest(api, basic, lead_id="ld_i", event_type="x", event_id="evt-1")
    assert again.json()["metadata"]["event_id"] == first.json()["metadata"]["event_id"]
    assert again.json()["metadata"]["duplicate"] is True
    racing = await asyncio.gather(*[
        api.client.post("/ingest", json={"lead_id": "ld_i", "event_type": "x"},
                        headers={**basic, "Idempotency-Key": "race-key"}) for _ in range(20)])
    ids = {r.json()["metadata"]["event_id"] for r in racing}
    assert len(ids) == 1 and all(r.status_code == 202 for r in racing)
    await wait_idle(api)
    assert (await scores_of(api, "ld_i")) == {"rs_test": 2}
    # another OU may reuse the key independently
    assert (await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])) == 2


async def test_batch_per_item_results(api: Api, basic: dict[str, str]) -> None:
    events = [{"lead_id": f"ld_{i}", "event_type": "page_view"} for i in range(10)]
    events.insert(3, {"event_type": "page_view"})
    events.append({"lead_id": "ld_0", "event_type": "page_view", "event_id": "dup"})
    events.append({"lead_id": "ld_0", "event_type": "page_view", "event_id": "dup"})
    r = await api.client.post("/ingest/batch", json={"events": events}, headers=basic)
    assert r.status_code == 202
    body = r.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (11, 1, 1)
    assert body["results"][3]["status"] == "rejected" and "lead_id" in body["results"][3]["error"]
    r = await api.client.post("/ingest/batch", json={"events": events * 100}, headers=basic)
    assert r.status_code == 413
    r = await api.client.post("/ingest/batch", json={"events": []}, headers=basic)
    assert r.status_code == 400


async def _batch(api: Api, headers: dict[str, str], events: list[dict[str, Any]], key: str | None) -> Any:
    extra = {"Idempotency-Key": key} if key is not None else {}
    return await api.client.post("/ingest/batch", json={"events": events}, headers={**headers, **extra})


async def _stored_events(api: Api) -> int:
    return int(await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0]))


async def test_a_batch_repeated_with_its_idempotency_key_answers_the_first_results_and_scores_once(
        api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 3})
    events: list[dict[str, Any]] = [{"lead_id": "ld_b1", "event_type": "x"}, {"event_type": "x"},
                                    {"lead_id": "ld_b2", "event_type": "x", "event_id": "known"}]
    assert (await _ingest(api, basic, lead_id="ld_b2", event_type="x", event_id="known")).status_code == 202
    first = await _batch(api, basic, events, "bk1")
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["replay"] is False and (body["accepted"], body["duplicates"], body["rejected"]) == (1, 1, 1)
    ids = [item.get("event_id") for item in body["results"]]
    again = await _batch(api, basic, events, "bk1")
    assert again.status_code == 202
    replay = again.json()
    assert replay["replay"] is True and (replay["accepted"], replay["duplicates"], replay["rejected"]) == (0, 2, 1)
    assert [item.get("event_id") for item in replay["results"]] == ids
    assert [item["status"] for item in replay["results"]] == ["duplicate", "rejected", "duplicate"]
    assert replay["results"][1]["error"] == body["results"][1]["error"]
    # Another body of as many events under the same key is answered as /ingest answers a known key: the first
    # request's outcome...
    other = await _batch(api, basic, [{"lead_id": "ld_b3", "event_type": "x"}] * 3, "bk1")
    assert other.status_code == 202 and other.json()["results"] == replay["results"]
    # ...but one of another size cannot be that request: its events would go unanswered. Refused, nothing stored.
    for size in (1, 4):
        other = await _batch(api, basic, [{"lead_id": "ld_b3", "event_type": "x"}] * size, "bk1")
        assert other.status_code == 422, other.text
        assert other.json()["error"] == (
            f"`Idempotency-Key` 'bk1' was first sent with a batch of 3 events and this batch has {size}: a repeat must"
            " be the same batch; send a different batch with a new key")
    await wait_idle(api)
    assert await scores_of(api, "ld_b1") == {"rs_test": 3} and await scores_of(api, "ld_b2") == {"rs_test": 3}
    assert await scores_of(api, "ld_b3") == {} and await _stored_events(api) == 2
    # A batch key and an event's key are apart: /ingest may use the same string for an event of its own.
    single = await api.client.post("/ingest", json={"lead_id": "ld_b1", "event_type": "x"},
                                   headers={**basic, "Idempotency-Key": "bk1"})
    assert single.json()["metadata"]["duplicate"] is False


async def test_a_batch_key_is_checked_and_recorded_only_for_a_batch_that_stored_something(
        api: Api, basic: dict[str, str]) -> None:
    for bad, needle in (("k" * 129, "`Idempotency-Key` must be 1 to 128"), ("a\x01b", "control characters")):
        r = await _batch(api, basic, [{"lead_id": "ld_k", "event_type": "x"}], bad)
        assert r.status_code == 400 and needle in r.json()["error"] and "Idempotency-Key" in r.json()["error"]
    refused = await _batch(api, basic, [{"event_type": "x"}], "bk2")
    assert refused.status_code == 202 and refused.json()["rejected"] == 1
    fixed = await _batch(api, basic, [{"lead_id": "ld_k", "event_type": "x"}], "bk2")
    assert fixed.json()["replay"] is False and fixed.json()["accepted"] == 1
    # Batches without the header are unchanged: each is stored.
    for _ in range(2):
        assert (await _batch(api, basic, [{"lead_id": "ld_k", "event_type": "x"}], None)).json()["accepted"] == 1
    # Each OU keeps its own batch keys.
    elsewhere = await other_unit(api)
    there = await _batch(api, elsewhere, [{"lead_id": "ld_k", "event_type": "x"}], "bk2")
    assert there.json()["replay"] is False and there.json()["accepted"] == 1
    await wait_idle(api)
    assert await _stored_events(api) == 4


async def test_identical_batches_racing_with_one_key_are_stored_and_scored_once(
        api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 2})
    events = [{"lead_id": f"ld_r{i}", "event_type": "x"} for i in range(50)]
    racing = await asyncio.gather(*[_batch(api, basic, events, "race-batch") for _ in range(8)])
    assert all(r.status_code == 202 for r in racing)
    assert sorted(r.json()["replay"] for r in racing) == [False] + [True] * 7
    assert len({tuple(item["event_id"] for item in r.json()["results"]) for r in racing}) == 1
    await wait_idle(api)
    assert await _stored_events(api) == 50
    assert [await scores_of(api, f"ld_r{i}") for i in range(50)] == [{"rs_test": 2}] * 50


async def test_csv_import(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"page_view": 5, "webinar_attend": 10})
    csv_text = ("\ufefflead_id,event_type,timestamp,email,metadata\n"
                "ld_abc123,page_view,2025-06-15T10:30:00Z,,\n"
                ',webinar_attend,2025-07-01T11:00:00Z,jane@acme.com,"{""topic"": ""ai""}"\n'
                ",page_view,,,\n"
                "ld_abc123,page_view,not-a-time,,\n"
                'ld_x,page_view,,,"[1]"\n'
                'ld_x,page_view,,,"{""plan"": {""seats"": [1, 1e999]}}"\n'
                'ld_x,page_view,,,"{""plan"": "\n')
    r = await api.client.post("/import", files={"file": ("events.csv", csv_text.encode(), "text/csv")},
                              headers=basic)
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["imported"], body["errors"]) == (2, 5)
    assert [e["line"] for e in body["error_rows"]] == [4, 5, 6, 7, 8]
    assert [e["error"] for e in body["error_rows"][2:]] == [
        "`metadata` must be a JSON object", "`metadata.plan.seats[1]` is out of range", "`metadata` is not valid JSON"]
    assert body["ignored_columns"] == []
    # Columns no import column has are named in the answer (their cells were dropped without a word).
    data = b"lead_id,Event_Type,Plan,note,\nld_x,page_view,pro,hi,\n"
    r = await api.client.post("/import", files={"file": ("e.csv", data, "text/csv")}, headers=basic)
    assert (r.json()["imported"], r.json()["ignored_columns"]) == (1, ["Plan", "note"])
    await wait_idle(api)
    sources = await api.rt.db.read(lambda c: c.execute("SELECT DISTINCT source FROM events").fetchall())
    assert sources == [("import",)]
    assert (await scores_of(api, "ld_abc123")) == {"rs_test": 5}


async def test_import_bad_requests(api: Api, basic: dict[str, str]) -> None:
    r = await api.client.post("/import", files={"other": ("e.csv", b"event_type\nx\n", "text/csv")}, headers=basic)
    assert r.status_code == 400 and "file" in r.json()["error"]
    twice = [("file", (f"{n}.csv", b"event_type\nx\n", "text/csv")) for n in "ab"]
    r = await api.client.post("/import", files=twice, headers=basic)
    assert r.json() == {"error": "upload one CSV file as the multipart field `file` (this request has several)"}
    r = await api.client.post("/import", data={"file": "event_type\nx\n"},
                              files={"other": ("e.csv", b"x", "text/csv")}, headers=basic)
    assert r.json() == {"error": "upload the CSV as the multipart field `file` (a file part with a filename)"}
    r = await api.client.post("/import", files={"file": ("e.csv", b"lead_id\nx\n", "text/csv")}, headers=basic)
    assert r.status_code == 400 and "event_type" in r.json()["error"]
    r = await api.client.post("/import", files={"file": ("e.csv", b"", "text/csv")}, headers=basic)
    assert r.status_code == 400
    r = await api.client.post("/import", files={"file": ("e.csv", b"lead_id,event_type,Event_Type\na,x,y\n",
                                                           "text/csv")}, headers=basic)
    assert r.json() == {"error": "the CSV header names `event_type` more than once"}
    # A header of hundreds of thousands of columns fits in 10 MB: its check held the event loop for minutes.
    wide = ("lead_id,event_type," + ",".join(f"c{i}" for i in range(10_000)) + "\na,x\n").encode()
    r = await api.client.post("/import", files={"file": ("e.csv", wide, "text/csv")}, headers=basic)
    assert r.json() == {"error": "the CSV header has 10,002 columns, more than the 10,000 an import reads: keep the "
                                 "event columns (and metadata) only"}
    many = ("lead_id,event_type," + ",".join(f"c{i % 4_000}" for i in range(9_000)) + "\na,x\n").encode()
    r = await api.client.post("/import", files={"file": ("e.csv", many, "text/csv")}, headers=basic)
    assert r.status_code == 400 and r.json()["error"].startswith("the CSV header names `c0`, `c1`, `c10`, ")
    r = await api.client.post("/import", files={"file": ("e.csv", b"event_type,lead_id\n\xff\xfe,a\n", "text/csv")},
                              headers=basic)
    assert r.json() == {"error": "the CSV file must be UTF-8: line 2 is not (nothing was imported)"}


async def test_import_refuses_a_file_not_utf8_whole(api: Api, basic: dict[str, str]) -> None:
    # A byte that is not UTF-8 far into the file (past the reader's first blocks, with CR LF line breaks): nothing
    # is imported, neither the rows before it nor those after; the line named is the bad one.
    rows = b"".join(b"ld_%d,page_view\r\n" % i for i in range(3000))
    data = b"lead_id,event_type\r\n" + rows + b"ld_bad,caf\xe9_view\r\n" + b"ld_after,page_view\r\n"
    r = await api.client.post("/import", files={"file": ("e.csv", data, "text/csv")}, headers=basic)
    assert r.json() == {"error": "the CSV file must be UTF-8: line 3002 is not (nothing was imported)"}
    assert await pending_count(api.rt) == 0
    await wait_idle(api)
    assert await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()) == (0,)


async def test_an_import_of_refused_rows_gives_other_requests_turns(api: Api, basic: dict[str, str]) -> None:
    # Rows that are all refused send nothing to the inbox; the rows are read `paced`, which gives the event loop up
    # every IMPORT_CHUNK rows (or every other request, health checks and /ingest too, waits for the whole file).
    from leadvibe.api.ingest import IMPORT_CHUNK, paced

    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    ticking = asyncio.create_task(other())
    await asyncio.sleep(0)
    seen = [item async for item in paced(range(10 * IMPORT_CHUNK), IMPORT_CHUNK)]
    done = True
    await ticking
    assert seen == list(range(10 * IMPORT_CHUNK)) and turns == 1 + 10

    refused = 20_000
    r = await api.client.post("/import", files={"file": ("e.csv", b"lead_id,event_type\n" + b"x,\n" * refused,
                                                         "text/csv")}, headers=basic)
    assert (r.status_code, r.json()["errors"], r.json()["imported"]) == (202, refused, 0)


async def test_import_by_lead_groups_each_leads_rows_and_scores_as_file_order(api: Api) -> None:
    # One history imported into two OUs with the same rules and grouping filter, in file order and by_lead: the
    # by_lead OU stores the rows grouped by lead (ids in order, each lead's rows in the file's order) and ends with
    # every lead's events scored exactly as file order scores them; a bad row is reported at its line either way.
    import random

    elsewhere = await other_unit(api)
    units = {"unit_default": api.headers, elsewhere["X-OU-ID"]: elsewhere}
    for n, unit in enumerate(units):
        await add_rules(api, {"page_view": 2, "email_open": 3, "demo_request": 20}, ruleset_id=f"rs_{n}", unit_id=unit)
        await add_filter(api, f"flt_{n}", "email_open", 2, 600_000, True, unit_id=unit)
    rng = random.Random(3)
    lines = ["lead_id,event_type,timestamp"]
    for i in range(150):
        minute = i // 3 + rng.randrange(3)
        lines.append(f"ld_{rng.randrange(9)},{rng.choice(['page_view', 'email_open', 'email_open', 'demo_request'])},"
                     f"2026-03-01T{10 + minute // 60:02d}:{minute % 60:02d}:00Z")
    lines[40] = "ld_3,,2026-03-01T10:20:00Z"  # line 41: no event type
    body = ("\n".join(lines) + "\n").encode()
    outcomes = []
    for (unit, headers), by_lead in zip(units.items(), (False, True), strict=True):
        r = await api.client.post(f"/import{'?by_lead=true' if by_lead else ''}",
                                  files={"file": ("h.csv", body, "text/csv")}, headers=headers)
        assert r.status_code == 202, r.text
        assert (r.json()["imported"], r.json()["errors"], r.json()["error_rows"][0]["line"]) == (149, 1, 41)
        await wait_idle(api)
        rows = await api.rt.db.read(lambda c, u=unit: c.execute(
            "SELECT e.lead_id, e.type_key, e.occurred_at, s.delta, s.before, s.after, s.filtered_by IS NOT NULL"
            " FROM events e LEFT JOIN event_scores s ON s.event_seq = e.seq WHERE e.unit_id = ? ORDER BY e.seq",
            (u,)).fetchall())
        per_lead: dict[str, list[Any]] = {}
        for lead_id, *rest in rows:
            per_lead.setdefault(lead_id, []).append(rest)
        outcomes.append((per_lead, {lead: list((await scores_of(api, lead, unit)).values()) for lead in per_lead}))
        arrival = [lead_id for lead_id, *_ in rows]
        assert (arrival == sorted(arrival)) == by_lead
    assert len(outcomes[0][0]) == 9 and outcomes[0] == outcomes[1]


async def test_import_by_lead_needs_a_lead_id_on_every_row(api: Api, basic: dict[str, str]) -> None:
    before = await _last_queued(api)
    r = await api.client.post("/import?by_lead=true", files={"file": ("e.csv", b"event_type,email\nx,a@b.co\n",
                                                                      "text/csv")}, headers=basic)
    assert r.status_code == 400 and "lead_id" in r.json()["error"]
    body = b"lead_id,event_type,email\nld_1,x,\nld_2,,\n,x,a@b.co\nld_3,x,\n"
    r = await api.client.post("/import?by_lead=true", files={"file": ("e.csv", body, "text/csv")}, headers=basic)
    assert r.status_code == 400 and "line 4 has no lead_id" in r.json()["error"], r.text
    await wait_idle(api)
    events = await api.rt.db.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0])
    assert (await _last_queued(api), events) == (before, 0)


async def test_aliases_array_and_alias_attachment(api: Api, basic: dict[str, str]) -> None:
    await _ingest(api, basic, aliases=[{"alias_kind": "email", "raw_value": "A@B.com"},
                                       {"alias_kind": "phone", "raw_value": "+1 (555) 123-4567"}], event_type="x")
    await wait_idle(api)
    await _ingest(api, basic, alias_kind="phone", alias="+15551234567", event_type="x")
    await _ingest(api, basic, lead_id="ld_named", aliases=[{"alias_kind": "cookie", "raw_value": "c1"}],
                  event_type="x")
    await wait_idle(api)
    leads = await api.rt.db.read(lambda c: c.execute("SELECT DISTINCT lead_id FROM events").fetchall())
    assert len(leads) == 2
    owner = await api.rt.db.read(lambda c: c.execute(
        "SELECT lead_id FROM lead_aliases WHERE kind='cookie' AND value='c1'").fetchone()[0])
    assert owner == "ld_named"


async def test_processing_scopes(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"observed": 5, "decided": 7})

    def scopes(c: Any) -> None:
        c.execute("INSERT INTO event_type_settings VALUES ('unit_default','observed',0,'observe',0)")
        c.execute("INSERT INTO event_type_settings VALUES ('unit_default','decided',1,'decide',0)")
    await api.rt.db.write(scopes)
    api.rt.scoring_config.invalidate("unit_default")
    await _ingest(api, basic, lead_id="ld_s", event_type="observed")
    await _ingest(api, basic, lead_id="ld_s", event_type="decided")
    await wait_idle(api)
    assert (await scores_of(api, "ld_s")) == {"rs_test": 7}
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT e.scope, count(s.event_seq) FROM events e LEFT JOIN event_scores s ON s.event_seq = e.seq"
        " GROUP BY e.seq ORDER BY e.seq").fetchall())
    assert rows == [("observe", 0), ("decide", 1)]


async def test_inorganic_filter_scores_zero_and_groups(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"click": 3})

    await add_filter(api, "ft_1", "click", 2, 60000, True)
    for i in range(4):
        await _ingest(api, basic, lead_id="ld_bot", event_type="click", timestamp=f"2025-01-01T00:00:0{i}Z")
    await wait_idle(api)
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT inorganic, filtered_by, grouped_with IS NOT NULL FROM events ORDER BY seq").fetchall())
    assert rows == [(0, None, 0), (0, None, 0), (1, "ft_1", 1), (1, "ft_1", 1)]
    assert (await scores_of(api, "ld_bot")) == {"rs_test": 6}


# Seconds of each click of one lead, in arrival order: out of order, some outside the others' windows (60 s).
BURST = (10, 12, 11, 15, 14, 70, 13, 71, 72, 130, 75, 74)


# Three rounds of it: 36 clicks, more than a worker batch counts in SQL before it holds the lead's window
# (`_HOLD_WINDOW_AFTER`); the last round, backwards and earlier than the second, reaches back to the first.
LONG_BURST = BURST + tuple(s + 200 for s in BURST) + tuple(s + 50 for s in reversed(BURST))


async def _burst_is_filtered_as_the_rule_and_a_replay_say(api: Api, threshold: int, group: bool,
                                                          burst: tuple[int, ...] = BURST) -> None:
    """The stored burst's flags and groups are the filter's rule as SEMANTICS states it, and a replay finds them
    all as the worker stored them."""
    sql = "SELECT id, inorganic, filtered_by, grouped_with FROM events ORDER BY seq"
    live = await api.rt.db.read(lambda c: c.execute(sql).fetchall())
    ids = [row[0] for row in live]
    expected = []
    for i, second in enumerate(burst):  # SEMANTICS: earlier arrivals with a timestamp in (ts - 60 s, ts]
        earlier = [j for j in range(i) if second - 60 < burst[j] <= second]
        fired = len(earlier) + 1 > threshold
        expected.append((ids[i], int(fired), "ft_b" if fired else None,
                         ids[earlier[0]] if fired and group and earlier else None))
    assert live == expected
    assert 0 < sum(row[1] for row in live) < len(burst) or threshold == 0

    def replay(c: Any) -> int:
        return rescore_leads(c, api.rt.scoring_config.get(c, "unit_default"), None, api.rt.now_ms())
    await api.rt.db.write(replay)
    assert await api.rt.db.read(lambda c: c.execute(sql).fetchall()) == live


@pytest.mark.parametrize(("threshold", "group"), [(0, True), (1, False), (2, True), (2, False), (3, True)])
async def test_a_burst_scored_event_by_event_is_filtered_as_a_replay_filters_it(
        api: Api, basic: dict[str, str], threshold: int, group: bool) -> None:
    # One event per worker batch: every window is counted from stored events (up to the threshold where the
    # filter does not group, the whole window where it does), and the replay must find every flag and group as
    # the worker stored it.
    await add_rules(api, {"click": 3})
    await add_filter(api, "ft_b", "click", threshold, 60_000, group)
    for second in BURST:
        r = await _ingest(api, basic, lead_id="ld_burst", event_type="click",
                          timestamp=f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}Z")
        assert r.status_code == 202
        await wait_idle(api)
    await _burst_is_filtered_as_the_rule_and_a_replay_say(api, threshold, group)


@pytest.mark.parametrize(("threshold", "group", "stored", "triggers"), [
    (0, True, 0, False), (2, True, 0, False), (2, True, 4, False), (3, True, 7, False), (2, False, 4, False),
    (2, True, 4, True), (2, False, 4, True), (3, False, 0, True), (3, True, 0, True), (8, True, 4, True),
    (6, True, 0, True), (8, True, 7, False)])
async def test_a_burst_scored_in_one_batch_is_filtered_as_a_replay_filters_it(
        api: Api, basic: dict[str, str], threshold: int, group: bool, stored: int, triggers: bool) -> None:
    # The burst's first `stored` clicks are scored one per batch (stored), the rest arrive in one /ingest/batch and
    # are scored in one worker batch: their windows count the stored events (in SQL for the lead's first events of
    # the type in the batch, from the rows held once the burst goes on) and the batch's own in memory. With a
    # trigger the OU writes each event to the table as it goes, so the batch's own must not be counted twice.
    await add_rules(api, {"click": 3})
    await add_filter(api, "ft_b", "click", threshold, 60_000, group)
    if triggers:
        r = await api.post("/triggers/milestones", json={"event_type": "signup", "score_threshold": 1000,
                                                         "webhook_url": "https://hooks.example.com/x"})
        assert r.status_code == 201, r.text
    stamps = [f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}Z" for second in LONG_BURST]
    for ts in stamps[:stored]:
        assert (await _ingest(api, basic, lead_id="ld_burst", event_type="click", timestamp=ts)).status_code == 202
        await wait_idle(api)
    r = await api.client.post("/ingest/batch", json={"events": [
        {"lead_id": "ld_burst", "event_type": "click", "timestamp": ts} for ts in stamps[stored:]]}, headers=basic)
    assert r.status_code == 202
    await wait_idle(api)
    await _burst_is_filtered_as_the_rule_and_a_replay_say(api, threshold, group, LONG_BURST)


async def test_rescore_with_unchanged_rules_changes_nothing(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"a": 4, "b": -3, "c": 7})
    await add_rules(api, {"a": 1, "c": 2}, ruleset_id="rs_other", primary=False)
    seq = ["a", "b", "c", "a", "a", "b", "c", "c", "a"]
    for i, t in enumerate(seq):
        await _ingest(api, basic, lead_id="ld_r", event_type=t, timestamp=f"2025-01-01T00:{i:02d}:00Z")
    await wait_idle(api)
    before = await scores_of(api, "ld_r")
    assert before == await delta_sums(api, "ld_r")
    snapshot = await api.rt.db.read(lambda c: c.execute(
        "SELECT event_seq, ruleset_id, delta, before, after FROM event_scores ORDER BY 1, 2").fetchall())
    session_sql = "SELECT session_n, session_last_ts, session_started_at, session_count FROM leads WHERE id = 'ld_r'"
    session = await api.rt.db.read(lambda c: c.execute(session_sql).fetchone())

    def run(c: Any) -> int:
        cfg = api.rt.scoring_config.get(c, "unit_default")
        return rescore_leads(c, cfg, None, api.rt.now_ms())
    assert await api.rt.db.write(run) == 1
    assert await scores_of(api, "ld_r") == before
    again = await api.rt.db.read(lambda c: c.execute(
        "SELECT event_seq, ruleset_id, delta, before, after FROM event_scores ORDER BY 1, 2").fetchall())
    assert again == snapshot
    assert await api.rt.db.read(lambda c: c.execute(session_sql).fetchone()) == session


async def test_stream_delivers_scores_to_its_ou(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 3})
    hub = api.rt.stream
    received: list[bytes] = []

    async def listen() -> None:
        async for frame in hub.stream("unit_default"):
            received.append(frame)
            if b"score_update" in frame:
                return

    task = await subscribed(api, listen)
    await _ingest(api, basic, lead_id="ld_sse", event_type="x")
    await asyncio.wait_for(task, 5)
    assert any(b'"lead_id":"ld_sse"' in f and b'"score":3' in f for f in received)


async def test_stream_messages_name_their_lead(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 3})
    r = await api.post("/leads", json={"id": "ld_named", "metadata": {"first_name": "Grace", "last_name": "Hopper"}})
    assert r.status_code == 201, r.text
    hub = api.rt.stream
    received: list[tuple[str, dict[str, Any]]] = []

    async def listen() -> None:
        async for frame in hub.stream("unit_default"):
            for message in frame.decode().split("\n\n"):
                if message.startswith("event: "):
                    event, data = message.split("\n", 1)
                    received.append((event[7:], json.loads(data[6:])))
            if sum(name == "score_update" for name, _ in received) == 2:
                return

    task = await subscribed(api, listen)
    await _ingest(api, basic, lead_id="ld_named", event_type="x")
    await _ingest(api, basic, lead_id="ld_nameless", event_type="x")
    await asyncio.wait_for(task, 5)
    assert [(name, data["lead_id"], data["lead_name"]) for name, data in received] == [
        ("event_ingested", "ld_named", "Grace Hopper"), ("score_update", "ld_named", "Grace Hopper"),
        ("event_ingested", "ld_nameless", None), ("score_update", "ld_nameless", None)]


def test_a_batchs_publications_are_named_with_one_lookup_per_ou() -> None:
    import apsw

    from leadvibe.db.migrate import apply_migrations
    from leadvibe.pipeline.stream import name_leads

    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    conn.executemany("INSERT INTO leads (unit_id, id, org_id, metadata, created_at, updated_at) VALUES (?,?,'o',?,0,0)",
                     [("u", f"ld_{i}", json.dumps({"name": f"Lead {i}"})) for i in range(300)]
                     + [("v", "ld_0", json.dumps({"email": "v@example.com"}))])
    publications = [(unit, name, {"lead_id": f"ld_{i}", "score": i}) for i in range(300)
                    for unit, name in (("u", "event_ingested"), ("u", "score_update"))]
    publications += [("v", "event_ingested", {"lead_id": "ld_0"}), ("u", "other", {"no_lead": True})]
    statements: list[str] = []
    conn.exec_trace = lambda _cursor, sql, _bindings: statements.append(sql) or True
    name_leads(conn, publications)
    assert len(statements) == 2  # one per OU, not one per event
    assert publications[0][2] == {"lead_id": "ld_0", "score": 0, "lead_name": "Lead 0"}
    assert publications[599][2]["lead_name"] == "Lead 299"
    assert publications[600][2]["lead_name"] == "v@example.com" and publications[601][2] == {"no_lead": True}


async def test_slow_stream_client_is_dropped_not_ingestion(api: Api, basic: dict[str, str]) -> None:
    hub = api.rt.stream
    dropped_before = api.rt.metrics.sse_dropped.value()  # the app is shared: count this test's drops only
    gen = hub.stream("unit_default")
    assert (await gen.__anext__()).startswith(b": connected")
    for i in range(hub.buffer + 5):  # one commit's burst: taken whole by a client that was not behind
        hub.publish("unit_default", "event_ingested", {"i": i})
    assert hub.subscriber_count("unit_default") == 1
    await asyncio.sleep(0)  # the next burst finds it a whole buffer behind (it read nothing)
    hub.publish("unit_default", "event_ingested", {"i": "next"})
    assert hub.subscriber_count("unit_default") == 0
    assert api.rt.metrics.sse_dropped.value() == dropped_before + 1
    await gen.aclose()


async def test_a_stream_client_that_keeps_up_gets_every_message_of_a_large_batch() -> None:
    """A full /ingest/batch publishes two messages per event in one turn of the event loop: more than the buffer,
    all delivered to a client that was keeping up; the next burst finds it caught up again."""
    from leadvibe.pipeline.stream import StreamHub

    hub = StreamHub(buffer=100, heartbeat=60)
    gen = hub.stream("unit_a")
    assert (await gen.__anext__()).startswith(b": connected")
    for burst in range(3):
        for i in range(350):
            hub.publish("unit_a", "score_update", {"burst": burst, "i": i})
        received = b""
        while received.count(b"event: score_update") < 350:
            received += await asyncio.wait_for(gen.__anext__(), 5)
        assert received.count(b"event: score_update") == 350 and hub.subscriber_count("unit_a") == 1
    await gen.aclose()


async def test_stream_sends_what_queued_meanwhile_as_one_chunk_in_order() -> None:
    from leadvibe.pipeline.stream import StreamHub

    hub = StreamHub(buffer=3, heartbeat=60)
    gen = hub.stream("unit_a")
    assert (await gen.__anext__()).startswith(b": connected")
    for i in range(3):
        hub.publish("unit_a", "event_ingested", {"i": i})
    hub.publish("unit_b", "event_ingested", {"i": "elsewhere"})
    chunk = await gen.__anext__()
    assert chunk == b"".join(b'event: event_ingested\ndata: {"i":%d}\n\n' % i for i in range(3))
    # A client a whole buffer behind when a burst begins is dropped: its stream ends (it reconnects; nothing is
    # lost but the frames it missed).
    for i in range(3, 6):
        hub.publish("unit_a", "event_ingested", {"i": i})
    await asyncio.sleep(0)
    hub.publish("unit_a", "event_ingested", {"i": 6})
    assert hub.subscriber_count("unit_a") == 0
    assert [frame async for frame in gen] == []


async def test_stream_requires_auth_and_membership(api: Api) -> None:
    assert (await api.client.get("/stream")).status_code == 401
    r = await api.client.get("/stream", params={"ouId": "unit_nope"},
                             headers={"Authorization": api.headers["Authorization"]})
    assert r.status_code == 403
    # One OU per stream, as every query parameter that takes one value: not the first of two, silently.
    r = await api.client.get("/stream?ouId=unit_default&ouId=unit_nope",
                             headers={"Authorization": api.headers["Authorization"]})
    assert r.status_code == 400 and r.json()["error"] == "`ouId` was given more than once; it takes one value"


async def test_metrics_count_ingest(api: Api, basic: dict[str, str]) -> None:
    before = metric_values((await api.client.get("/metrics")).text)
    await _ingest(api, basic, lead_id="ld_m", event_type="x")
    await wait_idle(api)
    after = metric_values((await api.client.get("/metrics")).text)
    assert after["events_ingested_total"] - before["events_ingested_total"] == 1
    assert after["queue_depth"] == 0
    assert after["event_processing_latency_seconds_count"] - before["event_processing_latency_seconds_count"] == 1
    health = (await api.client.get("/healthz")).json()
    assert health["worker"] == "alive" and health["queue_depth"] == 0


async def test_a_poison_event_is_set_aside_and_the_rest_scored(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"x": 2})
    await _ingest(api, basic, lead_id="ld_p", event_type="x")

    org_id = await api.rt.db.read(lambda c: c.execute(
        "SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0])

    def poison(c: Any) -> None:
        c.execute("INSERT INTO inbox (org_id, unit_id, event_id, payload, source, skip_triggers, received_at)"
                  " VALUES (?, 'unit_default', 'ev_poison', x'00ff', 'api', 0, 0)", (org_id,))
    await api.rt.inbox_db.write(poison)
    api.rt.worker.notify(1)
    await _ingest(api, basic, lead_id="ld_p", event_type="x")
    await wait_idle(api)
    rows = await api.rt.db.read(lambda c: c.execute("SELECT e.id, s.delta FROM events e LEFT JOIN event_scores s"
                                                    " ON s.event_seq = e.seq").fetchall())
    assert (await scores_of(api, "ld_p")) == {"rs_test": 4}, rows
    dead = await api.rt.db.read(lambda c: c.execute("SELECT event_id, error FROM inbox_dead").fetchall())
    assert [d[0] for d in dead] == ["ev_poison"] and dead[0][1]
    assert await pending_count(api.rt) == 0


async def test_rescore_of_one_ruleset_clears_flags_of_a_deleted_filter(api: Api, basic: dict[str, str]) -> None:
    await add_rules(api, {"click": 3})

    await add_filter(api, "ft_2", "click", 1, 60000, False)
    for i in range(2):
        await _ingest(api, basic, lead_id="ld_f", event_type="click", timestamp=f"2025-01-01T00:00:0{i}Z")
    await wait_idle(api)
    assert (await api.client.delete("/filters/ft_2", headers=api.headers)).status_code == 204
    r = await api.client.post("/rulesets/rs_test/rescore", headers=api.headers)
    assert r.status_code == 200, r.text
    rows = await api.rt.db.read(lambda c: c.execute(
        "SELECT inorganic, filtered_by, has_delta FROM events ORDER BY seq").fetchall())
    assert rows == [(0, None, 1), (0, None, 1)]
    assert (await scores_of(api, "ld_f")) == {"rs_test": 6} == await delta_sums(api, "ld_f")


async def test_type_counts_follow_deletes_and_merge_truncation(api: Api, basic: dict[str, str]) -> None:
    for lead, t, ts in (("ld_del", "zz_a", "2025-01-01T00:00:00Z"), ("ld_keep", "zz_a", "2025-01-01T00:00:00Z"),
                        ("ld_src", "zz_b", "2020-01-01T00:00:00Z"), ("ld_tgt", "zz_b", "2025-01-01T00:00:00Z")):
        await _ingest(api, basic, lead_id=lead, event_type=t, timestamp=ts)
    await wait_idle(api)
    assert (await api.delete("/leads/ld_del")).status_code == 202
    r = await api.post("/leads/merge", json={"targetLeadId": "ld_tgt", "sourceLeadIds": ["ld_src"],
                                             "truncate": {"policy": "older_than", "before": "2024-01-01T00:00:00Z"}})
    assert r.status_code == 200, r.text
    for _ in range(200):
        status = (await api.get("/leads/ld_del/deletion")).json()["status"]
        if status == "completed":
            break
        await asyncio.sleep(0.05)
    counts = dict(await api.rt.db.read(lambda c: c.execute(
        "SELECT type_key, event_count FROM event_types WHERE type_key LIKE 'zz_%'").fetchall()))
    actual = dict(await api.rt.db.read(lambda c: c.execute(
        "SELECT type_key, count(*) FROM events WHERE type_key LIKE 'zz_%' GROUP BY type_key").fetchall()))
    assert counts == {"zz_a": 1, "zz_b": 1} == actual
    by_type = (await api.get("/analytics")).json()["by_type"]
    assert by_type.get("zz_a") == 1 and by_type.get("zz_b") == 1


async def test_arrival_positions_are_never_reused(api: Api, basic: dict[str, str]) -> None:
    for i in range(3):
        await _ingest(api, basic, lead_id="ld_seq", event_type="x", event_id=f"s{i}")
    await wait_idle(api)
    newest = await api.rt.db.read(lambda c: c.execute("SELECT id, seq FROM events ORDER BY seq DESC").fetchone())
    assert (await api.client.request("DELETE", "/events/batch", json={"ids": [newest[0]]},
                                     headers=basic)).status_code == 200
    await _ingest(api, basic, lead_id="ld_seq", event_type="x", event_id="s9")
    await wait_idle(api)
    latest = await api.rt.db.read(lambda c: c.execute("SELECT max(seq) FROM events").fetchone()[0])
    assert latest > newest[1]


async def test_answers_carry_a_request_id_and_are_counted(api: Api, basic: dict[str, str]) -> None:
    before = metric_values((await api.client.get("/metrics")).text)
    given = await api.post("/ingest", json={"lead_id": "ld_rid", "event_type": "x"},
                           headers={**basic, "X-Request-ID": "client-7.a_b"})
    made = await api.post("/ingest/batch", json={"events": [{"lead_id": "ld_rid", "event_type": "x"}]}, headers=basic)
    refused = await api.post("/ingest", json={"lead_id": "ld_rid", "event_type": "x"},
                             headers={**basic, "X-Request-ID": "not valid!"})
    unauthenticated = await api.post("/ingest", json={"lead_id": "ld_rid", "event_type": "x"},
                                     headers={"Authorization": "Basic bHZfbm9uZTpsdnNfbm9uZQ=="})
    assert given.status_code == made.status_code == refused.status_code == 202 and unauthenticated.status_code == 401
    assert given.headers["x-request-id"] == "client-7.a_b"
    assert made.headers["x-request-id"].startswith("req_")
    assert refused.headers["x-request-id"].startswith("req_")
    assert unauthenticated.headers["x-request-id"].startswith("req_") and "www-authenticate" in unauthenticated.headers
    after = metric_values((await api.client.get("/metrics")).text)
    assert after['http_requests_total{status="202",method="POST"}'] \
        - before.get('http_requests_total{status="202",method="POST"}', 0) == 3
    assert after['http_requests_total{status="401",method="POST"}'] \
        - before.get('http_requests_total{status="401",method="POST"}', 0) == 1


async def test_an_overlong_field_is_a_bad_row_not_a_broken_file(api: Api) -> None:
    """A field over the csv module's default 128 KB limit: the row is counted in `errors` with its line, and the
    rows after it are imported (the whole file was refused after the rows before it had been stored)."""
    good = "".join(f"ld_{i},page_view,\n" for i in range(5))
    csv_text = f"lead_id,event_type,note\n{good}{'x' * 200_000},page_view,\nld_9,page_view,{'n' * 200_000}\n"
    r = await api.post("/import", files={"file": ("e.csv", csv_text.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["imported"] == 6 and body["errors"] == 1, body
    assert body["error_rows"][0]["line"] == 7 and "lead_id" in body["error_rows"][0]["error"]


@pytest.mark.parametrize("path,hint", [
    # what a webhook tool posting a list of records is told to send instead
    ("/ingest", ': send one event as an object, or several to /ingest/batch as {"events": [...]}'),
    ("/ingest/batch", ': send the events as {"events": [...]}'),
])
async def test_an_array_body_is_told_the_shape_the_route_takes(api: Api, path: str, hint: str) -> None:
    r = await api.post(path, json=[{"lead_id": "ld_1", "event_type": "page_view"}])
    assert r.status_code == 400
    assert r.json()["error"] == "the request body must be a JSON object, not an array" + hint


@pytest.mark.parametrize("timestamp,said", [
    (1733550000, "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number"),
    (1733550000123.0, "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number"),
    ("1733550000", "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z, not a number of seconds"
                   " or milliseconds"),
    ("2026-12-07", "`timestamp` must include a time and a UTC offset, such as 2025-09-15T14:30:00Z"),
    ("2026-12-07T01:00:00", "`timestamp` must include a UTC offset (Z or +hh:mm), such as 2025-09-15T14:30:00Z"),
    ("2026-12-07T01:00:00.250", "`timestamp` must include a UTC offset (Z or +hh:mm), such as 2025-09-15T14:30:00Z"),
    ("next tuesday", "`timestamp` must be an RFC 3339 timestamp such as 2025-09-15T14:30:00Z"),
])
async def test_a_timestamp_in_another_form_is_told_the_form(api: Api, timestamp: object, said: str) -> None:
    """The forms other tools write (epoch seconds or milliseconds, a date, a local time) are named in the refusal."""
    for path, body in (("/ingest", {"lead_id": "ld_1", "event_type": "page_view", "timestamp": timestamp}),
                       ("/ingest/batch", {"events": [{"lead_id": "ld_1", "event_type": "page_view",
                                                      "timestamp": timestamp}]})):
        r = await api.post(path, json=body)
        if path == "/ingest":
            assert (r.status_code, r.json()["error"]) == (400, said)
        elif isinstance(timestamp, str):  # a batch answers a value's form for each event
            assert r.status_code == 202 and r.json()["results"][0]["error"] == said, r.text
        # (a number in a batch: test_an_event_of_the_wrong_json_shape_is_rejected_alone)
