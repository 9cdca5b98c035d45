"""What a marketer met walking Events, Settings and sign-in: filters that say what they need, score decay in words,
sections a role cannot open, limits that are off, refusals beside their field, hints that hold for every setup."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import Watched, expect_field_problem, sign_in, submit_form
from tests.browser.data import Seeded, iso
from tests.browser.test_screens import viewer_page

MINUS = "\u2212"  # as the dashboard writes points taken away


def test_a_metadata_filter_says_what_it_needs_instead_of_adding_a_chip_that_finds_nothing(admin: Watched) -> None:
    page = admin.goto("/ui/events")
    filters = page.get_by_role("form", name="Metadata filters")
    filters.get_by_role("button", name="Add filter").click()
    expect(filters.get_by_text("Enter the metadata key to filter on")).to_be_visible()
    expect(filters.get_by_label("Metadata key")).to_be_focused()
    filters.get_by_label("Metadata key").fill("utm_campaign")
    expect(filters.get_by_text("Enter the metadata key to filter on")).to_be_hidden()
    filters.get_by_role("button", name="Add filter").click()
    expect(filters.get_by_text("Enter the value of “utm_campaign” to look for")).to_be_visible()
    expect(filters.get_by_label("Value", exact=True)).to_be_focused()
    expect(filters.locator(".chip")).to_have_count(0)
    assert "metadata=" not in page.url
    admin.shot("events-metadata-filter-needs-value")
    filters.get_by_label("Value", exact=True).fill("webinar")
    filters.get_by_role("button", name="Add filter").click()
    expect(filters.locator(".chip")).to_have_text("utm_campaign:webinar ✕")
    expect(filters.get_by_text("Enter the value")).to_be_hidden()
    # The chip finds events: every row shown is of that campaign.
    rows = page.get_by_role("table", name="Events").locator("tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.filter(has_not_text="utm_campaign: webinar")).to_have_count(0)


def test_an_event_says_where_it_came_from_and_an_inorganic_one_names_its_filter(admin: Watched, seeded: Seeded) -> None:
    flt = seeded.call("POST", "/filters", json={"event_type": "walk_burst", "count_threshold": 1,
                                                "time_window_ms": 60_000})
    now = datetime.now(UTC)
    seeded.ingest([{"lead_id": "ld_jane", "event_type": "walk_burst", "timestamp": iso(now - timedelta(seconds=s)),
                    "metadata": {"url": "/burst"}} for s in (3, 2, 1)])
    try:
        page = admin.goto("/ui/events?event_type=walk_burst")
        table = page.get_by_role("table", name="Events")
        expect(table.locator("tbody tr")).to_have_count(3)
        expect(table.locator("tbody tr").first.get_by_role("cell", name="web")).to_have_attribute(
            "title", "From: sent by your website or tools through the API")
        inorganic = table.locator("tbody tr").filter(has_text="inorganic").first
        inorganic.get_by_role("button", name="Explain score").click()
        dialog = page.get_by_role("dialog", name="Score explanation")
        # the filter by what it caught; its numbers are today's, said as such (they may have changed since)
        expect(dialog.locator(".notice")).to_have_text(
            "Marked inorganic by the filter on walk_burst: stored, scored 0, no triggers. The filter's settings now: "
            "more than 1 in 60 s.")
        expect(dialog).not_to_contain_text(flt["filter_id"])
        admin.shot("events-explain-inorganic")
    finally:
        seeded.call("DELETE", f"/filters/{flt['filter_id']}")
        ids = [e["id"] for e in seeded.call("GET", "/events", params={"event_type": "walk_burst"})["events"]]
        seeded.call("DELETE", "/events/batch", json={"event_ids": ids})


def test_decay_rules_read_as_sentences_and_switch_off_and_on_from_the_list(admin: Watched, seeded: Seeded) -> None:
    # Long enough that no lead of the shared OU is that quiet: the rules change no score.
    quiet = f"300 days without activity: {MINUS}10"
    rule = seeded.call("POST", "/decays", json={"inactive_for": 300, "unit": "days", "decrease": 10})

    def active() -> bool:
        return bool(next(d for d in seeded.call("GET", "/decays") if d["decay_id"] == rule["decay_id"])["active"])

    try:
        page = admin.goto("/ui/scoring/decay")
        region = page.get_by_role("region", name="Decay rules")
        row = region.get_by_role("row").filter(has_text=quiet)
        expect(row).to_contain_text("On")
        admin.shot("scoring-decay")
        row.get_by_role("button", name=f"Switch off: {quiet}").click()
        expect(page.get_by_text(f"Switched off: {quiet}.")).to_be_visible()
        row = region.get_by_role("row").filter(has_text=quiet)
        expect(row).to_contain_text("Off: takes no points")
        assert active() is False
        row.get_by_role("button", name=f"Switch on: {quiet}").click()
        expect(region.get_by_role("row").filter(has_text=quiet)).not_to_contain_text("Off")
        assert active() is True
        # The form asks for the rule only; it has no box that creating would ignore.
        dialog = submit_form(page, region.get_by_role("button", name="New decay rule"), "New decay rule",
                             {"After inactivity of": "200", "Take away points": "5"}, "Create")
        expect(dialog).to_be_hidden()
        expect(region.get_by_role("row").filter(has_text=f"200 days without activity: {MINUS}5")).to_contain_text("On")
    finally:
        for d in seeded.call("GET", "/decays"):
            seeded.call("DELETE", f"/decays/{d['decay_id']}")


def test_a_viewer_is_told_which_settings_only_an_owner_opens(watched: Watched, seeded: Seeded) -> None:
    page = viewer_page(watched, seeded)
    watched.goto("/ui/settings")
    note = page.get_by_test_id("closed-sections")
    expect(note).to_have_text(re.compile(
        r"Import opens to Operators and Owners of Default\. API credentials, Audit log and Sample data open to "
        r"Owners of Default\. You are a Viewer here\."))
    watched.shot("settings-viewer")
    # An address of such a section says so, instead of showing Members under it or a refusal.
    watched.goto("/ui/settings/credentials")
    expect(page.get_by_role("heading", name="API credentials")).to_be_visible()
    expect(page.get_by_text("API credentials is open to Owners of Default; you are a Viewer here.")).to_be_visible()
    expect(page.get_by_role("table", name="Members")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Settings sections").locator("[aria-current=page]")).to_have_count(0)


def test_an_owner_sees_every_section_and_no_note(admin: Watched) -> None:
    page = admin.goto("/ui/settings")
    expect(page.get_by_role("link", name="Sample data")).to_be_visible()
    expect(page.get_by_test_id("closed-sections")).to_have_count(0)


def test_a_rate_limit_that_is_off_reads_no_limit(admin: Watched) -> None:
    page = admin.goto("/ui/settings/limits")
    card = page.locator("section.card").filter(has=page.get_by_role("heading", name="Rate limit"))
    expect(card.get_by_text("No limit")).to_be_visible()
    expect(card).to_contain_text("Requests from people and tools are not limited.")
    # Neither the numbers of a limit that does not apply nor the limiter's key (org:org_…)
    expect(card).not_to_contain_text("requests a second")
    expect(card).not_to_contain_text("org:")
    expect(card).not_to_contain_text("off")
    watched_usage = page.locator("section.card").filter(has=page.get_by_role("heading", name="Usage this month"))
    expect(watched_usage).to_contain_text("in this OU")
    admin.shot("settings-limits")


def test_adding_a_member_whose_email_exists_says_so_beside_the_email(admin: Watched) -> None:
    admin.expected_failures.append("/members")
    page = admin.goto("/ui/settings/members")
    dialog = submit_form(page, page.get_by_role("button", name="Add member"), "Add member",
                         {"First name": "Jane", "Last name": "Again", "Email": "admin@example.com",
                          "Password": "a-long-password-1"}, "Add member")
    expect_field_problem(dialog, "Email", "admin@example.com is already a member of this organization")
    expect(dialog.get_by_role("alert")).to_have_count(0)
    admin.shot("member-email-exists")
    dialog.get_by_label("Email").fill("jane.again@example.com")
    expect(dialog.locator("#member-email-error")).to_have_count(0)


def test_the_sign_in_hint_promises_no_default_account(watched: Watched) -> None:
    page = watched.goto("/ui/")
    hint = page.locator(".hint")
    expect(hint).to_contain_text("An organization admin adds you under Settings → Members")
    expect(hint).to_contain_text("unless one was set in LEADVIBE_ADMIN_PASSWORD")
    expect(page.locator("main")).not_to_contain_text("admin@leadvibe.local")
    watched.shot("sign-in-hint")


def test_ou_ids_are_labelled_as_what_they_are_for(admin: Watched) -> None:
    page = admin.goto("/ui/settings/units")
    table = page.get_by_role("table", name="Organization units")
    expect(table.get_by_role("columnheader", name="Id for the API")).to_be_visible()


def test_a_member_demoted_while_their_page_is_open_sees_their_new_role_at_the_first_refusal(
        watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    email = "demoted@example.com"
    member = next((m for m in seeded.call("GET", "/members") if m["email"] == email), None)
    if member is None:
        member = seeded.call("POST", "/members", json={"first_name": "Dee", "last_name": "Moted", "email": email,
                                                       "password": "demoted-password-1"})
    grant = {"org_member_id": member["org_member_id"]}
    seeded.call("POST", "/org-units/unit_default/memberships", json={**grant, "role": "Owner"})
    sign_in(page, seeded.server.base, email, "demoted-password-1")
    watched.goto("/ui/settings/credentials")
    header = page.get_by_role("banner")
    expect(header.get_by_text("Owner", exact=True)).to_be_visible()
    seeded.call("POST", "/org-units/unit_default/memberships", json={**grant, "role": "Viewer"})  # meanwhile
    watched.expected_failures.append("/secrets")
    page.get_by_label("Name of a new credential").fill("website")
    page.get_by_role("button", name="Create credential").click()
    # The refusal (403) made the page read the roles again: it stops offering what the member may no longer do.
    expect(header.get_by_text("Viewer", exact=True)).to_be_visible()
    expect(page.get_by_text("API credentials is open to Owners of Default; you are a Viewer here.")).to_be_visible()
