import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleAccountsNote, sampleSummary } from '../src/screens/settings/sampleCounts.js';

test('sample data counts read as things a person knows, singular for one, bookkeeping left out', () => {
  const removed = { decay_events: 65, events: 1787, lead_scores: 201, lead_aliases: 200, trigger_state: 4,
    trigger_events: 4, event_scores: 2, leads_unlinked: 1, segment_rules: 3, segments: 1, fit_rules: 10, leads: 200,
    orders: 0 };
  assert.equal(sampleSummary(removed), '200 leads, 1,787 events, 65 score decays, 10 fit and account rules, '
    + '1 segment, 4 trigger firings, 1 lead of yours unlinked from its sample account');
  assert.equal(sampleSummary({ new_table: 2 }), '2 new table');
  assert.equal(sampleSummary({}), '');
});

test('the seed answer says whether the sample companies have account pages', () => {
  assert.match(sampleAccountsNote({ abm_enabled: true }), /listed under Accounts/);
  assert.match(sampleAccountsNote({ abm_enabled: false }), /organization admin turns it on in Scoring → Settings/);
  assert.equal(sampleAccountsNote({}), '');
});
