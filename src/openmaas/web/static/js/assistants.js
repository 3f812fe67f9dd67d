// Assistants: the account's assistants and, for the one picked, its conversations with usage.
import { $, api, el, fillTable, fmtInt, fmtTime, showError, t } from "./api.js";

async function showConversations(assistant) {
  const path = `/console/api/assistants/${encodeURIComponent(assistant.id)}/conversations?size=100`;
  const { data } = await api("GET", path);
  $("#conversations-title").textContent = t("assistants.conversations_of", { name: assistant.name });
  fillTable($("#conversation-table"), data.conversation_list.map((c) => el("tr", {},
    el("td", { class: "mono small", text: c.id }), el("td", { text: fmtTime(c.create_time) }),
    el("td", { text: fmtTime(c.update_time) }), el("td", { class: "num", text: fmtInt(c.usage.total_tokens) }))),
  t("assistants.no_conversations"));
  $("#conversations").hidden = false;
}

function assistantRow(assistant) {
  const open = el("button", { type: "button", class: "btn small", text: t("assistants.conversations") });
  open.addEventListener("click", () => showConversations(assistant).catch(showError));
  return el("tr", { dataset: { assistantId: assistant.id } },
    el("td", {}, assistant.name, el("div", { class: "mono small muted", text: assistant.id })),
    el("td", { text: assistant.model }), el("td", { text: assistant.description || "" }),
    el("td", { text: fmtTime(assistant.created_at) }), el("td", {}, open));
}

async function load() {
  const { data } = await api("GET", "/console/api/assistants");
  fillTable($("#assistant-table"), data.map(assistantRow), t("assistants.none"));
}

load().catch(showError);
