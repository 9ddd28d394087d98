// The console's page: the key form, the wallet view, the live feed and the health panel.
import { explain, getJson, storeKey, storedKey } from "./api.js";
import { money } from "./amounts.js";
import { drawLineChart } from "./chart.js";
import { HealthPanel } from "./health.js";
import { EventStream } from "./live.js";
import { isReversible, openReversal } from "./reversals.js";
import { findByReference, onlyWallet, resultItem } from "./search.js";
import { KEYS_HELP, rangeAfterKey } from "./zoom.js";

const CHART_PAGES = 2;
const PAGE_SIZE = 25;
const FEED_KEEP = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const $ = (id) => document.getElementById(id);
const cell = (text) => {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
};

function showMessage(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

function showNotice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

// "When (UTC)": the API's UTC time without its offset, with a space where a narrow column may
// wrap it; any other offset is left as the API wrote it.
function whenCell(at) {
  const td = document.createElement("td");
  const time = document.createElement("time");
  time.dateTime = at;
  time.textContent = at.replace(/^(\S+)T(\S+?)(?:\+00:00|Z)$/, "$1 $2");
  td.append(time);
  return td;
}

// A type such as HOLD_CAPTURE may break after its underscore when the column is narrow.
function typeCell(type) {
  const td = document.createElement("td");
  type.split("_").forEach((part, i) => {
    if (i) td.append("_", document.createElement("wbr"));
    td.append(part);
  });
  return td;
}

function walletLink(id) {
  const link = document.createElement("a");
  link.href = `#wallet=${id}`;
  link.textContent = id;
  link.className = "wallet-link";
  return link;
}

// ---- the key ----
function showKeyState() {
  $("key-state").textContent = storedKey() ? "Key set for this tab." : "No key.";
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  storeKey($("key-input").value.trim());
  $("key-input").value = "";
  showKeyState();
  showMessage("");
  live.start();
  health.start();
  if (view.wanted) loadWallet(view.wanted);
});

$("key-forget").addEventListener("click", () => {
  storeKey("");
  showKeyState();
  live.start();
  health.start();
});

// ---- the wallet ----
const view = {
  walletId: null,
  wanted: null,
  currency: "",
  cursors: [null],
  page: 0,
  chartPoints: [],
  chartSignature: "",
  zoom: null,
  ticket: 0,
};

function historyFilters() {
  const utc = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : "");
  return {
    operation_type: $("history-type").value,
    created_after: utc($("history-after").value),
    created_before: utc($("history-before").value),
    reference: $("history-reference").value.trim(),
  };
}

async function loadWallet(walletId) {
  if (!UUID.test(walletId)) {
    showMessage("A wallet id is a UUID such as 9038d0c3-832c-45af-88fb-66101dbd95d3.");
    return;
  }
  // Only the latest lookup may draw: a refresh still in flight must not overwrite a newer wallet.
  view.ticket += 1;
  view.wanted = walletId;
  const ticket = view.ticket;
  try {
    const wallet = await getJson(`/api/v1/wallets/${walletId}`);
    if (ticket !== view.ticket) return;
    if (view.walletId !== walletId) {
      view.cursors = [null];
      view.page = 0;
      view.zoom = null;
      $("history-form").reset();
      // Set on a change of wallet only: a live refresh must not undo what is being typed.
      $("wallet-id").value = walletId;
    }
    view.walletId = walletId;
    view.currency = wallet.currency;
    $("balance").textContent = money(wallet.balance, wallet.currency);
    $("available").textContent = money(wallet.available_balance, wallet.currency);
    $("currency").textContent = wallet.currency;
    $("updated").textContent = wallet.updated_at || "";
    $("wallet-view").hidden = false;
    await Promise.all([loadHolds(), loadHistory(), loadChart()]);
    showMessage("");
  } catch (error) {
    if (ticket !== view.ticket) return;
    // A refused key or an unknown wallet leaves nothing of the wallet shown before on screen.
    if ([401, 403, 404].includes(error.status)) $("wallet-view").hidden = true;
    showMessage(explain(error));
  }
}

async function loadHolds() {
  const page = await getJson(`/api/v1/wallets/${view.walletId}/holds`, {
    status: "ACTIVE",
    limit: 100,
  });
  const body = $("holds").tBodies[0];
  body.replaceChildren(
    ...page.items.map((hold) => {
      const row = document.createElement("tr");
      row.append(
        cell(hold.id),
        cell(money(hold.amount, view.currency)),
        cell(hold.expires_at),
        cell(hold.reference),
      );
      return row;
    }),
  );
  $("no-holds").hidden = page.items.length > 0;
}

