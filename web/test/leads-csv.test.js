import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LEADS_CSV_HEADER, leadCsvLine } from '../src/lib/leadsCsv.js';

test('a lead exports its name, email and company in columns of their own', () => {
  const lead = { id: 'ld_1', metadata: { first_name: 'Ana', last_name: 'Ruiz', company: 'Acme, Inc.' },
    aliases: [{ kind: 'phone', raw_value: '+1 555' }, { kind: 'email', raw_value: 'ana@acme.io' }], score: 12,
    level: 'Warm', profile_score: 3, profile_level: null, last_event_at: '2026-12-06T10:00:00Z',
    last_event_type: 'page_view', created_at: '2026-12-01T09:00:00Z', account_id: 'ac_1' };
  const cells = leadCsvLine(lead).split(',');
  assert.deepEqual(cells.slice(0, 4), ['ld_1', 'Ana Ruiz', 'ana@acme.io', '"Acme']);
  assert.equal(LEADS_CSV_HEADER.length, 13);
  assert.match(leadCsvLine(lead), /^ld_1,Ana Ruiz,ana@acme\.io,"Acme, Inc\.",12,Warm,3,,2026/);
});

test('a lead without a name leaves the name empty rather than repeating its id', () => {
  assert.match(leadCsvLine({ id: 'ld_2', metadata: {}, score: 0 }), /^ld_2,,,,0,/);
  assert.match(leadCsvLine({ id: 'ld_3', metadata: { email: ' m@x.io ' }, aliases: [{ kind: 'email', raw_value: 'a@x.io' }] }),
    /^ld_3,m@x\.io,m@x\.io,,/);
});

test('a negative score exports as a number and a formula-like name gets a leading quote', () => {
  assert.match(leadCsvLine({ id: 'ld_4', metadata: { name: '\uFF1DHYPERLINK("x")' }, score: -5 }),
    /^ld_4,"'\uFF1DHYPERLINK\(""x""\)",,,-5,/);
});
