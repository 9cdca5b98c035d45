"""Every screen, as each role sees it: no console errors, nothing fetched from another origin (checked by the
`watched` fixture after each test), a Viewer without write controls, the first run of an empty OU, a phone."""

from __future__ import annotations

import re
import shlex
import time

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import Watched, sign_in, submit_form
from tests.browser.data import Seeded

SCREENS = [
    ("/ui/", "Overview"), ("/ui/leads", "Leads"), ("/ui/leads/ld_li", "Li Wei"), ("/ui/live", "Live"),
    ("/ui/events", "Events"), ("/ui/events?tab=types", "Events"), ("/ui/scoring", "Scoring"),
    ("/ui/scoring/levels", "Scoring"), ("/ui/scoring/filters", "Scoring"), ("/ui/scoring/decay", "Scoring"),
    ("/ui/scoring/surge", "Scoring"), ("/ui/scoring/settings", "Scoring"), ("/ui/triggers", "Triggers"),
    ("/ui/triggers/sequences", "Triggers"), ("/ui/triggers/patterns", "Triggers"), ("/ui/triggers/surge", "Triggers"),
    ("/ui/triggers/fired", "Triggers"), ("/ui/triggers/deliveries", "Triggers"), ("/ui/settings", "Settings"),
    ("/ui/settings/units", "Settings"), ("/ui/settings/credentials", "Settings"),
    ("/ui/settings/integrations", "Settings"), ("/ui/settings/event-types", "Settings"),
    ("/ui/settings/import", "Settings"), ("/ui/settings/audit", "Settings"), ("/ui/settings/limits", "Settings"),
    ("/ui/settings/sample-data", "Settings"), ("/ui/segments", "Segments"), ("/ui/accounts", "Accounts"),
    ("/ui/scoring/fit", "Scoring"), ("/ui/scoring/accounts", "Scoring"),
]
DOC_SHOTS = {"/ui/events": "events", "/ui/triggers": "triggers", "/ui/triggers/deliveries": "deliveries",
             "/ui/settings/credentials": "settings-credentials", "/ui/settings/audit": "settings-audit",
             "/ui/scoring/levels": "scoring-levels", "/ui/scoring/accounts": "scoring-accounts"}


def test_every_screen_loads_without_errors(admin: Watched) -> None:
    page = admin.page
    for path, heading in SCREENS:
        admin.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        admin.settle()
        expect(page.locator(".state.error")).to_have_count(0)
        if path in DOC_SHOTS:
            admin.shot(DOC_SHOTS[path])
    requests = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert requests and all(r.startswith(admin.base) for r in requests)


