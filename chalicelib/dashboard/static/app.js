// The Sobre dashboard: sign in with an API key, follow the sent invoices, open one.

import * as api from "./api.js";
import { failedRecipients, refreshRelativeTimes, renderDetail, renderDetailMessage } from "./detail.js";
import { keepingFocus } from "./dom.js";
import { Feed, inFilter, PAGE } from "./feed.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { renderRows, rove } from "./list.js";
import {
  buildSettingsForm,
  fillSettings,
  nextDigest,
  settingsChanges,
  showFieldErrors,
  translateLocaleOptions,
} from "./settings.js";

const REFRESH_MS = 5000;
const SEARCH_DELAY_MS = 300; // typing pauses this long before the server is asked
const SEARCH_LIMIT = 100; // the API's largest page
const OVERLAY = window.matchMedia("(max-width: 1023px)"); // the detail covers the list

const $ = (id) => document.getElementById(id);
const ui = {
  booting: $("booting"),
  signin: $("signin"),
  signinForm: $("signin-form"),
  key: $("api-key"),
  signinSubmit: $("signin-submit"),
  signinError: $("signin-error"),
  signinNotice: $("signin-notice"),
  dashboard: $("dashboard"),
  signout: $("signout"),
  language: $("language"),
  listPanel: $("list-panel"),
  updated: $("updated"),
  chips: [...document.querySelectorAll("[data-filter]")],
  search: $("search"),
  searchHint: $("search-hint"),
  listError: $("list-error"),
  table: $("invoices"),
  rows: $("rows"),
  empty: $("empty"),
  loadMore: $("load-more"),
  count: $("count"),
  detail: $("detail"),
  nav: $("nav"),
  navLinks: [...document.querySelectorAll("#nav [data-view]")],
  settings: $("settings"),
  settingsTitle: $("settings-title"),
  settingsLoading: $("settings-loading"),
  settingsLoadError: $("settings-load-error"),
  settingsDigest: $("settings-digest"),
  nextDigest: $("next-digest"),
  settingsForm: $("settings-form"),
  settingsError: $("settings-error"),
  settingsSave: $("settings-save"),
  settingsStatus: $("settings-status"),
};

const idle = () => ({ open: null, values: {}, errors: {}, busy: false, message: "", error: false });

const state = {
  filter: "all",
  feed: null,
  query: "",
  loadingMore: false,
  selectedId: null,
  detail: null,
  events: [], // newest first, at most api.MAX_EVENTS
  eventsComplete: true, // false when older events were left out
  detailLoad: 0, // bumped by every detail load: only the latest one is shown
  detailLoading: false, // the latest detail load is still under way
  detailSignature: "",
  resend: { busy: false, message: "", error: false },
  payment: idle(), // the detail's "Mark as paid" / "Void" forms
  add: { ...idle(), added: [] }, // the detail's "Add a recipient" form
  view: "invoices", // or "settings" (#settings)
  search: null, // {query, items (null while asked), error}: the server's answer
  searchTicket: 0, // only the latest search answer is shown
  searchTimer: 0,
  account: null, // GET /account, shown in Settings
  settingsBusy: false,
  settingsStatus: "", // a message key
  generation: 0, // bumped by sign-out and filter changes: late answers are dropped
  queue: Promise.resolve(), // list loads run one at a time
  timer: 0,
  lastUpdated: null,
  refreshFailedAt: null,
};

// -- sign in / out ------------------------------------------------------------------------

