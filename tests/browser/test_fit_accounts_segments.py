"""Fit (profile) scores, accounts, segments and sample data in the dashboard, against a real server whose OU has
fit rules and levels, account-based marketing with account rules and levels (see `data.configure_fit`)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched, expect_field_problem
from tests.browser.data import Seeded
from tests.browser.test_dashboard import nav
from tests.browser.test_screens import viewer_page

WRITES = re.compile(r"^(New |Add |\+ |Delete|Edit|Save|Create|Remove|Load|Make primary|Open rules|Rename)")


def lead_row(page: Page, lead_id: str) -> Any:
    """The Leads table's row of one lead."""
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(f"\\b{lead_id}\\b")))


def account_of(seeded: Seeded, name: str) -> dict[str, Any]:
    """An account of the seeded OU by its display name."""
    accounts = seeded.call("GET", "/accounts", params={"search": name.lower()})["accounts"]
    return next(a for a in accounts if a["name"] == name)


def software_segment(seeded: Seeded) -> dict[str, Any]:
    """A segment made through the API (for the tests that only look at one)."""
    for s in seeded.call("GET", "/segments"):
        if s["name"] == "Software companies":
            return s  # type: ignore[no-any-return]
    return seeded.call("POST", "/segments", json={  # type: ignore[no-any-return]
        "name": "Software companies", "description": "Leads at software companies",
        "rules": [{"rule_type": "lead_metadata", "field_name": "industry", "operator": "equals", "value": "software"}]})