def test_event_explanation_and_filters(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/events?event_type=demo_request")
    expected = seeded.call("GET", "/events", params={"event_type": "demo_request", "limit": 1})["total"]
    expect(page.get_by_text(f"{expected} events", exact=True)).to_be_visible()
    page.get_by_role("button", name="Explain score").first.click()
    dialog = page.get_by_role("dialog", name="Score explanation")
    expect(dialog).to_contain_text("demo_request")
    expect(dialog.get_by_role("cell", name="+40", exact=True)).to_be_visible()
    # the rule by what it scores, not by its id; the scope in words
    expect(dialog.get_by_role("cell", name="demo_request (+40)")).to_be_visible()
    expect(dialog).not_to_contain_text("rl_")
    expect(dialog).to_contain_text("processing: score and trigger")  # the words of Settings → Event types
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    page.get_by_label("Metadata key").fill("utm_campaign")
    page.get_by_label("Value", exact=True).fill("spring")
    page.get_by_role("button", name="Add filter").click()
    both = seeded.call("GET", "/events", params={"event_type": "demo_request", "metadata": "utm_campaign:spring"})
    expect(page.get_by_text(f"{both['total']} events", exact=True)).to_be_visible()


def test_the_events_lead_filter_takes_a_name_and_keeps_the_id_in_the_address(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/events")
    lead = page.get_by_label("Lead", exact=True)
    lead.fill("omar haddad")  # one lead has that name
    lead.press("Enter")
    expect(page).to_have_url(re.compile(r"lead_id=ld_omar\b"))
    omar = seeded.call("GET", "/events", params={"lead_id": "ld_omar", "limit": 1})["total"]
    expect(page.get_by_text(f"{omar} events", exact=True)).to_be_visible()
    lead.fill("no")  # Anna Nowak and Noah Kim: a choice, the list stays as it was
    lead.press("Enter")
    choices = page.get_by_role("group", name="Leads it could mean")
    expect(choices.get_by_role("button", name="Noah Kim ld_noah")).to_be_visible()
    expect(choices.get_by_role("button", name="Anna Nowak ld_anna")).to_be_visible()
    admin.shot("events-lead-choice")
    choices.get_by_role("button", name="Noah Kim ld_noah").click()
    expect(page).to_have_url(re.compile(r"lead_id=ld_noah\b"))
    noah = seeded.call("GET", "/events", params={"lead_id": "ld_noah", "limit": 1})["total"]
    expect(page.get_by_text(f"{noah} events", exact=True)).to_be_visible()
    expect(choices).to_be_hidden()
    page.go_back()  # Back returns to Omar's events, and the box says whose they are
    expect(page.get_by_text(f"{omar} events", exact=True)).to_be_visible()
    expect(lead).to_have_value("ld_omar")
    lead.fill("nobody at all")
    lead.press("Enter")
    expect(page.get_by_text("No lead matches “nobody at all”")).to_be_visible()
    expect(lead).to_have_attribute("aria-invalid", "true")
    lead.fill("")
    lead.press("Enter")
    expect(page).not_to_have_url(re.compile("lead_id="))


def test_event_types_read_by_their_name_whatever_each_event_spelled(admin: Watched, seeded: Seeded) -> None:
    seeded.call("POST", "/leads", json={"id": "ld_reader", "metadata": {"name": "Rita Reader"}})
    seeded.ingest([{"lead_id": "ld_reader", "event_type": "Whitepaper Download"}])  # the type's first spelling
    seeded.ingest([{"lead_id": "ld_reader", "event_type": "whitepaper-download"}])
    page = admin.goto("/ui/events?lead_id=ld_reader")
    rows = page.get_by_role("table", name="Events").locator("tbody tr")
    expect(rows).to_have_count(2)
    for row in rows.all():  # one name for the type, with the key rules and filters match as its tooltip
        name = row.get_by_text("Whitepaper Download", exact=True)
        expect(name).to_be_visible()
        expect(name).to_have_attribute("title", "Event type key: whitepaper_download")
    expect(page.get_by_role("table", name="Events")).not_to_contain_text("whitepaper-download")
    admin.goto("/ui/leads/ld_reader")
    expect(page.locator("dd").filter(has_text="just now")).to_contain_text("Whitepaper Download")  # last activity
    admin.goto("/ui/leads?search=rita")
    expect(page.get_by_role("row").filter(has_text="Rita Reader")).to_contain_text("Whitepaper Download")
    # a trigger's types too, however its conditions spelled them
    pattern = seeded.call("POST", "/triggers/patterns", json={
        "name": "Reads a lot", "window_seconds": 7, "window_unit": "days",
        "conditions": [{"event_type": "whitepaper_download", "min_count": 3}]})
    admin.goto("/ui/triggers/patterns")
    expect(page.get_by_role("row").filter(has_text="Reads a lot")).to_contain_text("3\u00d7 Whitepaper Download")
    seeded.call("DELETE", f"/triggers/patterns/{pattern['trigger_id']}")


def test_an_upside_down_band_is_refused_beside_its_field_before_sending(admin: Watched) -> None:
    page = admin.goto("/ui/scoring/levels")
    region = page.get_by_role("region", name="Engagement levels")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/levels/" in r.url else None)
    dialog = submit_form(page, region.get_by_role("button", name="New level"), "New level",
                         {"Name": "Upside down", "From score": "50", "To score (inclusive)": "10"}, "Create")
    # Said beside the field in the form's words, as the API would have refused it (a 400), and nothing sent.
    expect(dialog.locator(".field-error")).to_have_text("To score must not be below From score")
    expect(dialog.get_by_label("To score (inclusive)")).to_have_attribute("aria-invalid", "true")
    assert sent == []


def viewer_page(watched: Watched, seeded: Seeded) -> Page:
    members = seeded.call("GET", "/members")
    viewer = next((m for m in members if m["email"] == "viewer@example.com"), None)
    if viewer is None:
        viewer = seeded.call("POST", "/members", json={"first_name": "Vera", "last_name": "Viewer",
                                                       "email": "viewer@example.com", "password": "viewer-password-1"})
        seeded.call("POST", "/org-units/unit_default/memberships",
                    json={"org_member_id": viewer["org_member_id"], "role": "Viewer"})
    sign_in(watched.page, seeded.server.base, "viewer@example.com", "viewer-password-1")
    return watched.page


def test_viewer_sees_no_write_controls(watched: Watched, seeded: Seeded) -> None:
    page = viewer_page(watched, seeded)
    expect(page.get_by_text("Viewer", exact=True)).to_be_visible()
    writes = re.compile(r"^(New |Add (?!filter)|Delete|Edit|Merge|Save|Create|Rotate|Retry|Import|Make primary|"
                        r"Deactivate|Rename|Connect|Preview impact|Discard)")
    for path, heading in SCREENS:
        if "credentials" in path or "audit" in path or "import" in path:
            continue  # not offered to a Viewer at all (see below)
        watched.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        watched.settle()
        assert page.get_by_role("button", name=writes).count() == 0, path
        # nor links that invite them to write ("Edit levels", "Create a surge trigger")
        assert page.get_by_role("link", name=writes).all_inner_texts() == [], path
        assert page.locator("main input[type=checkbox], .page input[type=checkbox]").filter(
            has_not=page.locator("[disabled]")).evaluate_all(
            "els => els.filter(e => !e.disabled && !e.closest('fieldset.filters')).length") == 0, path
    watched.goto("/ui/leads/ld_li")
    expect(page.get_by_role("table", name="Score ledger")).to_be_visible()
    assert page.get_by_role("checkbox").count() == 0
    watched.goto("/ui/settings")
    tabs = page.get_by_role("navigation", name="Sections")
    for hidden in ("API credentials", "Import", "Audit log"):
        expect(tabs.get_by_role("link", name=hidden)).to_have_count(0)
    watched.goto("/ui/scoring")
    expect(page.get_by_role("table", name="Rules").get_by_role("textbox")).to_have_count(0)
    watched.shot("viewer-scoring")


def test_first_run_of_an_empty_ou(admin: Watched, seeded: Seeded) -> None:
    unit = seeded.call("POST", "/org-units", json={"name": "Newsletter"})
    page = admin.page
    page.reload()
    admin.use_ou("Newsletter")
    start = page.get_by_role("region", name="Start scoring leads in Newsletter")
    expect(start).to_be_visible()
    expect(start.get_by_role("button", name="Load sample data")).to_be_visible()
    admin.shot("first-run")
    start.get_by_role("button", name="Create starter rules").click()
    expect(start.get_by_role("link", name="Review rules")).to_be_visible()
    start.get_by_role("button", name="Create a credential and show the command").click()
    command = start.locator("pre").inner_text()
    assert "/ingest" in command and seeded.server.base in command
    # The command works as shown: run its request (the same URL, credential and body) and the page moves on.
    args = shlex.split(command.replace("\\\n", " "))
    user = args[args.index("-u") + 1].split(":")
    body = args[args.index("-d") + 1]
    r = httpx.post(args[3], auth=(user[0], user[1]), content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    expect(start).to_be_hidden(timeout=15_000)
    # The lead the command made is known by the email address it names.
    top = page.get_by_role("region", name="Top leads")
    expect(top.get_by_role("link", name=re.compile(r"^jane@example\.com ld_"))).to_have_count(1)
    rules = httpx.get(seeded.server.base + "/rules", headers={**seeded.headers, "X-OU-ID": unit["unit_id"]}).json()
    assert {r["event_type"] for r in rules} >= {"page_view", "demo_request"}


def test_readable_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, seeded.server.base)
    watched.goto("/ui/leads/ld_jane")
    expect(page.get_by_role("table", name="Score ledger")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling of the page
    page.get_by_role("button", name="Menu").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_visible()
    watched.shot("phone-leads")
    # screens whose card headers and tables used to push the page sideways
    for path, heading in (("/ui/scoring", "Scoring"), ("/ui/settings/credentials", "Settings"),
                          ("/ui/settings/units", "Settings"), ("/ui/events", "Events")):
        watched.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        watched.settle()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1, path


def test_keyboard_only(watched: Watched, seeded: Seeded) -> None:
    page = watched.goto("/ui/")
    page.get_by_label("Email").focus()
    page.keyboard.type("admin@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type("admin-password-1")
    page.keyboard.press("Enter")
    page.get_by_role("navigation", name="Main").wait_for()
    watched.goto("/ui/leads")
    page.get_by_label("Search").focus()
    page.keyboard.type("jane")
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(2)
    for _ in range(40):  # Tab through the filters to the lead's link
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent").strip().startswith("Jane Doe"):
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Jane Doe")).to_be_visible()
    page.get_by_role("button", name="Merge leads…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Merge leads into Jane Doe (ld_jane)")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Find a lead to merge in")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_the_merge_dialog_finds_leads_by_name_and_shows_them_by_name(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/leads/ld_jane")
    page.get_by_role("button", name="Merge leads…").click()
    dialog = page.get_by_role("dialog", name="Merge leads into Jane Doe (ld_jane)")
    dialog.get_by_label("Find a lead to merge in").fill("omar had")
    hits = dialog.get_by_role("list", name="Matching leads")
    expect(hits.get_by_role("button")).to_have_count(1)
    expect(hits.get_by_role("button")).to_contain_text("Omar Haddad ld_omar")
    admin.shot("merge-search")
    # Dropping the moved events older than a date asks for the date beside its field, before anything is sent.
    hits.get_by_role("button").click()
    dialog.get_by_label("Moved events").select_option(label="Drop those older than…")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/leads/merge" in r.url else None)
    dialog.get_by_role("button", name="Merge 1 lead").click()
    expect(dialog.locator("#merge-before-error")).to_have_text("Choose the date: events before it are dropped")
    expect(dialog.get_by_label("Drop events before")).to_have_attribute("aria-invalid", "true")
    assert sent == []
    page.keyboard.press("Escape")


def test_import_a_csv_grouped_by_lead(admin: Watched, seeded: Seeded) -> None:
    # The Import tab's upload with "Group each lead's rows": the request asks for by_lead, the answer counts the
    # rows and lists the refused one at its line, and the events are there afterwards.
    page = admin.goto("/ui/settings/import")
    rows = ["lead_id,event_type,timestamp", "ld_imp_b,csv_visit,2025-03-01T10:00:00Z",
            "ld_imp_a,csv_visit,2025-03-01T10:01:00Z", "ld_imp_b,,2025-03-01T10:02:00Z",
            "ld_imp_a,csv_visit,2025-03-01T10:03:00Z"]
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "history.csv", "mimeType": "text/csv", "buffer": ("\n".join(rows) + "\n").encode()}])
    page.get_by_label("Group each lead's rows").check()
    with page.expect_request(re.compile(r"/import\?by_lead=true$")):
        page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="events imported")).to_contain_text(
        "3 events imported, 1 row refused.")
    refused = page.get_by_role("table", name="Refused rows")
    expect(refused.get_by_role("cell", name="4", exact=True)).to_be_visible()
    expect(refused).to_contain_text("event_type")
    admin.shot("settings-import")
    deadline = time.monotonic() + 15
    while seeded.call("GET", "/events", params={"event_type": "csv_visit", "limit": 1})["total"] < 3:
        assert time.monotonic() < deadline, "the imported events were not stored"
        time.sleep(0.1)


