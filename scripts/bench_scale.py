"""Scale benchmark: one OU with N leads and M events, then read latencies, a whole-OU backtest, a rescore under
ingestion, two decay passes, database size and RSS, all printed in one run.

Loading (`--load`):
- `store` (default): the events written straight through the store's functions (leads with their email alias,
  events unscored in arrival order, the leads' recency and decay clock, the event type catalogue; server
  stopped), then scored by one full in-process rescore: the engine's exact replay, whose rows equal the worker's
  (replay == live, held by the engine's property tests). It does not measure the worker (`bench_worker.py` and
  `bench_ingest.py` do); it builds the 10 M event OU in about a quarter of an hour (the events' indexes are
  dropped while the rows go in and created again after, from their own statements), where the worker, at a
  million leads, takes well over an hour (docs/performance.md).
- `inbox`: the events are validated by `pipeline.inbox.validate` and written to the inbox by `pipeline.inbox`'s
  own store function (the rows `POST /ingest/batch` would write, byte for byte), with the server stopped; then
  the server starts and its worker scores them exactly as in production. This skips only HTTP.
- `http`: `POST /ingest/batch` (1,000 events per request, a few concurrent clients) against the running server.

Then, against the running `python -m leadvibe serve` (127.0.0.1 only): p50/p95 of the read endpoints; the
whole-OU backtest (`POST /rulesets/{id}/backtest`, every lead, draft rules with doubled weights), three times;
a rule change and `POST /rulesets/{id}/rescore` while a client sends `POST /ingest` at 100 requests/s, with the
p50/p99 of those ingests. Finally the server stops and `leadvibe decay --now` runs twice (the first pass decays
every lead idle for more than 7 days, the second finds nothing left: the steady state every scheduler tick pays).

    .venv/bin/python scripts/bench_scale.py                                  # 1,000,000 leads / 10,000,000 events
    .venv/bin/python scripts/bench_scale.py --leads 100000 --events 1000000  # a tenth

The data directory is a temporary one, deleted at the end (`--keep` keeps it). Loading uses
`LEADVIBE_SYNCHRONOUS=NORMAL` (a process crash still loses nothing; only power-loss durability differs).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password-1"
EMAIL = "bench@example.com"
TYPES = {
    "page_view": 1,
    "email_open": 2,
    "email_click": 3,
    "webinar_join": 8,
    "demo_request": 20,
    "pricing_view": 5,
    "content_download": 4,
    "trial_signup": 15,
}
DAY_MS = 86_400_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB of a process and its descendants (the server's worker process), from /proc."""
    from tests.e2e.server import family, status_kb

    members = family(pid)
    return (sum(status_kb(p, "VmRSS") for p in members) / 1024, sum(status_kb(p, "VmHWM") for p in members) / 1024)


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def event_specs(n_leads: int, n_events: int, now: int, seed: int) -> Iterator[tuple[int, str, int]]:
    """(lead number, event type, occurred_at ms) in arrival order: every lead gets one event first, then the rest
    go to random leads; timestamps are spread over the last 60 days (random, not in arrival order per lead: the
    harder case). Generated lazily: ten million events would not fit in memory."""
    rng = random.Random(seed)
    types = list(TYPES)
    for i in range(n_events):
        lead = i if i < n_leads else rng.randrange(n_leads)
        yield lead, rng.choice(types), now - rng.randrange(60 * DAY_MS)


def email_of(lead: int) -> str:
    """The email alias a lead's first event carries."""
    return f"user{lead:07d}@example{lead % 97}.com"


def make_events(n_leads: int, n_events: int, now: int, seed: int) -> Iterator[dict[str, Any]]:
    """`event_specs` as `/ingest` bodies; each lead's first event carries its email alias."""
    for i, (lead, event_type, ts) in enumerate(event_specs(n_leads, n_events, now, seed)):
        ev: dict[str, Any] = {"lead_id": f"ld_{lead:07d}", "event_type": event_type, "timestamp": iso(ts)}
        if i < n_leads:
            ev["aliases"] = [{"alias_kind": "email", "raw_value": email_of(lead)}]
        yield ev


HistoryEvent = tuple[str, str, int, str | None, str | None]  # lead id, type, occurred_at, metadata, decay id


