"""`leadvibe backup` / `leadvibe restore`: a backup taken during sustained ingestion is sound and complete,
and restore never overwrites a running server's database."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw
import httpx
import pytest

from leadvibe.backup import BackupError, backup_database, restore_database
from leadvibe.db.lock import DataDirLock, DataDirLocked
from tests.e2e.server import ServerProcess, unscored


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leadvibe", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _wait_for(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)


def _stored_event_ids(db: Path) -> set[str]:
    """Event ids a database (a backup, or a data directory's) holds, scored (`events`), set aside (`inbox_dead`)
    or acknowledged and still queued (rows parked in it, and a data directory's inbox file past the mark)."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        ids: set[str] = set()
        for sql in ("SELECT id FROM events", "SELECT event_id FROM inbox", "SELECT event_id FROM inbox_dead"):
            ids.update(r[0] for r in conn.execute(sql))
    finally:
        conn.close()
    if db.name == "leadvibe.db":
        ids.update(unscored(db.parent))
    return ids


def _integrity(db: Path) -> list[str]:
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


@pytest.mark.slow
def test_backup_during_sustained_ingestion_restores_every_acknowledged_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    backup = tmp_path / "backups" / "nightly.db"
    backup.parent.mkdir()
    server = ServerProcess(data).start()
    acked: list[tuple[float, str]] = []  # (monotonic time the 202 arrived, event id)
    lock = threading.Lock()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        basic = server.basic()

        def ingest(n: int) -> None:
            with httpx.Client(base_url=server.base, headers=basic, timeout=10) as c:
                i = 0
                while not stop.is_set() and i < 5000:  # bounded even if stop never comes
                    body = {"alias_kind": "email", "alias": f"lead{n}-{i % 13}@example.com",
                            "event_type": "page_view", "metadata": {"path": f"/p/{i}"}}
                    r = c.post("/ingest", json=body)
                    assert r.status_code == 202, r.text
                    with lock:
                        acked.append((time.monotonic(), r.json()["metadata"]["event_id"]))
                    i += 1

        threads += [threading.Thread(target=ingest, args=(n,), daemon=True) for n in range(4)]
        for t in threads:
            t.start()
        # Counts, not fixed sleeps: the machine may be busy, and the test must still see ingestion before,
        # during and after the backup.
        _wait_for(lambda: len(acked) >= 60, 15)
        backup_started = time.monotonic()
        result = _cli("backup", str(backup), "--data-dir", str(data))
        backup_ended = time.monotonic()
        assert result.returncode == 0, result.stderr
        assert "integrity_check ok" in result.stdout
        _wait_for(lambda: any(at > backup_ended for at, _ in acked[-5:]), 10)

        # Restore must refuse while the server owns the data dir, and leave its database alone.
        refused = _cli("restore", str(backup), "--data-dir", str(data))
        assert refused.returncode == 1
        assert "stop it first" in refused.stderr
        assert not list(data.glob("leadvibe.db.before-restore-*"))
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        try:
            assert server.stop() == 0
        finally:
            server.kill()

    with lock:
        before = {eid for at, eid in acked if at < backup_started}
        after = [eid for at, eid in acked if at > backup_ended]
    assert len(before) >= 60, "ingestion was not sustained before the backup"
    assert after, "ingestion did not continue during and after the backup"

    # Restore into a fresh data dir: a sound database with every event acknowledged before the backup began.
    fresh = tmp_path / "fresh"
    restored = _cli("restore", str(backup), "--data-dir", str(fresh))
    assert restored.returncode == 0, restored.stderr
    assert "secret.key restored" in restored.stdout  # the backup carried the key
    assert (fresh / "secret.key").read_bytes() == (data / "secret.key").read_bytes()
    assert _integrity(fresh / "leadvibe.db") == ["ok"]
    missing = before - _stored_event_ids(fresh / "leadvibe.db")
    assert not missing, f"{len(missing)} acknowledged events are missing from the backup"

    # Restore over the stopped original: the old database is kept aside and the server starts on the copy.
    over = _cli("restore", str(backup), "--data-dir", str(data))
    assert over.returncode == 0, over.stderr
    assert "its inbox file (events it had not scored yet) is kept at" in over.stdout
    aside = list(data.glob("leadvibe.db.before-restore-*"))
    assert [p.name for p in aside if not p.name.endswith(("-wal", "-shm"))], aside
    server = ServerProcess(data).start()
    try:
        r = server.request("GET", "/events", params={"limit": 1},
                           headers={"Authorization": f"Bearer {server.token()}", "X-OU-ID": "unit_default"})
        if r.status_code != 404:  # GET /events lands with the events domain
            assert r.status_code == 200, r.text
        assert server.stop() == 0
    finally:
        server.kill()


def test_backup_of_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup_database(tmp_path / "nope" / "leadvibe.db", tmp_path / "b.db")
    assert not list(tmp_path.glob(".b.db.tmp-*"))


def test_backup_is_one_self_contained_file_and_restore_keeps_the_old_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = apsw.Connection(str(data / "leadvibe.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INT);"
                 "INSERT INTO schema_migrations VALUES (1, 'foundation', 0);"
                 "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')")
    # The connection stays open, so part of the data lives only in the WAL: the backup must include it.
    out = backup_database(data / "leadvibe.db", tmp_path / "b.db")
    conn.execute("INSERT INTO t VALUES ('after')")
    conn.close()
    assert out.size_bytes > 0 and out.pages > 0
    assert not Path(f"{tmp_path / 'b.db'}-wal").exists()
    assert (tmp_path / "b.db").stat().st_mode & 0o777 == 0o600  # password hashes and leads: its owner's only
    check = apsw.Connection(str(tmp_path / "b.db"))
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert [r[0] for r in check.execute("SELECT v FROM t")] == ["kept"]
    check.close()

    res = restore_database(tmp_path / "b.db", data)
    assert res.moved_aside is not None and res.moved_aside.exists()
    assert res.schema_version == 1
    now = apsw.Connection(str(data / "leadvibe.db"))
    assert [r[0] for r in now.execute("SELECT v FROM t")] == ["kept"]
    now.close()
    old = apsw.Connection(str(res.moved_aside))
    assert sorted(r[0] for r in old.execute("SELECT v FROM t")) == ["after", "kept"]
    old.close()


def test_a_backup_never_writes_over_the_files_the_server_uses(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = apsw.Connection(str(data / "leadvibe.db"))
    conn.execute("PRAGMA journal_mode=WAL").fetchall()
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INT);"
                 "INSERT INTO schema_migrations VALUES (1, 'foundation', 0)")
    (tmp_path / "link.db").symlink_to(data / "leadvibe.db")
    for target in (data / "leadvibe.db", data / "leadvibe.db-wal", data / "inbox.db", data / ".." / "data" /
                   "leadvibe.db", tmp_path / "link.db"):
        with pytest.raises(BackupError, match="a file the server itself uses"):
            backup_database(data / "leadvibe.db", target)
    with pytest.raises(BackupError, match="own database, not a backup"):
        restore_database(data / "leadvibe.db", data)
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations")] == [1]
    conn.close()
    # A temporary copy left by a backup that was killed is removed by the next backup to the same file.
    stale = tmp_path / ".nightly.db.tmp-999999999"
    stale.write_bytes(b"x" * 1000)
    backup_database(data / "leadvibe.db", tmp_path / "nightly.db")
    assert not stale.exists() and (tmp_path / "nightly.db").is_file()


def test_restore_refuses_damaged_foreign_or_locked_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "leadvibe.db").write_bytes(b"current")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError, match=r"not a readable SQLite database|integrity"):
        restore_database(junk, data)
    foreign = tmp_path / "foreign.db"
    conn = apsw.Connection(str(foreign))
    conn.execute("CREATE TABLE x (y)")
    conn.close()
    with pytest.raises(BackupError, match="not a LeadVibe database"):
        restore_database(foreign, data)
    newer = tmp_path / "newer.db"
    conn = apsw.Connection(str(newer))
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INT);"
                 "INSERT INTO schema_migrations VALUES (100000, 'later', 0)")
    conn.close()
    with pytest.raises(BackupError, match=r"^\S+newer\.db comes from a newer LeadVibe \(schema 100000, this build "
                                          r"knows up to \d+\); restore it with that version or newer$"):
        restore_database(newer, data)
    # Nothing was touched by the refusals.
    assert (data / "leadvibe.db").read_bytes() == b"current"
    assert sorted(p.name for p in data.iterdir()) == ["leadvibe.db", "leadvibe.lock"]

    # A lock held by another process (a running server) refuses before anything is copied.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from leadvibe.db.lock import DataDirLock;"
        f"DataDirLock(Path({str(data)!r})).acquire(); print('held', flush=True); time.sleep(30)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert DataDirLock(data).is_held_elsewhere()
        with pytest.raises(DataDirLocked, match="stop it first"):
            restore_database(foreign, data)
    finally:
        holder.kill()
        holder.wait(10)
    assert (data / "leadvibe.db").read_bytes() == b"current"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another owner")
