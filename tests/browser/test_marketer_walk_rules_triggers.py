"""A marketer's walk through Scoring → Rules with dates, Scoring → Surge and Triggers → Simulate: the rules table fits
its card, the multiplier cap says what it does, and a lead that would not fire says why."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Watched
from tests.browser.data import Seeded

TIMES = "\u00d7"  # the multiplier sign the dashboard writes


def test_rules_with_dates_fit_their_card(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/scoring/rules")
    rules = page.get_by_role("table", name="Rules")
    expect(rules.get_by_label("Event type of rule 1")).to_be_visible()
    page.get_by_label("Limit rules to dates").check()
    until = rules.get_by_label("Rule page_view active until")
    expect(until).to_be_visible()
    wrap = page.locator(".table-wrap").filter(has=rules)
    # nothing to scroll sideways: the event type stays in view while a date is edited
    assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth"), "the rules table is wider than its card"
    until.focus()
    expect(rules.get_by_label("Event type of rule 1")).to_be_in_viewport()
    assert wrap.evaluate("el => el.scrollLeft") == 0
    admin.shot("rules-dates")


def test_the_surge_tab_says_what_the_multiplier_cap_does(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/scoring/surge")
    cap = page.get_by_label("Multiplier cap")
    expect(cap).to_have_value("2")
    expect(page.get_by_text("the most any event can be multiplied by")).to_be_visible()
    expect(page.get_by_text(f"With these bands it changes nothing: the highest band is {TIMES}1.5")).to_be_visible()
    # choosing a preset shows that preset's bands and cap, as the server will use them
    page.get_by_label("Mode").select_option(label="Gentle")
    bands = page.get_by_role("table", name="Bands")
    expect(bands).to_contain_text(f"{TIMES}1.2")
    expect(bands).not_to_contain_text(f"{TIMES}1.5")
    expect(cap).to_have_value("1.5")
    cap.fill("1.1")
    expect(page.get_by_text(f"With these bands it matters: a band above {TIMES}1.1 (the highest is {TIMES}1.2) counts "
                            f"only {TIMES}1.1.")).to_be_visible()
    admin.shot("surge-cap")


def test_simulating_one_lead_says_why_it_would_not_fire(admin: Watched, seeded: Seeded) -> None:
    # A lead of its own: the seeded ones gain events and points from other tests, in whatever order they run.
    seeded.call("POST", "/leads", json={"id": "ld_quiet", "metadata": {"first_name": "Quinn", "last_name": "Quiet"}})
    seeded.ingest([{"lead_id": "ld_quiet", "event_type": "page_view"}])
    seeded.wait_scored()
    page = admin.goto("/ui/triggers")
    page.get_by_role("row").filter(has_text="Hot lead for sales").get_by_role("button", name="Simulate").click()
    dialog = page.get_by_role("dialog", name="Simulate Hot lead for sales")
    dialog.get_by_label("Lead (empty: every lead)").fill("ld_quiet")
    dialog.get_by_role("button", name="Simulate").click()
    expect(dialog.get_by_role("status")).to_contain_text("Would not fire")
    score = seeded.score("ld_quiet")
    assert score < 60
    expect(dialog.get_by_role("status")).to_contain_text(
        f"Quinn Quiet scores {score} now; this trigger fires when a score reaches 60. "
        f"It needs {60 - score} more points.")
    expect(dialog.get_by_role("link", name="Open the lead")).to_have_attribute("href", "/ui/leads/ld_quiet")
    admin.shot("simulate-why")
    # a lead known by its email alias alone (as the sample data's) is named by that address, as everywhere else
    seeded.ingest([{"lead_id": "ld_quiet_mail", "event_type": "page_view",
                    "aliases": [{"alias_kind": "email", "raw_value": "quiet.mail@example.com"}]}])
    seeded.wait_scored()
    dialog.get_by_label("Lead (empty: every lead)").fill("ld_quiet_mail")
    dialog.get_by_role("button", name="Simulate").click()
    expect(dialog.get_by_role("status")).to_contain_text(
        f"quiet.mail@example.com scores {seeded.score('ld_quiet_mail')} now; this trigger fires")


def test_a_lead_page_opens_the_messages_its_triggers_sent(admin: Watched, seeded: Seeded) -> None:
    fired = seeded.call("GET", "/deliveries", params={"limit": 100})["deliveries"]
    lead_id = next(d["lead_id"] for d in fired if d["lead_id"])
    page = admin.goto(f"/ui/leads/{lead_id}")
    page.get_by_role("link", name="Messages triggers sent about this lead").click()
    table = page.get_by_role("table", name="Deliveries")
    expect(table.locator("tbody tr")).to_have_count(len([d for d in fired if d["lead_id"] == lead_id]))
    for row in table.locator("tbody tr").all():
        expect(row.get_by_role("link").first).to_have_attribute("href", f"/ui/leads/{lead_id}")
    expect(page.get_by_text("Lead:", exact=False).first).to_be_visible()
    # this server has no SMTP server: a failed email offers no retry that would fail again
    assert not seeded.call("GET", "/deliveries")["transports"]["email"]["configured"]
    emails = table.locator("tbody tr").filter(has_text="email")
    expect(emails.first).to_be_visible()
    expect(emails.get_by_role("button", name="Retry now")).to_have_count(0)
    page.get_by_role("button", name="Show the deliveries of every lead").click()
    expect(table.locator("tbody tr")).to_have_count(min(25, len(fired)))
    assert "lead_id" not in page.url
