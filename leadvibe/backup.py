"""Online backup and offline restore of a data directory's database (`leadvibe backup|restore PATH`).

Backup uses SQLite's online backup API (apsw `Connection.backup`) from a separate connection, so it works
while a server is running and ingesting. The backup API copies pages in steps and, when another connection
writes to the source between steps, it restarts from the first page; under sustained ingestion a plain
stepped backup therefore may never finish (measured: 1,700 restarts in 5 s against a writer committing every
2 ms). The database is in WAL mode, so this module first opens a read transaction on the source connection
and keeps it open for the whole copy: every step then reads the same snapshot, the copy is consistent as of
that instant, nothing restarts, and the server's writer is not blocked (WAL readers do not block writers).
What the snapshot holds: every transaction committed before it began, so every event the server acknowledged
(202) before the backup started.

Events acknowledged but not yet scored live in the inbox file (`inbox.db`, pipeline/inbox.py), with the
idempotency keys. Its snapshot is pinned first, then the main database's: every row the inbox snapshot holds past
the worker's mark in the main snapshot is copied into the backup's own `inbox` table (the parking place the next
start after a restore moves into a new inbox file), and a row the worker handled in between is behind that mark
and already scored in the copy. So the backup stays one file, and holds every event acknowledged before it began.

`VACUUM INTO` would give the same snapshot in one statement, but it rebuilds every b-tree (slower on a large
database, with no progress to report) and cannot be paced; the stepped backup copies pages as they are.

The one cost of the pinned snapshot: while it is open, a checkpoint cannot reset the WAL. The server's
periodic `wal_checkpoint(TRUNCATE)` runs on its writer thread and waits for readers on older snapshots, so
if it fires during a backup, writes queue behind it until the backup ends or its 10 s busy timeout passes
(nothing is lost; the next checkpoint truncates). A backup takes seconds; the checkpoint runs every few
minutes.

The copy is written to a temp file beside the destination, switched to `journal_mode=DELETE` (a backup is
one self-contained file, no `-wal` beside it), checked with `PRAGMA integrity_check`, fsynced, then renamed
over the destination, so a crash never leaves a half-written file under the backup's name.

Restore refuses while a server holds the data directory's lock, and holds the lock itself while it works so
no server can start halfway. It copies the backup into the data directory, checks it there, moves the
current database (with its `-wal`/`-shm`) aside to `leadvibe.db.before-restore-<UTC time>` and renames the
copy in. The inbox file goes aside with it (`inbox.db.before-restore-<UTC time>`): what it held belongs to the
database being replaced, and the restored one brings its own pending events."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import apsw

from leadvibe.db.lock import DataDirLock, DataDirLocked
from leadvibe.db.migrate import NewerSchema, check_known
from leadvibe.db.rows import scalar
from leadvibe.ownership import give_paths_to_directory_owner
from leadvibe.security.keys import KEY_NAME, SecretKeyUnusable, read_key_file, write_key_file
from leadvibe.store import inbox as inbox_store

__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "backup_database",
    "integrity_errors",
    "key_beside",
    "restore_database",
    "save_key",
]

DB_NAME = "leadvibe.db"
SIDECARS = ("-wal", "-shm", "-journal")


class BackupError(RuntimeError):
    """A backup or restore that could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """What `backup_database` wrote."""

    path: Path
    size_bytes: int
    pages: int
    steps: int
    seconds: float
    pending_events: int = 0  # acknowledged events not scored yet, copied from the inbox file


@dataclass(frozen=True)
class RestoreResult:
    """What `restore_database` did."""

    db_path: Path
    size_bytes: int
    seconds: float
    moved_aside: Path | None
    schema_version: int
    key: Path | None = None  # the secret.key put back from `<backup>.key`, if the backup had one
    inbox_moved_aside: Path | None = None  # the replaced database's inbox file, kept with it


