"""Trigger and level forms as a marketer fills them: what they type is checked before it is sent, the server's
refusals read in the form's words, the Fired tab shows every kind, and switched-off notifications say so."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import Watched, submit_form
from tests.browser.data import Seeded

CONDITIONS = re.compile(r"^Conditions:")
STEPS = re.compile(r"^Steps:")


def test_pattern_conditions_and_sequence_steps_are_checked_before_sending(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/triggers/patterns")
    page.get_by_role("button", name="New pattern").click()
    form = page.get_by_role("dialog", name="New pattern")
    form.get_by_label("Name").fill("Downloads a lot")
    form.get_by_label(CONDITIONS).fill("content_download three times")
    form.get_by_label("Within (amount)").fill("7")
    form.get_by_role("button", name="Create").click()
    expect(form.get_by_text("is not an event type and a count: write it as content_download:3")).to_be_visible()
    expect(form.get_by_label(CONDITIONS)).to_be_focused()
    assert not [t for t in seeded.call("GET", "/triggers/patterns") if t["name"] == "Downloads a lot"]
    # A type the OU never received is a warning: the pattern is still saved.
    form.get_by_label(CONDITIONS).fill("pricing_page_view:2, content_downlaod")
    expect(form.get_by_role("status").filter(has_text="No event of type “content_downlaod” arrived")).to_be_visible()
    admin.shot("pattern-conditions-warning")
    form.get_by_role("button", name="Create").click()
    expect(form).to_be_hidden()
    saved = [t for t in seeded.call("GET", "/triggers/patterns") if t["name"] == "Downloads a lot"]
    assert [(c["event_type"], c["min_count"]) for c in saved[0]["conditions"]] == [
        ("pricing_page_view", 2), ("content_downlaod", 1)]
    seeded.call("DELETE", f"/triggers/patterns/{saved[0]['trigger_id']}")

    admin.goto("/ui/triggers/sequences")
    form = submit_form(page, page.get_by_role("button", name="New sequence"), "New sequence",
                       {"Name": "Pricing then demo", "Within (amount)": "7"}, "Create")
    expect(form.get_by_text("Steps are required")).to_be_visible()
    expect(form.get_by_label(STEPS)).to_be_focused()
    form.get_by_label(STEPS).fill("Pricing Page View; Demo Request")
    form.get_by_role("button", name="Create").click()
    nowhere = "A sequence needs a webhook URL or email recipients"
    for field in ("webhook_url", "emails"):  # beside both fields
        expect(form.locator(f"#config-{field}-error")).to_have_text(nowhere)
    expect(form.get_by_label("Webhook URL")).to_be_focused()
    admin.shot("sequence-needs-destination")
    form.get_by_label("Email recipients").fill("sales@example.com")
    form.get_by_role("button", name="Create").click()
    expect(form).to_be_hidden()
    saved = [t for t in seeded.call("GET", "/triggers/sequences") if t["name"] == "Pricing then demo"]
    assert len(saved[0]["event_steps"]) == 2
    seeded.call("DELETE", f"/triggers/sequences/{saved[0]['trigger_id']}")


def test_a_surge_trigger_with_two_destinations_is_refused_beside_them(admin: Watched) -> None:
    page = admin.goto("/ui/triggers/surge")
    sent = []
    page.on("request", lambda r: sent.append(r) if r.method == "POST" and r.url.endswith("/surge-triggers") else None)
    form = submit_form(page, page.get_by_role("button", name="New surge trigger"), "New surge trigger",
                       {"At least (events)": "5", "Within (amount)": "10", "Webhook URL": "https://hooks.example.com/a",
                        "Email recipients": "sales@example.com"}, "Create")
    both = "A surge trigger sends to one destination: keep the webhook URL or the email recipients, not both"
    for field in ("webhook_url", "emails"):  # beside both fields, in view, before anything is sent
        expect(form.locator(f"#config-{field}-error")).to_have_text(both)
    expect(form.get_by_label("Webhook URL")).to_be_focused()
    expect(form.locator("#config-webhook_url-error")).to_be_in_viewport()
    assert sent == []
    admin.shot("surge-two-destinations")
    form.get_by_label("Webhook URL").fill("")
    form.get_by_label("Email recipients").fill("")
    form.get_by_role("button", name="Create").click()
    expect(form.locator("#config-emails-error")).to_have_text("A surge trigger needs a webhook URL or email recipients")
    assert sent == []


def test_a_refusal_names_fields_as_the_form_labels_them_and_shows_in_view(admin: Watched) -> None:
    # A refusal the form cannot check first (here the server's own, answered for the test) goes under the form,
    # which is taller than the dialog: it is brought into view and focused, so Create never looks dead.
    page = admin.goto("/ui/triggers/surge")
    page.route("**/surge-triggers", lambda route: route.fulfill(
        status=400, content_type="application/json",
        body='{"error": "a surge trigger needs exactly one destination: `webhook_url` or `emails`"}')
        if route.request.method == "POST" else route.continue_())
    admin.expected_failures.append("/surge-triggers")
    form = submit_form(page, page.get_by_role("button", name="New surge trigger"), "New surge trigger",
                       {"At least (events)": "5", "Within (amount)": "10", "Email recipients": "sales@example.com"},
                       "Create")
    alert = form.get_by_role("alert")
    expect(alert).to_have_text("A surge trigger needs exactly one destination: webhook URL or email recipients")
    expect(alert).not_to_contain_text("`")
    expect(alert).to_be_in_viewport()
    expect(alert).to_be_focused()


def test_a_sequence_reads_its_steps_in_order_only_when_it_asks_for_one(admin: Watched, seeded: Seeded) -> None:
    made = [seeded.call("POST", "/triggers/sequences", json={
        "name": name, "event_types": ["pricing_page_view", "demo_request"], "window_seconds": 7,
        "window_unit": "days", "ordered": ordered, "emails": ["sales@example.com"]})
        for name, ordered in (("In order", True), ("Any order", False))]
    page = admin.goto("/ui/triggers/sequences")
    rows = page.get_by_role("row")
    # each type by its name in the OU, whatever it is
    expect(rows.filter(has_text="In order")).to_contain_text(re.compile(r"pricing.page.view → demo.request", re.I))
    expect(rows.filter(has_text="Any order")).to_contain_text(re.compile(r"pricing.page.view \+ demo.request", re.I))
    expect(rows.filter(has_text="Any order")).not_to_contain_text("→")
    for t in made:
        seeded.call("DELETE", f"/triggers/sequences/{t['trigger_id']}")


def test_the_fired_tab_shows_all_kinds_and_names_surge_leads(admin: Watched, seeded: Seeded) -> None:
    surge = seeded.call("POST", "/surge-triggers", json={"threshold_count": 2, "window_seconds": 10,
                                                         "window_unit": "minutes", "emails": ["ops@example.com"]})
    try:
        seeded.ingest([{"lead_id": "ld_zoe", "event_type": "page_view"} for _ in range(3)])
        page = admin.goto("/ui/triggers/fired")
        expect(page.get_by_label("Kind")).to_have_value("all")
        table = page.get_by_role("table", name="Fired triggers")
        row = table.get_by_role("row").filter(has_text="Surge: 2 events in 10 minutes").first
        expect(row).to_contain_text("Zoe Dubois", timeout=20_000)
        admin.shot("fired-all-kinds")
        page.get_by_label("Kind").select_option("milestones")
        expect(table.get_by_role("row").filter(has_text="Surge:")).to_have_count(0)
    finally:
        seeded.call("DELETE", f"/surge-triggers/{surge['trigger_id']}")


def test_all_kinds_page_through_the_firings_merged_by_time(admin: Watched, seeded: Seeded) -> None:
    surge = seeded.call("POST", "/surge-triggers", json={"threshold_count": 2, "window_seconds": 10,
                                                         "window_unit": "minutes", "emails": ["ops@example.com"]})
    try:
        # Thirty leads surge, beside the milestone firings the OU already has: more than a page of all kinds.
        seeded.ingest([{"lead_id": f"ld_pager_{i:02d}", "event_type": "page_view"}
                       for i in range(30) for _ in range(3)])
        listed = [seeded.call("GET", path, params={"limit": 500})
                  for path in ("/triggers/milestones/events", "/triggers/sequences/events", "/surge-events")]
        # Surges at the event that made the count, which /surge-events lists them by; each kind's order kept on ties.
        firings = [(r["fired_at"], r["lead_id"]) for r in listed[0] + listed[1]]
        firings += [(r["occurred_at"], r["lead_id"]) for r in listed[2]]
        merged = [lead for _, lead in sorted(firings, key=lambda f: datetime.fromisoformat(f[0]), reverse=True)]
        assert listed[0] and len(merged) > 25, (len(listed[0]), len(merged))  # milestones among them

        page = admin.goto("/ui/triggers/fired")
        table = page.get_by_role("table", name="Fired triggers")
        leads = table.locator("tbody a.name-over-id")
        following = page.get_by_role("button", name="Next")
        shown: list[str] = []
        for start in range(0, len(merged), 25):
            if start:
                following.click()
            expect(page.get_by_text(f"Page {start // 25 + 1}", exact=True)).to_be_visible()
            expect(leads).to_have_count(min(25, len(merged) - start))
            hrefs = leads.evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
            shown += [unquote(h.rsplit("/leads/", 1)[1]) for h in hrefs]
        assert shown == merged  # newest first across the kinds, each firing once
        expect(following).to_be_disabled()
    finally:
        seeded.call("DELETE", f"/surge-triggers/{surge['trigger_id']}")


def test_sample_triggers_say_their_webhook_is_off(admin: Watched, seeded: Seeded) -> None:
    unit = seeded.call("POST", "/org-units", json={"name": "Sample triggers"})
    headers = {**seeded.headers, "X-OU-ID": unit["unit_id"]}
    r = httpx.post(seeded.server.base + "/admin/seed", headers=headers, json={}, timeout=60)
    assert r.status_code < 300, r.text
    try:
        admin.page.reload()  # the picker lists the new OU
        page = admin.use_ou("Sample triggers")
        admin.goto("/ui/triggers")
        row = page.get_by_role("row").filter(has_text="Demo: lead turns hot")
        expect(row).to_contain_text("webhook (off)")
        admin.shot("sample-triggers-off")
    finally:
        seeded.wait_scored(60)
        r = httpx.post(seeded.server.base + "/admin/wipe", headers=headers, json={})
        assert r.status_code < 300, r.text


def test_a_level_overlapping_another_is_warned_beside_its_range(admin: Watched) -> None:
    page = admin.goto("/ui/scoring/levels")
    engagement = page.get_by_role("region", name="Engagement levels")
    engagement.get_by_role("button", name="New level").click()
    form = page.get_by_role("dialog", name="New level")
    form.get_by_label("Name").fill("Lukewarm")
    form.get_by_label("From score").fill("50")
    form.get_by_label("To score").fill("70")
    expect(form.get_by_role("status")).to_have_text("Overlaps “Warm” (20 \u2013 59) and “Hot” (60 and above): "
                                                    "a score in more than one band gets the level that starts lowest")
    admin.shot("level-overlap-warning")
    page.keyboard.press("Escape")


def test_a_rule_for_a_type_no_event_brought_is_warned_beside_it(admin: Watched) -> None:
    page = admin.goto("/ui/scoring")
    page.get_by_role("button", name="Add rule").click()
    rows = page.get_by_role("table", name="Rules").locator("tbody tr")
    typed = rows.last.get_by_role("combobox")
    typed.fill("pricing_veiw")
    warning = rows.last.get_by_role("status")
    expect(warning).to_have_text("No event of type “pricing_veiw” arrived in this OU yet: check the spelling "
                                 "(saving still works)")
    expect(typed).to_have_attribute("aria-describedby", re.compile("type-warning"))
    typed.fill("Page View")  # a type that arrived, in another spelling
    expect(warning).to_be_hidden()
    # the stored rules name types as they were written: none of them is warned about
    expect(rows.get_by_role("status")).to_have_count(0)
    page.get_by_role("button", name="Discard").click()
