"""A sign-in with the old password racing its change (`leadvibe serve`, real sockets, requests at once): the
sign-in reads the hash, checks the password for tens of ms, then issues a token; a change committed in between
must end that session too, as a change ends every session begun before it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.e2e.server import ServerProcess

OLD, NEW = "race-password-old", "race-password-new"


def _race(server: ServerProcess, admin: dict[str, str], attempt: int) -> tuple[httpx.Response, httpx.Response]:
    """A new member's password changed while they sign in with the old one `attempt` x 4 ms later, from an
    address of its own (the sweep's failed sign-ins must not throttle the next: hence a member each time too)."""
    email = f"race{attempt}@example.com"
    r = server.request("POST", "/members", headers=admin,
                       json={"first_name": "R", "last_name": "R", "email": email, "password": OLD})
    assert r.status_code == 201, r.text
    member_id = r.json()["org_member_id"]
    answers: dict[str, httpx.Response] = {}

    def change() -> None:
        answers["change"] = server.request("PUT", f"/members/{member_id}", headers=admin, json={"password": NEW})

    def sign_in() -> None:
        time.sleep(attempt * 0.004)
        with httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{2 + attempt}")) as client:
            answers["login"] = client.post(server.base + "/auth/login", json={"email": email, "password": OLD},
                                           timeout=30)

    threads = [threading.Thread(target=change), threading.Thread(target=sign_in)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers["change"], answers["login"]


def test_a_sign_in_racing_a_password_change_gets_no_session_that_outlives_it(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        admin = {"Authorization": f"Bearer {server.token()}"}
        # Swept across the window: a sign-in that read the old hash before the change either gets a token that
        # the change ends, or is told the password is wrong; never a session that outlives the change.
        for attempt in range(12):
            change, login = _race(server, admin, attempt)
            assert change.status_code == 200, change.text
            if login.status_code == 200:
                me = server.request("GET", "/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
                assert me.status_code == 401, (attempt, me.text)
            else:
                assert login.status_code == 401, login.text
    finally:
        server.stop()
