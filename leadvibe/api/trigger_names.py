"""The name a trigger gets when it is given none: what it watches, in words ("Score ≥ 1,000 on page_view",
"3+ page_view in 10 minutes", "page_view → pricing → demo_request", "2 x page_view in 1 day").

Event types are named as the OU names them (its first spelling of the type, Events → Event types), so a trigger
typed `Page View` in an OU whose events say `page_view` reads `page_view` wherever its name is shown (lists, the
Fired tab, deliveries, notifications). A name made this way follows the trigger's definition when it is edited;
a name a person gave stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apsw

from leadvibe.engine.normalize import type_key
from leadvibe.store.event_type_settings import display_name

TypeName = Callable[[str], str]


def _as_written(event_type: str) -> str:
    return event_type


def _window(row: dict[str, Any]) -> str:
    amount, unit = int(row["window_amount"]), str(row["window_unit"])
    return f"{amount} {unit[:-1] if amount == 1 and unit.endswith('s') else unit}"


def default_name(kind: str, row: dict[str, Any], type_name: TypeName = _as_written) -> str:
    """The name of a trigger of `kind` defined by `row` (its stored fields), its event types named by
    `type_name`."""
    if kind == "milestone":
        on = f" on {type_name(row['event_type'])}" if row.get("event_type") else ""
        return f"Score ≥ {int(row['score_threshold']):,}{on}"
    if kind == "surge":
        watched = type_name(row["event_type"]) if row.get("event_type") else "events"
        return f"{int(row['threshold_count']):,}+ {watched} in {_window(row)}"
    if kind == "sequence":
        return " → ".join(type_name(step) for step in row["event_steps"])
    if kind == "pattern":
        counts = ", ".join(f"{c['min_count']:,} x {type_name(c['event_type'])}" for c in row["conditions"])
        return f"{counts} in {_window(row)}"
    raise ValueError(f"unknown trigger kind {kind!r}")


def ou_type_names(conn: apsw.Connection, unit_id: str) -> TypeName:
    """Names event types as the OU does (a type it has not received keeps the spelling given)."""
    return lambda event_type: display_name(conn, unit_id, type_key(event_type) or "") or event_type


def name_for_update(kind: str, current: dict[str, Any], merged: dict[str, Any], type_name: TypeName) -> str | None:
    """The new name of an edited trigger whose name was made from its definition (as it is named now, or as it
    was written when made), made again from the edited one; None when a person named it."""
    made = {default_name(kind, current, type_name), default_name(kind, current)}
    if current.get("name") not in made:
        return None
    return default_name(kind, merged, type_name)
