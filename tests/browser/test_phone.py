"""The dashboard on a phone (390 by 844 pixels): nothing scrolls sideways, neither the page nor a table inside it; wide
tables read as one card per row; the Leads and Events filters fold away so the list shows on the first screen."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded
from tests.browser.test_screens import viewer_page

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def sideways(page: Page, within: str = "main") -> list[str]:
    """What scrolls sideways: the page itself, or any element (a table's wrapper, a code block) inside `within` (a
    selector: the screen, or an open dialog). A tab strip is one line that scrolls on purpose: `one_line` checks it."""
    found: list[str] = page.evaluate(
        """(within) => {
          const out = [];
          const doc = document.documentElement;
          if (doc.scrollWidth > window.innerWidth) out.push(`page ${doc.scrollWidth}/${window.innerWidth}`);
          for (const el of document.querySelectorAll(`${within} *`)) {
            if (el.matches('nav.tabs')) continue;
            const style = getComputedStyle(el);
            if (el.scrollWidth > el.clientWidth + 1 && /auto|scroll/.test(style.overflowX) && el.clientWidth > 0)
              out.push(`${el.tagName.toLowerCase()}.${el.className} ${el.scrollWidth}/${el.clientWidth}`);
          }
          return out;
        }""",
        within,
    )
    return found


def sticking_out(page: Page) -> list[str]:
    """Visible elements whose right edge passes their card's padding (text or a form wider than the card)."""
    found: list[str] = page.evaluate(
        """() => {
          const out = [];
          for (const body of document.querySelectorAll('main .card-body, main .card-head')) {
            const edge = body.getBoundingClientRect().right - parseFloat(getComputedStyle(body).paddingRight);
            for (const el of body.querySelectorAll('*')) {
              const box = el.getBoundingClientRect();
              if (!box.width || el.closest('.table-wrap, pre, dialog')) continue;
              if (box.right > edge + 1) out.push(`${el.tagName.toLowerCase()}.${el.className} ${box.right}>${edge}`);
            }
          }
          return out;
        }"""
    )
    return found


def across_the_screen(locator: Locator) -> None:
    """`locator` lies between the window's left and right edges (however far down the page it is)."""
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box


def filter_field(page: Page, label: str) -> Locator:
    """A filter by its label (a select's accessible name also holds its options)."""
    return page.get_by_label(re.compile(rf"^{label}\b"))


def on_phone(watched: Watched, seeded: Seeded, path: str) -> Page:
    """Signed in on a phone-sized window, at `path`."""
    page = watched.page
    page.set_viewport_size(PHONE)
    sign_in(page, seeded.server.base)
    watched.goto(path)
    return page


def test_the_score_ledger_reads_as_cards_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/leads/ld_jane")
    ledger = page.get_by_role("table", name="Score ledger")
    expect(ledger).to_be_visible()
    watched.settle()
    assert sideways(page) == []
    # each event is a card inside the screen: its date, its points and the score it left all visible at once
    first = ledger.locator("tbody tr").first
    for name in ("Select", "page_view", "+1", "Score after"):
        across_the_screen(first.get_by_role("cell", name=re.compile(f"^{re.escape(name)}")).first)
    expect(ledger.get_by_test_id("ledger-score")).to_have_text(f"{seeded.score('ld_jane'):,}")
    first.scroll_into_view_if_needed()
    watched.shot("phone-ledger")


