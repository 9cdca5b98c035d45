"""The demo OU that `POST /admin/seed` and `leadvibe seed` load: a believable B2B funnel.

Pure data: configuration (engagement rules and levels, decay, profile and account scoring, mappings, a segment,
triggers), six companies, ~200 people (most at those companies, some on free-mail addresses), and 30 days of
their events across web, email, webinar, CRM and product channels, in time order. Each person is created with
their first event and each company with its first person, so creation dates spread over the 30 days as they
would in a real OU. `build_demo` is deterministic for a given random seed and clock, so a demo looks the same on
every machine.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from leadvibe.limits import INT_LIMIT

DAY_MS = 86_400_000
HISTORY_DAYS = 30  # the demo's events cover the last 30 days
# The demo's triggers point at a reserved, never-resolving host and are stored with their webhook disabled,
# so sample data can never notify anyone.
DEMO_WEBHOOK = "https://hooks.example.invalid/leadvibe-demo"

ENGAGEMENT_RULES = {
    "page_view": 1, "pricing_view": 5, "content_download": 4, "email_open": 2, "email_click": 3,
    "webinar_join": 8, "demo_request": 20, "trial_signup": 15, "crm_stage_change": 10,
}
# The top bands end at the highest score a band takes, which the dashboard reads as "and above".
ENGAGEMENT_LEVELS = [("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, INT_LIMIT)]
PROFILE_LEVELS = [("Poor fit", -1000, 14), ("Good fit", 15, 34), ("Ideal fit", 35, INT_LIMIT)]
ACCOUNT_LEVELS = [("Low", -1000, 19), ("Medium", 20, 49), ("High", 50, INT_LIMIT)]
PROFILE_RULES = [
    ("industry", "in", "software, fintech", 20),
    ("company_size", "greater_than", "200", 15),
    ("title", "contains", "director", 10),
    ("title", "starts_with", "vp", 10),
    ("country", "in", "US, CA, GB, DE", 5),
    ("acquisition_source", "equals", "partner", 5),
    ("email_domain_type", "equals", "free", -15),
]
ACCOUNT_RULES = [
    ("employees", "greater_than", "500", 30),
    ("industry", "in", "software, fintech", 20),
    ("deal_stage", "in", "evaluation, negotiation", 25),
]
# (source field, property, behavior)
PROFILE_MAPPINGS = [("utm_source", "acquisition_source", "set_once"), ("page", "pages", "append"),
                    ("plan", "plan_interest", "always_latest")]
ACCOUNT_MAPPINGS = [("deal_stage", "deal_stage", "always_latest")]
SEGMENT: dict[str, Any] = {
    "name": "Enterprise evaluators",
    "description": "Software and fintech leads at companies over 200 people who looked at the enterprise plan",
    "rules": [
        {"rule_type": "lead_metadata", "field_name": "industry", "operator": "in", "value": "software, fintech",
         "logic_group": 0},
        {"rule_type": "lead_metadata", "field_name": "company_size", "operator": "greater_than", "value": "200",
         "logic_group": 0},
        {"rule_type": "event_metadata", "event_type": "pricing_view", "field_name": "plan", "operator": "equals",
         "value": "enterprise", "logic_group": 0},
    ],
}
COMPANIES = [
    ("northwind.example", "Northwind Traders", "retail", 1200, "US"),
    ("acme-robotics.example", "Acme Robotics", "manufacturing", 350, "DE"),
    ("globex.example", "Globex", "software", 4200, "US"),
    ("initech.example", "Initech", "fintech", 180, "GB"),
    ("umbrella-health.example", "Umbrella Health", "healthcare", 900, "CA"),
    ("hooli.example", "Hooli", "software", 60, "US"),
]
FIRST = ["Ada", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kira", "Liam", "Maya",
         "Noah", "Olga", "Priya", "Quinn", "Raj", "Sofia", "Tom", "Uma", "Victor", "Wen", "Yara", "Zoe"]
LAST = ["Adler", "Brooks", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jones", "Kowalski",
        "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Quist", "Rossi", "Silva", "Tanaka", "Ueda", "Varga"]
TITLES = ["VP Engineering", "Director of Marketing", "Software Engineer", "Head of Sales", "CTO",
          "Marketing Manager", "Data Analyst", "Director of Operations", "Product Manager", "VP Finance"]
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com"]
SOURCES = ["google", "linkedin", "partner", "newsletter", "direct"]
PAGES = ["/", "/product", "/integrations", "/customers", "/blog/scoring-101", "/docs", "/security"]
CAMPAIGNS = ["spring-launch", "webinar-invite", "nurture-3", "product-update"]


@dataclass
class DemoLead:
    """A demo person: profile metadata, an email alias, an account (None on free-mail), their events and when
    they were created (epoch ms)."""

    key: str
    email: str
    account_domain: str | None
    metadata: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    created_at: int = 0


@dataclass
class Demo:
    """Everything the seed writes, as plain data. A company's `created_at` is its first person's."""

    leads: list[DemoLead]
    companies: list[dict[str, Any]]

    @property
    def events(self) -> list[tuple[DemoLead, dict[str, Any]]]:
        """Every event with its lead, oldest first (the order they are queued in)."""
        pairs = [(lead, ev) for lead in self.leads for ev in lead.events]
        pairs.sort(key=lambda p: p[1]["ts"])
        return pairs


def _persona_events(rng: random.Random, now: int, persona: str, source: str, plan: str) -> list[dict[str, Any]]:
    """A lead's 30 days: how many events and which, by how interested they are."""
    count = {"cold": rng.randint(2, 6), "warm": rng.randint(8, 18), "hot": rng.randint(20, 40)}[persona]
    start = now - HISTORY_DAYS * DAY_MS
    out: list[dict[str, Any]] = []
    ts = start + rng.randrange(27 * DAY_MS)
    for i in range(count):
        # Bursts (sessions) of a few minutes apart, separated by days of quiet.
        ts += rng.randrange(60_000, 900_000) if rng.random() < 0.6 else rng.randrange(DAY_MS // 2, 3 * DAY_MS)
        if ts >= now - 60_000:
            break
        roll = rng.random()
        ev: dict[str, Any]
        if i == 0:
            ev = {"type": "page_view", "meta": {"page": "/", "utm_source": source, "channel": "web"}}
        elif roll < 0.35:
            ev = {"type": "page_view", "meta": {"page": rng.choice(PAGES), "channel": "web"}}
        elif roll < 0.5:
            ev = {"type": "pricing_view", "meta": {"page": "/pricing", "plan": plan, "channel": "web"}}
        elif roll < 0.62:
            ev = {"type": "email_open", "meta": {"campaign": rng.choice(CAMPAIGNS)}}
        elif roll < 0.72:
            ev = {"type": "email_click", "meta": {"campaign": rng.choice(CAMPAIGNS)}}
        elif roll < 0.8:
            ev = {"type": "content_download", "meta": {"asset": "scoring-playbook.pdf", "channel": "web"}}
        elif roll < 0.86:
            ev = {"type": "webinar_join", "meta": {"webinar": "Scoring in practice"}}
        elif roll < 0.92 and persona != "cold":
            ev = {"type": "demo_request", "meta": {"channel": "web", "form": "contact-sales"}}
        elif roll < 0.96 and persona == "hot":
            ev = {"type": "trial_signup", "meta": {"channel": "product", "plan": plan}}
        else:
            stage = rng.choice(["qualification", "evaluation", "negotiation"])
            ev = {"type": "crm_stage_change", "meta": {"deal_stage": stage}}
        ev["ts"] = ts
        out.append(ev)
    return out


def build_demo(now: int, seed: int = 20250915) -> Demo:
    """The demo content for an OU whose clock says `now`."""
    rng = random.Random(seed)
    companies: list[dict[str, Any]] = [
        {"domain": d, "name": n, "metadata": {"name": n, "industry": ind, "employees": size, "country": cc}}
        for d, n, ind, size, cc in COMPANIES
    ]
    leads: list[DemoLead] = []
    for i in range(200):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{last}{i}".lower()
        persona = rng.choices(["cold", "warm", "hot"], weights=[5, 4, 1])[0]
        if rng.random() < 0.72:
            domain, name, industry, size, country = rng.choice(COMPANIES)
            email, account = f"{local}@{domain}", domain
            metadata: dict[str, Any] = {"first_name": first, "last_name": last, "company": name,
                                        "industry": industry, "company_size": size, "country": country,
                                        "title": rng.choice(TITLES), "email_domain_type": "business"}
        else:
            email, account = f"{local}@{rng.choice(FREE_MAIL)}", None
            metadata = {"first_name": first, "last_name": last, "country": rng.choice(["US", "IN", "BR", "FR"]),
                        "email_domain_type": "free"}
        plan = rng.choice(["starter", "team", "enterprise"])
        lead = DemoLead(f"demo{i:03d}", email, account, metadata)
        lead.events = _persona_events(rng, now, persona, rng.choice(SOURCES), plan)
        lead.created_at = _created_at(lead, i, now)
        leads.append(lead)
    for company in companies:
        people = [lead.created_at for lead in leads if lead.account_domain == company["domain"]]
        company["created_at"] = min(people, default=now - HISTORY_DAYS * DAY_MS)
    return Demo(leads, companies)


def _created_at(lead: DemoLead, index: int, now: int) -> int:
    """A person appears with their first event, as a lead created by ingestion does; one without events (rare)
    gets a moment of the history by its place in the list, so the demo stays deterministic."""
    if lead.events:
        return int(lead.events[0]["ts"])
    history = HISTORY_DAYS * DAY_MS
    return now - history + (index * 7_919_000) % history
