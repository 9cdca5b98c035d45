import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageTitle, SUBJECT_MAX } from '../src/lib/pageTitle.js';

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

test('a record\'s screen puts what it shows first, as its heading says it; none keeps the screen\'s name', () => {
  assert.equal(pageTitle('lead', { id: 'ld_1' }, 'Jane Doe'), 'Jane Doe · Lead · LeadVibe');
  assert.equal(pageTitle('account', { id: 'ac_1' }, 'Acme Inc'), 'Acme Inc · Account · LeadVibe');
  assert.equal(pageTitle('segments', { id: 'sg_1' }, 'Hot leads'), 'Hot leads · Segment · LeadVibe');
  // loading, or not found: the generic title
  assert.equal(pageTitle('lead', { id: 'ld_1' }, ''), 'Lead · LeadVibe');
  assert.equal(pageTitle('lead', { id: 'ld_1' }, undefined), 'Lead · LeadVibe');
  assert.equal(pageTitle('account', { id: 'ac_1' }, '   '), 'Account · LeadVibe');
  // an unknown route stays the product name alone
  assert.equal(pageTitle('nowhere', {}, 'Jane Doe'), 'LeadVibe');
});

test('a subject is one line, and a long one is cut to 60 characters with an ellipsis', () => {
  assert.equal(SUBJECT_MAX, 60);
  assert.equal(pageTitle('lead', { id: 'ld_1' }, '  Jane\n  Doe '), 'Jane Doe · Lead · LeadVibe');
  const exact = 'x'.repeat(60);
  assert.equal(pageTitle('lead', { id: 'ld_1' }, exact), `${exact} · Lead · LeadVibe`);
  const long = 'Jane Doe of the very long name that goes on and on past any tab width at all';
  const title = pageTitle('lead', { id: 'ld_1' }, long);
  const subject = title.slice(0, title.indexOf(' · Lead · LeadVibe'));
  assert.ok(subject.endsWith('…'));
  assert.ok(Array.from(subject).length <= 60);
  assert.ok(long.startsWith(subject.slice(0, -1)));
  // cut by character, not by UTF-16 unit: an emoji at the cut is kept whole or left out
  const emoji = pageTitle('lead', { id: 'ld_1' }, `${'a'.repeat(58)}😀😀😀`);
  assert.equal(emoji, `${'a'.repeat(58)}😀… · Lead · LeadVibe`);
});
