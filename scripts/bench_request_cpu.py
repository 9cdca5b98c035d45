#!/usr/bin/env python3
"""CPU per single-event `/ingest` request: the event loop's thread and the whole server process.

Sets up the data dir as bench_ingest.py does (3 rulesets, the standard surge policy, an inorganic filter), starts
the server from this checkout and runs `--rounds` loads of `wrk` (32 keep-alive clients, `--duration` seconds
each, the inbox drained between them). Per round it prints requests/s and the CPU seconds the server's main
thread (the event loop: HTTP, the guard, validation) and the whole process (with the writer thread: inbox
commits and the worker's scoring) spent per request, read from /proc. CPU per request moves far less with the
machine's load than requests/s, so a change to the request path compares best by it: run this script from each
checkout, alternated.

Usage: python scripts/bench_request_cpu.py [--rounds 2] [--duration 6]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
from bench_ingest import prepare, wait_drained, wait_settled, wrk  # noqa: E402

from tests.e2e.server import ServerProcess  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


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
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench_request_cpu needs wrk (apt-get install wrk)")
    os.chdir(ROOT)  # `python -m leadvibe` imports the package from the working directory: this checkout's
    data = Path(tempfile.mkdtemp(prefix="lv-cpu-")) / "data"
    basic = prepare(data)
    server = ServerProcess(data, env={"LEADVIBE_LOG_LEVEL": "warning"}).start()
    assert server.proc is not None
    pid = server.proc.pid
    event = json.dumps({"lead_id": "ld_bench", "event_type": "page_view", "metadata": {"path": "/pricing"}})
    print(f"code: {ROOT}  cores: {os.cpu_count()}  {args.duration} s per round")
    try:
        wait_settled(server.base)
        for n in range(1, args.rounds + 1):
            loop0, proc0 = cpu_seconds(pid, pid), cpu_seconds(pid)
            rps = wrk(server.base + "/ingest", event, basic, args.duration)
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