function relatedCell(op) {
  const td = document.createElement("td");
  if (op.transfer_id) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Other wallet";
    button.setAttribute("aria-label", `Open the other wallet of transfer ${op.transfer_id}`);
    button.addEventListener("click", async () => {
      try {
        const transfer = await getJson(`/api/v1/transfers/${op.transfer_id}`);
        const other =
          transfer.from_wallet_id === view.walletId ? transfer.to_wallet_id : transfer.from_wallet_id;
        window.location.hash = `wallet=${other}`;
      } catch (error) {
        showMessage(explain(error));
      }
    });
    td.append(button);
  } else if (op.hold_id) {
    td.textContent = `hold ${op.hold_id}`;
  } else if (op.reverses_id) {
    td.textContent = `reverses #${op.reverses_id}`;
  }
  return td;
}

function actionCell(op) {
  const td = document.createElement("td");
  td.className = "reversal";
  if (!isReversible(op)) return td;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "reverse";
  button.textContent = "Reverse…";
  button.setAttribute("aria-label", `Reverse ${op.operation_type} #${op.id}`);
  button.addEventListener("click", () => {
    showNotice("");
    openReversal(op, view.currency, (text) => {
      showNotice(text);
      loadWallet(view.walletId);
    });
  });
  td.append(button);
  return td;
}

async function loadHistory() {
  const page = await getJson(`/api/v1/wallets/${view.walletId}/operations`, {
    limit: PAGE_SIZE,
    cursor: view.cursors[view.page],
    ...historyFilters(),
  });
  const body = $("history").tBodies[0];
  body.replaceChildren(
    ...page.items.map((op) => {
      const row = document.createElement("tr");
      const amount = cell(money(op.amount, view.currency));
      const after = cell(money(op.balance_after, view.currency));
      const reference = cell(op.reference);
      amount.className = "amount";
      after.className = "amount";
      reference.className = "text";
      row.append(
        cell(op.id),
        whenCell(op.created_at),
        typeCell(op.operation_type),
        amount,
        after,
        reference,
        relatedCell(op),
        actionCell(op),
      );
      return row;
    }),
  );
  view.cursors[view.page + 1] = page.next_cursor;
  $("history-older").disabled = !page.next_cursor;
  $("history-newer").disabled = view.page === 0;
  $("history-page").textContent = `Page ${view.page + 1}, ${page.items.length} operations.`;
}

async function loadChart() {
  const items = [];
  let cursor = null;
  for (let i = 0; i < CHART_PAGES; i += 1) {
    const page = await getJson(`/api/v1/wallets/${view.walletId}/operations`, {
      limit: 500,
      cursor,
    });
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  // Redrawn only when something changed: a refresh must not replace the chart under a drag.
  const signature = `${view.walletId} ${items.length} ${items.length ? items[0].id : ""}`;
  if (signature === view.chartSignature) return;
  view.chartSignature = signature;
  view.chartPoints = items
    .reverse()
    .map((op) => ({ at: new Date(op.created_at), value: op.balance_after }));
  $("chart-note").textContent = cursor
    ? `The latest ${items.length} operations.`
    : `All ${items.length} operations.`;
  drawChart();
}

// The points the range menu selects, before any zoom.
function rangePoints() {
  const range = $("chart-range").value;
  if (range === "all") return view.chartPoints;
  const since = Date.now() - Number(range) * 1000;
  return view.chartPoints.filter((p) => p.at.getTime() >= since);
}

function drawChart() {
  const all = rangePoints();
  const [since, until] = view.zoom ?? [-Infinity, Infinity];
  const points = all.filter((p) => p.at.getTime() >= since && p.at.getTime() <= until);
  $("chart-reset").hidden = !view.zoom;
  $("chart-shown").textContent = points.length
    ? `Showing ${points.length} of ${all.length} points, ${points[0].at.toISOString()} to ${points[points.length - 1].at.toISOString()}.`
    : "";
  drawLineChart($("chart"), points, {
    label: `Balance of wallet ${view.walletId} over time`,
    currency: view.currency,
    onZoom: (from, to) => {
      view.zoom = [from.getTime(), to.getTime()];
      drawChart();
    },
  });
}

$("chart-keys").textContent = KEYS_HELP;

$("chart").addEventListener("keydown", (event) => {
  const all = rangePoints();
  if (all.length < 2 || event.altKey || event.ctrlKey || event.metaKey) return;
  const full = [all[0].at.getTime(), all[all.length - 1].at.getTime()];
  const zoom = rangeAfterKey(event.key, view.zoom ?? full, full);
  if (zoom === undefined) return;
  event.preventDefault();
  view.zoom = zoom;
  drawChart();
});

$("chart-range").addEventListener("change", () => {
  view.zoom = null;
  drawChart();
});

$("chart-reset").addEventListener("click", () => {
  view.zoom = null;
  drawChart();
});

$("reversals-on").addEventListener("change", (event) => {
  document.body.classList.toggle("reversals", event.target.checked);
});

// ---- search by reference ----
const search = { ticket: 0 };

async function searchReference(reference) {
  search.ticket += 1;
  const ticket = search.ticket;
  $("search-title").textContent = `Reference “${reference}”`;
  $("search-summary").textContent = "Searching…";
  $("search-list").replaceChildren();
  $("search-results").hidden = false;
  try {
    const { results, cut } = await findByReference(reference);
    if (ticket !== search.ticket) return;
    $("search-list").replaceChildren(...results.map(resultItem));
    $("search-summary").textContent = results.length
      ? `${results.length} found${cut ? " (the newest of each kind only)" : ""}; choose a wallet to open it.`
      : `No operation, transfer or hold has reference “${reference}”.`;
    showMessage("");
    const walletId = onlyWallet(results);
    if (walletId) window.location.replace(`#wallet=${walletId}`);
  } catch (error) {
    if (ticket !== search.ticket) return;
    $("search-summary").textContent = "";
    showMessage(explain(error));
  }
}

function hideSearch() {
  search.ticket += 1;
  $("search-results").hidden = true;
}

// A UUID is a wallet id; anything else is a reference.
$("lookup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("wallet-id").value.trim();
  const hash = UUID.test(text) ? `#wallet=${text}` : `#reference=${encodeURIComponent(text)}`;
  if (UUID.test(text)) hideSearch();
  if (window.location.hash === hash) route();
  else window.location.hash = hash;
});

