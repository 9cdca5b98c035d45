#!/usr/bin/env python3
"""In-process worker benchmark: fills the inbox of a fresh data dir with `--events` events (3 rulesets of 4 rules,
the standard surge policy, an inorganic filter on email opens, the event mix of bench_ingest.py spread over
`--leads` leads), then drains it with `process_batch` on the writer thread as the worker does (2,000-row batches,
a 100 ms budget; `--batch 16000 --budget-ms 250` are the server's defaults), keeping the leads' state and the
grouping filter's windows from one batch to the next as the server's worker does (`--cold`: neither), and prints
events/s and the load average. `--cache-mb` sets the writer's page cache. No HTTP;
the database is a real SQLite file (FULL).

Each round also prints the database pages the drain wrote per event (SQLite's count of pages the writer
connection wrote out, to the WAL): a figure of the storage layout that the machine's load does not move; and the
CPU seconds the process spent draining (less moved by other work on a shared machine than the wall time).
`--profile FILE` writes a cProfile of the drain (read it with `python -m pstats FILE`). For a paired before/after
run, copy this script into a checkout of the earlier commit and run it from there, back to back.

At scale: `--stored-leads N` stores N leads with scores in the three rulesets first (what a large OU holds), and
`--scatter` sends each event to a lead at random instead of in sequence (consecutive lead ids share B-tree pages,
which a real stream does not). `--pages-by-tree` holds checkpoints off during each drain and attributes the WAL's
frames to the B-trees they belong to (SQLite's dbstat): which tables and indexes the pages written per event
come from.
Usage: python scripts/bench_worker.py [--events 60000] [--leads 5000] [--rounds 2] [--preload 0]
       [--budget-ms 100] [--batch 2000] [--cache-mb N] [--profile out.prof] [--default-gc] [--stored-leads 0]
       [--scatter] [--pages-by-tree] [--statements] [--per-lead 1] [--tail-ms 0] [--cold]
       e.g. --leads 1000000 --stored-leads 1000000 --preload 2000000 --scatter --events 10000 --pages-by-tree
"""

from __future__ import annotations

import argparse
import cProfile
import os
import shutil
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import apsw  # noqa: E402
from _sql_times import StatementTimes  # noqa: E402  (the scripts directory is on sys.path)

from leadvibe import gc_policy  # noqa: E402
from leadvibe.bootstrap import bootstrap  # noqa: E402
from leadvibe.config import load_settings  # noqa: E402
from leadvibe.pipeline import inbox as inbox_mod  # noqa: E402
from leadvibe.pipeline.filter_windows import WindowHold  # noqa: E402
from leadvibe.pipeline.lead_cache import WORKER, LeadCache  # noqa: E402
from leadvibe.pipeline.triggers import TriggerService  # noqa: E402
from leadvibe.pipeline.worker import process_batch  # noqa: E402
from leadvibe.runtime_build import build_runtime  # noqa: E402

TYPES = ("page_view", "email_open", "form_submit")


def configure(conn) -> str:  # type: ignore[no-untyped-def]
    """The bench_ingest.py configuration: 3 rulesets, 4 rules each, a filter (>5 email opens in an hour)."""
    for n in range(3):
        conn.execute("INSERT INTO rulesets (id, org_id, unit_id, name, is_primary, created_at, updated_at)"
                     " SELECT ?, org_id, id, ?, ?, 0, 0 FROM org_units WHERE id='unit_default'",
                     (f"rs_{n}", f"set {n}", int(n == 0)))
        for t, w in (("page_view", 1 + n), ("email_open", 2), ("demo_request", 20), ("form_submit", 10)):
            conn.execute("INSERT INTO rules (id, ruleset_id, org_id, unit_id, event_type, type_key, weight,"
                         " created_at, updated_at) SELECT ?, ?, org_id, id, ?, ?, ?, 0, 0 FROM org_units"
                         " WHERE id='unit_default'", (f"rl_{n}_{t}", f"rs_{n}", t, t, w))
    conn.execute("INSERT INTO inorganic_filters (id, org_id, unit_id, event_type, type_key, count_threshold,"
                 " time_window_ms, group_events, created_at, updated_at) SELECT 'if_bench', org_id, id,"
                 " 'email_open', 'email_open', 5, 3600000, 1, 0, 0 FROM org_units WHERE id='unit_default'")
    return str(conn.execute("SELECT org_id FROM org_units WHERE id='unit_default'").fetchone()[0])


