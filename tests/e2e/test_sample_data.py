"""Sample data against a real server: seed over HTTP, read what a person would look at (leads with fit, accounts,
the segment), wipe; and `leadvibe seed` on a stopped server's data directory."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow


def _wait_scored(server: ServerProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.request("GET", "/healthz").json()["queue_depth"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not drain the queue")


def _get(server: ServerProcess, headers: dict[str, str], path: str) -> Any:
    r = server.request("GET", path, headers=headers)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def test_seed_read_and_wipe_over_http(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SYNCHRONOUS": "NORMAL"}).start()
    try:
        headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        # real data beside the sample: one lead of the OU's own
        r = server.request("POST", "/leads", headers=headers, json={"id": "customer-1", "metadata": {"plan": "pro"}})
        assert r.status_code == 201, r.text

        r = server.request("POST", "/admin/seed", headers=headers)
        assert r.status_code == 200, r.text
        assert "seeded 200 leads" in r.json()["output"]
        assert server.request("POST", "/admin/seed", headers=headers).status_code == 409
        _wait_scored(server)

        leads = _get(server, headers, "/leads?sort=profile_desc&limit=5")
        assert leads["total"] == 201
        top = leads["leads"][0]
        assert top["profile_score"] > 0 and top["profile_level"] is not None
        profile = _get(server, headers, f"/leads/{top['id']}/profile")
        assert profile["matched_rules"] and profile["profile_score"] == top["profile_score"]

        r = server.request("PUT", "/settings/scoring", headers=headers, json={"abm_enabled": True})
        assert r.status_code == 200
        accounts = _get(server, headers, "/accounts?intent_level=all")
        assert accounts["total"] == 6
        detail = _get(server, headers, f"/accounts/{accounts['accounts'][0]['account_id']}")
        assert detail["leads"] and detail["recent_events"]

        segment = _get(server, headers, "/segments")[0]
        count = _get(server, headers, f"/segments/{segment['segment_id']}/count")["count"]
        members = _get(server, headers, f"/segments/{segment['segment_id']}/leads?limit=500")
        assert count == len(members) > 0

        r = server.request("POST", "/admin/wipe", headers=headers)
        assert r.status_code == 200 and r.json()["leads"] == 200
        remaining = _get(server, headers, "/leads")
        assert [x["id"] for x in remaining["leads"]] == ["customer-1"]
        assert _get(server, headers, "/accounts")["total"] == 0
        assert _get(server, headers, "/segments") == []
    finally:
        assert server.stop() == 0


def test_seed_command_on_a_stopped_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    assert server.stop() == 0
    cmd = [sys.executable, "-m", "leadvibe", "seed", "--data-dir", str(data)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=server.env)
    assert done.returncode == 0, done.stderr
    assert "seeded 200 leads" in done.stdout and "scored" in done.stdout
    assert "account-based marketing was off and is now on" in done.stdout  # a fresh organization: no leads of its own
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=server.env)
    assert again.returncode == 1 and "already holds sample data" in again.stderr
    other = subprocess.run([*cmd, "--unit", "unit_nope"], capture_output=True, text=True, timeout=60, env=server.env)
    assert other.returncode == 1 and "unit_nope" in other.stderr

    server = ServerProcess(data).start()
    try:
        headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        leads = httpx.get(server.base + "/leads?limit=1", headers=headers, timeout=10).json()
        assert leads["total"] == 200 and leads["leads"][0]["score"] > 0
        assert httpx.get(server.base + "/accounts", headers=headers, timeout=10).json()["total"] == 6
        running = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=server.env)
        assert running.returncode == 1 and "POST /admin/seed" in running.stderr
    finally:
        assert server.stop() == 0