def integrity_errors(conn: apsw.Connection) -> list[str]:
    """`PRAGMA integrity_check` rows other than the single `ok` of a sound database."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def _fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _live_files(db_path: Path) -> list[Path]:
    """The files a running server writes: its database, its inbox file, and their WAL and shared-memory files."""
    out: list[Path] = []
    for base in (Path(db_path), inbox_store.path_beside(db_path)):
        out += [base, Path(f"{base}-wal"), Path(f"{base}-shm"), Path(f"{base}-journal")]
    return out


def _is_one_of(path: Path, files: list[Path]) -> bool:
    """Whether `path` names one of `files` (through any link, or a path spelled another way)."""
    resolved = path.resolve()
    for f in files:
        if resolved == f.resolve():
            return True
        with contextlib.suppress(OSError):
            if path.exists() and f.exists() and path.samefile(f):
                return True
    return False


def _remove_stale_temporaries(dest: Path) -> None:
    """Temporary copies an earlier backup to `dest` left when it was killed (`.<name>.tmp-<pid>` of a process
    that is gone): full-size files nobody would find otherwise, since they are hidden."""
    for stale in dest.parent.glob(f".{dest.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            _remove_with_sidecars(stale)
        except PermissionError:  # another user's running process
            continue


def _remove_with_sidecars(path: Path) -> None:
    for suffix in ("", *SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


def backup_database(db_path: Path, dest: Path, *, pages_per_step: int = 4096, step_pause: float = 0.0,
                    busy_retry_seconds: float = 30.0,
                    progress: Callable[[int, int], None] | None = None) -> BackupResult:
    """Copy the database at `db_path` to `dest` consistently, even while a server writes to it.

    `pages_per_step` bounds the work of one step (4096 pages = 16 MiB at the default 4 KiB page size);
    `step_pause` sleeps between steps to leave the disk to the server on a busy machine. A step that meets a
    lock (only possible in edge cases such as another connection recovering the WAL) is retried until
    `busy_retry_seconds` have passed. `progress(remaining, page_count)` is called after every step.
    """
    db_path = Path(db_path)
    dest = Path(dest)
    if not db_path.is_file():
        raise BackupError(f"no database at {db_path}: is --data-dir (LEADVIBE_DATA_DIR) right?")
    if not dest.parent.is_dir():
        raise BackupError(f"the directory {dest.parent} does not exist")
    if _is_one_of(dest, _live_files(db_path)):
        raise BackupError(f"{dest} is a file the server itself uses: a backup over it would destroy the data;"
                          " write the backup somewhere else (a file outside the data directory)")
    started = time.monotonic()
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    _remove_with_sidecars(tmp)
    _remove_stale_temporaries(dest)
    inbox: apsw.Connection | None = None
    src: apsw.Connection | None = None
    out: apsw.Connection | None = None
    try:
        # One snapshot of each file for the whole copy, the inbox file's first (see the module docstring).
        inbox = _pinned(inbox_store.path_beside(db_path))
        src = _pinned(db_path)
        if src is None:
            raise BackupError(f"no database at {db_path}: is --data-dir (LEADVIBE_DATA_DIR) right?")
        try:
            out = apsw.Connection(str(tmp))
        except apsw.Error as exc:
            raise BackupError(f"cannot write a file in {dest.parent} ({exc}): choose a writable place") from None
        steps = 0
        deadline = time.monotonic() + busy_retry_seconds
        with out.backup("main", src, "main") as b:
            while not b.done:
                try:
                    b.step(pages_per_step)
                except (apsw.BusyError, apsw.LockedError):
                    if time.monotonic() > deadline:
                        raise BackupError(
                            f"the database stayed locked for {busy_retry_seconds:.0f} s; try again") from None
                    time.sleep(0.05)
                    continue
                steps += 1
                if progress is not None:
                    progress(b.remaining, b.page_count)
                if step_pause and not b.done:
                    time.sleep(step_pause)
            pages = b.page_count
        src.execute("COMMIT")
        pending = _park_pending(inbox, out) if inbox is not None else 0
        # The copy carries the source's WAL flag; make it one self-contained file.
        out.execute("PRAGMA journal_mode=DELETE").fetchall()
        errors = integrity_errors(out)
        if errors:
            raise BackupError("the copy failed PRAGMA integrity_check: " + "; ".join(errors[:5]))
        out.close()
        out = None
        # Readable by its owner only: the copy holds password hashes, credential digests and every lead.
        os.chmod(tmp, 0o600)
        _fsync_path(tmp)
        os.replace(tmp, dest)
        _fsync_path(dest.parent, directory=True)
    except BaseException as exc:
        if out is not None:
            with contextlib.suppress(apsw.Error):
                out.close()
        _remove_with_sidecars(tmp)
        if isinstance(exc, (OSError, apsw.FullError, apsw.IOError, apsw.ReadOnlyError)):
            # Writing the copy failed (a full disk, a read-only or vanished directory): nothing was replaced.
            raise BackupError(f"writing {dest} failed ({exc}); nothing was replaced") from None
        raise
    finally:
        for conn in (src, inbox):
            if conn is not None:
                with contextlib.suppress(apsw.Error):
                    conn.close()
    return BackupResult(dest, dest.stat().st_size, pages, steps, time.monotonic() - started, pending)


def _pinned(path: Path) -> apsw.Connection | None:
    """A connection to `path` holding a read snapshot until its COMMIT, or None when there is no such file (for
    the inbox file: a data directory no server of this version has opened yet, whose pending events are still in
    the main database). Read-write without CREATE: nothing here ever writes to the source. BEGIN is lazy: the
    SELECT starts the read transaction."""
    if not path.is_file():
        return None
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READWRITE)
    try:
        conn.set_busy_timeout(10_000)
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def _park_pending(inbox: apsw.Connection, copy: apsw.Connection) -> int:
    """Copy the inbox rows past the copy's worker mark, and the idempotency keys, into the copy; how many rows."""
    handled = inbox_store.progress(copy)
    copied = 0
    copy.execute("BEGIN IMMEDIATE")
    try:
        after = handled
        while rows := inbox_store.pending(inbox, after, 10_000):
            inbox_store.park(copy, rows, [])
            after = rows[-1][0]
            copied += len(rows)
        inbox_store.park(copy, [], inbox_store.all_keys(inbox))
        copy.execute("COMMIT")
    except BaseException:
        copy.execute("ROLLBACK")
        raise
    inbox.execute("COMMIT")
    return copied


