// Finance: redeem a code, buy a pack, bills by month / day and model, histories, CSV export.
import { packName, $, api, beijingToday, daysBefore, el, fillTable, fmtDay, fmtInt, fmtMicro, fmtTime, fmtYuan, onSubmit, setupTabs, showError, t, toast } from "./api.js";

async function loadBalance() {
  const balance = await api("GET", "/api/platform/billing/balance");
  $("#stat-available").textContent = fmtYuan(balance.available);
  $("#stat-held").textContent = balance.held.micro ? t("overview.held", { amount: fmtYuan(balance.held) }) : "";
}

function offerCard(offer) {
  const buy = el("button", { class: "btn primary small", type: "button", text: t("finance.buy") });
  buy.addEventListener("click", async () => {
    if (!confirm(t("finance.buy_confirm", { name: packName(offer.name), price: fmtYuan(offer.price) }))) return;
    buy.disabled = true;
    try {
      await api("POST", "/api/platform/billing/packs", { offer_id: offer.id });
      toast(t("finance.bought"));
      await Promise.all([loadBalance(), loadPackHistory()]);
    } catch (error) {
      showError(error);
    } finally {
      buy.disabled = false;
    }
  });
  return el("div", { class: "offer" },
    el("strong", { text: packName(offer.name) }),
    el("span", { class: "price", text: fmtYuan(offer.price) }),
    el("span", { class: "muted", text: t("finance.offer_detail", { tokens: fmtInt(offer.tokens), days: offer.valid_days }) }),
    el("span", { class: "muted", text: offer.model || t("overview.all_models") }),
    buy);
}

async function loadOffers() {
  const { data } = await api("GET", "/api/platform/billing/offers");
  $("#offer-list").replaceChildren(...(data.length ? data.map(offerCard) : [el("p", { class: "muted", text: t("common.none") })]));
}

async function loadMonthly() {
  const month = $("#bill-month").value;
  if (!month) return;
  const bill = await api("GET", `/api/platform/billing/bills/monthly?month=${month}`);
  fillTable($("#monthly-bill"), bill.data.map((l) => el("tr", { dataset: { model: l.model, cost: String(l.cost_micro) } },
    el("td", { text: l.model }), el("td", { class: "num", text: fmtInt(l.requests) }),
    el("td", { class: "num", text: fmtInt(l.prompt_tokens) }), el("td", { class: "num", text: fmtInt(l.completion_tokens) }),
    el("td", { class: "num", text: fmtYuan({ yuan: l.cost_micro / 1e6 }) }))));
  $("#monthly-total").textContent = fmtYuan(bill.total);
  $("#monthly-total").dataset.micro = String(bill.data.reduce((sum, l) => sum + l.cost_micro, 0));
}

// Who paid per model this month: grant tokens, bought-pack tokens and cash (from the ledger).
async function loadCoverage() {
  const month = $("#bill-month").value;
  if (!month) return;
  const { data } = await api("GET", `/console/api/activity/coverage?month=${month}`);
  fillTable($("#coverage-table"), data.map((c) => el("tr", { dataset: { model: c.model, cash: String(c.cash_micro) } },
    el("td", { text: c.model }),
    el("td", { class: "num", text: fmtInt(c.grant_tokens) }), el("td", { class: "num", text: fmtInt(c.pack_tokens) }),
    el("td", { class: "num", text: fmtMicro(c.cash_micro) }), el("td", { class: "num", text: c.refund_micro ? fmtMicro(c.refund_micro) : "" }))));
  $("#coverage-table").dataset.loaded = month;
}

async function loadDaily() {
  const start = $("#daily-start").value;
  const end = $("#daily-end").value;
  if (!start || !end) return;
  const { data } = await api("GET", `/api/platform/billing/bills/daily?start=${start}&end=${end}`);
  fillTable($("#daily-bill"), data.map((l) => el("tr", {},
    el("td", { text: l.period }), el("td", { text: l.model }), el("td", { class: "num", text: fmtInt(l.requests) }),
    el("td", { class: "num", text: fmtInt(l.prompt_tokens + l.completion_tokens) }),
    el("td", { class: "num", text: fmtYuan({ yuan: l.cost_micro / 1e6 }) }))));
}

async function loadRecharges() {
  const { data } = await api("GET", "/api/platform/billing/recharges");
  fillTable($("#recharges"), data.map((r) => el("tr", {},
    el("td", { text: fmtTime(r.created_at) }), el("td", { text: t(`finance.kind_${r.kind}`) }),
    el("td", { class: "num", text: fmtYuan(r.amount) }), el("td", { text: r.kind === "redeem" ? "" : r.note || "" }))));
}

async function loadPackHistory() {
  const { data } = await api("GET", "/api/platform/billing/packs/history");
  fillTable($("#pack-history"), data.map((p) => el("tr", {},
    el("td", { text: packName(p.name) }), el("td", { class: "num", text: fmtInt(p.used_tokens) }),
    el("td", { class: "num", text: fmtInt(p.remaining_tokens) }),
    el("td", {}, fmtDay(p.expires_at), p.expired ? el("span", { class: "badge bad", text: t("overview.expired") }) : null))));
}

function updateExport() {
  const form = $("#export-form");
  const start = form.elements.start.value;
  const end = form.elements.end.value;
  const link = $("#export-link");
  link.href = `/api/platform/billing/export?format=csv&start=${start}&end=${end}`;
  link.setAttribute("download", `usage-${start}-${end}.csv`);
}

onSubmit($("#redeem-form"), async (data, form) => {
  const result = await api("POST", "/api/platform/billing/redeem", { code: data.get("code").trim() });
  form.reset();
  toast(t("finance.redeemed", { amount: fmtYuan(result.credited) }));
  await Promise.all([loadBalance(), loadRecharges()]);
});

const today = beijingToday();
$("#bill-month").value = today.slice(0, 7);
$("#daily-start").value = daysBefore(today, 6);
$("#daily-end").value = today;
const exportForm = $("#export-form");
exportForm.elements.start.value = `${today.slice(0, 7)}-01`;
exportForm.elements.end.value = today;
exportForm.addEventListener("input", updateExport);
exportForm.addEventListener("submit", (event) => event.preventDefault());
updateExport();
$("#bill-month").addEventListener("change", () => { loadMonthly().catch(showError); loadCoverage().catch(showError); });
for (const id of ["#daily-start", "#daily-end"]) $(id).addEventListener("change", () => loadDaily().catch(showError));
setupTabs(document, (tab) => { if (tab === "daily") loadDaily().catch(showError); });

for (const load of [loadBalance, loadOffers, loadMonthly, loadCoverage, loadRecharges, loadPackHistory]) load().catch(showError);
