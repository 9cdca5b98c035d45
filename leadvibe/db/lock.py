"""An exclusive lock file so only one server owns a data directory."""

from __future__ import annotations

import fcntl
import mmap
import os
import pwd
from pathlib import Path

from leadvibe.ownership import give_to_directory_owner


class DataDirLocked(RuntimeError):
    """Another process holds the data directory."""


class DataDirUnusable(DataDirLocked):
    """The data directory cannot be created or opened (a file is in its place, a read-only or missing parent).
    A kind of DataDirLocked so that every command which takes the lock refuses with its one-line message."""


def _unusable(data_dir: Path, exc: OSError) -> DataDirUnusable:
    if isinstance(exc, FileExistsError) or (data_dir.exists() and not data_dir.is_dir()):
        why = "a file is in its place, not a directory"
    elif isinstance(exc, NotADirectoryError):
        why = "part of its path is a file, not a directory"
    else:
        why = exc.strerror or str(exc)
    return DataDirUnusable(f"cannot use {data_dir} as the data directory: {why}; "
                           "choose another --data-dir (LEADVIBE_DATA_DIR)")


def _lock_not_ours(path: Path, exc: OSError) -> DataDirUnusable:
    owner = path.stat().st_uid
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = f"uid {owner}"
    return DataDirUnusable(f"cannot open {path}: {exc.strerror or exc}; it belongs to {name}: run LeadVibe as "
                           "that user, or give the file to the user that runs it (chown)")


class DataDirLock:
    """`flock(LOCK_EX | LOCK_NB)` on `<data dir>/leadvibe.lock`; released when the process exits, even on kill -9."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "leadvibe.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise DataDirLocked naming the holder."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except PermissionError as exc:
            if self.path.exists():
                raise _lock_not_ours(self.path, exc) from None
            raise _unusable(self.path.parent, exc) from None
        except OSError as exc:
            raise _unusable(self.path.parent, exc) from None
        give_to_directory_owner(fd, self.path.parent)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLocked(
                f"another LeadVibe server (pid {holder}) is already using the data directory {self.path.parent}; "
                "stop it first or choose another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def is_held_elsewhere(self) -> bool:
        """True when some other process holds the lock (used by `restore`)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        """Drop the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class WriteLock:
    """`flock(LOCK_EX)` on `<database>-writelock`, held around every write transaction when two processes write
    the same database (the server and its worker process). SQLite alone would make the second writer retry
    `BEGIN IMMEDIATE` in sleeps of milliseconds; a blocking flock wakes it the moment the first one commits, in
    the order the kernel queues them. The lock dies with its process, so a killed writer never leaves it held.

    The file's first bytes say who waits for the lock, one byte per writer (`slot`): the worker ends its batch
    early when the server has a write waiting, as it does for the writes queued in its own process."""

    SLOTS = 2

    def __init__(self, db_path: str, slot: int) -> None:
        self.path = db_path + "-writelock"
        self.slot = slot
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        give_to_directory_owner(self._fd, Path(self.path).parent)
        if os.fstat(self._fd).st_size < self.SLOTS:
            os.pwrite(self._fd, bytes(self.SLOTS), 0)
        self._waiting = mmap.mmap(self._fd, self.SLOTS)

    def acquire(self) -> None:
        """Wait for the lock (the interpreter lock is given up while waiting)."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        self._waiting[self.slot] = 1
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        finally:
            self._waiting[self.slot] = 0

    def release(self) -> None:
        """Let the other process write."""
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def others_waiting(self) -> bool:
        """Whether another writer is waiting for the lock now."""
        waiting = self._waiting
        return any(waiting[i] for i in range(self.SLOTS) if i != self.slot)

    def close(self) -> None:
        """Release and close the lock file."""
        if self._fd >= 0:
            self._waiting.close()
            os.close(self._fd)
            self._fd = -1
