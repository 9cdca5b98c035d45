// Why an event moved a score by what it did, from what was stored when it was scored (or last replayed): the
// weight of the rules that matched, the multiplier applied, the decay's decrease, the filter that held it back. A
// rule, filter or decay rule may have changed or gone since (scores stay until a rescore), so their settings of
// today are never shown as the reason: only said as "now", beside it. The score ledger of a lead and the Events
// screen's explanation both read an event this way (components/ScoreReason.svelte).
import { decayText, fmtNumber, fmtSigned, PROCESSING } from './format.js';
import { typeKey } from './eventTypes.js';

/** `weight × multiplier` rounded as the server does (engine/scoring.py `round_half_away`): to 9 decimals first, so
 * binary noise does not decide, then halves away from zero. */
export function scoredPoints(weight, multiplier) {
  const x = Number((weight * multiplier).toFixed(9));
  return Math.sign(x) * Math.round(Math.abs(x));
}

/** What the score floor did to a delta (scoring.md, "How one event is scored": without negative scores a score
 * stops at 0, and one left below 0 is lifted to 0 by the next event that moves it); '' when it did nothing. */
export function floorText(weight, multiplier, delta) {
  const points = scoredPoints(weight, multiplier);
  if (points === delta) return '';
  if (delta > Math.max(points, 0)) { // a rise beyond the points: the score was below 0
    return `${fmtSigned(delta)} instead of ${fmtSigned(points)}: the score was below 0 and negative scores are off, so it was lifted to 0`;
  }
  return `${fmtSigned(points)} limited to ${fmtSigned(delta)} by the score floor at 0 (negative scores are off)`;
}

/** An inorganic filter's settings as the Inorganic filters tab reads them: "more than 10 in 60 s". */
const filterSettings = (f) => `more than ${fmtNumber(f.count_threshold)} in ${f.time_window_ms / 1000} s`;

/**
 * The filter that marked an event inorganic, named by what it caught (the event's type: it cannot have caught
 * another), with its settings of today said as such.
 * @param {string|null} filterId the stored `filtered_by`
 * @param {string} eventType the event's type
 * @param {Record<string, object>} filters filter_id → the filter as it is now
 * @param {(t: string) => string} name an event type's name in the OU
 * @returns {{ text: string, now: string }} "the filter on page_view" and "the filter's settings now: more than 10
 *   in 60 s"
 *   ('' when it is gone: the text then says it was deleted)
 */
export function filterReason(filterId, eventType, filters, name = String) {
  const f = filters?.[filterId];
  if (!f) return { text: 'a filter since deleted', now: '' };
  const moved = typeKey(f.event_type) !== typeKey(eventType) ? `on ${name(f.event_type)}, ` : '';
  return { text: `the filter on ${name(eventType)}`, now: `the filter's settings now: ${moved}${filterSettings(f)}` };
}

const ruleNow = (r, name) => (r ? `${name(r.event_type)} (${fmtSigned(r.weight)})${r.active === false ? ', off' : ''}`
  : 'a rule since deleted');

/**
 * Why one event moved a score in one ruleset, from what was stored when it was scored.
 * @param {object} s what was stored: `event_type`, `scope` (the processing scope it got), `rule_ids` and `weight`
 *   (the rules that matched and the sum of their weights), `multiplier` (the multiplier applied: null when the
 *   ruleset did not score it), `delta`, `filtered_by` (the filter that held it back), `inorganic` (marked when it
 *   arrived) and `decay` ({ id, decrease } of a DECAY event's metadata, else null)
 * @param {{ rules?: object, decays?: object, filters?: object }} now id → each rule, decay rule and filter as it is
 *   now: only to name them, and to say how they read today
 * @param {(t: string) => string} name an event type's name in the OU
 * @returns {{ applied: string[], notes: string[] }} `applied`: what scored it ("page_view (+4)", "decay (−3)");
 *   `notes`: the rest in words (not scored, no rule, held back by a filter, the floor, a rule deleted or changed)
 */
export function scoreReason(s, now = {}, name = String) {
  if (s.scope === 'observe') {
    return { applied: [], notes: [`Stored only, not scored (processing: ${PROCESSING.observe.toLowerCase()})`] };
  }
  if (s.multiplier === null || s.multiplier === undefined) return { applied: [], notes: ['Not scored in this ruleset'] };
  const ids = s.rule_ids || [];
  const applied = [];
  const notes = [];
  if (s.decay) {
    const decrease = s.decay.decrease ?? -s.weight;
    applied.push(`decay (${decrease > 0 ? '−' : ''}${fmtNumber(Math.abs(decrease))})`);
    const rule = now.decays?.[s.decay.id];
    notes.push(rule ? `the decay rule's settings now: ${decayText({ [s.decay.id]: rule }, s.decay.id)}${rule.active === false ? ' (off)' : ''}`
      : 'by a decay rule since deleted');
  } else if (ids.length) {
    applied.push(`${name(s.event_type)} (${fmtSigned(s.weight)}${ids.length > 1 ? `, ${ids.length} rules` : ''})`);
    const rules = ids.map((id) => now.rules?.[id]);
    const same = rules.every((r) => r && r.active !== false && typeKey(r.event_type) === typeKey(s.event_type))
      && rules.reduce((sum, r) => sum + r.weight, 0) === s.weight;
    if (!same) {
      const texts = rules.map((r) => ruleNow(r, name));
      if (ids.length === 1) notes.push(rules[0] ? `the rule's settings now: ${texts[0]}` : 'by a rule since deleted');
      else notes.push(`the rules' settings now: ${texts.join(', ')}`);
    }
  } else if (!s.weight) {
    notes.push('no rule');
  }
  if (s.filtered_by && s.delta === 0) { // held back: said first, before how the rules read now
    const f = filterReason(s.filtered_by, s.event_type, now.filters, name);
    notes.unshift(`scored 0: marked inorganic by ${f.text}`, ...(f.now ? [f.now] : []));
  } else {
    if (s.inorganic) notes.push('marked inorganic when it arrived; a rescore since scored it');
    const floor = floorText(s.weight || 0, s.multiplier, s.delta);
    if (floor) notes.push(floor);
  }
  return { applied, notes };
}