def test_fit_in_the_leads_table_and_on_the_lead(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Leads")
    jane = seeded.call("GET", "/leads/ld_jane")["lead"]
    assert jane["profile_level"] == "Ideal fit"
    expect(lead_row(page, "ld_jane").get_by_test_id("fit")).to_have_text(f"{jane['profile_score']} Ideal fit")
    # filter by fit level, then order by fit
    page.get_by_label("Fit level").select_option("Ideal fit")
    ideal = seeded.call("GET", "/leads", params={"profile_level": "Ideal fit"})
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(ideal["total"] + 1)
    expect(page).to_have_url(re.compile(r"profile_level=Ideal"))
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Sort").select_option(label="Best fit")
    best = seeded.call("GET", "/leads", params={"sort": "profile_desc", "limit": 1})["leads"][0]
    expect(page.get_by_role("table").get_by_role("row").nth(1)).to_contain_text(str(best["profile_score"]))
    page.get_by_label("Min fit score").fill("35")
    page.get_by_label("Min fit score").press("Enter")
    at_least = seeded.call("GET", "/leads", params={"min_profile_score": 35})["total"]
    expect(page.get_by_text(f"{at_least} leads", exact=True)).to_be_visible()

    # the lead: its fit beside its score, the fit rules it matched, its account
    page = admin.goto("/ui/leads/ld_jane")
    expect(page.get_by_test_id("lead-fit")).to_have_text(str(jane["profile_score"]))
    profile = seeded.call("GET", "/leads/ld_jane/profile")
    matched = page.get_by_role("list", name="Matched fit rules").get_by_role("listitem")
    expect(matched).to_have_count(len(profile["matched_rules"]))
    expect(matched.filter(has_text="industry is one of software, fintech")).to_contain_text("+20")
    account = page.get_by_role("region", name="Account", exact=True)
    expect(account).to_contain_text("acme.com")
    admin.shot("lead-fit-account")
    account.get_by_role("link", name="Acme", exact=True).click()
    expect(page.get_by_role("heading", name="Acme", exact=True)).to_be_visible()
    expect(page.get_by_role("table", name="Leads of the account")).to_contain_text("ld_jane")


def test_accounts_list_and_an_accounts_leads(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Accounts")
    listed = seeded.call("GET", "/accounts")
    table = page.get_by_role("table", name="Accounts")
    expect(table.get_by_role("row")).to_have_count(listed["total"] + 1)
    top = listed["accounts"][0]
    expect(table.get_by_role("row").nth(1)).to_contain_text(top["name"])
    expect(table.get_by_role("row").nth(1)).to_contain_text(top["intent_level"])
    admin.shot("accounts")
    page.get_by_label("Intent").select_option("high")
    high = seeded.call("GET", "/accounts", params={"intent_level": "high"})["total"]
    expect(table.get_by_role("row")).to_have_count(high + 1)
    page.get_by_label("Search").fill("zzz-no-such")
    expect(page.get_by_text("No account matches")).to_be_visible()
    page.get_by_label("Search").fill("glob")
    table.get_by_role("link", name=re.compile("^Globex")).click()

    globex = account_of(seeded, "Globex")
    expect(page.get_by_role("heading", name="Globex", exact=True)).to_be_visible()
    expect(page.get_by_test_id("account-score")).to_have_text(str(globex["score"]))
    expect(page.get_by_role("region", name="Properties")).to_contain_text("5200")
    leads = page.get_by_role("table", name="Leads of the account")
    expect(leads.get_by_role("link", name="ld_omar")).to_be_visible()
    admin.shot("account-detail")
    page.get_by_role("link", name="Open in Leads").click()
    expect(page).to_have_url(re.compile(f"/ui/leads\\?account_id={globex['account_id']}"))
    expect(page.get_by_text("Account: Globex")).to_be_visible()
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(globex["leads_count"] + 1)
    page.get_by_role("button", name="Show leads of every account").click()
    total = seeded.call("GET", "/leads", params={"limit": 1})["total"]
    expect(page.get_by_text(f"{total} leads", exact=True)).to_be_visible()


def test_a_segment_made_in_the_ui_shows_its_count_and_members(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/segments")
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    dialog.get_by_label("Name", exact=True).fill("Big software buyers")
    dialog.get_by_label("Description").fill("Software companies over 200 people")
    dialog.get_by_label("Condition 1 property").fill("industry")
    dialog.get_by_label("Condition 1 value").fill("software")
    dialog.get_by_role("button", name="+ Condition").click()
    dialog.get_by_label("Condition 2 property").fill("company_size")
    dialog.get_by_label("Condition 2 operator").select_option(label="is greater than")
    dialog.get_by_label("Condition 2 value").fill("200")
    admin.shot("segment-editor")
    dialog.get_by_role("button", name="Create segment").click()
    expect(page).to_have_url(re.compile(r"/ui/segments/sg_"))
    segment_id = page.url.rsplit("/", 1)[1]
    count = seeded.call("GET", f"/segments/{segment_id}/count")["count"]
    assert count >= 1
    expect(page.get_by_test_id("segment-count")).to_have_text(f"{count} {'lead' if count == 1 else 'leads'}")
    members = page.get_by_role("table", name="Leads in the segment")
    expect(members.locator("tbody tr")).to_have_count(count)
    for lead in seeded.call("GET", f"/segments/{segment_id}/leads"):
        expect(members.get_by_role("link", name=re.compile(f"\\b{lead['id']}\\b"))).to_be_visible()
    expect(page.get_by_role("list", name="Condition group 1")).to_contain_text("company_size is greater than 200")

    # widen it: an OR group, edited in the same dialog
    page.get_by_role("button", name="Edit segment").click()
    dialog = page.get_by_role("dialog", name="Edit Big software buyers")
    dialog.get_by_role("button", name="+ Or another group").click()
    dialog.get_by_label("Condition 3 property").fill("industry")
    dialog.get_by_label("Condition 3 operator").select_option(label="equals")
    dialog.get_by_label("Condition 3 value").fill("fintech")
    dialog.get_by_role("button", name="Save segment").click()
    expect(dialog).to_be_hidden()
    wider = seeded.call("GET", f"/segments/{segment_id}/count")["count"]
    assert wider > count
    expect(page.get_by_test_id("segment-count")).to_have_text(f"{wider} leads")
    expect(page.get_by_role("list", name="Condition group 2")).to_contain_text("industry equals fintech")
    expect(members.locator("tbody tr")).to_have_count(wider)
    admin.shot("segment-detail")

    # the same members in the Leads list, filtered by the segment
    page.get_by_role("link", name="Open in Leads").click()
    expect(page.get_by_role("combobox", name="Segment", exact=True)).to_have_value(segment_id)
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(wider + 1)

    # a segment whose conditions are all off matches nobody: said in words, without asking the server (which
    # answers 422) for a count or members it cannot give
    rules = seeded.call("GET", f"/segments/{segment_id}/rules")
    for rule in rules:
        seeded.call("PUT", f"/segments/{segment_id}/rules/{rule['rule_id']}", json={"active": False})
    page = admin.goto(f"/ui/segments/{segment_id}")
    expect(page.get_by_test_id("segment-all-off")).to_contain_text("All of this segment's conditions are switched off")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Delete segment").click()
    page.get_by_role("dialog", name="Delete segment").get_by_role("button", name="Delete segment").click()
    expect(page).to_have_url(re.compile(r"/ui/segments$"))
    expect(page.get_by_role("region", name="All segments")).not_to_contain_text("Big software buyers")


def test_fit_and_account_scoring_on_the_scoring_screen(admin: Watched, seeded: Seeded) -> None:
    admin.expected_failures.append("/rules")
    page = admin.goto("/ui/scoring/fit")
    rules = page.get_by_role("region", name="Fit rules of Ideal customer")
    expect(rules).to_contain_text("industry is one of software, fintech")
    expect(rules).to_contain_text("job_title equals intern")
    admin.shot("scoring-fit")
    rules.get_by_role("button", name="New rule").click()
    dialog = page.get_by_role("dialog", name="New rule")
    dialog.get_by_role("combobox", name="Property").fill("country")
    dialog.get_by_role("combobox", name="Condition").select_option(label="is one of")
    dialog.get_by_role("textbox", name="Value").fill("")
    dialog.get_by_role("spinbutton", name="Points").fill("5")
    dialog.get_by_role("button", name="Create").click()
    # the API's sentence beside the field it names, in the form's words
    expect(dialog.get_by_text("Value must list at least one value")).to_be_visible()
    dialog.get_by_role("textbox", name="Value").fill("DE, PL")
    dialog.get_by_role("button", name="Create").click()
    expect(rules).to_contain_text("country is one of DE, PL")
    created = next(r for r in seeded.call("GET", f"/profile/rulesets/{seeded.profile_ruleset_id}/rules")
                   if r["profile_property"] == "country")
    assert (created["condition"], created["comparison_value"], created["weight"]) == ("in", "DE, PL", 5)
    rules.get_by_role("row").filter(has_text="country is one of").get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete rule").get_by_role("button", name="Delete").click()
    expect(rules).not_to_contain_text("country is one of")

    nav_tabs = page.get_by_role("navigation", name="Sections")
    nav_tabs.get_by_role("link", name="Account rules").click()
    expect(page.get_by_role("region", name="Account rules of Target accounts")).to_contain_text(
        "employees is greater than 1000")
    expect(page.get_by_role("region", name="Account field mappings")).to_contain_text("employees")
    nav_tabs.get_by_role("link", name="Levels").click()
    expect(page.get_by_role("region", name="Fit levels")).to_contain_text("Ideal fit")
    expect(page.get_by_role("region", name="Account levels")).to_contain_text("high")
    nav_tabs.get_by_role("link", name="Settings").click()
    expect(page.get_by_label("Account-based marketing (organization-wide)")).to_be_checked()


def test_sample_data_from_the_first_run_then_wiped(admin: Watched, seeded: Seeded) -> None:
    unit = seeded.call("POST", "/org-units", json={"name": "Demo"})
    headers = {**seeded.headers, "X-OU-ID": unit["unit_id"]}
    page = admin.page
    page.reload()
    admin.use_ou("Demo")
    start = page.get_by_role("region", name="Start scoring leads in Demo")
    start.get_by_role("button", name="Load sample data").click()
    # said in the card and as a toast: the card may already be gone once the first sample events are scored
    expect(page.get_by_role("status").filter(has_text="Sample data loaded: 200 leads").first).to_be_visible()
    expect(start).to_be_hidden(timeout=30_000)  # the first run is over once the sample events are scored
    nav(page, "Leads")
    # the worker may still be creating the last sample leads: the list refreshes itself as they are scored
    expect(page.get_by_text("200 leads", exact=True)).to_be_visible(timeout=30_000)
    # People arrived over the demo's month, not all at the second it was loaded.
    recent = seeded.server.request("GET", "/leads?range=last_7d", headers=headers).json()["total"]
    assert 0 < recent < 200
    page.get_by_label("Created").select_option(label="Last 7 days")
    expect(page.get_by_text(f"{recent} leads", exact=True)).to_be_visible()
    page.get_by_label("Sort").select_option(label="Newest")
    admin.shot("sample-leads-newest")
    page.get_by_role("table", name="Leads").get_by_role("link").last.click()
    created = page.get_by_role("region", name="Lead").locator("dd").nth(1)
    expect(created).not_to_have_text(re.compile(r"^$"))
    nav(page, "Segments")
    expect(page.get_by_role("table", name="Segments").get_by_role("link")).not_to_have_count(0)

    nav(page, "Settings")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Sample data").click()
    page.get_by_role("button", name="Remove sample data").click()
    page.get_by_role("dialog", name="Remove sample data").get_by_role("button", name="Remove sample data").click()
    expect(page.get_by_role("status").filter(has_text="Removed:")).to_contain_text("200 leads")
    admin.shot("settings-sample-data")
    assert seeded.server.request("GET", "/leads", headers=headers).json()["total"] == 0
    assert seeded.server.request("GET", "/segments", headers=headers).json() == []
    nav(page, "Leads")
    expect(page.get_by_text("No leads match")).to_be_visible()


def test_viewer_sees_no_write_controls_on_fit_accounts_and_segments(watched: Watched, seeded: Seeded) -> None:
    segment = software_segment(seeded)
    globex = account_of(seeded, "Globex")
    page = viewer_page(watched, seeded)
    screens = [("/ui/leads", "Leads"), ("/ui/leads/ld_jane", "Jane Doe"), ("/ui/accounts", "Accounts"),
               (f"/ui/accounts/{globex['account_id']}", "Globex"), ("/ui/segments", "Segments"),
               (f"/ui/segments/{segment['segment_id']}", "Software companies"), ("/ui/scoring/fit", "Scoring"),
               ("/ui/scoring/accounts", "Scoring"), ("/ui/scoring/levels", "Scoring")]
    for path, heading in screens:
        watched.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        watched.settle()
        expect(page.locator(".state.error")).to_have_count(0)
        assert page.get_by_role("button", name=WRITES).count() == 0, path
    # what a Viewer reads there
    watched.goto("/ui/leads/ld_jane")
    expect(page.get_by_role("list", name="Matched fit rules")).to_contain_text("industry is one of software, fintech")
    watched.goto(f"/ui/segments/{segment['segment_id']}")
    count = seeded.call("GET", f"/segments/{segment['segment_id']}/count")["count"]
    expect(page.get_by_test_id("segment-count")).to_have_text(f"{count} leads")
    watched.goto("/ui/settings")
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name="Sample data")).to_have_count(0)


def test_a_milestone_only_for_a_segment_and_a_fit_level(admin: Watched, seeded: Seeded) -> None:
    segment = software_segment(seeded)
    page = admin.goto("/ui/triggers")
    milestones = page.get_by_role("region", name="Milestone triggers")
    milestones.get_by_role("button", name="New milestone").click()
    dialog = page.get_by_role("dialog", name="New milestone")
    dialog.get_by_label("Name").fill("Software lead turns hot")
    dialog.get_by_label("When the score reaches").fill("500")
    dialog.get_by_role("combobox", name="Only for leads in segment").select_option(label="Software companies")
    dialog.get_by_role("combobox", name="Only for leads whose fit level is").select_option("Ideal fit")
    filters = dialog.get_by_role("group", name=re.compile("^Other lead filters"))
    filters.get_by_role("button", name="Add a filter").click()
    filters.get_by_role("textbox", name="Filter 1 property").fill("country")
    filters.get_by_role("combobox", name="Filter 1 condition").select_option(label="is one of")
    filters.get_by_role("textbox", name="Filter 1 value").fill("DE, FR")
    filters.get_by_role("button", name="Add a filter").click()  # a second row, left blank: not sent
    admin.shot("trigger-lead-filters")
    dialog.get_by_role("button", name="Create").click()
    row = milestones.get_by_role("row").filter(has_text="Software lead turns hot")
    expect(row).to_contain_text("leads in Software companies · Ideal fit leads · country is one of DE, FR")
    trigger = next(t for t in seeded.call("GET", "/triggers/milestones") if t["name"] == "Software lead turns hot")
    expected = [{"field": "segment", "operator": "equals", "value": segment["segment_id"]},
                {"field": "profile_level", "operator": "equals", "value": "Ideal fit"},
                {"field": "country", "operator": "in", "value": "DE, FR"}]
    assert trigger["profile_filters"] == expected
    # an edit keeps every filter
    row.get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit milestone")
    expect(dialog.get_by_role("combobox", name="Only for leads in segment")).to_have_value(segment["segment_id"])
    expect(dialog.get_by_role("textbox", name="Filter 1 value")).to_have_value("DE, FR")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    saved = next(t for t in seeded.call("GET", "/triggers/milestones") if t["trigger_id"] == trigger["trigger_id"])
    assert saved["profile_filters"] == expected
    seeded.call("DELETE", f"/triggers/milestones/{trigger['trigger_id']}")


def test_overview_shows_fit_bands_and_accounts_warming_up(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Overview")
    bands = page.get_by_role("region", name="Leads by fit")
    for level in seeded.call("GET", "/levels/profile"):
        count = seeded.call("GET", "/leads", params={"profile_level": level["name"], "limit": 1})["total"]
        expect(bands.get_by_role("listitem").filter(has_text=level["name"])).to_contain_text(str(count))
    warming = page.get_by_role("table", name="Accounts warming up")
    top = seeded.call("GET", "/accounts", params={"limit": 6})["accounts"]
    expect(warming.get_by_role("row")).to_have_count(len(top) + 1)
    expect(warming.get_by_role("row").nth(1)).to_contain_text(top[0]["name"])
    bands.scroll_into_view_if_needed()
    admin.shot("overview-fit-accounts")
    # a fit band opens the Leads list filtered to it
    ideal = bands.get_by_role("link", name="Ideal fit")
    ideal.click()
    expect(page).to_have_url(re.compile(r"/ui/leads\?.*profile_level=Ideal"))


def test_a_fit_level_within_another_says_so_instead_of_reading_as_none(admin: Watched, seeded: Seeded) -> None:
    # "Excellent fit" (50 and above) lies within "Ideal fit" (35 and above), which starts lower and so gets every
    # score of it: the card said "Excellent fit 0 0%", as if no lead fitted that well, beside a lead that scores 60.
    unit, call = seeded.in_ou("Fit within other bands")
    if not call("GET", "/levels/profile"):
        ruleset = call("POST", "/profile/rulesets", json={"name": "Software"})["id"]
        call("POST", f"/profile/rulesets/{ruleset}/rules", json={
            "profile_property": "industry", "condition": "equals", "comparison_value": "software", "weight": 60})
        for name, low, high in (("Poor fit", -1000, 14), ("Ideal fit", 35, 1_000_000_000),
                                ("Excellent fit", 50, 1_000_000_000)):
            call("POST", "/levels/profile", json={"name": name, "min_score": low, "max_score": high})
        call("POST", "/leads", json={"id": "ld_fit_within", "metadata": {"industry": "software"}})
        call("POST", "/ingest/batch", json={"events": [{"lead_id": "ld_fit_within", "event_type": "page_view"}]})
        seeded.wait_scored()
    assert call("GET", "/leads/ld_fit_within")["lead"]["profile_score"] == 60
    page = admin.goto("/ui/")  # the OU picker lists the OU made after signing in
    admin.use_ou(unit["name"])
    bands = page.get_by_role("region", name="Leads by fit")
    excellent = bands.get_by_role("listitem").filter(has_text="Excellent fit")
    expect(excellent).to_contain_text("within other bands")
    expect(excellent.get_by_role("link")).to_have_count(0)  # no list of leads it could open
    ideal = bands.get_by_role("listitem").filter(has_text="Ideal fit")
    expect(ideal).to_contain_text("35+")
    expect(ideal).to_contain_text("1")
    expect(bands.get_by_role("listitem").filter(has_text="Poor fit")).to_contain_text("–14")
    admin.settle()
    bands.scroll_into_view_if_needed()
    admin.shot("overview-fit-within-other-bands")


def test_a_lead_without_an_account_says_why(admin: Watched, seeded: Seeded) -> None:
    seeded.ingest([{"lead_id": "ld_freemail", "event_type": "page_view",
                    "aliases": [{"alias_kind": "email", "raw_value": "someone@gmail.com"}]}])
    assert seeded.call("GET", "/leads/ld_freemail")["lead"]["account_id"] is None
    page = admin.goto("/ui/leads/ld_freemail")
    expect(page.get_by_test_id("no-account")).to_contain_text("free-mail addresses")


def test_an_account_on_a_lead_without_abm_links_nowhere_it_cannot_open(admin: Watched, seeded: Seeded) -> None:
    """Sample data links leads to accounts while account-based marketing stays off; the account's page answers 403
    then, so the lead page names the company without a link to it and says why."""
    # The Overview the sign-in opened reads its accounts card while ABM is still on: done before it goes off (a read
    # of /accounts after the switch below would be a 403 the page reports).
    admin.settle()
    unit = seeded.call("POST", "/org-units", json={"name": "No ABM"})
    headers = {**seeded.headers, "X-OU-ID": unit["unit_id"]}
    assert seeded.server.request("POST", "/admin/seed", headers=headers).status_code == 200
    # ABM is the organization's switch, on for this module's data: off for this test only.
    abm = {"abm_enabled": False}
    assert seeded.server.request("PUT", "/settings/scoring", json=abm, headers=headers).status_code == 200
    try:
        leads = seeded.server.request("GET", "/leads", params={"limit": 200}, headers=headers).json()["leads"]
        lead = next(lead for lead in leads if lead.get("account_id"))
        admin.goto("/ui/")
        admin.use_ou("No ABM")
        page = admin.goto(f"/ui/leads/{lead['id']}")
        card = page.get_by_role("region", name="Account")
        expect(card.get_by_test_id("abm-off")).to_contain_text("Account-based marketing is off")
        # Nothing scores accounts then: no "Account score 0" or intent that reads as a real figure.
        expect(card.get_by_text("Company", exact=True)).to_be_visible()
        expect(card).not_to_contain_text("Account score")
        expect(card).not_to_contain_text("Intent")
        expect(card.get_by_role("link")).to_have_count(1)  # "All leads of …" only: the list filter works without ABM
        expect(page.locator("a[href*='/accounts/']")).to_have_count(0)
        admin.shot("lead-account-without-abm")
    finally:
        seeded.server.request("PUT", "/settings/scoring", json={"abm_enabled": True}, headers=headers)


def test_a_segment_of_leads_who_did_an_event_checked_beside_each_condition(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/segments")
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    dialog.get_by_label("Name", exact=True).fill("Looked at pricing")
    dialog.get_by_label("Condition 1 looks at").select_option(label="Event field")
    expect(dialog).to_contain_text("To ask whether a lead did an event at all")
    posted = []
    page.on("request", lambda r: posted.append(r) if r.method == "POST" and r.url.endswith("/segments") else None)
    dialog.get_by_role("button", name="Create segment").click()
    # our own checks, beside the field (no browser bubble), nothing sent
    field = dialog.get_by_label("Condition 1 event field")
    expect(dialog.get_by_text("Event field is required")).to_be_visible()
    expect(dialog.get_by_text("Value is required")).to_be_visible()
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    assert posted == []
    # the event type from the OU's types; its fields are suggested, so "did it at all" needs no invented field
    dialog.get_by_label("Condition 1 event type").fill("not sent yet")  # no fields to suggest, no failed request
    field.click()
    dialog.get_by_label("Condition 1 event type").fill("Pricing Page View")  # any spelling of a type
    field.click()
    expect(dialog.locator("datalist#segment-fields-pricing_page_view option[value=url]")).to_have_count(1)
    field.fill("url")
    dialog.get_by_label("Condition 1 operator").select_option(label="has a value")
    expect(dialog.get_by_text("Event field is required")).to_be_hidden()
    expect(dialog.get_by_text("Value is required")).to_be_hidden()
    admin.shot("segment-event-condition")
    dialog.get_by_role("button", name="Create segment").click()
    expect(page).to_have_url(re.compile(r"/ui/segments/sg_"))
    segment_id = page.url.rsplit("/", 1)[1]
    # the leads with such an event that carries a url (an event sent without one does not count)
    did = {e["lead_id"] for e in seeded.call("GET", "/events", params={"event_type": "pricing_page_view",
                                                                       "limit": 500})["events"]
           if "url" in e["metadata"]}
    assert seeded.call("GET", f"/segments/{segment_id}/count")["count"] == len(did) > 0
    expect(page.get_by_test_id("segment-count")).to_have_text(f"{len(did)} {'lead' if len(did) == 1 else 'leads'}")
    expect(page.get_by_role("list", name="Condition group 1")).to_contain_text(
        "has a pricing_page_view event whose url has a value")  # the type by its name in the OU
    page.get_by_role("button", name="Edit segment").click()  # an event condition edited: its fields suggested again
    dialog = page.get_by_role("dialog", name="Edit Looked at pricing")
    expect(dialog.locator("datalist option[value=utm_campaign]")).to_have_count(1)
    page.keyboard.press("Escape")
    seeded.call("DELETE", f"/segments/{segment_id}")


def test_an_any_group_switched_off_and_on_keeps_its_mode_and_its_order(admin: Watched, seeded: Seeded) -> None:
    """A group of "any of these" whose conditions are all unticked, saved, then ticked again, still matches any of
    them; conditions come back in the order they were entered; a segment with every condition off says so."""
    page = admin.goto("/ui/segments")
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    dialog.get_by_label("Name", exact=True).fill("Fintech or pricing")
    dialog.get_by_label("Condition 1 property").fill("industry")
    dialog.get_by_label("Condition 1 value").fill("software")
    dialog.get_by_role("button", name="+ Or another group").click()
    dialog.get_by_label("Group 2 matches").select_option(label="any of these")
    dialog.get_by_label("Condition 2 property").fill("industry")
    dialog.get_by_label("Condition 2 value").fill("fintech")
    dialog.get_by_role("group", name="Condition group 2").get_by_role("button", name="+ Condition").click()
    dialog.get_by_label("Condition 3 looks at").select_option(label="Event field")
    dialog.get_by_label("Condition 3 event type").fill("pricing_page_view")
    dialog.get_by_label("Condition 3 event field").fill("url")
    dialog.get_by_label("Condition 3 operator").select_option(label="has a value")
    dialog.get_by_role("button", name="Create segment").click()
    expect(page).to_have_url(re.compile(r"/ui/segments/sg_"))
    segment_id = page.url.rsplit("/", 1)[1]

    def stored() -> list[tuple[int, str, str, bool]]:
        return [(r["logic_group"], r["logic_op"], r["field_name"], r["active"])
                for r in seeded.call("GET", f"/segments/{segment_id}/rules")]

    # as entered: the lead property before the event field, in both the API's order and the page's
    assert stored() == [(0, "AND", "industry", True), (1, "OR", "industry", True), (1, "OR", "url", True)]
    expect(page.get_by_role("list", name="Condition group 2").get_by_role("listitem")).to_have_text(
        ["industry equals fintech", "has a pricing_page_view event whose url has a value"])
    count = seeded.call("GET", f"/segments/{segment_id}/count")["count"]

    # every condition switched off: the "any" group keeps its mode, the page says the segment matches nobody
    page.get_by_role("button", name="Edit segment").click()
    dialog = page.get_by_role("dialog", name="Edit Fintech or pricing")
    for n in (1, 2, 3):
        dialog.get_by_label(f"Apply condition {n}").uncheck()
    dialog.get_by_role("button", name="Save segment").click()
    expect(dialog).to_be_hidden()
    assert stored() == [(0, "AND", "industry", False), (1, "OR", "industry", False), (1, "OR", "url", False)]
    off = page.get_by_test_id("segment-all-off")
    expect(off).to_contain_text("All of this segment's conditions are switched off: it matches nobody.")
    expect(off).to_contain_text("Edit it to switch one on.")
    expect(page.get_by_test_id("segment-count")).to_have_count(0)  # no count from before
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    admin.shot("segment-all-off")

    # ticked again: still "any of these", and as many members as before
    page.get_by_role("button", name="Edit segment").click()
    dialog = page.get_by_role("dialog", name="Edit Fintech or pricing")
    expect(dialog.get_by_label("Group 2 matches")).to_have_value("OR")
    for n in (1, 2, 3):
        dialog.get_by_label(f"Apply condition {n}").check()
    dialog.get_by_role("button", name="Save segment").click()
    expect(dialog).to_be_hidden()
    assert stored() == [(0, "AND", "industry", True), (1, "OR", "industry", True), (1, "OR", "url", True)]
    assert seeded.call("GET", f"/segments/{segment_id}/count")["count"] == count
    expect(page.get_by_test_id("segment-count")).to_have_text(f"{count} {'lead' if count == 1 else 'leads'}")
    seeded.call("DELETE", f"/segments/{segment_id}")


def test_a_name_already_in_use_is_a_warning_beside_the_field_not_a_block(admin: Watched, seeded: Seeded) -> None:
    first = seeded.call("POST", "/segments", json={"name": "Evaluators", "rules": [
        {"rule_type": "lead_metadata", "field_name": "industry", "operator": "equals", "value": "software"}]})
    page = admin.goto("/ui/segments")
    page.get_by_role("button", name="New segment").click()
    dialog = page.get_by_role("dialog", name="New segment")
    name = dialog.get_by_label("Name", exact=True)
    name.fill(" evaluators")
    warning = dialog.get_by_text("Another segment is already called “Evaluators”")
    expect(warning).to_be_visible()
    expect(name).to_have_attribute("aria-describedby", "segment-name-warning")
    expect(name).not_to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Condition 1 property").fill("industry")
    dialog.get_by_label("Condition 1 value").fill("fintech")
    admin.shot("segment-same-name")
    dialog.get_by_role("button", name="Create segment").click()  # allowed: the API takes it
    expect(page).to_have_url(re.compile(r"/ui/segments/sg_"))
    second = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Edit segment").click()  # its own name is no warning; the other's still is
    dialog = page.get_by_role("dialog", name="Edit evaluators")
    expect(dialog.get_by_text("Another segment is already called “Evaluators”")).to_be_visible()
    dialog.get_by_label("Name", exact=True).fill("Fintech evaluators")
    expect(dialog.get_by_text("Another segment is already called")).to_be_hidden()
    page.keyboard.press("Escape")
    for segment_id in (first["segment_id"], second):
        seeded.call("DELETE", f"/segments/{segment_id}")



def test_a_level_name_its_kind_already_has_is_refused_beside_the_field(admin: Watched, seeded: Seeded) -> None:
    # The API answers 409 for a second level of a kind by one name (any case, outer spaces aside): the form says so
    # beside the name and sends nothing; another kind's name is free.
    page = admin.goto("/ui/scoring/levels")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}") if r.method in ("POST", "PUT") else None)
    page.get_by_role("region", name="Engagement levels").get_by_role("button", name="New level").click()
    dialog = page.get_by_role("dialog", name="New level")
    dialog.get_by_label("Name").fill(" warm")
    dialog.get_by_label("From score").fill("100")
    dialog.get_by_role("button", name="Create").click()
    expect_field_problem(dialog, "Name", "Another level is already called “Warm”: choose another name")
    expect(dialog.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator(".field-warning", has_text="already called")).to_have_count(0)  # not a mere warning
    admin.shot("level-same-name")
    assert sent == []
    page.keyboard.press("Escape")
    # editing: its own name is no problem, another fit level's is
    fit = page.get_by_role("region", name="Fit levels")
    fit.get_by_role("row").filter(has_text="Good fit").get_by_role("button", name="Edit").click()
    dialog = page.get_by_role("dialog", name="Edit fit level")
    expect(dialog.get_by_label("Name")).to_have_value("Good fit")
    dialog.get_by_label("Name").fill("Ideal fit")
    dialog.get_by_role("button", name="Save").click()
    expect_field_problem(dialog, "Name", "Another fit level is already called “Ideal fit”: choose another name")
    assert sent == []
    dialog.get_by_label("Name").fill("Good fit")
    expect(dialog.get_by_text("Another fit level is already called")).to_be_hidden()
    page.keyboard.press("Escape")
    # an engagement level's name is free for a fit level
    fit.get_by_role("button", name="New fit level").click()
    dialog = page.get_by_role("dialog", name="New fit level")
    dialog.get_by_label("Name").fill("Warm")
    dialog.get_by_label("From score").fill("5000")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    row = fit.get_by_role("row").filter(has_text="Warm")
    expect(row).to_be_visible()
    level = next(lv for lv in seeded.call("GET", "/levels/profile") if lv["name"] == "Warm")
    seeded.call("DELETE", f"/levels/profile/{level['level_id']}")


def test_switching_ou_on_a_segments_leads_asks_nothing_of_that_segment_in_the_new_ou(admin: Watched,
                                                                                     seeded: Seeded) -> None:
    # The screen open goes before the OU changes: its `segment=` belongs to the OU being left (a 404 there, which the
    # watched page would report as a console error).
    segment = software_segment(seeded)
    other = "Elsewhere for segments"
    if not any(u["name"] == other for u in seeded.call("GET", "/org-units")["units"]):
        seeded.call("POST", "/org-units", json={"name": other})
    page = admin.goto(f"/ui/leads?segment={segment['segment_id']}")
    expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_visible()
    admin.settle()  # the segment's leads are listed (after the segments, which say whether it matches anybody)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if segment["segment_id"] in r.url else None)
    admin.use_ou(other)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert asked == []
    admin.use_ou("Default")


def test_a_segment_that_matches_nobody_is_not_counted_nor_listed_in_leads(admin: Watched, seeded: Seeded) -> None:
    """A segment with no condition switched on matches nobody, and the server refuses to count or list it (422): the
    segments list does not ask for its count, its page offers no Open in Leads, and the Leads list filtered by it
    (a kept address, or the Segment menu) says so in words with a way out, not an error with a useless Try again."""
    unit, call = seeded.in_ou("Segments that match nobody")
    condition = {"rule_type": "lead_metadata", "field_name": "company_size", "operator": "greater_than", "value": "200"}
    on = call("POST", "/segments", json={"name": "Big companies", "rules": [condition]})["segment_id"]
    off = call("POST", "/segments", json={"name": "Switched off", "rules": [
        {**condition, "active": False}, {**condition, "field_name": "industry", "operator": "equals",
                                         "value": "fintech", "active": False}]})["segment_id"]
    page = admin.page
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if off in r.url else None)
    admin.goto("/ui/")
    admin.use_ou(unit["name"])

    page = admin.goto("/ui/segments")
    table = page.get_by_role("table", name="Segments")
    expect(table.get_by_role("row").filter(has_text="Big companies").get_by_test_id("segment-size")).to_have_text("0")
    nobody = table.get_by_role("row").filter(has_text="Switched off").get_by_test_id("segment-size")
    expect(nobody).to_have_text("nobody")
    expect(nobody.locator("[title]")).to_have_attribute("title", re.compile("matches nobody"))
    assert not any("/count" in url for url in asked), asked

    page = admin.goto(f"/ui/segments/{on}")
    expect(page.get_by_role("link", name="Open in Leads")).to_be_visible()
    page = admin.goto(f"/ui/segments/{off}")
    expect(page.get_by_test_id("segment-all-off")).to_contain_text("All of this segment's conditions are switched off")
    expect(page.get_by_role("link", name="Open in Leads")).to_have_count(0)

    # An address kept from before (or typed) names the segment: the list says it matches nobody, in words.
    asked.clear()
    page = admin.goto(f"/ui/leads?segment={off}")
    state = page.get_by_test_id("segment-all-off")
    expect(state).to_contain_text(
        "All of the conditions of the segment “Switched off” are switched off: it matches nobody.")
    expect(state).to_contain_text("Edit it to switch one on.")
    expect(page.get_by_text("Could not load this")).to_have_count(0)
    expect(page.get_by_role("button", name="Try again")).to_have_count(0)
    expect(state).not_to_contain_text("POST /segments")
    expect(page.get_by_role("combobox", name="Segment", exact=True)).to_have_value(off)
    admin.shot("leads-segment-matches-nobody")
    state.get_by_role("button", name="Clear the segment filter").click()
    expect(page).not_to_have_url(re.compile("segment="))
    expect(page.get_by_text("No leads match")).to_be_visible()
    # Chosen in the Segment menu, which says as much beside its name.
    page.get_by_role("combobox", name="Segment", exact=True).select_option(label="Switched off (matches nobody)")
    expect(state).to_be_visible()
    expect(page).to_have_url(re.compile(f"segment={off}"))
    state.get_by_role("link", name="Open the segment").click()
    expect(page).to_have_url(re.compile(f"/ui/segments/{off}$"))
    expect(page.get_by_role("heading", name="Switched off", exact=True)).to_be_visible()
    refused = re.compile(r"^https?://[^/]+/(leads\?|segments/[^/]+/(count|leads))")  # what the server would refuse
    assert not any(refused.match(url) for url in asked), asked
