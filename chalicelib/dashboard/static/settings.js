// The Settings page: every setting PATCH /account takes, in a form built once (labels
// tied to their inputs, one hint and one error line each), filled from GET /account.
// Saving sends the settings that changed; the API checks them all at once and its
// ``details`` are shown beside their fields.

import { el } from "./dom.js";
import { locale, t } from "./i18n.js";

// In the order of the form (and of the Tab key).
export const GROUPS = [
  {
    key: "sender",
    fields: [
      { name: "name", type: "text", autocomplete: "organization", maxlength: 200 },
      { name: "from_address", type: "email", autocomplete: "email" },
      { name: "reply_to", type: "email", autocomplete: "email", optional: true },
    ],
  },
  {
    key: "reports",
    fields: [
      { name: "report_address", type: "email", autocomplete: "email", optional: true },
      { name: "time_zone", type: "zone" },
      { name: "locale", type: "locale" },
      { name: "digest_when_quiet", type: "checkbox" },
      { name: "unopened_after_days", type: "number", min: 1, max: 90 },
      { name: "alert_emails", type: "checkbox" },
    ],
  },
  {
    key: "reminders",
    fields: [
      { name: "reminders", type: "checkbox" },
      { name: "reminder_after_days", type: "number", min: 1, max: 60 },
      { name: "reminder_max", type: "number", min: 0, max: 10 },
    ],
  },
  {
    key: "tracking",
    fields: [
      { name: "tracking", type: "checkbox" },
      { name: "retention_days", type: "number", min: 1, max: 3650, optional: true },
    ],
  },
];

export const FIELDS = GROUPS.flatMap((group) => group.fields);
const LOCALES = ["en", "es"];

const inputId = (name) => `setting-${name.replaceAll("_", "-")}`;

function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}

function control(field) {
  const id = inputId(field.name);
  const describedBy = `${id}-hint ${id}-error`;
  const common = { id, name: field.name, "aria-describedby": describedBy, "data-setting": field.name };
  if (field.type === "checkbox") return el("input", { ...common, type: "checkbox" });
  if (field.type === "locale") return el("select", common);
  if (field.type === "zone") {
    return el("input", {
      ...common,
      type: "text",
      list: "time-zones",
      autocomplete: "off",
      autocapitalize: "off",
      spellcheck: "false",
    });
  }
  return el("input", {
    ...common,
    type: field.type,
    inputmode: field.type === "number" ? "numeric" : null,
    min: field.min ?? null,
    max: field.max ?? null,
    step: field.type === "number" ? "1" : null,
    maxlength: field.maxlength ?? null,
    autocomplete: field.autocomplete ?? null,
    autocapitalize: field.type === "email" ? "off" : null,
    spellcheck: field.type === "email" ? "false" : null,
  });
}

function fieldRow(field) {
  const id = inputId(field.name);
  const label = el("label", { for: id, "data-i18n": `setting.${field.name}`, text: t(`setting.${field.name}`) });
  const hint = el("p", {
    id: `${id}-hint`,
    class: "hint",
    "data-i18n": `settingHint.${field.name}`,
    text: t(`settingHint.${field.name}`),
  });
  const error = el("p", { id: `${id}-error`, class: "field-error", "data-field-error": field.name });
  const input = control(field);
  if (field.type === "checkbox") {
    return el(
      "div",
      { class: "setting setting-check", "data-setting-row": field.name },
      el("div", { class: "check" }, input, label),
      hint,
      error,
    );
  }
  return el("div", { class: "setting", "data-setting-row": field.name }, label, input, hint, error);
}

/** Builds the form's fields inside ``form`` (once), before its submit row. */
export function buildSettingsForm(form, before) {
  const fieldsets = GROUPS.map((group) =>
    el(
      "fieldset",
      { class: "settings-group", "data-group": group.key },
      el("legend", { "data-i18n": `settingsGroup.${group.key}`, text: t(`settingsGroup.${group.key}`) }),
      group.fields.map(fieldRow),
    ),
  );
  const list = el("datalist", { id: "time-zones" }, zones().map((zone) => el("option", { value: zone })));
  form.insertBefore(el("div", { class: "settings-fields" }, fieldsets, list), before);
  translateLocaleOptions(form);
}

/** The locale select's options in the page's language (and the account's own tag when it
 * is a regional one such as es-MX). */
export function translateLocaleOptions(form, current = null) {
  const select = form.querySelector('[data-setting="locale"]');
  const value = current ?? select.value;
  const tags = [...LOCALES];
  if (value && !tags.includes(value)) tags.push(value);
  select.replaceChildren(
    ...tags.map((tag) =>
      el("option", { value: tag, text: t(`localeName.${tag.split("-")[0]}`) + (tag.includes("-") ? ` (${tag})` : "") }),
    ),
  );
  if (value) select.value = value;
}

/** Puts ``account``'s values into the form. */
export function fillSettings(form, account) {
  translateLocaleOptions(form, account.locale);
  for (const field of FIELDS) {
    const input = form.querySelector(`[data-setting="${field.name}"]`);
    const value = account[field.name];
    if (field.type === "checkbox") input.checked = Boolean(value);
    else input.value = value === null || value === undefined ? "" : String(value);
  }
}

function readValue(field, input) {
  if (field.type === "checkbox") return input.checked;
  const text = input.value.trim();
  if (field.type === "number") return /^-?\d+$/.test(text) ? Number(text) : text; // the API says what is wrong
  if (field.optional && !text) return null;
  return text;
}

/** The settings that differ from ``account``: what PATCH /account is sent. An optional
 * number left empty while unset (the retention's default) is not sent. */
export function settingsChanges(form, account) {
  const changes = {};
  for (const field of FIELDS) {
    const value = readValue(field, form.querySelector(`[data-setting="${field.name}"]`));
    const stored = account[field.name] ?? null;
    if (field.type === "number" && field.optional && value === "" && stored === null) continue;
    if (value !== stored) changes[field.name] = value;
  }
  return changes;
}

/** Shows each field's errors (a Map of field → messages) and marks its input invalid;
 * returns the first invalid input (in the form's order) and the errors that belong to no
 * field. */
export function showFieldErrors(form, errors) {
  let first = null;
  for (const field of FIELDS) {
    const input = form.querySelector(`[data-setting="${field.name}"]`);
    const line = form.querySelector(`[data-field-error="${field.name}"]`);
    const messages = errors.get(field.name) || [];
    line.textContent = messages.join(" ");
    input.setAttribute("aria-invalid", messages.length ? "true" : "false");
    if (messages.length && !first) first = input;
  }
  const known = new Set(FIELDS.map((field) => field.name));
  const others = [...errors].filter(([name]) => !known.has(name)).map(([name, m]) => (name ? `${name}: ${m.join(" ")}` : m.join(" ")));
  return { first, others };
}

/** "Thursday, 5 March 2026 at 07:00 (Asia/Tokyo)": the next digest in the account's time
 * zone, as a <time>, or a note that no digest goes out without a report address. */
export function nextDigest(account) {
  if (!account.next_digest_at) return el("span", { class: "muted", text: t("nextDigestNone") });
  let text;
  try {
    text = new Intl.DateTimeFormat(locale(), {
      dateStyle: "full",
      timeStyle: "short",
      timeZone: account.time_zone,
    }).format(new Date(account.next_digest_at));
  } catch {
    text = account.next_digest_at;
  }
  return el(
    "span",
    {},
    el("time", { datetime: account.next_digest_at, "data-zone": account.time_zone, text }),
    " ",
    el("span", { class: "muted", text: `(${account.time_zone})` }),
  );
}