def test_restore_as_root_leaves_files_the_service_user_owns(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 4321, 4321)  # the service user's data dir, restore run with sudo
    src = tmp_path / "b.db"
    conn = apsw.Connection(str(src))
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at INT);"
                 "INSERT INTO schema_migrations VALUES (1, 'foundation', 0)")
    conn.close()
    restore_database(src, data)
    for name in ("leadvibe.db", "leadvibe.lock"):
        st = (data / name).stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (4321, 4321, 0o600), name


def test_a_batch_idempotency_key_holds_across_a_restart_and_a_restore(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    events = {"events": [{"lead_id": f"ld_{i}", "event_type": "page_view"} for i in range(3)] + [{"event_type": "x"}]}
    try:
        basic = {**server.basic(), "Idempotency-Key": "nightly-2026-12-06"}
        first = server.request("POST", "/ingest/batch", json=events, headers=basic).json()
        assert first["replay"] is False and first["accepted"] == 3
        ids = [item.get("event_id") for item in first["results"]]
        server.wait_scored()
        backup = _cli("backup", str(tmp_path / "b.db"), "--data-dir", str(data))
        assert backup.returncode == 0, backup.stderr
        assert server.stop() == 0
        server.start()
        again = server.request("POST", "/ingest/batch", json=events, headers=basic).json()
        assert again["replay"] is True and [item.get("event_id") for item in again["results"]] == ids
        assert server.stop() == 0
        restore = _cli("restore", str(tmp_path / "b.db"), "--data-dir", str(data))
        assert restore.returncode == 0, restore.stderr
        server.start()
        restored = server.request("POST", "/ingest/batch", json=events, headers=basic).json()
        assert restored["replay"] is True and [item.get("event_id") for item in restored["results"]] == ids
        server.wait_scored()
    finally:
        server.stop()
    assert _stored_event_ids(data / "leadvibe.db") == set(ids[:3])


def test_a_backup_path_with_a_trailing_slash_is_a_directory_made_when_missing(tmp_path: Path) -> None:
    # The nightly cron line's form (docs/backup.md): the first night made a file named like the directory, and every
    # later night wrote over it (the rotation's `leadvibe-*.db` found nothing).
    data = tmp_path / "data"
    server = ServerProcess(data).start()
    server.stop()
    nightly = tmp_path / "backups" / "leadvibe"
    written = set()
    # One after the other, most within the same second (the name's stamp): each gets a file of its own.
    for night in range(3):
        done = _cli("backup", f"{nightly}/", "--data-dir", str(data), "--no-key")
        assert done.returncode == 0, done.stderr
        assert nightly.is_dir() and nightly.stat().st_mode & 0o777 == 0o700
        assert len(list(nightly.glob("leadvibe-*.db"))) == 1 + night, done.stdout
        written.add(done.stdout.split("backup written: ", 1)[1].split(" (", 1)[0])
    assert {str(p) for p in nightly.glob("leadvibe-*.db")} == written
    blocked = tmp_path / "file"
    blocked.write_text("")
    done = _cli("backup", f"{blocked}/inside/", "--data-dir", str(data))
    assert done.returncode == 1 and done.stderr.startswith("leadvibe: backup failed: cannot create the directory ")
