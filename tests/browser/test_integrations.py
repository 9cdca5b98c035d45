"""Settings > Integrations says what this server can send: whether email goes out (and, if not, how to set it up)
and which addresses webhooks reach; for a server without SMTP and for one with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Watched, expect_field_problem, sign_in
from tests.browser.data import Seeded
from tests.e2e.server import ServerProcess


def test_a_server_without_smtp_says_mail_will_not_go_out_and_how_to_set_it_up(watched: Watched, seeded: Seeded) -> None:
    page = watched.page
    sign_in(page, seeded.server.base)  # the test server has no LEADVIBE_SMTP_HOST
    watched.goto("/ui/settings/integrations")
    card = page.get_by_role("region", name="Email")
    expect(card.get_by_test_id("email-status")).to_contain_text("Email notifications will not go out")
    expect(card.get_by_text("not set up", exact=True)).to_be_visible()
    expect(card.get_by_text("LEADVIBE_SMTP_HOST=smtp.example.com")).to_be_visible()
    expect(card).to_contain_text("docs/notifications.md")
    webhooks = page.get_by_role("region", name="Webhooks")
    expect(webhooks.get_by_test_id("webhook-reach")).to_contain_text("an address on a private network")
    expect(page.get_by_role("region", name="Slack").get_by_text("not set up", exact=True)).to_be_visible()
    watched.shot("settings-integrations", full_page=True)
    card.get_by_role("link", name="Triggers → Deliveries").click()
    expect(page).to_have_url(f"{seeded.server.base}/ui/triggers/deliveries")


@pytest.fixture(scope="module")
def mail_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A second server whose SMTP server is set (nothing is sent in these tests) and whose sender is the default."""
    base: Path = tmp_path_factory.mktemp("smtp")
    server = ServerProcess(base / "data", env={
        "LEADVIBE_SMTP_HOST": "smtp.example.com", "LEADVIBE_SMTP_PORT": "465", "LEADVIBE_SMTP_USER": "mailer-login",
        "LEADVIBE_SMTP_PASSWORD": "pw-never-shown", "LEADVIBE_LOGIN_DELAY_MS": "20"}).start()
    yield server
    server.kill()


def test_a_server_with_smtp_names_it_and_warns_about_a_localhost_sender(
    watched: Watched, mail_server: ServerProcess
) -> None:
    page = watched.page
    watched.base = mail_server.base  # its own origin: nothing fetched from elsewhere
    sign_in(page, mail_server.base)
    page.goto(mail_server.base + "/ui/settings/integrations")
    card = page.get_by_role("region", name="Email")
    expect(card.get_by_test_id("email-status")).to_have_text(
        "Email notifications go out through smtp.example.com:465 (TLS from the start), sent from leadvibe@localhost."
    )
    expect(card.get_by_text("ready to send", exact=True)).to_be_visible()
    expect(card.get_by_text("Most mail servers refuse a sender at localhost")).to_be_visible()
    expect(card.get_by_text("LEADVIBE_SMTP_HOST=smtp.example.com")).to_have_count(0)
    assert "pw-never-shown" not in page.content() and "mailer-login" not in page.content()


def test_the_deliveries_tab_says_why_emails_fail_without_smtp(admin: Watched, seeded: Seeded) -> None:
    page = admin.page
    seeded.ingest([{"lead_id": "ld_smtp_check", "event_type": "demo_request"},
                   {"lead_id": "ld_smtp_check", "event_type": "webinar_attended"}])  # the seeded milestone emails
    admin.goto("/ui/triggers/deliveries")
    deliveries = page.get_by_role("table", name="Deliveries")
    expect(deliveries.get_by_text("SMTP is not configured").first).to_be_visible()
    note = page.get_by_role("note").filter(has_text="This server has no SMTP server set")
    expect(note).to_be_visible()
    note.get_by_role("link", name="Settings → Integrations").click()
    expect(page.get_by_role("region", name="Email")).to_be_visible()


def test_the_slack_app_form_says_what_is_missing_beside_its_field(admin: Watched) -> None:
    page = admin.goto("/ui/settings/integrations")
    form = page.locator("form.app")
    form.get_by_label("Client id").fill("1234567890.1234567890")
    form.get_by_role("button", name="Save Slack app").click()
    expect_field_problem(form, "Client secret", "Client secret is required")
    expect(form.get_by_text("Client id is required")).to_have_count(0)
