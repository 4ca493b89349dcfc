// The invoice detail panel: opens at the top (how many, first and last, who first), the
// recipients, the timeline chart and the event history (every event, or the latest
// api.MAX_EVENTS of them with a note saying so). Events come newest first from the API;
// whatever depends on their order sorts them itself.

import { legend, timeline } from "./chart.js";
import { el, icon } from "./dom.js";
import {
  calendarDate,
  dateTime,
  money,
  number,
  reason,
  relative,
  t,
  timeZone,
} from "./i18n.js";
import { paymentBadge, statusBadge } from "./list.js";

const FETCHES = new Set(["open", "click", "view", "viewed"]);

/** A time in the viewer's zone with its relative form beside it ("3 minutes ago"),
 * which refreshRelativeTimes keeps current. */
export function when(iso, withSeconds = false) {
  if (!iso) return el("span", { class: "muted", text: t("notYet") });
  return el(
    "span",
    { class: "when" },
    el("time", { datetime: iso, text: dateTime(iso, withSeconds) }),
    " ",
    el("span", { class: "rel", "data-at": iso, text: `(${relative(iso)})` }),
  );
}

export function refreshRelativeTimes(root) {
  for (const node of root.querySelectorAll(".rel[data-at]")) {
    const text = `(${relative(node.dataset.at)})`;
    if (node.textContent !== text) node.textContent = text;
  }
}

function field(label, value, name) {
  return el("div", { class: "field", "data-field": name }, el("dt", { text: label }), el("dd", {}, value));
}

function recipientLabel(recipient) {
  return recipient.name ? `${recipient.name} <${recipient.email}>` : recipient.email;
}

export function failedRecipients(detail) {
  return detail.recipients.filter((r) => r.status === "failed");
}

function summary(detail) {
  const first = detail.first_opened_by;
  const opener = first ? detail.recipients.find((r) => r.id === first.recipient_id) : null;
  const problems = detail.problem_count;
  const opened = detail.open_count > 0;
  return el(
    "section",
    { class: "opens", "aria-labelledby": "opens-title" },
    el("h3", { id: "opens-title", class: "visually-hidden", text: t("opensHeading") }),
    el(
      "p",
      { class: `opens-total ${opened ? "is-opened" : ""}`, "data-field": "opens-total" },
      icon(opened ? "envelopeOpen" : "envelope", "", opened ? "tone-opened" : "tone-muted"),
      el(
        "span",
        {},
        opened ? t("opensByPerson", { count: detail.open_count }) : t("notOpened"),
      ),
    ),
    el(
      "dl",
      { class: "fields" },
      field(t("firstOpened"), when(detail.first_opened_at), "first-opened"),
      field(t("lastOpened"), when(detail.last_opened_at), "last-opened"),
      field(
        t("firstOpenedBy"),
        opener ? recipientLabel(opener) : first ? first.email : el("span", { class: "muted", text: t("notYet") }),
        "first-opened-by",
      ),
      field(
        t("machineOpens"),
        detail.machine_open_count
          ? t("machineOpensValue", { count: detail.machine_open_count })
          : el("span", { class: "muted", text: t("none") }),
        "machine-opens",
      ),
      field(t("viewedOnline"), when(detail.viewed_at), "viewed-at"),
      field(t("sentAt"), when(detail.sent_at), "sent-at"),
      field(t("deliveredAt"), when(detail.delivered_at), "delivered-at"),
      problems
        ? field(
            t("problems"),
            el("span", { class: "tone-problem" }, t("problemsValue", { count: problems })),
            "problems",
          )
        : null,
    ),
    el("p", { class: "hint", text: t("timesIn", { zone: timeZone() }) }),
  );
}

function resendBlock(detail, resendState, onResend) {
  const failed = failedRecipients(detail);
  if (!failed.length && !resendState.message) return null;
  return el(
    "section",
    { class: "resend", "aria-label": t("resend") },
    failed.length ? el("p", { text: t("resendHelp", { count: failed.length }) }) : null,
    failed.length
      ? el("button", {
          type: "button",
          class: "button primary",
          "data-focus-key": "resend",
          "data-action": "resend",
          disabled: resendState.busy,
          text: resendState.busy ? t("resending") : t("resend"),
          onclick: onResend,
        })
      : null,
    el("p", {
      class: `resend-result ${resendState.error ? "error" : ""}`,
      role: "status",
      text: resendState.message || "",
    }),
  );
}

