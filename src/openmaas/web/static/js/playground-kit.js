// What the playground's tool tabs share: a tab's models from the console's model list (by
// kind), a form that runs one call with its state line, and a file read as base64.
import { el, humanError, showError, t } from "./api.js";

// Fills `select` with the models of `kind` (choosing `wanted` when it is one). None of that kind
// here: the wire default (data-fallback) stays choosable, so trying it shows the API's own words
// on what this server lacks. Returns whether any model of the kind is served.
export function fillModels(select, models, kind, wanted) {
  const found = models.filter((m) => m.kind === kind);
  const names = found.length ? found.map((m) => m.id) : [select.dataset.fallback];
  select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
  if (names.includes(wanted)) select.value = wanted;
  return found.length > 0;
}

// One tab: its banner says when nothing of its kind is configured; returns the model select's
// readiness like fillModels.
export function prepare(panel, form, kind, models, wanted, banner) {
  const ready = fillModels(form.elements.model, models, kind, wanted);
  panel.querySelector(banner).hidden = ready;
  return ready;
}

// Runs `handler(form data)` on submit: the state line says it is working, then what came back
// (the handler's summary and the time taken), or the error as a sentence (also as a toast).
export function runTool(form, state, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("[type=submit]");
    button.disabled = true;
    state.classList.remove("error");
    state.textContent = t("playground.tool_running");
    const started = performance.now();
    try {
      const summary = await handler(new FormData(form));
      state.textContent = t("playground.tool_done", { summary, ms: Math.round(performance.now() - started) });
    } catch (error) {
      state.classList.add("error");
      state.textContent = humanError(error);
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
}

export const lines = (text) => String(text || "").split("\n").map((line) => line.trim()).filter(Boolean);

export function fileBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(String(reader.result).split(",", 2)[1] || ""));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(file);
  });
}
