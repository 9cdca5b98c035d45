"""Print the one-file executable's figures: size, launch-to-healthy time, idle RSS (run by build_binary.sh).

Each launch uses a fresh data directory (a first start: migrations, admin account, keys), an environment
holding only `PATH=/usr/bin:/bin`, a free 127.0.0.1 port and a working directory outside the repository.
Start time is from `exec` to the first `200` from `/healthz`, polled every 5 ms; the median of 3 launches is
reported. RSS is `VmRSS` from `/proc/PID/status`, summed over the bootloader, the server and its worker process
(the one-file bootloader stays resident as the parent of the unpacked server), in MB (10^6 bytes, the target's
unit), taken once the server has settled: the work it defers until it answers (`gc_policy.settle_once_serving`)
has run by then, so the figure is what an idle appliance holds, not a snapshot of its first seconds.

Exit status 0 whatever the figures; a target missed is printed as MISSED, not hidden.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from leadvibe.gc_policy import SETTLE_AFTER_S
from tests.e2e.server import family, rss_kb

TARGETS = {"size_mb": 60.0, "start_ms": 1500.0, "rss_mb": 120.0}
# Idle this long before RSS is read: past the deferred start-up work, with time for it to finish.
IDLE_S = SETTLE_AFTER_S + 3.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Every descendant: the bootloader's server and the server's worker process."""
    return family(pid)[1:]


def _cpu_ms(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def launch(binary: Path, *, idle_seconds: float = 0.0, timeout: float = 20.0) -> tuple[float, float, float]:
    """Start the binary once; return (ms to healthy, CPU ms to healthy, RSS MB after `idle_seconds`)."""
    with tempfile.TemporaryDirectory(prefix="leadvibe-figures-") as tmp:
        port = _free_port()
        env = {"PATH": "/usr/bin:/bin", "LEADVIBE_ADMIN_PASSWORD": "figures-password-1",
               "LEADVIBE_LOG_LEVEL": "warning"}
        url = f"http://127.0.0.1:{port}/healthz"
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(binary), "serve", "--port", str(port), "--data-dir", f"{tmp}/data"],
                                env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            while not _healthy(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"{binary} exited with {proc.returncode} before it was healthy")
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"{binary} was not healthy within {timeout:.0f} s")
                time.sleep(0.005)
            start_ms = (time.perf_counter() - t0) * 1000
            cpu_ms = sum(_cpu_ms(p) for p in (proc.pid, *_children(proc.pid)))
            rss_mb = 0.0
            if idle_seconds:
                time.sleep(idle_seconds)
                rss_mb = sum(rss_kb(p) for p in (proc.pid, *_children(proc.pid))) * 1024 / 1e6
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            return start_ms, cpu_ms, rss_mb
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", type=Path, nargs="?", default=Path("dist/leadvibe"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    binary = args.binary.resolve()
    size_mb = binary.stat().st_size / 1_048_576
    starts: list[float] = []
    cpus: list[float] = []
    rss = 0.0
    for i in range(args.runs):
        # RSS once, on the last launch (idling every launch would only slow the build down).
        ms, cpu, mb = launch(binary, idle_seconds=IDLE_S if i == args.runs - 1 else 0.0)
        starts.append(ms)
        cpus.append(cpu)
        rss = mb or rss
    start_ms = statistics.median(starts)

    def row(label: str, value: float, unit: str, key: str) -> str:
        target = TARGETS[key]
        verdict = "ok" if value < target else "MISSED"
        return f"  {label:<28} {value:8.1f} {unit:<3} (target < {target:g} {unit}: {verdict})"

    print(f"figures for {binary}:")
    print(row("binary size", size_mb, "MiB", "size_mb"))
    print(row("launch to healthy /healthz", start_ms, "ms", "start_ms")
          + f"  runs: {', '.join(f'{s:.0f}' for s in starts)} ms")
    print(f"  {'CPU time to healthy':<28} {statistics.median(cpus):8.1f} ms   (user+system of bootloader and "
          "server: the start's own cost, whatever else runs)")
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"  note: load average {load:.1f} on {os.cpu_count()} CPUs while measuring: the wall time is "
              "inflated by other work; rerun on a quiet machine for the real figure")
    print(row(f"RSS at idle ({IDLE_S:g} s)", rss, "MB", "rss_mb"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
