"""Scale benchmark: one OU with N leads and M events, then read latencies, a whole-OU backtest, a rescore under
ingestion, two decay passes, database size and RSS, all printed in one run.

Loading (`--load`):
- `inbox` (default): the events are validated by `pipeline.inbox.validate` and written to the inbox by
  `pipeline.inbox`'s own store function (the rows `POST /ingest/batch` would write, byte for byte), with the
  server stopped; then the server starts and its worker scores them exactly as in production. This skips only
  HTTP, so a 10 M event history loads in minutes.
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
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def make_events(n_leads: int, n_events: int, now: int, seed: int) -> Iterator[dict[str, Any]]:
    """Every lead gets one event with an email alias first, then the rest go to random leads; timestamps are
    spread over the last 60 days (random, not in arrival order per lead: the harder case). Generated lazily: ten
    million dicts would not fit in memory."""
    rng = random.Random(seed)
    types = list(TYPES)
    for i in range(n_events):
        lead = i if i < n_leads else rng.randrange(n_leads)
        ev: dict[str, Any] = {
            "lead_id": f"ld_{lead:07d}",
            "event_type": rng.choice(types),
            "timestamp": iso(now - rng.randrange(60 * DAY_MS)),
        }
        if i < n_leads:
            ev["aliases"] = [{"alias_kind": "email", "raw_value": f"user{lead:07d}@example{lead % 97}.com"}]
        yield ev


def load_inbox(data_dir: Path, events: Iterator[dict[str, Any]], total: int) -> float:
    """Validate and store events in the inbox with the pipeline's own functions (the server is stopped);
    seconds taken."""
    import apsw
    import msgspec

    from leadvibe.db.database import apply_pragmas
    from leadvibe.pipeline import inbox

    conn = apsw.Connection(str(data_dir / "leadvibe.db"))
    apply_pragmas(conn, synchronous="NORMAL")
    org_id = conn.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
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
    """Change a rule (page_view 1 -> 3), then rescore the ruleset while another client sends `rate` single
    events/s to /ingest; (rescore seconds, its answer, the ingest latencies in ms)."""
    rules = (await client.get("/rules")).json()
    rule = next(r for r in (rules if isinstance(rules, list) else rules.get("rules", []))
                if r["event_type"] == "page_view")
    (await client.put(f"/rules/{rule['rule_id']}", json={"weight": 3})).raise_for_status()
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
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            if args.load == "inbox":
                scored = await wait_drained(client, t0)
            print(f"acknowledged in {ack:.1f} s ({args.events / ack:,.0f} ev/s); scored in {scored:.1f} s "
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
            for path in ("/analytics", "/analytics/stats", "/analytics/top-leads", "/analytics/score-gains",
                         "/usage"):
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
    p.add_argument("--load", choices=["inbox", "http"], default="inbox",
                   help="inbox: pipeline validation + inbox rows written directly (no HTTP); http: POST /ingest/batch")
    p.add_argument("--concurrency", type=int, default=4, help="parallel /ingest/batch clients (--load http)")
    p.add_argument("--rounds", type=int, default=100, help="requests per measured endpoint")
    p.add_argument("--cache-mb", type=int, default=64, help="LEADVIBE_CACHE_SIZE_MB for the server")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--data-dir", default=None, help="use (and keep) this data directory")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = p.parse_args()
    if args.events < args.leads:
        p.error("--events must be at least --leads (every lead gets one event)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
