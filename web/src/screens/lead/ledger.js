// The score ledger of a lead: every scored event with its rules, multiplier and delta, and a running total
// that ends exactly at the lead's score (a score is the sum of its stored deltas).

/**
 * @param {Array<{id: string, timestamp: string, score_delta: number, score: number|null}>} events newest first,
 *   as GET /leads/{id}/activity answers them
 * @param {number} score the lead's current score in the same (primary) ruleset
 * @returns {{rows: Array<object>, broughtForward: number, sum: number}} rows newest first with `running`;
 *   `broughtForward` is what events older than the window (the activity's limit) contributed
 */
export function buildLedger(events, score) {
  const sum = events.reduce((acc, e) => acc + (e.score_delta || 0), 0);
  const broughtForward = score - sum;
  let running = broughtForward;
  const chronological = [...events].reverse().map((e) => {
    running += e.score_delta || 0;
    return { ...e, running };
  });
  return { rows: chronological.reverse(), broughtForward, sum };
}

/** Points for a score-over-time chart: [seconds[], running totals[]], oldest first. */
export function scoreSeries(ledger) {
  const rows = [...ledger.rows].reverse();
  const x = [];
  const y = [];
  for (const r of rows) {
    const t = Math.floor(new Date(r.timestamp).getTime() / 1000);
    if (x.length && x[x.length - 1] === t) y[y.length - 1] = r.running; // same second: keep the later total
    else { x.push(t); y.push(r.running); }
  }
  // Events all in one second (a burst, an import) make one point, which draws no line: start a minute before
  // them from the score they found, so the chart shows the step they made.
  if (x.length === 1) {
    x.unshift(x[0] - 60);
    y.unshift(ledger.broughtForward);
  }
  return [x, y];
}
