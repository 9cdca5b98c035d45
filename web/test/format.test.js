import { test } from 'node:test';
import assert from 'node:assert/strict';
import { counted, csvCell, decayText, leadHint, leadInText, leadLabel, levelFor, levelRows, levelScores } from '../src/lib/format.js';

test('a lead reads as its name, then first and last name, then email, then id', () => {
  assert.equal(leadLabel({ id: 'ld_a', metadata: { name: 'Ada', email: 'a@x.io' } }), 'Ada');
  assert.equal(leadLabel({ id: 'ld_a', metadata: { first_name: 'Grace', last_name: ' Hopper ' } }), 'Grace Hopper');
  assert.equal(leadLabel({ id: 'ld_a', metadata: { email: 'a@x.io', name: '  ' } }), 'a@x.io');
  assert.equal(leadLabel({ id: 'ld_a', metadata: { company: 'Acme', name: 5 } }), 'ld_a');
});

test('a lead made from an email alias alone reads as that address, from its list row or its aliases', () => {
  const aliases = [{ kind: 'phone', raw_value: '+1 555' }, { kind: 'email', raw_value: 'Jo@X.io' },
    { kind: 'email', raw_value: 'later@x.io' }];
  assert.equal(leadLabel({ id: 'ld_a', metadata: {}, aliases }), 'Jo@X.io');
  assert.equal(leadLabel({ id: 'ld_a', metadata: {} }, aliases), 'Jo@X.io');
  assert.equal(leadLabel({ id: 'ld_a', metadata: { email: 'meta@x.io' }, aliases }), 'meta@x.io');
  assert.equal(leadLabel({ id: 'ld_a', metadata: {}, aliases: [{ kind: 'phone', raw_value: '+1 555' }] }), 'ld_a');
});

test('decay rules read as what they do now; a gone one by its id', () => {
  const decays = { dc_1: { inactive_for: 14, unit: 'days', decrease: 10 }, dc_2: { inactive_for: 1, unit: 'weeks', decrease: 3 } };
  assert.equal(decayText(decays, 'dc_1'), '14 days without activity: −10');
  assert.equal(decayText(decays, 'dc_2'), '1 week without activity: −3');
  assert.equal(decayText(decays, 'dc_gone'), 'decay rule dc_gone');
});

test('a multiplier reads without trailing zeros, and not at all where nothing was scored', async () => {
  const { fmtMultiplier } = await import('../src/lib/format.js');
  assert.equal(fmtMultiplier(1), '×1');
  assert.equal(fmtMultiplier(1.25), '×1.25');
  assert.equal(fmtMultiplier(1.5), '×1.5');
  assert.equal(fmtMultiplier(null), '—');
});

test('counts take the singular for one', () => {
  assert.equal(counted(1, 'lead'), '1 lead');
  assert.equal(counted(1200, 'lead'), '1,200 leads');
  assert.equal(counted(2, 'match', 'matches'), '2 matches');
});

test('a chart axis reads in days a day apart, in hours with the date under each first tick of a day', async () => {
  const { fmtAxisTimes } = await import('../src/lib/format.js');
  const at = (d, h = 0) => new Date(2026, 10, d, h).getTime() / 1000;
  assert.deepEqual(fmtAxisTimes([at(13), at(16), at(19)]), ['13 Nov', '16 Nov', '19 Nov']);
  assert.deepEqual(fmtAxisTimes([at(13, 20), at(13, 22), at(14, 0), at(14, 2)]),
    ['20:00\n13 Nov', '22:00', '00:00\n14 Nov', '02:00']);
});

test('a chart axis of events seconds apart reads in seconds, and never writes one time twice', async () => {
  const { fmtAxisTimes } = await import('../src/lib/format.js');
  const at = (s, ms = 0) => new Date(2026, 10, 13, 10, 0, s, ms).getTime() / 1000;
  assert.deepEqual(fmtAxisTimes([at(0), at(10), at(20), at(30)]), ['10:00:00\n13 Nov', '10:00:10', '10:00:20', '10:00:30']);
  // ticks under a second apart: each second once, the ticks between them blank
  assert.deepEqual(fmtAxisTimes([at(0), at(0, 500), at(1), at(1, 500)]), ['10:00:00\n13 Nov', '', '10:00:01', '']);
});

test('a usage period reads as its first and last day (the end is exclusive), in UTC', async () => {
  const { fmtPeriodUtc } = await import('../src/lib/format.js');
  assert.equal(fmtPeriodUtc('2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'), '1 Dec 2026 – 31 Dec 2026');
});

