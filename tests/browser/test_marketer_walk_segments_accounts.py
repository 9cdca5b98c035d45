"""The screens a marketer opens every morning (Overview, Live, Segments, Accounts), against an OU of their own with
the sample data (about 200 people at six companies, a segment and two triggers) and the session's realistic OU: the
figures agree with the API, empty states say what to do, and nothing needs a wider screen than a phone's."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded
from tests.browser.test_phone import PHONE, sideways

OU = "Morning walk"


class Unit:
    """An OU with the sample data, and admin API calls in it."""

    def __init__(self, seeded: Seeded, unit_id: str) -> None:
        self.seeded = seeded
        self.headers = {**seeded.headers, "X-OU-ID": unit_id}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.seeded.server.request(method, path, headers=self.headers, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


@pytest.fixture(scope="module")
def sample(seeded: Seeded) -> Iterator[Unit]:
    """The sample data in an OU of its own, every sample lead scored."""
    unit = Unit(seeded, seeded.call("POST", "/org-units", json={"name": OU})["unit_id"])
    unit.call("POST", "/admin/seed")
    deadline = time.monotonic() + 60
    while unit.call("GET", "/leads", params={"limit": 1})["total"] < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    seeded.wait_scored(60)
    yield unit


def in_sample(admin: Watched, path: str) -> Page:
    """`path` in the sample OU."""
    admin.goto("/ui/")
    admin.use_ou(OU)
    return admin.goto(path)


def test_the_segment_list_says_how_many_leads_each_segment_holds(admin: Watched, sample: Unit) -> None:
    off = sample.call("POST", "/segments", json={
        "name": "Parked idea", "rules": [{"rule_type": "lead_metadata", "field_name": "industry",
                                          "operator": "equals", "value": "retail", "active": False}]})
    counted: list[str] = []
    admin.page.on("request", lambda r: counted.append(r.url) if r.url.endswith("/count") else None)
    try:
        page = in_sample(admin, "/ui/segments")
        table = page.get_by_role("table", name="Segments")
        for segment in sample.call("GET", "/segments"):
            row = table.get_by_role("row").filter(has_text=segment["name"])
            if segment["segment_id"] == off["segment_id"]:
                # every condition off: it matches nobody, said without asking the server (which would refuse: 422)
                expect(row.get_by_test_id("segment-size")).to_have_text("nobody")
                continue
            count = sample.call("GET", f"/segments/{segment['segment_id']}/count")["count"]
            assert count > 0
            expect(row.get_by_test_id("segment-size")).to_have_text(str(count))
        assert not any(off["segment_id"] in url for url in counted), counted
        admin.shot("walk-segments")
        enterprise = next(s for s in sample.call("GET", "/segments") if s["name"] == "Enterprise evaluators")
        count = sample.call("GET", f"/segments/{enterprise['segment_id']}/count")["count"]
        # the link's name starts with the number it shows
        table.get_by_role("link", name=f"{count} leads in Enterprise evaluators", exact=True).click()
        expect(page).to_have_url(re.compile(f"/ui/leads\\?segment={enterprise['segment_id']}"))
        expect(page.get_by_text(f"{count} leads", exact=True)).to_be_visible()
    finally:
        sample.call("DELETE", f"/segments/{off['segment_id']}")


def test_segments_and_their_members_read_as_cards_on_a_phone(watched: Watched, seeded: Seeded, sample: Unit) -> None:
    page = watched.page
    page.set_viewport_size(PHONE)
    sign_in(page, seeded.server.base)
    watched.use_ou(OU)
    enterprise = next(s for s in sample.call("GET", "/segments") if s["name"] == "Enterprise evaluators")
    count = sample.call("GET", f"/segments/{enterprise['segment_id']}/count")["count"]
    # the list: one card per segment with its size, nothing to scroll sideways for
    page = watched.goto("/ui/segments")
    size = page.get_by_role("table", name="Segments").get_by_test_id("segment-size").first
    expect(size).to_have_text(str(count))
    expect(size).to_be_in_viewport()
    assert sideways(page) == []
    page = watched.goto(f"/ui/segments/{enterprise['segment_id']}")
    members = page.get_by_role("table", name="Leads in the segment")
    leads = sample.call("GET", f"/segments/{enterprise['segment_id']}/leads")
    expect(members.locator("tbody tr")).to_have_count(len(leads))
    # every member's fit and last activity on the screen, not behind a sideways scroll
    first = members.locator("tbody tr").first
    expect(first.get_by_text(leads[0]["profile_level"])).to_be_in_viewport()
    box = first.locator("td.last").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
    assert sideways(page) == []
    watched.shot("walk-segment-phone", full_page=True)


def test_an_accounts_page_says_when_it_lists_only_its_top_leads(admin: Watched, sample: Unit) -> None:
    accounts = sample.call("GET", "/accounts")["accounts"]
    big = next(a for a in accounts if a["leads_count"] > 25)  # the sample data's larger companies
    small = next(a for a in accounts if a["leads_count"] <= 25)
    page = in_sample(admin, f"/ui/accounts/{big['account_id']}")
    leads = page.get_by_role("table", name="Leads of the account")
    expect(leads.locator("tbody tr")).to_have_count(25)
    total = sample.call("GET", "/leads", params={"account_id": big["account_id"], "limit": 1})["total"]
    assert total == big["leads_count"]
    expect(page.get_by_test_id("account-leads-shown")).to_have_text(
        f"the 25 highest scores of {total}: Open in Leads for all")
    top = sample.call("GET", "/leads", params={"account_id": big["account_id"], "limit": 1})["leads"][0]
    expect(leads.locator("tbody tr").first).to_contain_text(str(top["score"]))
    admin.shot("walk-account-top-leads")
    page = admin.goto(f"/ui/accounts/{small['account_id']}")
    expect(page.get_by_test_id("account-leads-shown")).to_have_text(
        f"{small['leads_count']} in all, highest score first")
    expect(page.get_by_role("table", name="Leads of the account").locator("tbody tr")).to_have_count(
        small["leads_count"])


def test_the_overview_says_what_a_surge_is_when_there_was_none(admin: Watched, sample: Unit) -> None:
    assert sample.call("GET", "/surge-triggers") == []
    page = in_sample(admin, "/ui/")
    card = page.get_by_role("region", name="Surges, last 24 hours")
    empty = card.get_by_test_id("no-surges")
    expect(empty).to_contain_text("No surge triggers yet")
    expect(card.get_by_role("img", name="Surges per hour over the last 24 hours")).to_have_count(0)
    expect(empty.get_by_role("link", name="Create a surge trigger")).to_have_attribute("href", "/ui/triggers/surge")
    # "today" is the server's UTC day, as the Events filter: said beside the figure, which matches the API's
    today = sample.call("GET", "/events", params={"range": "today", "limit": 1})["total"]
    decay = sample.call("GET", "/events", params={"range": "today", "limit": 1, "event_type": "DECAY"})["total"]
    figures = page.get_by_role("region", name="Key figures")
    expect(figures).to_contain_text(re.compile(rf"Events today\s*{today - decay}\s*since 00:00 UTC;"))
    admin.shot("walk-overview-no-surge-triggers")

    trigger = sample.call("POST", "/surge-triggers", json={
        "threshold_count": 50, "window_seconds": 1, "window_unit": "minutes", "emails": ["ops@example.com"]})
    try:
        page.reload()
        expect(empty).to_contain_text("No lead surged in the last 24 hours")
        expect(empty.get_by_role("link", name="surge trigger")).to_be_visible()
    finally:
        sample.call("DELETE", f"/surge-triggers/{trigger['trigger_id']}")


def test_live_says_when_its_boxes_hide_every_message(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/live")
    expect(page.get_by_text("connected")).to_be_visible()
    expect(page.locator("main").get_by_role("link", name="Events", exact=True)).to_have_attribute("href", "/ui/events")
    seeded.ingest([{"lead_id": "ld_zoe", "event_type": "page_view"}])
    feed = page.get_by_role("list", name="Live messages")
    expect(feed.get_by_text("Zoe Dubois").first).to_be_visible()
    filters = page.get_by_role("group", name="Show message types")
    for kind in ("Events", "Score changes", "Surges", "Triggers fired"):
        filters.get_by_label(kind).uncheck()
    hidden = page.get_by_test_id("live-hidden")
    expect(hidden).to_contain_text(re.compile(r"^\d+ messages? hidden"))
    expect(page.get_by_text("Waiting for events")).to_have_count(0)
    filters.get_by_label("Events").check()
    expect(feed.get_by_text("Zoe Dubois").first).to_be_visible()
