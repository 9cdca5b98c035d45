"""SQL of the inbox: the rows of acknowledged events in the inbox file (`inbox.db`), the idempotency keys beside
them, and the worker's progress through them kept in the main database (`inbox_progress`).

The inbox file is written by the server alone (pipeline/inbox.py: every 202 waits for its commit and nothing
else). The worker reads it inside its own transaction on the main database, where it records the last `seq` it
handled together with the scores: rows at or below that mark are done, whether or not the server has deleted them
yet, so deleting them later (`delete_handled`) needs no coordination and can be repeated. Both files have an
`inbox` and an `idempotency_keys` table of the same shape: the main database's are only a parking place, emptied
into the inbox file at start (`pipeline.inbox.settle_inbox_file`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import apsw

from leadvibe.db.rows import insert_rows, scalar

FILE_NAME = "inbox.db"
COLUMNS = "org_id, unit_id, event_id, payload, source, skip_triggers, received_at"
_INSERT = f"INSERT INTO inbox ({COLUMNS}) VALUES (?,?,?,?,?,?,?)"
_MOVE_CHUNK = 10_000


def path_beside(db_path: Path) -> Path:
    """The inbox file of the data directory whose main database is `db_path`."""
    return Path(db_path).with_name(FILE_NAME)


def insert(conn: apsw.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Inbox rows (the columns of COLUMNS), numbered in the order given."""
    insert_rows(conn, _INSERT, rows)


_INSERT_KEY = "INSERT OR IGNORE INTO idempotency_keys (unit_id, key, event_id, created_at) VALUES (?,?,?,?)"


def claim_key(conn: apsw.Connection, unit_id: str, key: str, event_id: str, now: int) -> str | None:
    """Record an idempotency key for `event_id`; None when it is new, else the event id it was first given to."""
    conn.execute(_INSERT_KEY, (unit_id, key, event_id, now))
    if conn.changes():
        return None
    return key_value(conn, unit_id, key)


def key_value(conn: apsw.Connection, unit_id: str, key: str) -> str | None:
    """What an idempotency key was recorded for (an event id; a batch's outcome), or None if it is unknown."""
    value = scalar(conn, "SELECT event_id FROM idempotency_keys WHERE unit_id = ? AND key = ?", (unit_id, key))
    return None if value is None else str(value)


def purge_keys(conn: apsw.Connection, before: int) -> int:
    """Forget idempotency keys recorded before `before` (ms)."""
    conn.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (before,))
    return conn.changes()