def test_the_rules_editor_fits_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/scoring")
    rules = page.get_by_role("table", name="Rules")
    expect(rules.get_by_label("Event type of rule 1")).to_be_visible()
    watched.settle()
    assert sideways(page) == []
    page.get_by_role("heading", name="Default", exact=True).scroll_into_view_if_needed()
    watched.shot("phone-rules")
    page.get_by_label("Limit rules to dates").check()
    expect(rules.get_by_label("Rule page_view active from")).to_be_visible()
    assert sideways(page) == []
    for label in ("Event type of rule 1", "Points for page_view", "Rule page_view active", "Remove rule page_view",
                  "Rule page_view active until"):
        across_the_screen(rules.get_by_label(label, exact=True))
    # the preview of a change reads as cards too (nothing is saved: Discard)
    page.get_by_label("Limit rules to dates").uncheck()
    rules.get_by_label("Points for page_view").fill("3")
    page.get_by_role("button", name="Preview impact").click()
    preview = page.get_by_role("region", name="What would change")
    changes = preview.get_by_role("table", name="Leads whose score would change")
    expect(changes.locator("tbody tr").first).to_be_visible()
    assert sideways(page) == [] and sticking_out(page) == []
    across_the_screen(preview.get_by_role("button", name="Save and rescore"))
    across_the_screen(changes.locator("tbody tr").first.get_by_role("cell").nth(3))
    watched.shot("phone-rules-preview")
    preview.get_by_role("button", name="Close preview").click()
    page.get_by_role("button", name="Discard").click()


def test_the_leads_filters_fold_behind_one_button_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/leads")
    leads = page.get_by_role("table", name="Leads")
    rows = leads.locator("tbody tr")
    expect(rows.first).to_be_visible()
    watched.settle()
    assert sideways(page) == []
    # the first screen shows leads, not a wall of filters
    expect(rows.first).to_be_in_viewport(ratio=1)
    expect(rows.nth(3)).to_be_in_viewport(ratio=1)
    toggle = page.get_by_role("button", name="Filters")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(filter_field(page, "Level")).to_be_hidden()
    expect(page.get_by_label("Search")).to_be_visible()
    toggle.click()
    expect(filter_field(page, "Level")).to_be_visible()
    filter_field(page, "Level").select_option(label="Hot")
    filter_field(page, "Last active").select_option(label="Last 30 days")
    expect(toggle).to_have_text("Filters (2)")
    watched.shot("phone-leads-filters")
    toggle.click()
    expect(filter_field(page, "Level")).to_be_hidden()
    expect(rows.first).to_be_in_viewport(ratio=1)
    expect(rows.first).to_contain_text("Hot")
    # the count comes back with the address (Back, a reload)
    page.reload()
    expect(page.get_by_role("button", name="Filters (2)")).to_be_visible()
    page.get_by_role("button", name="Filters (2)").click()
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_role("button", name="Filters", exact=True)).to_be_visible()


def test_the_events_filters_fold_behind_one_button_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/events")
    cards = page.get_by_role("table", name="Events").locator("tbody tr")
    expect(cards.first).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    # the first screen shows events, not a wall of filters: the first card starts in its upper half, three fit whole
    first = cards.first.bounding_box()
    assert first is not None and first["y"] < PHONE["height"] / 2, first
    expect(cards.nth(2)).to_be_in_viewport(ratio=1)
    toggle = page.get_by_role("button", name="Filters")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    for label in ("Event type", "Time", "Metadata key"):
        expect(filter_field(page, label)).to_be_hidden()
    # the lead box stays out, on the button's line
    lead = page.get_by_label("Lead", exact=True)
    expect(lead).to_be_visible()
    lead_box, toggle_box = lead.bounding_box(), toggle.bounding_box()
    assert lead_box is not None and toggle_box is not None
    assert abs((lead_box["y"] + lead_box["height"]) - (toggle_box["y"] + toggle_box["height"])) <= 2
    across_the_screen(toggle)

    toggle.click()
    filter_field(page, "Event type").select_option("demo_request")
    page.get_by_label("Metadata key").fill("utm_campaign")
    page.get_by_label("Value", exact=True).fill("spring")
    page.get_by_role("button", name="Add filter").click()
    expected = seeded.call("GET", "/events", params={"event_type": "demo_request", "metadata": "utm_campaign:spring",
                                                    "limit": 1})["total"]
    expect(page.get_by_text(f"{expected} events", exact=True)).to_be_visible()
    expect(toggle).to_have_text("Filters (2)")
    assert sideways(page) == [] and sticking_out(page) == []
    for label in ("Event type", "Time", "Metadata key"):
        across_the_screen(filter_field(page, label))
    watched.shot("phone-events-filters")
    toggle.click()
    expect(filter_field(page, "Event type")).to_be_hidden()
    expect(page.get_by_role("button", name="Remove filter utm_campaign:spring")).to_be_hidden()
    expect(cards.first).to_be_in_viewport(ratio=1)
    expect(cards.first).to_contain_text("demo_request")
    expect(cards.first).to_contain_text("utm_campaign: spring")
    # the count comes back with the address (Back, a reload)
    page.reload()
    toggle = page.get_by_role("button", name="Filters (2)")
    expect(toggle).to_be_visible()
    toggle.click()
    filter_field(page, "Time").select_option(label="Last 90 days")
    expect(page.get_by_role("button", name="Filters (3)")).to_be_visible()
    page.get_by_role("button", name="Remove filter utm_campaign:spring").click()
    filter_field(page, "Event type").select_option("")
    filter_field(page, "Time").select_option(label="All time")
    expect(page.get_by_role("button", name="Filters", exact=True)).to_be_visible()


