// The browser tab's title for each screen ("Leads · LeadVibe"): it is what a screen reader announces after a route
// change and what the history menu and the tabs list show, so one title for every screen ("LeadVibe") told nothing.
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

/** The document title of a route: pageTitle('leads') -> 'Leads · LeadVibe'; a segment of its own is 'Segment'. */
export function pageTitle(name, params = {}) {
  const screen = name === 'segments' && params.id ? 'Segment' : NAMES[name];
  return screen ? `${screen} · LeadVibe` : 'LeadVibe';
}
