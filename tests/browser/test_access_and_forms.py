"""What an accessibility audit and a marketer asked of every screen: a skip link to the main region, tab strips
that say what they are, lists whose page and filters live in the address (Back, reload), forms that say what to
fix beside the field before anything is sent."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import Watched, expect_field_problem, sign_in, submit_form
from tests.browser.data import Seeded


def focused(page: Page) -> str:
    """The accessible text of the focused element (its text, else its label), and its id."""
    return str(page.evaluate("(() => { const e = document.activeElement;"
                             " return `${e.id}|${(e.textContent || e.getAttribute('aria-label') || '').trim()}`; })()"))


def query(page: Page) -> dict[str, list[str]]:
    """The current address's query parameters."""
    return parse_qs(urlparse(page.url).query)


def test_skip_link_is_the_first_stop_and_lands_in_the_main_region(watched: Watched, seeded: Seeded) -> None:
    page = watched.goto("/ui/")
    skip = page.get_by_role("link", name="Skip to content")
    expect(page.get_by_role("main")).to_have_attribute("id", "main")
    box = skip.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 0  # out of sight until focused
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["y"] >= 0
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()

    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("admin-password-1")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").wait_for()
    for path, heading in (("/ui/leads", "Leads"), ("/ui/scoring/levels", "Scoring"), ("/ui/leads/ld_li", "Li Wei")):
        watched.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.get_by_role("main")).to_have_count(1)
        expect(page.get_by_role("main")).to_have_attribute("id", "main")
        page.keyboard.press("Tab")
        expect(skip).to_be_focused()
        if path == "/ui/leads":
            watched.shot("skip-link")
        page.keyboard.press("Enter")
        expect(page.get_by_role("main")).to_be_focused()
        assert page.url.endswith(path)  # the address stays as it was
        page.keyboard.press("Tab")  # past the menu and the OU picker, into the screen
        assert page.evaluate("document.activeElement.closest('main') !== null"), (path, focused(page))