test('metadata values read as text: lists of plain values comma-separated, other objects as JSON', async () => {
  const { fmtValue } = await import('../src/lib/format.js');
  assert.equal(fmtValue(['/pricing', '/docs', 3]), '/pricing, /docs, 3');
  assert.equal(fmtValue([{ a: 1 }]), '[{"a":1}]');
  assert.equal(fmtValue({ plan: 'pro' }), '{"plan":"pro"}');
  assert.equal(fmtValue(null), '—');
  assert.equal(fmtValue(false), 'false');
  assert.equal(fmtValue(350), '350');
});

test('a lead found by search is told apart by its email alias and company, its name not repeated', () => {
  const aliases = [{ kind: 'phone', raw_value: '+1 555' }, { kind: 'email', raw_value: 'jon@acme.io' }];
  assert.equal(leadHint({ id: 'ld_a', name: 'Jon Chen', company: 'Acme', aliases }), 'jon@acme.io · Acme');
  assert.equal(leadHint({ id: 'ld_a', name: 'jon@acme.io', company: null, aliases }), '');
  assert.equal(leadHint({ id: 'ld_a', name: 'Jon Chen', company: 'Globex', aliases: [] }), 'Globex');
  assert.equal(leadHint({ id: 'ld_a', name: null }), '');
});

test('a lead in running text is its name then its id, or the id alone', () => {
  assert.equal(leadInText('Jon Chen', 'ld_1'), 'Jon Chen (ld_1)');
  assert.equal(leadInText('ld_1', 'ld_1'), 'ld_1');
  assert.equal(leadInText('', 'ld_1'), 'ld_1');
});

test('a level counts the scores it gets: its band less those of bands that start lower (the server\'s rule)', () => {
  const cold = { stage_id: 'a', name: 'Cold', min_score: 0, max_score: 49 };
  const warm = { stage_id: 'b', name: 'Warm', min_score: 30, max_score: 79 };
  const hot = { stage_id: 'c', name: 'Hot', min_score: 50, max_score: 1_000_000_000 };
  const top = { stage_id: 'd', name: 'Scorching', min_score: 150, max_score: 1_000_000_000 };
  const twin = { stage_id: 'e', name: 'Twin', min_score: 0, max_score: 10 }; // same start as Cold: the lower id wins
  const levels = [top, hot, warm, cold, twin];
  assert.deepEqual(levelScores(levels, cold), { min_score: 0, max_score: 49 });
  assert.equal(levelScores(levels, twin), null);
  assert.deepEqual(levelScores(levels, warm), { min_score: 50, max_score: 79 });
  assert.deepEqual(levelScores(levels, hot), { min_score: 80, max_score: 1_000_000_000 });
  assert.equal(levelScores(levels, top), null); // Hot holds every score of it
  // each score's level is the one whose counted scores hold it
  for (const score of [0, 10, 29, 30, 49, 50, 79, 80, 149, 150, 10_000]) {
    const owner = levels.filter((l) => { const b = levelScores(levels, l); return b && b.min_score <= score && score <= b.max_score; });
    assert.deepEqual(owner, [levelFor(levels, score)], `score ${score}`);
  }
});

test('leads per level are counted in the scores each level gets, highest band first', async () => {
  const levels = [{ stage_id: 'a', name: 'Cold', min_score: 0, max_score: 49 },
    { stage_id: 'b', name: 'Hot', min_score: 50, max_score: 1_000_000_000 },
    { stage_id: 'c', name: 'Scorching', min_score: 150, max_score: 1_000_000_000 }];
  const asked = [];
  const rows = await levelRows(levels, async (b) => { asked.push([b.min_score, b.max_score]); return b.min_score; });
  assert.deepEqual(rows.map((r) => [r.name, r.count]), [['Scorching', 0], ['Hot', 50], ['Cold', 0]]);
  assert.deepEqual(asked, [[50, 1_000_000_000], [0, 49]]); // none for a band Hot covers whole
  assert.equal(rows[0].band, null);
});

test('a CSV cell follows the server rule (csvsafe.safe_cell) against spreadsheet formulas', () => {
  for (const c of ['=', '+', '-', '@', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20']) assert.equal(csvCell(`${c}1+1`), `'${c}1+1`);
  assert.equal(csvCell('\tx'), "'\tx");
  assert.equal(csvCell('\nx'), `"'\nx"`);
  assert.equal(csvCell('\rx'), `"'\rx"`);
  assert.equal(csvCell("'=x"), "''=x");
  assert.equal(csvCell("''\uFF20x"), "'''\uFF20x");
  assert.equal(csvCell("'abc"), "'abc");
  assert.equal(csvCell('plain'), 'plain');
  assert.equal(csvCell(-5), '-5');
  assert.equal(csvCell(-2.5), '-2.5');
  assert.equal(csvCell('-5'), "'-5");
  assert.equal(csvCell(null), '');
  assert.equal(csvCell(undefined), '');
  assert.equal(csvCell(true), 'true');
  assert.equal(csvCell(false), 'false');
  assert.equal(csvCell('=a,"b"'), `"'=a,""b"""`);
  assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
});
