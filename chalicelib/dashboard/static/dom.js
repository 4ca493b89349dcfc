// Small DOM helpers. The page's CSP enforces Trusted Types with no policy, so nothing
// here (or anywhere in the app) parses HTML: elements are created and text is set.

const SVG_NS = "http://www.w3.org/2000/svg";

function apply(node, attributes) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** el("p", {class: "hint", text: "…"}, child, …) */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  apply(node, attributes);
  append(node, children);
  return node;
}

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  apply(node, attributes);
  append(node, children);
  return node;
}

// 24×24 outline icons, drawn for this app.
const PATHS = {
  envelope: ["M4 6h16a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1z", "M3.5 7l8.5 6 8.5-6"],
  envelopeOpen: [
    "M3 10.5L12 4l9 6.5V19a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1z",
    "M3.5 11l8.5 5.5 8.5-5.5",
    "M7 8.5V6.5h10v2",
  ],
  machine: [
    "M6 9h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1z",
    "M12 5v4",
    "M11 4h2",
    "M9 13v1",
    "M15 13v1",
    "M9.5 16.5h5",
    "M3 13v2",
    "M21 13v2",
  ],
  eye: ["M2 12s3.6-6.5 10-6.5S22 12 22 12s-3.6 6.5-10 6.5S2 12 2 12z", "M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6z"],
  warning: ["M12 3.5L22 20H2z", "M12 10v4.5", "M12 17.2v.3"],
  close: ["M6 6l12 12", "M18 6L6 18"],
};

/** An icon with an accessible name (role="img"), or decorative when label is empty. */
export function icon(name, label = "", className = "") {
  const drawing = svg(
    "svg",
    {
      viewBox: "0 0 24 24",
      width: "20",
      height: "20",
      fill: "none",
      stroke: "currentColor",
      "stroke-width": "1.8",
      "stroke-linecap": "round",
      "stroke-linejoin": "round",
      "aria-hidden": "true",
      focusable: "false",
    },
    PATHS[name].map((d) => svg("path", { d })),
  );
  const wrapper = el("span", { class: `icon icon-${name} ${className}`.trim() }, drawing);
  if (label) {
    wrapper.setAttribute("role", "img");
    wrapper.setAttribute("aria-label", label);
    wrapper.title = label;
  }
  return wrapper;
}

/** Keeps focus on the element with the same data-focus-key across a re-render. */
export function keepingFocus(root, render) {
  const active = document.activeElement;
  const key = active && root.contains(active) ? active.dataset?.focusKey : null;
  render();
  if (key && !root.contains(document.activeElement)) {
    const again = root.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    again?.focus({ preventScroll: true });
  }
}
