"""Per-OU scoring configuration, loaded once and cached until an endpoint that changes it invalidates it."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import apsw
import msgspec

from leadvibe.db.rows import query, query_one
from leadvibe.engine.dispatch import Dispatch
from leadvibe.engine.filters import InorganicFilter
from leadvibe.engine.levels import Level
from leadvibe.engine.replay import ScoringConfig
from leadvibe.engine.scoring import Rule, Ruleset
from leadvibe.engine.surge import Band, build_policy

T = TypeVar("T")


@dataclass(frozen=True)
class OUConfig:
    """Everything the worker and replays need to score events of one OU."""

    unit_id: str
    org_id: str
    scoring: ScoringConfig
    primary_ruleset_id: str | None
    ruleset_names: dict[str, str]
    levels: tuple[Level, ...]
    scopes: dict[str, str] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()

    @property
    def active_ruleset_ids(self) -> tuple[str, ...]:
        """Ids of the rulesets that score events."""
        return tuple(r.ruleset_id for r in self.scoring.rulesets if r.active)

    def scope_for(self, type_key: str) -> str:
        """Processing scope of an event type (`activate` unless configured)."""
        return self.scopes.get(type_key, "activate")

    @functools.cached_property
    def dispatch(self) -> Dispatch:
        """The scoring configuration compiled for live scoring, on first use: the cache hands out a new OUConfig
        after any change, so it is compiled once per configuration, not per batch."""
        return Dispatch(self.scoring)


def load_config(conn: apsw.Connection, unit_id: str) -> OUConfig:
    """Read the OU's scoring configuration inside the caller's transaction."""
    unit = query_one(conn, "SELECT u.org_id, u.session_timeout_minutes, o.allow_negative_scores FROM org_units u"
                           " JOIN organizations o ON o.id = u.org_id WHERE u.id = ?", (unit_id,))
    if unit is None:
        raise LookupError(f"unknown OU {unit_id}")
    rulesets_rows = query(conn, "SELECT id, name, is_primary, active FROM rulesets WHERE unit_id = ?"
                                " ORDER BY created_at, id", (unit_id,))
    rules_rows = query(conn, "SELECT id, ruleset_id, type_key, weight, active, start_at, end_at FROM rules"
                             " WHERE unit_id = ?", (unit_id,))
    by_set: dict[str, list[Rule]] = {}
    for r in rules_rows:
        by_set.setdefault(r["ruleset_id"], []).append(
            Rule(r["id"], r["type_key"], int(r["weight"]), bool(r["active"]), r["start_at"], r["end_at"]))
    rulesets = tuple(Ruleset(rs["id"], bool(rs["active"]), tuple(by_set.get(rs["id"], ())))
                     for rs in rulesets_rows)
    primary = next((rs["id"] for rs in rulesets_rows if rs["is_primary"]), None)
    filters = tuple(InorganicFilter(f["id"], f["type_key"], int(f["count_threshold"]), int(f["time_window_ms"]),
                                    bool(f["group_events"]))
                    for f in query(conn, "SELECT id, type_key, count_threshold, time_window_ms, group_events"
                                         " FROM inorganic_filters WHERE unit_id = ? ORDER BY created_at, id",
                                   (unit_id,)))
    default_idle = int(unit["session_timeout_minutes"]) * 60
    saved = query_one(conn, "SELECT mode, bands, idle_reset_seconds, multiplier_cap FROM surge_policies"
                            " WHERE unit_id = ?", (unit_id,))
    if saved is None:
        policy = build_policy("standard", default_idle_seconds=default_idle)
    else:
        bands = [Band(int(b["min_events"]), float(b["multiplier"])) for b in msgspec.json.decode(saved["bands"])]
        policy = build_policy(saved["mode"], bands, int(saved["idle_reset_seconds"]), float(saved["multiplier_cap"]),
                              default_idle_seconds=default_idle)
    levels = tuple(Level(lv["id"], lv["name"], int(lv["min_score"]), int(lv["max_score"]))
                   for lv in query(conn, "SELECT id, name, min_score, max_score FROM levels"
                                         " WHERE unit_id = ? AND kind = 'engagement'", (unit_id,)))
    settings_rows = query(conn, "SELECT type_key, hidden, max_processing_scope FROM event_type_settings"
                                " WHERE unit_id = ?", (unit_id,))
    scopes = {r["type_key"]: r["max_processing_scope"] for r in settings_rows}
    hidden = frozenset(r["type_key"] for r in settings_rows if r["hidden"])
    scoring = ScoringConfig(rulesets, policy, filters, bool(unit["allow_negative_scores"]))
    return OUConfig(unit_id, unit["org_id"], scoring, primary, {rs["id"]: rs["name"] for rs in rulesets_rows},
                    levels, scopes, hidden)


class UnitCache(Generic[T]):
    """OU id -> whatever `loader(conn, unit_id)` builds. Loads lazily inside the caller's connection; `invalidate`
    after the writes it depends on. Shared by the scoring and the fit configuration caches."""

    def __init__(self, loader: Callable[[apsw.Connection, str], T]) -> None:
        self._loader = loader
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()
        self._generation = 0
        # Told of every invalidation: the worker process keeps caches of its own (pipeline.worker_process).
        self.listener: Callable[[str | None], None] | None = None

    def get(self, conn: apsw.Connection, unit_id: str) -> T:
        """The cached value, loading it if absent or invalidated."""
        item = self._items.get(unit_id)
        if item is not None:
            return item
        with self._lock:
            generation = self._generation
        item = self._loader(conn, unit_id)
        with self._lock:
            # An invalidation that raced the load wins: don't cache what may already be stale.
            if generation == self._generation:
                self._items[unit_id] = item
        return item

    def invalidate(self, unit_id: str | None = None) -> None:
        """Forget one OU's value (or every OU's)."""
        with self._lock:
            self._generation += 1
            if unit_id is None:
                self._items.clear()
            else:
                self._items.pop(unit_id, None)
        if self.listener is not None:
            self.listener(unit_id)


class ConfigCache(UnitCache[OUConfig]):
    """OU id -> OUConfig (the scoring configuration)."""

    def __init__(self) -> None:
        super().__init__(load_config)