def _own_like_data_dir(data_dir: Path, *paths: Path) -> None:
    """Mode 0600, and when run as root, the data directory's owner: a restore run with `sudo` must not leave a
    database (or lock file) the service user cannot write."""
    for p in paths:
        if p.exists():
            os.chmod(p, 0o600)
    give_paths_to_directory_owner(data_dir, paths)


def _schema_version(conn: apsw.Connection) -> int:
    has = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").fetchone()
    if not has:
        raise BackupError("not a LeadVibe database (it has no schema_migrations table)")
    return int(scalar(conn, "SELECT max(version) FROM schema_migrations") or 0)


def restore_database(backup: Path, data_dir: Path) -> RestoreResult:
    """Replace the data directory's database with `backup`; refuse while a server owns the directory.

    Raises `DataDirLocked` when a server runs on `data_dir`, `BackupError` when the backup is missing,
    damaged, not a LeadVibe database, or from a newer LeadVibe than this one. On any failure the current
    database is left untouched.
    """
    backup = Path(backup)
    data_dir = Path(data_dir)
    if not backup.is_file():
        raise BackupError(f"{backup} is a directory: give the backup file in it (leadvibe-<time>.db)"
                          if backup.is_dir() else f"no backup file at {backup}")
    if _is_one_of(backup, _live_files(data_dir / DB_NAME)):
        raise BackupError(f"{backup} is the data directory's own database, not a backup of it: nothing to restore")
    lock = DataDirLock(data_dir)
    if lock.is_held_elsewhere():
        raise DataDirLocked(
            f"a LeadVibe server is running on {data_dir}; stop it first (systemctl stop leadvibe), "
            "then run restore again")
    # Holding the lock (not only checking it) keeps a server from starting on the directory halfway through.
    lock.acquire()
    started = time.monotonic()
    db = data_dir / DB_NAME
    tmp = data_dir / f".{DB_NAME}.restore-{os.getpid()}"
    try:
        _own_like_data_dir(data_dir, lock.path)  # root may just have created it
        _remove_with_sidecars(tmp)
        try:
            # Work on a private copy: the backup file itself is never opened for writing (it may be read-only
            # media), and a `-wal` left beside a raw file copy is folded in rather than lost.
            shutil.copyfile(backup, tmp)
            if Path(f"{backup}-wal").is_file():
                shutil.copyfile(f"{backup}-wal", f"{tmp}-wal")
            _own_like_data_dir(data_dir, tmp, Path(f"{tmp}-wal"))
            conn = apsw.Connection(str(tmp))
            try:
                try:
                    errors = integrity_errors(conn)
                except apsw.Error as exc:
                    raise BackupError(f"{backup} is not a readable SQLite database ({exc})") from None
                if errors:
                    raise BackupError(f"{backup} failed PRAGMA integrity_check: " + "; ".join(errors[:5]))
                version = _schema_version(conn)
                try:
                    check_known(version, advice="restore it with that version or newer")
                except NewerSchema as exc:
                    raise BackupError(f"{backup} {str(exc).removeprefix('it ')}") from None
                conn.execute("PRAGMA journal_mode=DELETE").fetchall()
            finally:
                conn.close()
            _check_key_beside(backup)
            _fsync_path(tmp)
            moved: Path | None = None
            stamp = _free_stamp(data_dir, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
            if db.exists():
                moved = data_dir / f"{DB_NAME}.before-restore-{stamp}"
                _move_aside(db, moved)
            inbox = inbox_store.path_beside(db)
            inbox_aside: Path | None = None
            if inbox.exists():
                inbox_aside = data_dir / f"{inbox.name}.before-restore-{stamp}"
                _move_aside(inbox, inbox_aside)
            os.replace(tmp, db)
            key = _restore_key(backup, data_dir, stamp)
            _fsync_path(data_dir, directory=True)
        except BaseException:
            _remove_with_sidecars(tmp)
            raise
    finally:
        lock.release()
    return RestoreResult(db, db.stat().st_size, time.monotonic() - started, moved, version, key, inbox_aside)


def _free_stamp(data_dir: Path, stamp: str) -> str:
    """`stamp`, or `stamp-2`, `-3`, ...: the first that names no file set aside yet (two restores within a second
    would otherwise replace the first one's copy of the original database and key with the second's)."""
    names = (DB_NAME, inbox_store.FILE_NAME, KEY_NAME)
    taken = {p.name for p in data_dir.iterdir()} if data_dir.is_dir() else set()
    candidate, n = stamp, 1
    while any(f"{name}.before-restore-{candidate}{suffix}" in taken for name in names for suffix in ("", *SIDECARS)):
        n += 1
        candidate = f"{stamp}-{n}"
    return candidate


def reserve_backup_path(directory: Path, stamp: str) -> Path:
    """A new file `leadvibe-<stamp>.db` in `directory`, or `-2`, `-3`, ... after the stamp: created empty here
    (exclusively, so two backups started within the same second, even at once, never take the same name and
    replace each other), then written over by the backup."""
    n = 1
    while True:
        path = directory / f"leadvibe-{stamp}{'' if n == 1 else f'-{n}'}.db"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return path
        except FileExistsError:
            n += 1


def _check_key_beside(backup: Path) -> None:
    """Refuse, before anything is replaced, a key beside the backup that the server could not use."""
    src = key_beside(backup)
    if not src.exists():
        return
    try:
        size = len(src.read_bytes())
    except OSError as exc:
        raise BackupError(f"cannot read the key {src}: {exc.strerror or exc}") from None
    if size < 32:
        raise BackupError(f"the key {src} is damaged ({size} bytes, a key has 32): nothing was restored")


def _move_aside(path: Path, to: Path) -> None:
    # The sidecars keep SQLite's naming (`<name>-wal`), so the moved-aside set still opens whole.
    for suffix in ("", *SIDECARS):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, f"{to}{suffix}")


