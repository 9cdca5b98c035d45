// Why an event moved a score, read from what was stored when it was scored: never the rules, filters and decay
// rules of today presented as the reason (lib/scoreReason.js, shown by the score ledger and the Events screen).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterReason, floorText, scoreReason, scoredPoints } from '../src/lib/scoreReason.js';

const now = {
  rules: { rl_pv: { event_type: 'page_view', weight: 9 }, rl_demo: { event_type: 'demo_request', weight: 50 },
    rl_renamed: { event_type: 'webinar', weight: 4 }, rl_a: { event_type: 'page_view', weight: 2 },
    rl_b: { event_type: 'page_view', weight: 3 } },
  decays: { dc_1: { inactive_for: 1, unit: 'hours', decrease: 7, active: true } },
  filters: { ft_1: { event_type: 'page_view', count_threshold: 10, time_window_ms: 60000 } },
};
const scored = (over) => ({ event_type: 'page_view', scope: 'activate', rule_ids: ['rl_pv'], weight: 4, multiplier: 1,
  delta: 4, filtered_by: null, inorganic: false, decay: null, ...over });

test('a rule reads with the weight that applied; its weight of today only as its settings now', () => {
  assert.deepEqual(scoreReason(scored(), now), { applied: ['page_view (+4)'], notes: ["the rule's settings now: page_view (+9)"] });
  // unchanged since: nothing to add
  assert.deepEqual(scoreReason(scored({ rule_ids: ['rl_demo'], event_type: 'demo_request', weight: 50, delta: 50 }), now),
    { applied: ['demo_request (+50)'], notes: [] });
});

test('a renamed rule is named by the type it matched, a deleted one in words, never by its id', () => {
  assert.deepEqual(scoreReason(scored({ rule_ids: ['rl_renamed'] }), now),
    { applied: ['page_view (+4)'], notes: ["the rule's settings now: webinar (+4)"] });
  const gone = scoreReason(scored({ rule_ids: ['rl_gone'] }), now);
  assert.deepEqual(gone, { applied: ['page_view (+4)'], notes: ['by a rule since deleted'] });
  assert.ok(!JSON.stringify(gone).includes('rl_gone'));
  // several rules: their sum, as stored
  assert.deepEqual(scoreReason(scored({ rule_ids: ['rl_a', 'rl_b'], weight: 5, delta: 5 }), now),
    { applied: ['page_view (+5, 2 rules)'], notes: [] });
  assert.deepEqual(scoreReason(scored({ rule_ids: ['rl_a', 'rl_x'], weight: 5, delta: 5 }), now),
    { applied: ['page_view (+5, 2 rules)'], notes: ["the rules' settings now: page_view (+2), a rule since deleted"] });
});

test('a decay reads with the decrease it took; its rule of today only as its settings now', () => {
  const decay = scored({ event_type: 'DECAY', rule_ids: [], weight: -3, delta: -3, decay: { id: 'dc_1', decrease: 3 } });
  assert.deepEqual(scoreReason(decay, now),
    { applied: ['decay (−3)'], notes: ["the decay rule's settings now: 1 hour without activity: −7"] });
  assert.deepEqual(scoreReason({ ...decay, decay: { id: 'dc_gone', decrease: 3 } }, now),
    { applied: ['decay (−3)'], notes: ['by a decay rule since deleted'] });
  // floored: the score had 2 left
  assert.deepEqual(scoreReason({ ...decay, delta: -2 }, now).notes.at(-1),
    '-3 limited to -2 by the score floor at 0 (negative scores are off)');
});

test('an inorganic event names the filter by what it caught, its settings of today only as such', () => {
  const caught = scored({ delta: 0, filtered_by: 'ft_1', inorganic: true });
  assert.deepEqual(scoreReason(caught, now), { applied: ['page_view (+4)'],
    notes: ['scored 0: marked inorganic by the filter on page_view', "the filter's settings now: more than 10 in 60 s",
      "the rule's settings now: page_view (+9)"] });
  assert.deepEqual(filterReason('ft_gone', 'page_view', now.filters), { text: 'a filter since deleted', now: '' });
  assert.deepEqual(filterReason('ft_1', 'signup', now.filters),
    { text: 'the filter on signup', now: "the filter's settings now: on page_view, more than 10 in 60 s" });
});

test('a stored-only (observe) event says so, however many rules its type has', () => {
  assert.deepEqual(scoreReason(scored({ scope: 'observe', rule_ids: [], weight: 0, multiplier: null, delta: 0 }), now),
    { applied: [], notes: ['Stored only, not scored (processing: store only)'] });
  assert.deepEqual(scoreReason(scored({ rule_ids: [], weight: 0, multiplier: null, delta: 0 }), now).notes,
    ['Not scored in this ruleset']);
  assert.deepEqual(scoreReason(scored({ rule_ids: [], weight: 0, delta: 0 }), now).notes, ['no rule']);
});

test('the score floor is said where it cut a delta, and where it lifted a score left below 0', () => {
  assert.equal(scoredPoints(50, 1.25), 63);
  assert.equal(scoredPoints(-5, 1.5), -8);
  assert.equal(scoredPoints(3, 1.1), 3);
  assert.equal(floorText(4, 1.25, 5), '');
  assert.equal(floorText(-10, 1, 0), '-10 limited to 0 by the score floor at 0 (negative scores are off)');
  assert.equal(floorText(-3, 1, 5), '+5 instead of -3: the score was below 0 and negative scores are off, so it was lifted to 0');
  assert.equal(floorText(4, 1, 5), '+5 instead of +4: the score was below 0 and negative scores are off, so it was lifted to 0');
  const complaint = scored({ event_type: 'complaint', rule_ids: ['rl_c'], weight: -10, delta: 0 });
  assert.deepEqual(scoreReason(complaint, { rules: { rl_c: { event_type: 'complaint', weight: -10 } } }),
    { applied: ['complaint (-10)'], notes: ['-10 limited to 0 by the score floor at 0 (negative scores are off)'] });
});
