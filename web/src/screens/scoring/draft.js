// A ruleset's rules as an editable draft, and the API calls that turn a saved draft into the stored rules.

import { counted } from '../../lib/format.js';

const iso = (local) => (local ? new Date(local).toISOString() : null);

/** datetime-local value (browser time zone) for an RFC 3339 time, or ''. */
export function toLocalInput(isoTime) {
  if (!isoTime) return '';
  const d = new Date(isoTime);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function draftFromRules(rules) {
  return rules.map((r) => ({
    key: r.rule_id, rule_id: r.rule_id, event_type: r.event_type, weight: r.weight, active: r.active,
    start_at: toLocalInput(r.start_at), end_at: toLocalInput(r.end_at),
  }));
}

/** The draft as POST /rulesets/{id}/backtest takes it. */
export function backtestRules(draft) {
  return draft.filter((r) => r.event_type.trim()).map((r) => ({
    event_type: r.event_type.trim(), weight: Number(r.weight), active: r.active,
    start_at: iso(r.start_at), end_at: iso(r.end_at),
  }));
}

/** The changes that make the stored rules equal the draft: [{method, path, body}] in a safe order. */
export function ruleChanges(rulesetId, stored, draft) {
  const byId = new Map(stored.map((r) => [r.rule_id, r]));
  const kept = new Set();
  const calls = [];
  for (const d of draft) {
    if (!d.event_type.trim()) continue;
    const body = { event_type: d.event_type.trim(), weight: Number(d.weight), active: d.active,
      start_at: iso(d.start_at), end_at: iso(d.end_at) };
    const old = d.rule_id && byId.get(d.rule_id);
    if (!old) {
      calls.push({ method: 'POST', path: '/rules', body: { ...body, ruleset_id: rulesetId } });
      continue;
    }
    kept.add(d.rule_id);
    const same = old.event_type === body.event_type && old.weight === body.weight && old.active === body.active
      && (old.start_at ? new Date(old.start_at).toISOString() : null) === body.start_at
      && (old.end_at ? new Date(old.end_at).toISOString() : null) === body.end_at;
    if (!same) calls.push({ method: 'PUT', path: `/rules/${encodeURIComponent(d.rule_id)}`, body });
  }
  for (const r of stored) {
    if (!kept.has(r.rule_id)) calls.unshift({ method: 'DELETE', path: `/rules/${encodeURIComponent(r.rule_id)}` });
  }
  return calls;
}

/**
 * What a saved draft did, in the words of the rescore's answer (`POST /rulesets/{id}/rescore`: `leads_rescored`,
 * `changed`), or null for an inactive ruleset, which is not rescored.
 */
export function savedText(result) {
  if (!result) return 'Rules saved. The ruleset is inactive, so scores stay as they are.';
  return `Rules saved; ${counted(result.leads_rescored, 'lead')} rescored, ${counted(result.changed, 'score')} changed.`;
}
