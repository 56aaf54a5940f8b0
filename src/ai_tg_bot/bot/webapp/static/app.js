// The Mini App: sign in, build the tabs, and show the page the URL's #/route names.
import {
  backButton,
  el,
  errorText,
  getJSON,
  readInitData,
  state,
  t,
  takeFlash,
  webApp,
} from "./core.js";
import { conversationView, conversationsView, searchView } from "./user.js";
import { exportView, settingsView } from "./settings.js";
import { usageView } from "./usage.js";
import { adminPaymentsView, adminUsageView, adminUsersView } from "./admin.js";

const TABS = [
  ["#/conversations", "nav_conversations"],
  ["#/search", "nav_search"],
  ["#/settings", "nav_settings"],
  ["#/usage", "nav_usage"],
  ["#/export", "nav_export"],
];

// Route patterns: the first that matches the hash (without its ?query) is shown.
const ROUTES = [
  [/^#\/conversations\/(\d+)$/, conversationView],
  [/^#\/conversations$/, conversationsView],
  [/^#\/search$/, searchView],
  [/^#\/settings$/, settingsView],
  [/^#\/usage$/, usageView],
  [/^#\/export$/, exportView],
  [/^#\/admin(?:\/users)?$/, adminUsersView, true],
  [/^#\/admin\/usage$/, adminUsageView, true],
  [/^#\/admin\/payments$/, adminPaymentsView, true],
];

const main = () => document.getElementById("main");
let shown = 0;

function showError(error) {
  const again = () => (state.me ? render() : boot());
  const retry = el("button", { type: "button", text: t("retry"), onclick: again });
  main().replaceChildren(el("h1", { class: "error", role: "alert", text: errorText(error) }));
  if (!(error && error.status === 401)) main().append(retry);
  main().dataset.route = location.hash;
}

function buildNav() {
  const tabs = state.me.admin ? [...TABS, ["#/admin", "nav_admin"]] : TABS;
  const nav = document.getElementById("nav");
  nav.parentElement.hidden = false;
  nav.setAttribute("aria-label", t("nav_label"));
  nav.replaceChildren(
    el("ul", {}, ...tabs.map(([href, key]) => el("li", {}, el("a", { href, text: t(key) })))),
  );
}

function markTab(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const href = link.getAttribute("href");
    const here = path === href || path.startsWith(`${href}/`);
    if (here) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// Show the page for the current hash; a slower earlier render never overwrites it.
export async function render() {
  const hash = location.hash;
  const [path, query = ""] = hash.split("?");
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  if (!route || (route[2] && !state.me.admin)) {
    location.replace("#/conversations");
    return;
  }
  const [pattern, view] = route;
  const ticket = ++shown;
  markTab(path);
  backButton(path.startsWith("#/conversations/") ? "#/conversations" : null);
  const section = el("section", { class: "view" });
  main().setAttribute("aria-busy", "true");
  if (main().dataset.route !== hash) {
    main().replaceChildren(el("p", { class: "hint", role: "status", text: t("loading") }));
  }
  try {
    await view(section, {
      args: path.match(pattern).slice(1),
      query: new URLSearchParams(query),
      rerender: render,
      signIn,
    });
    if (ticket !== shown) return;
    main().replaceChildren(section);
    main().dataset.route = hash;
    takeFlash();
    document.title = `${section.querySelector("h1")?.textContent || t("title")} · ${t("title")}`;
  } catch (error) {
    if (ticket === shown) showError(error);
  } finally {
    if (ticket === shown) main().removeAttribute("aria-busy");
  }
}

// Sign in (again after a change of language): who the user is, their language and the page's texts.
export async function signIn() {
  state.me = await getJSON("/me");
  state.texts = state.me.texts || {};
  state.lang = state.me.user.language || "en";
  document.documentElement.lang = state.lang;
  buildNav();
}

async function boot() {
  try {
    await signIn();
  } catch (error) {
    showError(error);
    return;
  }
  await render();
}

const app = webApp();
if (app) {
  app.ready();
  app.expand();
}
state.initData = readInitData();
if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/conversations");
window.addEventListener("hashchange", () => state.me && render());
boot();
