"""Timestamps outside 1970-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z (after their offset) are refused where they
come in: once stored, one could not be written back as RFC 3339, and every list holding it failed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadvibe.timeutil import MAX_MS, parse_rfc3339, to_rfc3339
from tests.conftest import Api
from tests.helpers import wait_idle

# Year 0 and year 10000 once their offsets are applied; a second before the epoch.
OUTSIDE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "1969-12-31T23:59:59Z",
           "0001-01-01T00:00:00Z"]
RANGE_ERROR = "must be between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


@pytest.mark.parametrize("ts", OUTSIDE)
def test_the_parser_refuses_instants_outside_the_range(ts: str) -> None:
    with pytest.raises(ValueError, match=RANGE_ERROR):
        parse_rfc3339(ts)


def test_the_ends_of_the_range_round_trip() -> None:
    for ts in ("1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "2024-02-29T23:59:59.001Z"):
        assert to_rfc3339(parse_rfc3339(ts)) == ts
    assert parse_rfc3339("9999-12-31T23:59:59.999Z") == MAX_MS
    assert to_rfc3339(parse_rfc3339("2024-09-15T14:30:00.123+02:00")) == "2024-09-15T12:30:00.123Z"


def test_a_stored_value_from_before_the_bound_is_written_as_rfc3339() -> None:
    # Year 1 has four digits, and a value past any date is shown at the nearest end instead of failing.
    assert to_rfc3339(-62135596800000) == "0001-01-01T00:00:00Z"
    assert to_rfc3339(-1) == "1969-12-31T23:59:59.999Z"
    assert to_rfc3339(10**18) == "9999-12-31T23:59:59.999Z"
    assert to_rfc3339(-(10**18)) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize("ts", OUTSIDE[:2])
async def test_ingest_refuses_it_before_the_202(api: Api, ts: str) -> None:
    r = await api.post("/ingest", json={"lead_id": "ld_y0", "event_type": "page_view", "timestamp": ts})
    assert r.status_code == 400
    assert r.json() == {"error": f"`timestamp` {RANGE_ERROR}"}
    r = await api.post("/ingest/batch", json={"events": [
        {"lead_id": "ld_y0", "event_type": "page_view"},
        {"lead_id": "ld_y0", "event_type": "page_view", "timestamp": ts}]})
    assert [x["status"] for x in r.json()["results"]] == ["accepted", "rejected"]
    await wait_idle(api)
    r = await api.get("/events?limit=100")
    assert r.status_code == 200 and r.json()["total"] == 1


async def test_an_import_counts_the_row_as_an_error(api: Api) -> None:
    csv = ("lead_id,event_type,timestamp\nld_a,page_view,2025-01-01T00:00:00Z\n"
           "ld_b,page_view,0001-01-01T00:00:00+01:00\n")
    r = await api.post("/import", files={"file": ("e.csv", csv.encode(), "text/csv")})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["imported"] == 1 and body["errors"] == 1, body
    assert RANGE_ERROR in body["error_rows"][0]["error"]
    await wait_idle(api)
    assert (await api.get("/events")).json()["total"] == 1


@pytest.mark.parametrize("field", ["start_at", "end_at"])
async def test_a_rule_schedule_outside_it_is_refused_and_not_stored(api: Api, field: str) -> None:
    before = (await api.get("/rules")).json()
    r = await api.post("/rules", json={"event_type": "tsfz", "weight": 1, field: "9999-12-31T23:59:59-12:00"})
    assert r.status_code == 400 and RANGE_ERROR in r.json()["error"]
    after = await api.get("/rules")
    assert after.status_code == 200 and after.json() == before


async def test_orders_and_surge_metrics_refuse_it(api: Api) -> None:
    r = await api.post("/orders", json={"lead_id": "ld_o", "order_id": "o1", "amount": 1, "currency": "USD",
                                        "occurred_at": "0001-01-01T00:00:00+01:00"})
    assert r.status_code == 400 and RANGE_ERROR in r.json()["error"]
    r = await api.get("/surge/unit_default/metrics",
                      params={"start": "0001-01-01T00:00:00+01:00", "end": "0001-01-03T00:00:00Z", "interval": "1d"})
    assert r.status_code == 400 and RANGE_ERROR in r.json()["error"]


# RFC 3339 date-times as a client generated from the document writes them (`format: date-time`): any year 1-9999,
# fractions of 1 to 6 digits, `Z` or any offset.
_DATE_TIMES = st.builds(
    "{}T{:02d}:{:02d}:{:02d}{}{}".format, st.dates().map(str), st.integers(0, 23), st.integers(0, 59),
    st.integers(0, 59), st.just("") | st.text("0123456789", min_size=1, max_size=6).map(".".__add__),
    st.just("Z") | st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 59)))


@given(_DATE_TIMES)
def test_a_filter_bound_takes_every_date_time_and_clamps_it_to_the_range(text: str) -> None:
    exact = datetime.fromisoformat(text.replace("Z", "+00:00"))
    expected = (exact - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_rfc3339(text, clamp=True) == min(max(expected, 0), MAX_MS)


async def test_a_trigger_history_filter_before_1970_starts_at_1970(api: Api) -> None:
    for path in ("/triggers/milestones/events", "/surge-events"):
        r = await api.get(path, params={"start": "1900-01-01T00:00:00Z", "end": "0001-01-01T00:00:00Z"})
        assert r.status_code == 200, r.text
        r = await api.get(path, params={"start": "1900-13-01T00:00:00Z"})
        assert r.status_code == 400 and "`start`" in r.json()["error"]


@pytest.mark.parametrize(("ts", "says"), [
    ("2026-W46-7T14:00:00Z", "must be an RFC 3339 timestamp"),  # an ISO 8601 week date
    ("2026-11-15T140000.5+01:00", "must be an RFC 3339 timestamp"),  # ISO 8601's basic time
    ("2026-11-15T14:00:00+0100", "must write its UTC offset as Z or +hh:mm"),
    ("2026-11-15T14:00:00+01", "must write its UTC offset as Z or +hh:mm"),
    ("2026-11-15T14:00:00+01:00:30", "must write its UTC offset as Z or +hh:mm"),  # was shifted by 30 s
    ("2026-11-15T14:00:00", "must include a UTC offset"),
])
def test_only_rfc_3339s_form_is_read(ts: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        parse_rfc3339(ts)


def test_rfc_3339s_own_variants_are_read() -> None:
    assert parse_rfc3339("2016-12-31T23:59:60Z") == parse_rfc3339("2017-01-01T00:00:00Z")  # a leap second
    assert parse_rfc3339("2016-12-31T23:59:60.5Z") == parse_rfc3339("2017-01-01T00:00:00.5Z")
    assert parse_rfc3339("2026-11-15 14:00:00z") == parse_rfc3339("2026-11-15t09:00:00-05:00")


def test_white_space_around_a_timestamp_is_refused_at_either_end() -> None:
    for ts in ("2025-09-15T14:30:00Z ", "2025-09-15T14:30:00Z\n", "2025-09-15T14:30:00Z\t\r\n",
               "2025-09-15T14:30:00Z\u2003", " 2025-09-15T14:30:00Z"):
        with pytest.raises(ValueError):
            parse_rfc3339(ts)


def test_a_time_finer_than_the_millisecond_is_cut_when_stored_and_raised_as_a_range_s_edge() -> None:
    assert parse_rfc3339("2025-01-01T00:00:00.0005Z") == parse_rfc3339("2025-01-01T00:00:00Z")
    assert parse_rfc3339("2025-01-01T00:00:00.0005Z", bound=True) == parse_rfc3339("2025-01-01T00:00:00.001Z")
    assert parse_rfc3339("2025-01-01T00:00:00.999999Z", bound=True) == parse_rfc3339("2025-01-01T00:00:01Z")
    assert parse_rfc3339("2025-01-01T00:00:00.5Z", bound=True) == parse_rfc3339("2025-01-01T00:00:00.500Z")


async def test_ranges_and_rule_windows_over_stored_milliseconds(api: Api) -> None:
    r = await api.post("/rules", json={"event_type": "win", "weight": 7, "start_at": "2025-03-01T00:00:00.0005Z"})
    assert r.status_code == 201 and r.json()["start_at"] == "2025-03-01T00:00:00.001Z", r.text
    # an end 0.5 ms after the start is after it
    r = await api.post("/rules", json={"event_type": "other", "weight": 1, "start_at": "2025-03-01T00:00:00Z",
                                       "end_at": "2025-03-01T00:00:00.0005Z"})
    assert r.status_code == 201, r.text
    for ts in ("2025-03-01T00:00:00Z", "2025-03-01T00:00:00.999Z"):
        assert (await api.post("/ingest", json={"lead_id": "ld_ms", "event_type": "win", "timestamp": ts})
                ).status_code == 202
    await wait_idle(api)
    assert (await api.get("/leads/ld_ms/score")).json()["score"] == 7  # the event at .000 is before the start
    r = await api.get("/leads/ld_ms/activity", params={
        "range": "custom", "start": "2025-03-01T00:00:00.0001Z", "end": "2025-03-01T00:00:00.9995Z"})
    assert [e["timestamp"] for e in r.json()["events"]] == ["2025-03-01T00:00:00.999Z"], r.text
    r = await api.get("/leads/ld_ms/activity", params={
        "range": "custom", "start": "2025-03-01T00:00:00Z", "end": "2025-03-01T00:00:00.0005Z"})
    assert [e["timestamp"] for e in r.json()["events"]] == ["2025-03-01T00:00:00Z"], r.text


async def test_a_history_bound_with_white_space_is_refused_and_one_between_milliseconds_is_a_range(api: Api) -> None:
    for path in ("/surge-events", "/triggers/milestones/events", "/triggers/sequences/events/export"):
        for bound in ("2026-12-07T00:00:00Z ", "\t2026-12-07T00:00:00Z", "2026-12-07T00:00:00Z\n"):
            r = await api.get(path, params={"start": bound})
            assert r.status_code == 400 and "RFC 3339" in r.json()["error"], (path, bound)
        # two instants within one millisecond: a range that holds no stored time, not an end before the start
        r = await api.get(path, params={"start": "2026-12-07T00:00:00.0001Z", "end": "2026-12-07T00:00:00.0009Z"})
        assert r.status_code == 200, (path, r.text)
        r = await api.get(path, params={"start": "2026-12-07T00:00:00.001Z", "end": "2026-12-07T00:00:00.001Z"})
        assert r.status_code == 400, path  # the same instant
    assert (await api.post("/ingest", json={"lead_id": "ld_sub", "event_type": "x"})).status_code == 202
    await wait_idle(api)
    r = await api.get("/leads/ld_sub/activity", params={
        "range": "custom", "start": "2026-12-07T00:00:00.0001Z", "end": "2026-12-07T00:00:00.0009Z"})
    assert r.status_code == 200 and r.json()["events"] == [], r.text


async def test_a_history_list_s_end_before_its_start_is_a_400(api: Api) -> None:
    for path in ("/surge-events", "/triggers/milestones/events", "/triggers/milestones/events/export"):
        r = await api.get(path, params={"start": "2030-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"})
        assert (r.status_code, r.json()) == (400, {"error": "`start` must be before `end`"}), path
        # both before 1970: an empty range, not a mistake
        r = await api.get(path, params={"start": "1950-01-01T00:00:00Z", "end": "1960-01-01T00:00:00Z"})
        assert r.status_code == 200, (path, r.text)


async def test_today_ends_at_midnight_an_event_stamped_tomorrow_is_not_today_s(api: Api) -> None:
    now = api.rt.now_ms()
    tomorrow = now - now % 86_400_000 + 86_400_000
    if tomorrow - now > 23 * 3_600_000:
        tomorrow = now + 3_600_000  # just after midnight: an hour ahead is still today
        expected = 1
    else:
        expected = 0
    r = await api.post("/ingest", json={"lead_id": "ld_tmrw", "event_type": "t", "timestamp": to_rfc3339(tomorrow)})
    assert r.status_code == 202, r.text
    await wait_idle(api)
    assert (await api.get("/events", params={"range": "today"})).json()["total"] == expected
    assert (await api.get("/events", params={"range": "last_24h"})).json()["total"] == 1
