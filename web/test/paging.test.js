import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageCount, pastLastPage, rowNoun, countPagedRows } from '../src/lib/paging.js';

test('rows fill whole pages and a last one, and an empty list has its first page', () => {
  assert.equal(pageCount(207, 50), 5);
  assert.equal(pageCount(200, 50), 4);
  assert.equal(pageCount(0, 50), 1);
});

test('a page past the last one of a list with rows names the last page', () => {
  assert.equal(pastLastPage({ page: 99, limit: 50, total: 207 }), 5);
  assert.equal(pastLastPage({ page: 6, limit: 50, total: 207 }), 5);
  assert.equal(pastLastPage({ page: 5, limit: 50, total: 207 }), 0); // the last page itself
  assert.equal(pastLastPage({ page: 1, limit: 50, total: 207 }), 0);
  assert.equal(pastLastPage({ page: 3, limit: 50, total: 0 }), 0); // nothing matches: the list is empty, not passed
});

test('a list of one row names it in the singular, irregular plurals too', () => {
  assert.equal(rowNoun(1, 'deliveries'), 'delivery');
  assert.equal(rowNoun(1, 'leads'), 'lead');
  assert.equal(rowNoun(1, 'accounts'), 'account');
  assert.equal(rowNoun(2, 'deliveries'), 'deliveries');
  assert.equal(rowNoun(0, 'events'), 'events');
});

// A list the API pages without a total: `rows` of them, `limit` to a page, counting the pages read.
function pagedList(rows) {
  const list = { reads: 0 };
  list.fetchPage = (limit) => async (page) => {
    list.reads += 1;
    assert.ok(page >= 1, `page ${page}`);
    return Array.from({ length: Math.max(0, Math.min(limit, rows - (page - 1) * limit)) }, (_, i) => i);
  };
  return list;
}

test('a list without a total is counted from its pages once a page past its end came back empty', async () => {
  for (const rows of [0, 1, 24, 25, 26, 49, 50, 51, 120, 125, 1000, 4321]) {
    for (const limit of [1, 25, 50]) {
      const last = pageCount(rows, limit);
      for (const emptyPage of [last + 1, last + 2, last + 7, 99_999]) {
        if (rows > 0 && emptyPage <= last) continue;
        const list = pagedList(rows);
        assert.equal(await countPagedRows(list.fetchPage(limit), limit, emptyPage), rows, `${rows} rows, ${limit} a page, page ${emptyPage} empty`);
        // a few reads, however far the empty page and however long the list; never every page
        assert.ok(list.reads <= 2 * Math.ceil(Math.log2(emptyPage + 1)) + 1, `${list.reads} reads for ${rows} rows`);
      }
    }
  }
});

test('a page past the end of a short list is counted in one read, and an empty list reads as none', async () => {
  const short = pagedList(30);
  assert.equal(await countPagedRows(short.fetchPage(50), 50, 5), 30);
  assert.equal(short.reads, 1);
  const none = pagedList(0);
  assert.equal(await countPagedRows(none.fetchPage(50), 50, 2), 0);
  assert.equal(pastLastPage({ page: 2, limit: 50, total: 0 }), 0); // "nothing here", as on its first page
});
