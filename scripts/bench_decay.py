"""Decay passes at scale, in-process: N leads built directly through SQL, then decay passes timed.

    .venv/bin/python scripts/bench_decay.py --leads 200000            # build, pass 1, pass 2, a late pass
    PYTHONPATH=/tmp/x-before .venv/bin/python scripts/bench_decay.py  # the same against another checkout
    .venv/bin/python scripts/bench_decay.py --leads 300000 --keep /tmp/d300k --build-only   # build once,
    .venv/bin/python scripts/bench_decay.py --from /tmp/d300k                           # then passes on copies

Every lead gets `--events-per-lead` organic events (one ruleset, one score row each) spread over the 30 days
before its last organic event; last organic events are uniform over the past `--spread-days` days. Two decay
rules (7 and 30 days). The figures printed:

- pass 1: the first pass, which decays every lead idle more than 7 days (and the 30-day rule's leads);
- pass 2: the steady state a minute later (the scheduler's every tick: nothing or a handful due);
- pass 3: a day later (the leads whose 7 or 30 days ran out during that day);
- for each pass, the wait of a probe write job queued every 10 ms while the pass runs (what a worker batch or an
  API write waits behind the pass's write transactions; acknowledgements commit to the inbox file): p50, p99, max.

`--from DIR --server-rate N` measures the first pass in a real server instead (its worker in a process of its
own, as by default): the pass starts two seconds after the server answers, while a client sends N single
events/s to `/ingest` for `--server-seconds` (bench_drain.py's paced client); printed are the `/ingest` latencies,
the server's own 202 → score latencies of those events (the `event_processing_latency_seconds` histogram: the
share within each bucket bound, and the mean) and the DECAY events recorded by the end.

The database lives in a temporary directory deleted at the end (or `--keep DIR`). Only the code imported as
`leadvibe` changes between a before and an after run; the data built is the same for a given `--seed`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _sql_times import StatementTimes  # the scripts directory is on sys.path

DAY = 86_400_000


def build(conn: Any, unit_id: str, org_id: str, leads: int, per_lead: int, spread_days: int, now: int,
          seed: int) -> None:
    """Leads, their organic events, score rows and lead scores (one ruleset `rs_bench`, +5 per event)."""
    rnd = random.Random(seed)
    lead_rows = []
    events: list[tuple[int, str]] = []
    for i in range(leads):
        lead_id = f"ld_{rnd.getrandbits(80):020x}"
        last = now - rnd.randrange(1, spread_days * DAY)
        times = sorted([last] + [last - rnd.randrange(0, 30 * DAY) for _ in range(per_lead - 1)])
        lead_rows.append((unit_id, lead_id, org_id, times[0], now, last, "page_view", last))
        events.extend((t, lead_id) for t in times)
        if i % 100_000 == 99_999:
            print(f"  generated {i + 1:,} leads", flush=True)
    events.sort()
    conn.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at,"
                     " last_event_type, last_organic_at) VALUES (?,?,?,?,?,?,?,?)", lead_rows)
    conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                 " VALUES ('rs_bench', ?, ?, 'bench', 1, ?, ?)", (org_id, unit_id, now, now))
    conn.execute("INSERT INTO rules (id, ruleset_id, org_id, unit_id, event_type, type_key, weight, created_at,"
                 " updated_at) VALUES ('rl_bench', 'rs_bench', ?, ?, 'page_view', 'page_view', 5, ?, ?)",
                 (org_id, unit_id, now, now))
    seq0 = int(conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]) + 1
    score: dict[str, int] = {}
    ev_rows, score_rows = [], []
    for n, (t, lead_id) in enumerate(events):
        before = score.get(lead_id, 0)
        score[lead_id] = before + 5
        ev_rows.append((seq0 + n, f"ev_{rnd.getrandbits(80):020x}", org_id, unit_id, lead_id, t, t, t))
        score_rows.append((seq0 + n, unit_id, lead_id, before, before + 5))
    conn.executemany("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at,"
                     " received_at, processed_at, channel, has_delta) VALUES (?,?,?,?,?,'page_view','page_view',"
                     "?,?,?,'web',1)", ev_rows)
    conn.executemany("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, rule_ids, weight,"
                     " multiplier, delta, before, after) VALUES (?, 'rs_bench', ?, ?, '[\"rl_bench\"]', 5, 1.0, 5,"
                     " ?, ?)", score_rows)
    conn.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                     " VALUES (?, 'rs_bench', ?, ?, ?)", [(unit_id, k, v, now) for k, v in score.items()])


async def timed_pass(rt: Any, run_pass: Any) -> tuple[float, int, list[float]]:
    """(seconds, decays applied, probe write waits in ms) of one pass while a probe queues a write every 10 ms."""
    waits: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            t = time.perf_counter()
            await rt.db.write(lambda c: None)
            waits.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    result = await run_pass(rt)
    took = time.perf_counter() - started
    done.set()
    await task
    return took, result.applied, waits


def ingest_during_pass(data_dir: Path, rate: int, seconds: float) -> None:
    """`--server-rate`: a real server on `data_dir` whose first decay pass starts 2 s after it answers, single
    events sent to /ingest at `rate`/s meanwhile; print their 202 -> score latencies as the server counts them."""
    import base64
    import re
    import sys

    import httpx
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench_drain import paced_ingest

    from tests.e2e.server import ServerProcess

    def histogram(base: str, headers: dict[str, str]) -> dict[str, float]:
        """The latency histogram's cumulative buckets by bound, its count and its sum."""
        text = httpx.get(base + "/metrics", headers=headers, timeout=10).text
        name = "event_processing_latency_seconds"
        out = {le: float(v) for le, v in re.findall(rf'^{name}_bucket\{{le="([^"]+)"\}} (\S+)', text, re.M)}
        out.update({k: float(v) for k, v in re.findall(rf"^{name}_(count|sum) (\S+)", text, re.M)})
        return out

    server = ServerProcess(data_dir, env={"LEADVIBE_DECAY_INTERVAL": "2", "LEADVIBE_ADMIN_EMAIL": "admin@example.com",
                                          "LEADVIBE_ADMIN_PASSWORD": "admin-password-1"}).start()
    try:
        token = httpx.post(server.base + "/auth/login", json={"email": "admin@example.com",
                                                               "password": "admin-password-1"}, timeout=10).json()
        headers = {"Authorization": f"Bearer {token['token']}", "X-OU-ID": "unit_default"}
        secret = httpx.post(server.base + "/secrets", json={"name": "bench"}, headers=headers, timeout=10).json()
        basic = "Basic " + base64.b64encode(f"{secret['client_id']}:{secret['client_secret']}".encode()).decode()
        before = histogram(server.base, headers)
        ingest_ms = asyncio.run(paced_ingest(server.base, {"Authorization": basic}, 5000, rate, seconds, 7))
        server.wait_scored(60)
        after = histogram(server.base, headers)
    finally:
        server.stop()
    count = after["count"] - before["count"]
    shares = ", ".join(f"<= {float(le) * 1000:g} ms {100 * (after[le] - before[le]) / max(count, 1):.1f} %"
                       for le in after if le not in ("count", "sum", "+Inf") and 0.005 <= float(le) <= 0.25)
    import apsw
    conn = apsw.Connection(str(data_dir / "leadvibe.db"), flags=apsw.SQLITE_OPEN_READONLY)
    decays = conn.execute("SELECT count(*) FROM events WHERE decay_id IS NOT NULL").fetchone()[0]
    conn.close()
    print(f"in a server: {rate}/s sent for {seconds:g} s (after 2 s opening the connections), /ingest p50"
          f" {pct(ingest_ms, 0.5):.1f} ms, p99 {pct(ingest_ms, 0.99):.1f} ms; 202 -> score of {int(count):,}: {shares};"
          f" mean {1000 * (after['sum'] - before['sum']) / max(count, 1):.1f} ms; {decays:,} DECAY events by the end;"
          f" load average {os.getloadavg()}", flush=True)


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    """Build, run three passes, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=200_000)
    ap.add_argument("--events-per-lead", type=int, default=3)
    ap.add_argument("--spread-days", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--keep", help="build into this directory and keep it")
    ap.add_argument("--build-only", action="store_true", help="stop after the build (with --keep: data for --from)")
    ap.add_argument("--from", dest="source", help="copy a directory built with --keep --build-only instead of building"
                    " (paired runs on the same data)")
    ap.add_argument("--chunk", type=int, help="leads per write transaction, fixed (else sized to pipeline.decay"
                    ".CHUNK_MS)")
    ap.add_argument("--drop-index", action="append", default=[],
                    help="drop this index after building (what writing it costs a pass; repeatable)")
    ap.add_argument("--cache-mb", type=int, help="the connections' page cache in MB (else the server's default)")
    ap.add_argument("--server-rate", type=int, help="measure the first pass in a real server while this many"
                    " single events/s go to /ingest (see above)")
    ap.add_argument("--server-seconds", type=float, default=12.0, help="how long --server-rate sends")
    ap.add_argument("--statements", action="store_true",
                    help="print the writer's SQL statements by total time during each pass (sqlite3_profile)")
    args = ap.parse_args()

    import leadvibe
    from leadvibe.bootstrap import DEFAULT_UNIT, bootstrap
    from leadvibe.config import load_settings
    from leadvibe.pipeline import decay as decay_mod
    from leadvibe.pipeline.decay import run_pass
    from leadvibe.pipeline.triggers import TriggerService
    from leadvibe.runtime_build import build_runtime
    from leadvibe.store import decay as decay_store
    from leadvibe.timeutil import ManualClock
    if args.chunk:
        decay_mod.CHUNK = decay_mod.MIN_CHUNK = decay_mod.MAX_CHUNK = args.chunk
    print(f"code: {Path(leadvibe.__file__).resolve().parent}; load average {os.getloadavg()}")
    data_dir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-decay-"))
    if args.source:
        shutil.copytree(args.source, data_dir, dirs_exist_ok=True)
    if args.server_rate:
        if not args.source:
            ap.error("--server-rate needs --from (a directory built with --keep --build-only)")
        try:
            ingest_during_pass(data_dir, args.server_rate, args.server_seconds)
        finally:
            if not args.keep:
                shutil.rmtree(data_dir, ignore_errors=True)
        return
    try:
        settings = load_settings({"data_dir": str(data_dir), "admin_email": "admin@example.com",
                                  "admin_password": "admin-password-1", "synchronous": args.synchronous,
                                  **({"cache_size_mb": args.cache_mb} if args.cache_mb else {})}, env={})
        now = 1_790_000_000_000
        clock = ManualClock(now)
        rt = build_runtime(settings, clock=clock)
        rt.open_databases()
        rt.triggers = TriggerService()
        try:
            rt.db.write_blocking(lambda c: bootstrap(c, settings, now))
            org_id = str(rt.db.write_blocking(lambda c: c.execute(
                "SELECT org_id FROM org_units WHERE id = ?", (DEFAULT_UNIT,)).fetchone()[0]))
            started = time.perf_counter()
            if not args.source:
                rt.db.write_blocking(lambda c: build(c, DEFAULT_UNIT, org_id, args.leads, args.events_per_lead,
                                                     args.spread_days, now, args.seed))
                for days, decrease, rule_id in ((7, 5, "dc_bench7"), (30, 10, "dc_bench30")):
                    rt.db.write_blocking(lambda c, d=days, x=decrease, r=rule_id: decay_store.create_rule(
                        c, DEFAULT_UNIT, org_id, rule_id=r, inactive_for=d, unit="days", decrease=x, actor=None,
                        now=now))
                print(f"built {args.leads:,} leads / {args.leads * args.events_per_lead:,} events in "
                      f"{time.perf_counter() - started:.1f} s; load average {os.getloadavg()}", flush=True)
            for index in args.drop_index:
                rt.db.write_blocking(lambda c, name=index: c.execute(f'DROP INDEX "{name}"'))
            if args.build_only:
                return

            times = StatementTimes()
            if args.statements:
                rt.db.write_blocking(lambda c: c.set_profile(times))
            for label, advance in (("pass 1 (first)", 0), ("pass 2 (a minute later)", 60),
                                   ("pass 3 (a day later)", DAY // 1000)):
                clock.advance(advance)  # seconds
                took, applied, waits = asyncio.run(timed_pass(rt, run_pass))
                print(f"{label}: {took:.3f} s, {applied:,} decays"
                      f"{f' ({took / applied * 1e6:.0f} µs per decay)' if applied else ''};"
                      f" probe write wait p50 {statistics.median(waits) if waits else 0:.1f} ms,"
                      f" p99 {pct(waits, 0.99):.1f} ms, max {max(waits, default=0):.1f} ms ({len(waits)} probes);"
                      f" load average {os.getloadavg()}", flush=True)
                times.print_top(12)
            total = rt.db.write_blocking(lambda c: c.execute(
                "SELECT count(*), coalesce(sum(score), 0) FROM lead_scores").fetchone())
            print(f"check: {total[0]:,} score rows, sum of scores {total[1]:,}")
        finally:
            rt.close_databases()
    finally:
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
