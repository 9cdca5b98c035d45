"""Files a command run as root creates in a directory that belongs to someone else (`sudo leadvibe decay --now` in
the service user's data directory) go to that directory's owner: left to root, they would stop the service user's
own server from starting (SQLite does the same for its journal files)."""

from __future__ import annotations

import os
from pathlib import Path


def give_to_directory_owner(fd: int, directory: Path) -> None:
    """When run as root, hand the open file `fd` to the owner of `directory` (unless that is root too)."""
    if os.geteuid() != 0:
        return
    st = directory.stat()
    if st.st_uid != 0:
        os.fchown(fd, st.st_uid, st.st_gid)


def give_database_to_directory_owner(db_path: str) -> None:
    """When run as root, hand a database file that root created (and its `-wal`, `-shm`, which SQLite made root's
    too, after the database's owner) to the owner of its directory (unless that is root too)."""
    if os.geteuid() != 0:
        return
    directory = Path(db_path).parent
    st = directory.stat()
    if st.st_uid == 0:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            if os.stat(db_path + suffix).st_uid == 0:
                os.chown(db_path + suffix, st.st_uid, st.st_gid)
        except FileNotFoundError:
            continue
