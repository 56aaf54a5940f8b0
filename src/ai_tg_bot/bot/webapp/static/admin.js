// The administrators' pages (me.admin): users, usage and cost per model, payments.
import {
  act,
  add,
  api,
  confirmAsk,
  day,
  el,
  field,
  fill,
  flash,
  getJSON,
  money,
  moment,
  number,
  t,
} from "./core.js";

function adminHeader(section) {
  const links = [
    ["#/admin/users", "admin_users"],
    ["#/admin/usage", "admin_usage"],
    ["#/admin/payments", "admin_payments"],
  ];
  const here = location.hash.split("?")[0];
  const items = links.map(([href, key]) =>
    el(
      "li",
      {},
      el("a", {
        href,
        text: t(key),
        "aria-current":
          here === href || (here === "#/admin" && key === "admin_users") ? "page" : null,
      }),
    ),
  );
  add(
    section,
    el("h1", { text: t("admin_heading") }),
    el("nav", { class: "subtabs", "aria-label": t("admin_sections") }, el("ul", {}, ...items)),
  );
}

// A one-field form that puts its value into the URL's query (so a reload keeps it).
function queryForm(label, name, value, button, attrs = {}) {
  const input = el("input", { name, value, autocomplete: "off", ...attrs });
  const form = el(
    "form",
    { class: "inline-form" },
    field(label, input),
    el("button", { type: "submit", text: button }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const path = location.hash.split("?")[0];
    location.hash = `${path}?${name}=${encodeURIComponent(input.value.trim())}`;
  });
  return form;
}

// A limit's value, marked when it is the bot's default rather than set for this user.
function limitText(user, name) {
  const value = user.limits[name];
  const shown = value === null || value === undefined ? "—" : number(value);
  return (user.custom || []).includes(name) ? shown : `${shown} (${t("limit_default")})`;
}

function limitsForm(user, rerender) {
  const names = Object.keys(user.limits);
  if (!names.length) return null;
  const list = el(
    "dl",
    { class: "limits" },
    ...names.flatMap((name) => [
      el("dt", { text: name }),
      el("dd", { text: limitText(user, name) }),
    ]),
  );
  const choice = el(
    "select",
    { name: "limit" },
    ...names.map((n) => el("option", { value: n, text: n })),
  );
  const value = el("input", { name: "value", inputmode: "numeric", autocomplete: "off" });
  const submit = el("button", { type: "submit", text: t("set_limit") });
  const form = el(
    "form",
    { class: "inline-form" },
    field(t("limit_label"), choice),
    field(t("limit_value"), value),
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(submit, async () => {
      const raw = value.value.trim();
      const wanted = /^\d+$/.test(raw) ? Number(raw) : raw;
      await api(`/admin/users/${user.id}/limits`, {
        method: "PATCH",
        body: { [choice.value]: wanted },
      });
      flash(t("saved"));
      await rerender();
    });
  });
  return [list, form];
}

function userCard(user, rerender) {
  const blocked = user.blocked;
  const toggle = el("button", {
    type: "button",
    class: blocked ? "secondary" : "danger",
    text: t(blocked ? "unblock" : "block"),
    onclick: (event) =>
      act(event.currentTarget, async () => {
        await api(`/admin/users/${user.id}/${blocked ? "unblock" : "block"}`, { method: "POST" });
        await rerender();
      }),
  });
  const today = fill("today_line", {
    messages: number(user.messages_today),
    tokens: number(user.tokens_today),
  });
  return el(
    "article",
    { class: "card user", "data-user": String(user.id) },
    el(
      "h2",
      {},
      el("span", { text: fill("user_heading", { id: user.id }) }),
      blocked ? el("span", { class: "badge danger-badge", text: t("blocked") }) : null,
    ),
    el("p", { text: today }),
    el("p", { text: fill("credit", { n: number(user.credit) }) }),
    user.last_active_at
      ? el("p", { class: "hint", text: fill("last_active", { date: moment(user.last_active_at) }) })
      : null,
    ...(limitsForm(user, rerender) || []),
    el("div", { class: "actions" }, toggle),
  );
}

export async function adminUsersView(section, { query, rerender }) {
  const wanted = query.get("q") || "";
  const { users } = await getJSON(`/admin/users?q=${encodeURIComponent(wanted)}`);
  adminHeader(section);
  add(
    section,
    queryForm(t("user_id_label"), "q", wanted, t("find"), { inputmode: "numeric" }),
    ...(users.length
      ? users.map((user) => userCard(user, rerender))
      : [el("p", { class: "hint", text: t("no_users") })]),
  );
}

export async function adminUsageView(section, { query }) {
  const days = /^\d+$/.test(query.get("days") || "") ? query.get("days") : "30";
  const { rows } = await getJSON(`/admin/usage?days=${days}`);
  adminHeader(section);
  const form = queryForm(t("days_label"), "days", days, t("show"), { inputmode: "numeric" });
  if (!rows.length) {
    add(section, form, el("p", { class: "hint", text: t("no_rows") }));
    return;
  }
  const head = ["col_date", "col_model", "col_prompt", "col_completion", "col_cost"];
  const cells = (row) => [
    day(row.date, "short"),
    row.model,
    number(row.prompt_tokens),
    number(row.completion_tokens),
    row.cost === null || row.cost === undefined ? "—" : money(row.cost),
  ];
  const table = el(
    "table",
    {},
    el("thead", {}, el("tr", {}, ...head.map((key) => el("th", { scope: "col", text: t(key) })))),
    el(
      "tbody",
      {},
      ...rows.map((row) => el("tr", {}, ...cells(row).map((c) => el("td", { text: c })))),
    ),
  );
  add(
    section,
    form,
    el(
      "div",
      { class: "table-scroll", tabindex: "0", role: "region", "aria-label": t("admin_usage") },
      table,
    ),
  );
}

function paymentItem(payment, rerender) {
  const values = {
    user: payment.user_id,
    stars: number(payment.stars),
    tokens: number(payment.tokens),
  };
  const refund = el("button", {
    type: "button",
    class: "danger small",
    text: t("refund"),
    onclick: (event) =>
      act(event.currentTarget, async () => {
        if (!(await confirmAsk(fill("confirm_refund", values)))) return;
        const response = await api(
          `/admin/payments/${encodeURIComponent(payment.charge_id)}/refund`,
          {
            method: "POST",
          },
        );
        const done = await response.json();
        flash(fill("refund_done", { taken: number(done.taken_back) }));
        await rerender();
      }),
  });
  return el(
    "li",
    { class: "row payment", "data-charge": payment.charge_id },
    el(
      "span",
      { class: "row-title" },
      el("span", { text: fill("payment_of", values) }),
      payment.refunded ? el("span", { class: "badge muted", text: t("refunded") }) : null,
    ),
    el("span", { class: "row-meta", text: `${moment(payment.created_at)} · ${payment.charge_id}` }),
    payment.refunded ? null : el("div", { class: "actions" }, refund),
  );
}

export async function adminPaymentsView(section, { rerender }) {
  const { payments } = await getJSON("/admin/payments");
  adminHeader(section);
  add(
    section,
    payments.length
      ? el("ul", { class: "list payments" }, ...payments.map((p) => paymentItem(p, rerender)))
      : el("p", { class: "hint", text: t("payments_empty") }),
  );
}
