// An audit entry in words: "Deleted segment sg_vzz…" rather than "DELETE /segments/sg_vzz…". Each row of ROUTES is
// a path of the API (`:a`, `:b` stand for its ids) and what it is: a noun for the verb the method gives
// (POST created, PUT/PATCH changed, DELETE deleted), or one phrase per method for what is not a plain change.

const VERB = { POST: 'Created', PUT: 'Changed', PATCH: 'Changed', DELETE: 'Deleted', GET: 'Viewed' };

/** `words` after its indefinite article: "an engagement level", "an account ruleset", "a fit level". By the first
 * letter, which is the sound for the lower-case words these paths are named with (none says "one" or "user"). */
export const withArticle = (words) => `${/^[aeiou]/i.test(words) ? 'an' : 'a'} ${words}`;

const trigger = (kind) => [[`/triggers/${kind}s`, withArticle(`${kind} trigger`)], [`/triggers/${kind}s/:a`, `${kind} trigger :a`],
  [`/triggers/${kind}s/:a/simulate`, { POST: `Simulated ${kind} trigger :a` }]];
const level = (kind, name) => [[`/levels/${kind}`, withArticle(`${name} level`)], [`/levels/${kind}/:a`, `${name} level :a`]];
const rulesets = (base, name) => [[`${base}/rulesets`, withArticle(`${name} ruleset`)], [`${base}/rulesets/:a`, `${name} ruleset :a`],
  [`${base}/rulesets/:a/rules`, `a rule of ${name} ruleset :a`], [`${base}/rulesets/:a/rules/:b`, `rule :b of ${name} ruleset :a`],
  [`${base}/mappings`, withArticle(`${name} field mapping`)], [`${base}/mappings/:a`, `${name} field mapping :a`]];

const ROUTES = [
  ['/auth/login', { POST: 'Signed in' }], ['/auth/logout', { POST: 'Signed out' }],
  ['/auth/cleanup', { POST: 'Cleared old sign-in cookies' }],
  ['/org-units', 'an OU'], ['/org-units/active', { POST: 'Switched the active OU' }], ['/org-units/:a', 'OU :a'],
  // A POST here adds a member to the OU or changes the role of one already in it (the Members screen's role menu).
  ['/org-units/:a/memberships', { POST: 'Added a member to OU :a, or changed their role' }],
  ['/org-units/:a/memberships/:b', 'the role of member :b in OU :a'],
  ['/members', 'a member'], ['/members/:a', 'member :a'],
  ['/secrets', 'an API credential'], ['/secrets/:a', 'API credential :a'],
  ['/ingest', { POST: 'Sent an event' }], ['/ingest/batch', { POST: 'Sent a batch of events' }],
  ['/import', { POST: 'Imported a CSV of events' }], ['/events/batch', { DELETE: 'Deleted events' }],
  ['/orders', { POST: 'Recorded an order' }],
  ['/leads', 'a lead'], ['/leads/merge', { POST: 'Merged leads' }], ['/leads/scores', { POST: 'Looked up lead scores' }],
  ['/leads/:a', 'lead :a'], ['/leads/:a/metadata', 'the metadata of lead :a'],
  ['/rulesets', 'a ruleset'], ['/rulesets/:a', 'ruleset :a'], ['/rulesets/:a/rescore', { POST: 'Rescored ruleset :a' }],
  ['/rulesets/:a/backtest', { POST: 'Previewed rule changes of ruleset :a' }],
  ['/rules', 'a scoring rule'], ['/rules/:a', 'scoring rule :a'],
  ['/decays', 'a decay rule'], ['/decays/:a', 'decay rule :a'],
  ['/filters', 'an inorganic filter'], ['/filters/:a', 'inorganic filter :a'],
  ...level('engagement', 'engagement'), ...level('profile', 'fit'), ...level('account', 'account'),
  ['/settings/scoring', 'the scoring settings'], ['/settings/ou/surge-policy', 'the surge policy'],
  ['/surge-triggers', 'a surge trigger'], ['/surge-triggers/:a', 'surge trigger :a'],
  ...rulesets('/profile', 'fit'), ...rulesets('/accounts', 'account'),
  ['/segments', 'a segment'], ['/segments/:a', 'segment :a'], ['/segments/:a/rules', 'a rule of segment :a'],
  ['/segments/:a/rules/:b', 'rule :b of segment :a'],
  ...trigger('pattern'), ...trigger('milestone'), ...trigger('sequence'),
  ['/deliveries/:a/retry', { POST: 'Retried delivery :a' }],
  ['/accounts/batch-delete', { POST: 'Deleted accounts' }], ['/accounts/:a', 'account :a'],
  ['/settings/slack-app', 'the Slack app settings'], ['/settings/event-types/:a', { PUT: 'Changed event type :a',
    DELETE: 'Deleted every event of type :a' }],
  ['/settings/webhooks/rotate', { POST: 'Rotated the webhook signing secret' }],
  ['/settings/slack/install', { POST: 'Connected Slack' }], ['/settings/slack', { DELETE: 'Disconnected Slack' }],
  ['/settings/slack/target', { PUT: 'Changed the Slack channel' }], ['/settings/slack/test', { POST: 'Sent a Slack test message' }],
  ['/admin/backfill/accounts', { POST: 'Linked leads to accounts' }],
  ['/admin/backfill/event-accounts', { POST: 'Linked past events to accounts' }],
  ['/admin/profile-mappings/apply', { POST: 'Applied the profile mappings to past events' }],
  ['/admin/seed', { POST: 'Loaded sample data' }], ['/admin/wipe', { POST: 'Removed sample data' }],
].map(([template, what]) => {
  const names = [];
  const pattern = template.replace(/:[ab]/g, (name) => { names.push(name); return '([^/]+)'; });
  return { re: new RegExp(`^${pattern}/?$`), names, what, fixed: /:[ab]/.test(template) ? 0 : 1 };
});
// A path of fixed words wins over one with an id in its place (/leads/merge is not lead "merge").
ROUTES.sort((x, y) => y.fixed - x.fixed);

const decode = (part) => { try { return decodeURIComponent(part); } catch { return part; } };

/** What an audit entry did, in words ("Deleted segment sg_1"), with the name of what it touched as it was then when
 * the entry kept one ('Deleted API credential sec_1 “CRM sync”': an id no screen shows once it is deleted); '' for
 * a request the list of the API's paths does not name (the entry then shows its method and path alone). `path` may
 * hold a query string. */
export function auditText(method, path, subject = null) {
  const text = auditWords(method, path);
  return text && subject ? `${text} “${subject}”` : text;
}

function auditWords(method, path) {
  const bare = String(path ?? '').split('?')[0];
  for (const route of ROUTES) {
    const found = route.re.exec(bare);
    if (!found) continue;
    const ids = Object.fromEntries(route.names.map((name, i) => [name, decode(found[i + 1])]));
    const fill = (text) => text.replace(/:[ab]/g, (name) => ids[name]);
    if (typeof route.what === 'string') {
      const verb = VERB[method];
      return verb ? fill(`${verb} ${route.what}`) : '';
    }
    return route.what[method] ? fill(route.what[method]) : '';
  }
  return '';
}
