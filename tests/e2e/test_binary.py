"""Smoke test of the one-file executable the way a user meets it: `dist/leadvibe` on a fresh data dir, no
Python environment, the seed guide's curl flow, a clean SIGTERM stop, and the data still there after a
restart.

Built by `scripts/build_binary.sh`, which runs this test right after building. Without a built binary the
test is skipped. `LEADVIBE_BINARY` points it at another executable.

The binary runs with an environment holding only `PATH=/usr/bin:/bin` and the test's `LEADVIBE_*` settings
(no `VIRTUAL_ENV`, `PYTHONPATH` or `PYTHONHOME`), from a working directory outside the repository, so it
cannot lean on the build venv or the source tree. Where the kernel supports it (Linux >= 6.3), the binary
also runs under `PR_SET_MDWE` (refuse memory that is or becomes both writable and executable): the same
restriction as systemd's `MemoryDenyWriteExecute=yes`, which packaging/leadvibe.service sets, so this test
is what keeps that line honest.

Endpoints that land later are exercised when `/schema/openapi.json` lists them, so the smoke test grows with
the product without edits (and never fails for a capability that is not built yet).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ADMIN_EMAIL, ADMIN_PASSWORD, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("LEADVIBE_BINARY") or ROOT / "dist" / "leadvibe")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BINARY.is_file(), reason=f"{BINARY} is not built: run scripts/build_binary.sh"),
]

# Runs in the child: set MDWE (inherited across execve), then become the binary. Python is gone after execv.
_MDWE_EXEC = (
    "import ctypes, os, sys\n"
    "try:\n"
    "    ok = ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) == 0  # PR_SET_MDWE, REFUSE_EXEC_GAIN\n"
    "except Exception:\n"
    "    ok = False\n"
    "print('leadvibe smoke: MemoryDenyWriteExecute', 'on' if ok else 'unsupported by this kernel', "
    "file=sys.stderr, flush=True)\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)


def _binary_server(data: Path) -> ServerProcess:
    server = ServerProcess(data, command=[sys.executable, "-c", _MDWE_EXEC, str(BINARY)])
    # Replace (not extend) the environment: nothing of the build venv or this Python may leak in.
    server.env = {"PATH": "/usr/bin:/bin", "LEADVIBE_ADMIN_EMAIL": ADMIN_EMAIL,
                  "LEADVIBE_ADMIN_PASSWORD": ADMIN_PASSWORD, "LEADVIBE_LOG_LEVEL": "warning",
                  "LEADVIBE_WORKER_IDLE_POLL": "0.01"}
    return server


def _poll(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_binary_serves_the_seed_flow_and_keeps_data_across_restart(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a working directory outside the repository
    data = tmp_path / "data"
    alias = "user@example.com"
    server = _binary_server(data).start(timeout=20)
    try:
        assert "MemoryDenyWriteExecute" in server.log_path.read_text()
        token = server.token()
        bearer = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}

        openapi = server.request("GET", "/schema/openapi.json")
        assert openapi.status_code == 200
        paths = set(openapi.json()["paths"])
        ui = server.request("GET", "/schema", headers={"Accept": "text/html"})
        assert ui.status_code == 200 and "swagger-ui" in ui.text.lower()
        # The API console's assets come from inside the binary (the appliance works offline).
        asset = server.request("GET", "/schema/assets/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 100_000

        # The browser landing page (the dashboard's index.html when it is built into the binary).
        home = server.request("GET", "/", headers={"Accept": "text/html"})
        assert home.status_code == 200 and "<html" in home.text.lower()

        scored = "/rules" in paths and "/leads/{lead_id}/score" in paths
        if scored:
            rule = {"event_type": "page_view", "weight": 10}
            r = server.request("POST", "/rules", json=rule, headers=bearer)
            assert r.status_code == 201, r.text

        basic = server.basic()
        # The seed guide's flow: a credential sets its active OU (cookie), then ingests with an email alias.
        with httpx.Client(base_url=server.base, headers=basic, timeout=10) as c:
            r = c.post("/org-units/active", json={"ouId": "unit_default"})
            assert r.status_code == 200, r.text
            assert "activeOu" in c.cookies
            event_ids = []
            for _ in range(2):
                r = c.post("/ingest", json={"alias_kind": "email", "alias": alias, "event_type": "page_view"})
                assert r.status_code == 202, r.text
                event_ids.append(r.json()["metadata"]["event_id"])
            assert len(set(event_ids)) == 2

        lead_id = None
        if "/leads/search" in paths:
            def find() -> str | None:
                r = server.request("GET", "/leads/search", params={"q": alias}, headers=bearer)
                assert r.status_code == 200, r.text
                hits = r.json()
                return str(hits[0]["id"]) if hits else None

            lead_id = _poll(find)
            assert lead_id, "the ingested lead never appeared"
        if scored and lead_id:
            def score() -> int | None:
                r = server.request("GET", f"/leads/{lead_id}/score", headers=bearer)
                if r.status_code == 200 and r.json()["score"] == 20:
                    return 20
                return None

            assert _poll(score) == 20, "the lead was not scored 2 x 10"

        metrics = server.request("GET", "/metrics")
        assert metrics.status_code == 200
        assert "events_ingested_total 2" in metrics.text

        assert server.stop() == 0, "SIGTERM must stop the server cleanly (exit 0)"
    finally:
        server.kill()

    server = _binary_server(data).start(timeout=20)
    try:
        bearer = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        paths = set(server.request("GET", "/schema/openapi.json").json()["paths"])
        if "/events" in paths:
            r = server.request("GET", "/events", headers=bearer)
            assert r.status_code == 200, r.text
            assert {e["id"] for e in r.json()["events"]} >= set(event_ids)
        elif lead_id and "/leads/{lead_id}/activity" in paths:
            r = server.request("GET", f"/leads/{lead_id}/activity", params={"range": "all"}, headers=bearer)
            if r.status_code == 400:  # `range` spelled differently: the default window holds today's events
                r = server.request("GET", f"/leads/{lead_id}/activity", headers=bearer)
            assert r.status_code == 200, r.text
            assert {e["id"] for e in r.json()["events"]} >= set(event_ids)
        else:
            pytest.fail("no endpoint lists events: extend this smoke test")
        if lead_id and "/leads/{lead_id}/score" in paths:
            r = server.request("GET", f"/leads/{lead_id}/score", headers=bearer)
            assert r.status_code == 200 and r.json()["score"] == 20, r.text
        assert server.stop() == 0
    finally:
        server.kill()


def test_killing_the_started_pid_stops_the_server_behind_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The one-file executable's pid is its bootloader's; the server runs as its child. SIGKILL of that pid (what a
    # person or a supervisor holds) must not leave the server serving with the data directory locked.
    import signal

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    server = _binary_server(data).start(timeout=20)
    try:
        behind = [pid for pid in _children(server.proc.pid)]
        assert behind, "the executable runs its program as a child"
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
        assert _poll(lambda: True if not any(_alive(pid) for pid in behind) else None, timeout=20), \
            "the server went on after its launcher was killed"
        again = _binary_server(data).start(timeout=20)  # the data directory is free again
        assert again.stop() == 0
    finally:
        server.kill()


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
