// The active OU's event type names (lib/eventTypes.js), read once per OU and shared by every screen. A type not
// known yet (it arrived after the read) makes it read again, at most every 30 seconds.
import { api, session } from './session.svelte.js';
import { typeLabel } from './eventTypes.js';

const REFRESH_MS = 30_000;
const catalogue = $state({ names: {}, ou: null }); // ou: whose names these are
let loadedAt = 0;
let loading = null;

function load() {
  if (loading) return;
  const ou = session.ou;
  loading = api.get('/settings/event-types')
    .then((list) => { catalogue.names = Object.fromEntries(list.map((t) => [t.type_key, t.display_name])); },
      () => { catalogue.names = {}; }) // the spelling each row brings stays: a name is a nicety, not a reason for an error
    .finally(() => { catalogue.ou = ou; loadedAt = Date.now(); loading = null; });
}

/** `{ name, key }` of an event type in the active OU (see `typeLabel`); reactive. */
export function eventTypeLabel(eventType) {
  const current = catalogue.ou === session.ou;
  const label = typeLabel(eventType, current ? catalogue.names : {});
  if (!current || (!(label.key in catalogue.names) && Date.now() - loadedAt > REFRESH_MS)) load();
  return label;
}

/** The keys of the event types the active OU has received (hidden ones too; not those only configured before any
 * arrived): what a rule or trigger naming another type is warned about (`unseenTypes`, lib/eventTypes.js). */
export function arrivedTypeKeys() {
  return api.get('/settings/event-types')
    .then((list) => list.filter((t) => t.first_seen_at || t.event_count > 0).map((t) => t.type_key));
}
