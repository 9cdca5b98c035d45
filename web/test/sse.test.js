// The SSE reader: LF, CRLF and CR line ends, chunks cut anywhere, comments, multi-line data, retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSseParser, readSse } from '../src/lib/sse.js';

function parseAll(chunks) {
  const out = [];
  const retries = [];
  const p = createSseParser((m) => out.push(m), (ms) => retries.push(ms));
  for (const c of chunks) p.feed(c);
  return { out, retries };
}

const STREAM = ': connected\nretry: 3000\n\nevent: score_update\ndata: {"lead_id":"ld_1","score":5}\n\n: heartbeat\n\nevent: event_ingested\ndata: {"a":1}\ndata: {"b":2}\nid: 7\n\n';

for (const [name, eol] of [['LF', '\n'], ['CRLF', '\r\n'], ['CR', '\r']]) {
  test(`parses a stream with ${name} line ends`, () => {
    const { out, retries } = parseAll([STREAM.replaceAll('\n', eol)]);
    assert.deepEqual(out, [
      { event: 'score_update', data: '{"lead_id":"ld_1","score":5}', id: '' },
      { event: 'event_ingested', data: '{"a":1}\n{"b":2}', id: '7' },
    ]);
    assert.deepEqual(retries, [3000]);
  });

  test(`gives the same messages however a ${name} stream is cut`, () => {
    const text = STREAM.replaceAll('\n', eol);
    const whole = parseAll([text]).out;
    for (let i = 1; i < text.length; i++) {
      assert.deepEqual(parseAll([text.slice(0, i), text.slice(i)]).out, whole, `cut at ${i}`);
    }
    assert.deepEqual(parseAll([...text]).out, whole, 'one character at a time');
  });
}

test('a message without an event name is a "message"; a field without a colon has an empty value', () => {
  const { out } = parseAll(['data\n\ndata:x\n\n']);
  assert.deepEqual(out.map((m) => [m.event, m.data]), [['message', ''], ['message', 'x']]);
});

test('an unfinished message at the end is not dispatched', () => {
  assert.deepEqual(parseAll(['event: a\ndata: 1\n']).out, []);
});

test('readSse reads a byte stream split inside a multi-byte character', async () => {
  const bytes = new TextEncoder().encode('event: e\r\ndata: {"name":"Zoë"}\r\n\r\n');
  const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of ë
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, cut));
      controller.enqueue(bytes.slice(cut));
      controller.close();
    },
  });
  const out = [];
  await readSse(body, (m) => out.push(m));
  assert.deepEqual(out, [{ event: 'e', data: '{"name":"Zoë"}', id: '' }]);
});
