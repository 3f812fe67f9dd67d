// Playground web search tab: a query → the results (title, link, snippet, source, date). Links
// are followed only when they are http(s). Without a provider, the API's answer says so.
import { $, api, el, t } from "./api.js";
import { prepare, runTool } from "./playground-kit.js";

function item(result) {
  const safe = /^https?:\/\//i.test(result.link);
  const title = safe
    ? el("a", { href: result.link, target: "_blank", rel: "noopener noreferrer nofollow", text: result.title || result.link })
    : el("strong", { text: result.title || result.link });
  const source = [result.media, result.publish_date, safe ? "" : result.link].filter(Boolean).join(" · ");
  return el("li", { class: "search-item" }, title, el("p", { text: result.content }),
    source ? el("span", { class: "hint", text: source }) : null);
}

export function mount(panel, models, wanted) {
  const form = $("#search-form", panel);
  prepare(panel, form, "web_search", models, wanted, "#search-unavailable");
  runTool(form, $("#search-state", panel), async (data) => {
    const body = { search_engine: data.get("model"), search_query: data.get("query"), count: Number(data.get("count")) || 5 };
    const result = await api("POST", "/console/api/web_search", body);
    const items = result.search_result.map(item);
    $("#search-result", panel).replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: t("playground.search_none") })]));
    return t("playground.search_done", { count: result.search_result.length });
  });
}
