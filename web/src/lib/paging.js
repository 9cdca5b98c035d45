// Pages of a list the API answers `total` rows of, `limit` to a page.

/** How many pages `total` rows fill (one, when there are none: an empty list still has its first page). */
export function pageCount(total, limit) {
  return Math.max(1, Math.ceil(total / limit));
}

/**
 * The last page when `page` is past it though the list has rows (an address kept while the list shrank, or typed:
 * `?page=99` of 207 leads), else 0: such a page is empty, and "nothing matches" would be wrong about the list.
 */
export function pastLastPage({ page, limit, total }) {
  const last = pageCount(total, limit);
  return total > 0 && page > last ? last : 0;
}

/**
 * A list's plural label ("leads", "deliveries") as `total` rows take it: "1 delivery", not "1 deliverie" (a
 * label ending in "ies" drops it for "y"; any other drops its "s").
 */
export function rowNoun(total, label) {
  if (total !== 1) return label;
  return /ies$/.test(label) ? label.replace(/ies$/, 'y') : label.replace(/s$/, '');
}

/**
 * How many rows a list holds whose API pages it without a total (the audit log, fired triggers), once a page past
 * its end came back empty: `fetchPage(page)` answers page `page` (from 1) of `limit` rows, and page `emptyPage` is
 * known to be empty. The last page with rows is found by doubling the page read, then halving the gap between the
 * last page read with rows and the first without (a few reads however long the list, a full read never), and its
 * rows are counted. 0 when the list is empty.
 */
export async function countPagedRows(fetchPage, limit, emptyPage) {
  let last = 0; // the last page read that holds rows (0: none yet)
  let lastRows = 0;
  let empty = emptyPage; // the first page known to be empty
  const read = async (page) => {
    const rows = (await fetchPage(page)).length;
    if (rows) { last = page; lastRows = rows; } else empty = page;
    return rows;
  };
  for (let page = 1; page < empty; page *= 2) {
    if ((await read(page)) < limit) break; // an empty page, or a short one: the last
  }
  // A full page is followed by another until the first empty one: halve the pages between them.
  while (lastRows === limit && empty - last > 1) await read(Math.floor((last + empty) / 2));
  return last ? (last - 1) * limit + lastRows : 0;
}
