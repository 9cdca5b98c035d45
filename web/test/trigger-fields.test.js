import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConditions, stepList, destination, sequenceFields, patternFields, surgeFields, milestoneFields, sequenceSteps } from '../src/screens/triggers/fields.js';
import { unseenTypes } from '../src/lib/eventTypes.js';

const field = (fields, key) => fields.find((f) => f.key === key);

test('pattern conditions read "type:count" or a bare type; anything else is named', () => {
  assert.deepEqual(parseConditions('page_view:5, demo_request'),
    { conditions: [{ event_type: 'page_view', min_count: 5 }, { event_type: 'demo_request', min_count: 1 }], problem: '' });
  assert.deepEqual(parseConditions(' page_view : 2 ').conditions, [{ event_type: 'page_view', min_count: 2 }]);
  assert.equal(parseConditions('content_download three times').problem,
    '“content_download three times” is not an event type and a count: write it as content_download:3');
  assert.match(parseConditions('page_view:0').problem, /whole number of at least 1/);
  assert.match(parseConditions('page_view:2.5').problem, /whole number of at least 1/);
  assert.match(parseConditions('page_view:three').problem, /whole number of at least 1/);
  assert.match(parseConditions('page_view:').problem, /whole number of at least 1/);
  assert.match(parseConditions('a:1:2').problem, /not an event type and a count/);
  assert.equal(parseConditions('  ').problem, 'Conditions are required');
  // the form checks and sends the same parse
  const conditions = field(patternFields, 'conditions');
  assert.match(conditions.check('content_download three times'), /content_download:3/);
  assert.deepEqual(conditions.toApi('webinar_attend:2'), [{ event_type: 'webinar_attend', min_count: 2 }]);
});

test('sequence steps split on commas, semicolons and arrows', () => {
  assert.deepEqual(stepList('Pricing View; Demo Request'), ['Pricing View', 'Demo Request']);
  assert.deepEqual(stepList('pricing_page_view → demo_request, signup -> trial_start'),
    ['pricing_page_view', 'demo_request', 'signup', 'trial_start']);
  const steps = field(sequenceFields, 'event_types');
  assert.deepEqual(steps.toApi('a;b'), ['a', 'b']);
  assert.equal(steps.check(' ; '), 'Steps are required');
  assert.equal(steps.check('a'), '');
});

test('event types the OU never received are a warning, in any spelling', () => {
  assert.equal(unseenTypes(['Page View', 'demo-request'], ['page_view', 'demo_request']), '');
  assert.equal(unseenTypes(['page_veiw'], ['page_view']),
    'No event of type “page_veiw” arrived in this OU yet: check the spelling (saving still works)');
  assert.match(unseenTypes(['a', 'b', 'a'], ['c']), /No events of type “a”, “b” arrived/);
  assert.equal(unseenTypes(['a'], []), ''); // no event arrived yet: every type is unseen, nothing to tell
  assert.equal(unseenTypes(['a'], null), ''); // not read yet: no warning
  // the types each form field names, for that warning
  assert.deepEqual(field(sequenceFields, 'event_types').types('a → b'), ['a', 'b']);
  assert.deepEqual(field(patternFields, 'conditions').types('a:2, b'), ['a', 'b']);
  assert.deepEqual(field(surgeFields, 'event_type').types(' '), []); // empty: any type
  assert.deepEqual(field(surgeFields, 'event_type').types(' Page View '), ['Page View']);
  assert.deepEqual(field(milestoneFields, 'event_type').types('demo_request'), ['demo_request']);
});

test('a sequence without a webhook or email recipients is said beside both fields, unless it has a Slack target', () => {
  const webhook = field(sequenceFields, 'webhook_url');
  const emails = field(sequenceFields, 'emails');
  const none = { webhook_url: '', emails: ' ' };
  assert.equal(webhook.check('', none), 'A sequence needs a webhook URL or email recipients');
  assert.equal(emails.check(' ', none), 'A sequence needs a webhook URL or email recipients');
  assert.equal(webhook.check('', none, { slack_target_id: 'C1' }), '');
  assert.equal(webhook.check('', { webhook_url: '', emails: 'a@b.co' }), '');
  assert.match(emails.check('nope', { webhook_url: 'https://x.io', emails: 'nope' }), /not an email address/);
});

