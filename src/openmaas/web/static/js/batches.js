// Batches: status and request counts (refreshed while any batch is still running), the output
// and error files to download, and cancel for a batch not yet finished.
import { $, api, el, fillTable, fmtTime, livePoll, showError, t, toast } from "./api.js";

const FINAL = ["completed", "failed", "expired", "cancelled"];
const BADGES = { completed: "badge ok", failed: "badge bad", expired: "badge bad", cancelled: "badge", cancelling: "badge warn" };

function fileLink(id, label) {
  return id ? el("a", { class: "btn small", href: `/console/api/files/${encodeURIComponent(id)}/content`, text: label }) : null;
}

function batchRow(batch) {
  const counts = batch.request_counts;
  const cancel = FINAL.includes(batch.status) || batch.status === "cancelling" ? null
    : el("button", { type: "button", class: "btn small danger", text: t("batches.cancel") });
  cancel?.addEventListener("click", async () => {
    if (!confirm(t("batches.cancel_confirm", { id: batch.id }))) return;
    try {
      await api("POST", `/console/api/batches/${encodeURIComponent(batch.id)}/cancel`);
      toast(t("batches.cancelled"));
      poll();
    } catch (error) {
      showError(error);
    }
  });
  const status = t(`batches.status_${batch.status}`);
  return el("tr", { dataset: { batchId: batch.id } },
    el("td", { class: "mono small", text: batch.id }), el("td", { class: "mono small", text: batch.endpoint }),
    el("td", {}, el("span", { class: BADGES[batch.status] || "badge warn", "data-testid": "batch-status", text: status })),
    el("td", { class: "num", "data-testid": "batch-counts", text: t("batches.counts", counts) }),
    el("td", { text: fmtTime(batch.created_at) }),
    el("td", { class: "actions" }, fileLink(batch.output_file_id, t("batches.output")), fileLink(batch.error_file_id, t("batches.errors"))),
    el("td", {}, cancel));
}

async function refresh() {
  const page = await api("GET", "/console/api/batches?limit=100");
  fillTable($("#batch-table"), page.data.map(batchRow), t("batches.none"));
  return page.data.some((b) => !FINAL.includes(b.status));
}

const poll = livePoll(refresh, 1500);
poll();
