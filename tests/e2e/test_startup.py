"""Start-up (SEMANTICS §11): the port is bound before anything is created, and the signing key belongs to the
database (a directory whose database has accounts but no key refuses to start; backups carry the key)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import ServerProcess, free_port

pytestmark = pytest.mark.slow


def leadvibe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leadvibe", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "LEADVIBE_LOG_LEVEL": "warning", **(env or {})})


def test_a_port_in_use_leaves_a_new_data_directory_untouched(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        data = tmp_path / "fresh"
        out = leadvibe("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert lines == [f"leadvibe: cannot listen on 127.0.0.1:{port}: the port is already in use "
                     "(stop what holds it, or choose another with --port / LEADVIBE_PORT)"]
    assert "admin login" not in out.stdout and not out.stdout.strip()
    assert not data.exists()


def test_a_database_this_build_cannot_use_is_refused_in_one_line(tmp_path: Path) -> None:
    # A database a newer LeadVibe migrated, and a damaged one: `serve`, `migrate` and the commands that open the
    # database themselves refuse with one line naming it (they started, or printed a traceback).
    import apsw

    newer = tmp_path / "newer"
    assert leadvibe("migrate", "--data-dir", str(newer)).returncode == 0
    conn = apsw.Connection(str(newer / "leadvibe.db"))
    known = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    conn.execute("INSERT INTO schema_migrations VALUES (?, 'later', 0)", (known + 1,))
    conn.close()
    said = (f"cannot use the database {newer / 'leadvibe.db'}: it comes from a newer LeadVibe (schema {known + 1}, "
            f"this build knows up to {known}); run that version or newer")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "leadvibe.db").write_bytes((newer / "leadvibe.db").read_bytes()[:100_000])
    port = str(free_port())
    for command, data, line in [
        (["serve", "--port", port], newer, f"leadvibe: refusing to start: {said}"),
        (["migrate"], newer, f"leadvibe: {said}"),
        (["decay", "--now"], newer, f"leadvibe: decay: cannot use the database in {newer}: {said.split(': ', 1)[1]}"),
        (["serve", "--port", port], damaged,
         f"leadvibe: refusing to start: cannot use the database {damaged / 'leadvibe.db'}: database disk image is "
         "malformed"),
        (["seed"], damaged, f"leadvibe: seed: cannot use the database in {damaged}: database disk image is malformed"),
    ]:
        out = leadvibe(*command, "--data-dir", str(data))
        assert (out.returncode, out.stderr.strip().splitlines()) == (1, [line]), command
        assert "admin login" not in out.stdout


def test_a_database_without_its_key_refuses_to_start_and_the_key_is_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    basic = server.basic()
    assert server.stop() == 0
    (data / "secret.key").unlink()
    out = leadvibe("serve", "--host", "127.0.0.1", "--port", str(server.port), "--data-dir", str(data))
    assert out.returncode == 1
    assert "refusing to start" in out.stderr and "secret.key" in out.stderr and ".key" in out.stderr
    assert not (data / "secret.key").exists()
    assert basic  # the credential made before the loss is what the refusal protects
    # The commands for a stopped server refuse the same way: one line each, no traceback.
    for command in (["seed"], ["decay", "--now"]):
        out = leadvibe(*command, "--data-dir", str(data))
        assert out.returncode == 1, out
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"leadvibe: {command[0]} refused: ") and "secret.key" in lines[0]
    assert not (data / "secret.key").exists()


def test_backup_carries_the_key_and_restore_puts_it_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    basic = server.basic()
    r = server.request("POST", "/ingest", json={"lead_id": "ld_1", "event_type": "page_view"}, headers=basic)
    assert r.status_code == 202
    backup = tmp_path / "nightly.db"
    out = leadvibe("backup", str(backup), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    key = Path(f"{backup}.key")
    assert key.read_bytes() == (data / "secret.key").read_bytes()
    assert key.stat().st_mode & 0o777 == 0o600
    assert server.stop() == 0

    # Disaster: the whole data directory is gone; a new one is restored from the backup alone.
    restored = tmp_path / "restored"
    restored.mkdir()
    out = leadvibe("restore", str(backup), "--data-dir", str(restored))
    assert out.returncode == 0, out.stderr
    assert "secret.key restored" in out.stdout
    again = ServerProcess(restored).start()
    try:
        again.wait_scored()  # the backup holds the event in the inbox, scored once the server is back
        r = again.request("GET", "/events", headers=basic)
        assert r.status_code == 200 and r.json()["total"] == 1  # the old credential still verifies
    finally:
        again.stop()


def test_backup_without_the_key_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    assert server.stop() == 0
    out = leadvibe("backup", str(tmp_path / "b.db"), "--no-key", "--data-dir", str(data))
    assert out.returncode == 0 and "--no-key" in out.stdout
    assert not Path(f"{tmp_path / 'b.db'}.key").exists()


def test_a_serving_process_has_frozen_what_start_up_built(tmp_path: Path) -> None:
    """The garbage collector leaves start-up's objects alone (leadvibe/gc_policy.py): /metrics says how many."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        deadline = time.monotonic() + 30  # frozen a few seconds after start (gc_policy.SETTLE_AFTER_S)
        while True:
            text = server.request("GET", "/metrics").text
            figures = {ln.split()[0]: float(ln.split()[1]) for ln in text.splitlines() if ln.startswith("python_gc_")}
            if figures["python_gc_frozen_objects"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        server.stop()
    assert figures["python_gc_frozen_objects"] > 10_000  # the app, its routes and schema, imported modules
    assert "python_gc_full_collections" in figures


def test_the_console_says_where_the_server_answers(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        lines = server.log_path.read_text().splitlines()
    finally:
        server.stop()
    url = f"http://127.0.0.1:{server.port}"
    assert f"LeadVibe is listening on {url}; dashboard: {url}/ui" in lines


def test_the_listening_line_names_a_url_a_browser_opens() -> None:
    from leadvibe.cli import listening_line

    assert listening_line("0.0.0.0", 8080) == ("LeadVibe is listening on http://127.0.0.1:8080 (on every interface);"
                                               " dashboard: http://127.0.0.1:8080/ui")
    assert listening_line("::1", 9000).startswith("LeadVibe is listening on http://[::1]:9000;")
    assert listening_line("10.0.0.5", 80).endswith("dashboard: http://10.0.0.5:80/ui")


def test_the_data_directory_and_its_files_are_private(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        r = server.request("POST", "/ingest", json={"lead_id": "ld_1", "event_type": "page_view"},
                           headers=server.basic())
        assert r.status_code == 202
        server.wait_scored()
        files = list(server.data_dir.iterdir())
        assert {"leadvibe.db", "inbox.db", "secret.key", "leadvibe.db-wal"} <= {p.name for p in files}
        for path in files:
            assert path.stat().st_mode & 0o077 == 0, (path.name, oct(path.stat().st_mode))
    finally:
        server.stop()
    fresh = tmp_path / "made-by-leadvibe"  # a directory the command creates itself
    out = leadvibe("migrate", "--data-dir", str(fresh))
    assert out.returncode == 0, out.stderr
    assert fresh.stat().st_mode & 0o077 == 0 and (fresh / "leadvibe.db").stat().st_mode & 0o077 == 0


def test_a_lost_password_is_reset_from_the_command_line(tmp_path: Path) -> None:
    import httpx

    from tests.e2e.server import ADMIN_EMAIL, ADMIN_PASSWORD

    data = tmp_path / "data"
    server = ServerProcess(data).start()
    try:
        out = leadvibe("reset-password", ADMIN_EMAIL, "--data-dir", str(data))
        assert out.returncode == 1 and out.stderr.startswith("leadvibe: reset-password refused: another LeadVibe")
    finally:
        server.stop()
    out = leadvibe("reset-password", ADMIN_EMAIL.upper(), "--data-dir", str(data))
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.strip().splitlines()
    assert first.startswith(f"new password for {ADMIN_EMAIL}: ") and "shown only once" in second
    password = first.rsplit(": ", 1)[1]
    out = leadvibe("reset-password", "nobody@example.com", "--data-dir", str(data))
    assert (out.returncode, out.stderr.strip()) == (1, "leadvibe: reset-password: no member signs in as "
                                                       "'nobody@example.com'")
    server = ServerProcess(data).start()
    try:
        def login(secret: str) -> int:
            return httpx.post(server.base + "/auth/login", json={"email": ADMIN_EMAIL, "password": secret},
                              timeout=10).status_code
        assert (login(password), login(ADMIN_PASSWORD)) == (200, 401)
    finally:
        server.stop()


def test_a_damaged_key_stops_every_command_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert leadvibe("migrate", "--data-dir", str(data)).returncode == 0
    (data / "secret.key").write_bytes(b"0123456789")
    port = str(free_port())
    for command, refused in ((["serve", "--port", port], "refusing to start"), (["seed"], "seed refused"),
                             (["migrate"], "migrate refused")):
        out = leadvibe(*command, "--data-dir", str(data))
        lines = out.stderr.strip().splitlines()
        assert (out.returncode, len(lines)) == (1, 1), out.stderr
        assert refused in lines[0] and "secret.key is damaged (10 bytes, a key has 32)" in lines[0]
    # A backup copies the database but not such a key (a restore would refuse it), and fails so a nightly job says
    out = leadvibe("backup", str(tmp_path / "b.db"), "--data-dir", str(data))
    assert out.returncode == 1 and out.stderr.startswith("leadvibe: backup incomplete: ") and \
        "secret.key is damaged (10 bytes, a key has 32)" in out.stderr, out.stderr
    assert (tmp_path / "b.db").is_file() and not (tmp_path / "b.db.key").exists()


def test_a_new_database_beside_an_inbox_of_another_refuses_to_start(tmp_path: Path) -> None:
    # The database emptied (or deleted) but not the inbox file: its events, already scored into the old database,
    # were scored again into the new one under an organization it does not have.
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    basic = server.basic()
    assert server.request("POST", "/ingest", json={"lead_id": "ld_1", "event_type": "page_view"},
                          headers=basic).status_code == 202
    server.wait_scored()
    assert server.stop() == 0
    (data / "leadvibe.db").write_bytes(b"")
    out = leadvibe("serve", "--port", str(free_port()), "--data-dir", str(data))
    lines = out.stderr.strip().splitlines()
    assert (out.returncode, len(lines)) == (1, 1), out.stderr
    assert lines[0].startswith(f"leadvibe: refusing to start: the database {data / 'leadvibe.db'} is new")
    assert "holds 1 events" in lines[0] and "move the inbox file aside" in lines[0]
    (data / "inbox.db").rename(tmp_path / "inbox.db.old")
    for sidecar in ("-wal", "-shm"):
        (data / f"inbox.db{sidecar}").unlink(missing_ok=True)
    assert leadvibe("migrate", "--data-dir", str(data)).returncode == 0  # afresh once it is moved


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """`path` made read-only to this process: by its mode, or for root (who writes any file whatever its mode)
    by the file system's immutable flag."""
    if os.geteuid() != 0:
        path.chmod(0o400)
        yield
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available to make a file read-only for root")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_database_is_refused_at_start(tmp_path: Path) -> None:
    # Up to date, it needed no write to migrate: the server started, said healthy, and acknowledged events its
    # worker could never store.
    data = tmp_path / "data"
    assert leadvibe("migrate", "--data-dir", str(data)).returncode == 0
    db = data / "leadvibe.db"
    with _read_only(db):
        out = leadvibe("serve", "--port", str(free_port()), "--data-dir", str(data))
    lines = out.stderr.strip().splitlines()
    assert (out.returncode, len(lines)) == (1, 1), out.stderr
    assert lines[0] == (f"leadvibe: refusing to start: cannot use the database {db}: it is read-only to this "
                        "user; give the user that runs LeadVibe write access to it")


def test_a_damaged_page_met_while_serving_is_said_and_reported_by_healthz(tmp_path: Path) -> None:
    import apsw

    data = tmp_path / "data"
    assert ServerProcess(data).start().stop() == 0
    assert leadvibe("seed", "--data-dir", str(data)).returncode == 0
    db = data / "leadvibe.db"
    conn = apsw.Connection(str(db))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'leads' AND pagetype = 'leaf'")]
    conn.close()
    assert pages
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)
    server = ServerProcess(data).start()
    try:
        headers = {"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"}
        r = server.request("GET", "/leads", headers=headers)
        assert r.status_code == 503, r.text
        assert r.json()["error"].startswith("the database file is damaged (")
        assert "restore the latest backup" in r.json()["error"] and "retry-after" not in r.headers
        health = server.request("GET", "/healthz")
        assert (health.status_code, health.json()["database"], health.json()["status"]) == (503, "damaged",
                                                                                              "degraded")
    finally:
        server.stop()


def test_a_data_directory_the_database_cannot_write_beside_is_named_at_start(tmp_path: Path) -> None:
    # The file was writable, its directory not (the write-ahead log is made beside it): the line blamed the file.
    data = tmp_path / "data"
    assert leadvibe("migrate", "--data-dir", str(data)).returncode == 0
    with _read_only(data):
        out = leadvibe("serve", "--port", str(free_port()), "--data-dir", str(data))
    lines = out.stderr.strip().splitlines()
    assert (out.returncode, len(lines)) == (1, 1), out.stderr
    assert f"its directory {data} is read-only to this user" in lines[0], lines[0]


def test_maintenance_commands_run_as_root_leave_the_data_directory_to_its_service_user() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root, as `sudo leadvibe ...` on a server has")
    service = (65534, 65534)  # nobody
    as_service = ["setpriv", f"--reuid={service[0]}", f"--regid={service[1]}", "--clear-groups"]
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # not under pytest's root-only folder: the service user reads it
    try:
        base.chmod(0o755)
        data = base / "data"
        data.mkdir(mode=0o700)
        os.chown(data, *service)

        def run(*args: str, user: list[str] | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*(user or []), sys.executable, "-m", "leadvibe", *args, "--data-dir", str(data)],
                                  capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "LEADVIBE_LOG_LEVEL": "warning"})

        # A new data directory made by a command run as root (its databases, the inbox's, their journals)...
        assert run("migrate").returncode == 0
        owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in data.iterdir()}
        assert set(owners.values()) == {service} and {"leadvibe.db", "inbox.db"} <= set(owners), owners
        # ... and an existing one, the service user's, that such commands work in
        assert run("migrate", user=as_service).returncode == 0
        for command in (["decay", "--now"], ["migrate"], ["reset-password", "admin@example.com"], ["seed"]):
            out = run(*command)
            assert out.returncode in (0, 1), out.stderr  # an unknown email is a refusal, after the lock
            owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in data.iterdir()}
            assert set(owners.values()) == {service}, (command, owners)
        assert run("migrate", user=as_service).returncode == 0, "the service user's own command"

        # A lock file some earlier build left to root: named, with what to do.
        lock = data / "leadvibe.lock"
        os.chown(lock, 0, 0)
        out = run("migrate", user=as_service)
        assert out.returncode == 1 and out.stderr.strip() == (
            f"leadvibe: cannot open {lock}: Permission denied; it belongs to root: run LeadVibe as that user, or "
            "give the file to the user that runs it (chown)"), out.stderr
        out = run("decay", "--now", user=as_service)  # no word of a running server: none runs
        assert out.returncode == 1 and out.stderr.strip().endswith("(chown)"), out.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)
