// Reversing an operation or a transfer, behind a dialog that says exactly what will move. The
// service decides whether the key may (wallets:write, or admin); the console only asks.
import { money } from "./amounts.js";
import { explain, getJson, postJson } from "./api.js";

const CREDITS = new Set(["DEPOSIT", "TRANSFER_IN"]);
const REVERSIBLE = new Set(["DEPOSIT", "WITHDRAW", "HOLD_CAPTURE", "TRANSFER_IN", "TRANSFER_OUT"]);
const $ = (id) => document.getElementById(id);

// crypto.randomUUID exists only in secure contexts; the console may be served over plain HTTP.
function idempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export function isReversible(op) {
  return REVERSIBLE.has(op.operation_type);
}

function movement(plan, amount) {
  const shown = money(amount || "?", plan.currency);
  if (plan.transfer) {
    return `Moves ${shown} from wallet ${plan.transfer.to_wallet_id} back to wallet ${plan.transfer.from_wallet_id}.`;
  }
  return CREDITS.has(plan.op.operation_type)
    ? `Takes ${shown} out of wallet ${plan.op.wallet_id}.`
    : `Puts ${shown} back into wallet ${plan.op.wallet_id}.`;
}

export function openReversal(op, currency, onDone) {
  const dialog = $("reverse-dialog");
  const plan = { op, currency, transfer: null, key: idempotencyKey() };
  const amount = $("reverse-amount");
  const error = $("reverse-error");
  const showMoves = () => {
    $("reverse-moves").textContent = movement(plan, amount.value.trim());
  };
  const finish = () => {
    dialog.close();
    amount.oninput = null;
    $("reverse-confirm").onclick = null;
    $("reverse-cancel").onclick = null;
  };
  error.hidden = true;
  amount.value = op.amount;
  $("reverse-what").textContent = op.transfer_id
    ? `Reverse transfer ${op.transfer_id} (this wallet's ${op.operation_type} #${op.id} of ${money(op.amount, currency)}). The original stays; REVERSAL entries are added.`
    : `Reverse ${op.operation_type} #${op.id} of ${money(op.amount, currency)}. The original stays; a REVERSAL entry is added.`;
  showMoves();
  amount.oninput = showMoves;
  $("reverse-cancel").onclick = finish;
  $("reverse-confirm").onclick = async () => {
    const path = op.transfer_id
      ? `/api/v1/transfers/${op.transfer_id}/reverse`
      : `/api/v1/operations/${op.id}/reverse`;
    try {
      const result = await postJson(path, { amount: amount.value.trim() }, { "Idempotency-Key": plan.key });
      finish();
      onDone(`Reversed: ${result.entries.map((e) => `#${e.id} on ${e.wallet_id}`).join(", ")}.`);
    } catch (failure) {
      error.textContent = explain(failure);
      error.hidden = false;
    }
  };
  dialog.showModal();
  amount.focus();
  if (op.transfer_id) {
    getJson(`/api/v1/transfers/${op.transfer_id}`)
      .then((transfer) => {
        plan.transfer = transfer;
        showMoves();
      })
      .catch((failure) => {
        error.textContent = explain(failure);
        error.hidden = false;
      });
  }
}
