// Real-name verification: the current status, and the personal or enterprise application.
import { $, api, livePoll, onSubmit, setupTabs, showError, t, toast } from "./api.js";

const BADGES = { approved: "badge ok", pending: "badge warn", rejected: "badge bad", unverified: "badge" };

function showStatus(status) {
  const badge = $("#verify-status");
  badge.textContent = t(`verify.${status.status}`);
  badge.className = BADGES[status.status] || "badge";
  const detail = [];
  if (status.kind) detail.push(t(`verify.${status.kind}`));
  if (status.reject_reason) detail.push(t("verify.reason", { reason: status.reject_reason }));
  $("#verify-detail").textContent = detail.join(" · ");
  $("#apply").hidden = status.status === "approved" || status.status === "pending";
}

// While a review is pending the status is polled: an approval shows without a reload.
async function refresh() {
  const status = await api("GET", "/api/platform/verification");
  showStatus(status);
  return status.status === "pending";
}
const load = livePoll(refresh, 3000);

async function submitted() {
  toast(t("verify.submitted"));
  await load();
}

setupTabs(document);
onSubmit($("#personal-form"), async (data) => {
  await api("POST", "/api/platform/verification/personal", {
    real_name: data.get("real_name").trim(), id_number: data.get("id_number").trim(),
  });
  await submitted();
});
onSubmit($("#enterprise-form"), async (data) => {
  await api("POST", "/api/platform/verification/enterprise", data);
  await submitted();
});
load();
