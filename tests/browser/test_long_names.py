"""Long names keep to their cards: a lead called by an email address of a hundred characters (as its id, or as its only
alias) stops at two lines with an ellipsis in every list, its whole name in the tooltip, the numbers beside it stay
in view, and no page grows wider than the window, on a laptop and on a phone. The leads live in an OU of their own
so the other tests' counts stay as they are."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded
from tests.browser.test_phone import DESKTOP, PHONE, sideways, sticking_out

OU = "Long names"
# 110 characters: the lead's id (sent as `lead_id`) and so its name.
LONG_ID = ("a.very.long.name.with.many.parts.for.testing.overflow"
           "@some-really-long-subdomain.example-corporation-holdings.com")
# A lead made from this email alias alone: named by it, with a short id of the server's.
LONG_EMAIL = ("another.extremely.long.email.address.used.for.overflow.checks"
              "@marketing-department.example-corporation-holdings.com")
TRIGGER = "A milestone with a long name, to see the fired list and the deliveries keep it in its column"
SEGMENT = "Leads whose email addresses are far longer than any column of a table was ever meant to hold"


@pytest.fixture
def long_ou(seeded: Seeded) -> dict[str, Any]:
    """The OU's two long-named leads (made once for the session), with a segment and a fired milestone."""
    _, call = seeded.in_ou(OU)

    if not call("GET", "/rules"):
        call("POST", "/rules", json={"event_type": "demo_request", "weight": 40})
        call("POST", "/rules", json={"event_type": "page_view", "weight": 1})
        call("POST", "/levels/engagement", json={"name": "Hot", "min_score": 0, "max_score": 1_000_000_000})
        call("POST", "/triggers/milestones", json={"name": TRIGGER, "score_threshold": 60, "event_type": "",
                                                   "emails": ["sales@example.com"]})
        call("POST", "/segments", json={"name": SEGMENT, "rules": [
            {"rule_type": "lead_metadata", "field_name": "tag", "operator": "equals", "value": "long"}]})
        call("POST", "/leads", json={"id": "ld_short", "metadata": {"name": "Ann Short", "tag": "long"}})
        for _ in range(2):
            call("POST", "/ingest", json={"lead_id": LONG_ID, "event_type": "demo_request"})
            call("POST", "/ingest", json={"event_type": "demo_request",
                                          "aliases": [{"alias_kind": "email", "raw_value": LONG_EMAIL}]})
        call("POST", "/ingest", json={"lead_id": "ld_short", "event_type": "page_view"})
        seeded.wait_scored()
        for lead in (quote(LONG_ID, safe=""), call("GET", "/leads/search", params={"q": LONG_EMAIL})[0]["id"]):
            call("PATCH", f"/leads/{lead}/metadata", json={"tag": "long"})
    (hit,) = call("GET", "/leads/search", params={"q": LONG_EMAIL})
    return {"call": call, "email_lead": hit["id"]}


def fits(page: Page, where: str) -> None:
    """Nothing scrolls sideways and nothing passes its card, the page included."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), where
    assert sideways(page) == [], where
    assert sticking_out(page) == [], where


def inside(cell: Locator, card: Locator) -> None:
    """`cell` is on the screen's width, within `card`'s edges."""
    box, edge = cell.bounding_box(), card.bounding_box()
    assert box and edge and box["width"] > 0
    assert edge["x"] <= box["x"] and box["x"] + box["width"] <= edge["x"] + edge["width"] + 1, (box, edge)


def named_in_full(link: Locator, name: str) -> None:
    """The link's name stops at two lines or fewer, and its tooltip holds the whole name."""
    text = link.get_by_title(name, exact=True).first
    expect(text).to_be_visible()
    lines = text.evaluate(
        "el => Math.round(el.getBoundingClientRect().height / parseFloat(getComputedStyle(el).lineHeight))")
    assert lines <= 2, lines


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["laptop", "phone"])
def test_long_lead_names_stay_inside_their_cards(watched: Watched, seeded: Seeded, long_ou: dict[str, Any],
                                                 size: dict[str, int]) -> None:
    page = watched.page
    page.set_viewport_size(size)
    sign_in(page, seeded.server.base)
    watched.use_ou(OU)
    tag = "phone" if size is PHONE else "laptop"

    watched.goto("/ui/")
    gains = page.get_by_role("region", name="Biggest score gains (24 h)")
    row = gains.get_by_role("row").filter(has_text=LONG_ID[:20])
    expect(row).to_be_visible()
    watched.settle()
    fits(page, "overview")
    named_in_full(row.get_by_role("link"), LONG_ID)
    inside(row.get_by_role("cell").nth(1), gains)  # the gain
    top = page.get_by_role("region", name="Top leads")
    inside(top.get_by_role("row").filter(has_text=LONG_EMAIL[:20]).get_by_role("cell").nth(2), top)  # the score
    watched.shot(f"long-names-overview-{tag}", full_page=True)

    watched.goto("/ui/leads")
    expect(page.get_by_role("table", name="Leads").get_by_title(LONG_EMAIL, exact=True)).to_be_visible()
    watched.settle()
    fits(page, "leads")

    # a lead's page: the heading says the whole name, wrapped; the breadcrumb cuts it
    for lead, name in ((quote(LONG_ID, safe=""), LONG_ID), (long_ou["email_lead"], LONG_EMAIL)):
        watched.goto(f"/ui/leads/{lead}")
        expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
        watched.settle()
        crumbs = page.get_by_role("navigation", name="Breadcrumb")
        assert crumbs.evaluate("el => el.getBoundingClientRect().height") < 30
        fits(page, f"lead {name}")
    watched.shot(f"long-names-lead-{tag}")

    watched.goto("/ui/live")
    expect(page.get_by_text("connected")).to_be_visible()
    long_ou["call"]("POST", "/ingest", json={"lead_id": LONG_ID, "event_type": "page_view"})
    feed = page.get_by_role("list", name="Live messages")
    expect(feed.get_by_title(LONG_ID, exact=True).first).to_be_visible()
    fits(page, "live")

    for path, name in (("/ui/segments", SEGMENT), ("/ui/triggers/fired", TRIGGER), ("/ui/triggers/deliveries", TRIGGER),
                       ("/ui/triggers", TRIGGER)):
        watched.goto(path)
        expect(page.get_by_role("main").get_by_text(name).first).to_be_visible()
        watched.settle()
        fits(page, path)
    watched.goto("/ui/triggers/fired")
    expect(page.get_by_role("table", name="Fired triggers").get_by_title(LONG_EMAIL, exact=True)).to_be_visible()
    watched.shot(f"long-names-fired-{tag}")

    watched.goto("/ui/segments")
    page.get_by_role("link", name=SEGMENT, exact=True).click()
    expect(page.get_by_title(LONG_ID, exact=True)).to_be_visible()
    watched.settle()
    fits(page, "segment")

    watched.goto("/ui/accounts")
    page.get_by_role("link", name=re.compile("example-corporation-holdings")).first.click()
    expect(page.get_by_title(LONG_EMAIL, exact=True).first).to_be_visible()
    watched.settle()
    fits(page, "account")


def test_a_lone_delivery_is_counted_in_the_singular(admin: Watched, long_ou: dict[str, Any]) -> None:
    # The milestone fired once for the long id: its deliveries list says "1 delivery", not "1 deliverie".
    admin.goto("/ui/")
    admin.use_ou(OU)
    page = admin.goto(f"/ui/triggers/deliveries?lead_id={quote(LONG_ID, safe='')}")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("1\u20131 of 1 delivery ", timeout=20_000)
