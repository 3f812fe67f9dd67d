// API keys: create (the secret is shown once, with a copy button), list, delete, rotate; each
// key's optional monthly budget, RPM/TPM and expiry (set at creation, edited in place), and the
// revoked keys kept as a history.
import { $, api, beijingToday, copyText, el, fillTable, fmtInt, fmtMicro, fmtTime, onSubmit, showError, t, toast } from "./api.js";

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

// Form fields → the API's limits (an empty field: no limit). The expiry date is the last day
// the key works, Beijing time.
function limitsFrom(data) {
  const number = (name) => (data.get(name) === "" || data.get(name) === null ? null : Number(data.get(name)));
  const day = data.get("expires_on");
  return {
    monthly_budget: data.get("monthly_budget") === "" || data.get("monthly_budget") === null ? null : String(data.get("monthly_budget")),
    rpm_limit: number("rpm_limit"), tpm_limit: number("tpm_limit"),
    expires_at: day ? `${day}T23:59:59+08:00` : null,
  };
}

const expired = (key) => key.expires_at && new Date(key.expires_at) <= new Date();

function limitsText(key) {
  const parts = [];
  if (key.monthly_budget_micro !== null) parts.push(t("keys.budget_short", { money: fmtMicro(key.monthly_budget_micro) }));
  if (key.rpm_limit !== null) parts.push(t("keys.rpm_short", { n: fmtInt(key.rpm_limit) }));
  if (key.tpm_limit !== null) parts.push(t("keys.tpm_short", { n: fmtInt(key.tpm_limit) }));
  if (key.expires_at) parts.push(t(expired(key) ? "keys.expired_on" : "keys.until", { day: beijingDay(key.expires_at) }));
  return parts.length ? parts.join(" · ") : t("keys.no_limits");
}

function beijingDay(value) {
  return new Date(new Date(value).getTime() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}

function editLimits(key) {
  const form = $("#limits-form");
  form.elements.key_id.value = key.id;
  form.elements.monthly_budget.value = key.monthly_budget_micro === null ? "" : String(key.monthly_budget_micro / 1e6);
  form.elements.rpm_limit.value = key.rpm_limit ?? "";
  form.elements.tpm_limit.value = key.tpm_limit ?? "";
  form.elements.expires_on.value = key.expires_at ? beijingDay(key.expires_at) : "";
  $("#limits-title").textContent = t("keys.edit_limits_of", { name: key.name || key.secret_hint });
  $("#limits-card").hidden = false;
  $("#limits-card").scrollIntoView({ block: "start" });
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
  const limits = actionButton(t("keys.limits_button"), async () => editLimits(key));
  return el("tr", { dataset: { keyId: key.id } },
    el("td", {}, key.name || t("keys.unnamed"), expired(key) ? el("span", { class: "badge bad", text: ` ${t("keys.expired")}` }) : null),
    el("td", {}, el("code", { text: `${key.id}.${key.secret_hint}` })),
    el("td", { text: fmtTime(key.created_at) }),
    el("td", { text: key.last_used_at ? fmtTime(key.last_used_at) : t("keys.never") }),
    el("td", { class: "limits-cell", text: limitsText(key) }),
    el("td", {}, limits, rotate, remove));
}

function revokedRow(key) {
  return el("tr", { dataset: { keyId: key.id } },
    el("td", { text: key.name || t("keys.unnamed") }),
    el("td", {}, el("code", { text: `${key.id}.${key.secret_hint}` })),
    el("td", { text: fmtTime(key.created_at) }),
    el("td", { text: key.last_used_at ? fmtTime(key.last_used_at) : t("keys.never") }),
    el("td", { text: fmtTime(key.revoked_at) }));
}

async function loadKeys() {
  const { data } = await api("GET", "/api/platform/keys?include_revoked=true");
  const live = data.filter((k) => !k.revoked_at);
  fillTable($("#key-table"), live.map(keyRow), t("keys.none"));
  fillTable($("#revoked-table"), data.filter((k) => k.revoked_at).reverse().map(revokedRow), t("keys.no_history"));
  await loadKeyUsage(data);
}

// This month's requests, tokens and cash per key (the console session counts as one "key").
async function loadKeyUsage(keys) {
  const today = beijingToday();
  const names = new Map(keys.map((k) => [k.id, k.name || `${k.id}.${k.secret_hint}`]));
  const { data } = await api("GET", `/console/api/activity/keys?start=${today.slice(0, 7)}-01&end=${today}`);
  const label = (id) => (id === null ? t("keys.session") : names.get(id) || t("keys.deleted_key", { id }));
  fillTable($("#key-usage-table"), data.map((u) => el("tr", { dataset: { keyId: u.api_key_id || "session" } },
    el("td", {}, el("a", { href: `/console/requests?key=${encodeURIComponent(u.api_key_id || "session")}`, text: label(u.api_key_id) })),
    el("td", { class: "num", text: fmtInt(u.requests) }), el("td", { class: "num", text: fmtInt(u.tokens) }),
    el("td", { class: "num", text: fmtMicro(u.cost_micro) }), el("td", { class: "num", text: fmtInt(u.errors) }))));
}

onSubmit($("#create-key"), async (data, form) => {
  revealSecret(await api("POST", "/api/platform/keys", { name: data.get("name").trim(), ...limitsFrom(data) }));
  form.reset();
  await loadKeys();
});
onSubmit($("#limits-form"), async (data) => {
  await api("PUT", `/api/platform/keys/${encodeURIComponent(data.get("key_id"))}/limits`, limitsFrom(data));
  $("#limits-card").hidden = true;
  toast(t("common.saved"));
  await loadKeys();
});
$("#limits-cancel").addEventListener("click", () => { $("#limits-card").hidden = true; });
$("#copy-secret").addEventListener("click", () => copyText($("#secret-value").textContent));
loadKeys().catch(showError);
