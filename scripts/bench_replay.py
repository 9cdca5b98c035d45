"""Replay benchmark: a whole-OU backtest and a rescore after a rule change, with `/ingest` latency meanwhile.

The OU is built quickly through the store, not through the worker: leads and unscored events are written with the
store's own insert functions (server stopped), then scored in-process by a full `rescore_leads` (the exact engine,
the same rows the worker writes). Events arrive for random leads, a third of them in bursts of the same lead (so
sessions surge and the email-open filter fires), timestamps follow arrival with an hour of jitter over 60 days,
1 % are DECAY events. One ruleset of 8 rules (bench_scale's), the standard surge policy, the inorganic filter
"more than 5 email opens in an hour", a 7-day decay rule.

Then, against the running `python -m leadvibe serve` (127.0.0.1 only): the whole-OU backtest three times (every
weight doubled), and a rule change (page_view weight + 2) with `POST /rulesets/{id}/rescore` while a client sends
`POST /ingest` at 100 requests/s (p50/p99 of those). The build's full rescore leaves every ruleset's rows whole
(migration 0052's basis), so the rescore replays only the leads with a page_view event, as it would after any
rescore or whole-OU replay. `--in-process` instead times (and with `--profile`,
cProfiles) the backtest replay and the rescore directly on a connection, without HTTP.

    .venv/bin/python scripts/bench_replay.py --leads 100000 --events 300000
    .venv/bin/python scripts/bench_replay.py --leads 100000 --events 300000 --in-process --profile

The data directory is temporary and deleted at the end unless `--keep` or `--data-dir` (reused when it already
holds a built OU).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import (  # the scripts directory is not a package: found through sys.path
    DAY_MS,
    EMAIL,
    PASSWORD,
    ROOT,
    TYPES,
    HistoryEvent,
    free_port,
    login,
    pct,
    rescore_under_ingest,
    setup_scoring,
    start_server,
    stop_server,
    timed_backtests,
    write_history,
)
from bench_worker import wal_frames_by_tree

UNIT = "unit_default"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def build(db_path: Path, n_leads: int, n_events: int, seed: int) -> tuple[float, float]:
    """Write `n_leads` leads and `n_events` events, then score them with a full in-process rescore
    (`bench_scale.write_history`); (seconds to write, seconds to score)."""
    import apsw

    from leadvibe.db.database import apply_pragmas
    from leadvibe.engine.normalize import DECAY_EVENT_TYPE

    rng = random.Random(seed)
    conn = apsw.Connection(str(db_path))
    apply_pragmas(conn, synchronous="OFF", cache_size_mb=256)
    org = conn.execute("SELECT org_id FROM org_units WHERE id = ?", (UNIT,)).fetchone()[0]
    decay_id = conn.execute("SELECT id FROM decay_rules WHERE unit_id = ?", (UNIT,)).fetchone()[0]
    now = int(time.time() * 1000)
    start_ts = now - 60 * DAY_MS
    types = list(TYPES)

    def history() -> Iterator[HistoryEvent]:
        lead = 0
        for i in range(n_events):
            if rng.random() >= 0.35:
                lead = rng.randrange(n_leads)
            ts = start_ts + i * (60 * DAY_MS) // n_events + rng.randrange(3_600_000)
            if rng.random() < 0.01:
                yield f"ld_{lead:07d}", DECAY_EVENT_TYPE, ts, json.dumps({"decrease": 5}), decay_id
            else:
                kind = "email_open" if rng.random() < 0.3 else rng.choice(types)
                yield f"ld_{lead:07d}", kind, ts, None, None

    try:
        took = write_history(conn, UNIT, org, [f"ld_{i:07d}" for i in range(n_leads)], history(), now)
        conn.execute("ANALYZE")
        return took
    finally:
        conn.close()


async def prepare(data_dir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    server = start_server(env)
    try:
        base = f"http://127.0.0.1:{env['LEADVIBE_PORT']}"
        async with httpx.AsyncClient(base_url=base, headers=await login(base), timeout=60) as client:
            await setup_scoring(client)
            r = await client.post("/filters", json={"event_type": "email_open", "count_threshold": 5,
                                                    "time_window_ms": 3_600_000, "group_events": True})
            r.raise_for_status()
    finally:
        stop_server(server)
    print(f"building {args.leads:,} leads / {args.events:,} events (load {load_average()})", flush=True)
    written, scored = build(data_dir / "leadvibe.db", args.leads, args.events, args.seed)
    print(f"  written in {written:.1f} s; scored by a full in-process rescore in {scored:.1f} s"
          f" ({args.events / scored:,.0f} ev/s)", flush=True)


def in_process(data_dir: Path, args: argparse.Namespace) -> None:
    """Time (and profile) the backtest replay and a ruleset rescore on one connection, without HTTP."""
    import apsw

    from leadvibe.db.database import apply_pragmas
    from leadvibe.engine.bulk import final_scores
    from leadvibe.engine.replay import ScoringConfig
    from leadvibe.engine.scoring import Rule, Ruleset
    from leadvibe.pipeline.rescore import finish_rescore, prepare_rescore, rescore_leads, rescore_scope
    from leadvibe.pipeline.scoring_config import load_config
    from leadvibe.store import scoring as store

    conn = apsw.Connection(str(data_dir / "leadvibe.db"))
    apply_pragmas(conn, synchronous="FULL")
    cfg = load_config(conn, UNIT)
    ruleset_id = cfg.scoring.rulesets[0].ruleset_id
    draft = ScoringConfig((Ruleset(ruleset_id, True, tuple(Rule(f"d{i}", t, 2 * w) for i, (t, w)
                                                            in enumerate(TYPES.items()))),),
                          cfg.scoring.policy, cfg.scoring.filters, cfg.scoring.allow_negative)

    def backtest() -> int:
        return sum(1 for _ in final_scores(store.events_in_lead_order(conn, UNIT), draft))

    def rescore() -> int:
        """As POST /rulesets/{id}/rescore does it: each step replayed on a read transaction, written by another
        connection."""
        conn.execute("UPDATE rules SET weight = weight + 2 WHERE unit_id = ? AND type_key = 'page_view'", (UNIT,))
        fresh = load_config(conn, UNIT)
        with conn:
            scope = rescore_scope(conn, UNIT, ruleset_id)
        ids = scope.lead_ids
        print(f"  (rescore: {len(ids):,} of {scope.live_leads:,} leads to replay)")
        if args.pages_by_tree:
            conn.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_TRUNCATE)
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.status(apsw.SQLITE_DBSTATUS_CACHE_WRITE, True)
        rows_before = conn.total_changes()  # rows its statements changed (not triggers')
        reader = apsw.Connection(str(data_dir / "leadvibe.db"))
        apply_pragmas(reader, cache_size_mb=int(os.environ.get("READER_MB", "16")), readonly=True)
        done, reading, writing = 0, 0.0, 0.0
        while done < len(ids):
            rest = ids[done:done + args.step_leads]
            t = time.perf_counter()
            with reader:
                prepared = prepare_rescore(reader, load_config(reader, UNIT), rest, int(time.time() * 1000),
                                           [ruleset_id], args.step_ms)
            reading += time.perf_counter() - t
            t = time.perf_counter()
            with conn:
                done += rescore_leads(conn, fresh, rest, int(time.time() * 1000), [ruleset_id], prepared=prepared)
            writing += time.perf_counter() - t
        with conn:
            finish_rescore(conn, UNIT, ruleset_id, scope)
        print(f"  (rescore: {reading:.2f} s replaying on the reader, {writing:.2f} s writing;"
              f" {conn.status(apsw.SQLITE_DBSTATUS_CACHE_WRITE, True)[0]:,} pages written for"
              f" {conn.total_changes() - rows_before:,} rows changed)")
        if args.pages_by_tree:
            frames = wal_frames_by_tree(str(data_dir / "leadvibe.db"))
            total = sum(frames.values())
            print(f"  WAL frames by B-tree ({total:,}): " + ", ".join(
                f"{name} {n:,}" for name, n in frames.most_common(10)))
            conn.execute("PRAGMA wal_autocheckpoint = 1000")
        reader.close()
        return scope.live_leads

    for name, fn in (("backtest", backtest), ("backtest", backtest), ("rescore", rescore)):
        profile = cProfile.Profile() if args.profile else None
        t = time.perf_counter()
        if profile:
            profile.enable()
        n = fn()
        if profile:
            profile.disable()
        took = time.perf_counter() - t
        print(f"  {name}: {n:,} leads in {took:.2f} s ({args.events / took:,.0f} ev/s; load {load_average()})",
              flush=True)
        if profile:
            pstats.Stats(profile).sort_stats("tottime").print_stats(18)
    conn.close()


async def over_http(env: dict[str, str], args: argparse.Namespace) -> None:
    server = start_server(env)
    try:
        base = f"http://127.0.0.1:{env['LEADVIBE_PORT']}"
        headers = await login(base)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
            secret = (await client.post("/secrets", json={"name": "bench"})).json()
            ingest = {"Authorization": "Basic " + base64.b64encode(
                f"{secret['client_id']}:{secret['client_secret']}".encode()).decode()}
            ruleset_id = (await client.get("/rulesets")).json()[0]["ruleset_id"]
            print(f"backtests (load {load_average()})", flush=True)
            times, answer = await timed_backtests(client, ruleset_id)
            print(f"- whole-OU backtest ({answer['leads_evaluated']:,} leads, {args.events:,} events): "
                  + ", ".join(f"{t:.2f} s" for t in times)
                  + f" (≈ {min(times) * 1e6 / args.events:.1f} s per million; load {load_average()})", flush=True)
            cpu = cpu_seconds(server.pid)
            took, rescore, ms = await rescore_under_ingest(client, ingest, ruleset_id)
            await asyncio.sleep(1.0)  # a replay process ends after the answer; its time counts once it is reaped
            cpu = cpu_seconds(server.pid) - cpu
            print(f"- rescore after a rule change: {took:.1f} s (≈ {took * 1e6 / args.events:.1f} s per million;"
                  f" {rescore['leads_rescored']:,} leads, {rescore['changed']:,} changed); /ingest at 100/s"
                  f" meanwhile: p50 {pct(ms, 0.5):.1f}, p99 {pct(ms, 0.99):.1f}, max {max(ms, default=0):.1f} ms,"
                  f" n={len(ms)}"
                  f"; server CPU {cpu:.1f} s (load {load_average()})", flush=True)
    finally:
        stop_server(server)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process, its reaped children and those still running: on a shared machine
    a figure the other users' load moves less than wall time."""
    tick = os.sysconf("SC_CLK_TCK")

    def own(stat: str) -> list[str]:
        return stat[stat.rindex(")") + 2:].split()

    total = sum(int(v) for v in own(Path(f"/proc/{pid}/stat").read_text())[11:15])
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                fields = own((proc / "stat").read_text())
            except OSError:
                continue
            if int(fields[1]) == pid:
                total += sum(int(v) for v in fields[11:15])
    return total / tick


