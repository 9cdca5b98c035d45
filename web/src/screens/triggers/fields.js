// Form fields of each trigger kind for ConfigList (API field names; windows are an amount and a unit).
import { conditionText, valueless } from '../../lib/conditions.js';
import { emailList } from '../../lib/validate.js';
import { fmtNumber } from '../../lib/format.js';
import { parseSlackTarget, unlistedTargetLabel } from '../../lib/slack.js';

const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
/** A sequence's steps as typed: separated by commas, semicolons or arrows ("pricing_page_view → demo_request"). */
export const stepList = (v) => String(v ?? '').split(/,|;|→|->/).map((s) => s.trim()).filter(Boolean);
const blank = (v) => String(v ?? '').trim() === '';

/** The conditions of a pattern as typed ("page_view:5, demo_request"): `{ conditions, problem }`, where
 * `problem` names the first condition that is not "event type" or "event type:count" (a whole count of at least
 * 1). A type with a space in it is a sentence ("content_download three times"), not a type someone meant. */
export function parseConditions(value) {
  const conditions = [];
  for (const part of String(value ?? '').split(/,|;/).map((s) => s.trim()).filter(Boolean)) {
    const [type, ...counts] = part.split(':').map((s) => s.trim());
    const example = `${(type.split(/\s+/)[0] || 'page_view')}:3`;
    if (!type || /\s/.test(type) || counts.length > 1) {
      return { conditions, problem: `“${part}” is not an event type and a count: write it as ${example}` };
    }
    const count = counts.length ? Number(counts[0]) : 1;
    if (counts.length && (counts[0] === '' || !Number.isInteger(count) || count < 1)) {
      return { conditions, problem: `“${part}”: the count after the colon must be a whole number of at least 1` };
    }
    conditions.push({ event_type: type, min_count: count });
  }
  return { conditions, problem: conditions.length ? '' : 'Conditions are required' };
}

const UNITS = [['seconds', 'seconds'], ['minutes', 'minutes'], ['hours', 'hours'], ['days', 'days']];

const name = { key: 'name', label: 'Name', placeholder: 'Hot lead alert' };
const active = { key: 'active', label: 'Active', type: 'checkbox' };
const webhook = { key: 'webhook_url', label: 'Webhook URL', placeholder: 'https://example.com/hooks/leadvibe', column: false,
  toApi: (v) => (v || '').trim() };
const emails = { key: 'emails', label: 'Email recipients (comma-separated)', column: false,
  toForm: (t) => (t.emails || []).join(', '), toApi: list, check: (v) => emailList(v) };
/** Where a trigger sends, as the list says it: a webhook the server switched off (sample data's demo triggers, or
 * a receiver that answered 410) reads "webhook (off)", since nothing is sent to it until its URL is saved again. */
export const destination = (t) => {
  const named = [t.webhook_url && (t.webhook_disabled ? 'webhook (off)' : 'webhook'), t.emails?.length && `${t.emails.length} email`,
    t.slack_target_id && 'Slack'].filter(Boolean);
  return named.join(', ') || 'none';
};
/** The webhook and email fields with a rule about destinations (`problem(values, item)`: '' when fine), said
 * beside both fields, since either one may be what to change. */
const destinationFields = (problem) => [
  { ...webhook, check: (v, values, item) => problem(values, item) },
  { ...emails, check: (v, values, item) => emailList(v) || problem(values, item) },
];
// A sequence must send somewhere (the API refuses one without). A Slack target counts, whether chosen in the form
// (when the OU has Slack connected) or kept from before.
const slackChosen = (values, item) => ('slack_target' in values ? !blank(values.slack_target) : Boolean(item?.slack_target_id));
const sequenceDestinations = destinationFields((values, item) => (
  blank(values.webhook_url) && blank(values.emails) && !slackChosen(values, item) ? 'A sequence needs a webhook URL or email recipients' : ''));
