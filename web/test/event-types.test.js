import { test } from 'node:test';
import assert from 'node:assert/strict';
import { typeKey, typeLabel } from '../src/lib/eventTypes.js';

test('every spelling of a type has the key the server matches by', () => {
  assert.equal(typeKey('Page View'), 'page_view');
  assert.equal(typeKey('  PAGE   VIEW '), 'page_view');
  assert.equal(typeKey('page-view'), 'page_view');
  assert.equal(typeKey('page - view'), 'page_view');
  assert.equal(typeKey('page__view'), 'page__view'); // underscores stay as they are
  assert.equal(typeKey(typeKey('Demo Request')), typeKey('Demo Request'));
});

test('a type reads by its display name, and an unknown one by its own spelling', () => {
  const names = { whitepaper_download: 'Whitepaper Download', page_view: 'page_view' };
  assert.deepEqual(typeLabel('whitepaper-download', names), { name: 'Whitepaper Download', key: 'whitepaper_download' });
  assert.deepEqual(typeLabel('page_view', names), { name: 'page_view', key: 'page_view' });
  assert.deepEqual(typeLabel('Brand New', names), { name: 'Brand New', key: 'brand_new' });
});
