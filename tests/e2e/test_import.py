"""CSV import against a real server: the CLI with its progress bar, and memory while a 10 MB file imports."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _csv(path: Path, target_bytes: int) -> int:
    rows = 0
    with path.open("w") as f:
        f.write("lead_id,event_type,timestamp,email,metadata\n")
        size = 0
        while size < target_bytes:
            line = (f"ld_{rows % 20000},page_view,2025-06-15T10:30:00Z,user{rows % 20000}@example.com,"
                    f'"{{""path"": ""/pricing/{rows}""}}"\n')
            f.write(line)
            size += len(line)
            rows += 1
    return rows


def test_ten_megabyte_import_keeps_memory_flat(tmp_path: Path) -> None:
    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        basic = server.basic()
        path = tmp_path / "events.csv"
        rows = _csv(path, 10 * 1024 * 1024 - 4096)
        assert path.stat().st_size <= 10 * 1024 * 1024
        # warm up the code paths so the measurement is about the file, not first-use imports
        server.request("POST", "/import", files={"file": ("w.csv", b"lead_id,event_type\nld_w,x\n", "text/csv")},
                       headers=basic)
        before = _hwm_mb(server.proc.pid)  # type: ignore[union-attr]
        with path.open("rb") as f:
            started = time.monotonic()
            r = server.request("POST", "/import", files={"file": ("events.csv", f, "text/csv")}, headers=basic,
                               timeout=600)
            print(f"10 MB import acknowledged in {time.monotonic() - started:.1f} s")
        assert r.status_code == 202, r.text
        assert r.json()["imported"] == rows and r.json()["errors"] == 0
        print(f"peak RSS growth when acknowledged: {_hwm_mb(server.proc.pid) - before:.1f} MB")  # type: ignore[union-attr]
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.request("GET", "/healthz").json()["queue_depth"] > 0:
            time.sleep(0.5)
        growth = _hwm_mb(server.proc.pid) - before  # type: ignore[union-attr]
        print(f"peak RSS growth during the import: {growth:.1f} MB")
        heap = {ln.split()[0]: float(ln.split()[1]) for ln in server.request("GET", "/metrics", headers=basic).text
                .splitlines() if ln.startswith("sqlite_heap")}
        print(f"SQLite heap now {heap['sqlite_heap_bytes'] / 2**20:.1f} MB, "
              f"at most {heap['sqlite_heap_peak_bytes'] / 2**20:.1f} MB")
        assert growth < 50, f"peak memory grew by {growth:.1f} MB"
        too_big = tmp_path / "big.csv"
        _csv(too_big, 10 * 1024 * 1024 + 10_000)
        with too_big.open("rb") as f:
            r = server.request("POST", "/import", files={"file": ("big.csv", f, "text/csv")}, headers=basic)
        assert r.status_code == 413
    finally:
        server.stop()


def test_cli_import_with_progress(tmp_path: Path) -> None:
    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        token = server.token()
        r = server.request("POST", "/secrets", json={"name": "cli"},
                           headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        cred = r.json()
        path = tmp_path / "events.csv"
        path.write_text("lead_id,event_type,timestamp\nld_a,page_view,2025-06-15T10:30:00Z\n,bad,\n"
                        "ld_b,email_open,2025-06-16T14:00:00Z\n")
        out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", cred["client_secret"]],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert "imported 2 events" in out.stdout and "line 3:" in out.stdout
        assert "100.0%" in out.stderr
        bad = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", "wrong"],
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "401" in bad.stderr
    finally:
        server.stop()


def test_split_keeps_line_numbers(tmp_path: Path) -> None:
    from leadvibe.importer import split_csv

    path = tmp_path / "e.csv"
    path.write_text("event_type,lead_id,metadata\n" + "".join(f'x,ld_{i},"{{""a"":\n1}}"\n' for i in range(50)))
    parts = list(split_csv(path, part_bytes=200))
    assert len(parts) > 3
    assert all(p.startswith(b"event_type,lead_id,metadata\n") for p, _, _ in parts)
    assert parts[-1][2] == path.stat().st_size


def test_cli_progress_moves_by_acknowledged_rows_on_a_small_file(tmp_path: Path) -> None:
    import re

    # The page caches are bounded by their own setting (24 MB writer + a quarter per reader by default) and fill
    # with whatever the worker touches while it scores the import, more so as triggers and indexes are added;
    # at their 8 MB floor they cannot hide a file-sized buffer, which is what this test is about.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL",
                                                   "LEADVIBE_CACHE_SIZE_MB": "8"}).start()
    try:
        token = server.token()
        cred = server.request("POST", "/secrets", json={"name": "cli"},
                              headers={"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}).json()
        path = tmp_path / "events.csv"  # ~300 kB: one part under the old 8 MB parts
        path.write_text("lead_id,event_type\n" + "".join(f"ld_{i % 97},page_view\n" for i in range(7000)))
        out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", server.base,
                              "--client-id", cred["client_id"], "--client-secret", cred["client_secret"]],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        rows = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+) rows imported", out.stderr)]
        assert len(rows) >= 4 and rows == sorted(rows) and rows[0] < 7000 and rows[-1] == 7000
    finally:
        server.stop()


def test_cli_names_the_url_when_no_server_answers(tmp_path: Path) -> None:
    from tests.e2e.server import free_port

    path = tmp_path / "events.csv"
    path.write_text("lead_id,event_type\nld_a,page_view\n")
    url = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run([sys.executable, "-m", "leadvibe", "import", str(path), "--url", url,
                          "--client-id", "lv_x", "--client-secret", "y"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert url in out.stderr and "leadvibe serve" in out.stderr and "Errno" not in out.stderr
