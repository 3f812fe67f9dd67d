// Request log: the usage rows (every API call) with filters by date range, model, key and
// status, and paging. The date range is bounded by the server (366 days). A row opens its
// detail: tokens, cost, latency, the retrieval trace, and the bodies when the account keeps
// them, with "open in playground" (the messages travel in sessionStorage, never in the URL).
import { $, api, beijingToday, daysBefore, el, fillTable, fmtInt, fmtMicro, fmtTime, onSubmit, showError, t } from "./api.js";

export const REPLAY_KEY = "openmaas.replay";

const SIZE = 50;
let page = 1;
let filter = new URLSearchParams();

function tokens(r) {
  const extra = [];
  if (r.cached_tokens) extra.push(t("logs.cached", { n: fmtInt(r.cached_tokens) }));
  if (r.reasoning_tokens) extra.push(t("logs.reasoning", { n: fmtInt(r.reasoning_tokens) }));
  return el("td", { class: "num" }, `${fmtInt(r.prompt_tokens)} / ${fmtInt(r.completion_tokens)}`,
    extra.length ? el("div", { class: "muted small", text: extra.join(" · ") }) : null);
}

function row(r) {
  const status = el("span", { class: `badge ${r.status === "success" ? "ok" : "bad"}`, text: t(`logs.status_${r.status}`) });
  return el("tr", { class: "clickable", tabindex: "0", dataset: { status: r.status, model: r.model, usageId: r.id },
    on: { click: () => showDetail(r.id).catch(showError), keydown: (e) => { if (e.key === "Enter") showDetail(r.id).catch(showError); } } },
    el("td", { text: fmtTime(r.created_at) }),
    el("td", { text: r.api_key_id ? (r.api_key_name || r.api_key_id) : t("logs.session") }),
    el("td", { text: r.model }), el("td", { class: "mono small", text: r.endpoint }), tokens(r),
    el("td", { class: "num", text: fmtMicro(r.cost_micro) }),
    el("td", { class: "num", text: t("logs.ms", { n: fmtInt(r.latency_ms) }) }),
    el("td", {}, status, r.error_code ? el("small", { class: "muted", text: ` ${r.error_code}` }) : null),
    el("td", { class: "mono small" }, el("a", { href: "#", text: r.request_id,
      on: { click: (event) => { event.preventDefault(); event.stopPropagation(); showDetail(r.id).catch(showError); } } })));
}

// The MCP tool calls the platform made for the request, in the detail panel.
function mcpCalls(calls) {
  if (!calls.length) return [el("p", { class: "muted", text: t("logs.no_mcp_calls") })];
  return [el("ol", {}, calls.map((c) => el("li", {},
    el("span", { class: "mono small", text: `${c.server_label} · ${c.name}(${c.arguments})` }),
    el("span", { class: "muted small", text: ` ${t("logs.ms", { n: fmtInt(c.duration_ms) })} → ` }),
    el("span", { class: c.error ? "bad small" : "small", text: c.error || c.output || "" }))))];
}

function fact(label, value) {
  return [el("dt", { text: label }), el("dd", {}, value)];
}

function traceBlock(trace) {
  const chips = [trace.query ? `${t("logs.query")}: ${trace.query}` : null, trace.method ? `${t("logs.method")}: ${trace.method}` : null,
    trace.knowledge_ids ? `${t("logs.knowledge")}: ${[].concat(trace.knowledge_ids).join(", ")}` : null]
    .filter(Boolean).map((text) => el("span", { class: "badge", text }));
  const hits = trace.final || trace.fused || [];
  const passages = hits.filter((h) => h.text !== undefined).map((h) => el("li", {},
    el("strong", { text: h.document_name || h.document_id || "" }), el("span", { class: "muted small", text: ` · ${Number(h.score).toFixed(3)}` }),
    el("div", { class: "text", text: h.text })));
  return el("div", { class: "trace", dataset: { testid: "trace" } },
    el("div", { class: "trace-summary" }, ...chips, el("span", { class: "badge", text: t("logs.hits", { n: fmtInt(hits.length) }) })),
    passages.length ? el("ol", { class: "passages" }, ...passages) : null,
    el("details", {}, el("summary", { text: t("logs.raw_trace") }), el("pre", { class: "scroll", text: JSON.stringify(trace, null, 2) })));
}

let replay = null;

