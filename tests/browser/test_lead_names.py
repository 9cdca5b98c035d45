"""Leads as a marketer names them: a lead known only by an email alias is called by that address on the list, on its
page and in what its page asks and says; two leads of one name are told apart in a picker; a search that may have
left leads out says so. The leads live in an OU of their own so the other tests' counts stay as they are."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Watched
from tests.browser.data import Seeded

OU = "Lead names"


@pytest.fixture
def names_ou(seeded: Seeded) -> dict[str, Any]:
    """The OU's headers and the id of its lead made from an email alias alone (made once for the session)."""
    unit, call = seeded.in_ou(OU)

    if not call("GET", "/rules"):
        call("POST", "/rules", json={"event_type": "page_view", "weight": 5})
        # A lead made by an event that names only an email address.
        call("POST", "/ingest", json={"event_type": "page_view",
                                      "aliases": [{"alias_kind": "email", "raw_value": "Jo.Chen@Acme.io"}]})
        # Two leads of one name at two companies, and a dozen whose names share a word.
        for lead_id, email, company in (("ld_sam_acme", "sam@acme.io", "Acme"),
                                        ("ld_sam_globex", "sam.lee@globex.io", "Globex")):
            call("POST", "/leads", json={"id": lead_id, "metadata": {"name": "Sam Lee", "company": company}})
            call("POST", "/ingest", json={"lead_id": lead_id, "event_type": "page_view",
                                          "aliases": [{"alias_kind": "email", "raw_value": email}]})
        for n in range(1, 13):
            call("POST", "/leads", json={"id": f"ld_pat_{n}", "metadata": {"name": f"Pat Example {n}"}})
        seeded.wait_scored()
    (hit,) = call("GET", "/leads/search", params={"q": "jo.chen@acme.io"})
    return {"headers": {**seeded.headers, "X-OU-ID": unit["unit_id"]}, "jo": hit["id"], "call": call}


def test_a_lead_known_only_by_an_email_alias_is_named_by_it(admin: Watched, names_ou: dict[str, Any]) -> None:
    jo = names_ou["jo"]
    admin.goto("/ui/")
    admin.use_ou(OU)
    page = admin.goto("/ui/leads")
    link = page.get_by_role("table", name="Leads").get_by_role("link", name=f"Jo.Chen@Acme.io {jo}")
    expect(link).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", name="Jo.Chen@Acme.io", exact=True)).to_be_visible()
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs).to_have_text(re.compile(rf"Leads\s*/\s*Jo\.Chen@Acme\.io\s*{jo}"))
    admin.shot("lead-named-by-alias")

    page.get_by_role("button", name="Merge leads…").click()
    dialog = page.get_by_role("dialog", name=f"Merge leads into Jo.Chen@Acme.io ({jo})")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.get_by_role("button", name="Delete lead").click()
    confirm = page.get_by_role("dialog", name="Delete lead")
    expect(confirm).to_contain_text(f"Delete Jo.Chen@Acme.io ({jo}) with all its events")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()

    # One event of the lead, selected: the button counts it in the singular.
    page.get_by_role("checkbox").first.check()
    expect(page.get_by_role("button", name="Delete 1 selected event", exact=True)).to_be_visible()


def test_a_picker_tells_two_leads_of_one_name_apart(admin: Watched, names_ou: dict[str, Any]) -> None:
    admin.goto("/ui/")
    admin.use_ou(OU)
    page = admin.goto("/ui/events")
    page.get_by_label("Lead", exact=True).fill("Sam Lee")
    page.get_by_label("Lead", exact=True).press("Enter")
    choices = page.get_by_role("group", name="Leads it could mean")
    expect(choices.get_by_role("button")).to_have_count(2)
    expect(choices.get_by_role("button", name=re.compile(r"Sam Lee ld_sam_acme\s+sam@acme\.io · Acme"))).to_be_visible()
    expect(choices.get_by_role("button", name=re.compile(r"Sam Lee ld_sam_globex\s+sam\.lee@globex\.io · Globex"))
           ).to_be_visible()
    admin.shot("lead-picker-same-name")


def test_a_search_that_may_have_left_leads_out_says_so(admin: Watched, names_ou: dict[str, Any]) -> None:
    admin.goto("/ui/")
    admin.use_ou(OU)
    page = admin.goto("/ui/leads")
    search = page.get_by_label("Search")
    search.fill("pat")
    expect(page.get_by_test_id("search-cap")).to_have_text("Showing the first 10 matches: type more to narrow.")
    expect(page.get_by_text("first 10 matches", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Leads").get_by_role("row")).to_have_count(11)  # the header and 10
    admin.shot("leads-search-capped")
    search.fill("pat example 1")  # 1, 10, 11 and 12
    expect(page.get_by_text("4 matches", exact=True)).to_be_visible()
    expect(page.get_by_test_id("search-cap")).to_have_count(0)