def write_history(conn: Any, unit_id: str, org_id: str, lead_ids: Sequence[str],
                  events: Iterable[HistoryEvent], now: int,
                  aliases: Callable[[str], list[tuple[str, str, str]]] | None = None) -> tuple[float, float]:
    """Store an OU's history without the worker, then score it as the worker would have: the leads (with
    `aliases(lead_id)`: (kind, normalized value, raw value) each), their events unscored in the given (arrival)
    order, the leads' recency and decay clock and the event type catalogue; then one full in-process rescore (the
    exact engine, replay == live) writes every score row. (seconds writing, seconds scoring.)"""
    from leadvibe.engine.normalize import DECAY_EVENT_TYPE, channel_for_key, type_key
    from leadvibe.ids import new_event_ids
    from leadvibe.pipeline.rescore import rescore_leads
    from leadvibe.pipeline.scoring_config import load_config
    from leadvibe.store import events as ev_store

    started = time.perf_counter()
    with conn:
        ev_store.create_leads(conn, [(unit_id, lead, org_id, "bench") for lead in lead_ids], now)
        if aliases is not None:
            for lead in lead_ids:
                ev_store.attach_aliases(conn, unit_id, org_id, lead, aliases(lead), now)
    seq = ev_store.next_event_seq(conn)
    # A bulk load's usual order: the events' indexes are dropped while the rows go in and built again afterwards,
    # from the statements that created them (the same schema; CREATE INDEX sorts its keys once instead of placing
    # each event's entries at random pages of indexes larger than the cache).
    deferred = conn.execute("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'events'"
                            " AND sql IS NOT NULL").fetchall()
    with conn:
        for name, _ in deferred:
            conn.execute(f'DROP INDEX "{name}"')
    last: dict[str, tuple[int, str, int | None]] = {}  # lead -> last event time and type, last organic time
    catalogue: dict[str, tuple[str, int, int]] = {}
    decay_key = type_key(DECAY_EVENT_TYPE)
    events = iter(events)
    count = 0
    while chunk := list(itertools.islice(events, 20_000)):
        rows = []
        for (lead, event_type, ts, metadata, decay_id), event_id in zip(chunk, new_event_ids(len(chunk)), strict=True):
            key = type_key(event_type)
            rows.append((seq, event_id, org_id, unit_id, lead, event_type, key, ts, now, now, metadata,
                         channel_for_key(key, None), "system" if decay_id else "bench", "activate", 0, None, None,
                         1.0, None, 0, decay_id))
            seq += 1
            # As the worker keeps them: the newest organic event (not a decay) by time, its type.
            if key != decay_key:
                newest, newest_type, _ = last.get(lead, (ts, event_type, None))
                if ts >= newest:
                    newest, newest_type = ts, event_type
                last[lead] = (newest, newest_type, newest)
            name, n, latest = catalogue.get(key, (event_type, 0, ts))
            catalogue[key] = (name, n + 1, max(latest, ts))
        with conn:
            ev_store.insert_events_with_seq(conn, rows)
        count += len(chunk)
        if count % 1_000_000 < len(chunk):
            print(f"  {count:,} events written ({time.perf_counter() - started:.0f} s)", flush=True)
    with conn:
        for _, sql in deferred:
            conn.execute(sql)
    print(f"  the events' {len(deferred)} indexes built again ({time.perf_counter() - started:.0f} s)", flush=True)
    with conn:
        ev_store.save_lead_activity(conn, [ev_store.activity_row(
            unit_id, lead, last_event_at=ts, last_event_type=event_type, last_type_key=type_key(event_type),
            last_organic_at=organic, session=None, session_count=0, now=now)
            for lead, (ts, event_type, organic) in sorted(last.items())])
        ev_store.bump_event_types(conn, unit_id, catalogue)
    written = time.perf_counter() - started
    started = time.perf_counter()
    with conn:
        rescore_leads(conn, load_config(conn, unit_id), None, now)
    return written, time.perf_counter() - started


def load_store(data_dir: Path, n_leads: int, n_events: int, now: int, seed: int) -> tuple[float, float]:
    """`event_specs`' history written by `write_history` (the server stopped); (seconds writing, seconds
    scoring)."""
    import apsw

    from leadvibe.db.database import apply_pragmas

    conn = apsw.Connection(str(data_dir / "leadvibe.db"))
    apply_pragmas(conn, synchronous="NORMAL", cache_size_mb=256)
    org_id = conn.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    specs = event_specs(n_leads, n_events, now, seed)
    try:
        return write_history(
            conn, "unit_default", org_id, [f"ld_{i:07d}" for i in range(n_leads)],
            ((f"ld_{lead:07d}", event_type, ts, None, None) for lead, event_type, ts in specs), now,
            lambda lead: [("email", email_of(int(lead[3:])), email_of(int(lead[3:])))])
    finally:
        conn.close()


