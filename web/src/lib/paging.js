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
