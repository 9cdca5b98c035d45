// Display helpers shared by every screen.

const number = new Intl.NumberFormat('en-US');

export function fmtNumber(n) {
  return n === null || n === undefined ? '—' : number.format(n);
}

/** A decay rule as a person reads it, as it is now: `14 days without activity: −10`; the id when the rule is gone.
 * What a past DECAY event took is its own `decrease` (lib/scoreReason.js), not the rule's of today. */
export function decayText(decays, id) {
  const d = decays?.[id];
  if (!d) return `decay rule ${id}`;
  const unit = d.inactive_for === 1 ? String(d.unit).replace(/s$/, '') : d.unit;
  return `${d.inactive_for} ${unit} without activity: −${fmtNumber(d.decrease)}`;
}

/** A metadata value as text: a list of plain values as "a, b, c" (pages a lead visited, tags), other objects as
 * JSON, null as "—". */
export function fmtValue(v) {
  if (v === null || v === undefined) return '—';
  const plain = (x) => x === null || typeof x !== 'object';
  if (Array.isArray(v) && v.every(plain)) return v.map((x) => String(x ?? '—')).join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** An event type's processing scope in the words of Settings → Event types. */
export const PROCESSING = { activate: 'Score and trigger', decide: 'Score only', observe: 'Store only' };

/** `n` and the noun for it: `counted(1, 'lead')` is "1 lead", `counted(3, 'lead')` "3 leads". */
export function counted(n, one, many = `${one}s`) {
  return `${fmtNumber(n)} ${n === 1 ? one : many}`;
}

export function fmtSigned(n) {
  if (n === null || n === undefined) return '—';
  return n > 0 ? `+${number.format(n)}` : number.format(n);
}

/** A surge multiplier: "×1.25", "×1.5", "×1"; "—" for none (an event the ruleset did not score). */
export function fmtMultiplier(m) {
  if (m === null || m === undefined) return '—';
  return `×${m.toFixed(2).replace(/\.?0+$/, '')}`;
}

const dateTime = new Intl.DateTimeFormat('en-GB', {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const shortDate = new Intl.DateTimeFormat('en-GB', { month: 'short', day: '2-digit', hour: '2-digit',
  minute: '2-digit' });

const dayMonth = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });
const hourMinute = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const clockSeconds = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dayMonthYearUtc = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });

/** A chart's time axis (`splits` in seconds since the epoch) in the dates of the tables: "13 Nov" a day or more
 * apart, else "14:00" with the date under the first tick of each day, "14:00:30" when ticks are less than a minute
 * apart (events seconds apart). A tick that would read as the one before it (ticks under a second apart) stays
 * blank, so no time is written twice. */
export function fmtAxisTimes(splits) {
  const step = splits.length < 2 ? Infinity : Math.min(...splits.slice(1).map((t, i) => t - splits[i]));
  const daily = step >= 86400;
  const clock = step < 60 ? clockSeconds : hourMinute;
  let lastDay = '';
  let lastLabel = '';
  return splits.map((t) => {
    const when = new Date(t * 1000);
    const day = dayMonth.format(when);
    const time = daily ? day : clock.format(when);
    if (time === lastLabel) return '';
    lastLabel = time;
    if (daily) return day;
    const label = day === lastDay ? time : `${time}\n${day}`;
    lastDay = day;
    return label;
  });
}

/** A period whose end is exclusive (a month from 1 Dec 00:00 to 1 Jan 00:00 UTC) as its first and last day, read in
 * UTC like the server's months: "1 Dec 2026 – 31 Dec 2026". */
export function fmtPeriodUtc(startIso, endIso) {
  const lastMoment = new Date(new Date(endIso).getTime() - 1);
  return `${dayMonthYearUtc.format(new Date(startIso))} – ${dayMonthYearUtc.format(lastMoment)}`;
}

export function fmtDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : '—';
}

export function fmtShort(iso) {
  return iso ? shortDate.format(new Date(iso)) : '—';
}

/** "3 min ago", "2 days ago": for recency columns (the exact time is in the title). */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return 'never';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  if (s < 0) return 'in the future';
  if (s < 45) return 'just now';
  const units = [[60, 'min', 60], [3600, 'h', 24], [86400, 'd', 30], [2592000, 'mo', 12], [31536000, 'y', Infinity]];
  for (const [size, label, max] of units) {
    const v = Math.round(s / size);
    if (v < max) return `${Math.max(1, v)} ${label} ago`;
  }
  return 'long ago';
}

/** What a person calls a lead: its metadata's name, else first and last name, else email, else the spelling of its
 * first email alias (`aliases` as `GET /leads` and `/leads/{id}/aliases` list them, first seen first), else its id.
 * The server's `display_name` (store/leads.py) reads the same keys in the same order, for `lead_name`. */
