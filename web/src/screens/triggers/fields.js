// Form fields of each trigger kind for ConfigList (API field names; windows are an amount and a unit).

const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
const UNITS = [['seconds', 'seconds'], ['minutes', 'minutes'], ['hours', 'hours'], ['days', 'days']];

const name = { key: 'name', label: 'Name', placeholder: 'Hot lead alert' };
const active = { key: 'active', label: 'Active', type: 'checkbox' };
const webhook = { key: 'webhook_url', label: 'Webhook URL', placeholder: 'https://example.com/hooks/leadvibe', column: false,
  toApi: (v) => (v || '').trim() };
const emails = { key: 'emails', label: 'Email recipients (comma-separated)', column: false,
  toForm: (t) => (t.emails || []).join(', '), toApi: list };
const destination = (t) => [t.webhook_url && 'webhook', t.emails?.length && `${t.emails.length} email`, t.slack_target_id && 'Slack']
  .filter(Boolean).join(', ') || 'none';
const window = [
  { key: 'window_seconds', label: 'Within (amount)', type: 'number', required: true, show: (t) => `${t.window_seconds} ${t.window_unit}` },
  { key: 'window_unit', label: 'Unit', type: 'select', options: UNITS, column: false },
];
const fireMode = { key: 'fire_mode', label: 'Fires', type: 'select', options: [['once', 'once per lead'], ['every', 'every time']] };
const where = { key: 'destination', label: 'Sends to', show: destination, formless: true };

export const milestoneFields = [
  name,
  { key: 'score_threshold', label: 'When the score reaches', type: 'number', required: true },
  { key: 'event_type', label: 'On event type (empty: any)', placeholder: 'demo_request', show: (t) => t.event_type || 'any' },
  fireMode, active, webhook, emails, where,
];

export const sequenceFields = [
  name,
  { key: 'event_types', label: 'Steps (event types, comma-separated)', required: true, placeholder: 'pricing_page_view, demo_request',
    toForm: (t) => (t.event_steps || []).join(', '), toApi: list, show: (t) => (t.event_steps || []).join(' → ') },
  ...window,
  { key: 'ordered', label: 'Steps must happen in this order', type: 'checkbox' },
  fireMode, active, webhook, emails, where,
];

export const patternFields = [
  name,
  { key: 'conditions', label: 'Conditions (type:count, comma-separated)', required: true, placeholder: 'page_view:5, pricing_page_view:1',
    toForm: (t) => (t.conditions || []).map((c) => `${c.event_type}:${c.min_count}`).join(', '),
    toApi: (v) => list(v).map((c) => {
      const [event_type, count] = c.split(':');
      return { event_type: event_type.trim(), min_count: Number(count || 1) };
    }),
    show: (t) => (t.conditions || []).map((c) => `${c.min_count}× ${c.event_type}`).join(' + ') },
  ...window, fireMode, active, webhook, emails, where,
];

export const surgeFields = [
  { key: 'threshold_count', label: 'At least (events)', type: 'number', required: true },
  { key: 'event_type', label: 'Of event type (empty: any)', show: (t) => t.event_type || 'any' },
  ...window, active, webhook, emails, where,
];
