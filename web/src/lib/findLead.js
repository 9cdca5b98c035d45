// A lead asked for by what a person knows of it: its id, a name, a company or an alias (`GET /leads/search`).

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
