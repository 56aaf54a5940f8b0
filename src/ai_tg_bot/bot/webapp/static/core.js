// The Mini App's plumbing: sign-in data, the API, texts, formatting, DOM building.
// Every visible string comes from the texts /app/api/me sends (the bot's catalogs);
// FALLBACK holds only what may be shown before they arrive: a failed sign-in.

const API = "/app/api";
const STORED_INIT_DATA = "ai-tg-bot:init-data";
const FALLBACK = {
  error_unauthorized: "Could not sign you in. Close this page and open it again from the bot.",
  error_forbidden: "You don't have access to this.",
  error_network: "Could not reach the bot. Check your connection and try again.",
  error_generic: "Something went wrong. Please try again.",
  retry: "Try again",
};

export const state = { initData: "", texts: {}, me: null, lang: "en" };

// Telegram's WebApp object, when its script loaded (inside Telegram it does).
export function webApp() {
  return window.Telegram && window.Telegram.WebApp ? window.Telegram.WebApp : null;
}

function supports(version) {
  const app = webApp();
  return Boolean(app && app.isVersionAtLeast && app.isVersionAtLeast(version));
}

// initData: from Telegram's script, else from the URL's #tgWebAppData=... (how Telegram
// passes it), else kept from earlier in this tab (the hash is replaced by the routes).
export function readInitData() {
  const app = webApp();
  const params = new URLSearchParams(location.hash.slice(1));
  const found = (app && app.initData) || params.get("tgWebAppData") || "";
  if (found) {
    sessionStorage.setItem(STORED_INIT_DATA, found);
    if (!app) applyTheme(params.get("tgWebAppThemeParams"));
    return found;
  }
  return sessionStorage.getItem(STORED_INIT_DATA) || "";
}

// Without Telegram's script, the theme passed in the URL sets the same CSS variables.
function applyTheme(json) {
  let theme = {};
  try {
    theme = JSON.parse(json || "{}");
  } catch {
    return;
  }
  for (const [key, value] of Object.entries(theme)) {
    if (/^[a-z_]+$/.test(key) && /^#[0-9a-f]{3,8}$/i.test(String(value))) {
      document.documentElement.style.setProperty(`--tg-theme-${key.replaceAll("_", "-")}`, value);
    }
  }
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || String(status));
    this.status = status;
    this.code = code || "";
    this.serverMessage = message || "";
  }
}

// One API call with the sign-in header; the Response, or an ApiError.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `tma ${state.initData}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (!response.ok) {
    let data = {};
    try {
      data = await response.json();
    } catch {
      // not JSON: the status says enough
    }
    throw new ApiError(response.status, data.error, data.message);
  }
  return response;
}

export async function getJSON(path, options) {
  return (await api(path, options)).json();
}

export function t(key) {
  return state.texts[key] ?? FALLBACK[key] ?? key;
}

// A text with its {placeholders} filled in.
export function fill(key, values) {
  return t(key).replace(/\{([a-z_]+)\}/g, (all, name) => (name in values ? values[name] : all));
}

// What the user reads for a failure.
export function errorText(error) {
  if (!(error instanceof ApiError)) return t("error_generic");
  if (error.status === 0) return t("error_network");
  if (error.status === 401) return t("error_unauthorized");
  if (error.status === 403) return t("error_forbidden");
  if (error.status === 404) return t("error_not_found");
  return error.serverMessage || t("error_generic");
}

export function number(value) {
  return new Intl.NumberFormat(state.lang).format(value ?? 0);
}

export function money(value) {
  const format = { style: "currency", currency: "USD", maximumFractionDigits: 4 };
  return new Intl.NumberFormat(state.lang, format).format(value);
}

export function moment(iso) {
  if (!iso) return "";
  const format = { dateStyle: "medium", timeStyle: "short" };
  return new Intl.DateTimeFormat(state.lang, format).format(new Date(iso));
}

// A "YYYY-MM-DD" day (UTC, as the bot counts days).
export function day(isoDay, style = "medium") {
  const format = style === "short" ? { day: "numeric", month: "short" } : { dateStyle: style };
  return new Intl.DateTimeFormat(state.lang, { ...format, timeZone: "UTC" }).format(
    new Date(`${isoDay}T00:00:00Z`),
  );
}

// A DOM element: el("a", {href: "#/x", class: "row", text: "..."}, child, ...).
// Text is always set as text; the only HTML inserted is a message's server-made `html`.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// Append children, leaving out the ones a condition left null.
export function add(parent, ...children) {
  parent.append(...children.filter((child) => child !== null && child !== undefined));
  return parent;
}

let fieldCount = 0;

// A labelled form control: [label, control] with the label's `for` set.
export function field(labelText, control, hint) {
  fieldCount += 1;
  control.id = control.id || `field-${fieldCount}`;
  const parts = [el("label", { for: control.id, text: labelText }), control];
  if (hint) {
    const note = el("p", { class: "hint small", id: `${control.id}-hint`, text: hint });
    control.setAttribute("aria-describedby", note.id);
    parts.push(note);
  }
  return el("div", { class: "field" }, ...parts);
}

// Ask before anything is deleted or refunded: Telegram's own dialog where it has one.
export function confirmAsk(message) {
  const app = webApp();
  if (app && supports("6.2")) {
    return new Promise((resolve) => app.showConfirm(message, (ok) => resolve(Boolean(ok))));
  }
  return Promise.resolve(window.confirm(message));
}

// Telegram's back button on inner pages (where the client has one).
export function backButton(target) {
  const app = webApp();
  if (!app || !supports("6.1")) return;
  app.BackButton.offClick(backButton.handler || (() => {}));
  if (!target) {
    app.BackButton.hide();
    return;
  }
  backButton.handler = () => {
    location.hash = target;
  };
  app.BackButton.onClick(backButton.handler);
  app.BackButton.show();
}

const notice = () => document.getElementById("notice");
let flashed = "";

// A short message after an action; `flash` keeps it for the page the action leads to.
export function notify(text, isError = false) {
  notice().textContent = text;
  notice().classList.toggle("error", isError);
}

export function flash(text) {
  flashed = text;
}

export function takeFlash() {
  notify(flashed);
  flashed = "";
}

// Run an action from a button: the button is disabled meanwhile, failures are shown.
export async function act(button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (error) {
    notify(errorText(error), true);
  } finally {
    button.disabled = false;
  }
}
