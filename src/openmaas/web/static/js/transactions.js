// Transactions: every ledger line (read by kind) with the running balance, paged and
// filtered, per-kind totals over the filter, CSV/JSON export of the filtered range.
import { packName, $, api, beijingToday, el, fillTable, fmtInt, fmtMicro, fmtTime, hasText, onSubmit, showError, t } from "./api.js";

const KINDS = ["topup", "redeem", "admin_credit", "pack_purchase", "pack_grant", "charge", "refund", "expire", "hold"];
const SIZE = 50;
const GENERIC_NOTES = new Set(["redeem", "expire"]); // notes the billing code writes in English: the kind says it
let page = 1;
let filter = new URLSearchParams();

export function kindLabel(kind) {
  if (hasText(`tx.kind_${kind}`)) return t(`tx.kind_${kind}`);
  if (kind.includes("recover")) return t("tx.kind_recovered");
  return t("tx.kind_other", { kind });
}

function detail(line) {
  const parts = [];
  if (line.pack_name) parts.push(`${packName(line.pack_name)} (${t(line.pack_source === "grant" ? "tx.source_grant" : "tx.source_purchase")})`);
  else if (line.kind === "pack_purchase") parts.push(packName(line.note));
  else if (line.note && !line.model && !GENERIC_NOTES.has(line.kind)) parts.push(line.note);
  if (line.model) parts.push(line.model);
  const cell = el("td", { text: parts.join(" · ") });
  if (line.request_id) cell.append(el("div", { class: "muted mono small", text: t("tx.request", { id: line.request_id }) }));
  return cell;
}

function row(line) {
  const recovered = line.recovered ? el("span", { class: "badge warn", "data-testid": "tx-recovered", title: t("tx.recovered_hint"), text: t("tx.recovered") }) : null;
  return el("tr", { dataset: { kind: line.kind, cash: String(line.cash_micro), recovered: String(line.recovered) } },
    el("td", { text: fmtTime(line.created_at) }),
    el("td", {}, kindLabel(line.kind), recovered ? " " : null, recovered),
    detail(line),
    el("td", { class: `num ${line.cash_micro < 0 ? "neg" : ""}`, text: line.cash_micro ? fmtMicro(line.cash_micro, true) : "" }),
    el("td", { class: "num", text: line.pack_tokens ? `${line.pack_tokens > 0 ? "+" : ""}${fmtInt(line.pack_tokens)}` : "" }),
    el("td", { class: "num", text: fmtMicro(line.balance_micro) }));
}

function exportLinks() {
  const form = $("#tx-filter");
  const start = form.elements.start.value;
  const end = form.elements.end.value;
  for (const format of ["csv", "json"]) {
    const link = $(`#tx-${format}`);
    link.href = `/console/api/activity/transactions/export?format=${format}&start=${start}&end=${end}`;
    link.setAttribute("download", `transactions-${start}-${end}.${format}`);
  }
}

async function load() {
  const query = new URLSearchParams(filter);
  query.set("page", page);
  query.set("size", SIZE);
  const result = await api("GET", `/console/api/activity/transactions?${query}`);
  fillTable($("#tx-table"), result.data.map(row));
  const pages = Math.max(1, Math.ceil(result.total / SIZE));
  $("#tx-page").textContent = t("tx.page_of", { page, pages, total: fmtInt(result.total) });
  $("#tx-prev").disabled = page <= 1;
  $("#tx-next").disabled = page >= pages;
  $("#tx-balance").textContent = fmtMicro(result.balance_micro);
  $("#tx-balance").dataset.micro = String(result.balance_micro);
  $("#tx-net").textContent = fmtMicro(result.cash_micro, true);
  $("#tx-net").dataset.micro = String(result.cash_micro);
  fillTable($("#tx-totals"), result.totals.map((k) => el("tr", { dataset: { kind: k.kind, cash: String(k.cash_micro), tokens: String(k.pack_tokens) } },
    el("td", { text: kindLabel(k.kind) }), el("td", { class: "num", text: fmtInt(k.entries) }),
    el("td", { class: "num", text: fmtMicro(k.cash_micro, true) }),
    el("td", { class: "num", text: fmtInt(k.pack_tokens) }))));
}

const form = $("#tx-filter");
form.elements.kind.append(...KINDS.map((kind) => el("option", { value: kind, text: kindLabel(kind) })));
const today = beijingToday();
form.elements.start.value = `${today.slice(0, 7)}-01`;
form.elements.end.value = today;
form.addEventListener("input", exportLinks);
exportLinks();
onSubmit(form, async (data) => {
  filter = new URLSearchParams();
  for (const [key, value] of data) if (value) filter.set(key, value);
  page = 1;
  await load();
});
$("#tx-prev").addEventListener("click", () => { page -= 1; load().catch(showError); });
$("#tx-next").addEventListener("click", () => { page += 1; load().catch(showError); });
load().catch(showError);
