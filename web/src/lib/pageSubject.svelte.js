// What the open record's screen shows (a lead's name, as its heading), for the tab's title (App.svelte,
// lib/pageTitle.js). It is held with the route it belongs to, so a screen being replaced (lead A while lead B's
// screen loads, or the Leads list's) never names the next one, and it goes when its screen does.
import { route } from './router.svelte.js';

const held = $state({ key: null, text: '' });
const keyOf = (r) => `${r.name}|${r.params.id ?? ''}`;

/** Call while a record's screen starts: the tab names it by `text()` (read again as it changes; '' while it loads
 * or when it was not found) until the screen closes. */
export function showSubject(text) {
  const key = keyOf(route);
  $effect(() => {
    held.key = key;
    held.text = text() || '';
    return () => {
      if (held.key === key) { held.key = null; held.text = ''; }
    };
  });
}

/** The subject of the route open now: '' when none, or when the one held is the screen's being left. */
export function currentSubject() {
  return held.key === keyOf(route) ? held.text : '';
}
