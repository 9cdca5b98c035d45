"""The dashboard in a real browser against a real server: signing in, the screens, live updates, roles."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded


def nav(page: Page, name: str) -> None:
    """Follow a link of the main navigation (client-side: no page load)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def test_sign_in_and_overview(watched: Watched, seeded: Seeded) -> None:
    watched.expected_failures.append("/auth/login")
    page = watched.goto("/")
    expect(page.get_by_role("heading", name="Sign in to LeadVibe")).to_be_visible()
    watched.shot("sign-in")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid email or password")  # the API's own sentence, as a sentence
    sign_in(page, seeded.server.base)
    expect(page).to_have_url(seeded.server.base + "/ui/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    top = seeded.call("GET", "/analytics/top-leads", params={"limit": 1})[0]
    expect(page.get_by_role("region", name="Top leads").get_by_role("link", name=top["lead_id"])).to_be_visible()
    funnel = page.get_by_role("region", name="Leads by engagement level")
    hot = seeded.call("GET", "/leads", params={"min_score": 60, "max_score": 1_000_000_000, "limit": 1})["total"]
    expect(funnel.get_by_role("listitem").filter(has_text="Hot")).to_contain_text(str(hot))
    # the optional parts of the API the server has (here all of them) appear in the navigation
    main = page.get_by_role("navigation", name="Main")
    expect(main.get_by_role("link", name="Segments")).to_be_visible()
    expect(main.get_by_role("link", name="Accounts")).to_be_visible()
    watched.shot("overview")
    # the token lives in this tab's sessionStorage, never in a cookie
    assert page.evaluate("sessionStorage.getItem('leadvibe.token')")
    assert page.context.cookies() == []
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to LeadVibe")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('leadvibe.token')") is None


def test_leads_table_shows_ingested_leads(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Leads")
    api_page = seeded.call("GET", "/leads", params={"limit": 50})
    table = page.get_by_role("table", name="Leads", exact=True)  # not the Overview's tables on their way out
    for lead in api_page["leads"][:5]:
        row = table.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile(lead["id"])))
        expect(row).to_contain_text(str(lead["score"]))
    expect(page.get_by_text(f"{api_page['total']} leads", exact=True)).to_be_visible()
    admin.shot("leads")
    page.get_by_role("combobox", name="Level", exact=True).select_option(label="Hot")
    hot = seeded.call("GET", "/leads", params={"min_score": 60, "max_score": 1_000_000_000})["leads"]
    expect(table.get_by_role("row")).to_have_count(len(hot) + 1)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Search").fill("omar.had")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table).to_contain_text("ld_omar")
    expect(page).to_have_url(re.compile(r"q=omar\.had"))
    # a search covers every lead, whatever the filters say, and the page says so
    expect(page.get_by_role("note")).to_contain_text("filters and sorting apply again")
    # by a word of a lead's name, or of its company, whatever the case
    page.get_by_label("Search").fill("hadd")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("row").nth(1)).to_contain_text("Omar Haddad")
    expect(table.get_by_role("row").nth(1)).to_contain_text("matched name")
    page.get_by_label("Search").fill("GLOBEX")
    expect(table.get_by_role("row")).to_have_count(2)
    expect(table.get_by_role("row").nth(1)).to_contain_text("matched company: Globex")
    admin.shot("leads-search")
    page.get_by_label("Search").fill("")
    expect(page.get_by_role("note")).to_have_count(0)
    # a score range the wrong way round is said beside its fields; the list stays
    page.get_by_label("Min score").fill("50")
    page.get_by_label("Min score").dispatch_event("change")
    page.get_by_label("Max score").fill("10")
    page.get_by_label("Max score").dispatch_event("change")
    expect(page.get_by_role("alert")).to_have_text("Min score is above max score.")
    expect(table).to_be_visible()
    page.get_by_label("Max score").fill("100")
    page.get_by_label("Max score").dispatch_event("change")
    expect(page.get_by_role("alert")).to_have_count(0)
    # An address with the range the wrong way round lists leads and says what is wrong; no request is refused.
    admin.goto("/ui/leads?min_score=1000&max_score=5")
    expect(page.get_by_role("alert")).to_have_text("Min score is above max score.")
    expect(table.get_by_role("row").nth(1)).to_be_visible()
    # The open-ended top level ("60 and above") fills no upper bound, and reads as that level again.
    level = page.get_by_label("Level").first  # the engagement level, before "Fit level"
    level.select_option(label="Hot")
    expect(page.get_by_label("Min score")).to_have_value("60")
    expect(page.get_by_label("Max score")).to_have_value("")
    expect(level).to_have_value(re.compile(r".+"))


