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
