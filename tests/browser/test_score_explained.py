"""A past event reads with what applied to it, as stored when it was scored: the score ledger of a lead and the
Events screen's explanation, after a rule, a filter and a decay rule changed without a rescore (scores already given
stay until one), for an event stored only (processing scope observe) and one that arrived out of time order and was
floored at 0. A server of its own runs a decay pass every second."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded, iso
from tests.e2e.server import ServerProcess

LEAD = "ld_story"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Rules, a filter and a decay rule; a lead scored with them, then each of them changed (no rescore)."""
    base = tmp_path_factory.mktemp("explained")
    server = ServerProcess(base / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL", "LEADVIBE_WORKER_IDLE_POLL": "0.01",
                                               "LEADVIBE_LOGIN_DELAY_MS": "20", "LEADVIBE_DECAY_INTERVAL": "1"}).start()
    try:
        s = Seeded(server)
        rules = {t: s.call("POST", "/rules", json={"event_type": t, "weight": w})["rule_id"] for t, w in (
            ("page_view", 4), ("complaint", -10), ("demo_request", 50), ("webinar", 20), ("signup", 6),
            ("email_open", 2))}
        flt = s.call("POST", "/filters",
                     json={"event_type": "page_view", "count_threshold": 3, "time_window_ms": 60_000})
        s.call("PUT", "/settings/event-types/email_open", json={"max_processing_scope": "observe"})
        start = datetime.now(UTC) - timedelta(hours=5)
        at = lambda seconds: iso(start + timedelta(seconds=seconds))  # noqa: E731
        # The complaint arrives first, at score 0 (floored: −10 takes nothing); the events timestamped before it
        # arrive after it. The fourth page view within 60 s is caught by the filter; email_open is stored only.
        s.ingest([{"lead_id": LEAD, "event_type": "complaint", "timestamp": at(300)}])
        s.ingest([{"lead_id": LEAD, "event_type": t, "timestamp": at(sec)} for t, sec in (
            ("demo_request", 0), ("page_view", 1), ("page_view", 2), ("page_view", 3), ("page_view", 4),
            ("webinar", 10), ("signup", 20), ("email_open", 30))])
        # A burst of page views seconds apart, just now (nothing to decay): its chart's time axis reads in seconds.
        burst = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
        s.ingest([{"lead_id": "ld_seconds", "event_type": "demo_request",
                   "timestamp": iso(burst + timedelta(seconds=k * 7))} for k in range(5)])
        decay = s.call("POST", "/decays", json={"inactive_for": 1, "unit": "hours", "decrease": 3})
        deadline = time.monotonic() + 20
        while not s.call("GET", "/events", params={"event_type": "DECAY", "lead_id": LEAD})["total"]:
            assert time.monotonic() < deadline, "the decay pass (every second) did not decay the quiet lead"
            time.sleep(0.1)
        s.wait_scored()
        # Then each changes, without a rescore: the stored scores stay as they were given.
        s.call("PUT", f"/rules/{rules['page_view']}", json={"weight": 9})
        s.call("PUT", f"/filters/{flt['filter_id']}", json={"count_threshold": 10})
        s.call("PUT", f"/decays/{decay['decay_id']}", json={"decrease": 7})
        s.call("DELETE", f"/rules/{rules['webinar']}")
        s.call("PUT", f"/rules/{rules['signup']}", json={"event_type": "trial_start"})
        yield s
    finally:
        server.kill()


@pytest.fixture
def viewer(context: BrowserContext, story: Seeded) -> Iterator[Watched]:
    """Signed in on the story's server; no console errors, nothing off-origin."""
    w = Watched(context.new_page(), story.server.base)
    sign_in(w.page, story.server.base)
    yield w
    assert w.errors == [], w.errors
    assert w.foreign == [], w.foreign


def activity(story: Seeded) -> list[dict[str, Any]]:
    """The lead's events as stored, newest first."""
    return list(story.call("GET", f"/leads/{LEAD}/activity", params={"range": "all", "limit": 1000})["events"])


