"""The server's log: JSON lines with a request id, and never a secret, token, password or cookie."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_PASSWORD, ServerProcess

pytestmark = pytest.mark.slow


def test_logs_are_json_and_never_carry_secrets(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"LEADVIBE_LOG_LEVEL": "info", "LEADVIBE_LOG_FORMAT": "json"})
    server.start()
    try:
        token = server.token()
        headers = {"Authorization": f"Bearer {token}", "X-OU-ID": "unit_default"}
        cred = server.request("POST", "/secrets", json={"name": "logged"}, headers=headers).json()
        basic = base64.b64encode(f"{cred['client_id']}:{cred['client_secret']}".encode()).decode()
        r = server.request("POST", "/ingest", headers={"Authorization": f"Basic {basic}"},
                           json={"lead_id": "ld_log", "event_type": "x", "metadata": {"note": "body-marker-123"}})
        assert r.status_code == 202
        server.request("POST", "/auth/login", json={"email": "admin@example.com", "password": "wrong-password-9"})
        server.request("GET", "/me", headers=headers, cookies={"activeOu": "unit_default"})
        server.request("GET", "/nope?token=query-secret-456", headers=headers)
    finally:
        assert server.stop() == 0
    text = server.log_path.read_text()
    for secret in (cred["client_secret"], token, ADMIN_PASSWORD, "wrong-password-9", basic, "body-marker-123",
                   "query-secret-456"):
        assert secret not in text, "a secret reached the log"
    requests = [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"request"' in line]
    assert requests, "no access log lines"
    assert all(r["request_id"].startswith("req_") and "status" in r for r in requests)
