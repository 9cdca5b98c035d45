"""What the command line and the settings refuse, and how: one line naming the problem and what to do, a non-zero
exit, never a traceback (run in-process: the parsing and refusal paths, no server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apsw
import httpx
import pytest

from leadvibe import importer
from leadvibe.backup import BackupError, backup_database
from leadvibe.cli import main
from leadvibe.config import load_settings
from leadvibe.db.lock import DataDirLock, DataDirUnusable


@pytest.fixture(autouse=True)
def _keep_umask() -> Iterator[None]:
    # main() sets the appliance's umask (0077) for the process: give the other tests theirs back.
    mask = os.umask(0o022)
    os.umask(mask)
    yield
    os.umask(mask)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("LEADVIBE_LOG_LEVEL", "loud", "one of debug, info, warning, error, critical"),
    ("LEADVIBE_LOG_FORMAT", "xml", "auto, json or console"),
    ("LEADVIBE_CACHE_SIZE_MB", "-5", "1 or more"),
    ("LEADVIBE_DECAY_INTERVAL", "0", "more than 0"),
    ("LEADVIBE_DELIVERY_INTERVAL", "-1", "more than 0"),
    ("LEADVIBE_CHECKPOINT_INTERVAL", "nan", "more than 0"),
    ("LEADVIBE_WORKER_IDLE_POLL", "inf", "more than 0"),
    ("LEADVIBE_JWT_TTL_HOURS", "0", "more than 0"),
    ("LEADVIBE_WORKER_BATCH_SIZE", "0", "1 or more"),
    ("LEADVIBE_DELIVERY_CONCURRENCY", "0", "1 or more"),
    ("LEADVIBE_SSE_BUFFER", "0", "1 or more"),
    ("LEADVIBE_READ_DEADLINE", "-1", "0 or more (0 = no limit)"),
    ("LEADVIBE_SMTP_PORT", "70000", "between 1 and 65535"),
    ("LEADVIBE_DELIVERY_SCHEDULE", "5,-1", "seconds of 0 or more"),
    ("LEADVIBE_HOST", "", "is empty"),
    ("LEADVIBE_DATA_DIR", " ", "is empty"),
    # Every sign-in would have made a token the server itself refuses.
    ("LEADVIBE_JWT_AUDIENCE", "", "is empty"),
    ("LEADVIBE_PORT", "0", "between 1 and 65535"),
    ("LEADVIBE_REQUEST_READ_TIMEOUT", "0", "more than 0"),
    ("LEADVIBE_ADMIN_EMAIL", " ", "must be an email address"),
    ("LEADVIBE_ADMIN_EMAIL", "not-an-email", "must be an email address"),
    ("LEADVIBE_ADMIN_PASSWORD", "short", "the password must be at least 8 characters"),
    # Every email would have been refused for it, one delivery at a time, while the settings said email was ready.
    ("LEADVIBE_SMTP_FROM", "alerts at example dot com", "is not a valid email address"),
    ("LEADVIBE_SMTP_FROM", "a@example.com, b@example.com", "must be a single email address"),
    # Every notification's links and the Slack sign-in's way back are built on it.
    ("LEADVIBE_PUBLIC_URL", "notaurl", "must be an http(s) URL"),
    ("LEADVIBE_PUBLIC_URL", "ftp://leads.example.com", "must be an http(s) URL"),
    ("LEADVIBE_PUBLIC_URL", "https://leads.example.com:port", "must be an http(s) URL"),
])
def test_a_setting_that_cannot_work_is_refused_naming_its_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=name) as exc:
        load_settings({}, env={name: value})
    assert says in str(exc.value)


def test_edge_values_that_do_work_are_accepted() -> None:
    s = load_settings({}, env={"LEADVIBE_LOG_LEVEL": "WARNING", "LEADVIBE_READ_DEADLINE": "0",
                               "LEADVIBE_WORKER_PACE_MS": "0", "LEADVIBE_DELIVERY_SCHEDULE": "",
                               "LEADVIBE_SMTP_FROM": "LeadVibe alerts <alerts@example.com>"})
    assert (s.log_level, s.read_deadline, s.worker_pace_ms, s.delivery_schedule) == ("WARNING", 0, 0, ())
    assert load_settings({}, env={}).smtp_from == "leadvibe@localhost"  # the default passes its own check


def _refusal(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_a_bad_setting_stops_a_command_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADVIBE_LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as exc:
        main(["migrate", "--data-dir", str(tmp_path)])
    assert str(exc.value).startswith("leadvibe: LEADVIBE_LOG_LEVEL must be one of")


@pytest.mark.parametrize("command", [["migrate"], ["restore", "BACKUP"]])
@pytest.mark.parametrize("where", ["file", "below-a-file"])
def test_a_data_dir_that_is_a_file_is_refused_in_one_line(command: list[str], where: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("not a directory\n")
    backup = tmp_path / "b.db"
    conn = apsw.Connection(str(backup))
    conn.execute("CREATE TABLE t(x)")
    conn.close()
    data_dir = taken if where == "file" else taken / "sub"
    argv = [backup.as_posix() if a == "BACKUP" else a for a in command]
    assert main([*argv, "--data-dir", str(data_dir)]) == 1
    err = _refusal(capsys)
    assert f"cannot use {data_dir} as the data directory" in err and "--data-dir" in err
    assert taken.read_text() == "not a directory\n"


def test_the_lock_names_an_unusable_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(DataDirUnusable, match="a file is in its place"):
        DataDirLock(tmp_path / "f").acquire()


def test_a_backup_that_cannot_be_written_is_a_backup_error(tmp_path: Path) -> None:
    db = tmp_path / "leadvibe.db"
    conn = apsw.Connection(str(db))
    conn.execute("CREATE TABLE t(x)")
    conn.close()
    if not Path("/proc/self").exists():
        pytest.skip("no /proc")
    dest = Path("/proc/leadvibe-backup.db")  # a directory nothing can create a file in, even root
    with pytest.raises(BackupError, match="cannot write a file in /proc"):
        backup_database(db, dest)


def test_import_refuses_an_empty_file_and_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "events.csv"
    empty.write_bytes(b"")
    assert main(["import", str(empty), "--client-id", "x", "--client-secret", "y"]) == 1
    assert "is empty: a CSV of events starts with a header row" in _refusal(capsys)
    assert main(["import", str(tmp_path), "--client-id", "x", "--client-secret", "y"]) == 1
    assert "is a directory" in _refusal(capsys)
    assert main(["import", "/dev/null", "--client-id", "x", "--client-secret", "y"]) == 1
    assert _refusal(capsys) == "leadvibe: /dev/null is not a regular file: give the CSV file itself"
    assert main(["restore", str(tmp_path), "--data-dir", str(tmp_path / "data")]) == 1
    assert _refusal(capsys).endswith(f"{tmp_path} is a directory: give the backup file in it (leadvibe-<time>.db)")


@pytest.mark.parametrize("by_lead", [False, True])
def test_ctrl_c_during_an_import_says_how_far_it_got(by_lead: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "events.csv"
    csv.write_text("lead_id,event_type\n" + "".join(f"ld_{i},page_view\n" for i in range(5000)))
    sent: list[int] = []

    def post(client: Any, url: str, params: Any, name: str, part: bytes) -> httpx.Response:
        if sent:
            raise KeyboardInterrupt  # Ctrl-C while the second part is on its way
        sent.append(part.count(b"\n") - 1)
        return httpx.Response(202, json={"imported": sent[0], "duplicates": 0, "errors": 0, "error_rows": []})

    monkeypatch.setattr(importer, "_post", post)
    monkeypatch.setattr(importer.tempfile, "tempdir", str(tmp_path))
    args = ["import", str(csv), "--client-id", "x", "--client-secret", "y", "--quiet"]
    assert main([*args, "--by-lead"] if by_lead else args) == 130
    err = _refusal(capsys)
    assert err.startswith(f"leadvibe: import interrupted: {sent[0]:,} events imported"), err
    assert [p.name for p in tmp_path.iterdir()] == ["events.csv"]  # --by-lead's grouped copy is gone


@pytest.mark.parametrize("argv", [["migrate", "--bogus"], ["seed", "--unit", "u", "extra"]])
def test_an_unknown_argument_is_said_with_the_commands_own_usage(argv: list[str],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: leadvibe {argv[0]} ")  # what this command takes, not the list of commands
    assert f"leadvibe {argv[0]}: error: unrecognized arguments: {' '.join(argv[-1:])}" in err


def test_the_version_names_the_schema_builds_of_one_version_differ_by(capsys: pytest.CaptureFixture[str]) -> None:
    """Every build said `leadvibe 0.1.0`: an operator could not tell an upgraded binary from the old one."""
    from leadvibe.db.migrate import MIGRATIONS_DIR

    newest = max(int(p.name[:4]) for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip().endswith(f"(database schema {newest})")


def test_import_refuses_a_url_it_cannot_reach_anything_at_in_one_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    events = tmp_path / "events.csv"
    events.write_text("lead_id,event_type\nld_1,page_view\n")
    for url in ("http://127.0.0.1:abc", "http://[::1"):
        assert main(["import", str(events), "--url", url, "--client-id", "x", "--client-secret", "y"]) == 1
        assert _refusal(capsys).startswith(f"leadvibe: --url {url} is not an address a server can be reached at: ")


def _database(path: Path, marker: str) -> Path:
    from leadvibe.db.migrate import apply_migrations

    conn = apsw.Connection(str(path))
    apply_migrations(conn)
    conn.execute("CREATE TABLE marker(x); INSERT INTO marker VALUES (?)", (marker,))
    conn.close()
    return path


def test_two_restores_within_a_second_keep_the_original_aside(tmp_path: Path) -> None:
    from leadvibe.backup import restore_database

    data = tmp_path / "data"
    data.mkdir()
    _database(data / "leadvibe.db", "original")
    (data / "secret.key").write_bytes(b"k" * 32)
    first, second = _database(tmp_path / "first.db", "first"), _database(tmp_path / "second.db", "second")
    (tmp_path / "first.db.key").write_bytes(b"1" * 32)
    (tmp_path / "second.db.key").write_bytes(b"2" * 32)
    moved = [restore_database(b, data).moved_aside for b in (first, second)]
    assert moved[0] is not None and moved[1] is not None and moved[0] != moved[1]
    markers = []
    for path in moved:
        conn = apsw.Connection(str(path))
        markers.append(conn.execute("SELECT x FROM marker").fetchone()[0])
        conn.close()
    assert markers == ["original", "first"]
    keys = sorted(p.read_bytes() for p in data.glob("secret.key.before-restore-*"))
    assert keys == [b"1" * 32, b"k" * 32] and (data / "secret.key").read_bytes() == b"2" * 32


def test_restore_refuses_a_damaged_key_before_replacing_anything(tmp_path: Path) -> None:
    from leadvibe.backup import restore_database

    data = tmp_path / "data"
    data.mkdir()
    _database(data / "leadvibe.db", "original")
    backup = _database(tmp_path / "b.db", "backup")
    (tmp_path / "b.db.key").write_bytes(b"short")
    with pytest.raises(BackupError, match=r"b.db.key is damaged \(5 bytes, a key has 32\): nothing was restored"):
        restore_database(backup, data)
    assert sorted(p.name for p in data.iterdir() if p.name != "leadvibe.lock") == ["leadvibe.db"]


def test_a_server_on_an_ipv6_address_is_reached_at_a_bracketed_url() -> None:
    s = load_settings({}, env={"LEADVIBE_HOST": "::1", "LEADVIBE_PORT": "18630"})
    assert s.base_url == "http://[::1]:18630"  # lead links in notifications, the Slack way back
    assert load_settings({}, env={"LEADVIBE_PUBLIC_URL": "https://leads.example.com/"}).base_url == \
        "https://leads.example.com"


def test_version_and_dash_dash_version_say_the_same() -> None:
    import subprocess
    import sys

    from leadvibe.cli import version_line

    out = subprocess.run([sys.executable, "-m", "leadvibe", "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == version_line() and "(database schema " in version_line()