def row(ledger: Locator, event: dict[str, Any], page: Page) -> Locator:
    """The ledger's row of one event (its check box names its type and time, as the page writes them)."""
    when = page.evaluate("""iso => new Intl.DateTimeFormat('en-GB', {year: 'numeric', month: 'short', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit'}).format(new Date(iso))""", event["timestamp"])
    return ledger.locator("tbody tr").filter(has=page.get_by_label(f"Select {event['event_type']} event of {when}"))


def test_the_ledger_says_what_applied_to_past_events_not_todays_settings(viewer: Watched, story: Seeded) -> None:
    events = activity(story)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["event_type"], []).append(e)
    page = viewer.goto(f"/ui/leads/{LEAD}")
    ledger = page.get_by_role("table", name="Score ledger")
    score = story.score(LEAD)
    expect(ledger.get_by_test_id("ledger-score")).to_have_text(f"{score:,}")

    # A page view scored with weight 4 (×1.25 in its session) reads +4, the rule's 9 of today only as "now".
    first_view = by_type["page_view"][-1]
    assert (first_view["weight"], first_view["applied_multiplier"], first_view["score_delta"]) == (4, 1.25, 5)
    view = row(ledger, first_view, page)
    expect(view.locator(".rule")).to_have_text("page_view (+4)")
    expect(view).to_contain_text("the rule's settings now: page_view (+9)")
    expect(view.locator("td.mult")).to_have_text("×1.25")
    expect(ledger.locator(".rule").filter(has_text="(+9)")).to_have_count(0)

    # The page view the filter caught (threshold 3 then, 10 now): the filter by what it caught, its numbers as now;
    # the multiplier it was scored with (×1, not its session's)
    caught = next(e for e in by_type["page_view"] if e["inorganic"])
    assert caught["multiplier"] > 1 and caught["applied_multiplier"] == 1 and caught["score_delta"] == 0
    caught_row = row(ledger, caught, page)
    expect(caught_row).to_contain_text("scored 0: marked inorganic by the filter on page_view")
    expect(caught_row).to_contain_text("the filter's settings now: more than 10 in 60 s")
    expect(caught_row.locator("td.mult")).to_have_text("×1")

    # A deleted rule in words, never its id; a renamed rule by the type it matched, its new type as "now".
    webinar = row(ledger, by_type["webinar"][0], page)
    expect(webinar.locator(".rule")).to_have_text("webinar (+20)")
    expect(webinar).to_contain_text("by a rule since deleted")
    expect(ledger).not_to_contain_text("rl_")
    signup = row(ledger, by_type["signup"][0], page)
    expect(signup.locator(".rule")).to_have_text("signup (+6)")
    expect(signup).to_contain_text("the rule's settings now: trial_start (+6)")

    # The DECAY took 3 (its own metadata's decrease); its rule takes 7 now.
    decay = by_type["DECAY"][0]
    assert decay["score_delta"] == -3
    decay_row = row(ledger, decay, page)
    expect(decay_row.locator(".rule")).to_have_text("decay (\u22123)")
    expect(decay_row).to_contain_text("the decay rule's settings now: 1 hour without activity: \u22127")
    expect(decay_row.locator("td.delta")).to_have_text("-3")

    # Stored only (processing scope observe), though email_open has a rule: not "no rule", no score, no multiplier.
    observed = row(ledger, by_type["email_open"][0], page)
    expect(observed).to_contain_text("Stored only, not scored (processing: store only)")
    expect(observed).not_to_contain_text("no rule")
    expect(observed.locator("td.mult")).to_have_text("—")
    expect(observed.locator("td.total")).to_have_text("—")

    # The complaint arrived first, at 0, and was floored: it shows the score it met and why it took nothing, not a
    # running total summed in time order (which put it at 104 → 104).
    complaint = by_type["complaint"][0]
    assert (complaint["score"], complaint["score_delta"]) == (0, 0)
    complaint_row = row(ledger, complaint, page)
    expect(complaint_row.locator(".rule")).to_have_text("complaint (-10)")
    expect(complaint_row).to_contain_text("-10 limited to 0 by the score floor at 0 (negative scores are off)")
    expect(complaint_row.locator("td.total")).to_have_text("0 → 0")
    expect(complaint_row.locator("td.mult")).to_have_text("×1")
    expect(decay_row.locator("td.total")).to_have_text(f"{decay['score'] + 3:,} → {decay['score']:,}")
    expect(page.get_by_test_id("ledger-order")).to_contain_text("Events are scored in the order they arrive")
    # every row's score is the one stored (the score the event left, in arrival order)
    for e in events:
        if e["score"] is not None:
            expect(row(ledger, e, page).locator("td.total strong")).to_have_text(f"{e['score']:,}")
    viewer.shot("ledger-what-applied", full_page=True)


