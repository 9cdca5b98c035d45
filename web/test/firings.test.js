import { test } from 'node:test';
import assert from 'node:assert/strict';
import { windowText, surgeRow, surgeName, mergeFirings, mergedPage } from '../src/screens/triggers/firings.js';

test('a surge window in its largest whole unit', () => {
  assert.equal(windowText(600), '10 minutes');
  assert.equal(windowText(86_400), '1 day');
  assert.equal(windowText(90), '90 seconds');
  assert.equal(windowText(7_200), '2 hours');
});

test('a surge row names its lead and its trigger', () => {
  const r = { id: 's1', trigger_id: 'st1', lead_id: 'ld_1', threshold_count: 5, window_seconds: 600, score: 40,
    occurred_at: '2026-12-06T09:59:58Z', created_at: '2026-12-06T10:00:00Z', lead_name: 'Jane Doe' };
  const row = surgeRow(r, { trigger: { trigger_id: 'st1', event_type: 'page_view' } });
  // named when shown, by the OU's name of the type then (the names may arrive after the rows)
  assert.equal(surgeName(row, () => 'Page view'), 'Surge: 5 Page view events in 10 minutes');
  assert.equal(surgeName(row), 'Surge: 5 page_view events in 10 minutes');
  assert.equal(row.lead_name, 'Jane Doe');
  assert.equal(row.fired_at, '2026-12-06T09:59:58Z'); // the event's time, which the API lists surges by
  assert.equal(row.score_after, 40);
  assert.equal(surgeRow({ ...r, lead_name: null }).lead_name, ''); // a lead without a name: its id is shown
  assert.equal(surgeName(surgeRow(r), () => 'Page view'), 'Surge: 5 events in 10 minutes'); // its trigger is gone
});

test('all kinds merge newest first', () => {
  const m = [{ id: 'm2', fired_at: '2026-12-06T10:05:00Z' }, { id: 'm1', fired_at: '2026-12-06T09:00:00Z' }];
  const s = [{ id: 's1', fired_at: '2026-12-06T10:00:00Z' }];
  assert.deepEqual(mergeFirings([m, [], s]).map((r) => r.id), ['m2', 's1', 'm1']);
  // a whole second has no fraction written: it still comes before the half second after it
  const whole = [{ id: 'w', fired_at: '2026-12-06T10:00:03Z' }];
  const half = [{ id: 'h', fired_at: '2026-12-06T10:00:03.500Z' }];
  assert.deepEqual(mergeFirings([whole, half]).map((r) => r.id), ['h', 'w']);
});

// A kind's list as the API pages it: newest first, `limit` rows from (page - 1) * limit, counting the requests.
function pagedApi(lists, max) {
  const api = { calls: 0 };
  api.fetchPage = async (kind, page, limit) => {
    api.calls += 1;
    assert.ok(limit >= 1 && limit <= max, `limit ${limit} outside 1..${max}`);
    return lists[kind].slice((page - 1) * limit, page * limit);
  };
  return api;
}

// As the API writes instants: milliseconds only when there are some.
const stamp = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

function randomFirings(seed, kinds) {
  let x = seed;
  const next = () => { x = (x * 1103515245 + 12345) % 2147483648; return x; };
  const lists = {};
  for (const k of kinds) {
    lists[k] = Array.from({ length: next() % 90 }, (_, i) => ({
      id: `${k}${i}`, kind: k, fired_at: stamp(Date.UTC(2026, 11, 1) + (next() % 100_000) * 500),
    })).sort((a, b) => Date.parse(b.fired_at) - Date.parse(a.fired_at));
  }
  return lists;
}

test('all kinds page through the firings merged by time, whatever the lists and page sizes', async () => {
  const kinds = ['milestones', 'sequences', 'surge'];
  for (let seed = 1; seed <= 40; seed += 1) {
    const lists = randomFirings(seed, kinds);
    const all = mergeFirings(kinds.map((k) => lists[k]));
    for (const [size, max] of [[25, 500], [7, 10], [10, 10], [3, 4]]) {
      const api = pagedApi(lists, max);
      const seen = [];
      for (let page = 1; ; page += 1) {
        const { rows, more } = await mergedPage(kinds, api.fetchPage, page, size, max);
        assert.deepEqual(rows, all.slice((page - 1) * size, page * size), `seed ${seed}, size ${size}, page ${page}`);
        seen.push(...rows);
        assert.equal(more, all.length > page * size);
        if (!more) break;
      }
      assert.equal(seen.length, all.length); // every firing once
    }
  }
});

test('one kind is read a page at a time', async () => {
  const lists = { milestones: Array.from({ length: 60 }, (_, i) => ({ id: `m${i}`, fired_at: String(1000 - i) })) };
  const api = pagedApi(lists, 500);
  const third = await mergedPage(['milestones'], api.fetchPage, 3, 25);
  assert.deepEqual(third.rows.map((r) => r.id), lists.milestones.slice(50).map((r) => r.id));
  assert.equal(third.more, false);
  assert.equal(api.calls, 1);
  assert.equal((await mergedPage(['milestones'], api.fetchPage, 2, 25)).more, true);
});

test('a page past the end of the firings says how many there are, one kind or all of them', async () => {
  const lists = randomFirings(3, ['milestones', 'sequences', 'surge']);
  const all = mergeFirings(Object.values(lists));
  assert.ok(all.length > 25);
  for (const kinds of [['milestones', 'sequences', 'surge'], ['sequences'], ['surge']]) {
    const count = kinds.reduce((n, k) => n + lists[k].length, 0);
    const api = pagedApi(lists, 500);
    const past = await mergedPage(kinds, api.fetchPage, 99, 25);
    assert.deepEqual(past.rows, []);
    assert.equal(past.total, count, kinds.join());
    assert.equal(past.more, false);
    // a page with rows, and the first page even when empty, need no count
    assert.equal((await mergedPage(kinds, api.fetchPage, 1, 25)).total, null);
  }
  const none = pagedApi({ milestones: [], sequences: [], surge: [] }, 500);
  assert.equal((await mergedPage(['milestones'], none.fetchPage, 5, 25)).total, 0);
  assert.equal((await mergedPage(['milestones', 'sequences', 'surge'], none.fetchPage, 5, 25)).total, 0);
  assert.equal((await mergedPage(['milestones'], none.fetchPage, 1, 25)).total, null);
});
