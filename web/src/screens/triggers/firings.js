// The Fired tab's rows: milestone, sequence and surge firings in one shape, and the three kinds merged by time.

const UNITS = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute'], [1, 'second']];

/** A window in seconds in the largest whole unit: 600 -> "10 minutes", 86400 -> "1 day", 90 -> "90 seconds". */
export function windowText(seconds) {
  const s = Number(seconds) || 0;
  const [size, unit] = UNITS.find(([n]) => s >= n && s % n === 0) || [1, 'second'];
  const n = s / size;
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * A surge firing (`/surge-events`, which names its lead) as a Fired row: named by what its trigger watches ("Surge:
 * 5 page view events in 10 minutes"; `trigger`: its surge trigger, when still there, for the event type).
 */
export function surgeRow(r, { trigger = null, typeName = (t) => t } = {}) {
  const type = trigger?.event_type ? `${typeName(trigger.event_type)} ` : '';
  return {
    ...r, kind: 'surge', fired_at: r.created_at, score_after: r.score, lead_name: r.lead_name || '',
    trigger_name: `Surge: ${r.threshold_count} ${type}events in ${windowText(r.window_seconds)}`,
  };
}

/** The firings of several kinds (each list newest first), newest first: one page of each, merged. */
export function mergeFirings(lists) {
  return lists.flat().sort((a, b) => String(b.fired_at || '').localeCompare(String(a.fired_at || '')));
}
