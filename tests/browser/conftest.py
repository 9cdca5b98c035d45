"""Browser tests: the bundled dashboard in Debian's Chromium, driven by visible labels and roles against a real
`leadvibe serve` process (pytest-playwright cannot download browsers here). Both test workers take browser tests,
each with a server and a Chromium of its own, stopped after the package's last test."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    BrowserType,
    ConsoleMessage,
    Locator,
    Page,
    Playwright,
    Request,
    expect,
    sync_playwright,
)

from tests.browser.data import Seeded, seed
from tests.e2e.server import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = os.environ.get("LEADVIBE_SCREENSHOTS")  # e.g. docs/images: the documentation's screenshots


def chromium_path() -> str:
    """Debian's Chromium. In CI a missing browser fails the run (`.ci/run` installs it); elsewhere it skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("Chromium is not installed: the browser tests need it in CI (apt-get install chromium)")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options, pointed at the system Chromium."""
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


# pytest-playwright keeps Playwright (and the event loop its sync API runs) for the whole session. The xdist worker
# that runs the browser tests also runs others afterwards, and pytest-asyncio cannot start a loop while that one
# runs; so Playwright, the browser type and the browser live for this package only and stop after its last test.
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright for the browser tests only."""
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    """Chromium (the only browser used)."""
    return getattr(playwright, browser_name or "chromium")  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: BrowserType) -> Callable[..., Browser]:
    """Launches the system Chromium with the session's options."""
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="package")
def browser(launch_browser: Callable[..., Browser]) -> Iterator[Browser]:
    """One Chromium for every browser test."""
    b = launch_browser()
    yield b
    b.close()


@pytest.fixture(scope="package")
def browser_context_args() -> dict[str, Any]:
    """A 1280 px wide desktop window."""
    return {"viewport": {"width": 1280, "height": 860}}


@pytest.fixture(scope="package")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One server with a realistic OU for the browser tests (stopped after them: an idle server and its worker
    would keep taking CPU from the rest of the suite)."""
    base = tmp_path_factory.mktemp("browser")
    server = ServerProcess(base / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL", "LEADVIBE_WORKER_IDLE_POLL": "0.01",
                                               "LEADVIBE_LOGIN_DELAY_MS": "20"}).start()
    try:
        yield seed(server)
    finally:
        server.kill()


class Watched:
    """A page whose console errors, page errors and requests are recorded."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.expected_failures: list[str] = []  # paths whose 4xx answers a test provokes on purpose
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("request", self._request)

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        # The browser logs every failed HTTP answer; those a test provokes on purpose are not errors of the app.
        url = (msg.location or {}).get("url", "")
        if msg.text.startswith("Failed to load resource") and any(p in url for p in self.expected_failures):
            return
        self.errors.append(f"console: {msg.text} ({url})")

    def _request(self, request: Request) -> None:
        url = request.url
        if not (url.startswith(self.base + "/") or url.startswith(("data:", "blob:"))):
            self.foreign.append(url)

    def goto(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def use_ou(self, name: str) -> Page:
        """Switch the active OU with the header's picker, as a person does, and wait until the switch is stored: a
        navigation right after the choice would otherwise still be in the previous OU."""
        picker = self.page.get_by_label("Active OU")
        picker.select_option(label=name)
        self.page.wait_for_function("id => sessionStorage.getItem('leadvibe.ou') === id", arg=picker.input_value())
        return self.page

    def settle(self) -> None:
        """Until no panel shows its loading state."""
        expect(self.page.locator("[aria-busy=true]")).to_have_count(0)

    def shot(self, name: str, full_page: bool = False) -> None:
        """A screenshot for docs/dashboard.md when LEADVIBE_SCREENSHOTS names a folder."""
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            self.settle()
            self.page.wait_for_timeout(400)  # let charts draw and transitions end
            self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


def sign_in(page: Page, base: str, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> None:
    """Sign in through the form, as a person does."""
    page.goto(base + "/ui/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()  # the menu itself is hidden on a phone


@pytest.fixture
def watched(context: BrowserContext, seeded: Seeded) -> Iterator[Watched]:
    """A fresh page (its own sessionStorage), checked after the test: no console errors, nothing off-origin."""
    page = context.new_page()
    w = Watched(page, seeded.server.base)
    yield w
    assert w.errors == [], w.errors
    assert w.foreign == [], w.foreign


def submit_form(page: Page, opener: Locator, dialog: str, fields: dict[str, str], submit: str) -> Locator:
    """Open a form's dialog with `opener`, fill its fields by label and press `submit`; the dialog."""
    opener.click()
    form = page.get_by_role("dialog", name=dialog)
    for label, value in fields.items():
        form.get_by_label(label).fill(value)
    form.get_by_role("button", name=submit).click()
    return form


def expect_field_problem(form: Locator, label: str, message: str) -> None:
    """The form says `message` beside the field `label` and puts the focus there."""
    expect(form.get_by_text(message)).to_be_visible()
    expect(form.get_by_label(label)).to_be_focused()


@pytest.fixture
def admin(watched: Watched, seeded: Seeded) -> Watched:
    """Signed in as the org admin."""
    sign_in(watched.page, seeded.server.base)
    return watched