def test_the_key_figures_sit_two_by_two_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/")
    figures = page.get_by_role("region", name="Key figures").locator(".kpi")
    expect(figures).to_have_count(4)
    for i in range(4):
        expect(figures.nth(i)).to_be_in_viewport(ratio=1)
    expect(page.get_by_role("heading", name="Leads by engagement level")).to_be_in_viewport()
    assert sideways(page) == []
    watched.shot("phone-overview")


def test_the_leads_and_events_filters_stay_open_on_a_desktop(admin: Watched) -> None:
    page = admin.page
    page.set_viewport_size(DESKTOP)
    admin.goto("/ui/leads")
    expect(page.get_by_role("table", name="Leads").locator("tbody tr").first).to_be_visible()
    expect(page.get_by_role("button", name="Filters")).to_be_hidden()
    for label in ("Level", "Min score", "Fit level", "Last active", "Sort"):
        expect(filter_field(page, label)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Last activity")).to_be_visible()
    assert sideways(page) == []
    admin.goto("/ui/events")
    expect(page.get_by_role("table", name="Events").locator("tbody tr").first).to_be_visible()
    expect(page.get_by_role("button", name="Filters")).to_be_hidden()
    for label in ("Event type", "Lead", "Time", "Metadata key", "Value"):
        expect(filter_field(page, label)).to_be_visible()


# Every screen whose tables read as cards on a phone.
CARD_SCREENS = [
    ("/ui/events", "Events"), ("/ui/events?tab=types", "Events"), ("/ui/settings/event-types", "Settings"),
    ("/ui/settings/integrations", "Settings"), ("/ui/accounts", "Accounts"), ("/ui/triggers", "Triggers"),
    ("/ui/triggers/sequences", "Triggers"),
    ("/ui/triggers/fired", "Triggers"), ("/ui/triggers/deliveries", "Triggers"), ("/ui/scoring/levels", "Scoring"),
    ("/ui/scoring/fit", "Scoring"), ("/ui/scoring/accounts", "Scoring"), ("/ui/scoring/filters", "Scoring"),
    ("/ui/scoring/decay", "Scoring"), ("/ui/settings", "Settings"), ("/ui/settings/units", "Settings"),
    ("/ui/settings/credentials", "Settings"), ("/ui/settings/audit", "Settings"),
]


def test_lists_read_as_cards_without_sideways_scrolling_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/")
    for path, heading in CARD_SCREENS:
        watched.goto(path)
        expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
        watched.settle()
        assert sideways(page) == [], path
        assert sticking_out(page) == [], path
    # an account's leads, as on Leads
    watched.goto("/ui/accounts")
    page.get_by_role("table", name="Accounts").locator("tbody a.acct").first.click()
    expect(page.get_by_role("table", name="Leads of the account")).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    # a list's buttons stay on the screen: a milestone's Edit, a delivery's status
    watched.goto("/ui/triggers")
    across_the_screen(page.get_by_role("button", name="Edit").first)
    watched.goto("/ui/triggers/deliveries")
    across_the_screen(page.get_by_role("table", name="Deliveries").locator("tbody .badge").first)


def test_events_and_their_types_read_as_cards_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/events?event_type=demo_request")
    events = page.get_by_role("table", name="Events")
    # a seeded event, with a campaign (other tests send demo requests without one, which may come first)
    first = events.locator("tbody tr").filter(has_text="utm_campaign").first
    expect(first).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    # each event is a card: what happened, to whom and when, its campaign, and the button that explains its score
    for cell in (first.get_by_role("cell", name=re.compile("^demo_request")), first.locator(".lead-name"),
                 first.get_by_role("cell", name=re.compile("utm_campaign")),
                 first.get_by_role("button", name="Explain score"), first.get_by_label(re.compile("^Select event"))):
        across_the_screen(cell)
    # the head row is hidden, but "select all" stays for deleting a page of events
    select_all = page.get_by_label("Select all events on this page")
    across_the_screen(select_all)
    select_all.check()
    expect(page.get_by_role("button", name=re.compile(r"^Delete \d+ selected"))).to_be_visible()
    select_all.uncheck()
    watched.shot("phone-events")

    # the score explanation: one card per ruleset inside the dialog, nothing to scroll sideways
    first.get_by_role("button", name="Explain score").click()
    dialog = page.get_by_role("dialog", name="Score explanation")
    rulesets = dialog.get_by_role("table")
    expect(rulesets.get_by_role("cell", name="demo_request (+40)")).to_be_visible()
    assert sideways(page, "dialog[open]") == []
    for text in ("+40", "demo_request (+40)"):
        across_the_screen(rulesets.get_by_role("cell", name=text, exact=True))
    across_the_screen(rulesets.get_by_role("cell", name=re.compile("→")))
    watched.shot("phone-explanation")
    page.keyboard.press("Escape")

    watched.goto("/ui/events?tab=types")
    types = page.get_by_role("table", name="Event types")
    row = types.get_by_role("row", name=re.compile("demo_request"))
    expect(row).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    for control in (row.get_by_role("checkbox"), row.get_by_role("combobox"),
                    row.get_by_role("button", name="Delete events")):
        across_the_screen(control)
    watched.shot("phone-event-types")


def test_a_viewers_event_cards_start_at_the_cards_edge(watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.set_viewport_size(PHONE)
    viewer_page(watched, seeded)
    watched.goto("/ui/events")
    first = page.get_by_role("table", name="Events").locator("tbody tr").first
    expect(first).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    # no checkboxes to select events with, and no empty column where they would be
    expect(page.get_by_text("All on this page")).to_be_hidden()
    card, kind = first.bounding_box(), first.locator("td.type").bounding_box()
    assert card is not None and kind is not None
    assert kind["x"] - card["x"] <= 13, (card, kind)  # the card's own padding (12 px), nothing more


def one_line(page: Page, name: str) -> Locator:
    """The tab strip `name` holds its links on one line, and its open section's link lies inside the strip and the
    screen; the strip."""
    strip = page.get_by_role("navigation", name=name, exact=True)
    expect(strip.get_by_role("link").first).to_be_visible()
    tops = strip.get_by_role("link").evaluate_all("as => as.map((a) => Math.round(a.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, tops
    current = strip.locator("[aria-current=page]")
    box, edges = current.bounding_box(), strip.bounding_box()
    assert box is not None and edges is not None
    assert box["x"] >= edges["x"] - 1 and box["x"] + box["width"] <= edges["x"] + edges["width"] + 1, (box, edges)
    return strip


def test_tab_strips_take_one_line_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/settings")
    # the last sections sit past the screen's right edge: opening one scrolls it into view
    for path, name, current in (("/ui/settings", "Settings sections", "Members"),
                                ("/ui/settings/limits", "Settings sections", "Usage and limits"),
                                ("/ui/scoring/surge", "Scoring sections", "Surge")):
        watched.goto(path)
        expect(page.get_by_role("navigation", name=name).get_by_role("link", name=current)).to_have_attribute(
            "aria-current", "page")
        watched.settle()
        strip = one_line(page, name)
        across_the_screen(strip.locator("[aria-current=page]"))
        assert sideways(page) == [], path
        # the side with more sections past the screen's edge fades out: the sign that the strip scrolls
        assert "gradient" in strip.evaluate("s => getComputedStyle(s).maskImage"), path
    watched.shot("phone-scoring-tabs")
    # a tap on a section in sight opens it without the strip jumping under the finger
    strip = page.get_by_role("navigation", name="Scoring sections")
    scrolled = strip.evaluate("s => s.scrollLeft")
    assert scrolled > 0
    strip.get_by_role("link", name="Decay").click()
    expect(page).to_have_url(re.compile(r"/ui/scoring/decay$"))
    expect(strip.get_by_role("link", name="Decay")).to_have_attribute("aria-current", "page")
    one_line(page, "Scoring sections")
    assert strip.evaluate("s => s.scrollLeft") == scrolled


def test_tab_strips_stay_a_plain_row_on_a_desktop(admin: Watched) -> None:
    page = admin.page
    page.set_viewport_size(DESKTOP)
    for path, name in (("/ui/settings/limits", "Settings sections"), ("/ui/scoring/surge", "Scoring sections")):
        admin.goto(path)
        strip = one_line(page, name)
        # a plain row of links: nothing scrolls, so no scroll bar and no clipped focus ring
        assert strip.evaluate("s => [getComputedStyle(s).overflowX, getComputedStyle(s).maskImage]") == [
            "visible", "none"], path


def words_in_order(container: Locator, selector: str) -> list[str]:
    """What is wrong with how the text of each `selector` inside `container` is laid out: a word broken over two
    lines, or a word placed before the one it follows (a later line, or further right on the same one)."""
    found: list[str] = container.evaluate(
        """(root, selector) => {
          const out = [];
          for (const el of root.querySelectorAll(selector)) {
            const words = [];
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              for (const m of node.data.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const rects = [...range.getClientRects()].filter((r) => r.width > 0);
                if (rects.length !== 1) out.push(`"${m[0]}" in ${rects.length} pieces`);
                if (rects.length) words.push({ word: m[0], box: rects[0] });
              }
            }
            for (let i = 1; i < words.length; i++) {
              const [a, b] = [words[i - 1], words[i]];
              const sameLine = Math.abs(a.box.top - b.box.top) < a.box.height / 2;
              if (sameLine ? b.box.left < a.box.right - 1 : b.box.top < a.box.bottom - 1)
                out.push(`"${b.word}" placed before "${a.word}"`);
            }
          }
          return out;
        }""",
        selector,
    )
    return found


def test_a_level_within_other_bands_says_so_beside_its_bar_on_a_phone(watched: Watched, seeded: Seeded) -> None:
    # "Sales ready" lies within Hot, which starts lower and so gets all its scores: the funnel says so in words,
    # which wrap in the level's column instead of running under the bar ("within / oth / bands").
    unit, call = seeded.in_ou("Levels on a phone")
    call("POST", "/rules", json={"event_type": "demo_request", "weight": 60})
    for name, low, high in (("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, 1_000_000_000), ("Sales ready", 70, 100)):
        call("POST", "/levels/engagement", json={"name": name, "min_score": low, "max_score": high})
    call("POST", "/ingest/batch", json={"events": [{"lead_id": "ld_phone_hot", "event_type": "demo_request"}]})
    seeded.wait_scored()
    page = on_phone(watched, seeded, "/ui/")
    watched.use_ou(unit["name"])
    funnel = page.get_by_role("region", name="Leads by engagement level")
    expect(funnel.get_by_role("listitem").filter(has_text="Sales ready")).to_contain_text("within other bands")
    expect(funnel.get_by_role("listitem").filter(has_text="Hot")).to_contain_text("60+")
    watched.settle()
    # Each level's name and range stay left of its bar, their words whole and in order.
    clashes: list[str] = funnel.evaluate(
        """(root) => [...root.querySelectorAll('ul.bars > li')].flatMap((li) => {
          const bar = li.querySelector('.bar').getBoundingClientRect();
          return [...li.querySelectorAll('.bar-label, .bar-label > *')]
            .filter((el) => el.getBoundingClientRect().right > bar.left + 0.5)
            .map((el) => `${li.textContent.trim()}: ${el.className} ends at ${el.getBoundingClientRect().right},`
              + ` the bar starts at ${bar.left}`);
        })"""
    )
    assert clashes == [], clashes
    assert words_in_order(funnel, ".bar-label") == []
    assert sideways(page) == []
    watched.shot("phone-levels-within-other-bands")


def test_the_surge_policy_and_its_bands_fit_a_phone(watched: Watched, seeded: Seeded) -> None:
    # Two band inputs at their own width made the bands table, and with it the whole form, wider than a phone: its
    # settings took two columns of a page 521 px wide, and the remove buttons were off the screen.
    page = on_phone(watched, seeded, "/ui/scoring/surge")
    page.get_by_label("Mode").select_option("custom")  # nothing is saved
    bands = page.get_by_role("table", name="Bands")
    expect(bands.get_by_label("Band 3 multiplier")).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    for label in ("Mode", "Session ends after idle (minutes)", "Multiplier cap"):
        across_the_screen(page.get_by_label(label))
    for label in ("Band 3 from event", "Band 3 multiplier", "Remove band 3"):
        across_the_screen(bands.get_by_label(label))
    across_the_screen(page.get_by_role("button", name="Save surge policy"))
    watched.shot("phone-surge-bands")
    # On a desktop the three settings still share one row.
    page.set_viewport_size(DESKTOP)
    tops = [(page.get_by_label(label).bounding_box() or {"y": -100})["y"]
            for label in ("Mode", "Session ends after idle (minutes)", "Multiplier cap")]
    assert max(tops) - min(tops) < 4, tops  # a select and an input differ by a pixel
    assert sideways(page) == []


def test_the_import_check_boxes_keep_their_size_and_their_sentence_in_order_on_a_phone(
        watched: Watched, seeded: Seeded) -> None:
    page = on_phone(watched, seeded, "/ui/settings/import")
    group = page.get_by_role("checkbox", name=re.compile(r"^Group each lead's rows"))
    expect(group).to_be_visible()
    checks = page.locator("main label.check")
    expect(checks).to_have_count(2)
    for i in range(checks.count()):
        box = checks.nth(i).locator("input[type=checkbox]").bounding_box()
        assert box is not None and box["width"] >= 15.5 and box["height"] >= 15.5, box  # not a shrunk dot
    # "every row needs a lead_id": the code word after "needs a", not beside the middle of the sentence
    assert words_in_order(page.locator("main"), "label.check") == []
    watched.shot("phone-settings-import-checks")
    # A check box given focus from the keyboard shows the brand ring (the soft outline was all but invisible).
    group.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # back by the keyboard: :focus-visible
    assert group.evaluate("el => el === document.activeElement && el.matches(':focus-visible')")
    ring = group.evaluate("el => getComputedStyle(el).outlineColor")
    assert ring != "rgb(238, 240, 255)", ring  # the brand colour, not the near-white soft one


def test_a_phone_tables_column_names_stay_for_screen_readers(watched: Watched, seeded: Seeded) -> None:
    # The cards hid the head row with display: none, which takes it out of the accessibility tree too.
    page = on_phone(watched, seeded, "/ui/leads/ld_jane")
    ledger = page.get_by_role("table", name=re.compile("ledger", re.I))
    expect(ledger.locator("tbody tr").first).to_be_visible()
    head = ledger.locator("thead")
    assert head.evaluate("el => getComputedStyle(el).display") != "none"
    assert (head.bounding_box() or {"height": 0})["height"] <= 1  # out of sight
    expect(ledger.get_by_role("columnheader", name="Delta")).to_have_count(1)


NARROW = {"width": 320, "height": 640}


def within_width(locator: Locator, width: int) -> None:
    """`locator` lies between the left edge and `width`."""
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_the_overviews_accounts_warming_up_fit_a_320_px_phone(watched: Watched, seeded: Seeded) -> None:
    # The "Accounts warming up" table made the page 344 px wide: it scrolled sideways.
    page = watched.page
    page.set_viewport_size(NARROW)
    sign_in(page, seeded.server.base)
    accounts = page.get_by_role("table", name="Accounts warming up")
    first = accounts.locator("tbody tr").first
    expect(first).to_be_visible()
    watched.settle()
    assert sideways(page) == [] and sticking_out(page) == []
    # each account a card: its name, score and count of leads on the screen
    first.scroll_into_view_if_needed()
    for cell in (first.get_by_role("link"), first.locator("td.score"), first.locator("td.count")):
        within_width(cell, NARROW["width"])
    expect(first.locator("td.count")).to_have_attribute("data-label", "Leads")  # "Leads 24" on the card
    watched.shot("phone-320-overview-accounts")


def test_the_headers_ou_menu_shows_the_ous_name_on_a_320_px_phone(watched: Watched, seeded: Seeded) -> None:
    # Beside the Menu button, the word "OU", the role and Sign out, the OU menu was squeezed to 51 px: no letter of
    # the OU's name.
    page = watched.page
    page.set_viewport_size(NARROW)
    sign_in(page, seeded.server.base)
    picker = page.get_by_label("Active OU")
    box = picker.bounding_box()
    assert box is not None and box["width"] >= 80, box
    name = picker.evaluate("s => s.selectedOptions[0].text")
    # the menu's text (padding and arrow aside) holds at least the name's first word
    room = picker.evaluate("""s => {
        const st = getComputedStyle(s), c = document.createElement('canvas').getContext('2d');
        c.font = `${st.fontWeight} ${st.fontSize} ${st.fontFamily}`;
        const word = s.selectedOptions[0].text.split(' ')[0];
        return [s.clientWidth - parseFloat(st.paddingLeft) - 24, c.measureText(word).width];
      }""")
    assert room[0] >= room[1], (name, room)
    within_width(picker, NARROW["width"])
    within_width(page.get_by_role("button", name="Sign out"), NARROW["width"])
    within_width(page.get_by_role("button", name="Menu"), NARROW["width"])
    watched.shot("phone-320-header")
    # a desktop keeps the word "OU" beside the menu
    page.set_viewport_size(DESKTOP)
    expect(page.locator("header.top label.ou").get_by_text("OU", exact=True)).to_be_visible()


def test_the_open_phone_menu_keeps_tab_inside_and_gives_focus_back_to_the_menu_button(
        watched: Watched, seeded: Seeded) -> None:
    # Tab left the open drawer for the controls under it: the Menu button, the Leads search box (typing there ran a
    # search behind the drawer).
    page = on_phone(watched, seeded, "/ui/leads")
    expect(page.get_by_role("table", name="Leads").locator("tbody tr").first).to_be_visible()
    menu = page.get_by_role("button", name="Menu")
    drawer = page.locator("aside.side")
    outside = ("() => { const e = document.activeElement;"
               " return e && e !== document.body && !e.closest('aside.side') ? e.outerHTML.slice(0, 80) : ''; }")
    for back in (False, True):
        menu.click()
        expect(drawer.get_by_role("link", name="Leads")).to_be_focused()
        for _ in range(14):  # past every link of the drawer, and round again
            page.keyboard.press("Shift+Tab" if back else "Tab")
            assert page.evaluate(outside) == ""
        page.keyboard.press("Escape")
        expect(menu).to_be_focused()
        expect(menu).to_have_attribute("aria-expanded", "false")
    watched.shot("phone-leads-menu-closed")
    # the search box under the drawer takes no typing while the drawer is open
    search = page.get_by_label("Search")
    menu.click()
    assert search.evaluate("el => el.closest('[inert]') !== null")
    watched.shot("phone-leads-menu-open")
    # the drawer's own Close button, for a touch screen reader without an Escape key
    drawer.get_by_role("button", name="Close navigation").click()
    expect(menu).to_be_focused()
    assert search.evaluate("el => el.closest('[inert]') === null")
    # a tap beside the drawer closes it the same way
    menu.click()
    page.mouse.click(370, 400)
    expect(menu).to_be_focused()
    # on a desktop the menu is a column again, with no Close button and nothing inert
    page.set_viewport_size(DESKTOP)
    expect(drawer.get_by_role("button", name="Close navigation")).to_be_hidden()
    expect(page.locator("[inert]")).to_have_count(0)
