"""The lead property index (`lead_props`, `property_keys`): lead metadata as rows segment SQL can range-scan.

Every write of a live lead's metadata calls `sync` in the same transaction with the old and new metadata, so the
index is never behind; deleting or merging a lead calls `drop`. A row is one (property path, atom, lead) as
`engine.conditions` defines them (`property_paths`, `property_atoms`): a path is a top-level key or a dotted path
into nested objects, an atom a scalar piece of its value (list elements one by one). Each atom is stored as its
folded text and, when it reads as a number, its numeric value — the two forms the condition operators compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import apsw

from leadvibe.db.rows import placeholders
from leadvibe.engine.conditions import number_form, property_atoms, property_paths, text_form

# (path, is_num, num, fold)
Row = tuple[str, int, float, str]


def index_rows(metadata: Mapping[str, Any] | None) -> set[Row]:
    """The index rows of one lead's metadata."""
    rows: set[Row] = set()
    for path, value in property_paths(metadata or {}).items():
        for atom in property_atoms(value):
            number = number_form(atom)
            rows.add((path, 0 if number is None else 1, 0.0 if number is None else float(number), text_form(atom)))
    return rows


def key_ids(conn: apsw.Connection, unit_id: str, names: Iterable[str], create: bool = False) -> dict[str, int]:
    """name -> key id of the OU's property names (unknown names are created when `create`, else left out)."""
    wanted = list(dict.fromkeys(names))
    out: dict[str, int] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        for key_id, name in conn.execute(
            f"SELECT id, name FROM property_keys WHERE unit_id = ? AND name IN ({placeholders(len(chunk))})",
            (unit_id, *chunk),
        ):
            out[name] = int(key_id)
    if create:
        for name in wanted:
            if name not in out:
                conn.execute(
                    "INSERT INTO property_keys (unit_id, name, top_level) VALUES (?,?,?)",
                    (unit_id, name, int(_top_level(name))),
                )
                out[name] = int(conn.last_insert_rowid())
    return out


def _top_level(name: str) -> bool:
    # Nested paths are written with dots; a top-level key that itself contains a dot is still top level, which
    # `sync` records when it meets the key as such (see `mark_top_level`).
    return "." not in name


def sync(
    conn: apsw.Connection,
    unit_id: str,
    lead_rowid: int,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
) -> None:
    """Bring the lead's index rows from `old` metadata to `new` (only the difference is written)."""
    before, after = index_rows(old), index_rows(new)
    gone, added = before - after, after - before
    if not gone and not added:
        return
    ids = key_ids(conn, unit_id, {r[0] for r in gone | added}, create=bool(added))
    if gone:
        conn.executemany(
            "DELETE FROM lead_props WHERE key_id = ? AND is_num = ? AND num = ? AND fold = ? AND lead_rowid = ?",
            [(ids[p], is_num, num, fold, lead_rowid) for p, is_num, num, fold in gone if p in ids],
        )
    if added:
        conn.executemany(
            "INSERT OR IGNORE INTO lead_props (key_id, is_num, num, fold, lead_rowid) VALUES (?,?,?,?,?)",
            [(ids[p], is_num, num, fold, lead_rowid) for p, is_num, num, fold in added],
        )
    top = [str(k) for k in (new or {}) if "." in str(k)]
    if top:
        mark_top_level(conn, unit_id, top)


def mark_top_level(conn: apsw.Connection, unit_id: str, names: Sequence[str]) -> None:
    """Record that these dotted names occur as top-level keys (they are listed as properties)."""
    conn.executemany(
        "UPDATE property_keys SET top_level = 1 WHERE unit_id = ? AND name = ? AND top_level = 0",
        [(unit_id, n) for n in names],
    )


def drop(conn: apsw.Connection, unit_id: str, lead_ids: Sequence[str]) -> None:
    """Remove the index rows (and kept segment memberships) of these leads of the OU (before they are deleted or
    merged away)."""
    for i in range(0, len(lead_ids), 500):
        chunk = list(lead_ids[i : i + 500])
        for table in ("lead_props", "segment_members"):
            conn.execute(
                f"DELETE FROM {table} WHERE lead_rowid IN (SELECT rowid FROM leads WHERE unit_id = ?"
                f" AND id IN ({placeholders(len(chunk))}))",
                (unit_id, *chunk),
            )


def drop_where(conn: apsw.Connection, unit_id: str, where: str, params: Sequence[Any]) -> None:
    """Remove the index rows (and kept segment memberships) of the OU's leads matching `where` (SQL over `leads`
    columns fixed by the caller)."""
    for table in ("lead_props", "segment_members"):
        conn.execute(
            f"DELETE FROM {table} WHERE lead_rowid IN (SELECT rowid FROM leads WHERE unit_id = ? AND ({where}))",
            (unit_id, *params),
        )


def top_level_names(conn: apsw.Connection, unit_id: str) -> list[str]:
    """Top-level property names some live lead of the OU holds a value for, sorted."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT k.name FROM property_keys k WHERE k.unit_id = ? AND k.top_level = 1"
            " AND EXISTS (SELECT 1 FROM lead_props p WHERE p.key_id = k.id) ORDER BY k.name",
            (unit_id,),
        )
    ]
