// The service's API as the console calls it: the key from sessionStorage as a bearer header,
// amounts asked as strings, and every refusal turned into a sentence an operator can act on.
const KEY_NAME = "wallet-api-console-key";

export function storedKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export function requestHeaders(extra = {}) {
  const headers = { "Wallet-Amount-Format": "string", Accept: "application/json", ...extra };
  const key = storedKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

export function apiUrl(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  return url;
}

export async function refusal(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  return new ApiError(response.status, body.code || "", body.detail || response.statusText);
}

export async function getJson(path, params) {
  const response = await fetch(apiUrl(path, params), { headers: requestHeaders(), cache: "no-store" });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

export async function postJson(path, body, extraHeaders = {}) {
  const response = await fetch(apiUrl(path), {
    method: "POST",
    headers: requestHeaders({ "Content-Type": "application/json", ...extraHeaders }),
    body: JSON.stringify(body),
    cache: "no-store",
  });
  if (!response.ok) throw await refusal(response);
  return response.json();
}

export function explain(error) {
  if (!(error instanceof ApiError)) return `The service could not be reached (${error.message}).`;
  if (error.status === 401) {
    return storedKey()
      ? "Wrong API key: the service refused it (401). It may be mistyped, revoked or expired; enter another key."
      : "This service requires an API key (401): enter one above.";
  }
  if (error.status === 403) return `This API key lacks the scope for this (403): ${error.detail}`;
  if (error.status === 404 && error.code === "wallet_not_found") return "No wallet has this id.";
  if (error.status === 429) return "Too many requests with this key (429): wait a moment.";
  return `${error.status} ${error.code}: ${error.detail}`;
}