// A surge trigger sends to exactly one of them (the API refuses none and both; SEMANTICS §8).
const surgeDestinations = destinationFields((values) => {
  const webhookSet = !blank(values.webhook_url);
  if (webhookSet === !blank(values.emails)) {
    return webhookSet ? 'A surge trigger sends to one destination: keep the webhook URL or the email recipients, not both'
      : 'A surge trigger needs a webhook URL or email recipients';
  }
  return '';
});
/** A window as its amount and unit read: "10 minutes", "1 day". */
const windowText = (t) => `${fmtNumber(t.window_seconds)} ${t.window_seconds === 1 ? String(t.window_unit).replace(/s$/, '') : t.window_unit}`;
const window = [
  { key: 'window_seconds', label: 'Within (amount)', header: 'Within', what: 'The window', type: 'number', required: true, min: 1, show: (t) => windowText(t) },
  { key: 'window_unit', label: 'Unit', type: 'select', options: UNITS, column: false },
];
// What an email notification says (blank: the defaults, docs/notifications.md "Email"), and a note for the team.
const optionalText = (v) => (blank(v) ? null : String(v).trim());
const emailTexts = [
  { key: 'email_subject', label: 'Email subject (empty: the default)', column: false, maxlength: 500, toApi: optionalText,
    help: 'The default: “LeadVibe: {{trigger_name}} fired for {{lead_id}}”.' },
  { key: 'email_preheader', label: 'Email preview line (empty: the default)', column: false, maxlength: 500,
    toApi: optionalText, help: 'What mail apps show after the subject. The default: “{{lead_id}} is at {{score}} points”.' },
  { key: 'email_message', label: 'Email message (empty: the score, level and event)', type: 'textarea', column: false,
    toApi: optionalText, help: 'Placeholders: {{lead_id}}, {{score}}, {{event_type}}, {{trigger_name}}, {{level}}. A link to the lead is added.' },
];
const description = { key: 'description', label: 'Description (for your team)', type: 'textarea', column: false, toApi: optionalText };
const fireMode = { key: 'fire_mode', label: 'Fires', type: 'select', options: [['once', 'once per lead'], ['every', 'every time']] };
const where = { key: 'destination', label: 'Sends to', show: destination, formless: true };
/** A trigger's event type by its name in the OU (ConfigList's `typeName`), or "any". */
const anyType = (t, { typeName }) => (t.event_type ? typeName(t.event_type) : 'any');
/** The one event type a field names (empty: any type, none named). */
const oneType = (v) => (blank(v) ? [] : [String(v).trim()]);

export const milestoneFields = [
  name,
  { key: 'score_threshold', label: 'When the score reaches', header: 'Score', what: 'The score', type: 'number', required: true, show: (t) => fmtNumber(t.score_threshold) },
  { key: 'event_type', label: 'On event type (empty: any)', header: 'Event type', placeholder: 'demo_request', show: anyType, types: oneType },
  fireMode, active, webhook, emails, ...emailTexts, description, where,
];

/** A sequence's steps as the list reads them: joined by arrows when they must happen in that order, else by "+"
 * (as a pattern's conditions), so an arrow never claims an order the trigger does not ask for. */
export const sequenceSteps = (t, { typeName = (x) => x } = {}) =>
  (t.event_steps || []).map(typeName).join(t.ordered === false ? ' + ' : ' → ');

export const sequenceFields = [
  name,
  { key: 'event_types', label: 'Steps: event types, separated by commas, e.g. pricing_page_view, demo_request', header: 'Steps', required: true, placeholder: 'pricing_page_view, demo_request',
    toForm: (t) => (t.event_steps || []).join(', '), toApi: stepList, types: stepList,
    check: (v) => (stepList(v).length ? '' : 'Steps are required'), show: sequenceSteps },
  ...window,
  { key: 'ordered', label: 'Steps must happen in this order', type: 'checkbox' },
  fireMode, active, ...sequenceDestinations, ...emailTexts, description, where,
];

export const patternFields = [
  name,
  { key: 'conditions', label: 'Conditions: event type and how many times, e.g. page_view:5, demo_request:1', header: 'Conditions', required: true,
    placeholder: 'page_view:5, pricing_page_view:1',
    toForm: (t) => (t.conditions || []).map((c) => `${c.event_type}:${c.min_count}`).join(', '),
    toApi: (v) => parseConditions(v).conditions, check: (v) => parseConditions(v).problem,
    types: (v) => parseConditions(v).conditions.map((c) => c.event_type),
    show: (t, { typeName }) => (t.conditions || []).map((c) => `${c.min_count}× ${typeName(c.event_type)}`).join(' + ') },
  ...window, fireMode, active, webhook, emails, ...emailTexts, description, where,
];

export const surgeFields = [
  { key: 'threshold_count', label: 'At least (events)', what: 'The number of events', type: 'number', required: true, min: 1, show: (t) => fmtNumber(t.threshold_count) },
  { key: 'event_type', label: 'Of event type (empty: any)', header: 'Event type', show: anyType, types: oneType },
  ...window, active, ...surgeDestinations, ...emailTexts, description, where,
];

