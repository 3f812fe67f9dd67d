// Overview: balance, this month's spend, packs, usage charts (Chart.js), the balance alert.
import { notificationText, packName, $, api, beijingToday, daysBefore, el, fillTable, fmtDay, fmtInt, fmtTime, fmtYuan, onSubmit, showError, t, toast } from "./api.js";

const PALETTE = ["#3b5bfd", "#22c55e", "#f59e0b", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#64748b"];
const charts = {};

function packRow(pack) {
  const share = pack.total_tokens ? Math.round((100 * pack.remaining_tokens) / pack.total_tokens) : 0;
  const bar = el("div", { class: "bar" }, el("span", { style: { width: `${share}%` } }));
  return el("tr", {},
    el("td", { text: packName(pack.name) }),
    el("td", { text: pack.model || t("overview.all_models") }),
    el("td", {}, `${fmtInt(pack.remaining_tokens)} / ${fmtInt(pack.total_tokens)}`, bar),
    el("td", {}, fmtDay(pack.expires_at), pack.expired ? el("span", { class: "badge bad", text: t("overview.expired") }) : null));
}

async function loadBalance() {
  const balance = await api("GET", "/api/platform/billing/balance");
  $("#stat-available").textContent = fmtYuan(balance.available);
  $("#stat-held").textContent = balance.held.micro ? t("overview.held", { amount: fmtYuan(balance.held) }) : "";
  const live = balance.packs.filter((p) => !p.expired);
  $("#stat-packs").textContent = fmtInt(live.reduce((sum, p) => sum + p.remaining_tokens, 0));
  $("#stat-pack-count").textContent = t("overview.pack_count", { count: live.length });
  fillTable($("#packs"), balance.packs.map(packRow), t("overview.no_packs"));
  const form = $("#alert-form");
  form.elements.threshold_yuan.value = balance.alert.threshold ? balance.alert.threshold.yuan : "";
  form.elements.pack_tokens.value = balance.alert.pack_tokens ?? "";
}

function drawChart(id, config) {
  if (!window.Chart) return;
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart($(`#${id}`), config);
}

function dailyChart(lines, start, end) {
  const days = [];
  for (let day = start; day <= end; day = daysBefore(day, -1)) days.push(day);
  const models = [...new Set(lines.map((l) => l.model))];
  const datasets = models.map((model, i) => {
    const tokens = Object.fromEntries(lines.filter((l) => l.model === model)
      .map((l) => [l.period, l.prompt_tokens + l.completion_tokens]));
    return { label: model, data: days.map((d) => tokens[d] || 0), backgroundColor: PALETTE[i % PALETTE.length], stack: "tokens" };
  });
  drawChart("chart-daily", {
    type: "bar",
    data: { labels: days.map((d) => d.slice(5)), datasets },
    options: { maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: t("overview.tokens") } } } },
  });
}

function modelChart(lines) {
  $("#chart-models-empty").hidden = lines.length > 0;
  drawChart("chart-models", {
    type: "doughnut",
    data: {
      labels: lines.map((l) => l.model),
      datasets: [{ data: lines.map((l) => l.prompt_tokens + l.completion_tokens), backgroundColor: lines.map((_, i) => PALETTE[i % PALETTE.length]) }],
    },
    options: { maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
  });
}

async function loadUsage() {
  const today = beijingToday();
  const month = today.slice(0, 7);
  const start = daysBefore(today, 29);
  const [monthly, daily] = await Promise.all([
    api("GET", `/api/platform/billing/bills/monthly?month=${month}`),
    api("GET", `/api/platform/billing/bills/daily?start=${start}&end=${today}`),
  ]);
  $("#stat-month").textContent = fmtYuan(monthly.total);
  $("#stat-month-name").textContent = month;
  const tokens = monthly.data.reduce((sum, l) => sum + l.prompt_tokens + l.completion_tokens, 0);
  $("#stat-tokens").textContent = fmtInt(tokens);
  $("#stat-requests").textContent = t("overview.requests", { count: fmtInt(monthly.data.reduce((s, l) => s + l.requests, 0)) });
  dailyChart(daily.data, start, today);
  modelChart(monthly.data);
}

async function loadNotifications() {
  const { data } = await api("GET", "/api/platform/billing/notifications");
  const items = data.slice(0, 8).map((n) => el("li", {}, el("span", { class: "muted", text: `${fmtTime(n.created_at)} · ` }), notificationText(n)));
  $("#notifications").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("common.none") })]));
}

async function loadVerification() {
  const account = await api("GET", "/api/platform/account");
  const status = account.verification.status;
  if (status === "approved") return;
  $("#verify-text").textContent = t(`overview.verify_${status}`);
  $("#verify-banner").hidden = false;
}

onSubmit($("#alert-form"), async (data) => {
  const threshold = data.get("threshold_yuan").trim();
  const packTokens = data.get("pack_tokens").trim();
  await api("PUT", "/api/platform/billing/alerts", {
    threshold_yuan: threshold || null, pack_tokens: packTokens ? Number(packTokens) : null,
  });
  toast(t("common.saved"));
});

for (const load of [loadBalance, loadUsage, loadNotifications, loadVerification]) load().catch(showError);
