import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filtersFromRows, leadFilterFields, milestoneFields, sequenceFields, patternFields } from '../src/screens/triggers/fields.js';

test('filter rows become profile filters: blank rows skipped, no value where the condition takes none', () => {
  assert.deepEqual(filtersFromRows([
    { field: ' industry ', operator: 'in', value: 'software, fintech ' },
    { field: '', operator: 'equals', value: 'x' },
    { field: 'phone', operator: 'exists', value: 'ignored' },
    { field: 'company_size', operator: 'greater_than', value: 200 },
    { field: 'nickname', operator: 'equals', value: '  ' },
  ]), [
    { field: 'industry', operator: 'in', value: 'software, fintech' },
    { field: 'phone', operator: 'exists', value: null },
    { field: 'company_size', operator: 'greater_than', value: '200' },
    { field: 'nickname', operator: 'equals', value: null },
  ]);
});

test('a segment and a fit level are picked; other filters stay as rows; nothing is lost on a round trip', () => {
  const segments = [{ segment_id: 'sg_1', name: 'Evaluators' }];
  const fields = Object.fromEntries(leadFilterFields(segments, [{ name: 'Ideal fit' }]).map((f) => [f.key, f]));
  const trigger = { profile_filters: [
    { field: 'segment', operator: 'equals', value: 'sg_1' },
    { field: 'industry', operator: 'in', value: 'software, fintech' },
    { field: 'profile_level', operator: 'equals', value: 'Ideal fit' },
  ] };
  assert.equal(fields.only_for.show(trigger), 'leads in Evaluators · Ideal fit leads · industry is one of software, fintech');
  const values = { segment_filter: fields.segment_filter.toForm(trigger), level_filter: fields.level_filter.toForm(trigger),
    profile_filters: fields.profile_filters.toForm(trigger) };
  assert.deepEqual(values, { segment_filter: 'sg_1', level_filter: 'Ideal fit',
    profile_filters: [{ field: 'industry', operator: 'in', value: 'software, fintech' }] });
  assert.equal(fields.segment_filter.toApi(values.segment_filter, values), undefined);
  assert.deepEqual(new Set(fields.profile_filters.toApi(values.profile_filters, values).map(JSON.stringify)),
    new Set(trigger.profile_filters.map(JSON.stringify)));
  assert.equal(fields.only_for.show({ profile_filters: [] }), 'any lead');
});

test('without segments or fit levels only the rows remain', () => {
  assert.deepEqual(leadFilterFields([], []).map((f) => f.key), ['only_for', 'profile_filters']);
});

test('trigger lists name event types as the screen names them', () => {
  const names = { typeName: (t) => ({ 'demo-request': 'Demo Request', page_view: 'Page View' }[t] ?? t) };
  const column = (fields, key) => fields.find((f) => f.key === key);
  assert.equal(column(milestoneFields, 'event_type').show({ event_type: 'demo-request' }, names), 'Demo Request');
  assert.equal(column(milestoneFields, 'event_type').show({ event_type: '' }, names), 'any');
  assert.equal(column(sequenceFields, 'event_types').show({ event_steps: ['page_view', 'demo-request'] }, names),
    'Page View → Demo Request');
  assert.equal(column(patternFields, 'conditions').show({ conditions: [{ event_type: 'page_view', min_count: 5 }] }, names),
    '5× Page View');
});
