// API keys: create (the secret is shown once, with a copy button), list, delete, rotate.
import { $, api, copyText, el, fillTable, fmtTime, onSubmit, showError, t, toast } from "./api.js";

function revealSecret(issued) {
  $("#secret-value").textContent = issued.api_key;
  $("#secret-box").hidden = false;
}

function actionButton(label, handler, danger = false) {
  const button = el("button", { class: `btn small${danger ? " danger" : ""}`, type: "button", text: label });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await handler();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

function keyRow(key) {
  const rotate = actionButton(t("keys.rotate"), async () => {
    if (!confirm(t("keys.rotate_confirm", { name: key.name || key.secret_hint }))) return;
    revealSecret(await api("POST", `/api/platform/keys/${encodeURIComponent(key.id)}/rotate`));
    toast(t("keys.rotated"));
    await loadKeys();
  });
  const remove = actionButton(t("common.delete"), async () => {
    if (!confirm(t("keys.delete_confirm", { name: key.name || key.secret_hint }))) return;
    await api("DELETE", `/api/platform/keys/${encodeURIComponent(key.id)}`);
    toast(t("keys.deleted"));
    await loadKeys();
  }, true);
  return el("tr", { dataset: { keyId: key.id } },
    el("td", { text: key.name || t("keys.unnamed") }),
    el("td", {}, el("code", { text: `${key.id}.${key.secret_hint}` })),
    el("td", { text: fmtTime(key.created_at) }),
    el("td", { text: key.last_used_at ? fmtTime(key.last_used_at) : t("keys.never") }),
    el("td", {}, rotate, remove));
}

async function loadKeys() {
  const { data } = await api("GET", "/api/platform/keys");
  fillTable($("#key-table"), data.map(keyRow), t("keys.none"));
}

onSubmit($("#create-key"), async (data, form) => {
  revealSecret(await api("POST", "/api/platform/keys", { name: data.get("name").trim() }));
  form.reset();
  await loadKeys();
});
$("#copy-secret").addEventListener("click", () => copyText($("#secret-value").textContent));
loadKeys().catch(showError);
