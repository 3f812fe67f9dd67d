// Models and pricing: the chat catalog (GET /models through the console API) joined with prices.
import { $, api, el, fillTable, fmtInt, fmtYuan, showError, t } from "./api.js";

const priceCell = (money) => el("td", { class: "num", text: money && money.micro ? fmtYuan(money) : t("models.free") });

async function load() {
  const [models, prices, catalog] = await Promise.all([
    api("GET", "/console/api/models"), api("GET", "/api/platform/billing/prices"), api("GET", "/console/api/catalog")]);
  const byModel = Object.fromEntries(prices.data.map((p) => [p.model, p]));
  const listed = new Set();
  fillTable($("#model-table"), models.data.map((m) => {
    listed.add(m.id);
    const price = byModel[m.id] || byModel[m.root] || {};
    const tryIt = el("a", { class: "btn small", href: `/console/playground?model=${encodeURIComponent(m.id)}`, text: t("models.try") });
    return el("tr", {},
      el("td", {}, el("code", { text: m.id })),
      el("td", { class: "muted", text: m.root === m.id ? "—" : m.root }),
      el("td", { class: "num", text: fmtInt(m.context_window) }),
      el("td", { text: (m.capabilities || []).join(", ") }),
      priceCell(price.input_per_1k), priceCell(price.output_per_1k), el("td", {}, tryIt));
  }));
  fillTable($("#other-prices"), prices.data.filter((p) => !listed.has(p.model)).map((p) => el("tr", {},
    el("td", {}, el("code", { text: p.model })), priceCell(p.input_per_1k), priceCell(p.output_per_1k), priceCell(p.per_image))));
  fillTable($("#embedding-table"), catalog.embedding.map((m) => el("tr", {},
    el("td", {}, el("code", { text: [m.name, ...m.aliases].join(" / ") })),
    el("td", { text: m.embedding_id ?? "—" }), el("td", { class: "num", text: m.dimensions }),
    el("td", { text: (m.languages || []).join(", ") }))));
}

load().catch(showError);