def load_inbox(data_dir: Path, events: Iterator[dict[str, Any]], total: int) -> float:
    """Validate and store events in the inbox with the pipeline's own functions (the server is stopped);
    seconds taken."""
    import apsw
    import msgspec
    from _offline_inbox import open_inbox

    from leadvibe.pipeline import inbox

    main = apsw.Connection(str(data_dir / "leadvibe.db"))
    org_id = main.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    main.close()
    conn = open_inbox(data_dir, synchronous="NORMAL")
    start = time.perf_counter()
    done = 0
    while done < total:
        now = int(time.time() * 1000)
        chunk = [inbox.validate(msgspec.convert(ev, inbox.IngestEvent), now)
                 for ev in itertools.islice(events, 10_000)]
        with conn:
            inbox.store_events(conn, org_id, "unit_default", chunk, "api", False, now)
        done += len(chunk)
        if done % 1_000_000 < 10_000:
            print(f"  {done:,} events in the inbox ({time.perf_counter() - start:.0f} s)", flush=True)
    conn.close()
    return time.perf_counter() - start


async def load(client: httpx.AsyncClient, events: Iterator[dict[str, Any]], concurrency: int) -> float:
    """POST /ingest/batch in 1,000-event batches with `concurrency` clients; seconds until all
    acknowledged."""
    start = time.perf_counter()
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            batch = list(itertools.islice(events, 1000))
            if not batch:
                return
            r = await client.post("/ingest/batch", json={"events": batch}, timeout=120)
            r.raise_for_status()
            if r.json()["accepted"] != len(batch):
                raise RuntimeError(f"batch not fully accepted: {r.text[:300]}")
            done += 1
            if done % 100 == 0:
                print(
                    f"  acknowledged {done * 1000:,} events ({time.perf_counter() - start:.0f} s)", flush=True
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def wait_drained(client: httpx.AsyncClient, start: float) -> float:
    """Poll /healthz until the worker's queue is empty; seconds since `start`."""
    last = -1
    while True:
        depth = int((await client.get("/healthz")).json()["queue_depth"])
        if depth == 0:
            return time.perf_counter() - start
        if depth // 100_000 != last:
            last = depth // 100_000
            print(f"  worker queue depth {depth:,}", flush=True)
        await asyncio.sleep(0.5)


async def measure(client: httpx.AsyncClient, name: str, paths: list[str], rounds: int) -> dict[str, Any]:
    """p50/p95 (ms) of GET requests cycling through `paths`, after one warm-up each."""
    for p in paths[:3]:
        await client.get(p)
    times = []
    status = None
    for i in range(rounds):
        p = paths[i % len(paths)]
        t = time.perf_counter()
        r = await client.get(p)
        times.append((time.perf_counter() - t) * 1000)
        status = r.status_code
    times.sort()
    print(f"  {name}: p50 {statistics.median(times):.1f} ms, p95 {times[max(0, int(len(times) * 0.95) - 1)]:.1f} ms",
          flush=True)
    return {
        "name": name,
        "status": status,
        "p50": statistics.median(times),
        "p95": times[max(0, int(len(times) * 0.95) - 1)],
        "n": rounds,
    }


async def setup_scoring(client: httpx.AsyncClient) -> None:
    for event_type, weight in TYPES.items():
        r = await client.post("/rules", json={"event_type": event_type, "weight": weight})
        r.raise_for_status()
    for name, lo, hi in (("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, 1_000_000)):
        r = await client.post("/levels/engagement", json={"name": name, "min_score": lo, "max_score": hi})
        r.raise_for_status()
    r = await client.post("/decays", json={"inactive_for": 7, "unit": "days", "decrease": 5})
    r.raise_for_status()


def decay_pass(data_dir: Path, env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "leadvibe", "decay", "--now", "--data-dir", str(data_dir)],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    said = out.stdout.strip().splitlines()[-1:] or [""]
    if out.returncode:
        said = [f"FAILED (exit {out.returncode}): {out.stderr.strip()[-2000:]}"]
    return time.perf_counter() - t, said[0]


def start_server(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "leadvibe", "serve"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=120)


async def login(base: str) -> dict[str, str]:
    """Wait for /healthz, log in; Bearer + OU headers."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as anon:
        for _ in range(600):
            try:
                if (await anon.get("/healthz")).status_code in (200, 503):
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        token = (await anon.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()["token"]
    return {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}


async def timed_backtests(client: httpx.AsyncClient, ruleset_id: str, runs: int = 3) -> tuple[list[float], Any]:
    """Whole-OU backtests with every weight doubled; seconds of each run and the last answer."""
    draft = [{"event_type": t, "weight": 2 * w} for t, w in TYPES.items()]
    times, body = [], None
    for _ in range(runs):
        t = time.perf_counter()
        r = await client.post(f"/rulesets/{ruleset_id}/backtest", json={"rules": draft, "limit": 100}, timeout=600)
        times.append(time.perf_counter() - t)
        r.raise_for_status()
        body = r.json()
    return times, body


async def rescore_under_ingest(client: httpx.AsyncClient, ingest_headers: dict[str, str], ruleset_id: str,
                               rate: int = 100) -> tuple[float, Any, list[float]]:
    """Change a rule (page_view's weight + 2: 1 -> 3 on fresh data), then rescore the ruleset while another client
    sends `rate` single events/s to /ingest; (rescore seconds, its answer, the ingest latencies in ms)."""
    rules = (await client.get("/rules")).json()
    rule = next(r for r in (rules if isinstance(rules, list) else rules.get("rules", []))
                if r["event_type"] == "page_view")
    (await client.put(f"/rules/{rule['rule_id']}", json={"weight": rule["weight"] + 2})).raise_for_status()
    latencies: list[float] = []
    stop = asyncio.Event()

    async def ingest() -> None:
        async with httpx.AsyncClient(base_url=str(client.base_url), headers=ingest_headers, timeout=60) as c:
            i = 0
            start = time.perf_counter()
            while not stop.is_set():
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                t = time.perf_counter()
                r = await c.post("/ingest", json={"lead_id": f"ld_live_{i % 1000}", "event_type": "page_view"})
                latencies.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                i += 1

    task = asyncio.create_task(ingest())
    await asyncio.sleep(1.0)
    t = time.perf_counter()
    r = await client.post(f"/rulesets/{ruleset_id}/rescore", timeout=3600)
    took = time.perf_counter() - t
    stop.set()
    await task
    r.raise_for_status()
    return took, r.json(), sorted(latencies)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")



# -- profile, segments and accounts at scale (`--fit`) --------------------------------------------------------
# The HTTP load above gives leads without metadata; segment and account queries need profile properties, so this
# part builds its OU directly through the product's store functions (the same writes the API makes: lead rows,
# the lead property index via `lead_props.sync`, accounts, lead scores, events), then measures over HTTP.
FIT_INDUSTRIES = ["software", "fintech", "retail", "healthcare", "manufacturing", "media", "education",
                  "logistics", "energy", "telecom", "government", "nonprofit"]
FIT_COUNTRIES = ["US", "CA", "GB", "DE", "FR", "IN", "BR", "JP", "AU", "NL", "ES", "IT", "SE", "PL", "MX", "SG",
                 "ZA", "IE", "CH", "NO"]
FIT_TITLES = [f"{level} {area}" for level in ("VP", "Director of", "Head of", "Manager,", "Senior")
              for area in ("Engineering", "Marketing", "Sales", "Finance", "Operations", "Product")]
FIT_TAGS = ["beta", "vip", "churn-risk", "partner", "event-2025", "newsletter", "trial", "champion", "legacy", "apac"]
FIT_PLANS = ["starter", "team", "business", "enterprise"]


def fit_metadata(rng: random.Random, i: int) -> dict[str, Any]:
    """A lead's profile properties: six properties, a long-tailed company size, 0-3 tags."""
    return {
        "industry": rng.choice(FIT_INDUSTRIES),
        "country": rng.choice(FIT_COUNTRIES),
        "company_size": int(10 ** rng.uniform(0, 4.5)),
        "plan": rng.choice(FIT_PLANS),
        "title": rng.choice(FIT_TITLES),
        "tags": rng.sample(FIT_TAGS, rng.randint(0, 3)),
    }


def build_fit_dataset(db_path: Path, n_leads: int, n_accounts: int, seed: int) -> dict[str, float]:
    """Load `n_leads` leads with profile properties (and their index rows), `n_accounts` accounts, a primary score
    per lead and one pricing_view event per 10th lead into unit_default. Returns seconds per part."""
    import apsw

    from leadvibe.db.database import apply_pragmas
    from leadvibe.pipeline.fit import load_fit_config
    from leadvibe.store import accounts as account_store
    from leadvibe.store import events as ev_store
    from leadvibe.store import lead_props
    from leadvibe.store import leads as lead_store

    rng = random.Random(seed)
    conn = apsw.Connection(str(db_path))
    apply_pragmas(conn, synchronous="OFF", cache_size_mb=256)
    unit, org = "unit_default", conn.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    ruleset = conn.execute("SELECT id FROM rulesets WHERE unit_id = ? AND is_primary = 1", (unit,)).fetchone()[0]
    cfg = load_fit_config(conn, unit)
    now = int(time.time() * 1000)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    conn.execute("BEGIN")
    for a in range(n_accounts):
        meta = {"industry": rng.choice(FIT_INDUSTRIES), "employees": int(10 ** rng.uniform(1, 5))}
        row = {"id": f"ac_{a:06d}", "domain": f"company{a}.example", "name": f"Company {a}", "metadata": meta}
        row["score"] = cfg.account_score(row, meta)
        account_store.insert_account(conn, unit, org, row, now - rng.randrange(90 * DAY_MS))
    conn.execute("COMMIT")
    timings["accounts"] = time.perf_counter() - t
    t = time.perf_counter()
    next_seq = ev_store.next_event_seq(conn)
    for start in range(0, n_leads, 10_000):
        conn.execute("BEGIN")
        scores, events = [], []
        for i in range(start, min(start + 10_000, n_leads)):
            lead_id = f"lf_{i:07d}"
            meta = fit_metadata(rng, i)
            account = f"ac_{rng.randrange(n_accounts):06d}" if rng.random() < 0.8 else None
            lead_store.insert_lead(conn, unit, org, lead_id, json.dumps(meta), account, now, source="bench")
            conn.execute("UPDATE leads SET profile_score = ? WHERE unit_id = ? AND id = ?",
                         (cfg.profile_score(meta), unit, lead_id))
            lead_props.sync(conn, unit, int(conn.last_insert_rowid()), {}, meta)
            scores.append((unit, ruleset, lead_id, rng.randrange(200), now))
            if i % 10 == 0:
                plan = rng.choice(FIT_PLANS)
                events.append((next_seq, f"evf_{i}", org, unit, lead_id, "pricing_view", "pricing_view",
                               now - rng.randrange(30 * DAY_MS), now, now, json.dumps({"plan": plan}), "web",
                               "bench", "activate", 0, None, None, 1.0, None, 0, None))
                next_seq += 1
        ev_store.save_many_lead_scores(conn, scores)
        ev_store.insert_events_with_seq(conn, events)
        conn.execute("COMMIT")
        if (start // 10_000) % 10 == 0:
            print(f"  loaded {start + 10_000:,} leads ({time.perf_counter() - t:.0f} s)", flush=True)
    timings["leads"] = time.perf_counter() - t
    conn.execute("ANALYZE")
    conn.close()
    return timings


async def setup_fit(client: httpx.AsyncClient) -> None:
    """Profile and account rules and levels (before the load, which scores with them)."""
    r = await client.post("/rules", json={"event_type": "pricing_view", "weight": 5})
    r.raise_for_status()
    rs = (await client.post("/profile/rulesets", json={"name": "ICP"})).json()["id"]
    for prop, cond, value, weight in (("industry", "in", "software, fintech", 20),
                                      ("company_size", "greater_than", "500", 15),
                                      ("title", "starts_with", "vp", 10)):
        r = await client.post(f"/profile/rulesets/{rs}/rules", json={
            "profile_property": prop, "condition": cond, "comparison_value": value, "weight": weight})
        r.raise_for_status()
    r = await client.put("/settings/scoring", json={"abm_enabled": True})
    r.raise_for_status()
    ars = (await client.post("/accounts/rulesets", json={"name": "Targets"})).json()["id"]
    r = await client.post(f"/accounts/rulesets/{ars}/rules", json={
        "account_property": "employees", "condition": "greater_than", "comparison_value": "1000", "weight": 30})
    r.raise_for_status()
    for kind, bands in (("profile", (("Poor", -100, 14), ("Good", 15, 34), ("Ideal", 35, 100))),
                        ("account", (("low", 0, 9), ("medium", 10, 29), ("high", 30, 1000)))):
        for name, lo, hi in bands:
            r = await client.post(f"/levels/{kind}", json={"name": name, "min_score": lo, "max_score": hi})
            r.raise_for_status()


FIT_SEGMENTS = {
    "industry = software AND company_size > 500": [
        ("lead_metadata", None, "industry", "equals", "software", 0),
        ("lead_metadata", None, "company_size", "greater_than", "500", 0)],
    "country in (US, CA) AND plan = enterprise": [
        ("lead_metadata", None, "country", "in", "US, CA", 0),
        ("lead_metadata", None, "plan", "equals", "enterprise", 0)],
    "title contains director AND tags = vip": [
        ("lead_metadata", None, "title", "contains", "director", 0),
        ("lead_metadata", None, "tags", "equals", "vip", 0)],
    "industry != retail AND plan = team": [
        ("lead_metadata", None, "industry", "not_equals", "retail", 0),
        ("lead_metadata", None, "plan", "equals", "team", 0)],
    "pricing_view with plan = enterprise AND industry = fintech": [
        ("event_metadata", "pricing_view", "plan", "equals", "enterprise", 0),
        ("lead_metadata", None, "industry", "equals", "fintech", 0)],
    "(industry = media) OR (company_size > 20000)": [
        ("lead_metadata", None, "industry", "equals", "media", 0),
        ("lead_metadata", None, "company_size", "greater_than", "20000", 1)],
}


async def measure_fit(client: httpx.AsyncClient, rounds: int) -> tuple[list[dict[str, Any]], float]:
    """p50/p95 of segment count and first page, /leads by segment and profile, and /accounts; and the seconds the
    server took to build the kept members of the new segments."""
    ids: dict[str, str] = {}
    for name, rules in FIT_SEGMENTS.items():
        body = {"name": name[:100], "rules": [
            {"rule_type": t, "event_type": et, "field_name": f, "operator": op, "value": v, "logic_group": g}
            for t, et, f, op, v, g in rules]}
        r = await client.post("/segments", json=body)
        r.raise_for_status()
        ids[name] = r.json()["segment_id"]
    started = time.perf_counter()
    kept = {n for n, rules in FIT_SEGMENTS.items() if all(rule[0] == "lead_metadata" for rule in rules)}
    while True:
        ready = {s["name"] for s in (await client.get("/segments")).json() if s["members_ready"]}
        if kept <= ready:
            break
        await asyncio.sleep(0.5)
    built = time.perf_counter() - started
    results = []
    for name, sg in ids.items():
        count = (await client.get(f"/segments/{sg}/count")).json()["count"]
        how = "kept" if name in kept else "SQL"
        results.append(await measure(client, f"/segments/{{id}}/count ({how}): {name} ({count:,} leads)",
                                     [f"/segments/{sg}/count"], rounds))
        results.append(await measure(client, f"/segments/{{id}}/leads (first page): {name}",
                                     [f"/segments/{sg}/leads"], rounds))
    sg = ids[next(iter(FIT_SEGMENTS))]
    results.append(await measure(client, "/leads?segment= (two-rule segment, score_desc)", [f"/leads?segment={sg}"],
                                 rounds))
    results.append(await measure(client, "/leads?sort=profile_desc", ["/leads?sort=profile_desc"], rounds))
    results.append(await measure(client, "/leads?profile_level=Ideal", ["/leads?profile_level=Ideal"], rounds))
    results.append(await measure(client, "/accounts (first page)", ["/accounts"], rounds))
    results.append(await measure(client, "/accounts?intent_level=high", ["/accounts?intent_level=high"], rounds))
    results.append(await measure(client, "/accounts?search=company12", ["/accounts?search=company12"], rounds))
    accounts = [a["account_id"] for a in (await client.get("/accounts?limit=100")).json()["accounts"]]
    results.append(await measure(client, "/accounts/{id}", [f"/accounts/{a}" for a in accounts], rounds))
    return results, built


async def run_fit(args: argparse.Namespace) -> None:
    """`--fit`: configure a fresh server, stop it, load the OU directly, start it again and measure."""
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="lv-bench-fit-"))
    port = free_port()
    env = {**os.environ, "LEADVIBE_DATA_DIR": str(data_dir), "LEADVIBE_PORT": str(port),
           "LEADVIBE_ADMIN_EMAIL": EMAIL, "LEADVIBE_ADMIN_PASSWORD": PASSWORD, "LEADVIBE_LOG_LEVEL": "warning",
           "LEADVIBE_CACHE_SIZE_MB": str(args.cache_mb), "LEADVIBE_DECAY_INTERVAL": "86400"}
    base = f"http://127.0.0.1:{port}"

    async def session() -> tuple[subprocess.Popen[bytes], httpx.AsyncClient]:
        server = subprocess.Popen([sys.executable, "-m", "leadvibe", "serve"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        async with httpx.AsyncClient(base_url=base, timeout=30) as anon:
            for _ in range(300):
                try:
                    if (await anon.get("/healthz")).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            token = (await anon.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()["token"]
        client = httpx.AsyncClient(base_url=base, timeout=60,
                                   headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        return server, client

    server, client = await session()
    await setup_fit(client)
    await client.aclose()
    server.terminate()
    server.wait(timeout=60)
    print(f"loading {args.leads:,} leads with profile properties and {args.accounts:,} accounts", flush=True)
    timings = build_fit_dataset(data_dir / "leadvibe.db", args.leads, args.accounts, args.seed)
    server, client = await session()
    try:
        results, built = await measure_fit(client, args.rounds)
        rss, peak = rss_mb(server.pid)
    finally:
        await client.aclose()
        server.terminate()
        server.wait(timeout=60)
    size = sum(p.stat().st_size for p in data_dir.glob("leadvibe.db*")) / 1e6
    print()
    print(f"| endpoint ({args.leads:,} leads, {args.accounts:,} accounts) | status | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for m in results:
        print(f"| `{m['name']}` | {m['status']} | {m['p50']:.1f} | {m['p95']:.1f} |")
    print()
    print(f"- direct load: accounts {timings['accounts']:.1f} s, leads with their index rows {timings['leads']:.0f} s")
    print(f"- kept members of the {sum(1 for r in FIT_SEGMENTS.values() if all(x[0] == 'lead_metadata' for x in r))}"
          f" lead-metadata segments built by the server in {built:.1f} s after they were created")
    print(f"- database with WAL: {size:.0f} MB; server RSS after the reads {rss:.0f} MB (peak {peak:.0f} MB)")
    if not args.keep and not args.data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"- data kept in {data_dir}")

async def run(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="lv-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "LEADVIBE_DATA_DIR": str(data_dir),
        "LEADVIBE_PORT": str(port),
        "LEADVIBE_ADMIN_EMAIL": EMAIL,
        "LEADVIBE_ADMIN_PASSWORD": PASSWORD,
        "LEADVIBE_SYNCHRONOUS": "NORMAL",
        "LEADVIBE_DECAY_INTERVAL": "86400",
        "LEADVIBE_LOG_LEVEL": "warning",
        "LEADVIBE_CACHE_SIZE_MB": str(args.cache_mb),
    }
    base = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    began = time.perf_counter()
    server = start_server(env)
    try:
        headers = await login(base)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60,
                                     limits=httpx.Limits(max_connections=args.concurrency + 4)) as client:
            await setup_scoring(client)
            secret = (await client.post("/secrets", json={"name": "bench"})).json()
            ingest_headers = {"Authorization": "Basic " + base64.b64encode(
                f"{secret['client_id']}:{secret['client_secret']}".encode()).decode()}
            ruleset_id = (await client.get("/rulesets")).json()[0]["ruleset_id"]
            now = int(time.time() * 1000)
            events = make_events(args.leads, args.events, now, args.seed)
            if args.load == "http":
                print(f"loading {args.events:,} events for {args.leads:,} leads through POST /ingest/batch", flush=True)
                t0 = time.perf_counter()
                ack = await load(client, events, args.concurrency)
                scored = await wait_drained(client, t0)
        if args.load == "inbox":
            stop_server(server)
            print(f"writing {args.events:,} events for {args.leads:,} leads into the inbox", flush=True)
            ack = load_inbox(data_dir, events, args.events)
            t0 = time.perf_counter()
            server = start_server(env)
            headers = await login(base)
        elif args.load == "store":
            stop_server(server)
            print(f"writing {args.events:,} events for {args.leads:,} leads through the store, then a full"
                  f" rescore", flush=True)
            ack, scored = load_store(data_dir, args.leads, args.events, now, args.seed)
            server = start_server(env)
            headers = await login(base)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            if args.load == "inbox":
                scored = await wait_drained(client, t0)
            print(f"{'written' if args.load == 'store' else 'acknowledged'} in {ack:.1f} s"
                  f" ({args.events / ack:,.0f} ev/s); scored in {scored:.1f} s "
                  f"({args.events / scored:,.0f} ev/s)", flush=True)
            built = time.perf_counter() - began
            rng = random.Random(args.seed + 1)
            leads = [f"ld_{rng.randrange(args.leads):07d}" for _ in range(200)]
            r = rounds = args.rounds
            results += [
                await measure(client, "/leads (first page, score_desc)", ["/leads"], r),
                await measure(client, "/leads?min_score=60 (filtered by score)", ["/leads?min_score=60"], r),
                await measure(client, "/leads?min_score=20&max_score=59&page=3",
                              ["/leads?min_score=20&max_score=59&page=3"], r),
                await measure(client, "/leads?sort=recent", ["/leads?sort=recent"], r),
                await measure(client, "/leads?sort=score_asc", ["/leads?sort=score_asc"], r),
                await measure(client, "/leads?last_active=7d&min_score=20", ["/leads?last_active=7d&min_score=20"], r),
                await measure(client, "/leads/search?q=<id prefix>", [f"/leads/search?q={x[:8]}" for x in leads], r),
                await measure(client, "/leads/search?q=<email prefix>",
                              [f"/leads/search?q=user{x[3:9]}" for x in leads], r),
                await measure(client, "/leads/{id}", [f"/leads/{x}" for x in leads], r),
                await measure(client, "/leads/{id}/activity?range=all",
                              [f"/leads/{x}/activity?range=all" for x in leads], r),
                await measure(client, "/leads/{id}/explanation?hours=1440",
                              [f"/leads/{x}/explanation?hours=1440" for x in leads], r),
                await measure(client, "/events?lead_id=", [f"/events?lead_id={x}" for x in leads], r),
            ]
            # Score gains over the default day, and over windows of a few hours (fewer events than a day's, but a
            # day's rises bound them more loosely).
            for path in ("/analytics", "/analytics/stats", "/analytics/top-leads", "/analytics/score-gains",
                         "/analytics/score-gains?hours=1", "/analytics/score-gains?hours=3", "/usage"):
                results.append(await measure(client, path, [path], rounds))
            backtests, backtest = await timed_backtests(client, ruleset_id)
            print(f"  whole-OU backtest: {', '.join(f'{t:.2f} s' for t in backtests)}", flush=True)
            rescore_s, rescore, ingest_ms = await rescore_under_ingest(client, ingest_headers, ruleset_id)
            print(f"  rescore: {rescore_s:.1f} s; /ingest meanwhile p99 {pct(ingest_ms, 0.99):.1f} ms", flush=True)
        rss, peak = rss_mb(server.pid)
    finally:
        stop_server(server)
    first, first_out = decay_pass(data_dir, env)
    second, second_out = decay_pass(data_dir, env)
    db = data_dir / "leadvibe.db"
    size = sum(p.stat().st_size for p in data_dir.glob("leadvibe.db*")) / 1e6
    print()
    print(f"| endpoint ({args.leads:,} leads, {args.events:,} events) | status | p50 ms | p95 ms |")
    print("|---|---|---|---|")
    for m in results:
        print(f"| `{m['name']}` | {m['status']} | {m['p50']:.1f} | {m['p95']:.1f} |")
    print()
    print(f"- built ({args.load} load, scored end to end, server restarts included): {built / 60:.1f} min")
    if args.load == "store":
        print(f"- history written through the store {args.events / ack:,.0f} ev/s ({ack:.0f} s), scored by a full"
              f" in-process rescore {args.events / scored:,.0f} ev/s ({scored:.0f} s): not the worker's rate")
    else:
        print(f"- ingest: acknowledged {args.events / ack:,.0f} ev/s ({args.load}), scored end to end "
              f"{args.events / scored:,.0f} ev/s ({scored:.0f} s)")
    print(f"- whole-OU backtest ({backtest['leads_evaluated']:,} leads, every event): "
          + ", ".join(f"{t:.2f} s" for t in backtests))
    print(f"- rescore after a rule change: {rescore_s:.1f} s ({rescore['leads_rescored']:,} leads,"
          f" {rescore['changed']:,} changed); /ingest meanwhile at 100/s: p50 {pct(ingest_ms, 0.5):.1f} ms,"
          f" p99 {pct(ingest_ms, 0.99):.1f} ms ({len(ingest_ms)} requests)")
    print(f"- decay pass 1 (7-day rule, decays every lead idle > 7 d): {first:.2f} s wall, CLI says: {first_out}")
    print(f"- decay pass 2 (steady state, nothing due): {second:.2f} s wall, CLI says: {second_out}")
    print(f"- database: {db.stat().st_size / 1e6:.0f} MB ({size:.0f} MB with WAL/SHM)")
    print(f"- server RSS after the reads, backtests and rescore: {rss:.0f} MB (peak {peak:.0f} MB)")
    if not args.keep and not args.data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"- data kept in {data_dir}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--load", choices=["inbox", "http", "store"], default="store",
                   help="inbox: pipeline validation + inbox rows written directly (no HTTP); http: POST"
                        " /ingest/batch; store: the history written through the store and scored by a full rescore"
                        " (no worker: the quick way to a large OU)")
    p.add_argument("--concurrency", type=int, default=4, help="parallel /ingest/batch clients (--load http)")
    p.add_argument("--rounds", type=int, default=100, help="requests per measured endpoint")
    p.add_argument("--cache-mb", type=int, default=64, help="LEADVIBE_CACHE_SIZE_MB for the server")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", default=None, help="use (and keep) this data directory")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    p.add_argument("--fit", action="store_true",
                   help="profile, segments and accounts instead: load --leads leads directly, measure over HTTP")
    p.add_argument("--accounts", type=int, default=20_000, help="accounts for --fit")
    args = p.parse_args()
    if args.fit:
        asyncio.run(run_fit(args))
        return
    if args.events < args.leads:
        p.error("--events must be at least --leads (every lead gets one event)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
