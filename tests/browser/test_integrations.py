"""Settings > Integrations says what this server can send: whether email goes out (and, if not, how to set it up)
and which addresses webhooks reach, for a server without SMTP and for one with it; and, with Slack connected, whom
notifications go to, a person picked by name."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Watched, expect_field_problem, sign_in
from tests.browser.data import Seeded
from tests.e2e.server import ServerProcess
from tests.notify._fakeslack import CLIENT_ID, CLIENT_SECRET, PUBLIC, FakeSlack, ThreadedServer


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


@pytest.fixture(scope="module")
def slack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose Slack Web API is a fake on 127.0.0.1, connected to its workspace the way the install
    flow does it (the consent page is Slack's own, so the test follows its callback itself)."""
    fake = ThreadedServer(FakeSlack())
    fake.start()
    base: Path = tmp_path_factory.mktemp("slack")
    server = ServerProcess(base / "data", env={
        "LEADVIBE_SLACK_API_URL": f"http://127.0.0.1:{fake.port}/api", "LEADVIBE_SLACK_OAUTH_URL": "https://slack.example",
        "LEADVIBE_PUBLIC_URL": PUBLIC, "LEADVIBE_LOGIN_DELAY_MS": "20"}).start()
    headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    assert server.request("PUT", "/settings/slack-app", headers=headers,
                          json={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).status_code == 200
    url = server.request("POST", "/settings/slack/install", headers=headers).json()["authorize_url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    assert server.request("GET", f"/settings/slack/callback?code=good-code&state={state}",
                          headers=headers).status_code == 302
    yield server
    server.kill()
    fake.close()


def test_a_slack_person_is_chosen_by_name(watched: Watched, slack_server: ServerProcess) -> None:
    page = watched.page
    watched.base = slack_server.base
    sign_in(page, slack_server.base)
    watched.goto("/ui/settings/integrations")
    card = page.get_by_role("region", name="Slack")
    expect(card.get_by_text("connected", exact=True)).to_be_visible()
    # the redirect URL the server sends Slack (its public address), not the one this browser happens to use
    expect(card.get_by_text(f"{PUBLIC}/settings/slack/callback", exact=True)).to_be_visible()
    channel = card.get_by_label(re.compile(r"^Channel"))
    expect(channel.locator("option")).to_have_text(["Choose…", "#sales"])  # the workspace's channels by name
    card.get_by_label("Send to").select_option("user")
    person = card.get_by_label(re.compile(r"^Person"))
    # people by name, without the deactivated account, the bot and Slackbot
    expect(person.locator("option")).to_have_text(["Choose…", "Ana Lima (@ana)", "Bo Berg (@bo)"])
    person.select_option(label="Bo Berg (@bo)")
    watched.shot("settings-slack-person")
    card.get_by_role("button", name="Save as default").click()
    expect(page.get_by_role("status").filter(has_text="Default Slack target saved")).to_be_visible()
    headers = {"Authorization": f"Bearer {slack_server.token()}", "X-OU-ID": "unit_default"}
    saved = slack_server.request("GET", "/settings/slack", headers=headers).json()
    assert (saved["default_target_kind"], saved["default_target_id"]) == ("user", "U2"), saved
    page.reload()  # the saved person is shown as chosen
    expect(card.get_by_label(re.compile(r"^Person"))).to_have_value("U2")
    # a default the list lacks (a private channel set through the API) stays chosen rather than blank
    assert slack_server.request("PUT", "/settings/slack/target", headers=headers,
                                json={"kind": "channel", "id": "G9"}).status_code == 200
    page.reload()
    expect(card.get_by_label(re.compile(r"^Channel"))).to_have_value("G9")
    expect(card.get_by_role("button", name="Save as default")).to_be_enabled()


def test_a_trigger_posts_to_a_slack_person_and_says_what_its_email_says(
    watched: Watched, slack_server: ServerProcess
) -> None:
    page = watched.page
    watched.base = slack_server.base
    sign_in(page, slack_server.base)
    headers = {"Authorization": f"Bearer {slack_server.token()}", "X-OU-ID": "unit_default"}
    # one set through the API on a channel the lists do not hold (a private one): editing keeps it
    kept = slack_server.request("POST", "/triggers/milestones", headers=headers, json={
        "name": "Private room", "score_threshold": 10, "event_type": "",
        "slack_target_kind": "channel", "slack_target_id": "G9"}).json()

    watched.goto("/ui/triggers/milestones")
    page.get_by_role("button", name="New milestone").click()
    form = page.get_by_role("dialog", name="New milestone")
    form.get_by_label("Name").fill("Hot lead to Bo")
    form.get_by_label("When the score reaches").fill("60")
    slack = form.get_by_label(re.compile(r"^Slack"))
    expect(slack.locator("option")).to_have_text(
        ["The OU\u2019s default Slack target", "#sales", "Ana Lima (@ana)", "Bo Berg (@bo)"])
    slack.select_option(label="Bo Berg (@bo)")
    form.get_by_label(re.compile(r"^Email subject")).fill("{{lead_id}} is hot")
    form.get_by_label(re.compile(r"^Email preview line")).fill("{{score}} points")
    form.get_by_label(re.compile(r"^Description")).fill("For the enterprise team")
    watched.shot("trigger-slack-person")
    form.get_by_role("button", name="Create").click()
    expect(form).to_be_hidden()
    made = next(t for t in slack_server.request("GET", "/triggers/milestones", headers=headers).json()
                if t["name"] == "Hot lead to Bo")
    assert (made["slack_target_kind"], made["slack_target_id"]) == ("user", "U2")
    assert (made["email_subject"], made["email_preheader"], made["description"], made["email_message"]) == (
        "{{lead_id}} is hot", "{{score}} points", "For the enterprise team", None)
    assert made["destinations"] == ["slack"]

    row = page.get_by_role("row").filter(has_text="Private room")
    row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("dialog", name="Edit milestone")
    expect(form.get_by_label(re.compile(r"^Slack"))).to_have_value("channel:G9")
    form.get_by_label("When the score reaches").fill("15")
    form.get_by_role("button", name="Save").click()
    expect(form).to_be_hidden()
    saved = slack_server.request("GET", "/triggers/milestones", headers=headers).json()
    again = next(t for t in saved if t["trigger_id"] == kept["trigger_id"])
    assert (again["score_threshold"], again["slack_target_kind"], again["slack_target_id"]) == (15, "channel", "G9")


def test_slack_deliveries_name_their_person(watched: Watched, slack_server: ServerProcess) -> None:
    headers = {"Authorization": f"Bearer {slack_server.token()}", "X-OU-ID": "unit_default"}

    def call(method: str, path: str, body: dict[str, object]) -> dict[str, str]:
        answer = slack_server.request(method, path, headers=headers, json=body)
        assert answer.status_code < 300, answer.text
        return dict(answer.json())

    ruleset = call("POST", "/rulesets", {"name": "Deliveries", "is_primary": True})
    call("POST", "/rules", {"ruleset_id": ruleset["ruleset_id"], "event_type": "demo_request", "weight": 70})
    call("POST", "/triggers/milestones", {"name": "Demo to Ana", "score_threshold": 50, "event_type": "demo_request",
                                          "slack_target_kind": "user", "slack_target_id": "U1"})
    r = slack_server.request("POST", "/ingest", headers=slack_server.basic(),
                             json={"lead_id": "ld_slack_named", "event_type": "demo_request"})
    assert r.status_code == 202, r.text
    page = watched.page
    watched.base = slack_server.base
    sign_in(page, slack_server.base)
    watched.goto("/ui/triggers/deliveries")
    row = page.get_by_role("table", name="Deliveries").get_by_role("row").filter(has_text="Demo to Ana")
    expect(row).to_contain_text("Ana Lima (@ana)", timeout=20_000)
    expect(row).to_contain_text("delivered", timeout=20_000)
