import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readQuery, writeQuery, refinesTyping } from '../src/lib/query.js';

const defaults = { search: '', sort: 'score_desc', page: 1, limit: 50, metadata: [] };

test('a query string reads into typed values, defaults where a parameter is missing or unreadable', () => {
  assert.deepEqual(readQuery('', defaults), { search: '', sort: 'score_desc', page: 1, limit: 50, metadata: [] });
  assert.deepEqual(readQuery('?q=jane&page=3&metadata=a:1&metadata=b:2', defaults, { search: 'q' }),
    { search: 'jane', sort: 'score_desc', page: 3, limit: 50, metadata: ['a:1', 'b:2'] });
  assert.equal(readQuery('page=two', defaults).page, 1);
  assert.equal(readQuery('page=', defaults).page, 1);
});

test('values equal to their defaults stay out of the address; other parameters stay', () => {
  const values = { search: 'jane', sort: 'score_desc', page: 1, limit: 50, metadata: ['a:1', 'b:2'] };
  assert.equal(writeQuery('tab=types&page=4', values, defaults, { search: 'q' }), 'tab=types&q=jane&metadata=a%3A1&metadata=b%3A2');
  assert.equal(writeQuery('', { ...values, search: '', metadata: [], page: 2, sort: 'recent' }, defaults), 'sort=recent&page=2');
  assert.equal(writeQuery('page=2', { ...defaults, page: '1' }, defaults), '');
});

test('only refining a search under way replaces the history entry', () => {
  assert.equal(refinesTyping('q=ja', 'q=jan', ['q']), true);
  assert.equal(refinesTyping('', 'q=ja', ['q']), false); // starting a search is a step Back can undo
  assert.equal(refinesTyping('q=ja', '', ['q']), false); // so is clearing it
  assert.equal(refinesTyping('q=ja', 'q=jan&page=2', ['q']), false);
  assert.equal(refinesTyping('page=2', 'page=3', ['q']), false);
  assert.equal(refinesTyping('q=ja', 'q=ja', ['q']), false);
});
