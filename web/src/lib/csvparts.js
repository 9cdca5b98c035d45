// A CSV file larger than one upload (the server takes 10 MB per POST /import) cut into parts that each parse, on
// the server, into exactly the rows the whole file holds: records are found with the state machine of Python's
// csv module (the server's parser), so a quoted field may hold commas and line breaks. Each part repeats the
// header, and keeps for every row the line the file had it on, so the server's error lines can be given back in
// the file's numbering. With `byLead`, the rows are grouped by their lead_id (each lead's rows in file order), as
// `leadvibe import --by-lead` and `POST /import?by_lead=true` do.

export const PART_BYTES = 9_500_000; // under the server's 10 MB per file, with room for a long header

const START_RECORD = 0;
const START_FIELD = 1;
const IN_FIELD = 2;
const IN_QUOTED = 3;
const QUOTE_IN_QUOTED = 4;

function utf8Bytes(code) {
  if (code < 0x80) return 1;
  if (code < 0x800) return 2;
  if (code >= 0xd800 && code <= 0xdfff) return 2; // each half of a surrogate pair: 4 bytes for the pair
  return 3;
}

// Every record of `text`: its [start, end) offsets (the line break after it left out), the physical lines it starts
// and ends on (the end is Python's csv `line_num` for it), its UTF-8 size and its cells when `wantCells` asks for
// them (only the first `cellLimit` are kept). Blank lines are no records (the server's reader skips them too).
export function records(text, { wantCells = false, cellLimit = Infinity } = {}) {
  const out = [];
  scan(text, (start, end, first, line, bytes, cells) => out.push({ start, end, first, line, bytes, cells }),
    { wantCells, cellLimit });
  return out;
}

// `records` without an object per record: `emit(start, end, first, line, bytes, cells)` for each (a file of
// millions of rows is scanned into typed arrays by splitCsv).
function scan(text, emit, { wantCells = false, cellLimit = Infinity } = {}) {
  let state = START_RECORD;
  let line = 1;
  let first = 1;
  let start = 0;
  let bytes = 0;
  let cells = [];
  let cell = '';
  const n = text.length;
  const endRecord = (end) => {
    if (wantCells && cells.length < cellLimit) cells.push(cell);
    emit(start, end, first, line, bytes, wantCells ? cells : null);
    cells = [];
    cell = '';
  };
  const endField = () => {
    if (wantCells && cells.length < cellLimit) cells.push(cell);
    cell = '';
  };
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const newline = c === 10 || c === 13;
    if (newline && state !== IN_QUOTED) {
      // \r\n is one line break
      const width = c === 13 && text.charCodeAt(i + 1) === 10 ? 2 : 1;
      if (state !== START_RECORD) endRecord(i);
      i += width - 1;
      line += 1;
      first = line;
      state = START_RECORD;
      start = i + 1;
      bytes = 0;
      continue;
    }
    if (newline) {
      if (c === 13 && text.charCodeAt(i + 1) === 10) {
        if (wantCells) cell += '\r\n';
        bytes += 2;
        i += 1;
      } else {
        if (wantCells) cell += text[i];
        bytes += 1;
      }
      line += 1;
      continue;
    }
    bytes += utf8Bytes(c);
    const ch = text[i];
    switch (state) {
      case START_RECORD:
      case START_FIELD:
        if (ch === '"') state = IN_QUOTED;
        else if (ch === ',') { endField(); state = START_FIELD; }
        else { if (wantCells) cell += ch; state = IN_FIELD; }
        break;
      case IN_FIELD:
        if (ch === ',') { endField(); state = START_FIELD; }
        else if (wantCells) cell += ch;
        break;
      case IN_QUOTED:
        if (ch === '"') state = QUOTE_IN_QUOTED;
        else if (wantCells) cell += ch;
        break;
      case QUOTE_IN_QUOTED:
        if (ch === '"') { if (wantCells) cell += ch; state = IN_QUOTED; }
        else if (ch === ',') { endField(); state = START_FIELD; }
        else { if (wantCells) cell += ch; state = IN_FIELD; }
        break;
    }
  }
  if (state !== START_RECORD) endRecord(n);
}

// Records' numbers in typed arrays that grow as needed.
class RecordTable {
  constructor() {
    this.length = 0;
    this.columns = ['start', 'end', 'first', 'line', 'bytes'];
    for (const c of this.columns) this[c] = new Float64Array(1024);
  }

