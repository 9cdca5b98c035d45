import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionText, segmentRuleText, ruleGroups, valueless, conditionProblems, rulesFromGroups, allRulesOff } from '../src/lib/conditions.js';

test('conditions read as words', () => {
  assert.equal(conditionText('industry', 'in', 'software, fintech'), 'industry is one of software, fintech');
  assert.equal(conditionText('company_size', 'GREATER_THAN', '200'), 'company_size is greater than 200');
  assert.equal(conditionText('phone', 'exists', 'ignored'), 'phone has a value');
  assert.equal(conditionText('x', 'made_up', 'y'), 'x made up y');
  assert.ok(valueless('not_exists') && !valueless('equals'));
});

test('segment rules say which event they look at', () => {
  assert.equal(segmentRuleText({ rule_type: 'lead_metadata', field_name: 'plan', operator: 'equals', value: 'pro' }),
    'plan equals pro');
  assert.equal(segmentRuleText({ rule_type: 'event_metadata', event_type: 'page_view', field_name: 'page',
    operator: 'starts_with', value: '/pricing' }), 'has a page_view event whose page starts with /pricing');
  assert.equal(segmentRuleText({ rule_type: 'event_metadata', event_type: null, field_name: 'page',
    operator: 'exists' }), 'has an event whose page has a value');
});

test('rules group as the server combines them', () => {
  const groups = ruleGroups([
    { rule_id: 'c', logic_group: 1, order_index: 0, logic_op: 'AND' },
    { rule_id: 'a', logic_group: 0, order_index: 1, logic_op: 'AND' },
    { rule_id: 'b', logic_group: 0, order_index: 0, logic_op: 'or' },
    { rule_id: 'd', logic_group: 1, order_index: 1, logic_op: 'OR', active: false },
  ]);
  assert.deepEqual(groups.map((g) => [g.group, g.op, g.rules.map((r) => r.rule_id)]),
    [[0, 'OR', ['b', 'a']], [1, 'AND', ['c', 'd']]]);
});

test('a segment rule is checked as the API checks it', () => {
  const ok = { field: '', value: '' };
  assert.deepEqual(conditionProblems({ rule_type: 'lead_metadata', field_name: 'plan', operator: 'equals', value: 'pro' }), ok);
  assert.deepEqual(conditionProblems({ rule_type: 'event_metadata', field_name: 'plan', operator: 'exists', value: '' }), ok);
  assert.deepEqual(conditionProblems({ rule_type: 'event_metadata', field_name: ' ', operator: 'equals', value: ' ' }),
    { field: 'Event field is required', value: 'Value is required' });
  assert.equal(conditionProblems({ rule_type: 'lead_metadata', field_name: '', operator: 'in', value: ' , ' }).field,
    'Property is required');
  assert.equal(conditionProblems({ rule_type: 'lead_metadata', field_name: 'x', operator: 'in', value: ' , ' }).value,
    'List at least one value, such as software, fintech');
  assert.equal(conditionProblems({ rule_type: 'lead_metadata', field_name: 'x'.repeat(201), operator: 'exists' }).field,
    'Property must be at most 200 characters');
  assert.equal(conditionProblems({ rule_type: 'lead_metadata', field_name: 'x', operator: 'equals', value: 'v'.repeat(1001) }).value,
    'Value must be at most 1,000 characters');
});

test('a segment rule names its event type as the screen names it', () => {
  const rule = { rule_type: 'event_metadata', event_type: 'demo-request', field_name: 'plan', operator: 'exists' };
  assert.equal(segmentRuleText(rule, (t) => (t === 'demo-request' ? 'Demo Request' : t)),
    'has a Demo Request event whose plan has a value');
});

test('a group whose conditions are all switched off keeps its any/all', () => {
  const off = [
    { rule_id: 'a', logic_group: 0, order_index: 0, logic_op: 'OR', active: false },
    { rule_id: 'b', logic_group: 0, order_index: 1, logic_op: 'OR', active: false },
  ];
  assert.equal(ruleGroups(off)[0].op, 'OR');
  assert.ok(allRulesOff(off));
  assert.ok(!allRulesOff([{ ...off[0], active: true }, off[1]]));
  // Saved again, the group still sends OR.
  const groups = ruleGroups(off).map((g) => ({ op: g.op, rules: g.rules.map((r) => ({ ...r, event_type: '', field_name: 'x', operator: 'exists' })) }));
  assert.deepEqual(rulesFromGroups(groups).map((r) => [r.logic_op, r.active]), [['OR', false], ['OR', false]]);
});

test('rules are sent in the order shown, and read back in it', () => {
  const rule = (field_name, rule_type = 'lead_metadata') => ({ rule_type, field_name, event_type: 'page_view', operator: 'exists', value: '' });
  const sent = rulesFromGroups([
    { op: 'AND', rules: [rule('industry'), rule('page', 'event_metadata')] },
    { op: 'OR', rules: [rule('plan'), rule('url', 'event_metadata')] },
  ]);
  assert.deepEqual(sent.map((r) => [r.field_name, r.logic_group, r.order_index, r.event_type]),
    [['industry', 0, 0, null], ['page', 0, 1, 'page_view'], ['plan', 1, 2, null], ['url', 1, 3, 'page_view']]);
  // What the server stores (an order_index of 0 becomes the rule's place in the request) comes back as entered.
  const stored = sent.map((r, i) => ({ ...r, order_index: r.order_index || i })).reverse();
  assert.deepEqual(ruleGroups(stored).flatMap((g) => g.rules.map((r) => r.field_name)), ['industry', 'page', 'plan', 'url']);
});
