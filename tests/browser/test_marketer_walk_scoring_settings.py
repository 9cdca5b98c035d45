"""Scoring and workspace settings as a marketing-ops person configures them: the session timeout and the surge idle
time are one setting, whichever tab saves it, surge bands and rule periods are refused beside the field at fault,
event-type processing reads in words, and a CSV import says what every row needs and how many refused rows it lists.
Each save is checked against what the API stored."""

from __future__ import annotations

import itertools
import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched
from tests.browser.data import Seeded
from tests.browser.test_phone import PHONE, sideways

_ous = itertools.count(1)


class Unit:
    """An OU of the test's own, and admin API calls in it."""

    def __init__(self, seeded: Seeded, name: str) -> None:
        self.name = f"{name} {next(_ous)}"
        self.unit_id = seeded.call("POST", "/org-units", json={"name": self.name})["unit_id"]
        self.seeded = seeded
        self.headers = {**seeded.headers, "X-OU-ID": self.unit_id}

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.seeded.server.request(method, path, headers=self.headers, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def open(self, admin: Watched, path: str) -> Page:
        admin.goto("/ui/")
        admin.use_ou(self.name)
        page = admin.goto(path)
        admin.settle()
        return page


def test_the_session_timeout_and_the_surge_idle_time_are_one_setting(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Sessions")
    page = unit.open(admin, "/ui/scoring/settings")
    timeout = page.get_by_label("Session timeout (minutes)")
    expect(timeout).to_have_value("30")
    same = "It is the same setting as the idle time on the Surge tab"
    expect(page.locator("#timeout-help")).to_contain_text("session ends after this many minutes without events")
    expect(page.locator("#timeout-help")).to_contain_text(same)
    admin.shot("w13-scoring-settings-default")

    # The Surge tab's idle time is the session timeout, saved policy or not, and it says so.
    page = admin.goto("/ui/scoring/surge")
    admin.settle()
    idle = page.get_by_label("Session ends after idle (minutes)")
    expect(idle).to_have_value("30")
    help_ = page.locator("#surge-idle-help")
    expect(help_).to_have_text(re.compile(
        r"Sessions end after 30 minutes without events\. This idle time is the\s+session timeout on the Settings tab:"
        r"\s+saving it on either tab changes both\."))
    expect(help_.get_by_role("link", name="Settings")).to_have_attribute("href", "/ui/scoring/settings")
    expect(idle).to_have_attribute("aria-describedby", "surge-idle-help")
    idle.fill("10")
    page.get_by_role("button", name="Save surge policy").click()
    expect(page.get_by_role("status").filter(has_text="Surge policy saved")).to_be_visible()
    expect(help_).to_contain_text("Sessions end after 10 minutes without events.")
    stored = unit.call("GET", "/settings/ou/surge-policy")
    assert stored["saved"] is True and stored["idle_reset_seconds"] == 600, stored

    # The Settings tab shows the policy's idle time as the timeout, and says it is one setting; no "Not in use".
    page = admin.goto("/ui/scoring/settings")
    admin.settle()
    timeout = page.get_by_label("Session timeout (minutes)")
    expect(timeout).to_have_value("10")
    note = page.locator("#timeout-help")
    expect(note).to_have_text(re.compile(r"A lead's session ends after this many minutes without events\.\s+"
                                         r"It is the same setting as the idle time on the Surge tab,\s+"
                                         r"where the surge policy multiplies points within a session\."))
    expect(note).to_have_class(re.compile(r"\bmuted\b"))
    expect(page.get_by_text("Not in use")).to_have_count(0)
    expect(timeout).to_have_attribute("aria-describedby", "timeout-help")
    admin.shot("w13-scoring-settings-overridden")
    page.set_viewport_size(PHONE)
    expect(note).to_be_visible()
    assert sideways(page) == []
    admin.shot("w13-scoring-settings-phone", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})

    # Saving another timeout here sets the policy's idle time: the Surge tab shows it when opened.
    timeout.fill("20")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Scoring settings saved")).to_be_visible()
    expect(timeout).to_have_value("20")
    assert unit.call("GET", "/settings/scoring")["session_timeout_minutes"] == 20
    page = admin.goto("/ui/scoring/surge")
    admin.settle()
    expect(page.get_by_label("Session ends after idle (minutes)")).to_have_value("20")
    expect(page.locator("#surge-idle-help")).to_contain_text("Sessions end after 20 minutes without events.")
    admin.shot("w13-surge-idle-from-settings")
    stored = unit.call("GET", "/settings/ou/surge-policy")
    assert stored["saved"] is True and stored["idle_reset_seconds"] == 1200, stored


def test_an_idle_time_of_seconds_shows_rounded_as_the_session_timeout(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Seconds")
    page = unit.open(admin, "/ui/scoring/surge")
    idle = page.get_by_label("Session ends after idle (minutes)")
    idle.fill("1.5")
    expect(page.locator("#surge-idle-help")).to_contain_text(
        "Sessions end after 90 seconds without events. This idle time is the session timeout on the Settings tab "
        "(shown there rounded to whole minutes)")
    page.get_by_role("button", name="Save surge policy").click()
    expect(page.get_by_role("status").filter(has_text="Surge policy saved")).to_be_visible()
    assert unit.call("GET", "/settings/ou/surge-policy")["idle_reset_seconds"] == 90

    page = admin.goto("/ui/scoring/settings")
    admin.settle()
    timeout = page.get_by_label("Session timeout (minutes)")
    expect(timeout).to_have_value("2")
    note = page.locator("#timeout-help")
    expect(note).to_have_text(re.compile(r"It is the same setting as the Surge tab's idle time of 90 seconds,\s+"
                                         r"shown here rounded to 2 minutes;\s+saving another number replaces it\."))
    admin.shot("w13-scoring-settings-rounded")

    # Saving the settings as shown keeps the 90 seconds; another number replaces them, and the note goes.
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Scoring settings saved")).to_be_visible()
    assert unit.call("GET", "/settings/ou/surge-policy")["idle_reset_seconds"] == 90
    timeout.fill("3")
    page.get_by_role("button", name="Save settings").click()
    expect(note).to_contain_text("It is the same setting as the idle time on the Surge tab")
    expect(note).not_to_contain_text("rounded")
    assert unit.call("GET", "/settings/ou/surge-policy")["idle_reset_seconds"] == 180


def test_custom_surge_bands_refuse_a_repeated_event_number_beside_the_band(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Bands")
    page = unit.open(admin, "/ui/scoring/surge")
    page.get_by_label("Mode").select_option(label="Custom bands")
    page.get_by_label("Band 2 from event").fill("1")  # Standard's bands start at events 1, 3 and 6
    page.get_by_role("button", name="Save surge policy").click()
    band = page.get_by_label("Band 2 from event")
    expect(band).to_be_focused()
    expect(band).to_have_attribute("aria-invalid", "true")
    problem = page.locator("#surge-band-1-min-error")
    expect(problem).to_have_text("Band 2 starts at event #1, as band 1 does: give each band its own event number")
    # Beside the band, in its row, not above the table.
    expect(page.get_by_role("row").filter(has=band)).to_contain_text("Band 2 starts at event #1")
    admin.shot("w13-surge-repeated-band")
    assert unit.call("GET", "/settings/ou/surge-policy")["saved"] is False

    # Every band removed: custom needs one, said before the API refuses it.
    for _ in range(3):
        page.get_by_role("button", name="Remove band 1").click()
    page.get_by_role("button", name="Save surge policy").click()
    expect(page.get_by_text("Custom bands need at least one band")).to_be_visible()
    assert unit.call("GET", "/settings/ou/surge-policy")["saved"] is False

    page.get_by_role("button", name="Add band").click()
    page.get_by_role("button", name="Add band").click()
    page.get_by_label("Band 2 from event").fill("4")
    page.get_by_label("Band 2 multiplier").fill("1.75")
    page.get_by_role("button", name="Save surge policy").click()
    expect(page.get_by_role("status").filter(has_text="Surge policy saved")).to_be_visible()
    stored = unit.call("GET", "/settings/ou/surge-policy")
    assert stored["mode"] == "custom"
    assert [(b["min_events"], b["multiplier"]) for b in stored["bands"]] == [(3, 1.5), (4, 1.75)], stored


def test_a_rule_period_ending_before_it_starts_is_refused_beside_until(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Periods")
    rs = unit.call("POST", "/rulesets", json={"name": "Engagement", "is_primary": True})
    unit.call("POST", "/rules", json={"ruleset_id": rs["ruleset_id"], "event_type": "webinar_attended", "weight": 20})
    page = unit.open(admin, "/ui/scoring/rulesets")
    page.get_by_label("Limit rules to dates").check()
    page.get_by_label("Rule webinar_attended active from").fill("2026-03-10T09:00")
    page.get_by_label("Rule webinar_attended active until").fill("2026-03-01T09:00")
    backtests: list[str] = []
    page.on("request", lambda r: backtests.append(r.url) if r.url.endswith("/backtest") else None)
    page.get_by_role("button", name="Preview impact").click()
    until = page.get_by_label("Rule webinar_attended active until")
    expect(until).to_be_focused()
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("row").filter(has=until)).to_contain_text("Until must be later than From")
    expect(page.get_by_role("alert")).to_have_count(0)  # no "rules[0].start_at …" from the API under the table
    assert backtests == []
    admin.shot("w13-rule-period-refused")

    until.fill("2026-03-31T18:00")
    page.get_by_role("button", name="Preview impact").click()
    page.get_by_role("button", name="Save and rescore").click()
    expect(page.get_by_role("status").filter(has_text="Rules saved")).to_be_visible()
    (rule,) = unit.call("GET", f"/rulesets/{rs['ruleset_id']}/rules")
    assert rule["start_at"] is not None and rule["end_at"] is not None and rule["start_at"] < rule["end_at"], rule


def test_event_type_processing_is_explained_and_its_change_said_in_words(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/settings/event-types")
    admin.settle()
    expect(page.get_by_text("Score only scores them, no trigger fires")).to_be_visible()
    try:
        page.get_by_label("Processing of webinar_attended").select_option(label="Score only")
        toast = page.get_by_role("status").filter(has_text="webinar_attended: now")
        expect(toast).to_have_text(re.compile(r"webinar_attended: now Score only\."))
        stored = {t["type_key"]: t for t in seeded.call("GET", "/settings/event-types")}
        assert stored["webinar_attended"]["max_processing_scope"] == "decide"
        admin.shot("w13-event-types")
    finally:
        seeded.call("PUT", "/settings/event-types/webinar_attended", json={"max_processing_scope": "activate"})


def test_an_import_says_what_rows_need_and_how_many_refused_rows_it_lists(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Import")
    page = unit.open(admin, "/ui/settings/import")
    expect(page.get_by_test_id("import-needs")).to_contain_text("names its lead by lead_id or by one of")

    # A spreadsheet saved with semicolons between the cells (as many locales do) is told how to save it (a small
    # file goes up whole: the server's answer; a larger one is split in the browser, which says the same).
    admin.expected_failures.append("/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "semicolons.csv", "mimeType": "text/csv", "buffer": b"email;event_type\njane@acme.com;x\n"}])
    page.get_by_role("button", name="Import", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("The CSV header must include event_type: this file separates its cells with semicolons"
                               " (;); save it with commas between the cells")
    expect(alert.locator("code")).to_have_text(["event_type", ";"])  # the names in code type, not in backticks
    admin.shot("w13-import-semicolons")

    good = ("email,event_type,timestamp,Campaign\njane@acme.com,page_view,2026-03-01T09:30:00Z,spring\n"
            "jane@acme.com,demo_request,,spring\n")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": good.encode()}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="imported")).to_have_text(re.compile(r"2 events imported\."))
    # A column no import column has was dropped: said, with where such data goes.
    expect(page.get_by_test_id("ignored-columns")).to_contain_text("Not imported: the column “Campaign”")
    seeded.wait_scored()
    assert unit.call("GET", "/leads", params={"limit": 5})["total"] == 1

    # 105 rows without a lead, one good: the table lists the server's first 100 and says so.
    bad = "email,event_type\n" + "".join(",page_view\n" for _ in range(105)) + "omar@globex.io,page_view\n"
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="imported")).to_have_text(
        re.compile(r"1 event imported, 105 rows refused\."))
    expect(page.get_by_text("The first 100 of the 105 refused rows:")).to_be_visible()
    refused = page.get_by_role("table", name="Refused rows")
    expect(refused.get_by_role("row")).to_have_count(101)  # the header and 100 rows
    expect(refused.get_by_role("row").nth(1)).to_contain_text("2")
    expect(refused.get_by_role("row").nth(1)).to_contain_text("the row names no lead: fill its lead_id or one of")
    admin.shot("w13-import-refused")


def test_unticking_limit_rules_to_dates_clears_the_dates_it_hid(admin: Watched, seeded: Seeded) -> None:
    unit = Unit(seeded, "Undated")
    rs = unit.call("POST", "/rulesets", json={"name": "Engagement", "is_primary": True})
    unit.call("POST", "/rules", json={"ruleset_id": rs["ruleset_id"], "event_type": "webinar_attended", "weight": 20,
                                      "start_at": "2026-03-01T09:00:00Z", "end_at": "2026-03-31T18:00:00Z"})
    page = unit.open(admin, "/ui/scoring/rulesets")
    dates = page.get_by_label("Limit rules to dates")
    expect(dates).to_be_checked()  # a dated rule shows its dates
    dates.uncheck()
    expect(page.get_by_role("status").filter(has_text="Dates cleared from 1 rule")).to_be_visible()
    page.get_by_role("button", name="Preview impact").click()
    page.get_by_role("button", name="Save and rescore").click()
    expect(page.get_by_role("status").filter(has_text="Rules saved")).to_be_visible()
    (rule,) = unit.call("GET", f"/rulesets/{rs['ruleset_id']}/rules")
    assert (rule["start_at"], rule["end_at"]) == (None, None), rule


def test_overlapping_levels_count_each_lead_once_and_score_filters_are_checked_before_sending(
        admin: Watched, seeded: Seeded) -> None:
    """Where bands overlap, a score gets the band that starts lowest (SEMANTICS): the Overview's funnel counts and
    links each lead in that one level, and a score filter the API would refuse is said beside its field."""
    unit = Unit(seeded, "Overlaps")
    unit.call("POST", "/rules", json={"event_type": "demo_request", "weight": 60})
    for name, low, high in (("Cold", 0, 49), ("Hot", 50, 1_000_000_000), ("Warm", 30, 79)):
        unit.call("POST", "/levels/engagement", json={"name": name, "min_score": low, "max_score": high})
    unit.call("POST", "/ingest/batch", json={"events": [
        {"lead_id": "ld_cold", "event_type": "page_view"},
        {"lead_id": "ld_warm", "event_type": "demo_request"},  # 60: in Warm and Hot, Warm's
        {"lead_id": "ld_hot", "event_type": "demo_request"}, {"lead_id": "ld_hot", "event_type": "demo_request"}]})
    seeded.wait_scored()
    page = unit.open(admin, "/ui/")
    funnel = page.get_by_role("region", name="Leads by engagement level")
    hot = funnel.get_by_role("listitem").filter(has_text="Hot")
    expect(hot).to_contain_text("80+")  # the scores that are Hot's: Warm keeps 50-79
    expect(hot.locator(".num strong")).to_have_text("1")
    expect(funnel.get_by_role("listitem").filter(has_text="Warm").locator(".num strong")).to_have_text("1")
    expect(funnel.get_by_role("listitem").filter(has_text="Cold").locator(".num strong")).to_have_text("1")
    admin.shot("w13-overlapping-levels")
    hot.get_by_role("link").click()
    table = page.get_by_role("table", name="Leads", exact=True)
    expect(table.get_by_role("link", name=re.compile("ld_hot"))).to_be_visible()
    expect(table.get_by_role("link", name=re.compile("ld_warm"))).to_have_count(0)
    hot_id = next(x["stage_id"] for x in unit.call("GET", "/levels/engagement") if x["name"] == "Hot")
    expect(page.get_by_role("combobox", name=re.compile(r"^Level"))).to_have_value(hot_id)  # the link, read as Hot

    # A score that is not a whole number is said beside the field; the list stays as it was.
    page.get_by_label("Min score").fill("2.5")
    page.get_by_label("Min score").press("Enter")
    expect(page.locator("#score-range-error")).to_have_text("Min score must be a whole number")
    expect(page.get_by_text("Could not load this")).to_have_count(0)
    expect(table.get_by_role("link", name=re.compile("ld_hot"))).to_be_visible()
