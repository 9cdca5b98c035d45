import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requiredText, numberIn, email, emailList, failures, invalidAttrs, sameName, INT_LIMIT, SESSION_TIMEOUT } from '../src/lib/validate.js';

test('a required name: blank or spaces say so, a long one names the limit', () => {
  assert.equal(requiredText('', 'Name'), 'Name is required');
  assert.equal(requiredText('   ', 'Name'), 'Name is required');
  assert.equal(requiredText(null, 'First name'), 'First name is required');
  assert.equal(requiredText('Hot', 'Name'), '');
  assert.equal(requiredText('x'.repeat(101), 'Name'), 'Name must be at most 100 characters');
  assert.equal(requiredText('x'.repeat(51), 'Name', { max: 50 }), 'Name must be at most 50 characters');
});

test('points are whole numbers within the API range', () => {
  assert.equal(numberIn(10, 'Points'), '');
  assert.equal(numberIn('-25', 'Points'), '');
  assert.equal(numberIn(INT_LIMIT, 'Points'), '');
  assert.equal(numberIn(2.5, 'Points'), 'Points must be a whole number');
  assert.equal(numberIn(INT_LIMIT + 1, 'Points'), 'Points must be between -1,000,000,000 and 1,000,000,000');
  assert.equal(numberIn('', 'Points'), 'Points is required');
  assert.equal(numberIn(null, 'Points', { required: false }), '');
  assert.equal(numberIn('abc', 'Points'), 'Points must be a number');
});

test('numeric settings have their own ranges; decimals where the API takes them', () => {
  assert.equal(numberIn(30, 'Session timeout', SESSION_TIMEOUT), '');
  assert.equal(numberIn(0, 'Session timeout', SESSION_TIMEOUT), 'Session timeout must be between 1 and 1,440');
  assert.equal(numberIn(2000, 'Session timeout', SESSION_TIMEOUT), 'Session timeout must be between 1 and 1,440');
  assert.equal(numberIn(0, 'The window', { min: 1 }), 'The window must be at least 1');
  assert.equal(numberIn(2.25, 'Multiplier cap', { min: 1, max: 3, whole: false }), '');
  assert.equal(numberIn(3.5, 'Multiplier cap', { min: 1, max: 3, whole: false }), 'Multiplier cap must be between 1 and 3');
});

test('email addresses, one or a comma-separated list', () => {
  assert.equal(email('ada@example.com'), '');
  assert.equal(email(' ada@example.com '), '');
  assert.equal(email(''), 'Email is required');
  assert.equal(email('ada@example'), 'Email must be an address such as name@company.com');
  assert.equal(email('ada example.com', 'Work email'), 'Work email must be an address such as name@company.com');
  assert.equal(emailList(''), '');
  assert.equal(emailList('a@x.io, b@y.io'), '');
  assert.equal(emailList('a@x.io, sales'), 'Email recipients: "sales" is not an email address');
});

test('a form keeps only its failing checks; an invalid field points at its message', () => {
  assert.deepEqual(failures({ name: 'Name is required', email: '' }), { name: 'Name is required' });
  assert.deepEqual(failures({ name: '' }), {});
  assert.deepEqual(invalidAttrs('Name is required', 'n-error'), { 'aria-invalid': 'true', 'aria-describedby': 'n-error' });
  assert.deepEqual(invalidAttrs('', 'n-error'), {});
});

test('a password is 8 to 256 characters; an edit may leave it empty', async () => {
  const { password } = await import('../src/lib/validate.js');
  assert.equal(password(''), 'Password is required');
  assert.equal(password('short'), 'Password must be at least 8 characters');
  assert.equal(password('x'.repeat(257)), 'Password must be at most 256 characters');
  assert.equal(password('long-enough'), '');
  assert.equal(password('', 'New password', { required: false }), '');
  assert.equal(password('short', 'New password', { required: false }), 'New password must be at least 8 characters');
});

test('a refusal naming a field becomes that field\'s message, in the form\'s words', async () => {
  const { fieldFromError } = await import('../src/lib/validate.js');
  const fields = [{ key: 'webhook_url', label: 'Webhook URL' }, { key: 'score_threshold', label: 'When the score reaches', what: 'The score' }];
  assert.deepEqual(fieldFromError('`webhook_url` refused: webhook URL must be http or https', fields),
    { key: 'webhook_url', message: 'Webhook URL must be http or https' });
  assert.deepEqual(fieldFromError('`score_threshold` must be at most 1000000000', fields),
    { key: 'score_threshold', message: 'The score must be at most 1000000000' });
  assert.equal(fieldFromError('`emails` must be a list', fields), null);
  assert.equal(fieldFromError('min_score (50) must not be greater than max_score (10)', fields), null);
  const levels = [{ key: 'min_score', label: 'From score' }, { key: 'max_score', label: 'To score (inclusive)', what: 'To score' }];
  assert.deepEqual(fieldFromError('`min_score` (50) must not be greater than `max_score` (10)', levels),
    { key: 'min_score', message: 'From score (50) must not be greater than to score (10)' });
});

