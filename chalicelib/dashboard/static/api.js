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

/** An answer in Sobre's error shape: ``{error: {code, message, details}}``. ``details``
 * is a list of ``{field, message}`` for ``validation_failed``, context otherwise. */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message || code);
    this.name = "ApiError";
    this.status = status; // 0: the API could not be reached
    this.code = code;
    this.details = details;
  }

  /** The field errors of a ``validation_failed`` answer, by field path. */
  fieldErrors() {
    const byField = new Map();
    if (this.code !== "validation_failed" || !Array.isArray(this.details)) return byField;
    for (const { field, message } of this.details) {
      byField.set(field || "", [...(byField.get(field || "") || []), message]);
    }
    return byField;
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
    throw new ApiError(
      response.status,
      detail?.code || "http",
      detail?.message || response.statusText,
      detail?.details ?? null,
    );
  }
  return payload;
}

export function listInvoices(
  { status = null, payment_status = null, cursor = null, limit = 25 } = {},
  options = {},
) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (status) query.set("status", status);
  if (payment_status) query.set("payment_status", payment_status);
  if (cursor) query.set("cursor", cursor);
  return call("GET", `invoices?${query}`, options);
}

/** The invoices whose number starts with ``prefix`` (case-insensitive), in number
 * order, at most ``limit``: one page, found through the number's reference items. */
export function searchInvoices(prefix, { limit = 100 } = {}, options = {}) {
  const query = new URLSearchParams({ number_prefix: prefix, limit: String(limit) });
  return call("GET", `invoices?${query}`, options);
}

export function getInvoice(id, options = {}) {
  return call("GET", `invoices/${encodeURIComponent(id)}`, options);
}

/** One page of an invoice's events, newest first: ``{items, next}``. */
export function getEvents(id, { cursor = null, limit = null } = {}, options = {}) {
  const query = new URLSearchParams();
  if (limit) query.set("limit", String(limit));
  if (cursor) query.set("cursor", cursor);
  const suffix = query.toString() ? `?${query}` : "";
  return call("GET", `invoices/${encodeURIComponent(id)}/events${suffix}`, options);
}

export const EVENTS_PAGE = 500; // the API's largest page of events
export const MAX_EVENTS = 2000; // what the detail holds at most: the latest ones
const MAX_EVENT_FETCHES = 40; // a safety net against a misbehaving cursor

/** An invoice's events, newest first, following ``next`` page by page until the end or
 * ``max`` events. ``complete`` is false when older events were left out. ``fetchPage``
 * is getEvents's stand-in in tests. */
export async function loadEvents(
  id,
  { fetchPage = getEvents, limit = EVENTS_PAGE, max = MAX_EVENTS, signal } = {},
) {
  const items = [];
  let cursor = null;
  for (let fetches = 0; fetches < MAX_EVENT_FETCHES; fetches += 1) {
    const page = await fetchPage(id, { cursor, limit }, { signal });
    items.push(...(page?.items || []));
    const next = page?.next || null;
    if (items.length >= max) {
      return { items: items.slice(0, max), complete: !next && items.length <= max };
    }
    if (!next) return { items, complete: true };
    if (next === cursor) break; // the same page again: stop rather than loop
    cursor = next;
  }
  return { items, complete: false };
}

export function resend(id, options = {}) {
  return call("POST", `invoices/${encodeURIComponent(id)}/send`, { ...options, body: {} });
}

/** ``{reference?, amount?, paid_at?}``: the invoice detail, paid. */
export function markPaid(id, body = {}, options = {}) {
  return call("POST", `invoices/${encodeURIComponent(id)}/paid`, { ...options, body });
}

/** ``{reason?}``: the invoice detail, void. */
export function markVoid(id, body = {}, options = {}) {
  return call("POST", `invoices/${encodeURIComponent(id)}/void`, { ...options, body });
}

/** Sends the invoice to new recipients now: ``[{email, name?}]``; the answer lists them. */
export function addRecipients(id, recipients, options = {}) {
  return call("POST", `invoices/${encodeURIComponent(id)}/recipients`, {
    ...options,
    body: { recipients },
  });
}

export function getAccount(options = {}) {
  return call("GET", "account", options);
}

/** Changes the given settings; every bad value comes back at once (``fieldErrors``). */
export function updateAccount(changes, options = {}) {
  return call("PATCH", "account", { ...options, body: changes });
}
