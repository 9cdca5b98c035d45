"""Dashboard benchmark: how fast the Leads table's first page renders in a browser with N leads (default 1M).

Builds an OU through the API (rules, levels) on a real server, stops it, adds N leads with a score in the
primary ruleset and an email alias each by direct SQL inserts into the migrated database (a bench fixture: the
ingest path has its own benchmark, scripts/bench_scale.py), starts the server again and drives Debian's
Chromium: sign in, then open the Leads screen repeatedly and time, from the navigation to the first row on
screen, the full page load; then paging, sorting and a level filter inside the app. Prints medians.

    .venv/bin/python scripts/bench_dashboard.py --leads 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import httpx
from playwright.sync_api import Page, sync_playwright

from leadvibe.limits import INT_LIMIT

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RULES = {"page_view": 1, "email_open": 2, "pricing_page_view": 8, "demo_request": 40}
LEVELS = [("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, INT_LIMIT)]
DAY_MS = 86_400_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`python -m leadvibe serve` on a free port."""

    def __init__(self, data: Path) -> None:
        self.data, self.port = data, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, "LEADVIBE_ADMIN_EMAIL": EMAIL, "LEADVIBE_ADMIN_PASSWORD": PASSWORD,
               "LEADVIBE_LOG_LEVEL": "warning", "LEADVIBE_LOGIN_DELAY_MS": "20"}
        self.proc = subprocess.Popen([sys.executable, "-m", "leadvibe", "serve", "--port", str(self.port),
                                      "--data-dir", str(self.data)], env=env, stdout=subprocess.DEVNULL)
        for _ in range(600):
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def configure(server: Server) -> None:
    """Rules (a primary ruleset) and engagement levels, through the API."""
    token = httpx.post(server.base + "/auth/login", json={"email": EMAIL, "password": PASSWORD}).json()["token"]
    headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
    for event_type, weight in RULES.items():
        httpx.post(server.base + "/rules", headers=headers, json={"event_type": event_type, "weight": weight})
    for name, low, high in LEVELS:
        httpx.post(server.base + "/levels/engagement", headers=headers,
                   json={"name": name, "min_score": low, "max_score": high})


def insert_leads(db: Path, n: int) -> float:
    """N leads with a primary score, recency and an email alias; returns seconds taken."""
    started = time.perf_counter()
    conn = apsw.Connection(str(db))
    conn.execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF")
    org_id = conn.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    ruleset = conn.execute("SELECT id FROM rulesets WHERE unit_id = 'unit_default' AND is_primary = 1").fetchone()[0]
    rng = random.Random(1)
    now = int(time.time() * 1000)
    batch = 50_000
    for start in range(0, n, batch):
        leads, scores, aliases = [], [], []
        for i in range(start, min(n, start + batch)):
            lead_id = f"ld_{i:07d}"
            created = now - rng.randrange(365 * DAY_MS)
            last = min(now, created + rng.randrange(120 * DAY_MS))
            email = f"person{i}@company{i % 5000}.example"
            leads.append(("unit_default", lead_id, org_id, json.dumps({"email": email}), created, created, last,
                          rng.choice(list(RULES)), last))
            scores.append(("unit_default", ruleset, lead_id, int(rng.paretovariate(1.2) * 5) - 5, now))
            aliases.append(("unit_default", "email", email, lead_id, org_id, email, created))
        with conn:
            conn.executemany("INSERT INTO leads (unit_id, id, org_id, metadata, created_at, updated_at, last_event_at,"
                             " last_event_type, last_organic_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", leads)
            conn.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                             " VALUES (?, ?, ?, ?, ?)", scores)
            conn.executemany("INSERT INTO lead_aliases (unit_id, kind, value, lead_id, org_id, raw_value, created_at)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)", aliases)
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def timed(action: Callable[[], None], ready: Callable[[], None]) -> float:
    """Milliseconds from an action to its result on screen."""
    started = time.perf_counter()
    action()
    ready()
    return (time.perf_counter() - started) * 1000


def changes(page: Page, selector: str) -> Callable[[], None]:
    """A wait for the text of `selector` to differ from what it is now."""
    before = page.locator(selector).first.inner_text()
    return lambda: page.wait_for_function(
        "([sel, text]) => document.querySelector(sel)?.innerText !== text", arg=[selector, before])


def measure(base: str, runs: int) -> dict[str, list[float]]:
    """Browser timings of the Leads screen."""
    out: dict[str, list[float]] = {"full page load to first row": [], "next page": [], "sort by recent activity": [],
                                   "level filter (Hot)": [], "API GET /leads (first page)": []}
    first_row, count = "table tbody tr", ".page-head .sub"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/ui/")
        page.get_by_label("Email").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Main").wait_for()
        token = page.evaluate("sessionStorage.getItem('leadvibe.token')")
        headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
        rows = page.locator("table tbody tr a")
        for _ in range(runs):
            out["full page load to first row"].append(timed(lambda: page.goto(base + "/ui/leads"),
                                                            rows.first.wait_for))
            out["next page"].append(timed(page.get_by_role("button", name="Next →").click, changes(page, first_row)))
            out["sort by recent activity"].append(timed(lambda: page.get_by_label("Sort").select_option("recent"),
                                                        changes(page, first_row)))
            page.goto(base + "/ui/leads")
            rows.first.wait_for()
            out["level filter (Hot)"].append(timed(lambda: page.get_by_label("Level").select_option(label="Hot"),
                                                   changes(page, count)))
            started = time.perf_counter()
            httpx.get(base + "/leads", params={"limit": 50}, headers=headers).raise_for_status()
            out["API GET /leads (first page)"].append((time.perf_counter() - started) * 1000)
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="data directory to build once and reuse on later runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadvibe-dash-bench-") as tmp:
        data = args.keep or Path(tmp) / "data"
        if not (data / "leadvibe.db").exists():
            server = Server(data).start()
            configure(server)
            server.stop()
            seconds = insert_leads(data / "leadvibe.db", args.leads)
            size = (data / "leadvibe.db").stat().st_size / 1e6
            print(f"{args.leads:,} leads inserted in {seconds:.0f} s; database {size:.0f} MB")
        server = Server(data).start()
        try:
            results = measure(server.base, args.runs)
        finally:
            server.stop()
    print(f"Leads screen with {args.leads:,} leads, Chromium at 1280 px, median of {args.runs} (min-max), ms:")
    for name, values in results.items():
        print(f"  {name:32} {statistics.median(values):7.0f}   ({min(values):.0f}-{max(values):.0f})")


if __name__ == "__main__":
    main()