// Lead filters of milestone, sequence and pattern triggers (`profile_filters`): a segment and a fit level as
// pickers, any other filter as a row "property · condition · value" (e.g. industry · is one of · software, fintech).
const isPick = (f, field) => f.field === field && f.operator === 'equals' && f.value;
function splitFilters(filters) {
  const rest = [...(filters || [])];
  const take = (field) => {
    const i = rest.findIndex((f) => isPick(f, field));
    return i < 0 ? '' : rest.splice(i, 1)[0].value;
  };
  const segment = take('segment');
  const level = take('profile_level');
  return { segment, level, rest };
}

/** Editor rows -> profile filters: blank rows are skipped, a condition without a value sends none. */
export function filtersFromRows(rows) {
  return (rows || []).filter((r) => (r.field || '').trim()).map((r) => ({
    field: r.field.trim(), operator: r.operator,
    value: valueless(r.operator) || String(r.value ?? '').trim() === '' ? null : String(r.value).trim(),
  }));
}

/** The form fields (and a column) for a trigger's lead filters, given the OU's segments and fit levels. */
export function leadFilterFields(segments, fitLevels) {
  const segmentName = (id) => segments.find((s) => s.segment_id === id)?.name || id;
  const fields = [{
    key: 'only_for', label: 'Only for', formless: true,
    show: (t) => {
      const { segment, level, rest } = splitFilters(t.profile_filters);
      return [segment && `leads in ${segmentName(segment)}`, level && `${level} leads`,
        ...rest.map((f) => conditionText(f.field, f.operator, f.value))].filter(Boolean).join(' · ') || 'any lead';
    },
  }];
  if (segments.length) {
    fields.push({ key: 'segment_filter', label: 'Only for leads in segment', type: 'select', column: false,
      options: [['', 'Any segment'], ...segments.map((s) => [s.segment_id, s.name])],
      toForm: (t) => splitFilters(t.profile_filters).segment, toApi: () => undefined });
  }
  if (fitLevels.length) {
    fields.push({ key: 'level_filter', label: 'Only for leads whose fit level is', type: 'select', column: false,
      // Filters name a fit level by its name: two levels of one name are one choice.
      options: [['', 'Any fit'], ...[...new Set(fitLevels.map((l) => l.name))].map((n) => [n, n])],
      toForm: (t) => splitFilters(t.profile_filters).level, toApi: () => undefined });
  }
  fields.push({ key: 'profile_filters', label: 'Other lead filters (every one must hold)', type: 'conditions', column: false,
    help: 'A lead property (from its metadata or fit profile), a condition and a value; "is one of" takes a comma-separated list.',
    toForm: (t) => splitFilters(t.profile_filters).rest.map((f) => ({ field: f.field, operator: f.operator, value: f.value ?? '' })),
    toApi: (rows, values) => [
      ...(values.segment_filter ? [{ field: 'segment', operator: 'equals', value: values.segment_filter }] : []),
      ...(values.level_filter ? [{ field: 'profile_level', operator: 'equals', value: values.level_filter }] : []),
      ...filtersFromRows(rows),
    ] });
  return fields;
}

/**
 * Where a milestone, sequence or pattern posts in Slack, for an OU with Slack connected: its channels and people by
 * name (`channels`: conversations.list's, `people`: slackPeople's), or the OU's default target. A trigger's own
 * target the lists do not hold (a private channel, a person who left) is offered as it is, so editing keeps it.
 * The form's value is "kind:id" (`withSlackTarget` makes the API's two fields of it).
 */
export function slackTargetField(channels, people) {
  const listed = [...channels.map((c) => [`channel:${c.id}`, `#${c.name}`]), ...people.map((p) => [`user:${p.id}`, p.label])];
  const own = (t) => (t?.slack_target_id ? `${t.slack_target_kind || 'channel'}:${t.slack_target_id}` : '');
  return {
    key: 'slack_target', label: 'Slack', type: 'select', column: false, toForm: own,
    options: (t) => {
      const mine = own(t);
      const kept = mine && !listed.some(([v]) => v === mine)
        ? [[mine, unlistedTargetLabel(...parseSlackTarget(mine))]] : [];
      return [['', 'The OU’s default Slack target'], ...kept, ...listed];
    },
  };
}

/** A trigger body with the form's Slack choice ("channel:C1", "" for the default) as `slack_target_kind` and
 * `slack_target_id`; a body without the choice (Slack not connected) is left as it is, so a stored target stays. */
export function withSlackTarget(out) {
  if (!('slack_target' in out)) return out;
  const { slack_target: choice, ...rest } = out;
  const [kind, id] = parseSlackTarget(choice);
  return kind ? { ...rest, slack_target_kind: kind, slack_target_id: id } : { ...rest, slack_target_kind: null, slack_target_id: null };
}
