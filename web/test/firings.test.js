import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowText, surgeRow, mergeFirings } from '../src/screens/triggers/firings.js';

test('a surge window in its largest whole unit', () => {
  assert.equal(windowText(600), '10 minutes');
  assert.equal(windowText(86_400), '1 day');
  assert.equal(windowText(90), '90 seconds');
  assert.equal(windowText(7_200), '2 hours');
});

test('a surge row names its lead and its trigger', () => {
  const r = { id: 's1', trigger_id: 'st1', lead_id: 'ld_1', threshold_count: 5, window_seconds: 600, score: 40,
    created_at: '2026-12-06T10:00:00Z', lead_name: 'Jane Doe' };
  const row = surgeRow(r, { trigger: { trigger_id: 'st1', event_type: 'page_view' }, typeName: () => 'Page view' });
  assert.equal(row.trigger_name, 'Surge: 5 Page view events in 10 minutes');
  assert.equal(row.lead_name, 'Jane Doe');
  assert.equal(row.fired_at, r.created_at);
  assert.equal(row.score_after, 40);
  assert.equal(surgeRow({ ...r, lead_name: null }).lead_name, ''); // a lead without a name: its id is shown
  assert.equal(surgeRow(r).trigger_name, 'Surge: 5 events in 10 minutes');
});

test('all kinds merge newest first', () => {
  const m = [{ id: 'm2', fired_at: '2026-12-06T10:05:00Z' }, { id: 'm1', fired_at: '2026-12-06T09:00:00Z' }];
  const s = [{ id: 's1', fired_at: '2026-12-06T10:00:00Z' }];
  assert.deepEqual(mergeFirings([m, [], s]).map((r) => r.id), ['m2', 's1', 'm1']);
});