def fill(rt, org_id: str, start: int, events: int, leads: int, now: int,  # type: ignore[no-untyped-def]
         scatter: bool = False, per_lead: int = 1) -> None:
    # Knuth's multiplicative hash spreads consecutive events over the leads (a different lead's pages each time).
    mult = 2654435761 if scatter else 1
    for lo in range(start, start + events, 10_000):
        batch = [inbox_mod.validate(inbox_mod.IngestEvent(event_type=TYPES[i % 3],
                                                          lead_id=f"ld_b{i // per_lead * mult % leads}",
                                                          metadata={"path": "/pricing"}), now + i // 50)
                 for i in range(lo, min(start + events, lo + 10_000))]
        rt.inbox_db.write_blocking(lambda c, b=batch: inbox_mod.store_events(c, org_id, "unit_default", b, "api",
                                                                               False, now))


def preload(conn, org_id: str, count: int, leads: int, now: int) -> None:  # type: ignore[no-untyped-def]
    """`count` stored events with random ids (as a database written before ids were time-ordered holds), spread
    over the leads and the last 30 days, so the event indexes are larger than the page cache."""
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?3)"
        " INSERT INTO events (id, org_id, unit_id, lead_id, event_type, type_key, occurred_at, received_at,"
        " processed_at, channel) SELECT 'ev_' || lower(hex(randomblob(8))), ?1, 'unit_default',"
        " 'ld_b' || abs(random() % ?4), 'page_view', 'page_view', ?2 - abs(random() % 2592000000), ?2, ?2, 'web'"
        " FROM n", (org_id, now, count, leads))


