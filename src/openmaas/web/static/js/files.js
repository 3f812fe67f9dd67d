// Files: the account's uploads (and batch outputs) with purpose and size; upload, download,
// delete, and "run as batch" for a batch input file.
import { $, api, el, fillTable, fmtInt, fmtTime, onSubmit, showError, t, toast, upload } from "./api.js";

function fmtBytes(bytes) {
  if (bytes < 1024) return t("files.bytes", { n: fmtInt(bytes) });
  if (bytes < 1024 * 1024) return t("files.kib", { n: (bytes / 1024).toFixed(1) });
  return t("files.mib", { n: (bytes / 1024 / 1024).toFixed(1) });
}

function action(text, handler, cls = "btn small") {
  const button = el("button", { type: "button", class: cls, text });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try { await handler(); } catch (error) { showError(error); } finally { button.disabled = false; }
  });
  return button;
}

async function remove(file) {
  if (!confirm(t("files.delete_confirm", { name: file.filename }))) return;
  await api("DELETE", `/console/api/files/${encodeURIComponent(file.id)}`);
  toast(t("files.deleted"));
  await load();
}

async function runBatch(file) {
  const batch = await api("POST", "/console/api/batches", { input_file_id: file.id, endpoint: "/v4/chat/completions" });
  toast(t("files.batch_started", { id: batch.id }));
}

function fileRow(file) {
  const download = el("a", { class: "btn small", href: `/console/api/files/${encodeURIComponent(file.id)}/content`, download: file.filename, text: t("files.download") });
  const actions = [download];
  if (file.purpose === "batch") actions.push(action(t("files.run_batch"), () => runBatch(file)));
  actions.push(action(t("common.delete"), () => remove(file), "btn small danger"));
  return el("tr", { dataset: { fileId: file.id } },
    el("td", { text: file.filename }), el("td", {}, el("span", { class: "badge", text: file.purpose })),
    el("td", { class: "num", text: fmtBytes(file.bytes) }), el("td", { text: fmtTime(file.created_at) }),
    el("td", { class: "mono small", text: file.id }), el("td", { class: "actions" }, ...actions));
}

async function load() {
  const purpose = $("#file-filter").value;
  const query = purpose ? `&purpose=${encodeURIComponent(purpose)}` : "";
  const page = await api("GET", `/console/api/files?limit=100${query}`);
  fillTable($("#file-table"), page.data.map(fileRow), t(purpose ? "files.none_filtered" : "files.none"));
}

onSubmit($("#file-upload"), async (data, form) => {
  const file = $("#file-input").files[0];
  if (!file) return;
  const body = new FormData();
  body.append("purpose", data.get("purpose"));
  body.append("file", file);
  await upload("/console/api/files", body);
  form.reset();
  toast(t("files.uploaded", { name: file.name }));
  await load();
});
$("#file-filter").addEventListener("change", () => load().catch(showError));
load().catch(showError);
