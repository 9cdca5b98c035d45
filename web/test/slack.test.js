import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slackPeople } from '../src/lib/slack.js';

test('people by name, without deactivated accounts, bots or Slackbot', () => {
  const members = [
    { id: 'U2', name: 'bo', real_name: 'Bo Berg', profile: { real_name: 'Bo Berg', display_name: 'bo' } },
    { id: 'U1', name: 'ana', real_name: 'Ana Lima' },
    { id: 'U3', name: 'gone', real_name: 'Old Account', deleted: true },
    { id: 'B1', name: 'crm-bot', is_bot: true },
    { id: 'USLACKBOT', name: 'slackbot', real_name: 'Slackbot' },
    { id: 'U4', name: 'cy' },
    { id: 'U5' },
  ];
  assert.deepEqual(slackPeople(members), [
    { id: 'U1', label: 'Ana Lima (@ana)' }, { id: 'U2', label: 'Bo Berg (@bo)' }, { id: 'U4', label: 'cy' },
    { id: 'U5', label: 'U5' },
  ]);
  assert.deepEqual(slackPeople(undefined), []);
});

test('every page of a Slack list is read, following its cursor, up to a bound', async () => {
  const pages = { '': ['a', 'b'], c1: ['c'], c2: ['d'] };
  const next = { '': 'c1', c1: 'c2', c2: '' };
  const asked = [];
  const get = async (path, query) => {
    asked.push([path, query]);
    const cursor = query?.cursor || '';
    return { ok: true, channels: pages[cursor], response_metadata: { next_cursor: next[cursor] } };
  };
  const { slackList } = await import('../src/lib/slack.js');
  assert.deepEqual(await slackList(get, '/settings/slack/channels', 'channels'), { channels: ['a', 'b', 'c', 'd'] });
  assert.deepEqual(asked, [['/settings/slack/channels', undefined], ['/settings/slack/channels', { cursor: 'c1' }],
    ['/settings/slack/channels', { cursor: 'c2' }]]);
  assert.deepEqual(await slackList(get, '/settings/slack/channels', 'channels', 2), { channels: ['a', 'b', 'c'] });
});

test('a delivery target by its channel or person name when the lists hold it', async () => {
  const { slackTargetName } = await import('../src/lib/slack.js');
  const channels = [{ id: 'C1', name: 'sales' }];
  const people = [{ id: 'U2', label: 'Bo Berg (@bo)' }];
  assert.equal(slackTargetName('channel:C1', channels, people), '#sales');
  assert.equal(slackTargetName('user:U2', channels, people), 'Bo Berg (@bo)');
  assert.equal(slackTargetName('user:U9', channels, people), 'user:U9');
  assert.equal(slackTargetName('channel:G9'), 'channel:G9');
});