def pending(conn: apsw.Connection, after: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` rows after `seq` `after`, in arrival order: (seq, then the columns of COLUMNS)."""
    return conn.execute(f"SELECT seq, {COLUMNS} FROM inbox WHERE seq > ? ORDER BY seq LIMIT ?",
                        (after, limit)).fetchall()


def pending_head(conn: apsw.Connection, after: int, limit: int) -> tuple[list[tuple[Any, ...]], int]:
    """`pending`'s rows and, in the same read transaction, the last `seq` stored: a reader that takes the rest
    in later reads (`pending_through`) stops there, so it sees only rows committed before this read."""
    rows = pending(conn, after, limit)
    last = conn.execute("SELECT max(seq) FROM inbox").fetchone()
    return rows, int(last[0]) if last and last[0] is not None else after


def pending_through(conn: apsw.Connection, after: int, last: int, limit: int) -> list[tuple[Any, ...]]:
    """Up to `limit` rows after `seq` `after` and at or before `last`, in arrival order (as `pending`)."""
    return conn.execute(f"SELECT seq, {COLUMNS} FROM inbox WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                        (after, last, limit)).fetchall()


def count_pending(conn: apsw.Connection, after: int) -> int:
    """Rows after `seq` `after`."""
    return int(scalar(conn, "SELECT count(*) FROM inbox WHERE seq > ?", (after,)) or 0)


def oldest_pending(conn: apsw.Connection, after: int) -> int | None:
    """When (`received_at`, ms) the first row after `seq` `after` was acknowledged; None when there is none."""
    value = scalar(conn, "SELECT received_at FROM inbox WHERE seq > ? ORDER BY seq LIMIT 1", (after,))
    return None if value is None else int(value)


def delete_handled(conn: apsw.Connection, upto: int, limit: int | None = None) -> int:
    """Delete rows the worker has handled (`seq` at or below `upto`), the oldest `limit` of them if given."""
    if limit is None:
        conn.execute("DELETE FROM inbox WHERE seq <= ?", (upto,))
    else:
        conn.execute("DELETE FROM inbox WHERE seq IN (SELECT seq FROM inbox WHERE seq <= ? ORDER BY seq LIMIT ?)",
                     (upto, limit))
    return conn.changes()


def queued_in_unit(conn: apsw.Connection, unit_id: str, after: int) -> list[tuple[int, str, bytes]]:
    """(seq, event_id, payload) of an OU's rows after `seq` `after`, in arrival order."""
    return [(int(r[0]), str(r[1]), cast(bytes, r[2])) for r in conn.execute(
        "SELECT seq, event_id, payload FROM inbox WHERE seq > ? AND unit_id = ? ORDER BY seq", (after, unit_id))]


def queued_with_ids(conn: apsw.Connection, unit_id: str, after: int, event_ids: Sequence[str]) -> list[tuple[int, str]]:
    """(seq, event_id) of an OU's rows after `seq` `after` whose event id is one of `event_ids`."""
    return [(int(r[0]), str(r[1])) for r in conn.execute(
        "SELECT seq, event_id FROM inbox WHERE seq > ? AND unit_id = ?"
        " AND event_id IN (SELECT value FROM json_each(?))",
        (after, unit_id, json.dumps(list(event_ids))))]


def delete_rows(conn: apsw.Connection, seqs: Sequence[int]) -> int:
    """Delete rows by `seq` (those still there); how many went."""
    conn.execute("DELETE FROM inbox WHERE seq IN (SELECT value FROM json_each(?))", (json.dumps(list(seqs)),))
    return conn.changes()


def delete_unit_source(conn: apsw.Connection, unit_id: str, source: str) -> int:
    """Delete an OU's pending rows of one source (the demo data's, when it is removed)."""
    conn.execute("DELETE FROM inbox WHERE unit_id = ? AND source = ?", (unit_id, source))
    return conn.changes()


def progress(conn: apsw.Connection) -> int:
    """Main database: the last inbox `seq` the worker has handled."""
    return int(scalar(conn, "SELECT seq FROM inbox_progress WHERE id = 1") or 0)


def set_progress(conn: apsw.Connection, seq: int) -> None:
    """Main database, inside the transaction that stored what the rows up to `seq` brought."""
    conn.execute("UPDATE inbox_progress SET seq = ? WHERE id = 1", (seq,))


def number_after(conn: apsw.Connection, floor: int) -> None:
    """Inbox file: make the next row's `seq` greater than `floor` (a new or replaced inbox file must not number
    rows at or below what the worker has handled: they would be taken as done)."""
    current = int(scalar(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'inbox'") or 0)
    if current >= floor:
        return
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'inbox'", (floor,))
    if not conn.changes():
        conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('inbox', ?)", (floor,))


def parked(main: apsw.Connection, after: int) -> list[tuple[Any, ...]]:
    """Main database: parked inbox rows after `seq` `after` (a chunk), in order: (seq, then COLUMNS)."""
    return pending(main, after, _MOVE_CHUNK)


def moved_mark(conn: apsw.Connection) -> tuple[int, str]:
    """Inbox file: the main-database `seq` and event id of the last parked row moved here (0, "" if none)."""
    row = conn.execute("SELECT seq, event_id FROM parked_moved WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def parked_event_id(main: apsw.Connection, seq: int) -> str | None:
    """Main database: the event id of the parked row `seq`, if it is still there."""
    value = scalar(main, "SELECT event_id FROM inbox WHERE seq = ?", (seq,))
    return None if value is None else str(value)


def take_parked(conn: apsw.Connection, rows: Sequence[tuple[Any, ...]], keys: Sequence[tuple[Any, ...]]) -> None:
    """Inbox file: store parked rows (numbered anew, in order) and keys, and mark the last row moved."""
    park(conn, rows, keys)
    if rows:
        conn.execute("UPDATE parked_moved SET seq = ?, event_id = ? WHERE id = 1", (rows[-1][0], rows[-1][3]))


def drop_parked(main: apsw.Connection, upto: int, keys: bool) -> None:
    """Main database: forget parked rows at or below `upto` (moved), and the parked keys if `keys`."""
    main.execute("DELETE FROM inbox WHERE seq <= ?", (upto,))
    if keys:
        main.execute("DELETE FROM idempotency_keys")


def park(conn: apsw.Connection, rows: Sequence[tuple[Any, ...]], keys: Sequence[tuple[Any, ...]]) -> None:
    """Inbox rows ((seq, then COLUMNS), numbered anew in order) and idempotency keys added to a file's tables: a
    backup's copy of the main database parks them there for the start after a restore to move into a new inbox
    file, which takes them the same way (`take_parked`)."""
    insert(conn, [row[1:] for row in rows])
    conn.executemany(_INSERT_KEY, keys)


def all_keys(conn: apsw.Connection) -> list[tuple[Any, ...]]:
    """Every idempotency key (unit_id, key, event_id, created_at)."""
    return conn.execute("SELECT unit_id, key, event_id, created_at FROM idempotency_keys").fetchall()
