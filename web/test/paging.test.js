import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageCount, pastLastPage, rowNoun } from '../src/lib/paging.js';

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
