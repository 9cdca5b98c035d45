// The API client: headers it sends, how it reads answers, and the error sentence it surfaces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createApi, queryString, errorFromResponse, ApiError } from '../src/lib/api.js';

function recorder(answer) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    return typeof answer === 'function' ? answer(url, init) : answer.clone();
  };
  return { calls, fetch };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

test('queryString repeats array keys and leaves out empty values', () => {
  assert.equal(queryString({ a: 1, b: '', c: null, d: undefined, m: ['k:v', 'x:y'] }), '?a=1&m=k%3Av&m=x%3Ay');
  assert.equal(queryString({}), '');
});

test('sends the token and the active OU, never cookies, and encodes JSON bodies', async () => {
  const r = recorder(json({ ok: true }));
  const api = createApi({ fetch: r.fetch, token: () => 'tok', ou: () => 'unit_a' });
  assert.deepEqual(await api.post('/rules', { weight: 2 }, { query: { x: 1 } }), { ok: true });
  const { url, init } = r.calls[0];
  assert.equal(url, '/rules?x=1');
  assert.equal(init.method, 'POST');
  assert.equal(init.credentials, 'omit');
  assert.equal(init.headers.Authorization, 'Bearer tok');
  assert.equal(init.headers['X-OU-ID'], 'unit_a');
  assert.equal(init.headers['Content-Type'], 'application/json');
  assert.equal(init.body, '{"weight":2}');
});

test('a call can leave the OU out (organization-wide endpoints)', async () => {
  const r = recorder(json([]));
  const api = createApi({ fetch: r.fetch, token: () => 'tok', ou: () => 'unit_a' });
  await api.get('/members', undefined, { ou: null });
  assert.equal('X-OU-ID' in r.calls[0].init.headers, false);
});

test('an error answer becomes an ApiError with the API sentence and details', async () => {
  const r = recorder(json({ error: '`weight` must be between -1000000000 and 1000000000', details: [{ f: 1 }] }, 400));
  const api = createApi({ fetch: r.fetch, token: () => null, ou: () => null });
  await assert.rejects(api.get('/rules'), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    assert.equal(err.message, '`weight` must be between -1000000000 and 1000000000');
    assert.deepEqual(err.details, [{ f: 1 }]);
    return true;
  });
});

test("the API's sentence is shown starting with a capital letter; one opening with a field name is kept", async () => {
  for (const [error, shown] of [['lead not found', 'Lead not found'], ['`q` must be at least 2 characters', '`q` must be at least 2 characters'], ['Ümlaut', 'Ümlaut']]) {
    const api = createApi({ fetch: recorder(json({ error }, 404)).fetch, token: () => null, ou: () => null });
    await assert.rejects(api.get('/leads/x'), (err) => err.message === shown);
  }
});

test('a 401 with a token ends the session; without one it does not', async () => {
  const ended = [];
  const r = recorder(json({ error: 'token revoked' }, 401));
  const signedIn = createApi({ fetch: r.fetch, token: () => 'tok', ou: () => null, onUnauthorized: (e) => ended.push(e.message) });
  await assert.rejects(signedIn.get('/me'));
  const anonymous = createApi({ fetch: r.fetch, token: () => null, ou: () => null, onUnauthorized: (e) => ended.push(e.message) });
  await assert.rejects(anonymous.post('/auth/login', {}));
  assert.deepEqual(ended, ['Token revoked']);
});

test('a 401 for a token dropped while its request was on its way does not end the session signed in since', async () => {
  const ended = [];
  let current = 'first';
  let answer;
  const pending = new Promise((resolve) => { answer = resolve; });
  const api = createApi({
    fetch: () => pending, token: () => current, ou: () => null, onUnauthorized: (e) => ended.push(e.message),
  });
  const call = api.get('/leads');
  current = 'second'; // signed out, and another member signed in, before the answer came
  answer(json({ error: 'token revoked' }, 401));
  await assert.rejects(call);
  assert.deepEqual(ended, []);
});

test('a 403 to a signed-in call is reported (the roles may have changed), and still refused', async () => {
  const refused = [];
  const r = recorder(json({ error: 'this action needs the Owner role (you are Viewer)' }, 403));
  const signedIn = createApi({ fetch: r.fetch, token: () => 'tok', ou: () => 'unit_a', onForbidden: (e) => refused.push(e.status) });
  await assert.rejects(signedIn.get('/secrets'), /Owner role/);
  const anonymous = createApi({ fetch: r.fetch, token: () => null, ou: () => null, onForbidden: (e) => refused.push(e.status) });
  await assert.rejects(anonymous.get('/secrets'));
  assert.deepEqual(refused, [403]);
});

test('an answer that is not JSON names its status', async () => {
  const e = await errorFromResponse(new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }));
  assert.equal(e.message, 'The server answered 502 Bad Gateway.');
});

test('an unreachable server is a sentence, not a TypeError', async () => {
  const api = createApi({ fetch: async () => { throw new TypeError('Failed to fetch'); }, token: () => null, ou: () => null });
  await assert.rejects(api.get('/healthz'), /cannot be reached/);
});

test('204 answers are null; text and raw responses on request', async () => {
  const api = createApi({ fetch: async () => new Response(null, { status: 204 }), token: () => null, ou: () => null });
  assert.equal(await api.del('/rules/rl_1'), null);
  const text = createApi({ fetch: async () => new Response('a,b\n'), token: () => null, ou: () => null });
  assert.equal(await text.request('GET', '/events/export', { as: 'text' }), 'a,b\n');
});
