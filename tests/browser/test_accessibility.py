"""What a keyboard and a screen reader meet: each screen's tab title, where focus goes after a route change or a
deletion, the sorted column said with its header, a count link named by the number it shows, the first field of a
form dialog. (Contrast and underlines are in app.css; an axe-core review checks them.)"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded

TITLES = [("/ui/", "Overview"), ("/ui/leads", "Leads"), ("/ui/leads/ld_li", "Li Wei · Lead"), ("/ui/live", "Live"),
          ("/ui/events", "Events"), ("/ui/scoring/levels", "Scoring"), ("/ui/triggers", "Triggers"),
          ("/ui/settings", "Settings"), ("/ui/segments", "Segments"), ("/ui/accounts", "Accounts"),
          ("/ui/no-such-page", "Page not found")]


def focused_heading(page: Page) -> str:
    """The text of the focused element when it is a heading, else its tag name."""
    return page.evaluate("() => { const el = document.activeElement;"
                         " return /^H[1-6]$/.test(el.tagName) ? el.textContent.trim() : el.tagName; }")


def test_each_screen_has_a_title_of_its_own(admin: Watched) -> None:
    page = admin.page
    for path, title in TITLES:
        admin.goto(path)
        expect(page).to_have_title(f"{title} · LeadVibe")
    # a route change inside the app (a menu link) changes it too, not only a page load
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    expect(page).to_have_title("Leads · LeadVibe")


def test_the_sign_in_page_has_its_title_and_signing_in_focuses_the_screen_heading(watched: Watched,
                                                                                  seeded: Seeded) -> None:
    page = watched.page
    watched.goto("/ui/leads")
    expect(page).to_have_title("Sign in · LeadVibe")
    sign_in(page, seeded.server.base)
    expect(page).to_have_title("Overview · LeadVibe")
    expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_focused()


def test_following_a_lead_link_with_the_keyboard_focuses_the_lead_heading(admin: Watched) -> None:
    page = admin.goto("/ui/leads")
    link = page.get_by_role("table", name="Leads").get_by_role("link", name=re.compile("Li Wei"))
    link.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("/ui/leads/ld_li$"))
    # the lead's name is its heading only once loaded: focus waits for it instead of falling to <body>
    expect(page.get_by_role("heading", name="Li Wei", exact=True)).to_be_focused()
    # the tab's title names the lead as its heading does (tabs and the history menu tell leads apart)
    expect(page).to_have_title("Li Wei · Lead · LeadVibe")
    # from one lead to another (as Back and Forward between two leads): every title on the way is the generic one
    # or the new lead's, never the lead left
    page.evaluate("""() => { window.__titles = [];
      new MutationObserver(() => window.__titles.push(document.title))
        .observe(document.head, { subtree: true, childList: true, characterData: true }); }""")
    page.evaluate("""() => { history.pushState(null, '', '/ui/leads/ld_jane');
      dispatchEvent(new PopStateEvent('popstate')); }""")
    expect(page.get_by_role("heading", name="Jane Doe", exact=True)).to_be_visible()
    expect(page).to_have_title("Jane Doe · Lead · LeadVibe")
    assert set(page.evaluate("() => window.__titles")) <= {"Lead · LeadVibe", "Jane Doe · Lead · LeadVibe"}
    page.go_back()
    expect(page).to_have_title("Li Wei · Lead · LeadVibe")
    # Back: the list's heading, and the list's title
    page.go_back()
    expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_focused()
    assert page.title() == "Leads · LeadVibe"
    # a lead that is not there keeps the generic title
    admin.expected_failures.append("/leads/ld_nobody")
    page = admin.goto("/ui/leads/ld_nobody")
    expect(page.get_by_role("alert").get_by_text("Could not load this")).to_be_visible()
    assert page.title() == "Lead · LeadVibe"


def test_deleting_a_row_in_a_dialog_leaves_focus_on_its_list(admin: Watched, seeded: Seeded) -> None:
    level = seeded.call("POST", "/levels/engagement", json={"name": "Focus check", "min_score": 90000,
                                                            "max_score": 99999})
    try:
        page = admin.goto("/ui/scoring/levels")
        levels = page.get_by_role("region", name="Engagement levels")
        levels.get_by_role("row").filter(has_text="Focus check").get_by_role("button", name="Delete").click()
        page.get_by_role("dialog", name="Delete level").get_by_role("button", name="Delete").click()
        expect(levels.get_by_role("row").filter(has_text="Focus check")).to_have_count(0)
        expect(levels.get_by_role("heading", name="Engagement levels")).to_be_focused()
    finally:
        if any(x["stage_id"] == level["stage_id"] for x in seeded.call("GET", "/levels/engagement")):
            seeded.call("DELETE", f"/levels/engagement/{level['stage_id']}")


def test_the_leads_table_says_which_column_it_is_sorted_by(admin: Watched) -> None:
    page = admin.goto("/ui/leads")
    table = page.get_by_role("table", name="Leads")
    score = table.get_by_role("columnheader", name="Score")
    expect(score).to_have_attribute("aria-sort", "descending")
    # the button is named by its visible word; the arrow is a picture of aria-sort
    score.get_by_role("button", name="Score", exact=True).click()
    expect(score).to_have_attribute("aria-sort", "ascending")
    table.get_by_role("button", name="Last activity", exact=True).click()
    expect(table.get_by_role("columnheader", name="Last activity")).to_have_attribute("aria-sort", "descending")
    expect(score).not_to_have_attribute("aria-sort", re.compile("."))
    # the count beside the heading is a status region: a filter's new count is read out
    expect(page.get_by_role("status").filter(has_text=re.compile(r"^\d+ leads?$"))).to_have_count(1)


def test_the_live_feed_is_a_log(admin: Watched) -> None:
    page = admin.goto("/ui/live")
    expect(page.get_by_role("log", name="Live feed")).to_have_attribute("aria-live", "polite")


def test_a_segment_count_link_is_named_by_the_number_it_shows(admin: Watched, seeded: Seeded) -> None:
    segment = seeded.call("POST", "/segments", json={"name": "Focus folk", "rules": [
        {"rule_type": "lead_metadata", "field_name": "name", "operator": "equals", "value": "Li Wei"}]})
    try:
        page = admin.goto("/ui/segments")
        row = page.get_by_role("table", name="Segments").get_by_role("row").filter(has_text="Focus folk")
        expect(row.get_by_role("link", name="1 lead in Focus folk", exact=True)).to_have_text("1")
        # one segment's tab title names it as its heading does; its account's too, from a member lead
        row.get_by_role("link", name=re.compile("^Focus folk")).click()
        expect(page.get_by_role("heading", name="Focus folk", exact=True)).to_be_visible()
        expect(page).to_have_title("Focus folk · Segment · LeadVibe")
        page.get_by_role("table", name="Leads in the segment").get_by_role("link", name=re.compile("Li Wei")).click()
        expect(page).to_have_title("Li Wei · Lead · LeadVibe")
        page.get_by_role("region", name="Account", exact=True).get_by_role("link", name="Initech", exact=True).click()
        expect(page.get_by_role("heading", name="Initech", exact=True)).to_be_visible()
        expect(page).to_have_title("Initech · Account · LeadVibe")
        page.go_back()
        page.go_back()
        expect(page).to_have_title("Focus folk · Segment · LeadVibe")
        page.go_back()
        expect(page).to_have_title("Segments · LeadVibe")
    finally:
        seeded.call("DELETE", f"/segments/{segment['segment_id']}")


def test_the_new_segment_dialog_starts_in_its_name_field(admin: Watched) -> None:
    page = admin.goto("/ui/segments")
    page.get_by_role("button", name="New segment").click()
    expect(page.get_by_role("dialog", name="New segment").get_by_label("Name")).to_be_focused()
