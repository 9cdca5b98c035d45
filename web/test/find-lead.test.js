import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLead, searchCapNote, SEARCH_LIMIT } from '../src/lib/findLead.js';

const people = [{ id: 'ld_grace', name: 'Grace Hopper' }, { id: 'ld_gracie', name: 'Gracie Allen' }, { id: 'ld_ada', name: 'Ada Lovelace' }];
const search = async (q) => people.filter((p) => p.id.startsWith(q) || p.name.toLowerCase().split(' ').some((w) => w.startsWith(q.toLowerCase())));

test('an id, or a name only one lead has, finds that lead', async () => {
  assert.deepEqual(await findLead(' ld_grace ', search), { id: 'ld_grace' });
  assert.deepEqual(await findLead('lovelace', search), { id: 'ld_ada' });
});

test('a name several leads have offers them; one no lead has offers none', async () => {
  assert.deepEqual((await findLead('grac', search)).choices.map((c) => c.id), ['ld_grace', 'ld_gracie']);
  assert.deepEqual(await findLead('nobody', search), { choices: [] });
  assert.deepEqual(await findLead('x', search), { choices: [] });
});

test('a search that brought back as many leads as it answers says it may have left some out', () => {
  assert.equal(searchCapNote(Array.from({ length: SEARCH_LIMIT }, (_, i) => ({ id: `ld_${i}` }))),
    'Showing the first 10 matches: type more to narrow.');
  assert.equal(searchCapNote(people), '');
  assert.equal(searchCapNote([]), '');
});
