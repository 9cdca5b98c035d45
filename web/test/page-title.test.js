import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageTitle } from '../src/lib/pageTitle.js';

test('each screen has a tab title of its own, the product name after it', () => {
  assert.equal(pageTitle('leads'), 'Leads · LeadVibe');
  assert.equal(pageTitle('lead', { id: 'ld_1' }), 'Lead · LeadVibe');
  assert.equal(pageTitle('signin'), 'Sign in · LeadVibe');
  assert.equal(pageTitle('missing'), 'Page not found · LeadVibe');
});

test('one segment is "Segment", the list "Segments"; an unknown route is the product name alone', () => {
  assert.equal(pageTitle('segments'), 'Segments · LeadVibe');
  assert.equal(pageTitle('segments', { id: 'sg_1' }), 'Segment · LeadVibe');
  assert.equal(pageTitle('nowhere'), 'LeadVibe');
});
