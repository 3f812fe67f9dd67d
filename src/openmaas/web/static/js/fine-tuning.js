// Fine-tuning: upload a chat JSONL dataset, create a job, watch its events and loss curve
// while it runs, and open the fine-tuned model in the playground.
import { $, api, el, fillTable, fmtInt, fmtTime, livePoll, onSubmit, showError, t, toast, upload } from "./api.js";

const ACTIVE = ["validating_files", "queued", "running"];
const BADGES = { succeeded: "badge ok", failed: "badge bad", cancelled: "badge bad", running: "badge warn" };
let selected = null;
let events = new Map(); // event id → event, for the selected job
let chart = null;

// --- datasets ----------------------------------------------------------------------------------
async function loadFiles(select) {
  const { data } = await api("GET", "/console/api/files?purpose=fine-tune&limit=100");
  const options = data.map((f) => el("option", { value: f.id, text: `${f.filename} · ${fmtInt(f.bytes)} B · ${fmtTime(f.created_at)}` }));
  $("#training-file").replaceChildren(...options.map((o) => o.cloneNode(true)));
  $("#validation-file").replaceChildren(el("option", { value: "", text: t("finetune.none") }), ...options);
  if (select) $("#training-file").value = select;
}

onSubmit($("#dataset-form"), async (_, form) => {
  const file = $("#dataset-input").files[0];
  if (!file) return;
  const bar = el("progress", { max: 100, value: 0 });
  const label = el("span", { text: file.name });
  $("#dataset-uploads").replaceChildren(el("div", { class: "upload", "data-testid": "dataset-progress" }, label, bar));
  const data = new FormData();
  data.append("purpose", "fine-tune");
  data.append("file", file);
  const uploaded = await upload("/console/api/files", data, (percent) => { bar.value = percent; });
  label.textContent = t("finetune.uploaded", { name: uploaded.filename });
  form.reset();
  await loadFiles(uploaded.id);
});

// --- jobs -----------------------------------------------------------------------------------------
function statusBadge(status) {
  return el("span", { class: BADGES[status] || "badge", text: t(`finetune.status_${status}`) });
}

async function loadJobs() {
  const { data } = await api("GET", "/console/api/fine_tuning/jobs?limit=50");
  fillTable($("#job-table"), data.map((job) => {
    const open = el("button", { type: "button", class: "btn small ghost", text: job.id });
    open.addEventListener("click", () => selectJob(job.id).catch(showError));
    return el("tr", { dataset: { jobId: job.id } },
      el("td", {}, open), el("td", { text: job.model }), el("td", {}, statusBadge(job.status)),
      el("td", {}, job.fine_tuned_model ? el("code", { text: job.fine_tuned_model }) : "—"),
      el("td", { text: fmtTime(job.created_at) }));
  }), t("finetune.no_jobs"));
  return data;
}

async function fetchEvents(jobId) {
  // Newest first: page back until an event we already have (or the start).
  let after = "";
  for (let pages = 0; pages < 50; pages += 1) {
    const page = await api("GET", `/console/api/fine_tuning/jobs/${encodeURIComponent(jobId)}/events?limit=100${after}`);
    let known = false;
    for (const event of page.data) {
      if (events.has(event.id)) known = true;
      else events.set(event.id, event);
    }
    if (known || !page.has_more || !page.data.length) return;
    after = `&after=${encodeURIComponent(page.data[page.data.length - 1].id)}`;
  }
}

function drawLoss() {
  const points = [...events.values()].filter((e) => e.type === "metrics" && e.data).sort((a, b) => a.data.step - b.data.step);
  $("#loss-empty").hidden = points.length > 0;
  if (!window.Chart || !points.length) return;
  const labels = points.map((e) => e.data.step);
  const datasets = [{ label: t("finetune.train_loss"), data: points.map((e) => e.data.loss), borderColor: "#3b5bfd", backgroundColor: "#3b5bfd", pointRadius: 2, tension: 0.2 }];
  if (points.some((e) => e.data.val_loss !== null && e.data.val_loss !== undefined)) {
    datasets.push({ label: t("finetune.val_loss"), data: points.map((e) => e.data.val_loss), borderColor: "#f59e0b", backgroundColor: "#f59e0b", pointRadius: 2, spanGaps: true });
  }
  if (chart) {
    chart.data.labels = labels;
    chart.data.datasets = datasets;
    chart.update("none");
    return;
  }
  chart = new window.Chart($("#loss-chart"), {
    type: "line", data: { labels, datasets },
    options: { maintainAspectRatio: false, animation: false, scales: { x: { title: { display: true, text: t("finetune.step") } }, y: { beginAtZero: false } } },
  });
}

