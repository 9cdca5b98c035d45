"""Scale benchmark: one OU with N leads and M events, then read latencies, one decay pass, DB size and RSS.

Builds the data through the product's own bulk path: `POST /ingest/batch` (1,000 events per request, a few
concurrent clients) against a real `python -m leadvibe serve` subprocess on a temporary data directory, so
every event is validated, made durable in the inbox and scored by the worker exactly as in production. Then it
prints p50/p95 of the read endpoints, stops the server and times `leadvibe decay --now` (the same pass the
in-process scheduler runs), twice: the first pass decays every lead idle for more than 7 days, the second
finds nothing left to do (the steady state every scheduler tick pays).

    .venv/bin/python scripts/bench_scale.py --leads 100000 --events 1000000

The defaults are the issue's targets (1,000,000 leads / 10,000,000 events); at the measured ingest rate that
takes hours, so record reduced runs with the flags. `LEADVIBE_SYNCHRONOUS=NORMAL` is used for the load (a
process crash still loses nothing; only power-loss durability differs), as docs/performance.md says."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
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


def make_events(n_leads: int, n_events: int, now: int, seed: int) -> list[dict[str, Any]]:
    """Every lead gets one event with an email alias first, then the rest go to random leads; timestamps are
    spread over the last 60 days (in arrival order per lead would be nicer, but random is the harder case)."""
    rng = random.Random(seed)
    types = list(TYPES)
    out: list[dict[str, Any]] = []
    for i in range(n_events):
        lead = i if i < n_leads else rng.randrange(n_leads)
        ev: dict[str, Any] = {
            "lead_id": f"ld_{lead:07d}",
            "event_type": rng.choice(types),
            "timestamp": iso(now - rng.randrange(60 * DAY_MS)),
        }
        if i < n_leads:
            ev["aliases"] = [{"alias_kind": "email", "raw_value": f"user{lead:07d}@example{lead % 97}.com"}]
        out.append(ev)
    return out


async def load(client: httpx.AsyncClient, events: list[dict[str, Any]], concurrency: int) -> float:
    """POST /ingest/batch in 1,000-event batches with `concurrency` clients; seconds until all
    acknowledged."""
    batches = [events[i : i + 1000] for i in range(0, len(events), 1000)]
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)
    start = time.perf_counter()
    done = 0

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            batch = queue.get_nowait()
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
        check=True,
        cwd=ROOT,
    )
    return time.perf_counter() - t, out.stdout.strip()


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
    server = subprocess.Popen(
        [sys.executable, "-m", "leadvibe", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as anon:
            for _ in range(200):
                try:
                    if (await anon.get("/healthz")).status_code in (200, 503):
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            token = (await anon.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()[
                "token"
            ]
        headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
        async with httpx.AsyncClient(
            base_url=base,
            headers=headers,
            timeout=60,
            limits=httpx.Limits(max_connections=args.concurrency + 2),
        ) as client:
            await setup_scoring(client)
            now = int(time.time() * 1000)
            print(f"generating {args.events:,} events for {args.leads:,} leads", flush=True)
            events = make_events(args.leads, args.events, now, args.seed)
            print("loading through POST /ingest/batch", flush=True)
            t0 = time.perf_counter()
            ack = await load(client, events, args.concurrency)
            del events
            scored = await wait_drained(client, t0)
            print(
                f"acknowledged in {ack:.1f} s ({args.events / ack:,.0f} ev/s); all scored after"
                f" {scored:.1f} s "
                f"({args.events / scored:,.0f} ev/s)",
                flush=True,
            )
            rng = random.Random(args.seed + 1)
            leads = [f"ld_{rng.randrange(args.leads):07d}" for _ in range(200)]
            r = rounds = args.rounds
            results += [
                await measure(client, "/leads (first page, score_desc)", ["/leads"], r),
                await measure(client, "/leads?min_score=60 (filtered by score)", ["/leads?min_score=60"], r),
                await measure(
                    client,
                    "/leads?min_score=20&max_score=59&page=3",
                    ["/leads?min_score=20&max_score=59&page=3"],
                    r,
                ),
                await measure(client, "/leads?sort=recent", ["/leads?sort=recent"], r),
                await measure(client, "/leads?sort=score_asc", ["/leads?sort=score_asc"], r),
                await measure(
                    client, "/leads?last_active=7d&min_score=20", ["/leads?last_active=7d&min_score=20"], r
                ),
                await measure(
                    client, "/leads/search?q=<id prefix>", [f"/leads/search?q={x[:8]}" for x in leads], r
                ),
                await measure(
                    client,
                    "/leads/search?q=<email prefix>",
                    [f"/leads/search?q=user{x[3:9]}" for x in leads],
                    r,
                ),
                await measure(client, "/leads/{id}", [f"/leads/{x}" for x in leads], r),
                await measure(
                    client,
                    "/leads/{id}/activity?range=all",
                    [f"/leads/{x}/activity?range=all" for x in leads],
                    r,
                ),
                await measure(
                    client,
                    "/leads/{id}/explanation?hours=1440",
                    [f"/leads/{x}/explanation?hours=1440" for x in leads],
                    r,
                ),
                await measure(client, "/events?lead_id=", [f"/events?lead_id={x}" for x in leads], r),
            ]
            for path in (
                "/analytics",
                "/analytics/stats",
                "/analytics/top-leads",
                "/analytics/score-gains",
                "/usage",
            ):
                results.append(await measure(client, path, [path], rounds))
        rss, peak = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
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
    print(
        f"- ingest: acknowledged {args.events / ack:,.0f} ev/s, scored end to end "
        f"{args.events / scored:,.0f} ev/s ({scored:.0f} s)"
    )
    print(
        f"- decay pass 1 (7-day rule, decays every lead idle > 7 d): {first:.2f} s wall, CLI says:"
        f" {first_out}"
    )
    print(f"- decay pass 2 (steady state, nothing due): {second:.2f} s wall, CLI says: {second_out}")
    print(f"- database: {db.stat().st_size / 1e6:.0f} MB ({size:.0f} MB with WAL/SHM)")
    print(f"- server RSS after the reads: {rss:.0f} MB (peak {peak:.0f} MB)")
    if not args.keep and not args.data_dir:
        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"- data kept in {data_dir}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--leads", type=int, default=1_000_000)
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--concurrency", type=int, default=4, help="parallel /ingest/batch clients")
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