$("history-form").addEventListener("submit", (event) => {
  event.preventDefault();
  view.cursors = [null];
  view.page = 0;
  loadHistory().catch((error) => showMessage(explain(error)));
});

$("history-older").addEventListener("click", () => {
  view.page += 1;
  loadHistory().catch((error) => showMessage(explain(error)));
});

$("history-newer").addEventListener("click", () => {
  view.page = Math.max(0, view.page - 1);
  loadHistory().catch((error) => showMessage(explain(error)));
});

// #wallet=<id> opens a wallet, #reference=<text> lists what carries that reference.
function route() {
  const match = window.location.hash.match(/^#(wallet|reference)=(.+)$/);
  if (!match) return;
  const value = decodeURIComponent(match[2]);
  if (match[1] === "wallet") loadWallet(value);
  else searchReference(value);
}

window.addEventListener("hashchange", route);

// ---- the live feed ----
const feed = { events: [], paused: false, unseen: 0, refresh: null };

function eventSummary(type, event) {
  const data = event.data || {};
  if (type === "operation.created") {
    return `${data.operation_type} ${money(data.amount, "")} → balance ${money(data.balance_after, "")}`;
  }
  if (data.amount !== undefined) return `${type} ${money(data.amount, "")}`;
  return type;
}

function matchesFeedFilter(item) {
  const type = $("live-type").value;
  const wallet = $("live-wallet").value.trim().toLowerCase();
  if (type && item.type !== type) return false;
  if (wallet && !item.event.wallet_ids.some((id) => id.toLowerCase().startsWith(wallet))) {
    return false;
  }
  return true;
}

function renderFeed() {
  const list = $("live-feed");
  list.replaceChildren(
    ...feed.events.filter(matchesFeedFilter).map(({ type, event }) => {
      const item = document.createElement("li");
      item.dataset.sequence = event.sequence;
      item.dataset.type = type;
      const when = document.createElement("time");
      when.textContent = event.created_at;
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = eventSummary(type, event);
      item.append(when, what, ...event.wallet_ids.map(walletLink));
      return item;
    }),
  );
  $("live-pause").textContent = feed.paused ? `Resume (${feed.unseen} new)` : "Pause";
}

function onLiveEvent(type, event) {
  feed.events.unshift({ type, event });
  feed.events.length = Math.min(feed.events.length, FEED_KEEP);
  if (feed.paused) {
    feed.unseen += 1;
    $("live-pause").textContent = `Resume (${feed.unseen} new)`;
  } else {
    renderFeed();
  }
  // The wallet asked for last, even while its lookup is still in flight.
  if (view.wanted && event.wallet_ids.includes(view.wanted)) {
    clearTimeout(feed.refresh);
    feed.refresh = setTimeout(() => loadWallet(view.wanted), 150);
  }
}

const live = new EventStream({
  onEvent: onLiveEvent,
  onState: (text, error) => {
    $("live-state").textContent = error ? `${text} ${explain(error)}` : text;
    if (error && (error.status === 401 || error.status === 403)) {
      showMessage(`Live events: ${explain(error)}`);
    }
  },
});

$("live-pause").addEventListener("click", () => {
  feed.paused = !feed.paused;
  feed.unseen = 0;
  $("live-pause").setAttribute("aria-pressed", String(feed.paused));
  renderFeed();
});
$("live-type").addEventListener("change", renderFeed);
$("live-wallet").addEventListener("input", renderFeed);

// ---- health ----
const health = new HealthPanel({
  source: $("health-source"),
  figures: $("health"),
  verify: { result: $("verify-result"), problems: $("verify-problems") },
  state: $("health-state"),
});

showKeyState();
live.start();
health.start();
route();
