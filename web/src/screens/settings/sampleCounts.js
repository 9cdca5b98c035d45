// What loading or removing sample data did, in the words of the screens: leads, events, rules, triggers… The
// server counts rows per table; the bookkeeping tables behind a score or a trigger (lead scores, aliases, trigger
// state, per-event scores, segment rule rows) are not things a person looks for, so they are left out.

const WORDS = [
  ['leads', 'lead', 'leads'], ['events', 'event', 'events'], ['decay_events', 'score decay', 'score decays'],
  ['accounts', 'account', 'accounts'], ['rulesets', 'ruleset', 'rulesets'], ['rules', 'rule', 'rules'],
  ['fit_rulesets', 'fit or account ruleset', 'fit and account rulesets'],
  ['fit_rules', 'fit or account rule', 'fit and account rules'], ['field_mappings', 'field mapping', 'field mappings'],
  ['levels', 'level', 'levels'], ['decay_rules', 'decay rule', 'decay rules'],
  ['inorganic_filters', 'inorganic filter', 'inorganic filters'], ['segments', 'segment', 'segments'],
  ['triggers', 'trigger', 'triggers'], ['trigger_events', 'trigger firing', 'trigger firings'],
  ['surge_events', 'surge', 'surges'], ['deliveries', 'delivery', 'deliveries'], ['orders', 'order', 'orders'],
  ['leads_unlinked', 'lead of yours unlinked from its sample account', 'leads of yours unlinked from sample accounts'],
];
const BOOKKEEPING = new Set(['lead_scores', 'lead_aliases', 'trigger_state', 'event_scores', 'segment_rules']);
const number = new Intl.NumberFormat('en-US');

/** `{leads: 200, lead_scores: 201, …}` as "200 leads, 1,785 events, …" (zero counts left out; a key this list does
 * not know reads as its words). */
export function sampleSummary(counts) {
  const known = WORDS.filter(([key]) => counts[key]).map(([key, one, many]) => [counts[key], counts[key] === 1 ? one : many]);
  const others = Object.entries(counts)
    .filter(([key, n]) => n && !BOOKKEEPING.has(key) && !WORDS.some(([k]) => k === key))
    .map(([key, n]) => [n, key.replaceAll('_', ' ')]);
  return [...known, ...others].map(([n, words]) => `${number.format(n)} ${words}`).join(', ');
}

/** What the seed's answer means for the sample accounts: listed under Accounts when account-based marketing is on
 * (the seed turns it on itself only for an organization admin, in an organization without leads of its own). */
export function sampleAccountsNote(answer) {
  if (!answer || answer.abm_enabled === undefined) return '';
  return answer.abm_enabled
    ? 'Account-based marketing is on: the sample companies are listed under Accounts.'
    : 'Account-based marketing is off, so the sample companies have no account pages: an organization admin turns it on in Scoring → Settings.';
}
