"""A marketer's and a sales manager's morning: the phone menu, live lists, score explanations, rule previews, levels,
accounts and forms as they are used day to day."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import Watched, sign_in
from tests.browser.data import Seeded


def test_the_phone_menu_closes_without_leaving_the_page(watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, seeded.server.base)
    watched.goto("/ui/leads")
    expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_visible()
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    # closed, the drawer's links are no Tab stops off the screen
    expect(nav).to_be_hidden()
    menu.click()
    expect(nav.get_by_role("link", name="Leads")).to_be_focused()
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    menu.click()
    expect(nav).to_be_visible()
    page.mouse.click(370, 400)  # beside the drawer
    expect(nav).to_be_hidden()
    expect(page.get_by_role("heading", name="Leads", exact=True)).to_be_visible()
