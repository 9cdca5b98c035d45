// A list screen's filters, sort and page as query-string parameters (pure functions; the reactive side is
// `listState` in router.svelte.js). A value equal to its default stays out of the address, so a plain list has a
// plain address. Defaults give each value its kind: a number reads as a number, an array as a repeated parameter.

/** The values a query string holds: { key: value } for every key of `defaults` (params renames keys). */
export function readQuery(search, defaults, params = {}) {
  const q = new URLSearchParams(search);
  const out = {};
  for (const [key, fallback] of Object.entries(defaults)) {
    const name = params[key] || key;
    if (Array.isArray(fallback)) out[key] = q.has(name) ? q.getAll(name) : [...fallback];
    else if (typeof fallback === 'number') {
      const n = Number(q.get(name));
      out[key] = q.has(name) && q.get(name) !== '' && Number.isFinite(n) ? n : fallback;
    } else out[key] = q.has(name) ? q.get(name) : fallback;
  }
  return out;
}

const blank = (v) => v === undefined || v === null || v === '';
const same = (a, b) => (Array.isArray(a) || Array.isArray(b) ? JSON.stringify(a) === JSON.stringify(b) : String(a) === String(b));

/** `search` with the values written over it (other parameters stay, such as a screen's tab). */
export function writeQuery(search, values, defaults, params = {}) {
  const q = new URLSearchParams(search);
  for (const [key, fallback] of Object.entries(defaults)) {
    const name = params[key] || key;
    const value = values[key];
    q.delete(name);
    if (Array.isArray(value)) for (const v of value) q.append(name, v);
    else if (!blank(value) && !same(value, fallback)) q.set(name, String(value));
  }
  return q.toString();
}

/** True when going from query `before` to `after` only refines a search already under way (one of `typed`, not
 * blank before): that replaces the history entry instead of adding one per keystroke. */
export function refinesTyping(before, after, typed) {
  const a = new URLSearchParams(before);
  const b = new URLSearchParams(after);
  const names = new Set([...a.keys(), ...b.keys()]);
  const changed = [...names].filter((n) => JSON.stringify(a.getAll(n)) !== JSON.stringify(b.getAll(n)));
  return changed.length > 0 && changed.every((n) => typed.includes(n) && a.get(n) && b.get(n));
}