test('plain labels with an example', () => {
  assert.match(field(patternFields, 'conditions').label, /^Conditions: event type and how many times, e\.g\. page_view:5/);
  assert.match(field(sequenceFields, 'event_types').label, /^Steps: event types, separated by commas, e\.g\./);
});

test('a webhook the server switched off reads "webhook (off)"', () => {
  assert.equal(destination({ webhook_url: 'https://demo.invalid', webhook_disabled: true }), 'webhook (off)');
  assert.equal(destination({ webhook_url: 'https://x.io', webhook_disabled: false, emails: ['a@b.co'] }), 'webhook, 1 email');
  assert.equal(destination({ emails: [] }), 'none');
});

test('a Slack target is picked by name and sent as kind and id; one the lists lack is kept', async () => {
  const { slackTargetField, withSlackTarget } = await import('../src/screens/triggers/fields.js');
  const f = slackTargetField([{ id: 'C1', name: 'sales' }], [{ id: 'U2', label: 'Bo Berg (@bo)' }]);
  assert.deepEqual(f.options(null), [['', 'The OU’s default Slack target'], ['channel:C1', '#sales'], ['user:U2', 'Bo Berg (@bo)']]);
  const listed = { slack_target_kind: 'user', slack_target_id: 'U2' };
  assert.equal(f.toForm(listed), 'user:U2');
  assert.equal(f.options(listed).length, 3);
  const privateChannel = { slack_target_kind: 'channel', slack_target_id: 'G9' };
  assert.deepEqual(f.options(privateChannel)[1], ['channel:G9', 'Channel G9']);
  assert.equal(f.toForm({ slack_target_id: null }), '');

  assert.deepEqual(withSlackTarget({ name: 'x', slack_target: 'user:U2' }),
    { name: 'x', slack_target_kind: 'user', slack_target_id: 'U2' });
  assert.deepEqual(withSlackTarget({ slack_target: '' }), { slack_target_kind: null, slack_target_id: null });
  assert.deepEqual(withSlackTarget({ name: 'x' }), { name: 'x' }); // Slack not connected: nothing said about it
});

test('a sequence with only a Slack target sends somewhere; email texts left blank keep the defaults', () => {
  const webhook = field(sequenceFields, 'webhook_url');
  assert.equal(webhook.check('', { webhook_url: '', emails: '', slack_target: 'channel:C1' }, null), '');
  assert.match(webhook.check('', { webhook_url: '', emails: '', slack_target: '' }, null), /needs a webhook URL/);
  // without the Slack field (not connected), a target kept from before counts
  assert.equal(webhook.check('', { webhook_url: '', emails: '' }, { slack_target_id: 'C1' }), '');
  for (const fields of [milestoneFields, sequenceFields, patternFields, surgeFields]) {
    assert.equal(field(fields, 'email_subject').toApi('  '), null);
    assert.equal(field(fields, 'email_preheader').toApi(' {{score}} points '), '{{score}} points');
    assert.equal(field(fields, 'email_message').toApi(' Hi {{lead_id}} '), 'Hi {{lead_id}}');
    assert.equal(field(fields, 'description').toApi(''), null);
  }
});

test('a surge trigger sends to exactly one destination, said beside both fields', () => {
  const webhook = field(surgeFields, 'webhook_url');
  const emails = field(surgeFields, 'emails');
  const both = { webhook_url: 'https://x.io', emails: 'a@b.co' };
  assert.match(webhook.check(both.webhook_url, both), /one destination.*not both/);
  assert.match(emails.check(both.emails, both), /one destination.*not both/);
  const none = { webhook_url: ' ', emails: '' };
  assert.equal(emails.check('', none), 'A surge trigger needs a webhook URL or email recipients');
  assert.equal(webhook.check('https://x.io', { webhook_url: 'https://x.io', emails: '' }), '');
  assert.equal(emails.check('a@b.co', { webhook_url: '', emails: 'a@b.co' }), '');
});

test('a sequence joins its steps with an arrow only when they must happen in order', () => {
  assert.equal(sequenceSteps({ event_steps: ['a', 'b'], ordered: true }), 'a → b');
  assert.equal(sequenceSteps({ event_steps: ['a', 'b'], ordered: false }), 'a + b');
  assert.equal(field(sequenceFields, 'event_types').show({ event_steps: ['a', 'b'], ordered: false }, { typeName: (t) => t.toUpperCase() }), 'A + B');
});