function show(view) {
  ui.booting.hidden = true;
  ui.signin.hidden = view !== "signin";
  ui.signout.hidden = view !== "dashboard";
  ui.nav.hidden = view !== "dashboard";
  ui.dashboard.hidden = view !== "dashboard" || state.view !== "invoices";
  ui.settings.hidden = view !== "dashboard" || state.view !== "settings";
  for (const link of ui.navLinks) {
    if (view === "dashboard" && link.dataset.view === state.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function showSignIn({ error = "", notice = "" } = {}) {
  show("signin");
  ui.signinError.textContent = error;
  ui.signinNotice.textContent = notice;
  ui.key.setAttribute("aria-invalid", error ? "true" : "false");
  ui.key.focus();
}

function messageFor(error) {
  if (error instanceof api.ApiError) {
    if (error.status === 401) return t("keyRejected");
    if (error.status === 0) return t("unreachable");
    return t("serverError", { status: error.status });
  }
  return t("serverError", { status: "?" });
}

/** What an action's failure says: the API's own message for a request it refused
 * (4xx in Sobre's error shape), in the page's language when it is a known one. */
function problemFor(error, known = {}) {
  if (error instanceof api.ApiError && error.status >= 400 && error.status < 500 && error.status !== 401) {
    const key = known[error.status];
    if (key) return t(key);
    if (error.code === "validation_failed") return t("checkFields");
    return error.message || messageFor(error);
  }
  return messageFor(error);
}

/** The API's field errors as {field: [messages]}, field paths shortened by ``prefix``. */
function fieldErrors(error, prefix = "") {
  const errors = {};
  if (!(error instanceof api.ApiError)) return errors;
  for (const [path, messages] of error.fieldErrors()) {
    errors[path.startsWith(prefix) ? path.slice(prefix.length) : path] = messages;
  }
  return errors;
}

async function signIn(event) {
  event.preventDefault();
  const key = ui.key.value.trim();
  if (!key) {
    showSignIn({ error: t("keyMissing") });
    return;
  }
  ui.signinSubmit.disabled = true;
  ui.signinSubmit.textContent = t("signingIn");
  ui.signinError.textContent = "";
  try {
    await api.listInvoices({ limit: 1 }, { key });
    api.session.set(key);
    ui.key.value = "";
    startDashboard();
  } catch (error) {
    showSignIn({ error: messageFor(error) });
  } finally {
    ui.signinSubmit.disabled = false;
    ui.signinSubmit.textContent = t("signIn");
  }
}

function resetDashboard() {
  state.generation += 1;
  clearInterval(state.timer);
  state.timer = 0;
  state.feed = null;
  state.selectedId = null;
  state.detail = null;
  state.events = [];
  state.eventsComplete = true;
  state.detailLoad += 1;
  state.detailLoading = false;
  state.detailSignature = "";
  state.lastUpdated = null;
  state.refreshFailedAt = null;
  state.query = "";
  state.search = null;
  state.searchTicket += 1;
  clearTimeout(state.searchTimer);
  state.payment = idle();
  state.add = { ...idle(), added: [] };
  state.account = null;
  state.settingsStatus = "";
  ui.settingsForm.hidden = true;
  ui.settingsDigest.hidden = true;
  ui.search.value = "";
  ui.rows.replaceChildren();
  ui.detail.replaceChildren();
  ui.detail.hidden = true;
  ui.listPanel.inert = false;
  document.body.classList.remove("has-detail");
}

function signOut({ error = "", notice = t("signedOut") } = {}) {
  api.session.clear();
  resetDashboard();
  showSignIn({ error, notice: error ? "" : notice });
}

function startDashboard() {
  resetDashboard();
  state.view = viewOfHash();
  show("dashboard");
  ui.listError.textContent = "";
  loadFirstPage();
  state.timer = setInterval(refresh, REFRESH_MS);
  if (state.view === "settings") openSettings();
  else document.getElementById("list-title").focus();
}

// -- views (#invoices, #settings) ------------------------------------------------------

function viewOfHash() {
  return location.hash === "#settings" ? "settings" : "invoices";
}

function route() {
  const view = viewOfHash();
  if (!api.session.get() || view === state.view) return;
  state.view = view;
  show("dashboard");
  if (view === "settings") openSettings();
  else {
    document.getElementById("list-title").focus();
    refresh();
  }
}

/** A failed call: a rejected key signs out with a message; anything else is shown. */
function failed(error, where) {
  if (error?.name === "AbortError") return;
  if (error instanceof api.ApiError && error.status === 401) {
    signOut({ error: t("sessionExpired") });
    return;
  }
  where(messageFor(error));
}

// -- the list -----------------------------------------------------------------------------

function queued(task) {
  state.queue = state.queue.then(task, task);
  return state.queue;
}

function loadFirstPage() {
  const generation = state.generation;
  const feed = new Feed(state.filter);
  state.feed = feed;
  renderList();
  return queued(async () => {
    if (generation !== state.generation) return;
    try {
      await feed.loadUntil(PAGE);
      if (generation !== state.generation) return;
      state.lastUpdated = new Date();
      ui.listError.textContent = "";
    } catch (error) {
      if (generation === state.generation) failed(error, (m) => (ui.listError.textContent = m));
    }
    if (generation === state.generation) renderList();
  });
}

function loadMore() {
  const generation = state.generation;
  state.loadingMore = true;
  renderList();
  return queued(async () => {
    if (generation !== state.generation) return;
    try {
      await state.feed.loadUntil(state.feed.visible().length + PAGE);
      ui.listError.textContent = "";
    } catch (error) {
      if (generation === state.generation) failed(error, (m) => (ui.listError.textContent = m));
    }
    state.loadingMore = false;
    if (generation === state.generation) renderList();
  });
}

function refresh() {
  if (document.hidden || !api.session.get() || state.view !== "invoices") return;
  if (state.search) runSearch(state.search.query, { quiet: true });
  const generation = state.generation;
  queued(async () => {
    if (generation !== state.generation || !state.feed) return;
    try {
      const fresh = await state.feed.reloaded();
      if (generation !== state.generation) return;
      state.feed = fresh;
      state.lastUpdated = new Date();
      state.refreshFailedAt = null;
      renderList();
    } catch (error) {
      if (generation !== state.generation) return;
      state.refreshFailedAt = new Date();
      failed(error, () => renderUpdated());
    }
  });
  // A detail load still under way (up to a few pages of events) is not doubled.
  if (state.selectedId && !state.detailLoading) loadDetail(state.selectedId, { quiet: true });
}

function renderUpdated() {
  if (state.refreshFailedAt) {
    ui.updated.textContent = t("refreshFailed", { time: i18n.time(state.refreshFailedAt.toISOString()) });
    ui.updated.classList.add("error");
  } else {
    ui.updated.textContent = state.lastUpdated
      ? t("updated", { time: i18n.time(state.lastUpdated.toISOString()) })
      : t("loading");
    ui.updated.classList.remove("error");
  }
}

function renderList() {
  renderUpdated();
  for (const chip of ui.chips) chip.setAttribute("aria-pressed", String(chip.dataset.filter === state.filter));
  const feed = state.feed;
  const search = state.search;
  // A search shows the server's answer (every invoice whose number starts so, loaded or
  // not), narrowed to the chosen filter; otherwise the filter's feed.
  const shown = search
    ? (search.items || []).filter((invoice) => inFilter(invoice, state.filter))
    : feed
      ? feed.visible()
      : [];
  renderRows(ui.rows, shown, state.selectedId);
  const started = search
    ? search.items !== null || Boolean(search.error)
    : Boolean(feed && feed.streams.every((stream) => stream.started));
  ui.table.setAttribute("aria-busy", String(!started));
  ui.empty.hidden = !started || shown.length > 0 || Boolean(search?.error);
  if (!started) ui.empty.textContent = "";
  else if (search) {
    ui.empty.textContent = t(state.filter === "all" ? "emptySearch" : "emptySearchFilter", { query: search.query });
  } else ui.empty.textContent = state.filter === "all" ? t("emptyAll") : t("emptyFilter");
  const more = Boolean(!search && feed && started && !feed.complete);
  ui.loadMore.hidden = !more;
  ui.loadMore.disabled = state.loadingMore;
  ui.loadMore.textContent = state.loadingMore ? t("loadingMore") : t("loadMore");
  if (search) {
    ui.count.textContent = started && !search.error ? t("searchFound", { count: shown.length, query: search.query }) : "";
  } else {
    ui.count.textContent = started ? t(more ? "shown" : "shownAll", { count: shown.length }) : "";
  }
  const capped = search?.items && search.items.length >= SEARCH_LIMIT;
  ui.searchHint.textContent = capped ? t("searchCapped", { count: SEARCH_LIMIT }) : t("searchHint");
}

/** The search box: after a pause in typing, GET /invoices?number_prefix=…; an empty box
 * shows the filter's list again. */
function searchTyped() {
  clearTimeout(state.searchTimer);
  const query = ui.search.value.trim();
  state.query = query;
  state.searchTicket += 1;
  if (!query) {
    state.search = null;
    ui.listError.textContent = "";
    renderList();
    return;
  }
  state.search = { query, items: null, error: "" };
  renderList();
  state.searchTimer = setTimeout(() => runSearch(query), SEARCH_DELAY_MS);
}

async function runSearch(query, { quiet = false } = {}) {
  state.searchTicket += 1;
  const ticket = state.searchTicket;
  const current = () => ticket === state.searchTicket && state.search?.query === query;
  try {
    const page = await api.searchInvoices(query, { limit: SEARCH_LIMIT });
    if (!current()) return;
    state.search = { query, items: page.items, error: "" };
    ui.listError.textContent = "";
  } catch (error) {
    if (!current() || (quiet && state.search.items)) return;
    failed(error, (message) => {
      state.search = { query, items: null, error: message };
      ui.listError.textContent = message;
    });
  }
  if (current()) renderList();
}

function setFilter(filter) {
  if (filter === state.filter) return;
  state.filter = filter;
  state.generation += 1;
  state.loadingMore = false;
  loadFirstPage();
}

function rowKeys(event) {
  const row = event.target.closest("tr[data-id]");
  if (!row) return;
  const rows = [...ui.rows.querySelectorAll("tr[data-id]")];
  const index = rows.indexOf(row);
  const go = (to) => {
    event.preventDefault();
    rows[Math.max(0, Math.min(rows.length - 1, to))]?.focus();
  };
  switch (event.key) {
    case "Enter":
    case " ":
      event.preventDefault();
      openDetail(row.dataset.id);
      break;
    case "ArrowDown":
      go(index + 1);
      break;
    case "ArrowUp":
      go(index - 1);
      break;
    case "Home":
      go(0);
      break;
    case "End":
      go(rows.length - 1);
      break;
    default:
  }
}

// -- the detail ---------------------------------------------------------------------------

function openDetail(id) {
  const changed = state.selectedId !== id;
  state.selectedId = id;
  if (changed) {
    state.detail = null;
    state.events = [];
    state.eventsComplete = true;
    state.detailSignature = "";
    state.resend = { busy: false, message: "", error: false };
    state.payment = idle();
    state.add = { ...idle(), added: [] };
    renderDetailMessage(ui.detail, t("detailLoading"), { onClose: closeDetail });
  }
  ui.detail.hidden = false;
  document.body.classList.add("has-detail");
  ui.listPanel.inert = OVERLAY.matches;
  renderList();
  loadDetail(id, { focus: true });
}

function closeDetail() {
  const id = state.selectedId;
  state.selectedId = null;
  state.detail = null;
  state.detailSignature = "";
  ui.detail.hidden = true;
  ui.detail.replaceChildren();
  ui.listPanel.inert = false;
  document.body.classList.remove("has-detail");
  renderList();
  if (id) ui.rows.querySelector(`tr[data-id="${CSS.escape(id)}"]`)?.focus();
}

async function loadDetail(id, { focus = false, quiet = false } = {}) {
  const generation = state.generation;
  state.detailLoad += 1;
  const load = state.detailLoad;
  state.detailLoading = true;
  const current = () =>
    generation === state.generation && state.selectedId === id && load === state.detailLoad;
  try {
    const [detail, events] = await Promise.all([api.getInvoice(id), api.loadEvents(id)]);
    if (!current()) return;
    state.detail = detail;
    state.events = events.items;
    state.eventsComplete = events.complete;
    renderDetailPanel();
    if (focus) document.getElementById("detail-title")?.focus();
  } catch (error) {
    if (!current()) return;
    if (quiet && state.detail && !(error instanceof api.ApiError && error.status === 401)) return;
    failed(error, (message) => {
      const text = error instanceof api.ApiError && error.status === 404 ? t("notFound") : t("detailFailed", { message });
      state.detailSignature = "";
      renderDetailMessage(ui.detail, text, { onClose: closeDetail, isError: true });
    });
  } finally {
    if (load === state.detailLoad) state.detailLoading = false;
  }
}

function renderDetailPanel() {
  if (!state.detail) return;
  const signature = JSON.stringify([
    state.detail,
    state.events,
    state.eventsComplete,
    state.resend,
    // What the forms show, not what is typed in them (their inputs keep their values).
    [state.payment.open, state.payment.busy, state.payment.message, state.payment.errors],
    [state.add.busy, state.add.message, state.add.errors, state.add.added],
    i18n.currentLanguage(),
  ]);
  if (signature === state.detailSignature) {
    refreshRelativeTimes(ui.detail);
    return;
  }
  state.detailSignature = signature;
  keepingFocus(ui.detail, () =>
    renderDetail(ui.detail, state.detail, state.events, {
      eventsComplete: state.eventsComplete,
      onClose: closeDetail,
      onResend: resendFailed,
      resendState: state.resend,
      paymentState: state.payment,
      addState: state.add,
      handlers: detailHandlers,
    }),
  );
}

const detailHandlers = {
  onPaymentOpen(kind) {
    state.payment = { ...idle(), open: kind };
    renderDetailPanel();
    ui.detail.querySelector(`#${kind === "paid" ? "pay-reference" : "void-reason"}`)?.focus();
  },
  onPaymentInput(name, value) {
    state.payment.values[name] = value;
  },
  onPaymentCancel() {
    const kind = state.payment.open;
    state.payment = idle();
    renderDetailPanel();
    ui.detail.querySelector(`[data-action="${kind === "paid" ? "mark-paid" : "void"}"]`)?.focus();
  },
  onPaymentConfirm: confirmPayment,
  onRecipientInput(name, value) {
    state.add.values[name] = value;
  },
  onRecipientSubmit: addRecipient,
};

/** "Mark as paid" (reference, amount: the total unless given) or "Void" (reason),
 * confirmed; then the detail and the list are read again. */
async function confirmPayment() {
  const id = state.selectedId;
  const current = state.payment;
  if (!id || current.busy || !current.open) return;
  const kind = current.open;
  const values = current.values;
  const body = {};
  for (const name of kind === "paid" ? ["reference", "amount"] : ["reason"]) {
    const value = (values[name] || "").trim();
    if (value) body[name] = value;
  }
  state.payment = { ...current, busy: true, message: "", error: false, errors: {} };
  renderDetailPanel();
  try {
    const detail = await (kind === "paid" ? api.markPaid(id, body) : api.markVoid(id, body));
    if (state.selectedId !== id) return;
    state.detail = detail;
    state.payment = { ...idle(), message: t(kind === "paid" ? "markedPaid" : "markedVoid") };
  } catch (error) {
    if (state.selectedId !== id) return;
    const refused = error instanceof api.ApiError && error.status === 409;
    const message = problemFor(error, { 409: kind === "paid" ? "payConflict" : "voidConflict" });
    state.payment = {
      ...state.payment,
      open: refused ? null : kind, // the invoice's state decides: the detail is read again
      busy: false,
      error: true,
      message: t(kind === "paid" ? "payFailed" : "voidFailed", { message }),
      errors: fieldErrors(error),
    };
    failed(error, () => {});
  }
  if (state.selectedId !== id) return;
  renderDetailPanel();
  const invalid = ui.detail.querySelector('.confirm input[aria-invalid="true"]');
  (invalid || document.getElementById("payment-title"))?.focus();
  await loadDetail(id, { quiet: true });
  refresh();
}

/** "Add a recipient": POST /invoices/{id}/recipients, then the new recipient's status. */
async function addRecipient() {
  const id = state.selectedId;
  const current = state.add;
  if (!id || current.busy) return;
  const email = (current.values.email || "").trim();
  const name = (current.values.name || "").trim();
  if (!email) {
    state.add = { ...current, error: true, message: "", errors: { email: [t("emailMissing")] } };
    renderDetailPanel();
    document.getElementById("add-email")?.focus();
    return;
  }
  state.add = { ...current, busy: true, message: "", error: false, errors: {} };
  renderDetailPanel();
  try {
    const answer = await api.addRecipients(id, [name ? { email, name } : { email }]);
    if (state.selectedId !== id) return;
    const failedOnes = answer.recipients.filter((r) => r.status === "failed");
    state.add = {
      ...idle(),
      error: failedOnes.length > 0,
      message: failedOnes.length ? t("recipientFailed", { email }) : t("recipientAdded", { email }),
      added: answer.recipients,
    };
  } catch (error) {
    if (state.selectedId !== id) return;
    state.add = {
      ...state.add,
      busy: false,
      error: true,
      message: t("addFailed", { message: problemFor(error, { 409: "alreadyRecipient" }) }),
      errors: fieldErrors(error, "recipients[0]."),
    };
    failed(error, () => {});
  }
  if (state.selectedId !== id) return;
  renderDetailPanel();
  if (!state.add.error) document.getElementById("add-email")?.focus();
  else (ui.detail.querySelector('.add-recipient input[aria-invalid="true"]') || document.getElementById("add-email"))?.focus();
  await loadDetail(id, { quiet: true });
  refresh();
}

// -- settings -----------------------------------------------------------------------------

function openSettings() {
  ui.settingsTitle.focus();
  loadSettings();
}

async function loadSettings() {
  const generation = state.generation;
  ui.settingsLoadError.textContent = "";
  if (!state.account) ui.settingsLoading.textContent = t("loading");
  try {
    const account = await api.getAccount();
    if (generation !== state.generation) return;
    state.account = account;
    fillSettings(ui.settingsForm, account);
    showFieldErrors(ui.settingsForm, new Map());
    ui.settingsError.textContent = "";
    state.settingsStatus = "";
    ui.settingsForm.hidden = false;
    renderSettings();
  } catch (error) {
    if (generation === state.generation) failed(error, (m) => (ui.settingsLoadError.textContent = m));
  } finally {
    if (generation === state.generation) ui.settingsLoading.textContent = "";
  }
}

function renderSettings() {
  ui.settingsDigest.hidden = !state.account;
  if (state.account) ui.nextDigest.replaceChildren(nextDigest(state.account));
  ui.settingsStatus.textContent = state.settingsStatus ? t(state.settingsStatus) : "";
  ui.settingsSave.disabled = state.settingsBusy;
  ui.settingsSave.textContent = state.settingsBusy ? t("saving") : t("settingsSave");
}

/** Saves the settings that changed (Enter in any field, or the button); the API's
 * field errors are shown beside their fields, the first one focused. */
async function saveSettings(event) {
  event.preventDefault();
  if (state.settingsBusy || !state.account) return;
  const generation = state.generation;
  const changes = settingsChanges(ui.settingsForm, state.account);
  showFieldErrors(ui.settingsForm, new Map());
  ui.settingsError.textContent = "";
  if (!Object.keys(changes).length) {
    state.settingsStatus = "settingsUnchanged";
    renderSettings();
    return;
  }
  state.settingsBusy = true;
  state.settingsStatus = "";
  renderSettings();
  try {
    const account = await api.updateAccount(changes);
    if (generation !== state.generation) return;
    state.account = account;
    fillSettings(ui.settingsForm, account);
    state.settingsStatus = "settingsSaved";
  } catch (error) {
    if (generation !== state.generation) return;
    if (error instanceof api.ApiError && error.code === "validation_failed") {
      const { first, others } = showFieldErrors(ui.settingsForm, error.fieldErrors());
      const count = error.details.length;
      ui.settingsError.textContent = [t("settingsInvalid", { count }), ...others].join(" ");
      first?.focus();
    } else failed(error, (m) => (ui.settingsError.textContent = t("settingsFailed", { message: m })));
  } finally {
    if (generation === state.generation) {
      state.settingsBusy = false;
      renderSettings();
    }
  }
}

async function resendFailed() {
  const id = state.selectedId;
  if (!id || state.resend.busy) return;
  state.resend = { busy: true, message: "", error: false };
  renderDetailPanel();
  try {
    const before = new Set(failedRecipients(state.detail).map((r) => r.id));
    const answer = await api.resend(id);
    const stillFailed = answer.recipients.filter((r) => r.status === "failed");
    const sent = answer.recipients.filter((r) => before.has(r.id) && r.status !== "failed");
    state.resend = stillFailed.length
      ? {
          busy: false,
          error: true,
          message: t("resendStillFailed", {
            count: stillFailed.length,
            reasons: [...new Set(stillFailed.map((r) => r.error || "?"))].join("; "),
          }),
        }
      : { busy: false, error: false, message: t("resent", { count: sent.length }) };
  } catch (error) {
    state.resend = { busy: false, error: true, message: t("resendError", { message: messageFor(error) }) };
    failed(error, () => {});
  }
  if (state.selectedId === id) {
    renderDetailPanel();
    await loadDetail(id, { quiet: true });
    refresh();
  }
}

// -- language -----------------------------------------------------------------------------

function applyLanguage(language, remember) {
  i18n.setLanguage(language, remember);
  ui.language.value = i18n.currentLanguage();
  i18n.translatePage();
  if (!ui.signin.hidden && ui.signinSubmit.disabled === false) ui.signinSubmit.textContent = t("signIn");
  if (state.feed) {
    ui.rows.replaceChildren(); // every row in the new language
    renderList();
  }
  if (state.detail) {
    state.detailSignature = "";
    renderDetailPanel();
  }
  translateLocaleOptions(ui.settingsForm);
  renderSettings();
}

// -- wiring -------------------------------------------------------------------------------

function start() {
  buildSettingsForm(ui.settingsForm, ui.settingsForm.querySelector(".settings-submit"));
  applyLanguage(i18n.initialLanguage(), false);
  ui.language.addEventListener("change", () => applyLanguage(ui.language.value, true));
  ui.signinForm.addEventListener("submit", signIn);
  ui.signout.addEventListener("click", () => signOut());
  for (const chip of ui.chips) chip.addEventListener("click", () => setFilter(chip.dataset.filter));
  ui.search.addEventListener("input", searchTyped);
  ui.settingsForm.addEventListener("submit", saveSettings);
  window.addEventListener("hashchange", route);
  ui.loadMore.addEventListener("click", loadMore);
  ui.rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) openDetail(row.dataset.id);
  });
  ui.rows.addEventListener("keydown", rowKeys);
  ui.rows.addEventListener("focusin", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) rove(ui.rows, row);
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.selectedId && state.view === "invoices" && !event.defaultPrevented) {
      event.preventDefault();
      closeDetail();
    }
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
  OVERLAY.addEventListener("change", () => {
    ui.listPanel.inert = Boolean(state.selectedId) && OVERLAY.matches;
  });
  if (api.session.get()) startDashboard();
  else showSignIn();
}

start();
