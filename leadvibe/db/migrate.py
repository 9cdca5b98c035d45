"""Numbered SQL migrations (`migrations/NNNN_name.sql`), applied in order at start, each in one transaction.

The inbox file (`inbox.db`, written by the server alone: pipeline/inbox.py) has migrations of its own, numbered
apart, under `migrations/inbox/`."""

from __future__ import annotations

import re
import time
from pathlib import Path

import apsw

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
INBOX_MIGRATIONS_DIR = MIGRATIONS_DIR / "inbox"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


def available(directory: Path = MIGRATIONS_DIR) -> list[tuple[int, str, Path]]:
    """The migration files shipped with this build for one database file (the main one by default), in order."""
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(1)), m.group(2), p))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError("two migration files share a number")
    return found


def newest(directory: Path = MIGRATIONS_DIR) -> int:
    """The schema this build migrates a database to: its newest migration's number."""
    return max((v for v, _, _ in available(directory)), default=0)


class NewerSchema(Exception):
    """The database was last migrated by a newer LeadVibe: this build does not know its schema."""


def check_known(version: int, directory: Path = MIGRATIONS_DIR, advice: str = "run that version or newer") -> None:
    """Raise NewerSchema when `version` (a database's last migration) is past this build's newest in `directory`:
    a database is never migrated, served or restored by a build that does not know its schema."""
    known = newest(directory)
    if version > known:
        raise NewerSchema(f"it comes from a newer LeadVibe (schema {version}, this build knows up to {known}); "
                          f"{advice}")


def apply_migrations(conn: apsw.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration of `directory` not yet recorded in `schema_migrations`; return the names applied.
    Raises NewerSchema, applying nothing, when the database records a migration this build does not have."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    check_known(max(done, default=0), directory)
    applied = []
    for version, name, path in available(directory):
        if version in done:
            continue
        sql = path.read_text(encoding="utf-8")
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, int(time.time() * 1000)))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(f"{version:04d}_{name}")
    return applied