def test_import_a_file_larger_than_one_upload(admin: Watched, seeded: Seeded) -> None:
    # Over the server's 10 MB per upload, the tab sends the file in parts it cuts itself (here grouped by lead):
    # every row is counted once, and a refused row is reported at its line in the file, not in its part.
    seeded.call("POST", "/org-units", json={"name": "History"})
    page = admin.page
    page.reload()
    admin.use_ou("History")
    admin.goto("/ui/settings/import")
    note = "x" * 4_000  # few rows, long ones: the parts are cut by size, and fewer rows import sooner
    rows = ["lead_id,event_type,timestamp,metadata"]
    rows += [f'ld_h{i % 900:04d},csv_history,2025-03-01T10:{i % 60:02d}:00Z,"{{""note"": ""{note}""}}"'
             for i in range(2_600)]
    rows[4] = "ld_zzz,,2025-03-01T10:00:00Z,"  # line 5 of the file; grouped by lead, the last row of the last part
    body = ("\n".join(rows) + "\n").encode()
    assert len(body) > 10 * 1024 * 1024
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if "/import" in r.url else None)
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "history.csv", "mimeType": "text/csv", "buffer": body}])
    page.get_by_label("Group each lead's rows").check()
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="events imported")).to_contain_text(
        "2,599 events imported, 1 row refused.", timeout=60_000)
    expect(page.get_by_role("table", name="Refused rows").get_by_role("cell", name="5", exact=True)).to_be_visible()
    assert len(sent) == 2 and all(url.endswith("/import") for url in sent), sent


