#!/usr/bin/env python3
"""Ingestion while the worker drains a backlog in a large OU: prints the `POST /ingest` latency at a paced rate
(p50 / p99 / max, measured from each request's scheduled time, so a slow answer also delays the ones behind it)
and the worker's scoring rate meanwhile, on a real server and a real SQLite file (FULL).

The OU is built with SQL, not through the worker, so a million leads take minutes rather than an hour: `--leads`
leads with three ruleset scores each (random, 0-199) and `--history` stored events with random ids spread over the
leads and the last 30 days (the event indexes larger than the page cache, as an older database holds); the
configuration is bench_ingest.py's (3 rulesets, surge, an email-open filter). Then `--backlog` events of random
existing leads are written to the inbox with the server stopped; the server starts, drains them, and a client
sends `--rate` single events/s to `/ingest` for `--seconds`. Every load is bounded in count and time.

At a million leads each scored event dirties pages all over the lead-keyed indexes, so most of a worker batch's
time is its writes and commit after the scoring: what a 202 queued behind a batch waits for. Also printed: the
peak resident memory of the server and of its worker process; with `--ranking`, once the backlog is drained, the
reads that rank leads by score (top leads in the primary ruleset and in another, the lead list by score and with a
score filter) and the time of switching the primary ruleset there and back; with `--lists`, the lead list's first
page under lead filters (last event type, recency, creation, recency with a score filter).
Usage: python scripts/bench_drain.py [--leads 1000000] [--history 3000000] [--backlog 40000] [--rate 100]
       [--seconds 20] [--keep DIR] [--ranking] [--lists]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import apsw
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from _offline_inbox import open_inbox  # noqa: E402
from bench_ingest import pct  # noqa: E402
from bench_worker import TYPES, configure, preload  # noqa: E402

from leadvibe.db.database import apply_pragmas  # noqa: E402
from leadvibe.pipeline import inbox  # noqa: E402
from tests.e2e.server import ServerProcess, family, status_kb  # noqa: E402


def build(data: Path, leads: int, history: int) -> None:
    """Bootstrap the data dir through the server, then add the leads, their scores and the stored history."""
    ServerProcess(data).start().stop()
    conn = apsw.Connection(str(data / "leadvibe.db"))
    apply_pragmas(conn, synchronous="NORMAL")
    now = int(time.time() * 1000)
    t0 = time.perf_counter()
    with conn:
        org_id = configure(conn)
        conn.execute(
            # One random time per lead for both activity columns (they hold the same time: migration 0058).
            "WITH RECURSIVE n(i, t) AS (SELECT 0, ?3 - abs(random() % 2592000000) UNION ALL"
            " SELECT i + 1, ?3 - abs(random() % 2592000000) FROM n WHERE i + 1 < ?2)"
            " INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at, last_event_type,"
            " last_organic_at) SELECT 'unit_default', 'ld_b' || i, ?1, ?3, ?3, t, 'page_view', t FROM n",
            (org_id, leads, now))
        for n in range(3):
            conn.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                         " SELECT unit_id, ?, id, abs(random() % 200), ? FROM leads WHERE unit_id = 'unit_default'",
                         (f"rs_{n}", now))
    for lo in range(0, history, 200_000):
        with conn:
            preload(conn, org_id, min(200_000, history - lo), leads, now)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    print(f"built {leads:,} leads, {history:,} stored events in {time.perf_counter() - t0:.0f} s", flush=True)


def fill_backlog(data: Path, leads: int, backlog: int, seed: int) -> None:
    """`backlog` validated events of random existing leads in the inbox (the server is stopped)."""
    main = apsw.Connection(str(data / "leadvibe.db"))
    org_id = main.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
    main.close()
    conn = open_inbox(data)
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    for lo in range(0, backlog, 10_000):
        chunk = [inbox.validate(inbox.IngestEvent(event_type=TYPES[i % 3], lead_id=f"ld_b{rng.randrange(leads)}"),
                                now) for i in range(lo, min(backlog, lo + 10_000))]
        with conn:
            inbox.store_events(conn, org_id, "unit_default", chunk, "api", False, now)
    conn.close()


async def paced_ingest(base: str, auth: dict[str, str], leads: int, rate: int, seconds: float,
                       seed: int) -> list[float]:
    """`rate` single events/s for `seconds` over 32 keep-alive connections; latency from each scheduled send. The
    first two seconds' requests open the connections and are not counted."""
    rng = random.Random(seed)
    warmup = 2 * rate
    total = warmup + int(rate * seconds)
    bodies = [{"lead_id": f"ld_b{rng.randrange(leads)}", "event_type": "page_view"} for _ in range(total)]
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    # The 32 clients (one connection each) are made and connected before the schedule starts (making them took 2 s,
    # which showed as server latency), and the collector's older objects are frozen: a full collection of this
    # process paused it for 75-125 ms.
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(base_url=base, headers=auth, timeout=60))
                   for _ in range(32)]
        for client in clients:
            await client.get("/healthz")
        gc.collect()
        gc.freeze()
        start = time.perf_counter() + 0.1

        async def sender(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                i = queue.get_nowait()
                due = start + i / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                r = await client.post("/ingest", json=bodies[i])
                r.raise_for_status()
                if i >= warmup:
                    latencies.append((time.perf_counter() - due) * 1000)

        await asyncio.gather(*(sender(client) for client in clients))
    gc.unfreeze()
    return sorted(latencies)


def depth(base: str) -> int:
    return int(httpx.get(base + "/healthz", timeout=30).json()["queue_depth"])


def drained_client(server: ServerProcess) -> httpx.Client:
    """A signed-in client in the bench's OU, once the backlog is drained (at most two minutes more)."""
    deadline = time.monotonic() + 120
    while depth(server.base) and time.monotonic() < deadline:
        time.sleep(0.5)
    headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    return httpx.Client(base_url=server.base, headers=headers, timeout=120)


def read_times(client: httpx.Client, reads: list[tuple[str, str]], rounds: int) -> list[str]:
    """p50 / p95 ms of each (label, path) GET, `rounds` times each."""
    out = []
    for label, path in reads:
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            client.get(path).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        out.append(f"{label}: p50 {pct(times, 0.5):.1f} ms, p95 {pct(times, 0.95):.1f} ms")
    return out


def ranking_figures(server: ServerProcess, rounds: int = 20) -> list[str]:
    """Reads that rank leads by score, for the primary ruleset (rs_0) and another one (rs_1), then the time of
    making rs_1 primary and rs_0 again."""
    with drained_client(server) as client:
        out = read_times(client, [("top leads, primary ruleset", "/analytics/top-leads"),
                                  ("top leads, another ruleset", "/analytics/top-leads?ruleset=rs_1"),
                                  ("/leads by score, first page", "/leads?sort=score_desc"),
                                  ("/leads with min_score=150", "/leads?min_score=150")], rounds)
        for ruleset in ("rs_1", "rs_0"):
            t0 = time.perf_counter()
            client.put(f"/rulesets/{ruleset}", json={"is_primary": True}).raise_for_status()
            out.append(f"{ruleset} made primary: {time.perf_counter() - t0:.2f} s")
    return out


def list_figures(server: ServerProcess, rounds: int = 10) -> list[str]:
    """The lead list's first page (default sort) under lead filters: the last event type (one every lead has
    here, one none has), recency, creation, and recency with a score filter."""
    with drained_client(server) as client:
        return read_times(client, [("/leads?event_type=page_view", "/leads?event_type=page_view"),
                                   ("/leads?event_type=form_submit (no lead)", "/leads?event_type=form_submit"),
                                   ("/leads?last_active=7d", "/leads?last_active=7d"),
                                   ("/leads?range=last_7d", "/leads?range=last_7d"),
                                   ("/leads?last_active=7d&min_score=20", "/leads?last_active=7d&min_score=20")],
                          rounds)


def peak_rss_mb(server: ServerProcess) -> list[tuple[str, float]]:
    """The most resident memory each process of the server has held (VmHWM): the server, then its worker."""
    assert server.proc is not None
    return [("server" if n == 0 else "worker process", status_kb(pid, "VmHWM") / 1024)
            for n, pid in enumerate(family(server.proc.pid))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--history", type=int, default=3_000_000, help="stored events before the backlog")
    ap.add_argument("--backlog", type=int, default=40_000)
    ap.add_argument("--rate", type=int, default=100, help="single events/s sent to /ingest during the drain")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", help="build the OU in this directory once and reuse it (a copy is measured)")
    ap.add_argument("--ranking", action="store_true",
                    help="then, once drained: reads that rank by score in each ruleset, and primary switches")
    ap.add_argument("--lists", action="store_true",
                    help="then, once drained: the lead list's first page under lead filters")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lv-bench-drain-"))
    built = Path(args.keep) if args.keep else tmp / "built"
    try:
        if not (built / "leadvibe.db").exists():
            build(built, args.leads, args.history)
        data = tmp / "data"
        shutil.copytree(built, data)
        fill_backlog(data, args.leads, args.backlog, args.seed)
        # The copy's pages are still being written back: an fsync meeting that writeback waited for seconds.
        os.sync()
        server = ServerProcess(data, env={"LEADVIBE_LOG_LEVEL": "warning"}).start(timeout=120)
        try:
            auth = server.basic()
            load = os.getloadavg()[0]
            before, t0 = depth(server.base), time.perf_counter()
            latencies = asyncio.run(paced_ingest(server.base, auth, args.leads, args.rate, args.seconds,
                                                 args.seed + 1))
            after, t1 = depth(server.base), time.perf_counter()
            peaks = peak_rss_mb(server)
            ranking = ranking_figures(server) if args.ranking else []
            ranking += list_figures(server) if args.lists else []
        finally:
            server.stop()
        scored = before - after + len(latencies)
        print(f"{args.leads:,} leads, {args.history:,} stored events, a backlog of {args.backlog:,}; code: {ROOT}")
        print(f"/ingest at {args.rate}/s while the worker drains: p50 {pct(latencies, 0.5):.1f} ms,"
              f" p99 {pct(latencies, 0.99):.1f} ms, max {latencies[-1]:.1f} ms ({len(latencies)} requests)")
        print(f"worker meanwhile: {scored / (t1 - t0):,.0f} events/s (queue {before:,} -> {after:,});"
              f" load average {load:.2f} before, {os.getloadavg()[0]:.2f} after"
              + ("; the queue emptied before the end: a lower bound" if not after else ""))
        print("peak RSS: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in peaks))
        for line in ranking:
            print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
