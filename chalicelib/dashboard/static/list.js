// The sent-invoices table: one focusable row per invoice, updated in place (rows are
// kept by invoice id, so a refresh keeps focus, selection and scroll).

import { el, icon } from "./dom.js";
import { calendarDate, currentLanguage, dateTime, money, t } from "./i18n.js";

const PROBLEM_STATUSES = new Set(["failed", "rejected", "bounced", "complained"]);

export function statusBadge(status) {
  return el("span", {
    class: `badge badge-${status}`,
    "data-status": status,
    text: t(`status.${status}`),
  });
}

/** "Paid" or "Void" beside the delivery status; nothing while unpaid. */
export function paymentBadge(paymentStatus) {
  if (!paymentStatus || paymentStatus === "unpaid") return null;
  return el("span", {
    class: `badge badge-payment badge-${paymentStatus}`,
    "data-payment": paymentStatus,
    text: t(`payment.${paymentStatus}`),
  });
}

export function hasProblem(invoice) {
  return invoice.problem_count > 0 || PROBLEM_STATUSES.has(invoice.status);
}

/** The activity icons: an open envelope once a person opened it (its label gives the
 * first open), a machine marker when only machines fetched it, an eye when viewed
 * online, a warning when a recipient bounced, complained or failed. The list items carry
 * no counts: the detail has them. */
export function activity(invoice) {
  const opened = Boolean(invoice.first_opened_at);
  const cell = el("span", { class: "activity" });
  if (opened) {
    cell.append(
      el(
        "span",
        { class: "activity-open", "data-activity": "opened" },
        icon(
          "envelopeOpen",
          t("iconOpened", { time: dateTime(invoice.first_opened_at) }),
          "tone-opened",
        ),
      ),
    );
  } else {
    cell.append(
      el(
        "span",
        { class: "activity-open", "data-activity": "not-opened" },
        icon("envelope", t("iconNotOpened"), "tone-muted"),
      ),
    );
    if (invoice.first_machine_open_at) {
      cell.append(
        el(
          "span",
          { class: "activity-machine", "data-activity": "machine-only" },
          icon("machine", t("iconMachineOnly"), "tone-machine"),
        ),
      );
    }
  }
  if (invoice.viewed_at || invoice.status === "viewed") {
    cell.append(
      el("span", { "data-activity": "viewed" }, icon("eye", t("iconViewed"), "tone-viewed")),
    );
  }
  if (hasProblem(invoice)) {
    const count = Math.max(1, invoice.problem_count);
    cell.append(
      el(
        "span",
        { "data-activity": "problem" },
        icon("warning", t("iconProblem", { count }), "tone-problem"),
      ),
    );
  }
  return cell;
}

function buildRow(invoice, selected) {
  const sent = invoice.sent_at
    ? el("time", { datetime: invoice.sent_at, text: dateTime(invoice.sent_at) })
    : el("span", { class: "muted", text: t("notSent") });
  return el(
    "tr",
    {
      class: "row",
      tabindex: "-1",
      "data-id": invoice.id,
      "data-status": invoice.status,
      "data-payment": invoice.payment_status || "unpaid",
      "aria-current": selected ? "true" : null,
      title: t("rowHint", { number: invoice.number }),
    },
    el("td", { class: "col-activity" }, activity(invoice)),
    el(
      "td",
      { class: "col-invoice" },
      el("span", { class: "number", text: invoice.number }),
      el("span", { class: "customer-inline", text: invoice.customer.name }),
    ),
    el("td", { class: "col-customer", text: invoice.customer.name }),
    el(
      "td",
      { class: "col-total num" },
      el("span", { class: "total", text: money(invoice.total, invoice.currency) }),
      el("span", { class: "due", text: t("due", { date: calendarDate(invoice.due_date) }) }),
    ),
    el("td", { class: "col-sent" }, sent),
    el(
      "td",
      { class: "col-status" },
      el("span", { class: "badges" }, statusBadge(invoice.status), paymentBadge(invoice.payment_status)),
    ),
  );
}

const signatures = new WeakMap();

/** Shows ``invoices`` in ``tbody``: unchanged rows are kept as they are, changed ones
 * rebuilt, and focus stays on the invoice it was on. */
export function renderRows(tbody, invoices, selectedId) {
  const existing = new Map([...tbody.children].map((row) => [row.dataset.id, row]));
  const focusedId = tbody.contains(document.activeElement)
    ? document.activeElement.closest("tr")?.dataset.id
    : null;
  const rows = invoices.map((invoice) => {
    const selected = invoice.id === selectedId;
    const signature = JSON.stringify([invoice, selected, currentLanguage()]);
    const row = existing.get(invoice.id);
    if (row && signatures.get(row) === signature) return row;
    const fresh = buildRow(invoice, selected);
    signatures.set(fresh, signature);
    return fresh;
  });
  const unchanged =
    rows.length === tbody.children.length && rows.every((row, i) => tbody.children[i] === row);
  if (!unchanged) tbody.replaceChildren(...rows);
  const byId = (id) => (id ? tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`) : null);
  if (focusedId && !tbody.contains(document.activeElement)) {
    byId(focusedId)?.focus({ preventScroll: true });
  }
  const previous = tbody.querySelector('tr[tabindex="0"]');
  rove(tbody, byId(focusedId) || previous || byId(selectedId) || tbody.firstElementChild);
}

/** One tab stop for the whole table (the row last focused); arrow keys move within. */
export function rove(tbody, current) {
  for (const row of tbody.children) row.tabIndex = row === current ? 0 : -1;
}