def explain(page: Page, query: str, which: str = "first") -> Locator:
    """The Events screen filtered by `query`, and the explanation of its first (or last) event."""
    table = page.get_by_role("table", name="Events")
    expect(table.locator("tbody tr").first).to_be_visible()
    rows = table.locator("tbody tr")
    (rows.first if which == "first" else rows.last).get_by_role("button", name="Explain score").click()
    dialog = page.get_by_role("dialog", name="Score explanation")
    expect(dialog.get_by_text("Loading…")).to_have_count(0)
    return dialog


def test_an_explanation_says_what_applied_to_a_past_event(viewer: Watched, story: Seeded) -> None:
    page = viewer.goto(f"/ui/events?lead_id={LEAD}&event_type=page_view")
    dialog = explain(page, "page_view", "last")  # the first page view: +4 then, 9 now
    rules = dialog.get_by_role("table", name="Score by ruleset")
    expect(rules.locator(".rule")).to_have_text("page_view (+4)")
    expect(rules).to_contain_text("the rule's settings now: page_view (+9)")
    expect(rules.locator("td.mult")).to_have_text("×1.25")
    viewer.shot("events-explain-changed-rule")
    page.keyboard.press("Escape")

    page.get_by_role("table", name="Events").locator("tbody tr").filter(has_text="inorganic").get_by_role(
        "button", name="Explain score").click()
    expect(dialog.locator(".notice")).to_have_text(
        "Marked inorganic by the filter on page_view: stored, scored 0, no triggers. "
        "The filter's settings now: more than 10 in 60 s.")
    expect(dialog).not_to_contain_text("(more than 10 in 60 s)")
    page.keyboard.press("Escape")

    page = viewer.goto(f"/ui/events?lead_id={LEAD}&event_type=DECAY")
    dialog = explain(page, "DECAY")
    rules = dialog.get_by_role("table", name="Score by ruleset")
    expect(rules.locator(".rule")).to_have_text("decay (\u22123)")
    expect(rules).to_contain_text("the decay rule's settings now: 1 hour without activity: \u22127")
    expect(rules.locator("td.delta")).to_have_text("-3")
    page.keyboard.press("Escape")

    page = viewer.goto(f"/ui/events?lead_id={LEAD}&event_type=email_open")
    dialog = explain(page, "email_open")
    expect(dialog).to_contain_text("processing: store only")
    expect(dialog).to_contain_text(re.compile("Stored only, not scored"))


def test_a_chart_of_events_seconds_apart(viewer: Watched, story: Seeded) -> None:
    page = viewer.goto("/ui/leads/ld_seconds")
    expect(page.get_by_role("img", name="Score over time")).to_be_visible()
    expect(page.get_by_role("table", name="Score ledger").get_by_test_id("ledger-score")).to_have_text(
        f"{story.score('ld_seconds'):,}")
    viewer.shot("lead-chart-seconds")  # the axis reads 12:00:10, 12:00:20, … (format.test.js), never one time twice
