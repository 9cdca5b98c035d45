"""Reliability under failure, against real `leadvibe serve` processes:

- kill -9 in a loop while mixed load runs (single and batch ingestion, CSV import, rescore, merge, decay): after
  every restart each acknowledged event is stored, every score equals the sum of its stored deltas, and
  `PRAGMA integrity_check` is ok;
- a full disk (the data directory on a small tmpfs): writes answer 503 and nothing acknowledged is lost once
  space is back;
- a slow reader and a slow `/stream` client never hold up ingestion.

Each test is bounded in rounds and seconds so the suite stays within CI's budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from tests.e2e.server import ServerProcess, unscored

pytestmark = pytest.mark.slow

ROUNDS = 4
LOAD_SECONDS = 2.0


class Acked:
    """Event ids the server acknowledged (202), from every client thread."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, *ids: str) -> None:
        with self._lock:
            self.ids.update(ids)


def _db(data: Path) -> apsw.Connection:
    return apsw.Connection(str(data / "leadvibe.db"), flags=apsw.SQLITE_OPEN_READONLY)


def check_database(data: Path, acked: set[str]) -> None:
    """The promises, read straight from the stopped server's file."""
    conn = _db(data)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        stored = {r[0] for r in conn.execute("SELECT id FROM events")}
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged events are not stored"
        assert unscored(data) == [], "events left unscored"
        assert conn.execute("SELECT count(*) FROM inbox_dead").fetchone()[0] == 0, "events set aside"
        drift = conn.execute(
            "SELECT s.lead_id, s.ruleset_id, s.score, coalesce(sum(e.delta), 0) FROM lead_scores s"
            " LEFT JOIN event_scores e ON e.unit_id = s.unit_id AND e.lead_id = s.lead_id"
            " AND e.ruleset_id = s.ruleset_id GROUP BY s.unit_id, s.lead_id, s.ruleset_id"
            " HAVING s.score != coalesce(sum(e.delta), 0)").fetchall()
        assert drift == [], f"scores differ from the sum of their deltas: {drift[:5]}"
    finally:
        conn.close()


