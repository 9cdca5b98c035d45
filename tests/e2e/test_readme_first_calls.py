"""The README's "First calls" work when copied line by line into a shell, against a fresh server."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_PASSWORD, ServerProcess

pytestmark = pytest.mark.slow
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_first_calls_end_with_a_scored_lead(tmp_path: Path) -> None:
    block = re.search(r"## First calls\n.*?```sh\n(.*?)```", README, re.S).group(1)  # type: ignore[union-attr]
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_ADMIN_EMAIL": "admin@leadvibe.local"}).start()
    try:
        # The two edits a reader makes: the printed password, and (here) the port of this test's server.
        script = block.replace("PASSWORD='paste the password printed at first start here'",
                               f"PASSWORD='{ADMIN_PASSWORD}'")
        script = script.replace("H=http://127.0.0.1:8080", f"H={server.base}")
        assert script.count(server.base) == 1 and ADMIN_PASSWORD in script
        out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        leads = json.loads(out.stdout[out.stdout.rindex('{"leads"'):])
        # A person types the last line seconds after the ingest; a script may be faster than the worker, which
        # creates the lead with its first event.
        deadline = time.monotonic() + 10
        while (not leads["leads"] or leads["leads"][0]["score"] != 35) and time.monotonic() < deadline:
            time.sleep(0.1)
            login = {"email": "admin@leadvibe.local", "password": ADMIN_PASSWORD}  # this server's admin
            token = server.request("POST", "/auth/login", json=login).json()["token"]
            leads = server.request("GET", "/leads", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(leads["leads"]) == 1 and leads["leads"][0]["score"] == 35
    finally:
        server.stop()
