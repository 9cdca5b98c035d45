import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileLines, splitCsv } from '../src/lib/csvparts.js';

const text = 'lead_id,event_type\nld_1,a\nld_2,"b\nc"\nld_3,"never closed\nmore\n';

test('rows are mapped by the line they start on, in the file and in each part', () => {
  const parts = splitCsv(text, { partBytes: 30 });
  assert.ok(parts.length > 1);
  const starts = parts.flatMap((p) => [...p.lines.values()]);
  assert.deepEqual(starts, [2, 3, 5]);
  assert.deepEqual(fileLines({ line: 2, error: 'bad' }, parts.at(-1).lines), { line: 5, error: 'bad' });
});

test('a quote never closed is renumbered in its lines and in its message', () => {
  const last = splitCsv(text, { partBytes: 30 }).at(-1); // its part: header (line 1) and the open row (line 2)
  const error = 'unterminated quoted field starting at line 2: its opening quote is never closed, so its row and every'
    + ' line after it to the end of the file (line 3) were read as one row and not imported';
  const out = fileLines({ line: 2, last_line: 3, error }, last.lines);
  assert.equal(out.line, 5);
  assert.equal(out.last_line, 6);
  assert.match(out.error, /starting at line 5: .*\(line 6\)/);
});
