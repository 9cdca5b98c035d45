"""An events export imported again into another OU gives back the same leads, types and scores: the export can
run oldest first (the order the import scores rows in), and the import takes off the `'` the export put before
cells a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io

from leadvibe.timeutil import to_rfc3339
from tests.conftest import Api
from tests.helpers import other_unit, wait_idle


async def _rules(api: Api, headers: dict[str, str]) -> None:
    for event_type, weight in (("page_view", 3), ("-x", 7), ("demo", 20)):
        r = await api.client.post("/rules", json={"event_type": event_type, "weight": weight}, headers=headers)
        assert r.status_code == 201, r.text


async def _scores(api: Api, headers: dict[str, str]) -> dict[str, int]:
    page = (await api.client.get("/leads", params={"limit": 500}, headers=headers)).json()
    return {lead["id"]: lead["score"] for lead in page["leads"]}


async def test_an_export_imported_elsewhere_scores_the_same(api: Api) -> None:
    await _rules(api, api.headers)
    start = api.rt.now_ms() - 3_600_000
    leads = ["ld_plain", "=1+1", "-neg", "@at", "'=quoted", "\uff1dfw"]
    # Bursts a minute apart, sent out of time order: the surge multipliers depend on the order the events are scored
    # in, which is the order they came in.
    batch = [{"lead_id": leads[i % len(leads)], "event_type": ("page_view", "-x", "demo")[i % 3],
              "timestamp": to_rfc3339(start + i * 60_000)} for i in sorted(range(60), key=lambda i: i * 7 % 60)]
    assert (await api.post("/ingest/batch", json={"events": batch})).status_code == 202
    await wait_idle(api)
    before = await _scores(api, api.headers)
    assert set(before) == set(leads)

    exported = (await api.get("/events/export", params={"order": "arrival"})).text
    rows = list(csv.reader(io.StringIO(exported)))
    assert [r[3] for r in rows[1:]] == [e["timestamp"] for e in batch]  # as they came
    assert {r[1] for r in rows[1:]} >= {"'=1+1", "'-neg", "''=quoted", "'\uff1dfw", "ld_plain"}  # neutralised

    elsewhere = await other_unit(api)
    await _rules(api, elsewhere)
    r = await api.client.post("/import", files={"file": ("events.csv", exported.encode(), "text/csv")},
                              headers=elsewhere)
    assert r.status_code == 202 and r.json()["imported"] == 60, r.text
    await wait_idle(api)
    assert await _scores(api, elsewhere) == before
    oldest_first = (await api.get("/events/export", params={"order": "oldest"})).text.splitlines()
    assert oldest_first[1:] == sorted(exported.splitlines()[1:], key=lambda line: next(csv.reader([line]))[3])
    newest_first = (await api.get("/events/export")).text.splitlines()
    assert newest_first[1:] == oldest_first[:0:-1]  # the default, as /events lists them


async def test_late_events_exported_in_arrival_order_score_the_same_elsewhere(api: Api) -> None:
    # A demo, then three page views stamped before it: in time order the demo would be the session's fourth event
    # and get its surge multiplier; the import scores in file order, so only arrival order gives the same scores.
    await _rules(api, api.headers)
    t = api.rt.now_ms() - 3_600_000
    for offset, event_type in ((10, "demo"), (0, "page_view"), (1, "page_view"), (2, "page_view")):
        r = await api.post("/ingest", json={"lead_id": "ld_late", "event_type": event_type,
                                            "timestamp": to_rfc3339(t + offset * 60_000)})
        assert r.status_code == 202, r.text
        await wait_idle(api)
    before = await _scores(api, api.headers)
    for order, scored_alike in (("arrival", True), ("oldest", False)):
        exported = (await api.get("/events/export", params={"order": order, "lead_id": "ld_late"})).content
        elsewhere = await other_unit(api, f"Elsewhere by {order}")
        await _rules(api, elsewhere)
        r = await api.client.post("/import", files={"file": ("events.csv", exported, "text/csv")},
                                  headers=elsewhere)
        assert r.status_code == 202 and r.json()["imported"] == 4, r.text
        await wait_idle(api)
        assert (await _scores(api, elsewhere) == before) is scored_alike, order
