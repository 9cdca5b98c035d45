"""Import benchmark: a history imported with `leadvibe import` into a large OU, in the file's order (time order, the
leads interleaved, as an export comes) and with `--by-lead` (each lead's rows together), alternated.

Builds one OU of `--leads` leads and `--events` stored events the way `bench_scale.py --load store` does (or
reuses `--data-dir` from an earlier `--keep`), then starts a real `python -m leadvibe serve` (127.0.0.1 only) and
imports `--pairs` pairs of CSV files through the CLI, each file `--rows` rows for `--rows / --per-lead` stored
leads picked at random (no lead in two files), timestamps in order over the last 30 days. Per file it prints the
seconds until the CLI returned (every row acknowledged) and until the worker's queue was empty, the events/s
scored over the whole import, and the rate of the worker alone once every row was acknowledged (while rows are
coming in, it gives way to their inbox commits). `--only by-lead` (or `file-order`) imports `--pairs` files one
way only; `--empty` skips the stored history, so the files name leads the OU does not have yet (a team's first
import: `--empty --only by-lead --rows 10000000` is ten million events for a million leads).

    .venv/bin/python scripts/bench_import.py                        # 1,000,000 leads, 2,000,000 stored events
    .venv/bin/python scripts/bench_import.py --leads 100000 --events 200000 --rows 50000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from bench_scale import (
    DAY_MS,
    EMAIL,
    PASSWORD,
    ROOT,
    free_port,
    iso,
    load_store,
    login,
    setup_scoring,
    start_server,
    stop_server,
    wait_drained,
)

TYPES = ("page_view", "email_open", "email_click", "pricing_view", "content_download")


def write_csv(path: Path, leads: list[int], per_lead: int, now: int, rng: random.Random) -> int:
    """`per_lead` rows for each lead, interleaved, in time order over the last 30 days; the rows written."""
    rows = [(now - rng.randrange(30 * DAY_MS), lead) for lead in leads for _ in range(per_lead)]
    rows.sort()
    with path.open("w") as f:
        f.write("lead_id,event_type,timestamp\n")
        for ts, lead in rows:
            f.write(f"ld_{lead:07d},{rng.choice(TYPES)},{iso(ts)}\n")
    return len(rows)


async def drained(base: str, started: float) -> tuple[int, float]:
    """(the worker's queue depth now, seconds from `started` until it is empty)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        left = int((await client.get("/healthz")).json()["queue_depth"])
        return left, await wait_drained(client, started)


def run_import(path: Path, base: str, cred: dict[str, str], by_lead: bool,
               env: dict[str, str]) -> tuple[float, int, float]:
    """(seconds until the CLI returned, the rows not yet scored then, seconds until the worker's queue was
    empty)."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", base, "--quiet",
                          "--skip-triggers", "--client-id", cred["client_id"], "--client-secret", cred["client_secret"],
                          *(["--by-lead"] if by_lead else [])], env=env, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"leadvibe import failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    acknowledged = time.perf_counter() - started
    left, scored = asyncio.run(drained(base, started))
    return acknowledged, left, scored


def run_upload(path: Path, base: str, cred: dict[str, str], by_lead: bool) -> tuple[float, int, float]:
    """`run_import`'s figures for one upload of the whole file to `POST /import`."""
    started = time.perf_counter()
    with path.open("rb") as f:
        r = httpx.post(base + "/import", params={"skip_triggers": "true", **({"by_lead": "true"} if by_lead else {})},
                       files={"file": (path.name, f, "text/csv")}, auth=(cred["client_id"], cred["client_secret"]),
                       timeout=600)
    if r.status_code != 202:
        raise SystemExit(f"POST /import failed ({r.status_code}): {r.text[:2000]}")
    acknowledged = time.perf_counter() - started
    left, scored = asyncio.run(drained(base, started))
    return acknowledged, left, scored


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leads", type=int, default=1_000_000)
    ap.add_argument("--events", type=int, default=2_000_000, help="events stored before the imports")
    ap.add_argument("--rows", type=int, default=100_000, help="rows per imported file")
    ap.add_argument("--per-lead", type=int, default=10, help="rows per lead in an imported file")
    ap.add_argument("--pairs", type=int, default=2, help="file-order / --by-lead pairs, alternated")
    ap.add_argument("--only", choices=("file-order", "by-lead"),
                    help="import only this way, --pairs files (a long import measured once)")
    ap.add_argument("--empty", action="store_true",
                    help="no stored history: the files name leads the OU does not have yet (a first import)")
    ap.add_argument("--upload", action="store_true",
                    help="each file in one POST /import (by_lead=true for the grouped side), as the dashboard sends it")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--data-dir", help="use (and keep) this data directory; built when it holds no database")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="lv-bench-import-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "LEADVIBE_DATA_DIR": str(data_dir), "LEADVIBE_PORT": str(port),
           "LEADVIBE_ADMIN_EMAIL": EMAIL, "LEADVIBE_ADMIN_PASSWORD": PASSWORD, "LEADVIBE_DECAY_INTERVAL": "86400",
           "LEADVIBE_LOG_LEVEL": "warning"}
    base = f"http://127.0.0.1:{port}"
    now = int(time.time() * 1000)
    built = (data_dir / "leadvibe.db").exists()
    server = start_server(env)
    try:
        headers = asyncio.run(login(base))
        if not built:
            asyncio.run(_setup(base, headers))
        if not built and not args.empty:
            stop_server(server)
            print(f"building {args.leads:,} leads / {args.events:,} events through the store", flush=True)
            written, scored = load_store(data_dir, args.leads, args.events, now, args.seed)
            print(f"built in {written + scored:.0f} s", flush=True)
            server = start_server(env)
            headers = asyncio.run(login(base))
        cred = httpx.post(base + "/secrets", json={"name": "bench-import"}, headers=headers, timeout=30).json()
        rng = random.Random(args.seed + 1)
        per_file = args.rows // args.per_lead
        files = args.pairs if args.only else 2 * args.pairs
        picked = rng.sample(range(args.leads), per_file * files)
        print(f"code: {ROOT}  {'no' if args.empty else f'{args.leads:,}'} leads stored; files of"
              f" {per_file * args.per_lead:,} rows for {per_file:,} leads each ({args.per_lead} rows per lead, time"
              " order)", flush=True)
        for i in range(files):
            by_lead = args.only == "by-lead" if args.only else i % 2 == 1
            path = data_dir / f"import{i}.csv"
            rows = write_csv(path, picked[i * per_file:(i + 1) * per_file], args.per_lead, now, rng)
            load = os.getloadavg()[0]
            acknowledged, left, drained = (run_upload(path, base, cred, by_lead) if args.upload
                                           else run_import(path, base, cred, by_lead, env))
            path.unlink()
            # While rows are being acknowledged the worker yields to their inbox commits; after, it runs alone.
            way = ("by_lead   " if args.upload else "--by-lead ") if by_lead else "file order"
            print(f"{way}  {rows:,} rows: acknowledged in {acknowledged:6.1f} s,"
                  f" scored in {drained:6.1f} s = {rows / drained:7.0f} ev/s; the {left:,} left when acknowledged at"
                  f" {left / max(drained - acknowledged, 1e-3):7.0f} ev/s  (load average {load:.2f} before,"
                  f" {os.getloadavg()[0]:.2f} after)", flush=True)
    finally:
        stop_server(server)
        if not (args.data_dir or args.keep):
            shutil.rmtree(data_dir, ignore_errors=True)


async def _setup(base: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        await setup_scoring(client)


if __name__ == "__main__":
    main()
