"""Analytics benchmark: one OU with N leads and M events written straight into SQLite (the rows the worker would
write: events, their primary-ruleset score rows, lead scores, the type catalogue), then p50/p95 of every analytics
endpoint through the real app (Litestar test client, in process, real SQLite file). Then a decay pass is
imitated: `--decayed` leads get a DECAY event stamped "now" with a negative score row, and the endpoints are
measured again (the case where a window holds a large share of the history).

    .venv/bin/python scripts/bench_analytics.py --leads 200000 --events 600000 --decayed 140000

`--worker-cost EVENTS` times the app's own worker scoring EVENTS queued events (one lead per ten events,
timestamps over 30 days) on fresh databases with the triggers and with them dropped, alternately.
`--gains-pairs ROUNDS` (with `--keep DIR` of a database built earlier) times score gains on one connection, the
plain `SUM(delta) GROUP BY lead` query over the window and the store's ranking alternately, for several windows
and limits, and checks they answer the same (a paired comparison that a shared machine's load drifts less).
`--insert-cost` instead times what migration 0041's triggers add to the worker's write path: an executemany of
`--rows` events, their score rows (two rulesets) and lead updates in one transaction, with the triggers and with
them dropped, alternately, on fresh databases.

The script only uses what every version of the schema has, so the same file measures an older checkout too
(copy it there and run it with that checkout's venv).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import apsw  # noqa: E402
import structlog  # noqa: E402
from litestar.testing import AsyncTestClient  # noqa: E402

from leadvibe.app import create_app  # noqa: E402
from leadvibe.config import load_settings  # noqa: E402
from leadvibe.db.database import apply_pragmas  # noqa: E402

EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
TYPES = {"page_view": 1, "email_open": 2, "email_click": 3, "webinar_join": 8, "demo_request": 20,
         "pricing_view": 5, "content_download": 4, "trial_signup": 15}
DAY_MS = 86_400_000
CHUNK = 50_000
PATHS = {
    "/analytics": "/analytics",
    "/analytics/stats": "/analytics/stats",
    "top-leads": "/analytics/top-leads?limit=10",
    "score-gains 24h": "/analytics/score-gains",
    "score-gains 24h x100": "/analytics/score-gains?limit=100",
    "score-gains 168h": "/analytics/score-gains?hours=168",
    "score-gains 720h": "/analytics/score-gains?hours=720",
    "/usage": "/usage",
}


def settings(data_dir: Path) -> Any:
    return load_settings({"data_dir": str(data_dir), "admin_email": EMAIL, "admin_password": PASSWORD,
                          "synchronous": "NORMAL", "log_level": "warning"}, env={})


def connect(data_dir: Path) -> apsw.Connection:
    conn = apsw.Connection(str(data_dir / "leadvibe.db"))
    apply_pragmas(conn, synchronous="NORMAL")
    return conn


async def prepare(data_dir: Path) -> None:
    """Migrate, create the admin, the rules (and so the primary ruleset) and levels through the API."""
    app = create_app(settings(data_dir), announce_first_start=False)
    async with AsyncTestClient(app=app) as client:
        token = (await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
        for event_type, weight in TYPES.items():
            (await client.post("/rules", json={"event_type": event_type, "weight": weight},
                               headers=headers)).raise_for_status()
        for name, lo, hi in (("Cold", 0, 19), ("Warm", 20, 59), ("Hot", 60, 1_000_000)):
            (await client.post("/levels/engagement", json={"name": name, "min_score": lo, "max_score": hi},
                               headers=headers)).raise_for_status()


def load(data_dir: Path, n_leads: int, n_events: int, now: int, seed: int) -> float:
    """Leads, events over the last 60 days, their score rows and lead scores; seconds taken."""
    rng = random.Random(seed)
    conn = connect(data_dir)
    org_id, ruleset_id = conn.execute("SELECT org_id, id FROM rulesets WHERE unit_id = 'unit_default'"
                                      " AND is_primary = 1").fetchone()
    types = list(TYPES)
    started = time.perf_counter()
    events: list[tuple[Any, ...]] = []
    last: dict[int, int] = {}
    score: dict[int, int] = {}
    seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
    counts = dict.fromkeys(types, 0)
    for i in range(n_events):
        lead = i if i < n_leads else rng.randrange(n_leads)
        t = types[rng.randrange(len(types))]
        at = now - rng.randrange(60 * DAY_MS)
        seq += 1
        events.append((seq, f"ev_{seq:09d}", org_id, f"ld_{lead:07d}", t, at, now))
        last[lead] = max(last.get(lead, 0), at)
        score[lead] = score.get(lead, 0) + TYPES[t]
        counts[t] += 1
        if len(events) == CHUNK or i == n_events - 1:
            with conn:
                conn.executemany("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key,"
                                 " occurred_at, received_at, processed_at, channel, has_delta)"
                                 " VALUES (?1, ?2, ?3, 'unit_default', ?4, ?5, ?5, ?6, ?7, ?7, 'api', 1)", events)
                conn.executemany("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight,"
                                 " multiplier, delta, before, after) VALUES (?, ?, 'unit_default', ?, ?, 1.0, ?, 0, 0)",
                                 [(e[0], ruleset_id, e[3], TYPES[e[4]], TYPES[e[4]]) for e in events])
            events = []
    with conn:
        conn.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at, last_event_at,"
                         " last_event_type, last_organic_at) VALUES ('unit_default', ?, ?, ?, ?, ?, 'page_view', ?)",
                         [(f"ld_{lead:07d}", org_id, at, now, at, at) for lead, at in last.items()])
        conn.executemany("INSERT INTO lead_scores (unit_id, ruleset_id, lead_id, score, updated_at)"
                         " VALUES ('unit_default', ?, ?, ?, ?)",
                         [(ruleset_id, f"ld_{lead:07d}", s, now) for lead, s in score.items()])
        conn.executemany("INSERT INTO event_types (unit_id, type_key, display_name, event_count, first_seen_at,"
                         " last_seen_at) VALUES ('unit_default', ?1, ?1, ?2, ?3, ?3)"
                         " ON CONFLICT (unit_id, type_key) DO UPDATE SET event_count = event_count + ?2",
                         [(t, n, now) for t, n in counts.items()])
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def stamp_decay(data_dir: Path, n_leads: int, decayed: int, now: int) -> float:
    """What a decay pass writes for `decayed` leads: a DECAY event "now" with a -5 score row each."""
    conn = connect(data_dir)
    org_id, ruleset_id = conn.execute("SELECT org_id, id FROM rulesets WHERE unit_id = 'unit_default'"
                                      " AND is_primary = 1").fetchone()
    seq = int(conn.execute("SELECT MAX(seq) FROM events").fetchone()[0])
    started = time.perf_counter()
    with conn:
        rows = [(seq + k + 1, f"ev_decay_{k:09d}", org_id, f"ld_{k * n_leads // decayed:07d}")
                for k in range(decayed)]
        conn.executemany("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key, occurred_at,"
                         " received_at, processed_at, channel, has_delta, decay_id)"
                         " VALUES (?1, ?2, ?3, 'unit_default', ?4, 'DECAY', 'decay', ?5, ?5, ?5, 'system', 1, 'dc_1')",
                         [(*r, now) for r in rows])
        conn.executemany("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight, multiplier,"
                         " delta, before, after) VALUES (?, ?, 'unit_default', ?, -5, 1.0, -5, 0, 0)",
                         [(r[0], ruleset_id, r[3]) for r in rows])
    conn.close()
    return time.perf_counter() - started


async def measure(data_dir: Path, rounds: int) -> dict[str, tuple[float, float]]:
    """p50/p95 (ms) of each endpoint over `rounds` requests, after two warm-ups."""
    app = create_app(settings(data_dir), announce_first_start=False)
    out = {}
    async with AsyncTestClient(app=app) as client:
        token = (await client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})).json()["token"]
        client.headers.update({"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        for name, path in PATHS.items():
            for _ in range(2):
                (await client.get(path)).raise_for_status()
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                (await client.get(path)).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[name] = (statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)])
    return out


def backfill(data_dir: Path) -> float | None:
    """Seconds migration 0041 takes to fill its totals from the rows now there (None on a schema without it)."""
    from leadvibe.db.migrate import apply_migrations

    conn = connect(data_dir)
    if not conn.execute("SELECT 1 FROM schema_migrations WHERE version = 41").fetchall():
        return None
    with conn:
        for (kind, name) in conn.execute("SELECT type, name FROM sqlite_master WHERE name LIKE 'analytics\\_%'"
                                         " ESCAPE '\\' AND type IN ('trigger', 'table')").fetchall():
            conn.execute(f"DROP {kind.upper()} IF EXISTS {name}")
        conn.execute("DELETE FROM schema_migrations WHERE version = 41")
    started = time.perf_counter()
    apply_migrations(conn)
    conn.close()
    return time.perf_counter() - started


def report(title: str, figures: dict[str, tuple[float, float]]) -> None:
    print(f"{title} (load average {os.getloadavg()[0]:.2f})")
    for name, (p50, p95) in figures.items():
        print(f"  {name:20s} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")


def insert_cost(rows: int, repeats: int) -> None:
    """Write-path cost of the analytics triggers: the same transaction with and without them."""
    taken: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats):
        for with_triggers in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                data_dir = Path(tmp)
                asyncio.run(prepare(data_dir))
                conn = connect(data_dir)
                if not with_triggers:
                    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                                " AND name LIKE 'analytics\\_%' ESCAPE '\\'").fetchall():
                        conn.execute(f"DROP TRIGGER {name}")
                org_id = conn.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0]
                now = int(time.time() * 1000)
                leads = [(f"ld_{i:07d}", org_id, now, now) for i in range(rows // 3)]
                with conn:
                    conn.executemany("INSERT INTO leads (unit_id, id, org_id, created_at, updated_at)"
                                     " VALUES ('unit_default', ?, ?, ?, ?)", leads)
                events = [(i + 1, f"ev_{i:09d}", org_id, f"ld_{i % (rows // 3):07d}", now - (rows - i) * 1000)
                          for i in range(rows)]
                started = time.perf_counter()
                with conn:
                    conn.executemany("INSERT INTO events (seq, id, org_id, unit_id, lead_id, event_type, type_key,"
                                     " occurred_at, received_at, processed_at, channel, has_delta) VALUES (?1, ?2, ?3,"
                                     " 'unit_default', ?4, 'page_view', 'page_view', ?5, ?5, ?5, 'api', 1)",
                                     events)
                    conn.executemany("INSERT INTO event_scores (event_seq, ruleset_id, unit_id, lead_id, weight,"
                                     " multiplier, delta, before, after) VALUES (?, ?, 'unit_default', ?, 1, 1.0, 1,"
                                     " 0, 0)", [(e[0], rs, e[3]) for e in events for rs in ("rs_a", "rs_b")])
                    conn.executemany("UPDATE leads SET last_event_at = ?, last_organic_at = ?, updated_at = ?"
                                     " WHERE unit_id = 'unit_default' AND id = ?",
                                     [(e[4], e[4], now, e[3]) for e in events])
                taken[with_triggers].append(time.perf_counter() - started)
                conn.close()
    for with_triggers, seconds in taken.items():
        label = "with the triggers" if with_triggers else "without them    "
        print(f"  {label}: {rows:,} events + {2 * rows:,} score rows + {rows:,} lead updates:"
              f" median {statistics.median(seconds):.2f} s ({', '.join(f'{s:.2f}' for s in seconds)})")
    print(f"  (load average {os.getloadavg()[0]:.2f})")


async def worker_run(events: int, leads: int, with_triggers: bool, seed: int) -> float:
    """Seconds the app's own worker takes to score `events` queued in the inbox (one ruleset, the script's
    rules), on a fresh database with or without the analytics triggers."""
    from leadvibe.pipeline import inbox

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        await prepare(data_dir)
        app = create_app(settings(data_dir), announce_first_start=False)
        async with AsyncTestClient(app=app):
            rt = app.state.runtime
            now = rt.now_ms()
            queued = [inbox.validate(inbox.IngestEvent(event_type=rng.choice(list(TYPES)),
                                                       lead_id=f"ld_{rng.randrange(leads):07d}",
                                                       timestamp=_iso(now - rng.randrange(30 * DAY_MS))), now)
                      for _ in range(events)]

            def store(c: Any) -> str:
                if not with_triggers:
                    for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                             " AND name LIKE 'analytics\\_%' ESCAPE '\\'").fetchall():
                        c.execute(f"DROP TRIGGER {name}")
                return str(c.execute("SELECT org_id FROM org_units WHERE id = 'unit_default'").fetchone()[0])
            org_id = await rt.db.write(store)
            await rt.inbox_db.write(lambda c: inbox.store_events(c, org_id, "unit_default", queued, "api", False, now))
            started = time.perf_counter()
            rt.worker.notify(events)
            await rt.worker.wait_idle()
            return time.perf_counter() - started


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def worker_cost(events: int, repeats: int) -> None:
    """The worker's scoring time with and without the analytics triggers, alternated."""
    taken: dict[bool, list[float]] = {True: [], False: []}
    for i in range(repeats):
        for with_triggers in (True, False):
            taken[with_triggers].append(asyncio.run(worker_run(events, events // 10, with_triggers, i)))
    for with_triggers, seconds in taken.items():
        label = "with the triggers" if with_triggers else "without them    "
        print(f"  worker, {label}: {events:,} events, median {events / statistics.median(seconds):,.0f} ev/s"
              f" ({', '.join(f'{s:.2f}' for s in seconds)} s)")
    print(f"  (load average {os.getloadavg()[0]:.2f})")


PLAIN_GAINS = (
    "SELECT g.lead_id, g.gain, COALESCE(ls.score, 0) AS score, l.last_event_at FROM ("
    "  SELECT s.lead_id, SUM(s.delta) AS gain FROM events e JOIN event_scores s"
    "  ON s.event_seq = e.seq AND s.ruleset_id = ?1 WHERE e.unit_id = ?2 AND e.occurred_at >= ?3"
    "  GROUP BY s.lead_id HAVING gain > 0 ORDER BY gain DESC, s.lead_id) g"
    " CROSS JOIN leads l ON l.unit_id = ?2 AND l.id = g.lead_id AND l.merged_into IS NULL"
    " LEFT JOIN lead_scores ls ON ls.unit_id = l.unit_id AND ls.ruleset_id = ?1 AND ls.lead_id = g.lead_id"
    " ORDER BY g.gain DESC, g.lead_id LIMIT ?4")


def gains_pairs(data_dir: Path, rounds: int) -> None:
    """The plain score-gains query (the code before migration 0051) against the store's, alternately."""
    from leadvibe.store.analytics import score_gains

    conn = connect(data_dir)
    ruleset = conn.execute("SELECT id FROM rulesets WHERE unit_id = 'unit_default' AND is_primary = 1").fetchone()[0]
    now = int(time.time() * 1000)
    for hours, limit in ((1, 10), (24, 10), (24, 100), (168, 10), (720, 10)):
        since = now - hours * 3_600_000
        taken: dict[str, list[float]] = {"plain": [], "store": []}
        for _ in range(rounds):
            started = time.perf_counter()
            plain = [tuple(r) for r in conn.execute(PLAIN_GAINS, (ruleset, "unit_default", since, limit))]
            taken["plain"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            ours = [tuple(r.values()) for r in score_gains(conn, "unit_default", ruleset, since, limit)]
            taken["store"].append((time.perf_counter() - started) * 1000)
            assert ours == plain, (hours, limit)
        print(f"  {hours:4d} h, limit {limit:3d}: " + "   ".join(
            f"{k} p50 {statistics.median(v):7.1f} p95 {sorted(v)[max(0, int(len(v) * 0.95) - 1)]:7.1f} ms"
            for k, v in taken.items()) + f"   (load average {os.getloadavg()[0]:.2f})")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=600_000)
    parser.add_argument("--decayed", type=int, default=140_000, help="leads given a DECAY event now (0: none)")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", help="build the database in this (new) directory and keep it")
    parser.add_argument("--insert-cost", action="store_true")
    parser.add_argument("--worker-cost", type=int, metavar="EVENTS", help="time the worker on EVENTS events")
    parser.add_argument("--gains-pairs", type=int, metavar="ROUNDS", help="paired score-gains timing on --keep DIR")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.worker_cost:
        worker_cost(args.worker_cost, args.repeats)
        return
    if args.gains_pairs:
        gains_pairs(Path(args.keep), args.gains_pairs)
        return
    if args.insert_cost:
        insert_cost(args.rows, args.repeats)
        return
    with tempfile.TemporaryDirectory(prefix="lv-analytics-") as tmp:
        data_dir = Path(args.keep or tmp)
        data_dir.mkdir(exist_ok=True)
        asyncio.run(prepare(data_dir))
        now = int(time.time() * 1000)
        seconds = load(data_dir, args.leads, args.events, now, args.seed)
        print(f"{args.leads:,} leads / {args.events:,} events written in {seconds:.1f} s")
        report("before any decay", asyncio.run(measure(data_dir, args.rounds)))
        if args.decayed:
            seconds = stamp_decay(data_dir, args.leads, args.decayed, int(time.time() * 1000))
            print(f"{args.decayed:,} DECAY events stamped now in {seconds:.1f} s")
            report("after the decay pass", asyncio.run(measure(data_dir, args.rounds)))
        seconds = backfill(data_dir)
        if seconds is not None:
            print(f"migration 0041 on this database (backfill): {seconds:.1f} s"
                  f" (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
