// Search by reference: the operations, transfers and holds that carry one, newest first, each as
// a result that names its wallets.
import { getJson } from "./api.js";
import { money } from "./amounts.js";

const LIMIT = 10;

function fromOperation(op) {
  return {
    kind: "operation",
    title: `Operation #${op.id}`,
    what: op.operation_type,
    amount: op.amount,
    wallets: [{ role: "Wallet", id: op.wallet_id }],
    at: op.created_at,
  };
}

function fromTransfer(transfer) {
  return {
    kind: "transfer",
    title: `Transfer ${transfer.id}`,
    what: "TRANSFER",
    amount: transfer.amount,
    currency: transfer.currency,
    wallets: [
      { role: "From", id: transfer.from_wallet_id },
      { role: "To", id: transfer.to_wallet_id },
    ],
    at: transfer.created_at,
  };
}

function fromHold(hold) {
  return {
    kind: "hold",
    title: `Hold ${hold.id}`,
    what: `HOLD ${hold.status}`,
    amount: hold.amount,
    wallets: [{ role: "Wallet", id: hold.wallet_id }],
    at: hold.created_at,
  };
}

// Operations and holds carry no currency: it is their wallet's, asked once per wallet.
async function addCurrencies(results) {
  const walletIds = new Set(
    results.filter((r) => !r.currency).flatMap((r) => r.wallets.map((w) => w.id)),
  );
  const currencies = new Map();
  await Promise.all(
    [...walletIds].map(async (id) => {
      const wallet = await getJson(`/api/v1/wallets/${id}`);
      currencies.set(id, wallet.currency);
    }),
  );
  for (const result of results) result.currency ??= currencies.get(result.wallets[0].id);
}

export async function findByReference(reference) {
  const found = await getJson("/api/v1/search", { reference, limit: LIMIT });
  const results = [
    ...found.operations.map(fromOperation),
    ...found.transfers.map(fromTransfer),
    ...found.holds.map(fromHold),
  ].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  await addCurrencies(results);
  const cut = [found.operations, found.transfers, found.holds].some((list) => list.length >= LIMIT);
  return { results, cut };
}

// The one wallet to open without asking: a single result that belongs to a single wallet.
export function onlyWallet(results) {
  if (results.length !== 1 || results[0].wallets.length !== 1) return null;
  return results[0].wallets[0].id;
}

function walletLink({ role, id }) {
  const span = document.createElement("span");
  const link = document.createElement("a");
  link.href = `#wallet=${id}`;
  link.className = "wallet-link";
  link.textContent = id;
  link.setAttribute("aria-label", `Open ${role === "Wallet" ? "wallet" : `${role} wallet`} ${id}`);
  span.append(`${role} `, link);
  return span;
}

export function resultItem(result) {
  const item = document.createElement("li");
  item.dataset.kind = result.kind;
  const what = document.createElement("span");
  what.className = "what";
  what.textContent = result.what;
  const amount = document.createElement("span");
  amount.className = "amount";
  amount.textContent = money(result.amount, result.currency || "");
  const when = document.createElement("time");
  when.dateTime = result.at;
  when.textContent = result.at;
  const title = document.createElement("span");
  title.className = "muted";
  title.textContent = result.title;
  item.append(what, amount, when, title, ...result.wallets.map(walletLink));
  return item;
}