def test_a_leads_page_past_the_last_offers_the_last(admin: Watched, seeded: Seeded) -> None:
    # An address kept while the list shrank (or typed): the list is not empty, the page is past its end.
    total = seeded.call("GET", "/leads", params={"limit": 1})["total"]
    last = -(-total // 5)
    page = admin.goto("/ui/leads?page=99&limit=5")
    past = page.get_by_test_id("past-last-page")
    expect(past).to_contain_text("Page 99 is past the last page")
    expect(past).to_contain_text(f"The {total} leads fill {last} pages.")
    expect(page.get_by_text("No leads match")).to_have_count(0)
    expect(page.get_by_text(f"{total} leads", exact=True)).to_be_visible()
    admin.shot("leads-past-last-page")
    past.get_by_role("button", name=f"Go to page {last}, the last").click()
    expect(page).to_have_url(re.compile(rf"page={last}\b"))
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text(f"Page {last} of {last}")
    rows = page.get_by_role("table", name="Leads", exact=True).locator("tbody tr")
    expect(rows).to_have_count(total - (last - 1) * 5)
    page.go_back()  # a step in the history, as any page of the list
    expect(past).to_be_visible()


def test_fired_triggers_and_the_audit_log_past_their_last_page_offer_the_last(admin: Watched, seeded: Seeded) -> None:
    """Neither API says how many rows it holds: a page past the end (an address kept, or typed) is told from an empty
    list by looking for the last page, and says so as the Leads list does instead of "Nothing fired yet"."""
    unit, call = seeded.in_ou("Past the last page")
    call("POST", "/rules", json={"event_type": "demo_request", "weight": 40})
    call("POST", "/triggers/milestones", json={"name": "Demo booked", "score_threshold": 40,
                                               "event_type": "demo_request"})
    call("POST", "/ingest/batch", json={"events": [{"lead_id": f"ld_past{n}", "event_type": "demo_request"}
                                                   for n in range(27)]})
    seeded.wait_scored()
    assert len(call("GET", "/triggers/milestones/events", params={"limit": 500})) == 27
    for n in range(52):
        call("POST", "/segments", json={"name": f"Audited {n}"})
    admin.goto("/ui/")
    admin.use_ou(unit["name"])

    past = admin.page.get_by_test_id("past-last-page")
    for path in ("/ui/triggers/fired?kind=milestones&page=5", "/ui/triggers/fired?page=5"):  # one kind, all kinds
        page = admin.goto(path)
        expect(past).to_contain_text("Page 5 is past the last page")
        expect(past).to_contain_text("The 27 firings fill 2 pages.")
        expect(page.get_by_text("Nothing fired yet")).to_have_count(0)
    admin.shot("fired-past-last-page")
    past.get_by_role("button", name="Go to page 2, the last").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"page=2\b"))
    expect(page.get_by_role("table", name="Fired triggers").locator("tbody tr")).to_have_count(2)
    # The button took itself off the page: focus stays with the list's part of it, not dropped on <body>.
    assert page.evaluate("document.activeElement.tagName") != "BODY"
    page.go_back()  # a step in the history, as any page of the list
    expect(past).to_be_visible()

    page = admin.goto("/ui/settings/audit?search=%2Fsegments&method=POST&offset=99999")
    expect(past).to_contain_text("Page 2,001 is past the last page")  # entries 100,000 on, 50 to a page
    expect(past).to_contain_text("The 52 audit entries fill 2 pages.")
    expect(page.get_by_text("No audit entries")).to_have_count(0)
    admin.shot("audit-past-last-page")
    past.get_by_role("button", name="Go to page 2, the last").click()
    expect(page).to_have_url(re.compile(r"offset=50\b"))
    expect(page.get_by_role("navigation", name="Pages")).to_contain_text("Entries 51\u201352")  # an en dash
    expect(page.get_by_role("table", name="Audit log").locator("tbody tr")).to_have_count(2)
    page = admin.goto("/ui/settings/audit?search=%2Frules&method=POST&offset=99999")
    expect(past).to_contain_text("The 1 audit entry fills one page.")
    # A list that is empty on its first page is still empty, wherever the address starts it; filtered, it says the
    # filters matched nothing (not that nothing was ever recorded), and so does a kind of firing none holds.
    page = admin.goto("/ui/settings/audit?search=%2Fno-such-path&offset=500")
    expect(page.get_by_role("status").filter(has_text="No audit entry matches")).to_be_visible()
    expect(page.get_by_text("Change or clear the filters above.")).to_be_visible()
    expect(past).to_have_count(0)
    page = admin.goto("/ui/triggers/fired?kind=sequences")
    expect(page.get_by_text("No firing of this kind")).to_be_visible()


