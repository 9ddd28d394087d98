// Amounts as the API gives them (strings), shown exactly: digits are grouped by string
// manipulation, never through a float.
export function groupDigits(amount) {
  const text = String(amount);
  const sign = text.startsWith("-") ? "-" : "";
  const [whole, fraction] = text.slice(sign.length).split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + grouped + (fraction === undefined ? "" : `.${fraction}`);
}

export function money(amount, currency) {
  return currency ? `${groupDigits(amount)} ${currency}` : groupDigits(amount);
}
