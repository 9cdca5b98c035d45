// Reads the server-wide ingest counter from the Prometheus text at /metrics.

/** Value of an unlabelled metric in Prometheus text format 0.0.4, or null. */
export function metricValue(text, name) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return null;
}
