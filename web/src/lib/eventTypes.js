// Event types as a person reads them. An event type is matched by its key (`Page View`, `page-view` and `page_view`
// are one type, `page_view`) and named by its display name, the first spelling the OU sent
// (`GET /settings/event-types`), so every screen calls one type by one name whatever each event spelled.

/** The matching key of an event type, as the server computes it (engine/normalize.py `type_key`). */
export function typeKey(eventType) {
  return String(eventType ?? '').trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/**
 * The name and key of an event type as spelled by one event, rule or summary: `names` maps keys to display names
 * (`/settings/event-types`); a type not in it keeps its own spelling.
 * @param {string} eventType
 * @param {Record<string, string>} names
 */
export function typeLabel(eventType, names) {
  const key = typeKey(eventType);
  return { name: names[key] ?? String(eventType ?? ''), key };
}

/** A warning about event types this OU has never received (`known`: the keys or spellings of those it has, null
 * while not read yet); '' when every one of `types` has arrived, in any spelling, and in an OU no event reached yet
 * (every type is unseen there: the warning would tell nothing). */
export function unseenTypes(types, known) {
  if (!known?.length) return '';
  const seen = new Set(known.map(typeKey));
  const unseen = [...new Set(types.filter((t) => String(t ?? '').trim() && !seen.has(typeKey(t))))];
  if (!unseen.length) return '';
  return `${unseen.length === 1 ? 'No event' : 'No events'} of type ${unseen.map((t) => `“${t}”`).join(', ')} arrived in this OU yet: `
    + 'check the spelling (saving still works)';
}
