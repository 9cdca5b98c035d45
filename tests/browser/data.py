"""A realistic OU for the dashboard tests (and their screenshots): rules, levels, triggers and leads with a few
weeks of events, all sent through the public API of a real server process."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.server import ServerProcess

RULES = {"page_view": 1, "email_open": 2, "email_click": 4, "pricing_page_view": 8, "form_submit": 15,
         "webinar_attended": 20, "demo_request": 40}
LEVELS = [("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, 1_000_000_000)]
PEOPLE = ["jane.doe@acme.com", "omar.haddad@globex.io", "li.wei@initech.com", "sara.costa@umbrella.co",
          "tom.becker@hooli.com", "anna.nowak@vandelay.com", "raj.patel@stark.io", "emma.smith@wayne.co",
          "lucas.martin@cyberdyne.ai", "mia.rossi@soylent.com", "noah.kim@tyrell.io", "zoe.dubois@aperture.com"]


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

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """An admin API call that must succeed."""
        r = self.server.request(method, path, headers=self.headers, **kw)
        assert r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

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
    rng = random.Random(7)
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = []
    for n, email in enumerate(PEOPLE):
        first, last = email.split("@")[0].split(".")
        lead_id = f"ld_{first}"
        company = email.split("@")[1].split(".")[0].title()
        s.call("POST", "/leads", json={"id": lead_id, "metadata": {
            "email": email, "name": f"{first.title()} {last.title()}", "company": company,
            "country": rng.choice(["DE", "US", "FR", "GB", "PL"])}})
        count = 3 + (len(PEOPLE) - n) * 2
        for k in range(count):
            when = now - timedelta(days=rng.uniform(0, 21) if k else rng.uniform(0, 0.5), minutes=k)
            kind = rng.choices(list(RULES), weights=[30, 14, 8, 6, 3, 2, 1 + (n < 3) * 3])[0]
            events.append({"lead_id": lead_id, "event_type": kind, "timestamp": iso(when),
                           "aliases": [{"alias_kind": "email", "raw_value": email}],
                           "metadata": {"url": f"/{kind.replace('_', '-')}",
                                        "utm_campaign": rng.choice(["spring", "webinar"])}})
    events.sort(key=lambda e: e["timestamp"])
    s.ingest(events)
    return s
