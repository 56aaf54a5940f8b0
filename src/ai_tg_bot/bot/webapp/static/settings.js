// The user's own settings (language, model, role, voice, memory and its facts) and the
// export of their data.
import { act, add, api, confirmAsk, el, field, fill, flash, getJSON, notify, t } from "./core.js";

function select(name, options, chosen) {
  const control = el("select", { name });
  for (const [value, label] of options) {
    control.append(el("option", { value, text: label, selected: value === chosen }));
  }
  return control;
}

function factItem(fact) {
  const remove = el("button", {
    type: "button",
    class: "danger small",
    text: t("delete"),
    "aria-label": fill("delete_fact", { text: fact.text }),
  });
  const item = el("li", { class: "fact" }, el("span", { text: fact.text }), remove);
  remove.addEventListener("click", () =>
    act(remove, async () => {
      if (!(await confirmAsk(t("confirm_delete_fact")))) return;
      await api(`/memory/${fact.id}`, { method: "DELETE" });
      item.remove();
    }),
  );
  return item;
}

export async function settingsView(section, { signIn, rerender }) {
  const settings = await getJSON("/settings");
  const languages = [["", t("language_auto")], ...settings.languages.map((l) => [l.code, l.name])];
  const controls = {
    language: select("language", languages, settings.language || ""),
    model: select(
      "model",
      settings.models.map((m) => [m, m]),
      settings.model,
    ),
    role: el("textarea", {
      name: "role",
      rows: "3",
      maxlength: settings.role_max_chars ? String(settings.role_max_chars) : null,
      text: settings.role || "",
    }),
    memory: el("input", {
      type: "checkbox",
      id: "memory",
      name: "memory",
      checked: settings.memory,
    }),
  };
  const voices = ["off", "on", "auto"].map((v) => [v, t(`voice_${v}`)]);
  if (settings.voice_available) controls.voice = select("voice", voices, settings.voice);
  const save = el("button", { type: "submit", text: t("save") });
  const form = el(
    "form",
    { class: "settings" },
    field(t("language_label"), controls.language),
    field(t("model_label"), controls.model),
    field(t("role_label"), controls.role, t("role_hint")),
    controls.voice ? field(t("voice_label"), controls.voice) : null,
    el(
      "div",
      { class: "check" },
      controls.memory,
      el("label", { for: "memory", text: t("memory_label") }),
    ),
    save,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(save, async () => {
      const changes = changed(settings, controls);
      if (!Object.keys(changes).length) return notify(t("saved"));
      await api("/settings", { method: "PATCH", body: changes });
      flash(t("saved"));
      if ("language" in changes) await signIn();
      await rerender();
    });
  });
  const facts = settings.facts.map(factItem);
  add(
    section,
    el("h1", { text: t("settings_heading") }),
    form,
    el("h2", { text: t("facts_heading") }),
    facts.length
      ? el("ul", { class: "list facts" }, ...facts)
      : el("p", { class: "hint", text: t("facts_empty") }),
  );
}

// Only what the user changed is sent (each setting goes through its own checks).
function changed(settings, controls) {
  const changes = {};
  const language = controls.language.value || null;
  if (language !== (settings.language || null)) changes.language = language;
  if (controls.model.value !== settings.model) changes.model = controls.model.value;
  const role = controls.role.value.trim() || null;
  if (role !== (settings.role || null)) changes.role = role;
  if (controls.voice && controls.voice.value !== settings.voice)
    changes.voice = controls.voice.value;
  if (controls.memory.checked !== settings.memory) changes.memory = controls.memory.checked;
  return changes;
}

// The file's name from Content-Disposition, else a plain one.
function fileName(response, fallback) {
  const header = response.headers.get("Content-Disposition") || "";
  const found = header.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
  return found ? decodeURIComponent(found[1]) : fallback;
}

async function download(markdown) {
  const response = await api(`/export${markdown ? "?format=markdown" : ""}`);
  const name = fileName(response, markdown ? "export.md" : "export.json");
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  notify(fill("export_done", { name }));
}

export async function exportView(section) {
  const button = (key, markdown) =>
    el("button", {
      type: "button",
      text: t(key),
      onclick: (event) => act(event.currentTarget, () => download(markdown)),
    });
  add(
    section,
    el("h1", { text: t("export_heading") }),
    el("p", { text: t("export_text") }),
    el("div", { class: "actions" }, button("export_json", false), button("export_markdown", true)),
  );
}