function errorLine(message, name) {
  return el("p", { class: "field-error", "data-field-error": name, text: message || "" });
}

/** A labelled text input of one of the detail's small forms; its value lives in
 * ``values`` (kept across the 5 s re-renders), its errors in ``errors``. */
function smallInput({ form, name, label, hint = "", type = "text", values, errors, onInput, attributes = {} }) {
  const id = `${form}-${name}`;
  const message = (errors?.[name] || []).join(" ");
  return el(
    "div",
    { class: "small-field" },
    el("label", { for: id, text: label }),
    el("input", {
      id,
      type,
      name,
      value: values[name] ?? "",
      "data-focus-key": id,
      "aria-invalid": message ? "true" : "false",
      "aria-describedby": `${id}-hint ${id}-error`,
      autocomplete: "off",
      ...attributes,
      oninput: (event) => onInput(name, event.target.value),
    }),
    el("p", { id: `${id}-hint`, class: "hint", text: hint }),
    el("p", { id: `${id}-error`, class: "field-error", text: message }),
  );
}

function paymentFacts(detail) {
  const payment = detail.payment || {};
  if (detail.payment_status === "paid") {
    return el(
      "dl",
      { class: "fields", "data-field": "payment" },
      field(t("paidAt"), when(payment.paid_at), "paid-at"),
      field(t("paidAmount"), money(payment.amount, detail.currency), "paid-amount"),
      field(
        t("paidReference"),
        payment.reference || el("span", { class: "muted", text: t("none") }),
        "paid-reference",
      ),
    );
  }
  if (detail.payment_status === "void") {
    return el(
      "dl",
      { class: "fields", "data-field": "payment" },
      field(t("voidedAt"), when(payment.voided_at), "voided-at"),
      field(t("voidReason"), payment.reason || el("span", { class: "muted", text: t("none") }), "void-reason"),
    );
  }
  return null;
}

/** Payment: how it was paid or why it was voided, or the two actions, each confirmed in a
 * small form of its own ("Mark as paid": reference, amount defaulting to the total;
 * "Void": reason). An open form stays open across refreshes until confirmed or cancelled. */
function paymentBlock(detail, payState, handlers) {
  const unpaid = !detail.payment_status || detail.payment_status === "unpaid";
  const form = payState.open;
  let body = null;
  if (form === "paid" || form === "void") {
    const paying = form === "paid";
    const common = { values: payState.values, errors: payState.errors, onInput: handlers.onPaymentInput };
    body = el(
      "form",
      {
        class: "confirm",
        "data-form": form,
        novalidate: true,
        "aria-labelledby": "payment-confirm-title",
        onsubmit: (event) => {
          event.preventDefault();
          handlers.onPaymentConfirm();
        },
      },
      el("p", {
        id: "payment-confirm-title",
        class: "confirm-title",
        text: paying
          ? t("confirmPaid", { number: detail.number, amount: money(detail.total, detail.currency) })
          : t("confirmVoid", { number: detail.number }),
      }),
      paying
        ? [
            smallInput({ ...common, form: "pay", name: "reference", label: t("paidReference"), hint: t("referenceHint") }),
            smallInput({
              ...common,
              form: "pay",
              name: "amount",
              label: t("paidAmount"),
              hint: t("amountHint", { total: detail.total, currency: detail.currency }),
              attributes: { inputmode: "decimal", placeholder: detail.total },
            }),
          ]
        : smallInput({ ...common, form: "void", name: "reason", label: t("voidReason"), hint: t("reasonHint") }),
      el(
        "div",
        { class: "actions" },
        el("button", {
          type: "submit",
          class: `button ${paying ? "primary" : "danger"}`,
          "data-focus-key": `confirm-${form}`,
          "data-action": `confirm-${form}`,
          disabled: payState.busy,
          text: payState.busy ? t("saving") : paying ? t("confirmPaidButton") : t("confirmVoidButton"),
        }),
        el("button", {
          type: "button",
          class: "button",
          "data-focus-key": "cancel-payment",
          "data-action": "cancel-payment",
          disabled: payState.busy,
          text: t("cancel"),
          onclick: handlers.onPaymentCancel,
        }),
      ),
    );
  } else if (unpaid) {
    body = el(
      "div",
      { class: "actions" },
      el("button", {
        type: "button",
        class: "button",
        "data-focus-key": "mark-paid",
        "data-action": "mark-paid",
        text: t("markPaid"),
        onclick: () => handlers.onPaymentOpen("paid"),
      }),
      el("button", {
        type: "button",
        class: "button",
        "data-focus-key": "void",
        "data-action": "void",
        text: t("voidInvoice"),
        onclick: () => handlers.onPaymentOpen("void"),
      }),
    );
  }
  return el(
    "section",
    { class: "payment", "aria-labelledby": "payment-title" },
    el("h3", { id: "payment-title", text: t("paymentHeading") }),
    unpaid ? el("p", { class: "muted", text: t("unpaidNote") }) : paymentFacts(detail),
    body,
    el("p", {
      class: `action-result ${payState.error ? "error" : "notice"}`,
      role: payState.error ? "alert" : "status",
      "data-field": "payment-result",
      text: payState.message || "",
    }),
  );
}

