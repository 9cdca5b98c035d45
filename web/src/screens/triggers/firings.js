// The Fired tab's rows: milestone, sequence and surge firings in one shape, and the three kinds merged by time.
import { countPagedRows } from '../../lib/paging.js';

const UNITS = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute'], [1, 'second']];

/** A window in seconds in the largest whole unit: 600 -> "10 minutes", 86400 -> "1 day", 90 -> "90 seconds". */
export function windowText(seconds) {
  const s = Number(seconds) || 0;
  const [size, unit] = UNITS.find(([n]) => s >= n && s % n === 0) || [1, 'second'];
  const n = s / size;
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * A surge firing (`/surge-events`, which names its lead) as a Fired row; `trigger`: its surge trigger, when still
 * there, whose event type `surgeName` names it by.
 */
export function surgeRow(r, { trigger = null } = {}) {
  return {
    // At the event that made the count: what /surge-events orders by, so the kinds merge in order (created_at,
    // when the worker recorded it, differs from it for events sent late).
    ...r, kind: 'surge', fired_at: r.occurred_at || r.created_at, score_after: r.score, lead_name: r.lead_name || '',
    trigger_type: trigger?.event_type || '',
  };
}

/** A surge row's name, by what its trigger watches: "Surge: 5 page_view events in 10 minutes", the type by its
 * name in the OU (`typeName`), asked when shown so that it follows the OU's names once they are read. */
export function surgeName(r, typeName = (t) => t) {
  const type = r.trigger_type ? `${typeName(r.trigger_type)} ` : '';
  return `Surge: ${r.threshold_count} ${type}events in ${windowText(r.window_seconds)}`;
}

/** The firings of several kinds (each list newest first), newest first. */
export function mergeFirings(lists) {
  // By instant, not by text: the API writes milliseconds only when there are some ("…:03Z" is before "…:03.5Z").
  const at = (r) => Date.parse(r.fired_at) || 0;
  return lists.flat().sort((a, b) => at(b) - at(a));
}

/**
 * The first `need` rows of one list the API pages by number (`fetchPage(page, limit)`, newest first), read in pages
 * of at most `max` rows (the API's largest `limit`); fewer when the list is shorter.
 */
async function firstRows(fetchPage, need, max) {
  const limit = Math.min(need, max);
  const rows = [];
  for (let page = 1; rows.length < need; page += 1) {
    const got = await fetchPage(page, limit);
    rows.push(...got);
    if (got.length < limit) break;
  }
  return rows.slice(0, need);
}

/**
 * Page `page` (from 1, `size` rows) of the lists of several kinds merged newest first, whether a later page holds
 * anything, and, for an empty page after the first (an address kept while the list shrank, or typed), how many
 * firings the list holds (`total`, null otherwise): a page past the end is not "nothing fired". The API lists each
 * kind apart, so page N of the merge is not page N of each kind: every kind is read from its start as far as that
 * page could reach into it, one row further to know of a next page.
 * `fetchPage(kind, page, limit)`: that kind's rows, newest first.
 */
export async function mergedPage(kinds, fetchPage, page, size, max = 500) {
  if (kinds.length === 1) {
    const rows = await fetchPage(kinds[0], page, size);
    // The API has no total: the last page with rows is looked for.
    const total = rows.length || page === 1 ? null : await countPagedRows((p) => fetchPage(kinds[0], p, size), size, page);
    return { rows, more: rows.length === size, total };
  }
  const need = page * size + 1;
  const lists = await Promise.all(kinds.map((k) => firstRows((p, limit) => fetchPage(k, p, limit), need, max)));
  const merged = mergeFirings(lists);
  const rows = merged.slice((page - 1) * size, page * size);
  // Every kind was read to its end to fill an empty page: the merge is the whole list.
  return { rows, more: merged.length > page * size, total: rows.length || page === 1 ? null : merged.length };
}
