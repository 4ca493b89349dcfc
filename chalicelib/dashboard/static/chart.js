// The invoice's timeline as an inline SVG: one lane per recipient (and one for the
// invoice itself), time across, a marker per event shaped and coloured by what it
// means. Drawn at the container's pixel width, so text keeps its size on a phone.

import { el, svg } from "./dom.js";
import { dateTime, number, t, time } from "./i18n.js";

const PERSON = new Set(["human", "proxy"]);
export const CATEGORIES = ["sent", "delivery", "person", "machine", "viewed", "link", "problem", "other"];

/** What an event means on the chart; null for reports not drawn (an SES open that
 * repeats a pixel open already counted). */
export function category(event) {
  const details = event.details || {};
  const person = PERSON.has(details.verdict);
  switch (event.type) {
    case "created":
    case "sent":
    case "send":
      return "sent";
    case "delivery":
      return "delivery";
    case "open":
      if (details.counted === false) return null;
      return person ? "person" : "machine";
    case "viewed":
      return person || !details.verdict ? "viewed" : "machine";
    case "view":
    case "click":
      return person ? "link" : "machine";
    case "bounce":
    case "complaint":
    case "reject":
    case "send_failed":
    case "rendering_failure":
      return "problem";
    default:
      return "other";
  }
}

/** The marker of a category, centred on (0, 0). */
export function marker(kind) {
  switch (kind) {
    case "sent":
      return svg("circle", { r: 4, class: "mk-sent" });
    case "delivery":
      return svg("circle", { r: 5, class: "mk-delivery" });
    case "person":
      return svg("circle", { r: 7, class: "mk-person" });
    case "machine":
      return svg("path", { d: "M0 -6L6 0L0 6L-6 0Z", class: "mk-machine" });
    case "viewed":
      return svg("rect", { x: -6, y: -6, width: 12, height: 12, rx: 2, class: "mk-viewed" });
    case "link":
      return svg("path", { d: "M0 -6L6 5H-6Z", class: "mk-link" });
    case "problem":
      return svg("path", { d: "M-5 -5L5 5M5 -5L-5 5", class: "mk-problem" });
    default:
      return svg("circle", { r: 3, class: "mk-other" });
  }
}

export function legend() {
  return el(
    "ul",
    { class: "legend" },
    CATEGORIES.map((kind) =>
      el(
        "li",
        {},
        svg(
          "svg",
          { width: 16, height: 16, viewBox: "-8 -8 16 16", "aria-hidden": "true", class: "chart" },
          marker(kind),
        ),
        t(`legend.${kind}`),
      ),
    ),
  );
}

function ellipsis(text, maxChars) {
  return text.length <= maxChars ? text : `${text.slice(0, Math.max(1, maxChars - 1))}…`;
}

/** The SVG for ``detail`` (GET /invoices/{id}) and ``events`` (its /events items, in
 * any order: the API gives them newest first). ``complete`` is false when ``events`` are
 * only the latest ones. */
export function timeline(detail, events, width, { complete = true } = {}) {
  // Oldest first, so a later marker is drawn over an earlier one at the same spot.
  const plotted = events
    .map((event) => ({ event, kind: category(event), at: Date.parse(event.at) }))
    .filter((entry) => entry.kind !== null && Number.isFinite(entry.at))
    .sort((a, b) => a.at - b.at);
  const lanes = [
    { id: null, label: t("invoiceLane") },
    ...detail.recipients.map((r) => ({ id: r.id, label: r.name || r.email })),
  ];
  const laneOf = new Map(lanes.map((lane, index) => [lane.id, index]));
  const labelWidth = Math.round(Math.min(170, Math.max(90, width * 0.3)));
  const left = labelWidth + 12;
  const right = width - 16;
  const top = 30;
  const laneHeight = 30;
  const height = top + lanes.length * laneHeight + 6;

  let start = Math.min(...plotted.map((p) => p.at));
  let end = Math.max(...plotted.map((p) => p.at));
  if (!plotted.length) {
    start = Date.now() - 60_000;
    end = Date.now();
  }
  if (end - start < 2000) {
    start -= 30_000;
    end += 30_000;
  }
  const pad = (end - start) * 0.04;
  start -= pad;
  end += pad;
  const x = (at) => left + ((at - start) / (end - start)) * (right - left);
  const sameDay = new Date(start).toDateString() === new Date(end).toDateString();
  const seconds = end - start < 15 * 60_000;
  const tickLabel = (at) => {
    const iso = new Date(at).toISOString();
    return sameDay ? time(iso, seconds) : dateTime(iso);
  };

  const counts = { person: 0, machine: 0, problem: 0 };
  for (const p of plotted) if (p.kind in counts) counts[p.kind] += 1;
  const label = t(complete ? "timelineLabel" : "timelineLabelLatest", {
    count: events.length,
    shown: number(events.length),
    start: dateTime(new Date(start + pad).toISOString(), true),
    end: dateTime(new Date(end - pad).toISOString(), true),
    opens: t("chartOpens", { count: counts.person }),
    machine: t("chartMachine", { count: counts.machine }),
    problems: t("chartProblems", { count: counts.problem }),
  });

  const chart = svg("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
  });
  chart.append(svg("title", { text: label }));

  // Ticks in the middle of equal slices, each wide enough for its label.
  const tickWidth = sameDay ? (seconds ? 95 : 75) : 160;
  const ticks = Math.max(2, Math.min(5, Math.floor((right - left) / tickWidth)));
  for (let i = 0; i < ticks; i += 1) {
    const tx = left + ((i + 0.5) / ticks) * (right - left);
    const at = start + ((tx - left) / (right - left)) * (end - start);
    chart.append(svg("line", { x1: tx, x2: tx, y1: top - 6, y2: height - 4, class: "grid" }));
    chart.append(svg("text", { x: tx, y: 14, "text-anchor": "middle", class: "tick", text: tickLabel(at) }));
  }
  lanes.forEach((lane, index) => {
    const y = top + index * laneHeight + laneHeight / 2;
    chart.append(svg("line", { x1: left - 4, x2: right, y1: y, y2: y, class: "lane" }));
    const text = svg("text", {
      x: labelWidth,
      y: y + 4,
      "text-anchor": "end",
      class: "lane-label",
      text: ellipsis(lane.label, Math.floor(labelWidth / 7)),
    });
    text.append(svg("title", { text: lane.label }));
    chart.append(text);
  });
  const recipients = new Map(detail.recipients.map((r) => [r.id, r]));
  for (const { event, kind, at } of plotted) {
    const lane = laneOf.get(event.recipient_id) ?? 0;
    const y = top + lane * laneHeight + laneHeight / 2;
    const who = recipients.get(event.recipient_id);
    const verdict = event.details?.verdict ? ` · ${t(`verdict.${event.details.verdict}`)}` : "";
    const describe = `${t(`event.${event.type}`)}${verdict} · ${who ? who.email : t("invoiceLane")} · ${dateTime(event.at, true)}`;
    const group = svg("g", {
      class: `mk mk-${kind}`,
      transform: `translate(${x(at).toFixed(1)} ${y})`,
      "data-kind": kind,
    });
    group.append(svg("title", { text: describe }), marker(kind));
    chart.append(group);
  }
  return chart;
}