async function showDetail(id) {
  const d = await api("GET", `/console/api/activity/requests/${encodeURIComponent(id)}`);
  const u = d.usage;
  const status = el("span", { class: `badge ${u.status === "success" ? "ok" : "bad"}`, text: t(`logs.status_${u.status}`) });
  $("#log-facts").replaceChildren(
    ...fact(t("logs.request_id"), el("code", { text: u.request_id })),
    ...fact(t("common.time"), fmtTime(u.created_at)),
    ...fact(t("logs.key"), u.api_key_id ? (u.api_key_name || u.api_key_id) : t("logs.session")),
    ...fact(t("common.model"), `${u.model} · ${u.endpoint}`),
    ...fact(t("logs.prompt_tokens"), fmtInt(u.prompt_tokens)),
    ...fact(t("logs.completion_tokens"), fmtInt(u.completion_tokens)),
    ...fact(t("logs.cached_tokens"), fmtInt(u.cached_tokens || 0)),
    ...fact(t("logs.reasoning_tokens"), fmtInt(u.reasoning_tokens || 0)),
    ...fact(t("logs.cost"), fmtMicro(u.cost_micro)),
    ...fact(t("logs.latency"), t("logs.ms", { n: fmtInt(u.latency_ms) })),
    ...fact(t("logs.status"), el("span", {}, status, u.error_code ? el("small", { class: "muted", text: ` ${t("error.code", { code: u.error_code })}` }) : null)));
  $("#log-retrieval").replaceChildren(...(d.retrieval.length ? d.retrieval.map(traceBlock)
    : [el("p", { class: "muted", text: t("logs.no_retrieval") })]));
  $("#log-mcp").replaceChildren(...mcpCalls(d.mcp_calls));
  const kept = d.request_body !== null;
  $("#log-bodies").hidden = !kept;
  $("#log-bodies-note").replaceChildren(kept ? t("logs.bodies_until", { time: fmtTime(d.body_expires_at) })
    : el("span", {}, t("logs.no_bodies"), " ", el("a", { href: "/console/account#bodies", text: t("logs.bodies_settings") })));
  $("#log-request-body").textContent = kept ? JSON.stringify(d.request_body, null, 2) : "";
  $("#log-response-body").textContent = kept ? JSON.stringify(d.response_body, null, 2) : "";
  const messages = kept && Array.isArray(d.request_body.messages) ? d.request_body.messages : null;
  replay = messages ? { model: d.request_body.model || u.model, messages } : null;
  $("#log-replay").disabled = !replay;
  $("#log-replay").title = replay ? "" : t("logs.replay_needs_bodies");
  $("#log-detail").hidden = false;
  $("#log-detail").scrollIntoView({ block: "start" });
}

$("#log-close").addEventListener("click", () => { $("#log-detail").hidden = true; });
$("#log-replay").addEventListener("click", () => {
  if (!replay) return;
  sessionStorage.setItem(REPLAY_KEY, JSON.stringify(replay));
  location.assign(`/console/playground?replay=1&model=${encodeURIComponent(replay.model)}`);
});

async function loadKeys() {
  const { data } = await api("GET", "/api/platform/keys");
  $("#log-filter").elements.key.append(...data.map((k) => el("option", { value: k.id, text: k.name || k.id })));
}

function fillModels(models) {
  const select = $("#log-filter").elements.model;
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: t("logs.all_models") }),
    ...models.map((m) => el("option", { value: m, text: m })));
  select.value = chosen;
}

async function load() {
  const query = new URLSearchParams(filter);
  query.set("page", page);
  query.set("size", SIZE);
  const result = await api("GET", `/console/api/activity/requests?${query}`);
  fillTable($("#log-table"), result.data.map(row));
  fillModels(result.models);
  const pages = Math.max(1, Math.ceil(result.total / SIZE));
  $("#log-page").textContent = t("tx.page_of", { page, pages, total: fmtInt(result.total) });
  $("#log-prev").disabled = page <= 1;
  $("#log-next").disabled = page >= pages;
}

function readFilter(data) {
  filter = new URLSearchParams();
  for (const [key, value] of data) if (value) filter.set(key, value);
}

const form = $("#log-filter");
const today = beijingToday();
const params = new URLSearchParams(location.search);
form.elements.start.value = params.get("start") || daysBefore(today, 6);
form.elements.end.value = params.get("end") || today;
onSubmit(form, async (data) => { readFilter(data); page = 1; await load(); });
$("#log-prev").addEventListener("click", () => { page -= 1; load().catch(showError); });
$("#log-next").addEventListener("click", () => { page += 1; load().catch(showError); });
loadKeys().then(() => {
  if (params.get("key")) form.elements.key.value = params.get("key");
  readFilter(new FormData(form));
  return load();
}).then(() => (params.get("id") ? showDetail(params.get("id")) : null)).catch(showError);
