"""Plans of the writer's per-event queries: each reads an index alone, never a row per matching event."""

from __future__ import annotations

import apsw

from leadvibe.db.migrate import apply_migrations
from leadvibe.store import events


def test_the_filter_window_is_counted_from_the_index_alone() -> None:
    # It runs for every event of a filtered type, over every earlier event of the lead and type in the window:
    # a row fetch per counted event made a bot-like lead's events cost in proportion to its burst.
    conn = apsw.Connection(":memory:")
    apply_migrations(conn)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + events.FILTER_WINDOW, ("u", "ld", "t", 0, 1))]
    assert plan == ["SEARCH events USING COVERING INDEX events_lead_type_time"
                    " (unit_id=? AND lead_id=? AND type_key=? AND occurred_at>? AND occurred_at<?)"], plan