def test_a_trigger_simulation_reads_once_and_stays_inside_its_dialog(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/triggers")
    row = page.get_by_role("row").filter(has_text="Hot lead for sales")
    row.get_by_role("button", name="Simulate").click()
    dialog = page.get_by_role("dialog", name="Simulate Hot lead for sales")
    dialog.get_by_role("button", name="Simulate").click()
    status = dialog.get_by_role("status")
    expect(status).to_contain_text("Would fire")
    assert status.inner_text().count("ould fire") == 1  # the outcome is said once
    # the matched leads by name over id
    trigger = next(t for t in seeded.call("GET", "/triggers/milestones") if t["name"] == "Hot lead for sales")
    sim = seeded.call("POST", f"/triggers/milestones/{trigger['trigger_id']}/simulate", json={"days": 30})
    first = sim["matched_leads"][0]
    expect(dialog.get_by_role("link", name=f"{sim['lead_names'][first]} {first}", exact=True)).to_be_visible()
    box = dialog.bounding_box()
    for link in dialog.get_by_role("link").all():
        edge = link.bounding_box()
        assert box and edge and edge["x"] + edge["width"] <= box["x"] + box["width"] + 1
    admin.shot("trigger-simulation")


def test_a_trigger_simulation_takes_a_lead_by_name(admin: Watched, seeded: Seeded) -> None:
    page = admin.goto("/ui/triggers")
    page.get_by_role("row").filter(has_text="Hot lead for sales").get_by_role("button", name="Simulate").click()
    dialog = page.get_by_role("dialog", name="Simulate Hot lead for sales")
    lead = dialog.get_by_label("Lead (empty: every lead)")
    lead.fill("jane doe")  # one lead has that name: simulated for it
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/simulate")) as simulated:
        dialog.get_by_role("button", name="Simulate").click()
    assert simulated.value.post_data_json["lead_id"] == "ld_jane"
    expect(dialog.get_by_role("status")).to_be_visible()
    lead.fill("nobody at all")
    dialog.get_by_role("button", name="Simulate").click()
    expect(dialog.get_by_role("alert")).to_contain_text("No lead matches “nobody at all”")


def test_an_import_lands_in_the_ou_on_screen_whatever_ou_the_browser_s_cookie_names(admin: Watched,
                                                                                    seeded: Seeded) -> None:
    # The API console (or any page of this origin) may have set the `activeOu` cookie, which the server takes over
    # X-OU-ID; the upload, which must carry the browser's cookies, goes to the OU the tab shows all the same.
    _, call = seeded.in_ou("Imports here")
    page = admin.page
    page.reload()
    page.evaluate("""async () => {
        const r = await fetch('/org-units/active', {method: 'POST', credentials: 'include', headers: {
            Authorization: 'Bearer ' + sessionStorage.getItem('leadvibe.token'), 'Content-Type': 'application/json'},
            body: JSON.stringify({ouId: 'unit_default'})});
        if (!r.ok) throw new Error('setting the cookie: ' + r.status);
    }""")
    admin.use_ou("Imports here")
    admin.goto("/ui/settings/import")
    page.get_by_label("CSV file").set_input_files(files=[{
        "name": "one.csv", "mimeType": "text/csv", "buffer": b"lead_id,event_type\nld_cookie,cookie_import_check\n"}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="imported")).to_contain_text("1 event imported")
    assert call("GET", "/events", params={"event_type": "cookie_import_check"})["total"] == 1
    assert seeded.call("GET", "/events", params={"event_type": "cookie_import_check"})["total"] == 0
