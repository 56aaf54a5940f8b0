// The user's pages: conversations, one conversation, search.
import {
  act,
  add,
  api,
  ApiError,
  errorText,
  confirmAsk,
  el,
  field,
  fill,
  flash,
  getJSON,
  moment,
  number,
  t,
} from "./core.js";

const title = (conversation) => conversation.title || t("untitled");

export async function conversationsView(section) {
  const { conversations } = await getJSON("/conversations");
  add(section, el("h1", { text: t("conversations_heading") }));
  if (!conversations.length) {
    add(section, el("p", { class: "hint", text: t("conversations_empty") }));
    return;
  }
  const rows = conversations.map((item) => {
    const meta = [fill("messages_count", { n: number(item.messages) })];
    if (item.last_active_at) meta.push(moment(item.last_active_at));
    return el(
      "li",
      {},
      el(
        "a",
        { class: "row", href: `#/conversations/${item.id}` },
        el(
          "span",
          { class: "row-title" },
          el("span", { text: title(item) }),
          item.current ? el("span", { class: "badge", text: t("current") }) : null,
        ),
        el("span", { class: "row-meta", text: meta.join(" · ") }),
      ),
    );
  });
  add(section, el("ul", { class: "list" }, ...rows));
}

function messageItem(message) {
  const label = message.role === "user" ? t("role_user") : t("role_assistant");
  const body = el("div", { class: "msg-body" });
  body.innerHTML = message.html; // made safe by the bot (Markdown rendered server-side)
  return el(
    "li",
    { class: `msg msg-${message.role === "user" ? "user" : "assistant"}` },
    el(
      "p",
      { class: "msg-head" },
      el("strong", { text: label }),
      el("span", { class: "hint small", text: ` ${moment(message.created_at)}` }),
      message.in_context ? null : el("span", { class: "badge muted", text: t("not_in_context") }),
    ),
    body,
  );
}

export async function conversationView(section, { args, rerender }) {
  const [id] = args;
  const conversation = await getJSON(`/conversations/${id}`);
  const current = el("button", {
    type: "button",
    text: t("make_current"),
    onclick: (event) =>
      act(event.currentTarget, async () => {
        await api(`/conversations/${id}/current`, { method: "POST" });
        flash(t("made_current"));
        await rerender();
      }),
  });
  const remove = el("button", {
    type: "button",
    class: "danger",
    text: t("delete"),
    onclick: (event) =>
      act(event.currentTarget, async () => {
        if (!(await confirmAsk(t("confirm_delete")))) return;
        await api(`/conversations/${id}`, { method: "DELETE" });
        flash(t("deleted"));
        location.hash = "#/conversations";
      }),
  });
  const messages = conversation.messages.map(messageItem);
  add(
    section,
    el("p", {}, el("a", { href: "#/conversations", text: `← ${t("back")}` })),
    el("h1", { text: title(conversation) }),
    conversation.current ? el("p", { class: "hint", text: t("is_current") }) : null,
    conversation.role
      ? el("p", { class: "hint", text: fill("conversation_role", { role: conversation.role }) })
      : null,
    el("div", { class: "actions" }, conversation.current ? null : current, remove),
    conversation.omitted > 0
      ? el("p", { class: "hint", text: fill("omitted", { n: number(conversation.omitted) }) })
      : null,
    messages.length
      ? el("ol", { class: "messages" }, ...messages)
      : el("p", { class: "hint", text: t("no_messages") }),
  );
}

function resultItem(result) {
  const label = result.role === "user" ? t("role_user") : t("role_assistant");
  return el(
    "li",
    {},
    el(
      "a",
      { class: "row", href: `#/conversations/${result.conversation_id}` },
      el("span", { class: "row-meta", text: `${label} · ${moment(result.created_at)}` }),
      el("span", { class: "snippet", text: result.snippet }),
    ),
  );
}

export async function searchView(section, { query }) {
  const words = query.get("q") || "";
  const input = el("input", { type: "search", name: "q", value: words, autocomplete: "off" });
  const form = el(
    "form",
    { class: "inline-form", role: "search" },
    field(t("search_label"), input),
    el("button", { type: "submit", text: t("search_button") }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/search?q=${encodeURIComponent(input.value.trim())}`;
  });
  add(section, el("h1", { text: t("search_heading") }), form);
  if (!words.trim()) return;
  const list = el("ul", { class: "list results" });
  const more = el("button", { type: "button", class: "secondary", text: t("search_more") });
  let page = 1;
  const load = async () => {
    const found = await getJSON(`/search?q=${encodeURIComponent(words)}&page=${page}`);
    list.append(...found.results.map(resultItem));
    more.hidden = !found.more;
    return found.results.length;
  };
  more.addEventListener("click", () =>
    act(more, async () => {
      page += 1;
      await load();
    }),
  );
  let count = 0;
  try {
    count = await load();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 400)) throw error;
    add(section, el("p", { class: "error", role: "alert", text: errorText(error) }));
    return;
  }
  add(section, count ? list : el("p", { class: "hint", text: t("search_empty") }), more);
}
