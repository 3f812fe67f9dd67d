// Playground rerank tab: a query and documents (one per line) → the documents ranked by
// relevance, with their scores and places in the input.
import { $, api, el, fillTable, t } from "./api.js";
import { lines, prepare, runTool } from "./playground-kit.js";

function row(result, rank) {
  const share = `${Math.round(Math.max(0, Math.min(1, result.relevance_score)) * 100)}%`;
  return el("tr", {},
    el("td", { class: "num", text: String(rank + 1) }),
    el("td", { class: "num" }, result.relevance_score.toFixed(4), el("div", { class: "bar" }, el("span", { style: { width: share } }))),
    el("td", { class: "num", text: String(result.index + 1) }),
    el("td", { text: result.document ?? "" }));
}

export function mount(panel, models, wanted) {
  const form = $("#rerank-form", panel);
  prepare(panel, form, "rerank", models, wanted, "#rerank-unavailable");
  runTool(form, $("#rerank-state", panel), async (data) => {
    const body = { model: data.get("model"), query: data.get("query"), documents: lines(data.get("documents")), return_documents: true };
    const result = await api("POST", "/console/api/rerank", body);
    fillTable($("#rerank-result", panel), result.results.map(row));
    return t("playground.rerank_done", { count: result.results.length, tokens: result.usage.total_tokens });
  });
}