/** "Add a recipient": sends the invoice to a new address now. */
function addRecipientBlock(detail, addState, handlers) {
  const common = { values: addState.values, errors: addState.errors, onInput: handlers.onRecipientInput };
  return el(
    "form",
    {
      class: "add-recipient",
      novalidate: true,
      "aria-labelledby": "add-recipient-title",
      onsubmit: (event) => {
        event.preventDefault();
        handlers.onRecipientSubmit();
      },
    },
    el("h4", { id: "add-recipient-title", text: t("addRecipientHeading") }),
    el("p", { class: "hint", text: t("addRecipientHelp") }),
    el(
      "div",
      { class: "add-recipient-fields" },
      smallInput({
        ...common,
        form: "add",
        name: "email",
        type: "email",
        label: t("recipientEmail"),
        attributes: { autocapitalize: "off", spellcheck: "false", required: true },
      }),
      smallInput({ ...common, form: "add", name: "name", label: t("recipientName"), hint: t("optional") }),
    ),
    el("button", {
      type: "submit",
      class: "button primary",
      "data-focus-key": "add-recipient",
      "data-action": "add-recipient",
      disabled: addState.busy,
      text: addState.busy ? t("resending") : t("addRecipient"),
    }),
    el("p", {
      class: `action-result ${addState.error ? "error" : "notice"}`,
      role: addState.error ? "alert" : "status",
      "data-field": "add-result",
      text: addState.message || "",
    }),
    addState.added?.length
      ? el(
          "ul",
          { class: "added", "data-field": "added" },
          addState.added.map((r) =>
            el(
              "li",
              { "data-recipient": r.id },
              el("span", { class: "email", text: r.email }),
              " ",
              statusBadge(r.status),
              r.error ? el("span", { class: "problem-line", text: r.error }) : null,
            ),
          ),
        )
      : null,
  );
}

function problemLines(recipient) {
  const lines = [];
  if (recipient.bounce) {
    const b = recipient.bounce;
    lines.push(t("bounceInfo", { type: b.type || "", subtype: b.subtype || "" }).trim());
    if (b.diagnostic) lines.push(b.diagnostic);
  }
  if (recipient.complaint) lines.push(t("complaintInfo", { type: recipient.complaint.type || "—" }));
  if (recipient.rejection) lines.push(t("rejectionInfo", { reason: recipient.rejection.reason || "—" }));
  if (recipient.failure && recipient.status === "failed") {
    lines.push(t("failureInfo", { reason: recipient.failure.reason || "—" }));
  }
  return lines;
}

