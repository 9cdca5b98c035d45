"""A realistic OU for the dashboard tests (and their screenshots): rules, levels, triggers and leads with a few
weeks of events, all sent through the public API of a real server process."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.server import ServerProcess

RULES = {"page_view": 1, "email_open": 2, "email_click": 4, "pricing_page_view": 8, "form_submit": 15,
         "webinar_attended": 20, "demo_request": 40}
LEVELS = [("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, 1_000_000_000)]
PEOPLE = ["jane.doe@acme.com", "omar.haddad@globex.io", "li.wei@initech.com", "sara.costa@umbrella.co",
          "tom.becker@hooli.com", "anna.nowak@vandelay.com", "raj.patel@stark.io", "emma.smith@wayne.co",
          "lucas.martin@cyberdyne.ai", "mia.rossi@soylent.com", "noah.kim@tyrell.io", "zoe.dubois@aperture.com"]


# Fit: what each company is (lead metadata), and its size (event metadata, copied into the account by a mapping).
COMPANIES = {"acme": ("software", 450), "globex": ("fintech", 5200), "initech": ("software", 120),
             "umbrella": ("pharma", 9000), "hooli": ("software", 2400), "vandelay": ("retail", 40),
             "stark": ("manufacturing", 30000), "wayne": ("fintech", 800), "cyberdyne": ("software", 60),
             "soylent": ("food", 300), "tyrell": ("biotech", 1500), "aperture": ("research", 700)}
TITLES = ["Head of Marketing", "CTO", "Marketing Manager", "Intern", "VP Sales", "Analyst"]
PROFILE_RULES = [("industry", "in", "software, fintech", 20), ("company_size", "greater_than", "200", 15),
                 ("job_title", "contains", "head", 10), ("job_title", "starts_with", "vp", 10),
                 ("job_title", "equals", "intern", -10)]
PROFILE_LEVELS = [("Poor fit", -1000, 14), ("Good fit", 15, 34), ("Ideal fit", 35, 1_000_000_000)]
ACCOUNT_LEVELS = [("low", 0, 9), ("medium", 10, 29), ("high", 30, 1_000_000_000)]


def iso(dt: datetime) -> str:
    """RFC 3339 in UTC."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Seeded:
    """The server, an admin token and the OU's configuration ids the tests refer to."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.token = server.token()
        self.headers = {"Authorization": f"Bearer {self.token}", "X-OU-ID": "unit_default"}
        self.basic = server.basic()
        self.ruleset_id = ""
        self.profile_ruleset_id = ""
        self.account_ruleset_id = ""

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """An admin API call that must succeed."""
        r = self.server.request(method, path, headers=self.headers, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def in_ou(self, name: str) -> tuple[dict[str, Any], Callable[..., Any]]:
        """The OU called `name` (made on first use, kept for the session) and an admin API call into it that must
        succeed: tests whose leads would change the other tests' counts keep them there."""
        units = self.call("GET", "/org-units")["units"]
        unit = next((u for u in units if u["name"] == name), None) or self.call("POST", "/org-units",
                                                                                 json={"name": name})
        headers = {**self.headers, "X-OU-ID": unit["unit_id"]}

        def call(method: str, path: str, **kw: Any) -> Any:
            r = self.server.request(method, path, headers=headers, **kw)
            assert r.status_code < 300, (method, path, r.status_code, r.text)
            return r.json() if r.content else None

        return unit, call

    def ingest(self, events: list[dict[str, Any]]) -> None:
        """Events through /ingest/batch with the API credential, then wait until they are scored."""
        for i in range(0, len(events), 500):
            r = self.server.request("POST", "/ingest/batch", headers=self.basic, json={"events": events[i:i + 500]})
            assert r.status_code == 202, r.text
        self.wait_scored()

    def wait_scored(self, timeout: float = 20) -> None:
        """Until the scoring worker's queue is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.request("GET", "/healthz").json()["queue_depth"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("events were not scored in time")

    def score(self, lead_id: str) -> int:
        """A lead's primary score."""
        return int(self.call("GET", f"/leads/{lead_id}")["lead"]["score"])


def seed(server: ServerProcess) -> Seeded:
    """Rules, levels, a milestone trigger and a dozen leads with events over the last three weeks."""
    s = Seeded(server)
    for event_type, weight in RULES.items():
        rule = s.call("POST", "/rules", json={"event_type": event_type, "weight": weight})
        s.ruleset_id = rule["ruleset_id"]
    for name, low, high in LEVELS:
        s.call("POST", "/levels/engagement", json={"name": name, "min_score": low, "max_score": high})
    s.call("POST", "/triggers/milestones", json={"name": "Hot lead for sales", "score_threshold": 60,
                                                 "event_type": "", "emails": ["sales@example.com"]})
    configure_fit(s)
    rng = random.Random(7)
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for n, email in enumerate(PEOPLE):
        first, last = email.split("@")[0].split(".")
        lead_id = f"ld_{first}"
        key = email.split("@")[1].split(".")[0]
        industry, size = COMPANIES[key]
        s.call("POST", "/leads", json={"id": lead_id, "metadata": {
            "email": email, "name": f"{first.title()} {last.title()}", "company": key.title(),
            "country": rng.choice(["DE", "US", "FR", "GB", "PL"]), "industry": industry, "company_size": size,
            "job_title": TITLES[n % len(TITLES)]}})
        count = 3 + (len(PEOPLE) - n) * 2
        for k in range(count):
            when = now - timedelta(days=rng.uniform(0, 21) if k else rng.uniform(0, 0.5), minutes=k)
            kind = rng.choices(list(RULES), weights=[30, 14, 8, 6, 3, 2, 1 + (n < 3) * 3])[0]
            events.append({"lead_id": lead_id, "event_type": kind, "timestamp": iso(when),
                           "aliases": [{"alias_kind": "email", "raw_value": email}],
                           "metadata": {"url": f"/{kind.replace('_', '-')}",
                                        "utm_campaign": rng.choice(["spring", "webinar"]),
                                        "employees": size, "company": key.title()}})
    events.sort(key=lambda e: e["timestamp"])
    s.ingest(events)
    return s


def configure_fit(s: Seeded) -> None:
    """Profile (fit) rules and levels, account-based marketing with an account mapping, rules and levels."""
    s.profile_ruleset_id = s.call("POST", "/profile/rulesets", json={"name": "Ideal customer"})["id"]
    for prop, condition, value, weight in PROFILE_RULES:
        s.call("POST", f"/profile/rulesets/{s.profile_ruleset_id}/rules", json={
            "profile_property": prop, "condition": condition, "comparison_value": value, "weight": weight})
    for name, low, high in PROFILE_LEVELS:
        s.call("POST", "/levels/profile", json={"name": name, "min_score": low, "max_score": high})
    s.call("PUT", "/settings/scoring", json={"abm_enabled": True})
    for field in ("employees", "company"):
        s.call("POST", "/accounts/mappings", json={"source_field": field,
                                                   "account_property": "name" if field == "company" else field})
    s.account_ruleset_id = s.call("POST", "/accounts/rulesets", json={"name": "Target accounts"})["id"]
    for value, weight in (("1000", 20), ("5000", 15)):
        s.call("POST", f"/accounts/rulesets/{s.account_ruleset_id}/rules", json={
            "account_property": "employees", "condition": "greater_than", "comparison_value": value,
            "weight": weight})
    for name, low, high in ACCOUNT_LEVELS:
        s.call("POST", "/levels/account", json={"name": name, "min_score": low, "max_score": high})
