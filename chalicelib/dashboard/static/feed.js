// The invoices of one filter, loaded page by page from GET /invoices.
//
// A filter is one or more statuses ("Viewed by customer" is viewed + opened). Each
// status is its own stream with its own API cursor, most recently updated first (the
// index's sort key: updated_at, then id; updated_at moves when something the list shows
// changes, not on a repeat open). The streams are merged by that key,
// and an item is shown only once no unloaded item of any stream can come before it:
// the watermark is the last loaded key of the streams that still have pages, and
// "Load more" fetches the stream that holds the watermark back. "Paid" is one stream,
// GET /invoices?payment_status=paid (the index's paid partitions), merged the same way.

import { listInvoices } from "./api.js";

export const FILTERS = {
  all: [null],
  viewed: ["viewed", "opened"],
  unopened: ["sent", "delivered"],
  problems: ["bounced", "complained", "failed", "rejected"],
  paid: [null],
};
// The filters that ask for a payment status (with each of their statuses).
export const PAYMENT_FILTERS = { paid: "paid" };

/** Whether ``invoice`` belongs in ``filter`` (for the server's search answers, which
 * are not filtered by the API). */
export function inFilter(invoice, filter) {
  const payment = PAYMENT_FILTERS[filter];
  if (payment && invoice.payment_status !== payment) return false;
  const statuses = FILTERS[filter] || [null];
  return statuses.includes(null) || statuses.includes(invoice.status);
}
export const PAGE = 25;
const MAX_LIMIT = 100; // the API's largest page
const ABOVE_ALL = "\uffff"; // sorts after every key: nothing is known below it
const MAX_FETCHES = 40; // per call; a safety net against a misbehaving cursor

export function sortKey(item) {
  return `${item.updated_at}#${item.id}`;
}

function newestFirst(a, b) {
  const ka = sortKey(a);
  const kb = sortKey(b);
  return ka > kb ? -1 : ka < kb ? 1 : 0;
}

export class Feed {
  constructor(filter, fetchPage = listInvoices) {
    if (!(filter in FILTERS)) throw new Error(`unknown filter ${filter}`);
    this.filter = filter;
    this.fetchPage = fetchPage;
    this.streams = FILTERS[filter].map((status) => ({
      status,
      payment_status: PAYMENT_FILTERS[filter] || null,
      items: [],
      cursor: null,
      started: false,
    }));
  }

  /** True once every stream has been read to its end. */
  get complete() {
    return this.streams.every((stream) => stream.started && !stream.cursor);
  }

  get loadedCount() {
    return this.streams.reduce((sum, stream) => sum + stream.items.length, 0);
  }

  static last(stream) {
    return stream.items.length ? sortKey(stream.items[stream.items.length - 1]) : ABOVE_ALL;
  }

  /** The key at and above which the merged list is certain; null when all is loaded. */
  watermark() {
    let mark = null;
    for (const stream of this.streams) {
      if (!stream.started) return ABOVE_ALL;
      if (!stream.cursor) continue;
      const last = Feed.last(stream);
      if (mark === null || last > mark) mark = last;
    }
    return mark;
  }

  /** Every loaded invoice once (the most recent copy when it moved between streams). */
  merged() {
    const byId = new Map();
    for (const stream of this.streams) {
      for (const item of stream.items) {
        const seen = byId.get(item.id);
        if (!seen || sortKey(item) > sortKey(seen)) byId.set(item.id, item);
      }
    }
    return [...byId.values()].sort(newestFirst);
  }

  /** What can be shown: the merged list down to the watermark. */
  visible() {
    const mark = this.watermark();
    const all = this.merged();
    return mark === null ? all : all.filter((item) => sortKey(item) >= mark);
  }

  /** Loads pages until ``target`` invoices can be shown or everything is loaded. */
  async loadUntil(target, signal) {
    for (let fetches = 0; fetches < MAX_FETCHES; fetches += 1) {
      if (this.visible().length >= target) return;
      const unstarted = this.streams.filter((stream) => !stream.started);
      if (unstarted.length) {
        await Promise.all(unstarted.map((stream) => this.fetchInto(stream, PAGE, signal)));
        continue;
      }
      const next = this.bottleneck();
      if (!next) return;
      await this.fetchInto(next, PAGE, signal);
    }
  }

  bottleneck() {
    let best = null;
    for (const stream of this.streams) {
      if (!stream.cursor) continue;
      if (best === null || Feed.last(stream) > Feed.last(best)) best = stream;
    }
    return best;
  }

  async fetchInto(stream, limit, signal) {
    const query = { status: stream.status, cursor: stream.cursor, limit: Math.min(MAX_LIMIT, limit) };
    if (stream.payment_status) query.payment_status = stream.payment_status;
    const page = await this.fetchPage(query, { signal });
    stream.items.push(...page.items);
    stream.cursor = page.next || null;
    stream.started = true;
  }

  /** A new feed of the same filter, read again from the start to the depth loaded now
   * (so a refresh neither shortens the list nor loses the reader's place); a status read
   * to its end is read to its end again, up to a page more (new invoices). */
  async reloaded(signal) {
    const fresh = new Feed(this.filter, this.fetchPage);
    await Promise.all(
      fresh.streams.map(async (stream, index) => {
        const old = this.streams[index];
        const depth = Math.max(PAGE, old.items.length) + (old.started && !old.cursor ? PAGE : 0);
        for (let fetches = 0; fetches < MAX_FETCHES; fetches += 1) {
          await fresh.fetchInto(stream, depth - stream.items.length, signal);
          if (!stream.cursor || stream.items.length >= depth) break;
        }
      }),
    );
    return fresh;
  }
}