function showJob(job) {
  $("#job-detail").hidden = false;
  $("#job-title").textContent = job.id;
  const badge = $("#job-status");
  badge.textContent = t(`finetune.status_${job.status}`);
  badge.className = BADGES[job.status] || "badge";
  const hyper = job.hyperparameters || {};
  $("#job-meta").textContent = [
    job.model, `n_epochs ${hyper.n_epochs}`, `batch_size ${hyper.batch_size}`, `lr × ${hyper.learning_rate_multiplier}`,
    t("finetune.tokens", { trained: fmtInt(job.trained_tokens), estimated: fmtInt(job.estimated_tokens) }),
    job.error ? `${job.error.message || ""} (${job.error.code || ""})` : "",
  ].filter(Boolean).join(" · ");
  $("#cancel-job").hidden = !ACTIVE.includes(job.status);
  const link = $("#open-playground");
  link.hidden = !job.fine_tuned_model;
  if (job.fine_tuned_model) link.href = `/console/playground?model=${encodeURIComponent(job.fine_tuned_model)}`;
  const ordered = [...events.values()].sort((a, b) => b.created_at - a.created_at || Number(b.id.slice(8)) - Number(a.id.slice(8)));
  $("#events").replaceChildren(...ordered.map((e) => el("li", { class: e.level === "error" ? "error" : "" },
    el("span", { class: "muted", text: `${fmtTime(e.created_at)} · ` }), e.message)));
  drawLoss();
}

// The job list and the selected job; resolves true while any job is still active, so the list
// (statuses) and the selected job (events, loss) stay live until every job is final.
async function tick() {
  const jobs = await loadJobs();
  if (selected) {
    const job = await api("GET", `/console/api/fine_tuning/jobs/${encodeURIComponent(selected)}`);
    await fetchEvents(selected);
    showJob(job);
  }
  return jobs.some((j) => ACTIVE.includes(j.status));
}
const refresh = livePoll(tick, 1500);

async function selectJob(jobId) {
  if (selected !== jobId) {
    selected = jobId;
    events = new Map();
    if (chart) chart.destroy();
    chart = null;
  }
  await refresh();
}

function optionalNumber(data, name) {
  const value = String(data.get(name) || "").trim();
  return !value || value === "auto" ? "auto" : Number(value);
}

onSubmit($("#job-form"), async (data) => {
  const body = {
    model: data.get("model"), training_file: data.get("training_file"),
    hyperparameters: { n_epochs: optionalNumber(data, "n_epochs"), batch_size: optionalNumber(data, "batch_size"),
      learning_rate_multiplier: optionalNumber(data, "learning_rate_multiplier") },
  };
  if (data.get("validation_file")) body.validation_file = data.get("validation_file");
  if (String(data.get("suffix")).trim()) body.suffix = String(data.get("suffix")).trim();
  const job = await api("POST", "/console/api/fine_tuning/jobs", body);
  toast(t("finetune.created"));
  await loadJobs();
  await selectJob(job.id);
});

$("#cancel-job").addEventListener("click", async () => {
  if (!selected || !confirm(t("finetune.cancel_confirm"))) return;
  try {
    await api("POST", `/console/api/fine_tuning/jobs/${encodeURIComponent(selected)}/cancel`);
    await refresh();
  } catch (error) {
    showError(error);
  }
});

async function loadModels() {
  const { data } = await api("GET", "/console/api/models");
  const bases = data.filter((m) => !m.id.startsWith("ft:"));
  $("#base-model").replaceChildren(...bases.map((m) => el("option", { value: m.id, text: m.root === m.id ? m.id : `${m.id} → ${m.root}` })));
  if (bases.some((m) => m.id === "glm-4")) $("#base-model").value = "glm-4";
}

async function start() {
  await Promise.all([loadModels(), loadFiles()]);
  const jobs = await loadJobs();
  const wanted = new URLSearchParams(location.search).get("job");
  const first = jobs.find((j) => j.id === wanted) || jobs.find((j) => ACTIVE.includes(j.status));
  if (first) await selectJob(first.id);
}

start().catch(showError);
