// The browser tab's title for each screen ("Leads · LeadVibe"): it is what a screen reader announces after a route
// change and what the history menu and the tabs list show, so one title for every screen ("LeadVibe") told nothing.
// A record's screen puts what it shows first once loaded ("Jane Doe · Lead · LeadVibe": lib/pageSubject.svelte.js),
// so five leads open in tabs, or in the history menu, are told apart.
const NAMES = {
  signin: 'Sign in',
  overview: 'Overview',
  leads: 'Leads',
  lead: 'Lead',
  live: 'Live',
  events: 'Events',
  scoring: 'Scoring',
  triggers: 'Triggers',
  settings: 'Settings',
  segments: 'Segments',
  accounts: 'Accounts',
  account: 'Account',
  missing: 'Page not found',
};

/** The most characters of a subject in a title: a longer one is cut with an ellipsis (the tab shows less anyway). */
export const SUBJECT_MAX = 60;

/** A subject on one line, cut to SUBJECT_MAX characters (an ellipsis the last of them): '' for none. */
function oneLine(text) {
  const line = typeof text === 'string' ? text.replace(/\s+/g, ' ').trim() : '';
  const chars = Array.from(line); // by code point: an emoji is not cut in half
  return chars.length > SUBJECT_MAX ? `${chars.slice(0, SUBJECT_MAX - 1).join('').trimEnd()}…` : line;
}

/** The document title of a route: pageTitle('leads') -> 'Leads · LeadVibe'; a segment of its own is 'Segment'.
 * `subject`, what a record's screen shows (its heading), goes first: pageTitle('lead', { id }, 'Jane Doe') ->
 * 'Jane Doe · Lead · LeadVibe'; '' (loading, not found) leaves the screen's name alone. */
export function pageTitle(name, params = {}, subject = '') {
  const screen = name === 'segments' && params.id ? 'Segment' : NAMES[name];
  if (!screen) return 'LeadVibe';
  const what = oneLine(subject);
  return what ? `${what} · ${screen} · LeadVibe` : `${screen} · LeadVibe`;
}
