// Knowledge bases: create, upload documents (with upload progress), per-document indexing
// status and errors (polled while any is pending, not while the tab is hidden), and a retrieval test that shows the trace.
import { errorSmallPrint, humanError, $, api, el, fillTable, fmtInt, fmtTime, livePoll, onSubmit, showError, t, toast, upload } from "./api.js";

const STAT = { 0: ["knowledge.pending", "badge warn"], 1: ["knowledge.indexed", "badge ok"], 2: ["knowledge.failed", "badge bad"] };
let current = null;
let sawPending = false;

// Lists the bases and shows one: `selectId`, else the one shown, else the first; then its
// documents, unless `withDocuments` is false (a refresh of the counts only).
async function loadBases(selectId, withDocuments = true) {
  const { list } = await api("GET", "/console/api/knowledge?size=100");
  const wanted = selectId ?? current?.id;
  current = list.find((b) => b.id === wanted) || list[0] || null;
  const items = list.map((base) => {
    const button = el("button", { type: "button", "aria-current": String(base.id === current?.id) },
      el("span", { text: base.name }), el("span", { class: "muted", text: t("knowledge.doc_count", { count: base.document_size }) }));
    button.addEventListener("click", () => loadBases(base.id).catch(showError));
    return el("li", {}, button);
  });
  $("#kb-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("knowledge.no_bases") })]));
  $("#kb-detail").hidden = !current;
  $("#kb-empty").hidden = Boolean(current);
  if (!current) return;
  if ($("#kb-name").dataset.id !== current.id) {
    $("#passages").replaceChildren();
    $("#trace-box").hidden = true;
    $("#uploads").replaceChildren();
  }
  $("#kb-name").textContent = current.name;
  $("#kb-name").dataset.id = current.id;
  $("#kb-meta").textContent = [current.description, current.embedding_model, t("knowledge.words_count", { count: fmtInt(current.word_num) })]
    .filter(Boolean).join(" · ");
  if (withDocuments) await watchDocuments();
}

function statusBadge(doc) {
  const [key, cls] = STAT[doc.embedding_stat] || STAT[0];
  const label = doc.embedding_stat === 0 && doc.status ? `${t(key)} · ${doc.status}` : t(key);
  return el("span", { class: cls, "data-testid": "doc-status", text: label });
}

function documentRow(doc) {
  const remove = el("button", { class: "btn small danger", type: "button", text: t("common.delete") });
  remove.addEventListener("click", async () => {
    if (!confirm(t("knowledge.delete_doc_confirm", { name: doc.name }))) return;
    try {
      await api("DELETE", `/console/api/document/${encodeURIComponent(doc.id)}`);
      await watchDocuments();
    } catch (error) {
      showError(error);
    }
  });
  const failure = doc.failInfo ? `${doc.failInfo.embedding_msg} (${doc.failInfo.embedding_code})` : "";
  return el("tr", { dataset: { documentId: doc.id } },
    el("td", {}, doc.name, el("div", { class: "muted", text: fmtTime(doc.created_at) })), el("td", {}, statusBadge(doc)),
    el("td", { class: "num", text: fmtInt(doc.chunk_count) }), el("td", { class: "num", text: fmtInt(doc.word_num) }),
    el("td", { class: "error", text: failure }), el("td", {}, remove));
}

// The shown base's documents; resolves true while any is still indexing (polled: livePoll).
async function loadDocuments() {
  if (!current) return false;
  const page = await api("GET", `/console/api/files?knowledge_id=${encodeURIComponent(current.id)}&limit=100`);
  fillTable($("#doc-table"), page.list.map(documentRow), t("knowledge.no_documents"));
  const pending = page.list.some((d) => d.embedding_stat === 0);
  // Indexing finished — during a poll, or before the first look (a small file indexes in
  // less time than the upload takes to return): refresh the word and document counts.
  if (!pending && (sawPending || wordsShown() !== wordsListed(page.list))) await loadBases(undefined, false);
  sawPending = pending;
  return pending;
}
const watchDocuments = livePoll(loadDocuments, 1000);

function wordsShown() {
  return current?.word_num ?? 0;
}

function wordsListed(docs) { // the base's count is the sum over its documents
  return docs.reduce((sum, d) => sum + (d.word_num || 0), 0);
}

async function uploadOne(file) {
  const bar = el("progress", { max: 100, value: 0 });
  const label = el("span", { text: file.name });
  $("#uploads").append(el("div", { class: "upload", "data-testid": "upload-progress" }, label, bar));
  const form = new FormData();
  form.append("purpose", "retrieval");
  form.append("knowledge_id", current.id);
  form.append("file", file);
  try {
    const body = await upload("/console/api/files", form, (percent) => { bar.value = percent; });
    const failed = body.failedInfos || [];
    label.textContent = failed.length ? `${file.name}: ${failed[0].failReason}` : t("knowledge.uploaded", { name: file.name });
    if (failed.length) label.className = "error";
  } catch (error) {
    label.textContent = `${file.name}: ${humanError(error)} (${errorSmallPrint(error)})`;
    label.className = "error";
  }
}

function traceChips(trace) {
  const chips = [];
  const add = (text) => chips.push(el("span", { class: "badge", text }));
  add(`${t("knowledge.method")}: ${trace.method}`);
  if (trace.relevance_threshold !== undefined) add(t("knowledge.threshold", { value: trace.relevance_threshold }));
  if (trace.terms?.length) add(`${t("knowledge.terms")}: ${trace.terms.join(" ")}`);
  add(t("knowledge.candidates", { dense: (trace.dense || []).length, keyword: (trace.keyword || []).length, fused: (trace.fused || []).length }));
  for (const [name, ms] of Object.entries(trace.timings_ms || {})) add(`${name} ${Math.round(Number(ms) * 10) / 10} ms`);
  if (trace.rerank) add(`rerank: ${trace.rerank.applied ? trace.rerank.model || "on" : "off"}`);
  return chips;
}

function passageItem(passage, traced) {
  const relevance = traced?.relevance;
  const below = Boolean(traced?.below_threshold);
  const score = relevance === undefined ? passage.score : relevance.toFixed(2);
  return el("li", { class: below ? "below-threshold" : "", dataset: { relevance: String(relevance ?? "") } },
    el("strong", { text: passage.metadata.doc_name }),
    el("span", { class: "muted", "data-testid": "relevance", text: ` · ${t("knowledge.relevance")} ${score}` }),
    below ? el("span", { class: "badge warn", "data-testid": "below-threshold", text: t("knowledge.below_threshold") }) : null,
    el("div", { class: "text", text: passage.text }));
}

async function retrieve(data) {
  const body = { knowledge_ids: [current.id], query: data.get("query").trim(), recall_method: data.get("recall_method") };
  if (data.get("top_k")) body.top_k = Number(data.get("top_k"));
  const result = await api("POST", "/console/api/knowledge/retrieve", body);
  const trace = await api("GET", `/console/api/knowledge/traces/${encodeURIComponent(result.request_id)}`);
  // The trace's 0–1 relevance (one scale for every method and language), not the wire score
  $("#passages").replaceChildren(...(result.data.length
    ? result.data.map((p, i) => passageItem(p, trace.final?.[i]))
    : [el("li", { class: "muted", text: t("knowledge.no_passages") })]));
  $("#trace-summary").replaceChildren(...traceChips(trace));
  $("#trace").textContent = JSON.stringify(trace, null, 2);
  $("#trace-box").hidden = false;
}

async function loadEmbeddingModels() {
  const { embedding } = await api("GET", "/console/api/catalog");
  $("#embedding-model").replaceChildren(...embedding.filter((m) => m.embedding_id !== null)
    .map((m) => el("option", { value: m.embedding_id, text: [m.name, ...m.aliases].join(" / ") })));
}

onSubmit($("#kb-create"), async (data, form) => {
  const body = { name: data.get("name").trim(), description: data.get("description").trim() };
  if (data.get("embedding_id")) body.embedding_id = Number(data.get("embedding_id"));
  const created = await api("POST", "/console/api/knowledge", body);
  form.reset();
  toast(t("knowledge.created"));
  await loadBases(created.id);
});
onSubmit($("#upload-form"), async (_, form) => {
  const files = [...$("#upload-input").files];
  if (!files.length || !current) return;
  $("#uploads").replaceChildren();
  await Promise.all(files.map(uploadOne));
  form.reset();
  await loadBases();
});
onSubmit($("#retrieve-form"), retrieve);
$("#kb-delete").addEventListener("click", async () => {
  if (!current || !confirm(t("knowledge.delete_confirm", { name: current.name }))) return;
  try {
    await api("DELETE", `/console/api/knowledge/${encodeURIComponent(current.id)}`);
    current = null;
    await loadBases();
  } catch (error) {
    showError(error);
  }
});

loadEmbeddingModels().catch(showError);
loadBases().catch(showError);
