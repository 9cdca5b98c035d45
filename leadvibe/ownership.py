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