export function leadLabel(lead, aliases = lead?.aliases) {
  const m = lead?.metadata || {};
  const text = (v) => (typeof v === 'string' ? v.trim() : '');
  const aliasEmail = (aliases || []).find((a) => a?.kind === 'email' && text(a.raw_value));
  return text(m.name) || [text(m.first_name), text(m.last_name)].filter(Boolean).join(' ') || text(m.email)
    || text(aliasEmail?.raw_value) || lead?.id || '';
}

/** A lead in running text (a dialog's title, a toast): "Jon Chen (ld_5puc…)" with the id second, the id alone
 * when `name` is the id or empty. */
export function leadInText(name, id) {
  return name && name !== id ? `${name} (${id})` : id;
}

/** What tells a lead found by search (`GET /leads/search`) from another of the same name, beside its name and id:
 * its first email alias (unless that is the name), its company. '' when it has neither. */
export function leadHint(hit) {
  const email = (hit?.aliases || []).find((a) => a?.kind === 'email' && a.raw_value)?.raw_value || '';
  return [email !== hit?.name ? email : '', hit?.company || ''].filter(Boolean).join(' · ');
}

/** Level names get colours by their place from the lowest band to the highest. */
export function levelTone(levels, name) {
  if (!name) return 0;
  const sorted = [...levels].sort((a, b) => a.min_score - b.min_score);
  const i = sorted.findIndex((l) => l.name === name);
  if (i < 0) return 0;
  if (sorted.length === 1) return 3;
  return 1 + Math.round((i / (sorted.length - 1)) * 3);
}

const levelId = (l) => String(l.stage_id ?? l.level_id ?? '');
/** Whether level `a` wins a score shared with level `b` (the server's rule, engine/levels.py: the lowest
 * min_score, then the lowest id). */
const winsOver = (a, b) => a.min_score < b.min_score || (a.min_score === b.min_score && levelId(a) < levelId(b));

/** The level a score falls in (the server's rule: inclusive bands, lowest min_score first on overlap). */
export function levelFor(levels, score) {
  let best = null;
  for (const l of levels) {
    if (l.min_score <= score && score <= l.max_score && (!best || winsOver(l, best))) best = l;
  }
  return best;
}

/** The scores whose level is `level`, as { min_score, max_score }, or null when other bands win all of its own:
 * its band less the scores of bands that win over it. Those start at or below it, so each takes a first part of
 * its band and what is left is one range. Counts and links by level use it, so a lead in two bands counts once. */
export function levelScores(levels, level) {
  let min = level.min_score;
  for (const other of levels) {
    if (other !== level && winsOver(other, level) && other.max_score >= min) min = Math.max(min, other.max_score + 1);
  }
  return min > level.max_score ? null : { min_score: min, max_score: level.max_score };
}

/** The rows of a leads-per-level chart, highest band first: each level with `band` (`levelScores`) and `count`,
 * the leads whose score is in its band (`countIn(band)`, a promise; none asked for a band others cover whole), so
 * that each lead counts once where bands overlap. */
export async function levelRows(levels, countIn) {
  const sorted = [...levels].sort((a, b) => b.min_score - a.min_score);
  const bands = sorted.map((l) => levelScores(levels, l));
  const counts = await Promise.all(bands.map((b) => (b ? countIn(b) : 0)));
  return sorted.map((l, i) => ({ ...l, band: bands[i], count: counts[i] }));
}

/** What makes a spreadsheet run a cell as a formula: the server's `FORMULA_PREFIXES` (leadvibe/csvsafe.py), the
 * full-width forms included. */
const FORMULA_START = /^[=+\-@\t\r\n\uFF1D\uFF0B\uFF0D\uFF20]/;

/** A CSV cell that a spreadsheet will not run as a formula, by the server's rule (`safe_cell`, leadvibe/csvsafe.py):
 * null and undefined are empty, booleans `true`/`false`, numbers as they are (a negative score is data, not a
 * formula), objects as JSON; text that starts, after any leading `'`s, with a formula character gets one `'` more
 * (so `'=x` is `''=x` and an import gives back `'=x`). Then it is quoted when it holds a comma, quote or line break. */
export function csvCell(value) {
  let text;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'boolean') text = value ? 'true' : 'false';
  else if (typeof value === 'number' || typeof value === 'bigint') text = String(value);
  else {
    text = typeof value === 'object' ? JSON.stringify(value) : String(value);
    if (FORMULA_START.test(text.replace(/^'+/, ''))) text = `'${text}`;
  }
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Save a Blob as a file through a temporary object URL (same origin; nothing leaves the page). */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false;
  }
}