test('a field with a warning beside it is described by it, without being invalid', () => {
  assert.deepEqual(invalidAttrs('', 'n-error', 'n-warning'), { 'aria-describedby': 'n-warning' });
  assert.deepEqual(invalidAttrs('Name is required', 'n-error', 'n-warning'),
    { 'aria-invalid': 'true', 'aria-describedby': 'n-error n-warning' });
});

test('a name another item already has is a warning, naming it as it is spelled', () => {
  const segments = [{ segment_id: 'sg_1', name: 'Hot leads' }, { segment_id: 'sg_2', name: 'Evaluators ' }];
  const noun = { noun: 'segment', idKey: 'segment_id' };
  assert.equal(sameName(' hot LEADS', segments, noun), 'Another segment is already called “Hot leads”');
  assert.equal(sameName('Evaluators', segments, noun), 'Another segment is already called “Evaluators”');
  assert.equal(sameName('Hot leads', segments, { ...noun, id: 'sg_1' }), ''); // its own name, when edited
  assert.equal(sameName('Cold leads', segments, noun), '');
  assert.equal(sameName('  ', segments, noun), '');
  assert.equal(sameName('Hot leads', null, noun), '');
});

test('a server sentence names API fields in the form\'s words', async () => {
  const { inFormWords } = await import('../src/lib/validate.js');
  const fields = [{ key: 'webhook_url', label: 'Webhook URL' }, { key: 'emails', label: 'Email recipients (comma-separated)' }];
  assert.equal(inFormWords('A sequence trigger needs a destination: `webhook_url`, `emails` or a Slack target', fields),
    'A sequence trigger needs a destination: webhook URL, email recipients or a Slack target');
  assert.equal(inFormWords('`slack_target_kind` and `slack_target_id` go together', fields),
    '`slack_target_kind` and `slack_target_id` go together');
});

test('a level band overlapping others is a warning naming them', async () => {
  const { overlappingBand } = await import('../src/lib/validate.js');
  const band = (l) => (l.max_score >= 1e9 ? `${l.min_score} and above` : `${l.min_score} – ${l.max_score}`);
  const levels = [{ stage_id: 'c', name: 'Hot', min_score: 60, max_score: 1e9 },
    { stage_id: 'a', name: 'Cold', min_score: 0, max_score: 19 }, { stage_id: 'b', name: 'Warm', min_score: 20, max_score: 59 }];
  const opts = { idKey: 'stage_id', band };
  const why = 'a score in more than one band gets the level that starts lowest';
  assert.equal(overlappingBand(30, 50, levels, opts), `Overlaps “Warm” (20 – 59): ${why}`);
  assert.equal(overlappingBand(50, 70, levels, opts), `Overlaps “Warm” (20 – 59) and “Hot” (60 and above): ${why}`);
  assert.equal(overlappingBand(10, '', levels, opts),
    `Overlaps “Cold” (0 – 19), “Warm” (20 – 59) and “Hot” (60 and above): ${why}`);
  assert.equal(overlappingBand(20, 59, levels, { ...opts, id: 'b' }), ''); // the level itself
  assert.equal(overlappingBand(-5, -1, levels, opts), '');
  assert.equal(overlappingBand('', 10, levels, opts), '');
  assert.equal(overlappingBand(30, 10, levels, opts), ''); // a backwards band is the range check's to say
});

test('a level name its kind already has is a refusal, as the API answers 409 for it', async () => {
  const { uniqueName } = await import('../src/lib/validate.js');
  const levels = [{ stage_id: 'st_1', name: 'Warm' }, { stage_id: 'st_2', name: 'Hot' }];
  const noun = { noun: 'level', idKey: 'stage_id' };
  assert.equal(uniqueName(' warm ', levels, noun), 'Another level is already called “Warm”: choose another name');
  assert.equal(uniqueName('Warm', levels, { ...noun, id: 'st_1' }), ''); // its own name, when edited
  assert.equal(uniqueName('Cold', levels, noun), '');
  assert.equal(uniqueName('', levels, noun), '');
});
