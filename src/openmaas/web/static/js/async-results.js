// Async results: the account's async chat, image and video tasks with their status, refreshed
// while any is processing; "view" shows the task's body as /async-result returns it.
import { $, api, el, fillTable, fmtTime, livePoll, showError, t } from "./api.js";

const BADGES = { SUCCESS: "badge ok", FAIL: "badge bad", PROCESSING: "badge warn" };

async function show(task) {
  const body = await api("GET", `/console/api/async-result/${encodeURIComponent(task.id)}`);
  const detail = $("#async-detail");
  detail.textContent = JSON.stringify(body, null, 2);
  detail.hidden = false;
}

function taskRow(task) {
  const view = el("button", { type: "button", class: "btn small", text: t("async.view") });
  view.addEventListener("click", () => show(task).catch(showError));
  const failure = task.status === "FAIL" ? el("div", { class: "error small", text: t("async.failed_code", { code: task.error_code || "?" }) }) : null;
  return el("tr", { dataset: { taskId: task.id } },
    el("td", { class: "mono small", text: task.id }), el("td", { text: t(`async.kind_${task.kind}`) }),
    el("td", { text: task.model }),
    el("td", {}, el("span", { class: BADGES[task.status], "data-testid": "async-status", text: t(`async.status_${task.status}`) }), failure),
    el("td", { text: fmtTime(task.created_at) }),
    el("td", { text: task.status === "PROCESSING" ? "—" : fmtTime(task.updated_at) }), el("td", {}, view));
}

async function refresh() {
  const { data } = await api("GET", "/console/api/async-results?limit=100");
  fillTable($("#async-table"), data.map(taskRow), t("async.none"));
  return data.some((task) => task.status === "PROCESSING");
}

livePoll(refresh, 1500)();
