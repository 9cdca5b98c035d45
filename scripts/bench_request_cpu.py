#!/usr/bin/env python3
"""CPU per request of one write route: the event loop's thread and the whole server process.

Sets up the data dir as bench_ingest.py does (3 rulesets, the standard surge policy, an inorganic filter), starts
the server from this checkout and runs `--rounds` loads of `wrk` (32 keep-alive clients, `--duration` seconds
each, the inbox drained between them). Per round it prints requests/s and the CPU seconds the server's main
thread (the event loop: HTTP, the guard, validation) and the whole process (with the writer thread: inbox
commits and the worker's scoring) spent per request, read from /proc. CPU per request moves far less with the
machine's load than requests/s, so a change to the request path compares best by it: run this script from each
checkout, alternated.

`--route ingest` (the default) sends single events to `/ingest`, the lean ASGI path. `--route lead-update` sends
`PUT /leads/ld_bench` with a CRM-sized metadata object (fourteen keys, the same body every time, so the stored
lead stops changing after the first): a typical write through the framework's own routes (guards, the strict
JSON body check, kwargs, a writer transaction, the response).

Usage: python scripts/bench_request_cpu.py [--rounds 2] [--duration 6] [--route ingest|lead-update]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from bench_ingest import prepare, wait_drained, wait_settled, wrk  # noqa: E402

from tests.e2e.server import ServerProcess  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")
# What a CRM sync writes on a lead: contact and company fields, a few numbers and a list.
LEAD_METADATA = {
    "email": "dana.reyes@northwind.example", "first_name": "Dana", "last_name": "Reyes", "title": "Director of IT",
    "company": "Northwind Traders", "industry": "software", "company_size": 420, "country": "US",
    "lifecycle_stage": "marketingqualifiedlead", "lead_source": "webinar", "crm_owner": "sam@example.com",
    "annual_revenue": 52000000, "tags": ["webinar-2026", "pricing"], "phone": "+1 555 0100",
}


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU of a process (or one of its threads) so far."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=6)
    ap.add_argument("--route", choices=("ingest", "lead-update"), default="ingest")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_request_cpu needs wrk (apt-get install wrk)")
    os.chdir(ROOT)  # `python -m leadvibe` imports the package from the working directory: this checkout's
    data = Path(tempfile.mkdtemp(prefix="lv-cpu-")) / "data"
    basic = prepare(data)
    server = ServerProcess(data, env={"LEADVIBE_LOG_LEVEL": "warning"}).start()
    assert server.proc is not None
    pid = server.proc.pid
    if args.route == "ingest":
        method, url = "POST", server.base + "/ingest"
        body = json.dumps({"lead_id": "ld_bench", "event_type": "page_view", "metadata": {"path": "/pricing"}})
    else:
        method, url = "PUT", server.base + "/leads/ld_bench"
        body = json.dumps({"metadata": LEAD_METADATA, "account_id": None})
        httpx.post(server.base + "/leads", json={"id": "ld_bench"}, headers=basic, timeout=10).raise_for_status()
    print(f"code: {ROOT}  route: {method} {url.removeprefix(server.base)}  cores: {os.cpu_count()}  "
          f"{args.duration} s per round")
    try:
        wait_settled(server.base)
        for n in range(1, args.rounds + 1):
            loop0, proc0 = cpu_seconds(pid, pid), cpu_seconds(pid)
            rps = wrk(url, body, basic, args.duration, method=method)
            loop1, proc1 = cpu_seconds(pid, pid), cpu_seconds(pid)
            requests = rps * args.duration
            print(f"round {n}: {rps:7.0f} req/s   event loop {1e6 * (loop1 - loop0) / requests:6.1f} µs/request"
                  f"   process {1e6 * (proc1 - proc0) / requests:6.1f} µs/request   load {os.getloadavg()[0]:.2f}",
                  flush=True)
            wait_drained(server.base)
    finally:
        server.stop()
        shutil.rmtree(data.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