def wait_scored(server: ServerProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if server.request("GET", "/healthz", timeout=2).json()["queue_depth"] == 0:
                return
        time.sleep(0.05)
    raise AssertionError("the worker did not catch up")


def run_for(seconds: float, workers: list[Callable[[threading.Event], None]]) -> threading.Event:
    """Start each worker in a thread; return the event that stops them."""
    stop = threading.Event()
    for w in workers:
        threading.Thread(target=w, args=(stop,), daemon=True).start()
    return stop


def _loop(stop: threading.Event, step: Callable[[int], None]) -> None:
    i = 0
    while not stop.is_set() and i < 10_000:
        try:
            step(i)
        except (httpx.HTTPError, OSError):
            return  # the server was killed under us
        i += 1


def mixed_load(server: ServerProcess, basic: dict[str, str], admin: dict[str, str], ruleset: str,
               acked: Acked, round_no: int) -> list[Callable[[threading.Event], None]]:
    """Clients of every kind, each on its own connection."""
    old = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def single(stop: threading.Event) -> None:
        with httpx.Client(base_url=server.base, headers=basic, timeout=5) as c:
            def step(i: int) -> None:
                body: dict[str, Any] = {"lead_id": f"ld_{i % 13}", "event_type": "page_view"}
                if i % 5 == 0:  # quiet leads for the decay pass
                    body = {"lead_id": f"ld_old_{round_no}_{i}", "event_type": "demo", "timestamp": old}
                r = c.post("/ingest", json=body)
                if r.status_code == 202:
                    acked.add(r.json()["metadata"]["event_id"])
            _loop(stop, step)

    def batch(stop: threading.Event) -> None:
        with httpx.Client(base_url=server.base, headers=basic, timeout=5) as c:
            def step(i: int) -> None:
                events = [{"lead_id": f"ld_{(i + k) % 13}", "event_type": "demo"} for k in range(20)]
                r = c.post("/ingest/batch", json={"events": events})
                if r.status_code == 202:
                    acked.add(*(x["event_id"] for x in r.json()["results"] if x["status"] == "accepted"))
            _loop(stop, step)

    def csv_import(stop: threading.Event) -> None:
        rows = "".join(f"ld_csv_{k % 9},page_view,\n" for k in range(300))
        with httpx.Client(base_url=server.base, headers=basic, timeout=10) as c:
            def step(i: int) -> None:
                r = c.post("/import", files={"file": ("e.csv", ("lead_id,event_type,email\n" + rows).encode())})
                if r.status_code == 202:
                    # An import acknowledges rows, not ids: ask which events it stored, by their import source.
                    assert r.json()["imported"] == 300
            _loop(stop, step)

    def operator(stop: threading.Event) -> None:
        with httpx.Client(base_url=server.base, headers=admin, timeout=10) as c:
            def step(i: int) -> None:
                if i % 2 == 0:
                    c.post(f"/rulesets/{ruleset}/rescore")
                else:
                    c.post("/leads/merge", json={"targetLeadId": f"ld_{i % 13}",
                                                 "sourceLeadIds": [f"ld_csv_{i % 9}"]})
                time.sleep(0.05)
            _loop(stop, step)

    return [single, single, batch, csv_import, operator]


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A data directory with a rule set, rules and a decay rule made through the API; the server stopped."""
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    try:
        basic = server.basic()
        admin = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        for event_type, weight in (("page_view", 1), ("demo", 5)):
            r = server.request("POST", "/rules", json={"event_type": event_type, "weight": weight}, headers=admin)
            assert r.status_code == 201, r.text
        ruleset = server.request("GET", "/rulesets", headers=admin).json()[0]["ruleset_id"]
        r = server.request("POST", "/decays", json={"inactive_for": 1, "unit": "days", "decrease": 2}, headers=admin)
        assert r.status_code == 201, r.text
        assert server.stop() == 0
    finally:
        server.kill()
    yield data, basic, ruleset


def test_kill9_during_mixed_load_loses_nothing_and_keeps_scores_whole(
        configured: tuple[Path, dict[str, str], str]) -> None:
    data, basic, ruleset = configured
    acked = Acked()
    env = {"LEADVIBE_DECAY_INTERVAL": "0.2", "LEADVIBE_WORKER_BATCH_SIZE": "200"}
    for round_no in range(ROUNDS):
        server = ServerProcess(data, env=env).start()
        try:
            admin = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
            before = len(acked.ids)
            stop = run_for(LOAD_SECONDS, mixed_load(server, basic, admin, ruleset, acked, round_no))
            deadline = time.monotonic() + LOAD_SECONDS + 10
            while time.monotonic() < deadline and (len(acked.ids) - before < 200):
                time.sleep(0.05)
            time.sleep(LOAD_SECONDS / 2)
            assert server.proc is not None
            os.killpg(server.proc.pid, signal.SIGKILL)  # mid-flight: clients, worker, decay and rescore all busy
            server.proc.wait(10)
            stop.set()
        finally:
            server.kill()
        assert len(acked.ids) > before, "no load was acknowledged this round"
        # The file as the crash left it must be sound; then a restart finishes what was acknowledged.
        conn = _db(data)
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        conn.close()
        server = ServerProcess(data, env=env).start()
        try:
            wait_scored(server)
            assert server.stop() == 0
        finally:
            server.kill()
        check_database(data, acked.ids)
    conn = _db(data)
    try:
        decays = conn.execute("SELECT count(*) FROM events WHERE decay_id IS NOT NULL").fetchone()[0]
        imported = conn.execute("SELECT count(*) FROM events WHERE source = 'import'").fetchone()[0]
        merged = conn.execute("SELECT count(*) FROM leads WHERE merged_into IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert decays > 0 and imported > 0 and merged > 0, "the mixed load did not exercise every path"


@contextlib.contextmanager
def small_disk(where: Path, size_mb: int) -> Iterator[Callable[[int], None]]:
    """A tmpfs of `size_mb` at `where`; yields a function that resizes it. Needs root (CI runs as root)."""
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): the disk-full case needs root")

    def resize(mb: int) -> None:
        subprocess.run(["mount", "-o", f"remount,size={mb}m", str(where)], check=True)

    try:
        yield resize
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_disk_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", 12) as resize:
        data = tmp_path / "disk" / "data"
        server = ServerProcess(data, env={"LEADVIBE_SYNCHRONOUS": "NORMAL"})
        server.log_path = tmp_path / "server.log"
        server.start()
        try:
            basic = server.basic()
            acked = Acked()
            statuses: dict[int, int] = {}
            padding = "x" * 60_000
            with httpx.Client(base_url=server.base, headers=basic, timeout=10) as c:
                for i in range(2000):
                    r = c.post("/ingest", json={"lead_id": f"ld_{i % 50}", "event_type": "page_view",
                                                "metadata": {"pad": padding, "i": i}})
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 202:
                        acked.add(r.json()["metadata"]["event_id"])
                    elif r.status_code == 503:
                        assert r.json()["error"].startswith("the disk is full")
                        if statuses[503] >= 5:
                            break
                    else:
                        raise AssertionError(f"unexpected {r.status_code}: {r.text}")
            assert statuses.get(503, 0) >= 5 and statuses.get(202, 0) > 10, statuses
            health = server.request("GET", "/healthz")  # a live server whose writes are refused: says why
            assert health.status_code == 503, health.text
            assert (health.json()["disk"], health.json()["database"]) == ("full", "ok"), health.text

            resize(256)  # space is back: the worker catches up and ingestion works again
            r = server.request("POST", "/ingest", json={"lead_id": "ld_after", "event_type": "page_view"},
                               headers=basic)
            assert r.status_code == 202
            acked.add(r.json()["metadata"]["event_id"])
            wait_scored(server)
            health = server.request("GET", "/healthz")
            assert health.status_code == 200 and health.json()["disk"] == "ok", health.text
            assert server.stop() == 0
        finally:
            server.kill()
        check_database(data, acked.ids)


def test_slow_readers_and_a_stalled_stream_client_never_hold_up_ingestion(tmp_path: Path) -> None:
    # A client is dropped once frames from earlier bursts (a worker batch's publications, each burst written as
    # one chunk) still wait when a new burst begins; batches of at most 500 events make the 30,000 below dozens of
    # bursts, where the server's 16,000 could drain them in three or four on a loaded machine, too few to tell.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SSE_BUFFER": "50", "LEADVIBE_SSE_HEARTBEAT": "0.2",
                                                   "LEADVIBE_WORKER_BATCH_SIZE": "500"}).start()
    try:
        basic = server.basic()
        admin = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        # A stream client that connects and then never reads (a tiny receive buffer, so the server notices soon):
        # its buffer on the server fills and the server drops it.
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", server.port))
        stalled.sendall(f"GET /stream HTTP/1.1\r\nHost: x\r\nAuthorization: {admin['Authorization']}\r\n"
                        "X-OU-ID: unit_default\r\n\r\n".encode())
        assert stalled.recv(12) == b"HTTP/1.1 200"
        # Readers that page through exports slowly, holding read snapshots while writes go on.
        stop = threading.Event()

        def slow_reader() -> None:
            with httpx.Client(base_url=server.base, headers=admin, timeout=30) as c:
                while not stop.is_set():
                    with c.stream("GET", "/events/export") as r:
                        for _ in r.iter_bytes(1024):
                            time.sleep(0.01)
                            if stop.is_set():
                                break

        readers = [threading.Thread(target=slow_reader, daemon=True) for _ in range(3)]
        for t in readers:
            t.start()
        acked = Acked()
        with httpx.Client(base_url=server.base, headers=basic, timeout=30) as c:
            for i in range(30):  # enough stream messages to overflow any socket buffer between the two
                events = [{"lead_id": f"ld_{k % 50}", "event_type": "page_view"} for k in range(1000)]
                r = c.post("/ingest/batch", json={"events": events})
                assert r.status_code == 202, r.text
                acked.add(*(x["event_id"] for x in r.json()["results"]))
                r = c.post("/ingest", json={"lead_id": f"ld_{i}", "event_type": "page_view"})
                assert r.status_code == 202, r.text
                acked.add(r.json()["metadata"]["event_id"])
        wait_scored(server, timeout=120)
        metrics = server.request("GET", "/metrics").text
        dropped = [ln for ln in metrics.splitlines() if ln.startswith("sse_clients_dropped_total ")]
        assert dropped and float(dropped[0].split()[1]) >= 1, "the stalled stream client was kept"
        stop.set()
        stalled.close()
        assert server.stop() == 0
    finally:
        server.kill()
    check_database(tmp_path / "data", acked.ids)