function recipientsTable(detail, addState, handlers) {
  const headers = ["colRecipient", "colStatus", "colOpens", "colFirstOpened", "colLastOpened", "colMachineOpens"];
  return el(
    "section",
    { "aria-labelledby": "recipients-title" },
    el("h3", { id: "recipients-title", text: t("recipientsHeading") }),
    el(
      "table",
      { class: "recipients" },
      el("thead", {}, el("tr", {}, headers.map((key) => el("th", { scope: "col", text: t(key) })))),
      el(
        "tbody",
        {},
        detail.recipients.map((r) => {
          const problems = problemLines(r);
          return el(
            "tr",
            { "data-recipient": r.id },
            el(
              "th",
              { scope: "row", "data-label": t("colRecipient") },
              r.name ? el("span", { class: "name", text: r.name }) : null,
              el("span", { class: "email", text: r.email }),
              problems.map((line) => el("span", { class: "problem-line", text: line })),
            ),
            el("td", { "data-label": t("colStatus") }, statusBadge(r.status)),
            el("td", { "data-label": t("colOpens"), class: "num", "data-field": "opens", text: number(r.open_count) }),
            el("td", { "data-label": t("colFirstOpened") }, r.first_opened_at ? when(r.first_opened_at) : "—"),
            el("td", { "data-label": t("colLastOpened") }, r.last_opened_at ? when(r.last_opened_at) : "—"),
            el("td", {
              "data-label": t("colMachineOpens"),
              class: "num",
              "data-field": "machine-opens",
              text: number(r.machine_open_count),
            }),
          );
        }),
      ),
    ),
    detail.payment_status === "void" ? null : addRecipientBlock(detail, addState, handlers),
  );
}

function eventDetails(event) {
  const d = event.details || {};
  const parts = [];
  if (d.user_agent_family) parts.push(d.user_agent_family);
  if (d.ip) parts.push(d.ip);
  if (d.type || d.subtype) parts.push([d.type, d.subtype].filter(Boolean).join(" / "));
  if (d.feedback_type) parts.push(d.feedback_type);
  if (d.diagnostic) parts.push(d.diagnostic);
  if (d.reason) parts.push(d.reason);
  if (d.error) parts.push(d.error);
  if (d.link) parts.push(d.link);
  if (d.delay_type) parts.push(d.delay_type);
  parts.push(t(`source.${event.source}`));
  return parts.join(" · ");
}

/** The note shown (above the timeline, so before the history too) when only the latest
 * events were loaded: how many are shown, and the invoice's totals from its counts,
 * which cover every event. */
function truncatedNote(detail, events) {
  const opens = detail.open_count || 0;
  const machine = detail.machine_open_count || 0;
  return el(
    "p",
    { class: "hint events-truncated", role: "note", "data-field": "events-truncated" },
    t("eventsTruncated", { count: events.length, shown: number(events.length) }),
    " ",
    t("eventsTruncatedTotals", {
      opens: t("totalOpens", { count: opens, shown: number(opens) }),
      machine: t("totalMachine", { count: machine, shown: number(machine) }),
    }),
  );
}