def test_lead_ledger_sums_to_the_score(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/leads/ld_jane")  # a deep link
    score = seeded.score("ld_jane")
    expect(page.get_by_test_id("lead-score")).to_have_text(f"{score:,}")
    ledger = page.get_by_role("table", name="Score ledger")
    expect(ledger.get_by_test_id("ledger-score")).to_have_text(f"{score:,}")
    cells = ledger.locator("tbody tr td:nth-last-child(2)").all_inner_texts()
    deltas = [int(t.replace("+", "").replace(",", "")) for t in cells]
    assert sum(deltas) == score
    running = ledger.locator("tbody tr td:last-child").all_inner_texts()
    assert int(running[0].replace(",", "")) == score  # newest row: the score now
    events = seeded.call("GET", "/leads/ld_jane/activity", params={"range": "all", "limit": 1000})["events"]
    assert len(deltas) == len(events)
    # every rule named in a row is the primary ruleset's rule the server says matched
    first = events[0]
    rule = next(r for r in seeded.call("GET", "/rules") if r["rule_id"] in first["rule_ids"])
    expect(ledger.locator("tbody tr").first).to_contain_text(rule["event_type"])
    expect(page.get_by_role("img", name="Score over time")).to_be_visible()
    admin.shot("lead-detail-top")
    admin.shot("lead-detail", full_page=True)


def test_rule_edit_previews_then_changes_scores(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Scoring")
    before = seeded.score("ld_omar")
    backtest = seeded.call("POST", f"/rulesets/{seeded.ruleset_id}/backtest", json={"rules": [
        {"event_type": r["event_type"], "weight": 60 if r["event_type"] == "pricing_page_view" else r["weight"]}
        for r in seeded.call("GET", "/rules")]})
    expected = next(x for x in backtest["leads"] if x["lead_id"] == "ld_omar")["new_score"]
    assert expected != before
    page.get_by_label("Points for pricing_page_view").fill("60")
    page.get_by_role("button", name="Preview impact").click()
    preview = page.get_by_role("region", name="What would change")
    row = preview.get_by_role("row").filter(has=page.get_by_role("link", name="ld_omar"))
    expect(row).to_contain_text(f"{before:,}")
    expect(row).to_contain_text(f"{expected:,}")
    expect(row.get_by_role("link", name="Omar Haddad ld_omar", exact=True)).to_be_visible()  # its name over its id
    assert seeded.score("ld_omar") == before  # a preview writes nothing
    admin.shot("scoring-preview", full_page=True)
    page.get_by_role("button", name="Save and rescore").click()
    # what the rescore did stays on the ruleset's card (the preview closes, a toast would go in seconds), with focus
    ruleset = next(r["name"] for r in seeded.call("GET", "/rulesets") if r["ruleset_id"] == seeded.ruleset_id)
    saved = page.get_by_role("region", name=ruleset, exact=True).get_by_test_id("rules-saved")
    expect(preview).to_be_hidden()
    expect(saved).to_have_text(re.compile(r"^Rules saved; [\d,]+ leads rescored, [\d,]+ scores? changed\. \(.+\)$"))
    expect(saved).to_have_attribute("role", "status")
    expect(saved).to_be_focused()
    assert seeded.score("ld_omar") == expected
    page.wait_for_timeout(4500)  # past a toast's life
    expect(saved).to_be_visible()
    admin.shot("scoring-saved")
    nav(page, "Leads")
    omar = page.get_by_role("row").filter(has=page.get_by_role("link", name=re.compile("ld_omar")))
    expect(omar).to_contain_text(f"{expected:,}")
    # back to the seeded weight, so the other tests see the seeded scores
    rule = next(r for r in seeded.call("GET", "/rules") if r["event_type"] == "pricing_page_view")
    seeded.call("PUT", f"/rules/{rule['rule_id']}", json={"weight": 8})
    seeded.call("POST", f"/rulesets/{seeded.ruleset_id}/rescore")


def test_new_event_appears_on_live_and_in_the_table_without_reload(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    nav(page, "Live")
    expect(page.get_by_text("● connected")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    ingest = {"lead_id": "ld_live_1", "event_type": "demo_request", "metadata": {"url": "/demo"}}
    assert httpx.post(seeded.server.base + "/ingest", json=ingest, headers=seeded.basic).status_code == 202
    feed = page.get_by_role("list", name="Live messages")
    expect(feed.get_by_role("listitem").filter(has_text="ld_live_1").filter(has_text="demo_request")).to_be_visible()
    expect(feed.get_by_role("listitem").filter(has_text="Score changes").filter(has_text="ld_live_1")).to_be_visible()
    # a burst from several leads; one crosses the milestone threshold and fires the seeded trigger
    burst = [{"lead_id": lead, "event_type": kind} for lead, kind in [
        ("ld_emma", "pricing_page_view"), ("ld_zoe", "webinar_attended"), ("ld_noah", "email_click"),
        ("ld_emma", "demo_request"), ("ld_mia", "page_view"), ("ld_lucas", "form_submit")]]
    assert httpx.post(seeded.server.base + "/ingest/batch", json={"events": burst},
                      headers=seeded.basic).status_code == 202
    expect(feed.get_by_role("listitem").filter(has_text="Triggers fired").filter(has_text="ld_emma")).to_be_visible()
    # each message names its lead over its id (the stream carries the name); a lead without one shows its id
    for kind in ("Events", "Score changes", "Triggers fired"):
        emma = feed.get_by_role("listitem").filter(has_text=kind).filter(has_text="ld_emma").first
        expect(emma.get_by_role("link", name="Emma Smith ld_emma", exact=True)).to_be_visible()
    expect(feed.get_by_role("listitem").filter(has_text="ld_live_1").first.get_by_role("link")).to_have_text("ld_live_1")
    admin.shot("live")
    page.get_by_role("button", name="Pause").click()
    shown = feed.get_by_role("listitem").count()
    assert httpx.post(seeded.server.base + "/ingest", json={"lead_id": "ld_mia", "event_type": "email_open"},
                      headers=seeded.basic).status_code == 202
    expect(page.get_by_role("status").filter(has_text=re.compile(r"Paused · [1-9]\d* new"))).to_be_visible()
    assert feed.get_by_role("listitem").count() == shown  # frozen while paused
    page.get_by_label("Score changes").uncheck()
    expect(feed.get_by_role("listitem").filter(has_text="Score changes")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(feed.get_by_role("listitem").filter(has_text="email_open").filter(has_text="ld_mia")).to_be_visible()
    nav(page, "Leads")
    page.get_by_label("Sort").select_option("recent")
    expect(page.get_by_role("row").filter(has_text="ld_live_1")).to_be_visible()
    ingest = {"lead_id": "ld_live_2", "event_type": "pricing_page_view"}
    assert httpx.post(seeded.server.base + "/ingest", json=ingest, headers=seeded.basic).status_code == 202
    expect(page.get_by_role("row").filter(has_text="ld_live_2")).to_contain_text("8")
    assert page.evaluate("window.notReloaded") is True


def test_deep_links_survive_a_reload(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/leads/ld_omar")
    expect(page.get_by_role("heading", name="Omar Haddad")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Omar Haddad")).to_be_visible()
    # the lead's page follows its new events without a reload
    before = seeded.score("ld_omar")
    assert httpx.post(seeded.server.base + "/ingest", json={"lead_id": "ld_omar", "event_type": "email_open"},
                      headers=seeded.basic).status_code == 202
    expect(page.get_by_test_id("lead-score")).to_have_text(f"{before + 2:,}")
    expect(page.get_by_role("table", name="Score ledger").locator("tbody tr").first).to_contain_text("email_open")
    page = admin.goto("/ui/scoring/levels")
    expect(page.get_by_role("region", name="Engagement levels")).to_contain_text("Warm")
    page.reload()
    expect(page.get_by_role("link", name="Levels")).to_have_attribute("aria-current", "page")
    page = admin.goto("/ui/leads?min_score=60&max_score=1000000000")
    expect(page.get_by_role("combobox", name="Level", exact=True)).to_have_value(re.compile("^lv_|^st_|.+"))
    page = admin.goto("/ui/no-such-screen")
    expect(page.get_by_text("No such page")).to_be_visible()


def test_the_leads_export_has_name_email_and_company_columns(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/leads?search=jane")
    expect(page.get_by_role("row").filter(has_text="Jane Doe")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert download.value.suggested_filename == "leads.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert list(rows[0])[:5] == ["lead_id", "name", "email", "company", "score"]
    jane = next(r for r in rows if r["name"] == "Jane Doe")
    assert (jane["lead_id"], jane["email"]) == ("ld_jane", "jane.doe@acme.com")
    lead = seeded.call("GET", "/leads/ld_jane")["lead"]
    assert jane["score"] == str(lead["score"]) and json.loads(jane["metadata"]) == lead["metadata"]
