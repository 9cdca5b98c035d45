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
