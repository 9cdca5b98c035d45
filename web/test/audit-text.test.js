import { test } from 'node:test';
import assert from 'node:assert/strict';
import { auditText, withArticle } from '../src/lib/auditText.js';

test('changes read as a verb and what they changed, with its id', () => {
  assert.equal(auditText('DELETE', '/segments/sg_vzz'), 'Deleted segment sg_vzz');
  assert.equal(auditText('POST', '/segments'), 'Created a segment');
  assert.equal(auditText('DELETE', '/settings/event-types/trial_signup'), 'Deleted every event of type trial_signup');
  assert.equal(auditText('POST', '/org-units/unit_default/memberships'),
    'Added a member to OU unit_default, or changed their role');
  assert.equal(auditText('PUT', '/segments/sg_1/rules/sr_2'), 'Changed rule sr_2 of segment sg_1');
  assert.equal(auditText('PATCH', '/leads/ld%20x/metadata'), 'Changed the metadata of lead ld x');
  assert.equal(auditText('DELETE', '/triggers/milestones/tr_1'), 'Deleted milestone trigger tr_1');
  assert.equal(auditText('PUT', '/levels/profile/lv_1'), 'Changed fit level lv_1');
  assert.equal(auditText('POST', '/accounts/rulesets/rs_1/rules'), 'Created a rule of account ruleset rs_1');
});

test('actions read as what they did; fixed words are not taken for ids', () => {
  assert.equal(auditText('POST', '/auth/login'), 'Signed in');
  assert.equal(auditText('POST', '/leads/merge'), 'Merged leads');
  assert.equal(auditText('POST', '/org-units/active'), 'Switched the active OU');
  assert.equal(auditText('POST', '/rulesets/rs_1/rescore'), 'Rescored ruleset rs_1');
  assert.equal(auditText('POST', '/admin/seed'), 'Loaded sample data');
  assert.equal(auditText('DELETE', '/settings/event-types/page_view'), 'Deleted every event of type page_view');
  assert.equal(auditText('POST', '/import?x=1'), 'Imported a CSV of events');
});

test('a path or method the API does not have reads as nothing (the request shows as it was)', () => {
  assert.equal(auditText('POST', '/no-such'), '');
  assert.equal(auditText('GET', '/admin/seed'), '');
  assert.equal(auditText('HEAD', '/segments'), '');
});

test('what was created takes the article its first sound wants', () => {
  assert.equal(auditText('POST', '/levels/engagement'), 'Created an engagement level');
  assert.equal(auditText('POST', '/levels/account'), 'Created an account level');
  assert.equal(auditText('POST', '/levels/profile'), 'Created a fit level');
  assert.equal(auditText('POST', '/accounts/rulesets'), 'Created an account ruleset');
  assert.equal(auditText('POST', '/accounts/mappings'), 'Created an account field mapping');
  assert.equal(auditText('POST', '/profile/rulesets'), 'Created a fit ruleset');
  assert.equal(auditText('POST', '/profile/mappings'), 'Created a fit field mapping');
  assert.equal(auditText('POST', '/triggers/milestones'), 'Created a milestone trigger');
  assert.equal(auditText('POST', '/filters'), 'Created an inorganic filter');
  assert.equal(withArticle('OU'), 'an OU');
  assert.equal(withArticle('segment'), 'a segment');
});

test('no created thing reads with the wrong article', () => {
  // Every path the dashboard names, as created: "a" before a consonant, "an" before a vowel.
  const paths = ['/org-units', '/members', '/secrets', '/leads', '/rulesets', '/rules', '/decays', '/filters', '/surge-triggers',
    '/segments', '/segments/sg_1/rules', ...['engagement', 'profile', 'account'].map((k) => `/levels/${k}`),
    ...['/profile', '/accounts'].flatMap((b) => [`${b}/rulesets`, `${b}/mappings`, `${b}/rulesets/rs_1/rules`]),
    ...['pattern', 'milestone', 'sequence'].map((k) => `/triggers/${k}s`)];
  for (const path of paths) {
    const text = auditText('POST', path);
    assert.match(text, /^Created (a [^aeiou]|an [aeiou])/i, `${path}: ${text}`);
  }
});

test('an entry that kept the name of what it touched says it after the words', () => {
  assert.equal(auditText('DELETE', '/secrets/sec_1', 'CRM sync'), 'Deleted API credential sec_1 “CRM sync”');
  assert.equal(auditText('PUT', '/rulesets/rs_1', 'Campaign Q3'), 'Changed ruleset rs_1 “Campaign Q3”');
  assert.equal(auditText('DELETE', '/secrets/sec_1', null), 'Deleted API credential sec_1');
  assert.equal(auditText('GET', '/nowhere', 'x'), '');
});
