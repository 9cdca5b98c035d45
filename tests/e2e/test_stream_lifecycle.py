"""An open `/stream` against a real server: it ends when its caller loses access (a logout, a deleted credential),
and it never holds up a stop."""

from __future__ import annotations

import base64
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.slow


class Listener:
    """A `/stream` client on a thread: what it received and when its stream ended."""

    def __init__(self, server: ServerProcess, headers: dict[str, str]) -> None:
        self.frames: list[str] = []
        self.ended_at: float | None = None
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(server, headers), daemon=True)
        self.thread.start()
        assert self.opened.wait(10)

    def _run(self, server: ServerProcess, headers: dict[str, str]) -> None:
        try:
            with httpx.stream("GET", server.base + "/stream", headers=headers, timeout=None) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    self.opened.set()
                    self.frames.append(line)
        except httpx.HTTPError:
            pass
        self.ended_at = time.monotonic()

    def wait_end(self, seconds: float) -> bool:
        self.thread.join(seconds)
        return self.ended_at is not None


def _ingest(server: ServerProcess, headers: dict[str, Any], lead_id: str) -> None:
    r = server.request("POST", "/ingest", json={"lead_id": lead_id, "event_type": "page_view"}, headers=headers)
    assert r.status_code == 202, r.text


def test_a_stream_ends_when_its_caller_loses_access(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SSE_HEARTBEAT": "0.5"}).start()
    try:
        sender = server.basic()
        token = server.token()
        person = Listener(server, {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        admin = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        created = server.request("POST", "/secrets", json={"name": "dashboard-tv"}, headers=admin).json()
        basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
        machine = Listener(server, {"Authorization": f"Basic {basic}"})
        _ingest(server, sender, "ld_before")
        time.sleep(1)
        assert any("ld_before" in f for f in person.frames) and any("ld_before" in f for f in machine.frames)

        assert server.request("POST", "/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code < 300
        assert server.request("DELETE", f"/secrets/{created['secret_id']}", headers=admin).status_code < 300
        revoked = time.monotonic()
        assert person.wait_end(15) and machine.wait_end(15)
        for listener in (person, machine):
            assert listener.ended_at is not None and listener.ended_at - revoked < 8  # the 5 s re-check, then out
        _ingest(server, sender, "ld_after")
        time.sleep(0.5)
        assert not any("ld_after" in f for f in person.frames + machine.frames)
    finally:
        server.stop()


def test_a_silent_stream_ends_on_time_too(tmp_path: Path) -> None:
    # Nothing to send and the heartbeat 15 s away (the default): the stream was checked only when it next sent
    # something, so it stayed open 15 s after the logout; the 5 s re-check now wakes it.
    server = ServerProcess(tmp_path / "data").start()
    try:
        token = server.token()
        quiet = Listener(server, {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"})
        assert server.request("POST", "/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code < 300
        assert quiet.wait_end(12), "the stream stayed open until its heartbeat"
        assert [f for f in quiet.frames if f and not f.startswith((":", "retry"))] == []
    finally:
        server.stop()


def test_open_streams_do_not_hold_up_a_stop(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
    listeners = [Listener(server, headers) for _ in range(3)]
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 8  # the graceful timeout is 15 s: the streams were ended, not waited for
    assert all(listener.wait_end(5) for listener in listeners)
    assert "Exception in ASGI application" not in server.log_path.read_text()


def test_a_stream_opened_without_naming_its_ou_ends_when_that_ou_is_lost(tmp_path: Path) -> None:
    # Its re-check resolved the OU again, found the caller's other one, and went on streaming the lost one.
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_SSE_HEARTBEAT": "0.5"}).start()
    try:
        sender = server.basic()
        admin = {"Authorization": f"Bearer {server.token()}"}
        other = server.request("POST", "/org-units", json={"name": "EMEA"}, headers=admin).json()["unit_id"]
        member = server.request("POST", "/members", headers=admin, json={
            "first_name": "Vi", "last_name": "Ewer", "email": "vw@example.com", "password": "viewer-password-1",
            "role": "member"}).json()["org_member_id"]
        for unit in ("unit_default", other):
            r = server.request("POST", f"/org-units/{unit}/memberships", headers={**admin, "X-OU-ID": unit},
                               json={"org_member_id": member, "role": "Viewer"})
            assert r.status_code == 200, r.text
        login = server.request("POST", "/auth/login", json={"email": "vw@example.com", "password": "viewer-password-1"})
        viewer = {"Authorization": f"Bearer {login.json()['token']}"}
        assert server.request("POST", "/org-units/active", json={"ouId": "unit_default"}, headers=viewer).status_code \
            == 200
        listener = Listener(server, viewer)  # no ouId, no X-OU-ID: the remembered OU
        _ingest(server, sender, "ld_seen")
        time.sleep(1)
        assert any("ld_seen" in f for f in listener.frames)
        r = server.request("DELETE", f"/org-units/unit_default/memberships/{member}",
                           headers={**admin, "X-OU-ID": "unit_default"})
        assert r.status_code < 300, r.text
        assert listener.wait_end(15), "the stream went on after its caller lost the OU"
        _ingest(server, sender, "ld_unseen")
        time.sleep(0.5)
        assert not any("ld_unseen" in f for f in listener.frames)
    finally:
        server.stop()
