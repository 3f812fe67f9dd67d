// Playground OCR tab: an image or PDF → layout parsing: the page markdown (tables as tables,
// through the sanitised markdown renderer) and every block with its label and box.
import { $, api, el, fillTable, t } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { fileBase64, prepare, runTool } from "./playground-kit.js";

function blockRows(pages) {
  return pages.flatMap((blocks, page) => blocks.map((block) => el("tr", {},
    el("td", { class: "num", text: String(page + 1) }), el("td", { class: "num", text: String(block.index) }),
    el("td", {}, el("span", { class: "badge", text: block.label })),
    el("td", { class: "cell-text", text: block.content }),
    el("td", { class: "mono small", text: (block.bbox_2d || []).map((v) => Math.round(v)).join(", ") }))));
}

export function mount(panel, models, wanted) {
  const form = $("#ocr-form", panel);
  prepare(panel, form, "ocr", models, wanted, "#ocr-unavailable");
  runTool(form, $("#ocr-state", panel), async (data) => {
    const file = await fileBase64(data.get("file"));
    const result = await api("POST", "/console/api/layout_parsing", { model: data.get("model"), file });
    renderMarkdown($("#ocr-markdown", panel), result.md_results);
    fillTable($("#ocr-blocks", panel), blockRows(result.layout_details));
    const blocks = result.layout_details.reduce((sum, page) => sum + page.length, 0);
    return t("playground.ocr_done", { pages: result.data_info.num_pages, blocks });
  });
}