def test_tab_strips_are_named_link_navigation_with_the_open_section_current(admin: Watched) -> None:
    page = admin.page
    strips = [("/ui/scoring/levels", "Scoring sections", "Levels"), ("/ui/triggers/fired", "Trigger sections", "Fired"),
              ("/ui/settings/units", "Settings sections", "OUs"), ("/ui/events", "Event sections", "Explorer"),
              ("/ui/events?tab=types", "Event sections", "Event types")]
    for path, name, current in strips:
        admin.goto(path)
        strip = page.get_by_role("navigation", name=name, exact=True)
        expect(strip.get_by_role("link", name=current, exact=True)).to_have_attribute("aria-current", "page")
        expect(strip.locator("[aria-current]")).to_have_count(1)
        expect(page.get_by_role("tab")).to_have_count(0)  # links with their own address, not ARIA tabs
    # By keyboard: the chosen section opens at its own address and focus stays on its link.
    admin.goto("/ui/scoring")
    strip = page.get_by_role("navigation", name="Scoring sections", exact=True)
    strip.get_by_role("link", name="Decay", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ui/scoring/decay$"))
    expect(strip.get_by_role("link", name="Decay", exact=True)).to_be_focused()
    expect(strip.get_by_role("link", name="Decay", exact=True)).to_have_attribute("aria-current", "page")
    page.go_back()
    expect(strip.get_by_role("link", name="Rules", exact=True)).to_have_attribute("aria-current", "page")


def test_leads_paging_sort_and_filters_follow_back_and_reload(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/leads?limit=5")
    page_one = seeded.call("GET", "/leads", params={"limit": 5, "page": 1})["leads"]
    by_score = seeded.call("GET", "/leads", params={"limit": 5, "page": 2})["leads"]
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages).to_contain_text("Page 1 of")
    pages.get_by_role("button", name="Next →").click()
    expect(pages).to_contain_text("Page 2 of")
    assert query(page)["page"] == ["2"]
    expect(page.get_by_role("table", name="Leads").get_by_role("link").first).to_contain_text(by_score[0]["id"])
    admin.shot("leads-page-2")

    page.get_by_label("Sort").select_option(label="Recently active")
    expect(pages).to_contain_text("Page 1 of")
    assert query(page)["sort"] == ["recent"] and "page" not in query(page)

    page.go_back()  # the sort undone: page 2 by score again
    expect(pages).to_contain_text("Page 2 of")
    expect(page.get_by_label("Sort")).to_have_value("score_desc")
    expect(page.get_by_role("table", name="Leads").get_by_role("link").first).to_contain_text(by_score[0]["id"])
    page.go_back()  # page 1
    expect(pages).to_contain_text("Page 1 of")
    expect(page.get_by_role("table", name="Leads").get_by_role("link").first).to_contain_text(page_one[0]["id"])
    page.go_forward()
    expect(pages).to_contain_text("Page 2 of")
    page.reload()  # a reload keeps page and filters
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 2 of")

    page.get_by_label("Last active").select_option(label="Last 7 days")
    assert query(page)["last_active"] == ["7d"]
    page.go_back()
    expect(page.get_by_label("Last active")).to_have_value("any")
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Page 2 of")


def test_events_accounts_and_audit_pages_follow_back(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/events?limit=5")
    pages = page.get_by_role("navigation", name="Pages")
    expect(pages).to_contain_text("Page 1 of")
    pages.get_by_role("button", name="Next →").click()
    expect(pages).to_contain_text("Page 2 of")
    page.get_by_label("Event type").select_option("demo_request")
    expect(pages).to_contain_text("Page 1 of")
    assert query(page)["event_type"] == ["demo_request"]
    page.go_back()
    expect(page.get_by_label("Event type")).to_have_value("")
    expect(pages).to_contain_text("Page 2 of")

    for _ in range(55):  # more than one page of audit entries, whatever ran before
        seeded.call("PUT", "/settings/scoring", json={"session_timeout_minutes": 30})
    admin.goto("/ui/settings/audit")
    pager = page.get_by_role("navigation", name="Pages")
    expect(pager).to_contain_text("Entries 1\u201350")
    # each entry says what it changed, in words, with the request it was under them
    newest = page.get_by_role("table", name="Audit log").locator("tbody tr").first
    expect(newest).to_contain_text("Changed the scoring settings")
    expect(newest).to_contain_text("PUT /settings/scoring")
    expect(newest).to_contain_text("Done · 200")
    pager.get_by_role("button", name="Older →").click()
    expect(pager).to_contain_text("Entries 51\u2013")
    assert query(page)["offset"] == ["50"]
    page.reload()
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Entries 51\u2013")
    page.go_back()
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Entries 1\u201350")

    # An area typed by its name, and an action in words: the sign-ins alone, then nothing deleted among them.
    audit = page.get_by_role("table", name="Audit log")
    page.get_by_label("What (an area, a path or an id)").fill("sign-ins")
    page.get_by_label("What (an area, a path or an id)").press("Enter")
    expect(page.get_by_label("What (an area, a path or an id)")).to_have_value("/auth/login")
    assert query(page)["search"] == ["/auth/login"]
    expect(audit.locator("tbody tr").first).to_contain_text("Signed in")
    expect(audit.locator("tbody tr").filter(has_not_text="Signed in")).to_have_count(0)
    page.get_by_label("Action").select_option(label="Deleted (DELETE)")
    expect(page.get_by_text("No audit entry matches")).to_be_visible()  # filtered: the filters matched nothing

    admin.goto("/ui/accounts")
    page.get_by_label("Intent").select_option("high")
    assert query(page)["intent_level"] == ["high"]
    page.go_back()
    expect(page.get_by_label("Intent")).to_have_value("all")
    expect(page).to_have_url(re.compile(r"/ui/accounts$"))


def sent(page: Page, method: str, path: str) -> list[Request]:
    """Record the requests of this method to this path from now on."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if r.method == method and urlparse(r.url).path.endswith(path) else None)
    return seen


def test_forms_say_what_to_fix_beside_the_field_before_sending(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/scoring/fit")
    rules = page.get_by_role("region", name="Fit rules of Ideal customer")
    rules.get_by_role("button", name="New rule").click()
    dialog = page.get_by_role("dialog", name="New rule")
    posted = sent(page, "POST", "/rules")
    dialog.get_by_label("Property").fill("industry")
    dialog.get_by_role("textbox", name="Value").fill("software")
    points = dialog.get_by_label("Points")
    points.fill("2.5")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_text("Points must be a whole number")).to_be_visible()
    expect(points).to_be_focused()
    expect(points).to_have_attribute("aria-invalid", "true")
    points.fill("2000000000")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_text("Points must be between -1,000,000,000 and 1,000,000,000")).to_be_visible()
    admin.shot("form-checks-points")
    assert posted == []
    page.keyboard.press("Escape")

    admin.goto("/ui/scoring/levels")
    new_level = page.get_by_role("region", name="Engagement levels").get_by_role("button", name="New level")
    dialog = submit_form(page, new_level, "New level",
                         {"Name": "   ", "From score": "1", "To score (inclusive)": "5"}, "Create")
    expect_field_problem(dialog, "Name", "Name is required")
    page.keyboard.press("Escape")

    admin.goto("/ui/scoring/settings")
    put = sent(page, "PUT", "/settings/scoring")
    timeout = page.get_by_label("Session timeout (minutes)")
    timeout.fill("0")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Session timeout must be between 1 and 1,440")).to_be_visible()
    expect(timeout).to_have_attribute("aria-invalid", "true")
    assert put == []

    admin.goto("/ui/settings/members")
    page.get_by_role("button", name="Add member").click()
    dialog = page.get_by_role("dialog", name="Add member")
    dialog.get_by_label("Last name").fill("Lovelace")
    dialog.get_by_label("Email").fill("ada.example.com")
    dialog.get_by_label("Password").fill("a-long-password-1")
    members = sent(page, "POST", "/members")
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog.get_by_text("First name is required")).to_be_visible()
    expect(dialog.get_by_text("Email must be an address such as name@company.com")).to_be_visible()
    expect(dialog.get_by_label("First name")).to_be_focused()
    admin.shot("form-checks-member")
    assert members == []
    # Once the fields pass, what the server still refuses about the email is said beside the Email field.
    admin.expected_failures.append("/members")
    dialog.get_by_label("First name").fill("Ada")
    dialog.get_by_label("Email").fill("admin@example.com")
    dialog.get_by_role("button", name="Add member").click()
    expect(dialog.locator("#member-email-error")).to_have_text(
        "admin@example.com is already a member of this organization: use another email, or edit that member")
    expect(dialog.get_by_label("Email")).to_be_focused()
    expect(dialog.get_by_role("alert")).to_have_count(0)


def test_every_form_checks_itself_instead_of_the_browser_bubble(watched: Watched, seeded: Seeded) -> None:
    page = watched.goto("/ui/")
    page.get_by_label("Email").fill("not-an-address")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Email must be an address such as name@company.com")).to_be_visible()
    expect(page.get_by_text("Password is required")).to_be_visible()
    expect(page.get_by_label("Email")).to_be_focused()
    watched.shot("sign-in-checks")
    sign_in(page, seeded.server.base)

    watched.goto("/ui/scoring")
    page.get_by_role("button", name="New ruleset").click()
    dialog = page.get_by_role("dialog", name="New ruleset")
    rulesets = sent(page, "POST", "/rulesets")
    dialog.get_by_role("button", name="Create ruleset").click()
    expect_field_problem(dialog, "Name", "Name is required")
    assert rulesets == []
    page.keyboard.press("Escape")

    watched.goto("/ui/triggers")
    page.get_by_role("row").filter(has_text="Hot lead for sales").get_by_role("button", name="Simulate").click()
    dialog = page.get_by_role("dialog", name="Simulate Hot lead for sales")
    simulated = sent(page, "POST", "/simulate")
    dialog.get_by_label("Over the last (days)").fill("0")
    dialog.get_by_role("button", name="Simulate").click()
    expect(dialog.get_by_text("Days must be between 1 and 3,650")).to_be_visible()
    expect(dialog.get_by_label("Over the last (days)")).to_be_focused()
    watched.shot("simulation-days-check")
    assert simulated == []


def test_a_session_that_ends_says_so_once_and_its_sign_in_form_works(watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    sign_in(page, seeded.server.base)
    token = page.evaluate("sessionStorage.getItem('leadvibe.token')")
    r = seeded.server.request("POST", "/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code < 300, r.text  # the session ends (revoked) while the page is open
    watched.expected_failures.append("/")  # the ended session's 401s
    # The next request the page makes finds the session gone (a screen opened as Back would open it; the live
    # updates' stream may find it first, which is why no link is clicked: it may be gone by then).
    page.evaluate("history.pushState({}, '', '/ui/leads'); dispatchEvent(new PopStateEvent('popstate'))")
    expect(page.get_by_role("heading", name="Sign in to LeadVibe")).to_be_visible()
    expect(page.locator("form").get_by_text("Your session ended. Sign in again.")).to_be_visible()
    notices = page.locator(".toasts .toast")
    expect(notices).to_have_count(1)
    page.wait_for_timeout(300)
    expect(notices).to_have_count(1)  # one notice, not one more each time the list of notices changes
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("admin-password-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_signing_out_forgets_the_ou_and_the_next_member_streams_their_own(watched: Watched, seeded: Seeded) -> None:
    # An admin working in an OU the next member of the tab does not have: signing out forgets it, and the live
    # stream opens on an OU of the member signed in, never on one kept from before (the server would refuse: 403).
    unit, _ = seeded.in_ou("Admins only")
    email, password = "streamer@example.com", "streamer-password-1"
    member = next((m for m in seeded.call("GET", "/members") if m["email"] == email), None)
    if member is None:
        member = seeded.call("POST", "/members", json={"first_name": "Stream", "last_name": "Er", "email": email,
                                                       "password": password})
        seeded.call("POST", "/org-units/unit_default/memberships",
                    json={"org_member_id": member["org_member_id"], "role": "Viewer"})
    page = watched.page
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/stream?" in r.url else None)
    sign_in(page, seeded.server.base)
    with page.expect_request(lambda r: "/stream?" in r.url and unit["unit_id"] in r.url):  # the admin's stream
        watched.use_ou(unit["name"])
    watched.settle()  # the Overview has loaded: no read of it is left to meet the signed-out token
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to LeadVibe")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('leadvibe.ou')") is None
    streams.clear()
    # The next member signs in in the same tab, without a reload.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_request(lambda r: "/stream?" in r.url):
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_label("Active OU")).to_have_value("unit_default")
    page.wait_for_timeout(300)
    assert all("ouId=unit_default" in url for url in streams), streams  # no 403 (a console error) either


def test_the_audit_log_names_a_deleted_credential_as_it_was_called(admin: Watched, seeded: Seeded) -> None:
    made = seeded.call("POST", "/secrets", json={"name": "CRM sync"})
    seeded.call("DELETE", f"/secrets/{made['secret_id']}")
    page = admin.goto("/ui/settings/audit")
    newest = page.get_by_role("table", name="Audit log").locator("tbody tr").first
    expect(newest).to_contain_text(f"Deleted API credential {made['secret_id']} “CRM sync”")


def focus_holder(page: Page) -> str:
    """The focused element's tag and text; "body" when focus fell to the page."""
    return str(page.evaluate("(() => { const e = document.activeElement; return !e || e === document.body"
                             " ? 'body' : `${e.tagName}|${e.textContent.trim()}`; })()"))


# Simulate, Import and Load sample data were disabled while they ran: a disabled button loses focus, which fell to
# <body>, and a keyboard user started again from the top of the page.
def test_simulate_keeps_the_focus_while_and_after_it_runs(admin: Watched) -> None:
    page = admin.goto("/ui/triggers")
    page.get_by_role("row").filter(has_text="Hot lead for sales").get_by_role("button", name="Simulate").click()
    dialog = page.get_by_role("dialog", name="Simulate Hot lead for sales")
    simulate = dialog.get_by_role("button", name="Simulate")
    simulate.focus()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("status")).to_be_visible()
    expect(simulate).to_be_focused()
    assert simulate.get_attribute("aria-disabled") == "false"
    page.keyboard.press("Escape")


def _open_in_ou(admin: Watched, seeded: Seeded, name: str, path: str) -> Any:
    """`path` opened in an OU of its own (made on first use), chosen in the header as a person does; the admin API
    call into that OU."""
    unit, call = seeded.in_ou(name)
    admin.page.reload()
    admin.use_ou(unit["name"])
    admin.goto(path)
    return call


def test_import_keeps_the_focus_and_announces_its_answer(admin: Watched, seeded: Seeded) -> None:
    # The status region is on the page before the answer, so a screen reader announces the answer.
    page = admin.page
    _open_in_ou(admin, seeded, "Focus after import", "/ui/settings/import")
    expect(page.get_by_role("heading", name="Import events from CSV")).to_be_visible()
    status = page.locator("main [role=status]")
    regions_before = [r.evaluate("el => { el.dataset.beforeTheAnswer = 'yes'; return el.textContent.trim(); }")
                      for r in status.all()]
    csv = "lead_id,event_type\nld_focus_a,page_view\nld_focus_b,page_view\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "focus.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    importer = page.get_by_role("button", name="Import", exact=True)
    importer.focus()
    page.keyboard.press("Enter")
    expect(status).to_have_text(re.compile(r"2 events imported\."))
    expect(importer).to_be_focused()
    assert focus_holder(page) != "body"
    assert regions_before == [""]
    assert status.get_attribute("data-before-the-answer") == "yes"  # the same region, not one that appeared


def test_load_sample_data_keeps_the_focus(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    call = _open_in_ou(admin, seeded, "Focus after sample data", "/ui/settings/sample-data")
    sample = page.get_by_role("region", name="Sample data")
    load = sample.get_by_role("button", name="Load sample data")
    load.focus()
    page.keyboard.press("Enter")
    expect(sample.get_by_role("status")).to_contain_text("Loaded:", timeout=60000)
    expect(load).to_be_focused()
    admin.shot("sample-data-loaded-focus")
    seeded.wait_scored(60)
    call("POST", "/admin/wipe", json={})
