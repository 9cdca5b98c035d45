"""The worker process as the server runs it: it ends with its server however the server ends, and a signal to
the server's process group stops both in order."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow


def _worker_pid(server: ServerProcess) -> int:
    assert server.proc is not None
    pid = server.proc.pid
    for _ in range(100):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError("the server started no worker process")


def _gone(pid: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child whose parent died is reaped by init; until then it shows as a zombie.
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True
        time.sleep(0.05)
    return False


def test_the_worker_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    worker = _worker_pid(server)
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGKILL)  # the server alone: nothing tells the worker but its closed socket
    server.proc.wait(10)
    assert _gone(worker), "the worker process outlived its killed server"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_group_stops_server_and_worker_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    server = ServerProcess(tmp_path / "data").start()
    worker = _worker_pid(server)
    assert server.proc is not None
    r = server.request("POST", "/ingest", json={"lead_id": "ld_1", "event_type": "page_view"},
                       headers=server.basic())
    assert r.status_code == 202
    os.killpg(server.proc.pid, sig)  # Ctrl-C in a terminal, or a service manager stopping the service
    assert server.proc.wait(20) == 0
    assert _gone(worker)
    log = server.log_path.read_text()
    assert "Traceback" not in log and "worker_process_exited" not in log


def test_the_first_worker_killed_is_started_again(tmp_path: Path) -> None:
    """`leadvibe serve` starts its first worker before its own imports; a new one replaces it all the same."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        first = _worker_pid(server)
        os.kill(first, signal.SIGKILL)
        basic = server.basic()
        for _ in range(3):
            r = server.request("POST", "/ingest", json={"lead_id": "ld_1", "event_type": "page_view"}, headers=basic)
            assert r.status_code == 202
        server.wait_scored()
        assert _worker_pid(server) != first
        assert server.request("GET", "/healthz").json()["worker"] == "alive"
        lead = server.request("GET", "/leads/ld_1", headers=basic).json()["lead"]
        assert lead["last_event_type"] == "page_view"
    finally:
        server.stop()
    assert "worker_process_exited" in server.log_path.read_text()


def _health_until(server: ServerProcess, worker: str, timeout: float) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        r = server.request("GET", "/healthz", timeout=5)
        if r.json()["worker"] == worker or time.monotonic() > deadline:
            return r.status_code, r.json()
        time.sleep(0.1)


def test_a_paused_worker_is_reported_stalled_and_alive_again_once_it_goes_on(tmp_path: Path) -> None:
    """A worker stopped with SIGSTOP still runs as a process: /healthz must not call it alive while events wait."""
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_WORKER_STALL_S": "1.5"}).start()
    worker = _worker_pid(server)
    try:
        basic = server.basic()
        os.kill(worker, signal.SIGSTOP)
        for i in range(3):
            r = server.request("POST", "/ingest", json={"lead_id": "ld_p", "event_type": f"t{i}"}, headers=basic)
            assert r.status_code == 202  # ingestion goes on: the inbox is the server's
        paused = time.monotonic()
        assert server.request("GET", "/healthz").json()["worker"] == "alive"  # waiting a moment is no stall
        status, body = _health_until(server, "stalled", 10)
        assert time.monotonic() - paused >= 1.0
        assert status == 503 and body["status"] == "degraded" and body["worker"] == "stalled"
        assert isinstance(body["oldest_waiting_s"], float) and body["oldest_waiting_s"] >= 1.5
        assert body["queue_depth"] == 3
        os.kill(worker, signal.SIGCONT)
        server.wait_scored()
        status, body = _health_until(server, "alive", 10)
        assert (status, body["status"]) == (200, "ok") and "oldest_waiting_s" not in body
        assert _worker_pid(server) == worker  # the same process went on; nothing was restarted
        lead = server.request("GET", "/leads/ld_p", headers=basic).json()["lead"]
        assert lead["last_event_type"] == "t2"
    finally:
        os.kill(worker, signal.SIGCONT)
        server.stop()


def test_events_that_arrive_while_the_worker_is_paused_leave_no_phantom_backlog(tmp_path: Path) -> None:
    """The server tells its worker of each arrival over a socket the paused worker does not read: once its buffer
    was full those messages were dropped, and queue_depth stayed hundreds too high after the worker went on."""
    import httpx

    server = ServerProcess(tmp_path / "data").start()
    worker = _worker_pid(server)
    try:
        basic = server.basic()
        os.kill(worker, signal.SIGSTOP)

        def send(k: int) -> None:
            with httpx.Client(base_url=server.base, headers=basic, timeout=30) as client:
                for _ in range(150):
                    assert client.post("/ingest", json={"lead_id": f"ld_{k}", "event_type": "page_view"}
                                       ).status_code == 202

        threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert server.request("GET", "/healthz").json()["queue_depth"] == 1200
        os.kill(worker, signal.SIGCONT)
        deadline = time.monotonic() + 30
        while (depth := server.request("GET", "/healthz").json()["queue_depth"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert depth == 0
        assert server.request("GET", "/events", params={"limit": 1}, headers=basic).json()["total"] == 1200
    finally:
        os.kill(worker, signal.SIGCONT)
        server.stop()
