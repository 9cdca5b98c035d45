// The score ledger and the rule-draft diff: pure logic the lead and scoring screens rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildLedger, scoreSeries } from '../src/screens/lead/ledger.js';
import { ruleChanges, backtestRules } from '../src/screens/scoring/draft.js';

// As GET /leads/{id}/activity answers: `score` is the score after the event, as it was scored (in arrival order).
const ev = (id, t, delta, score) => ({ id, timestamp: `2025-01-0${t}T10:00:00Z`, score_delta: delta, score });

test('each row shows the score it left, newest row first', () => {
  const ledger = buildLedger([ev('c', 3, -5, 45), ev('b', 2, 40, 50), ev('a', 1, 10, 10)], 45);
  assert.deepEqual(ledger.rows.map((r) => [r.id, r.before, r.after]), [['c', 50, 45], ['b', 10, 50], ['a', 0, 10]]);
  assert.equal(ledger.broughtForward, 0);
  assert.equal(ledger.sum, 45);
  assert.equal(ledger.outOfOrder, false);
});

test('events older than the window are brought forward so the deltas still add up to the score', () => {
  const ledger = buildLedger([ev('b', 2, 5, 30)], 30);
  assert.equal(ledger.broughtForward, 25);
  assert.deepEqual(ledger.rows.map((r) => [r.before, r.after, r.outOfOrder]), [[25, 30, false]]);
});

test('an event that arrived out of time order shows the score it met, not a sum of deltas in time order', () => {
  // A complaint (-10) arrived first, at 0, and was floored to 0; the demo request timestamped before it came next
  // (0 → 50); a decay took 3. Summed in time order the complaint would read 50 → 50.
  const ledger = buildLedger([ev('decay', 3, -3, 47), ev('complaint', 2, 0, 0), ev('demo', 1, 50, 50)], 47);
  assert.deepEqual(ledger.rows.map((r) => [r.id, r.before, r.after, r.outOfOrder]),
    [['decay', 50, 47, true], ['complaint', 0, 0, true], ['demo', 0, 50, false]]);
  assert.equal(ledger.outOfOrder, true);
  // The chart adds the stored deltas in time order (ending at the score): the stored 0 of the complaint, plotted
  // at its time, would draw the lead at 0 until the decay, which it never was after the demo request arrived.
  const day = (d) => Date.parse(`2025-01-0${d}T10:00:00Z`) / 1000;
  assert.deepEqual(scoreSeries(ledger), [[day(1), day(2), day(3)], [50, 50, 47]]);
});

test('an event the ruleset did not score (stored only) has no score and no point on the chart', () => {
  const ledger = buildLedger([ev('obs', 2, 0, null), ev('a', 1, 10, 10)], 10);
  assert.deepEqual(ledger.rows.map((r) => [r.id, r.before, r.after, r.outOfOrder]), [['obs', null, null, false], ['a', 0, 10, false]]);
  const t = Date.parse('2025-01-01T10:00:00Z') / 1000;
  assert.deepEqual(scoreSeries(ledger), [[t - 60, t], [0, 10]]);
});

test('the chart series is oldest first and keeps the later score within one second', () => {
  const ledger = buildLedger([ev('c', 2, 1, 16), ev('b', 2, 10, 15), ev('a', 1, 5, 5)], 16);
  const day = (d) => Date.parse(`2025-01-0${d}T10:00:00Z`) / 1000;
  assert.deepEqual(scoreSeries(ledger), [[day(1), day(2)], [5, 16]]);
});

test('events all in one second start from the score the first of them found a minute earlier', () => {
  const ledger = buildLedger([ev('b', 1, 5, 40), ev('a', 1, 10, 35)], 40); // 25 brought forward
  const t = Date.parse('2025-01-01T10:00:00Z') / 1000;
  assert.deepEqual(scoreSeries(ledger), [[t - 60, t], [25, 40]]);
});

const stored = [
  { rule_id: 'rl_1', event_type: 'page_view', weight: 1, active: true, start_at: null, end_at: null },
  { rule_id: 'rl_2', event_type: 'demo_request', weight: 40, active: true, start_at: null, end_at: null },
];
const draftOf = (rules) => rules.map((r) => ({ ...r, key: r.rule_id, start_at: '', end_at: '' }));

test('an unchanged draft makes no calls', () => {
  assert.deepEqual(ruleChanges('rs_1', stored, draftOf(stored)), []);
});

test('edits, additions and removals become PUT, POST and DELETE (deletions first)', () => {
  const draft = draftOf(stored);
  draft[0].weight = 3;
  draft.splice(1, 1);
  draft.push({ key: 'new', rule_id: null, event_type: ' webinar ', weight: '20', active: true, start_at: '', end_at: '' });
  draft.push({ key: 'blank', rule_id: null, event_type: '  ', weight: 1, active: true, start_at: '', end_at: '' });
  assert.deepEqual(ruleChanges('rs_1', stored, draft), [
    { method: 'DELETE', path: '/rules/rl_2' },
    { method: 'PUT', path: '/rules/rl_1', body: { event_type: 'page_view', weight: 3, active: true, start_at: null, end_at: null } },
    { method: 'POST', path: '/rules', body: { event_type: 'webinar', weight: 20, active: true, start_at: null, end_at: null, ruleset_id: 'rs_1' } },
  ]);
  assert.deepEqual(backtestRules(draft).map((r) => [r.event_type, r.weight]), [['page_view', 3], ['webinar', 20]]);
});

test('a saved draft says what the rescore did, or that an inactive ruleset is not rescored', async () => {
  const { savedText } = await import('../src/screens/scoring/draft.js');
  assert.equal(savedText({ ruleset_id: 'rs_1', leads_rescored: 207, changed: 35 }), 'Rules saved; 207 leads rescored, 35 scores changed.');
  assert.equal(savedText({ ruleset_id: 'rs_1', leads_rescored: 1, changed: 1 }), 'Rules saved; 1 lead rescored, 1 score changed.');
  assert.equal(savedText(null), 'Rules saved. The ruleset is inactive, so scores stay as they are.');
});
