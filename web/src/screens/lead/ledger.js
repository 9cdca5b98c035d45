// The score ledger of a lead: every event with what it was scored with, its delta and the score it left, as stored.
// Events are scored in the order they arrive, so the score an event left (the activity's `score`) is read, never
// rebuilt by adding deltas up in time order: an event that arrived before others timestamped earlier found another
// score than the row under it shows (a complaint that arrived first, at 0, was floored to 0).

/**
 * @param {Array<{id: string, timestamp: string, score_delta: number, score: number|null}>} events newest first,
 *   as GET /leads/{id}/activity answers them (`score`: the score after the event, as it was scored; null when the
 *   ruleset did not score it)
 * @param {number} score the lead's current score in the same (primary) ruleset
 * @returns {{rows: Array<object>, broughtForward: number, sum: number, outOfOrder: boolean}} rows newest first, each
 *   with `before` and `after` (null when not scored) and `outOfOrder` (it started from another score than the
 *   scored row under it left: it arrived out of time order, or they did); `broughtForward` is what events older
 *   than the window (the activity's limit) contributed; `outOfOrder` when any row is
 */
export function buildLedger(events, score) {
  const sum = events.reduce((acc, e) => acc + (e.score_delta || 0), 0);
  const broughtForward = score - sum;
  let last = broughtForward;
  let running = broughtForward;
  const chronological = [...events].reverse().map((e) => {
    running += e.score_delta || 0;
    if (e.score === null || e.score === undefined) {
      return { ...e, before: null, after: null, outOfOrder: false, running };
    }
    const before = e.score - (e.score_delta || 0);
    const row = { ...e, before, after: e.score, outOfOrder: before !== last, running };
    last = e.score;
    return row;
  });
  return { rows: chronological.reverse(), broughtForward, sum, outOfOrder: chronological.some((r) => r.outOfOrder) };
}

/**
 * Points for a score-over-time chart: [seconds[], scores[]], oldest first: the stored deltas added up in time order
 * (`running`), which ends at the lead's score. Where events arrived out of time order this is not the score each
 * left as it was scored (the ledger's column): plotted at event times, those would draw the score a late event
 * found long after it was gone (a complaint that arrived first at 0 drew hours at 0 before its earlier events).
 */
export function scoreSeries(ledger) {
  const rows = [...ledger.rows].reverse().filter((r) => r.after !== null && r.after !== undefined);
  const x = [];
  const y = [];
  for (const r of rows) {
    const t = Math.floor(new Date(r.timestamp).getTime() / 1000);
    if (x.length && x[x.length - 1] === t) y[y.length - 1] = r.running; // same second: keep the later total
    else { x.push(t); y.push(r.running); }
  }
  // Events all in one second (a burst, an import) make one point, which draws no line: start a minute before
  // them from the total before them, so the chart shows the step they made.
  if (x.length === 1) {
    x.unshift(x[0] - 60);
    y.unshift(rows[0].running - (rows[0].score_delta || 0));
  }
  return [x, y];
}
