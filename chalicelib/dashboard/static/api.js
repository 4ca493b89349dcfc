// The Sobre JSON API, as the dashboard calls it: same origin, Authorization: Bearer <key>.
// The key lives in this tab's sessionStorage only: never in a URL, a cookie or
// localStorage, and sign-out removes it.

const KEY_NAME = "sobre.apiKey";
// The API root is two levels above this module (/app/assets/api.js), whatever prefix
// (an API Gateway stage such as /api) the dashboard is served under.
const BASE = new URL("../../", import.meta.url);

export const session = {
  get() {
    try {
      return sessionStorage.getItem(KEY_NAME);
    } catch {
      return null;
    }
  },
  set(key) {
    sessionStorage.setItem(KEY_NAME, key);
  },
  clear() {
    try {
      sessionStorage.removeItem(KEY_NAME);
    } catch {
      // nothing stored
    }
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.name = "ApiError";
    this.status = status; // 0: the API could not be reached
    this.code = code;
  }
}

async function call(method, path, { key = session.get(), body, signal } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${key || ""}` };
  const init = { method, headers, cache: "no-store", credentials: "omit", signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(new URL(path, BASE), init);
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", String(error?.message || error));
  }
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const detail = payload?.error;
    throw new ApiError(response.status, detail?.code || "http", detail?.message || response.statusText);
  }
  return payload;
}

export function listInvoices({ status = null, cursor = null, limit = 25 } = {}, options = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (status) query.set("status", status);
  if (cursor) query.set("cursor", cursor);
  return call("GET", `invoices?${query}`, options);
}

export function getInvoice(id, options = {}) {
  return call("GET", `invoices/${encodeURIComponent(id)}`, options);
}

export function getEvents(id, options = {}) {
  return call("GET", `invoices/${encodeURIComponent(id)}/events`, options);
}

export function resend(id, options = {}) {
  return call("POST", `invoices/${encodeURIComponent(id)}/send`, { ...options, body: {} });
}
