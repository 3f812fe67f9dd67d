// Administration: users (tier, credit), real-name review, prices, redemption codes, the model
// catalog (read-only: it is configured in settings) and the audit log.
import { $, api, copyText, el, fillTable, fmtTime, fmtYuan, onSubmit, setupTabs, showError, t, toast } from "./api.js";

const TIERS = ["V0", "V1", "V2", "V3"];
const loaded = new Set();

function button(label, handler, cls = "btn small") {
  const node = el("button", { type: "button", class: cls, text: label });
  node.addEventListener("click", async () => {
    node.disabled = true;
    try {
      await handler();
    } catch (error) {
      showError(error);
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

// --- users ---------------------------------------------------------------------------------
function userRow(user) {
  const tier = el("select", { "aria-label": t("admin.tier") }, ...TIERS.map((v) => el("option", { value: v, text: v, selected: v === user.tier })));
  tier.addEventListener("change", async () => {
    try {
      await api("PUT", `/api/platform/admin/users/${encodeURIComponent(user.id)}/tier`, { tier: tier.value });
      toast(t("common.saved"));
    } catch (error) {
      showError(error);
    }
  });
  const credit = button(t("admin.credit"), async () => {
    const amount = prompt(t("admin.credit_amount", { name: user.name }));
    if (!amount) return;
    const reason = prompt(t("admin.credit_reason"));
    if (!reason) return;
    const result = await api("POST", `/api/platform/admin/billing/accounts/${encodeURIComponent(user.id)}/credit`, { amount_yuan: amount.trim(), reason });
    toast(t("admin.credited", { amount: fmtYuan(result.credited) }));
  });
  return el("tr", {},
    el("td", {}, user.name, user.is_admin ? el("span", { class: "badge", text: ` ${t("common.admin")}` }) : null),
    el("td", { text: user.email || user.phone || "—" }), el("td", {}, tier),
    el("td", { text: t(`verify.${user.verification.status}`) }), el("td", { text: fmtTime(user.created_at) }),
    el("td", {}, credit));
}

async function loadUsers(query = "") {
  const { data } = await api("GET", `/api/platform/admin/users?limit=200${query ? `&q=${encodeURIComponent(query)}` : ""}`);
  fillTable($("#user-table"), data.map(userRow));
}

// --- verifications ---------------------------------------------------------------------------
function verificationRow(app) {
  const actions = [];
  if (app.has_licence) {
    actions.push(el("a", { class: "btn small", href: `/api/platform/admin/verifications/${encodeURIComponent(app.id)}/licence`, target: "_blank", rel: "noopener", text: t("admin.licence") }));
  }
  if (app.status === "pending") {
    actions.push(button(t("admin.approve"), async () => {
      await api("POST", `/api/platform/admin/verifications/${encodeURIComponent(app.id)}/approve`);
      toast(t("admin.approved"));
      await loadVerifications();
    }, "btn small primary"));
    actions.push(button(t("admin.reject"), async () => {
      const reason = prompt(t("admin.reject_reason"));
      if (!reason) return;
      await api("POST", `/api/platform/admin/verifications/${encodeURIComponent(app.id)}/reject`, { reason });
      toast(t("admin.rejected"));
      await loadVerifications();
    }, "btn small danger"));
  }
  return el("tr", { dataset: { applicationId: app.id } },
    el("td", { text: t(`verify.${app.kind}`) }), el("td", { text: app.subject_name }),
    el("td", {}, el("code", { text: app.identifier_masked })), el("td", {}, el("code", { text: app.account_id })),
    el("td", { text: fmtTime(app.created_at) }),
    el("td", { text: t(`verify.${app.status}`) + (app.reject_reason ? ` · ${app.reject_reason}` : "") }),
    el("td", {}, ...actions));
}

async function loadVerifications() {
  const status = $("#verification-filter").value;
  const { data } = await api("GET", `/api/platform/admin/verifications?limit=200${status ? `&status=${status}` : ""}`);
  fillTable($("#verification-table"), data.map(verificationRow));
}

// --- pricing -------------------------------------------------------------------------------
async function loadPrices() {
  const [history, models] = await Promise.all([api("GET", "/api/platform/admin/billing/prices"), api("GET", "/console/api/models")]);
  fillTable($("#price-history"), history.data.map((p) => el("tr", {},
    el("td", {}, el("code", { text: p.model })), el("td", { class: "num", text: fmtYuan(p.input_per_1k) }),
    el("td", { class: "num", text: fmtYuan(p.output_per_1k) }), el("td", { class: "num", text: fmtYuan(p.per_image) }),
    el("td", { text: fmtTime(p.effective_from) }), el("td", {}, el("code", { text: p.changed_by || "—" })))));
  const names = new Set([...models.data.map((m) => m.id), ...history.data.map((p) => p.model)]);
  $("#price-models").replaceChildren(...[...names].map((name) => el("option", { value: name })));
}

// --- catalog and audit -----------------------------------------------------------------------
async function loadCatalog() {
  const catalog = await api("GET", "/console/api/catalog");
  const chat = catalog.chat.map((m) => el("tr", {},
    el("td", {}, el("code", { text: m.name }), el("div", { class: "muted", text: m.description })), el("td", { text: m.engine }),
    el("td", { text: m.aliases.join(", ") }), el("td", { class: "num", text: m.context_window }), el("td", { text: m.capabilities.join(", ") })));
  const embedding = catalog.embedding.map((m) => el("tr", {},
    el("td", {}, el("code", { text: m.name }), el("div", { class: "muted", text: m.description })), el("td", { text: m.engine }),
    el("td", { text: m.aliases.join(", ") }), el("td", { class: "num", text: `${m.dimensions}d` }),
    el("td", { text: `embedding · embedding_id ${m.embedding_id ?? "—"}` })));
  fillTable($("#catalog-table"), [...chat, ...embedding]);
}

async function loadAudit() {
  const { data } = await api("GET", "/api/platform/admin/audit?limit=200");
  fillTable($("#audit-table"), data.map((e) => el("tr", {},
    el("td", { text: fmtTime(e.created_at) }), el("td", {}, el("code", { text: e.action })),
    el("td", {}, el("code", { text: e.actor_id || "—" })), el("td", {}, el("code", { text: e.account_id || "—" })),
    el("td", {}, el("code", { text: JSON.stringify(e.details) })))));
}

const LOADERS = { users: () => loadUsers(), verifications: loadVerifications, pricing: loadPrices, catalog: loadCatalog, audit: loadAudit };

function show(tab) {
  if (LOADERS[tab] && (!loaded.has(tab) || tab === "audit")) {
    loaded.add(tab);
    LOADERS[tab]().catch(showError);
  }
}

onSubmit($("#user-search"), (data) => loadUsers(data.get("q").trim()));
$("#verification-filter").addEventListener("change", () => loadVerifications().catch(showError));
onSubmit($("#price-form"), async (data) => {
  const model = data.get("model").trim();
  await api("PUT", `/api/platform/admin/billing/prices/${encodeURIComponent(model)}`, {
    input_per_1k: data.get("input_per_1k").trim(), output_per_1k: data.get("output_per_1k").trim() || null,
    per_image: data.get("per_image").trim() || "0",
  });
  toast(t("common.saved"));
  await loadPrices();
});
onSubmit($("#code-form"), async (data) => {
  const result = await api("POST", "/api/platform/admin/billing/redemption-codes", {
    amount_yuan: data.get("amount_yuan").trim(), count: Number(data.get("count")) || 1,
  });
  $("#codes").textContent = result.codes.join("\n");
  $("#code-result").hidden = false;
  toast(t("admin.codes_created", { count: result.codes.length, amount: fmtYuan(result.amount) }));
});
$("#copy-codes").addEventListener("click", () => copyText($("#codes").textContent));
setupTabs(document, show);
const initial = location.hash.slice(1);
if (LOADERS[initial] || initial === "codes") document.querySelector(`[data-tab="${initial}"]`)?.click();
else show("users");
