"""Files a command run as root creates in a directory that belongs to someone else (`sudo leadvibe decay --now` in
the service user's data directory) go to that directory's owner: left to root, they would stop the service user's
own server from starting (SQLite does the same for its journal files)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def give_to_directory_owner(fd: int, directory: Path) -> None:
    """When run as root, hand the open file `fd` to the owner of `directory` (unless that is root too)."""
    if os.geteuid() != 0:
        return
    st = directory.stat()
    if st.st_uid != 0:
        os.fchown(fd, st.st_uid, st.st_gid)


def give_paths_to_directory_owner(directory: Path, paths: Iterable[str | Path]) -> None:
    """When run as root, hand the files of `paths` that exist to the owner of `directory` (unless that is root)."""
    if os.geteuid() != 0:
        return
    st = directory.stat()
    if st.st_uid == 0:
        return
    for path in paths:
        try:
            os.chown(path, st.st_uid, st.st_gid)
        except FileNotFoundError:
            continue


def give_database_to_directory_owner(db_path: str) -> None:
    """A database file root created, and its `-wal`, `-shm` (which SQLite made root's too, after the database's
    owner), to the owner of its directory: `give_paths_to_directory_owner`."""
    give_paths_to_directory_owner(Path(db_path).parent, (db_path + s for s in ("", "-wal", "-shm", "-journal")))
