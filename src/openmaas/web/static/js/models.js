// Models and pricing: the chat catalog (GET /models through the console API) joined with prices.
import { $, api, el, fillTable, fmtInt, fmtYuan, showError, t } from "./api.js";

const priceCell = (money) => el("td", { class: "num", text: money && money.micro ? fmtYuan(money) : t("models.free") });

// The playground tab that tries each tool kind (the Models page offers "Try" only for these).
const TOOL_TABS = { image: "images", rerank: "rerank", ocr: "ocr", speech: "audio", transcription: "audio", web_search: "search" };

function kindName(kind) {
  const names = { image: t("models.kind_image"), rerank: t("models.kind_rerank"), ocr: t("models.kind_ocr"),
    speech: t("models.kind_speech"), transcription: t("models.kind_transcription"), web_search: t("models.kind_web_search") };
  return names[kind] ?? kind;
}

// A tool's price in its unit: per 1K tokens for token-priced rows, else the per-item column.
function toolPrice(m, byModel) {
  const row = byModel[m.price_item] || byModel[m.root] || {};
  const money = m.unit === "token" ? row.input_per_1k : row.per_image;
  if (!money || !money.micro) return t("models.free");
  const units = { image: "models.per_image", token: "models.per_1k_tokens", page: "models.per_page", second: "models.per_second", call: "models.per_call" };
  return t(units[m.unit] || "models.per_call", { money: fmtYuan(money) });
}

function toolRows(tools, byModel) {
  return tools.map((m) => el("tr", { dataset: { model: m.id, kind: m.kind } },
    el("td", {}, el("code", { text: m.id })), el("td", { text: kindName(m.kind) }),
    el("td", { class: "muted", text: m.root === m.id ? "—" : m.root }),
    el("td", { class: "num", text: toolPrice(m, byModel) }),
    el("td", {}, el("a", { class: "btn small", href: `/console/playground?mode=${TOOL_TABS[m.kind]}&model=${encodeURIComponent(m.id)}`, text: t("models.try") }))));
}

async function load() {
  const [models, prices, catalog] = await Promise.all([
    api("GET", "/console/api/models?include=tools"), api("GET", "/api/platform/billing/prices"), api("GET", "/console/api/catalog")]);
  const byModel = Object.fromEntries(prices.data.map((p) => [p.model, p]));
  const listed = new Set();
  const tools = models.data.filter((m) => m.kind in TOOL_TABS);
  fillTable($("#tool-table"), toolRows(tools, byModel));
  for (const m of tools) listed.add(m.id).add(m.price_item);
  fillTable($("#model-table"), models.data.filter((m) => m.kind === "chat").map((m) => {
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
  for (const m of catalog.embedding) for (const name of [m.name, ...m.aliases]) listed.add(name);
  fillTable($("#other-prices"), prices.data.filter((p) => !listed.has(p.model)).map((p) => el("tr", {},
    el("td", {}, el("code", { text: p.model })), priceCell(p.input_per_1k), priceCell(p.output_per_1k), priceCell(p.per_image))));
  // Embedding models: one row each, priced per 1K input tokens, tried in the embeddings tab.
  fillTable($("#embedding-table"), catalog.embedding.map((m) => {
    const price = [m.name, ...m.aliases].map((name) => byModel[name]).find(Boolean) || {};
    const name = m.aliases[0] || m.name;
    return el("tr", { dataset: { model: m.name } },
      el("td", {}, el("code", { text: [m.name, ...m.aliases].join(" / ") })),
      el("td", { text: m.embedding_id ?? "—" }), el("td", { class: "num", text: m.dimensions }),
      el("td", { text: (m.languages || []).join(", ") }), priceCell(price.input_per_1k),
      el("td", {}, el("a", { class: "btn small", href: `/console/playground?mode=embeddings&model=${encodeURIComponent(name)}`, text: t("models.try") })));
  }));
}

load().catch(showError);
