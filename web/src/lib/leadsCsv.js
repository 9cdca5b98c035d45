// The Leads screen's CSV export: what a spreadsheet user looks for first (name, email, company) in columns of
// their own, then the scores, levels and dates, with the whole metadata last for anything else.
import { csvCell, leadLabel } from './format.js';

export const LEADS_CSV_HEADER = ['lead_id', 'name', 'email', 'company', 'score', 'level', 'profile_score',
  'profile_level', 'last_event_at', 'last_event_type', 'created_at', 'account_id', 'metadata'];

const text = (v) => (typeof v === 'string' ? v.trim() : '');

/** A lead of `GET /leads` (with its aliases) as one CSV line: its name only when it has one besides its id; its
 * email from its metadata, else its first email alias. */
export function leadCsvLine(l) {
  const m = l.metadata || {};
  const name = leadLabel(l);
  const email = text(m.email) || text((l.aliases || []).find((a) => a?.kind === 'email')?.raw_value);
  return [l.id, name === l.id ? '' : name, email, text(m.company), l.score, l.level, l.profile_score,
    l.profile_level, l.last_event_at, l.last_event_type, l.created_at, l.account_id, l.metadata].map(csvCell).join(',');
}