function history(detail, events) {
  const byId = new Map(detail.recipients.map((r) => [r.id, r]));
  // Newest first; a stable sort keeps the API's order for events of the same instant.
  const ordered = [...events].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return el(
    "section",
    { "aria-labelledby": "history-title" },
    el("h3", { id: "history-title", text: t("historyHeading") }),
    el("p", { class: "hint", text: t("historyNote") }),
    ordered.length
      ? el(
          "ol",
          { class: "events" },
          ordered.map((event) => {
            const d = event.details || {};
            const who = byId.get(event.recipient_id);
            const fetch = FETCHES.has(event.type) && d.verdict;
            const person = d.verdict === "human" || d.verdict === "proxy";
            return el(
              "li",
              { class: `event event-${event.type}`, "data-type": event.type },
              el("time", { datetime: event.at, text: dateTime(event.at, true) }),
              el(
                "div",
                { class: "event-body" },
                el(
                  "p",
                  { class: "event-title" },
                  el("strong", { text: t(`event.${event.type}`) }),
                  who ? el("span", { class: "event-who", text: recipientLabel(who) }) : null,
                ),
                fetch
                  ? el(
                      "p",
                      { class: "event-verdict" },
                      el("span", { class: "visually-hidden", text: `${t("verdictLabel")}: ` }),
                      el("span", {
                        class: `verdict ${person ? "verdict-person" : "verdict-machine"}`,
                        "data-verdict": d.verdict,
                        text: t(`verdict.${d.verdict}`),
                      }),
                      d.counted === false ? el("span", { class: "muted", text: t("notCounted") }) : null,
                    )
                  : null,
                Array.isArray(d.reasons) && d.reasons.length
                  ? el(
                      "ul",
                      { class: "reasons", "aria-label": t("reasonsLabel") },
                      d.reasons.map((code) => el("li", { title: code, "data-code": code, text: reason(code) })),
                    )
                  : null,
                el("p", { class: "event-meta", text: eventDetails(event) }),
              ),
            );
          }),
        )
      : el("p", { class: "muted", text: t("noEvents") }),
  );
}

/** Fills ``root`` with the detail of one invoice. */
export function renderDetail(
  root,
  detail,
  events,
  { eventsComplete = true, onClose, onResend, resendState, paymentState, addState, handlers },
) {
  const figure = el("figure", { class: "timeline" });
  const sections = [
    el(
      "header",
      { class: "detail-head" },
      el(
        "div",
        {},
        el("p", { class: "eyebrow", text: t("invoice") }),
        el("h2", { id: "detail-title", tabindex: "-1", "data-focus-key": "detail-title", text: detail.number }),
        el(
          "p",
          { class: "detail-sub" },
          el("span", { text: detail.customer.name }),
          el("span", { class: "amount", text: money(detail.total, detail.currency) }),
          el("span", { text: t("due", { date: calendarDate(detail.due_date) }) }),
        ),
        el("p", { class: "detail-status" }, statusBadge(detail.status), paymentBadge(detail.payment_status)),
      ),
      el(
        "button",
        {
          type: "button",
          class: "icon-button",
          "aria-label": t("closeDetails"),
          title: t("closeDetails"),
          "data-focus-key": "close",
          "data-action": "close",
          onclick: onClose,
        },
        icon("close"),
      ),
    ),
    summary(detail),
    paymentBlock(detail, paymentState, handlers),
    resendBlock(detail, resendState, onResend),
    recipientsTable(detail, addState, handlers),
    el(
      "section",
      { "aria-labelledby": "timeline-title" },
      el("h3", { id: "timeline-title", text: t("timelineHeading") }),
      eventsComplete ? null : truncatedNote(detail, events),
      figure,
    ),
    history(detail, events),
  ];
  root.replaceChildren(...sections.filter(Boolean));
  drawChart(figure, detail, events, eventsComplete);
}

let observer = null; // the chart's, replaced with the chart

function drawChart(figure, detail, events, complete) {
  let drawnWidth = 0;
  const draw = () => {
    const width = Math.max(280, Math.floor(figure.clientWidth || 600));
    if (width === drawnWidth) return;
    drawnWidth = width;
    figure.replaceChildren(timeline(detail, events, width, { complete }), legend());
  };
  draw();
  observer?.disconnect();
  observer = null;
  if ("ResizeObserver" in window) {
    let frame = 0;
    observer = new ResizeObserver(() => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(draw);
    });
    observer.observe(figure);
  }
}

export function renderDetailMessage(root, message, { onClose, isError = false }) {
  root.replaceChildren(
    el(
      "header",
      { class: "detail-head" },
      el("p", { class: isError ? "error" : "muted", role: isError ? "alert" : "status", text: message }),
      el(
        "button",
        {
          type: "button",
          class: "icon-button",
          "aria-label": t("closeDetails"),
          title: t("closeDetails"),
          "data-focus-key": "close",
          "data-action": "close",
          onclick: onClose,
        },
        icon("close"),
      ),
    ),
  );
}