def key_beside(backup: Path) -> Path:
    """Where a backup keeps the instance key: `<backup>.key`."""
    return backup.with_name(backup.name + ".key")


def save_key(data_dir: Path, backup: Path) -> Path | None:
    """Copy the data directory's `secret.key` beside a backup (0600): API credentials and sessions only verify
    with the key of the database they belong to (SEMANTICS §11). None when the directory has no key."""
    src = Path(data_dir) / KEY_NAME
    if not src.is_file():
        return None
    try:
        key = read_key_file(src)
    except SecretKeyUnusable as exc:  # as the server and restore refuse it: a copy could not be restored
        raise BackupError(f"the key was not written beside the backup: {exc}") from None
    dest = key_beside(Path(backup))
    write_key_file(dest, key)
    _fsync_path(dest.parent, directory=True)
    return dest


def _restore_key(backup: Path, data_dir: Path, stamp: str) -> Path | None:
    src = key_beside(backup)
    if not src.is_file():
        return None
    key = src.read_bytes()
    current = data_dir / KEY_NAME
    if current.is_file():
        if current.read_bytes() == key:
            return current
        os.replace(current, data_dir / f"{KEY_NAME}.before-restore-{stamp}")
    write_key_file(current, key)
    _own_like_data_dir(data_dir, current)
    return current
