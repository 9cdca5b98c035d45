"""The inbox file of a stopped server's data directory, for benchmarks that queue events without HTTP."""

from __future__ import annotations

from pathlib import Path

import apsw

from leadvibe.db.database import apply_pragmas
from leadvibe.db.migrate import INBOX_MIGRATIONS_DIR, apply_migrations
from leadvibe.store import inbox as inbox_store


def open_inbox(data_dir: Path, synchronous: str = "FULL") -> apsw.Connection:
    """A writable connection to `data_dir`'s inbox file (created and migrated if need be), numbering new rows
    after the worker's mark in the main database, as the server's start does."""
    main = apsw.Connection(str(data_dir / "leadvibe.db"), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        handled = inbox_store.progress(main)
    finally:
        main.close()
    conn = apsw.Connection(str(inbox_store.path_beside(data_dir / "leadvibe.db")))
    apply_pragmas(conn, synchronous=synchronous)
    apply_migrations(conn, INBOX_MIGRATIONS_DIR)
    with conn:
        inbox_store.number_after(conn, handled)
    return conn
