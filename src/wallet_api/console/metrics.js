// /metrics (unauthenticated, as Prometheus scrapes it) as the health panel reads it when the key
// lacks the admin scope: rates, error share and p99 computed between two reads.
// Names as the service exports them, older names after newer ones.
const POOL_IN_USE = ["wallet_db_pool_connections_in_use", "wallet_db_pool_in_use"];
const POOL_LIMIT = ["wallet_db_pool_connections_limit"];
const BACKLOG = ["wallet_events_backlog"];
const REQUESTS = "wallet_http_requests_total";
const DURATION_BUCKET = "wallet_http_request_duration_seconds_bucket";

export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function total(samples, names, where = () => true) {
  const wanted = Array.isArray(names) ? names : [names];
  for (const name of wanted) {
    const found = samples.filter((s) => s.name === name && where(s.labels));
    if (found.length) return found.reduce((sum, s) => sum + s.value, 0);
  }
  return null;
}

function maxOf(samples, names) {
  const found = samples.filter((s) => names.includes(s.name));
  return found.length ? Math.max(...found.map((s) => s.value)) : null;
}

function buckets(samples) {
  const byBound = new Map();
  for (const s of samples) {
    if (s.name !== DURATION_BUCKET) continue;
    byBound.set(s.labels.le, (byBound.get(s.labels.le) || 0) + s.value);
  }
  return byBound;
}

function p99(before, after) {
  const bounds = [...after.keys()].sort((a, b) => Number(a) - Number(b));
  const counts = bounds.map((le) => after.get(le) - (before.get(le) || 0));
  const all = counts[counts.length - 1];
  if (!all) return null;
  const index = counts.findIndex((count) => count >= all * 0.99);
  return Number(bounds[index]);
}

export function summarize(previous, current) {
  const seconds = (current.at - previous.at) / 1000;
  const requests = total(current.samples, REQUESTS) - total(previous.samples, REQUESTS);
  const isError = (labels) => String(labels.status || "").startsWith("5");
  const errors =
    total(current.samples, REQUESTS, isError) - total(previous.samples, REQUESTS, isError);
  return {
    at: current.at,
    rps: seconds > 0 ? requests / seconds : 0,
    errorRate: requests > 0 ? errors / requests : 0,
    p99: p99(buckets(previous.samples), buckets(current.samples)),
    pool: total(current.samples, POOL_IN_USE),
    poolLimit: total(current.samples, POOL_LIMIT),
    backlog: maxOf(current.samples, BACKLOG),
  };
}