  push(...values) {
    if (this.length === this.start.length) {
      for (const c of this.columns) {
        const grown = new Float64Array(this[c].length * 2);
        grown.set(this[c]);
        this[c] = grown;
      }
    }
    this.columns.forEach((c, k) => { this[c][this.length] = values[k]; });
    this.length += 1;
  }
}

// Spreadsheets in many locales save "CSV" with semicolons (or tabs) between the cells.
const OTHER_SEPARATORS = [[';', 'semicolons (;)'], ['\t', 'tabs']];

// What to say after a header without event_type that has one when split at another separator.
function separatorHint(headerText) {
  for (const [separator, named] of OTHER_SEPARATORS) {
    const cells = headerText.split(separator).map((c) => c.trim().replace(/^"|"$/g, '').trim().toLowerCase());
    if (cells.includes('event_type')) return ` This file separates its cells with ${named}: save it with commas between the cells.`;
  }
  return '';
}

// The parts to send: `{ text, rows, lines }` with `lines` mapping the line each row starts on in the part to the
// line it starts on in the file. Throws an Error whose message says what is wrong with the file (nothing has been sent then).
export function splitCsv(text, { byLead = false, partBytes = PART_BYTES } = {}) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const all = new RecordTable();
  scan(text, (start, end, first, line, bytes) => all.push(start, end, first, line, bytes));
  if (!all.length) throw new Error('The CSV file is empty (a header row is required).');
  const headerText = text.slice(all.start[0], all.end[0]);
  const headerCells = records(headerText, { wantCells: true })[0].cells.map((h) => h.trim().toLowerCase());
  if (!headerCells.includes('event_type')) throw new Error(`The CSV header must include event_type.${separatorHint(headerText)}`);
  let order = Array.from({ length: all.length - 1 }, (_, k) => k + 1);
  if (byLead) {
    const column = headerCells.indexOf('lead_id');
    if (column < 0) {
      throw new Error("Grouping by lead needs a lead_id column, and this file's header has none (import it without grouping).");
    }
    const leads = new Array(all.length);
    for (const k of order) {
      const cells = records(text.slice(all.start[k], all.end[k]), { wantCells: true, cellLimit: column + 1 })[0].cells;
      const lead = (cells[column] ?? '').trim();
      if (!lead) {
        throw new Error(`Line ${all.line[k]} has no lead_id, which grouping by lead needs on every row (nothing was imported; import without grouping to let rows name their lead by email or another identifier).`);
      }
      leads[k] = lead;
    }
    order.sort((a, b) => (leads[a] < leads[b] ? -1 : leads[a] > leads[b] ? 1 : a - b));
  }
  const headerLines = all.line[0] - all.first[0] + 1;
  const parts = [];
  let current = null;
  for (const k of order) {
    const bytes = all.bytes[k] + 1;
    if (!current || (current.rows && current.bytes + bytes > partBytes)) {
      current = { rows: [], bytes: all.bytes[0] + 1, line: headerLines, lines: new Map() };
      parts.push(current);
    }
    current.rows.push(k);
    current.bytes += bytes;
    current.lines.set(current.line + 1, all.first[k]); // the server names a row by the line it starts on
    current.line += all.line[k] - all.first[k] + 1;
  }
  // Each part's text is made when it is sent (`text()`), so the file is not held twice over.
  return parts.map((p) => ({
    rows: p.rows.length,
    bytes: p.bytes,
    lines: p.lines,
    text: () => [headerText, ...p.rows.map((k) => text.slice(all.start[k], all.end[k]))].join('\n') + '\n',
  }));
}

/** An error row of a part (`{line, last_line?, error}`, numbered by the part's lines) numbered by the file's:
 * `lines` is the part's map. A quote never closed names both lines in its message too (leadvibe/csvread.py). */
export function fileLines(row, lines) {
  const at = (n) => lines.get(n) ?? n;
  const line = at(row.line);
  if (!row.last_line) return { line, error: row.error };
  const last = line + (row.last_line - row.line); // the row runs to the part's end, its lines copied as they are
  const error = row.error.replace(`starting at line ${row.line}:`, `starting at line ${line}:`)
    .replace(`(line ${row.last_line})`, `(line ${last})`);
  return { line, last_line: last, error };
}
