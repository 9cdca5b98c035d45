"""Start a real `leadvibe serve` process on a free 127.0.0.1 port for end-to-end tests."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import apsw
import httpx

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def unscored(data: Path) -> list[str]:
    """Event ids a stopped server's data directory holds acknowledged but not scored: inbox rows past the worker's
    mark, and rows parked in the main database."""
    main = apsw.Connection(str(data / "leadvibe.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        mark = main.execute("SELECT seq FROM inbox_progress").fetchone()[0]
        ids = [r[0] for r in main.execute("SELECT event_id FROM inbox")]
    finally:
        main.close()
    if (data / "inbox.db").exists():
        inbox = apsw.Connection(str(data / "inbox.db"), flags=apsw.SQLITE_OPEN_READONLY)
        try:
            ids += [r[0] for r in inbox.execute("SELECT event_id FROM inbox WHERE seq > ?", (mark,))]
        finally:
            inbox.close()
    return ids


def family(pid: int) -> list[int]:
    """A process and all its descendants."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        children = []
    return [pid, *(p for child in children for p in family(int(child)))]


def status_kb(pid: int, field: str) -> int:
    """A memory figure of a process's /proc status in KiB (`VmRSS`, resident now; `VmHWM`, the most it has been);
    0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def rss_kb(pid: int) -> int:
    """A process's resident memory in KiB (0 once it is gone)."""
    return status_kb(pid, "VmRSS")


# The servers speak plain HTTP on 127.0.0.1: a client made per call need not load the CA bundle for TLS it never
# uses (that costs ~25 ms per call, which hundreds of calls add up to).
PLAIN_HTTP = False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A server subprocess with helpers to log in and get Basic credentials."""

    def __init__(self, data_dir: Path, command: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.command = command or [sys.executable, "-m", "leadvibe"]
        self.env = {**os.environ, "LEADVIBE_ADMIN_EMAIL": ADMIN_EMAIL, "LEADVIBE_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "LEADVIBE_LOG_LEVEL": "warning", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self.command, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir",
             str(self.data_dir)], env=self.env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1, verify=PLAIN_HTTP).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError("server did not become healthy")

    def token(self) -> str:
        r = httpx.post(self.base + "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=10,
                       verify=PLAIN_HTTP)
        r.raise_for_status()
        return str(r.json()["token"])

    def basic(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token()}", "X-OU-ID": "unit_default"}
        r = httpx.post(self.base + "/secrets", json={"name": "e2e"}, headers=headers, timeout=10, verify=PLAIN_HTTP)
        r.raise_for_status()
        body = r.json()
        raw = base64.b64encode(f"{body['client_id']}:{body['client_secret']}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("timeout", 30)
        return httpx.request(method, self.base + path, verify=PLAIN_HTTP, **kw)

    def wait_scored(self, timeout: float = 30.0) -> None:
        """Wait until the worker has scored everything in the inbox (its process starts beside the server's)."""
        deadline = time.monotonic() + timeout
        while self.request("GET", "/healthz").json()["queue_depth"] > 0:
            assert time.monotonic() < deadline, "the worker did not drain the inbox"
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def rss_mb(self) -> float:
        """The server's resident memory with its worker process's (and any other child's)."""
        assert self.proc is not None
        return sum(rss_kb(pid) for pid in family(self.proc.pid)) / 1024
