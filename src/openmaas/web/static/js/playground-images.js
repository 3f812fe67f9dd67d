// Playground images tab: a prompt → the images API (billed per image, as with a key); the PNGs
// it links to are shown. Without an image model, the API's answer says so in words.
import { $, api, el, t } from "./api.js";
import { prepare, runTool } from "./playground-kit.js";

function figure(image, index) {
  const src = image.url || `data:image/png;base64,${image.b64_json}`;
  return el("figure", { class: "image-result" },
    el("img", { src, alt: t("playground.images_alt", { n: index + 1 }), "data-testid": "generated-image" }),
    el("figcaption", {}, el("a", { href: src, target: "_blank", rel: "noopener", text: t("playground.images_open") })));
}

export function mount(panel, models, wanted) {
  const form = $("#images-form", panel);
  prepare(panel, form, "image", models, wanted, "#images-unavailable");
  runTool(form, $("#images-state", panel), async (data) => {
    const body = { model: data.get("model"), prompt: data.get("prompt"), size: data.get("size").trim() || undefined };
    const result = await api("POST", "/console/api/images/generations", body);
    $("#images-result", panel).replaceChildren(...result.data.map(figure));
    return t("playground.images_done", { count: result.data.length });
  });
}