def stored_events(db: Path) -> int:
    """How many events the database holds."""
    import apsw

    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchall()[0][0])
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leads", type=int, default=100_000)
    p.add_argument("--events", type=int, default=300_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--cache-mb", type=int, default=64, help="LEADVIBE_CACHE_SIZE_MB for the server")
    p.add_argument("--data-dir", default=None, help="use (and keep) this data directory; built if empty")
    p.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    p.add_argument("--build-only", action="store_true", help="build the OU into --data-dir and stop")
    p.add_argument("--in-process", action="store_true", help="time on a connection, without the server")
    p.add_argument("--profile", action="store_true", help="with --in-process: cProfile each run")
    p.add_argument("--step-ms", type=float, default=50.0, help="with --in-process: replay budget of a step")
    p.add_argument("--step-leads", type=int, default=600, help="with --in-process: leads a step may take")
    p.add_argument("--pages-by-tree", action="store_true",
                   help="with --in-process: no checkpoints during the rescore; its WAL frames by table and index")
    args = p.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="lv-replay-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LEADVIBE_DATA_DIR": str(data_dir), "LEADVIBE_PORT": str(free_port()),
           "LEADVIBE_ADMIN_EMAIL": EMAIL, "LEADVIBE_ADMIN_PASSWORD": PASSWORD, "LEADVIBE_DECAY_INTERVAL": "86400",
           "LEADVIBE_LOG_LEVEL": "warning", "LEADVIBE_CACHE_SIZE_MB": str(args.cache_mb),
           "PYTHONPATH": str(ROOT)}
    try:
        if not (data_dir / "leadvibe.db").exists():
            asyncio.run(prepare(data_dir, env, args))
        else:
            # A reused OU may hold another number of events than --events says (and those ingested since): the
            # per-million figures divide by what is stored.
            args.events = stored_events(data_dir / "leadvibe.db")
            print(f"reusing {data_dir}: {args.events:,} events stored", flush=True)
        if args.build_only:
            pass
        elif args.in_process:
            in_process(data_dir, args)
        else:
            asyncio.run(over_http(env, args))
    finally:
        if not args.keep and not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            print(f"data kept in {data_dir}")


if __name__ == "__main__":
    main()