def store_leads(conn, org_id: str, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` stored leads ld_b0, ld_b1, ... with a score of 0-99 in each of the three rulesets."""
    conn.execute("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)"
                 " INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at, last_organic_at,"
                 " last_event_type) SELECT 'unit_default', 'ld_b' || i, ?1, 0, 0, 1000 + i, 1000 + i, 'page_view'"
                 " FROM n", (org_id, count))
    for n in range(3):
        conn.execute("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                     " SELECT unit_id, ?, id, abs(random() % 100), 0 FROM leads", (f"rs_{n}",))


def wal_frames_by_tree(path: str) -> Counter[str]:
    """The frames of the database's WAL (since its last reset), counted by the table or index of their page."""
    conn = apsw.Connection(path, flags=apsw.SQLITE_OPEN_READONLY)
    try:
        names = dict(conn.execute("SELECT pageno, name FROM dbstat"))
    finally:
        conn.close()
    frames: Counter[str] = Counter()
    with open(path + "-wal", "rb") as wal:
        header = wal.read(32)
        page_size = struct.unpack(">I", header[8:12])[0]
        salt = header[16:24]
        while len(frame := wal.read(24)) == 24 and frame[8:16] == salt:  # a stale frame ends the valid log
            frames[names.get(struct.unpack(">I", frame[:4])[0], "(freed)")] += 1
            wal.seek(page_size, 1)
    return frames


def checkpoints_held(rt, held: bool) -> None:  # type: ignore[no-untyped-def]
    """Hold the writer's checkpoints off (after truncating the WAL) or let them run again."""
    def hook(conn):  # type: ignore[no-untyped-def]
        conn.set_wal_hook(None if held else rt.db._checkpointer.on_commit)
    rt.db.write_blocking(hook)
    if held:
        conn = apsw.Connection(rt.db.path)
        conn.set_busy_timeout(10_000)
        conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)
        conn.close()


def pages_written(rt) -> int:  # type: ignore[no-untyped-def]
    """Pages the writer connection wrote since the last call (SQLITE_DBSTATUS_CACHE_WRITE, then reset)."""
    return int(rt.db.write_blocking(lambda c: c.status(apsw.SQLITE_DBSTATUS_CACHE_WRITE, True))[0])


def drain(rt, prof: cProfile.Profile | None, budget_ms: int,  # type: ignore[no-untyped-def]
          batch: int = 2000, tail_ms: float = 0.0, cache: LeadCache | None = None,
          hold: WindowHold | None = None) -> tuple[int, float, float, int]:
    """Drain the inbox: (events, wall seconds, CPU seconds of the process, batches). With `cache`, lead state is
    kept from one batch to the next as the server's worker keeps it; with `hold`, the grouping filter's windows."""
    done = batches = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while True:
        def one(c):  # type: ignore[no-untyped-def]
            if prof is not None:
                prof.enable()
            try:
                if cache is not None:
                    cache.begin(rt.db, c)
                result = process_batch(rt, c, batch, budget_ms=budget_ms, tail_ms_per_event=tail_ms, cache=cache,
                                       hold=hold)
                result.mark = rt.db.write_mark(WORKER)
                return result
            finally:
                if prof is not None:
                    prof.disable()
        result = rt.db.write_blocking(one, owner=WORKER)
        if cache is not None:
            cache.committed(result.mark, result.leads)
        if hold is not None:
            hold.committed(result.held)
        if result.processed == 0:
            break
        done += result.processed
        batches += 1
    return done, time.perf_counter() - t0, time.process_time() - c0, batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--leads", type=int, default=5_000)
    ap.add_argument("--rounds", type=int, default=2, help="fill-and-drain rounds on the same database")
    ap.add_argument("--profile", help="write a cProfile of the drains to this file")
    ap.add_argument("--budget-ms", type=int, default=100,
                    help="the worker's batch budget; a large one keeps every batch at 2,000 rows whatever the load,"
                         " so the pages per event compare across runs")
    ap.add_argument("--batch", type=int, default=2000,
                    help="rows per batch (the server sizes its batches up to 16,000 as the backlog allows)")
    ap.add_argument("--tail-ms", type=float, default=0.0,
                    help="the writes and commit per event a server's worker has learnt (`Worker.tail_ms`): its"
                         " batches then flush every max(512, 25 ms / tail) events and count the tail in the budget"
                         " (0: unknown, a flush every 2,000 events)")
    ap.add_argument("--cold", action="store_true",
                    help="no lead state or filter windows kept between batches (the worker keeps them while only it"
                         " commits)")
    ap.add_argument("--cache-mb", type=int, help="the writer's page cache in MB (else the server's default)")
    ap.add_argument("--default-gc", action="store_true",
                    help="leave the garbage collector at the interpreter's defaults (the server sets it as"
                         " leadvibe/gc_policy.py says, and so does this bench unless told)")
    ap.add_argument("--preload", type=int, default=0,
                    help="store this many events with random ids first (an older database, larger than the cache)")
    ap.add_argument("--stored-leads", type=int, default=0,
                    help="store this many leads (ld_b0...) with scores in the three rulesets first")
    ap.add_argument("--scatter", action="store_true", help="each event to a lead at random, not in sequence")
    ap.add_argument("--per-lead", type=int, default=1,
                    help="each lead's events come this many in a row (a history sent grouped by lead)")
    ap.add_argument("--pages-by-tree", action="store_true",
                    help="no checkpoints during a drain; its WAL frames per event by table and index")
    ap.add_argument("--statements", action="store_true",
                    help="print the writer's SQL statements by total time after each round (sqlite3_profile)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lv-bench-worker-"))
    try:
        settings = load_settings({"data_dir": str(tmp), "admin_email": "admin@example.com",
                                  "admin_password": "bench-password-1234", "synchronous": "FULL",
                                  **({"cache_size_mb": args.cache_mb} if args.cache_mb else {})}, env={})
        rt = build_runtime(settings)
        rt.open_databases()
        rt.triggers = TriggerService()
        now = rt.now_ms()
        rt.db.write_blocking(lambda c: bootstrap(c, settings, now))
        org_id = rt.db.write_blocking(configure)
        if args.stored_leads:
            t0 = time.perf_counter()
            rt.db.write_blocking(lambda c: store_leads(c, org_id, args.stored_leads))
            print(f"stored {args.stored_leads:,} leads with scores ({time.perf_counter() - t0:.1f} s)")
        for lo in range(0, args.preload, 100_000):
            t0 = time.perf_counter()
            rt.db.write_blocking(lambda c, n=min(100_000, args.preload - lo): preload(c, org_id, n, args.leads, now))
            print(f"preloaded {min(lo + 100_000, args.preload):,} events ({time.perf_counter() - t0:.1f} s)")
        if not args.default_gc:
            gc_policy.settle_after_start_up()
        prof = cProfile.Profile() if args.profile else None
        times = StatementTimes()
        if args.statements:
            rt.db.write_blocking(lambda c: c.set_profile(times))
        print(f"code: {ROOT}  events per round: {args.events:,}  leads: {args.leads:,}")
        for r in range(args.rounds):
            fill(rt, org_id, r * args.events, args.events, args.leads, now, args.scatter, args.per_lead)
            if args.pages_by_tree:
                checkpoints_held(rt, True)
            load = os.getloadavg()[0]
            pages_written(rt)
            done, secs, cpu, batches = drain(rt, prof, args.budget_ms, args.batch, args.tail_ms,
                                             None if args.cold else LeadCache(),
                                             None if args.cold else WindowHold())
            pages = pages_written(rt)
            if args.pages_by_tree:
                frames = wal_frames_by_tree(rt.db.path)
                checkpoints_held(rt, False)
                print("  WAL frames per event: " + ", ".join(
                    f"{name} {n / max(done, 1):.2f}" for name, n in frames.most_common(10)))
            print(f"round {r + 1}: {done:,} events in {secs:.2f} s = {done / secs:8.0f} ev/s,"
                  f" {cpu:.2f} CPU s = {done / cpu:8.0f} ev/s per CPU second"
                  f"  ({batches} batches, {pages / max(done, 1):.2f} pages written per event;"
                  f" load average {load:.2f} before, {os.getloadavg()[0]:.2f} after)")
            times.print_top(14)
        if prof is not None:
            prof.dump_stats(args.profile)
        rt.close_databases()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
