// The Sobre dashboard: sign in with an API key, follow the sent invoices, open one.

import * as api from "./api.js";
import { failedRecipients, refreshRelativeTimes, renderDetail, renderDetailMessage } from "./detail.js";
import { keepingFocus } from "./dom.js";
import { Feed, PAGE } from "./feed.js";
import * as i18n from "./i18n.js";
import { t } from "./i18n.js";
import { matches, renderRows, rove } from "./list.js";

const REFRESH_MS = 5000;
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
};

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
  ui.dashboard.hidden = view !== "dashboard";
  ui.signout.hidden = view !== "dashboard";
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
  show("dashboard");
  ui.listError.textContent = "";
  loadFirstPage();
  state.timer = setInterval(refresh, REFRESH_MS);
  document.getElementById("list-title").focus();
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
  if (document.hidden || !api.session.get()) return;
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
  const visible = feed ? feed.visible() : [];
  const shown = visible.filter((invoice) => matches(invoice, state.query));
  renderRows(ui.rows, shown, state.selectedId);
  const started = feed && feed.streams.every((stream) => stream.started);
  ui.table.setAttribute("aria-busy", String(!started));
  ui.empty.hidden = !started || shown.length > 0;
  if (!started) ui.empty.textContent = "";
  else if (state.query && visible.length) ui.empty.textContent = t("emptySearch", { query: state.query });
  else ui.empty.textContent = state.filter === "all" ? t("emptyAll") : t("emptyFilter");
  const more = Boolean(feed && started && !feed.complete);
  ui.loadMore.hidden = !more;
  ui.loadMore.disabled = state.loadingMore;
  ui.loadMore.textContent = state.loadingMore ? t("loadingMore") : t("loadMore");
  ui.count.textContent = started
    ? t(more ? "shown" : "shownAll", { count: shown.length })
    : "";
  ui.searchHint.textContent = t("searchHint", { count: visible.length });
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
    }),
  );
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
}

// -- wiring -------------------------------------------------------------------------------

function start() {
  applyLanguage(i18n.initialLanguage(), false);
  ui.language.addEventListener("change", () => applyLanguage(ui.language.value, true));
  ui.signinForm.addEventListener("submit", signIn);
  ui.signout.addEventListener("click", () => signOut());
  for (const chip of ui.chips) chip.addEventListener("click", () => setFilter(chip.dataset.filter));
  ui.search.addEventListener("input", () => {
    state.query = ui.search.value;
    renderList();
  });
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
    if (event.key === "Escape" && state.selectedId && !event.defaultPrevented) {
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
