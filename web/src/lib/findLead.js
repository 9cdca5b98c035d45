// A lead asked for by what a person knows of it: its id, a name, a company or an alias (`GET /leads/search`).

/** How many leads `GET /leads/search` answers at most: a search that brings back this many may have left some out. */
export const SEARCH_LIMIT = 10;

/** What to say under a search's hits when there may be more than it showed ('' when it showed them all). */
export const searchCapNote = (hits) =>
  hits.length >= SEARCH_LIMIT ? `Showing the first ${SEARCH_LIMIT} matches: type more to narrow.` : '';

/**
 * The lead `text` names: `{ id }` when it is a lead's id or names exactly one lead, else `{ choices }`: the leads
 * it could mean (none, or several to pick from). `search(q)` answers as `GET /leads/search`.
 * @param {string} text
 * @param {(q: string) => Promise<Array<{id: string, name?: string | null}>>} search
 */
export async function findLead(text, search) {
  const q = text.trim();
  const hits = q.length >= 2 ? await search(q) : [];
  const exact = hits.find((h) => h.id === q);
  if (exact) return { id: exact.id };
  if (hits.length === 1) return { id: hits[0].id };
  return { choices: hits };
}

/** What to say when no lead matches `text`. */
export const noLeadMatches = (text) => `No lead matches “${text.trim()}”: give its name, company, email or id.`;
