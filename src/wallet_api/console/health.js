// The health panel: the service's own summary of its last 15 minutes (scope admin) with the last
// `wallet-api verify`, or, for a key without that scope, /metrics as read since the page opened.
import { ApiError, explain, getJson } from "./api.js";
import { drawSparkline } from "./chart.js";
import { parseMetrics, summarize } from "./metrics.js";

const SUMMARY_MS = 10_000;
const METRICS_MS = 5_000;
const WINDOW_MS = 15 * 60 * 1000;
const PROBLEMS_SHOWN = 5;
// Refusals of the summary that leave /metrics to read: no key, a key without the admin scope, a
// service older than the summary.
const FALLBACK = [401, 403, 404];

function fromPoint(point) {
  return {
    at: Date.parse(point.at),
    rps: point.requests_per_second,
    errorRate: point.error_rate,
    p99: point.p99_seconds,
    pool: point.pool_connections_in_use,
    poolLimit: point.pool_connections_limit,
    backlog: point.events_backlog,
  };
}

function sourceNote(refusal) {
  if (!refusal) return "The service's own summary of its last 15 minutes, read every 10 s.";
  const why = {
    401: "Without an API key",
    403: "This key lacks the admin scope (403)",
    404: "This service has no health summary (404)",
  }[refusal.status];
  return `${why}: shown from /metrics every 5 s, only what this page saw since it opened (up to 15 min). An admin key shows the service's own summary and the last verify.`;
}

// Reads one source until start() is called again (a new key): a read still in flight from
// before then is dropped.
export class HealthPanel {
  constructor(elements) {
    this.elements = elements;
    this.run = null;
  }

  start() {
    clearTimeout(this.timer);
    const run = { refusal: null, previous: null, history: [] };
    this.run = run;
    this.tick(run);
  }

  async tick(run) {
    try {
      const health = await (run.refusal ? this.readMetrics(run) : this.readSummary(run));
      if (run !== this.run) return;
      this.show(health, run.refusal);
      this.elements.state.textContent = `Read at ${new Date().toISOString()}.`;
    } catch (error) {
      if (run !== this.run) return;
      this.elements.state.textContent = `Health could not be read: ${explain(error)}`;
    }
    this.timer = setTimeout(() => this.tick(run), run.refusal ? METRICS_MS : SUMMARY_MS);
  }

  async readSummary(run) {
    try {
      const summary = await getJson("/api/v1/health/summary");
      return { history: summary.points.map(fromPoint), lastVerify: summary.last_verify };
    } catch (error) {
      if (!(error instanceof ApiError && FALLBACK.includes(error.status))) throw error;
      run.refusal = error;
      return this.readMetrics(run);
    }
  }

  async readMetrics(run) {
    const response = await fetch("/metrics", { cache: "no-store" });
    if (!response.ok) throw new Error(`/metrics answered HTTP ${response.status}`);
    const current = { at: Date.now(), samples: parseMetrics(await response.text()) };
    const previous = run.previous;
    run.previous = current;
    if (!previous) return { history: [], lastVerify: undefined };
    run.history.push(summarize(previous, current));
    run.history = run.history.filter((s) => s.at >= current.at - WINDOW_MS);
    return { history: run.history, lastVerify: undefined };
  }

  show({ history, lastVerify }, refusal) {
    this.elements.source.textContent = sourceNote(refusal);
    showFigures(this.elements.figures, history, Boolean(refusal));
    showVerify(this.elements.verify, lastVerify);
  }
}

function figure(list, term, value, series) {
  const div = document.createElement("div");
  const dt = document.createElement("dt");
  const dd = document.createElement("dd");
  dt.textContent = term;
  dd.textContent = value;
  div.append(dt, dd);
  if (series) {
    const spark = document.createElement("dd");
    spark.className = "spark";
    drawSparkline(spark, series.points, { ...series, label: `${term} over the last 15 minutes` });
    div.append(spark);
  }
  list.append(div);
}

function milliseconds(seconds) {
  if (seconds === null) return "no requests";
  if (!Number.isFinite(seconds)) return "above the largest bucket";
  return `${(seconds * 1000).toFixed(1)} ms`;
}

function showFigures(list, history, fromMetrics) {
  list.replaceChildren();
  if (history.length === 0) {
    list.textContent = fromMetrics
      ? "Rates need two reads of /metrics: the first figures come in 5 s."
      : "No points yet: the service started moments ago.";
    return;
  }
  const latest = history[history.length - 1];
  const until = Math.max(Date.now(), latest.at);
  const series = (pick) => ({
    since: until - WINDOW_MS,
    until,
    points: history.map((s) => ({ at: s.at, value: pick(s) })),
  });
  const peak = Math.max(...history.map((s) => s.rps));
  figure(list, "Requests/s", `${latest.rps.toFixed(1)} (peak ${peak.toFixed(1)})`, series((s) => s.rps));
  figure(list, "5xx share", `${(latest.errorRate * 100).toFixed(2)} %`, series((s) => s.errorRate));
  figure(list, fromMetrics ? "p99 at most" : "p99", milliseconds(latest.p99), series((s) => s.p99));
  const limit = latest.poolLimit === null ? "" : ` of ${latest.poolLimit}`;
  figure(
    list,
    "DB connections in use",
    latest.pool === null ? "n/a" : `${latest.pool}${limit}`,
    series((s) => s.pool),
  );
  figure(
    list,
    "Event backlog",
    latest.backlog === null ? "none" : String(latest.backlog),
    series((s) => s.backlog),
  );
}

function showVerify({ result, problems }, lastVerify) {
  problems.replaceChildren();
  if (lastVerify === undefined) {
    result.textContent = "The last verify is shown with an admin key.";
    return;
  }
  if (lastVerify === null) {
    result.textContent = "No verify has run on this database.";
    return;
  }
  const checked = `${lastVerify.wallets} wallets and ${lastVerify.operations} operations checked`;
  const first = lastVerify.first_problems.slice(0, PROBLEMS_SHOWN);
  const verdict = lastVerify.books_balance
    ? "the books balance."
    : `${lastVerify.problems} problems${first.length ? ", the first:" : "."}`;
  result.textContent = `Ended ${lastVerify.finished_at}: ${checked}; ${verdict}`;
  problems.replaceChildren(
    ...first.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }),
  );
}
