"""Replays: recompute leads' scores from their stored events, in arrival order, through the same engine code
the live worker uses (so an unchanged configuration reproduces the same scores)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace

import apsw

from leadvibe.engine.replay import ReplayEvent, replay_lead
from leadvibe.engine.surge import advance_session
from leadvibe.pipeline.scoring_config import OUConfig
from leadvibe.pipeline.worker import replay_event_from_row
from leadvibe.store import events as ev_store


def _lead_events(conn: apsw.Connection, unit_id: str, lead_id: str) -> list[tuple[int, ReplayEvent]]:
    rows = conn.execute("SELECT seq, id, type_key, occurred_at, scope, decay_id, metadata FROM events"
                        " WHERE unit_id = ? AND lead_id = ? ORDER BY seq", (unit_id, lead_id)).fetchall()
    return [(r[0], replay_event_from_row(r[1], r[2], r[3], r[4], r[5], r[6])) for r in rows]


def rescore_leads(conn: apsw.Connection, cfg: OUConfig, lead_ids: Iterable[str] | None, now: int,
                  ruleset_ids: Collection[str] | None = None) -> int:
    """Rewrite event_scores, lead_scores (and, for a full rescore, the events' filter/surge columns and the lead
    session state) of the given leads (None: every live lead of the OU). Returns how many leads were replayed."""
    unit_id = cfg.unit_id
    if lead_ids is None:
        lead_ids = [r[0] for r in conn.execute(
            "SELECT id FROM leads WHERE unit_id = ? AND merged_into IS NULL", (unit_id,)).fetchall()]
    scoring = cfg.scoring
    partial = ruleset_ids is not None
    if partial:
        wanted = set(ruleset_ids or ())
        scoring = replace(scoring, rulesets=tuple(r for r in scoring.rulesets if r.ruleset_id in wanted))
    targets = set(ruleset_ids) if partial else None
    count = 0
    for lead_id in dict.fromkeys(lead_ids):
        events = _lead_events(conn, unit_id, lead_id)
        outcomes, finals = replay_lead([e for _, e in events], scoring)
        if partial:
            conn.executemany("DELETE FROM event_scores WHERE ruleset_id = ? AND event_seq IN"
                             " (SELECT seq FROM events WHERE unit_id = ? AND lead_id = ?)",
                             [(rs, unit_id, lead_id) for rs in targets or ()])
            conn.executemany("DELETE FROM lead_scores WHERE unit_id = ? AND lead_id = ? AND ruleset_id = ?",
                             [(unit_id, lead_id, rs) for rs in targets or ()])
        else:
            conn.execute("DELETE FROM event_scores WHERE event_seq IN (SELECT seq FROM events WHERE unit_id = ?"
                         " AND lead_id = ?)", (unit_id, lead_id))
            conn.execute("DELETE FROM lead_scores WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))
        session_count, last_session = 0, None
        id_by_event = {e.event_id: seq for seq, e in events}
        flags = []
        for (seq, event), outcome in zip(events, outcomes, strict=True):
            ev_store.insert_scores(conn, unit_id, lead_id, seq, outcome.scores)
            if not event.processed or event.decay_decrease is not None:
                continue
            if outcome.session_index == 1:
                session_count += 1
            # Filter and surge outcomes belong to the event, not to a ruleset: a partial replay decides them the
            # same way, so they are rewritten either way (a deleted filter must stop marking events inorganic).
            grouped = outcome.grouped_with
            flags.append((int(outcome.filtered_by is not None), outcome.filtered_by,
                          grouped if grouped in id_by_event else None, outcome.multiplier, outcome.session_index, seq))
        conn.executemany("UPDATE events SET inorganic = ?, filtered_by = ?, grouped_with = ?, multiplier = ?,"
                         " session_index = ? WHERE seq = ?", flags)
        # has_delta spans every ruleset, so it is read back from the stored rows rather than from this replay.
        conn.execute("UPDATE events SET has_delta = EXISTS (SELECT 1 FROM event_scores s WHERE s.event_seq = events.seq"
                     " AND s.delta != 0) WHERE unit_id = ? AND lead_id = ?", (unit_id, lead_id))
        ev_store.save_many_lead_scores(conn, [(unit_id, rs, lead_id, score, now) for rs, score in finals.items()])
        if not partial:
            # The session after the last event depends only on the timestamps of the events that advance it,
            # so it is rebuilt without scoring them again.
            idle_ms = scoring.policy.idle_reset_seconds * 1000
            for _, e in events:
                if e.processed and e.decay_decrease is None:
                    last_session = advance_session(last_session, e.ts_ms, idle_ms)
            conn.execute("UPDATE leads SET session_n = ?, session_last_ts = ?, session_started_at = ?,"
                         " session_count = ?, updated_at = ? WHERE unit_id = ? AND id = ?",
                         (last_session.count if last_session else 0, last_session.last_ts if last_session else None,
                          last_session.started_at if last_session else None, session_count, now, unit_id, lead_id))
        count += 1
    return count
