"""Field mappings: how a value arriving in an event's (or a lead's) metadata lands in a profile or account
property. Pure: plain data in, new properties out.

SEMANTICS §6, and the choices it leaves open:

- A mapping reads ``source[source_field]`` (exact key, else a dotted path, as rules read properties). An absent
  or ``null`` source value changes nothing.
- ``always_latest`` (default) writes the value; ``set_once`` writes it only while the property is absent or
  ``null``; ``append`` appends it to ``<property>_list``, keeping the last ``APPEND_KEEP`` values (every value
  arrives, repeats included; a non-list already stored there counts as a one-element list).
- Several mappings may feed one property; they apply in the order given (the store orders them by creation),
  so the last one holding a value wins for ``always_latest``.
- Replaying history (``replay_mappings``, the backfill) gives what the mappings would have produced had they
  existed all along: ``always_latest`` takes the last value of the sequence, ``set_once`` the first (unless
  the property already has one), ``append`` the last ``APPEND_KEEP`` values of the sequence. Replaying twice
  gives the same properties.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from leadvibe.engine.conditions import lookup

__all__ = [
    "APPEND_KEEP",
    "UPDATE_BEHAVIORS",
    "FieldMapping",
    "apply_mappings",
    "list_property",
    "replay_mappings",
    "set_by_hand",
]

UPDATE_BEHAVIORS: tuple[str, ...] = ("always_latest", "set_once", "append")
APPEND_KEEP = 10


def list_property(prop: str) -> str:
    """Where an ``append`` mapping onto ``prop`` keeps its values."""
    return f"{prop}_list"


@dataclass(frozen=True, slots=True)
class FieldMapping:
    """``source_field`` -> ``property`` with an update behavior."""

    mapping_id: str
    source_field: str
    prop: str
    behavior: str = "always_latest"

    def __post_init__(self) -> None:
        if self.behavior not in UPDATE_BEHAVIORS:
            raise ValueError(
                f"unknown update_behavior {self.behavior!r}; expected one of: {', '.join(UPDATE_BEHAVIORS)}"
            )

    @property
    def written_property(self) -> str:
        """The property this mapping writes (``<property>_list`` for ``append``)."""
        return list_property(self.prop) if self.behavior == "append" else self.prop


def _same(a: object, b: object) -> bool:
    """Equal as JSON values (``1``, ``1.0`` and ``true`` are different values to a property's reader)."""
    return type(a) is type(b) and a == b


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def apply_mappings(
    mappings: Sequence[FieldMapping], properties: Mapping[str, object], source: Mapping[str, object]
) -> dict[str, object] | None:
    """The properties after one arriving ``source`` (an event's metadata, or the changed part of a lead's
    metadata), or None when nothing changed."""
    out: dict[str, object] | None = None
    for m in mappings:
        value = lookup(source, m.source_field)
        if value is None:
            continue
        current = out if out is not None else properties
        if m.behavior == "always_latest":
            if m.prop in current and _same(current[m.prop], value):
                continue
            new_value: object = value
        elif m.behavior == "set_once":
            if current.get(m.prop) is not None:
                continue
            new_value = value
        else:
            new_value = [*_as_list(current.get(m.written_property)), value][-APPEND_KEEP:]
        if out is None:
            out = dict(properties)
        out[m.written_property] = new_value
    return out


def set_by_hand(mappings: Sequence[FieldMapping], properties: Mapping[str, object],
                sources: Sequence[Mapping[str, object]], arrived: Sequence[int], written_at: int | None) -> set[str]:
    """The ``always_latest`` properties the lead holds that were written by hand (at ``written_at``) after the
    last of ``sources`` (its events' metadata, arrived at ``arrived``) that carries a value for them: had the
    mappings existed all along, that later write would have had the last word."""
    if written_at is None:
        return set()
    last: dict[str, int] = {}
    for source, at in zip(sources, arrived, strict=True):
        for m in mappings:
            if m.behavior == "always_latest" and lookup(source, m.source_field) is not None:
                last[m.prop] = at
    return {m.prop for m in mappings if m.behavior == "always_latest" and properties.get(m.prop) is not None
            and last.get(m.prop, written_at) < written_at}


def replay_mappings(
    mappings: Sequence[FieldMapping], properties: Mapping[str, object], sources: Iterable[Mapping[str, object]],
    kept: Iterable[str] = (),
) -> dict[str, object] | None:
    """The properties the mappings would have produced over ``sources`` (oldest first), or None when that is
    what ``properties`` already holds. ``kept``: properties left as they are (``set_by_hand``)."""
    first: dict[str, object] = {}
    latest: dict[str, object] = {}
    appended: dict[str, list[object]] = {}
    for source in sources:
        for m in mappings:
            value = lookup(source, m.source_field)
            if value is None:
                continue
            if m.behavior == "always_latest":
                latest[m.prop] = value
            elif m.behavior == "set_once":
                first.setdefault(m.prop, value)
            else:
                appended.setdefault(m.written_property, []).append(value)
    out = dict(properties)
    for prop, value in first.items():
        if out.get(prop) is None:
            out[prop] = value
    for prop in kept:
        latest.pop(prop, None)
    out.update(latest)
    for prop, values in appended.items():
        out[prop] = values[-APPEND_KEEP:]
    changed = out.keys() != properties.keys() or any(not _same(out[k], properties[k]) for k in out)
    return out if changed else None
