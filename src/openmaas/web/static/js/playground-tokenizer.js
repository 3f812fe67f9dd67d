// Playground tokenizer tab: messages (JSON, as in a chat request) → the prompt tokens they take
// under the chosen model's template.
import { $, api, fmtInt, t } from "./api.js";
import { prepare, runTool } from "./playground-kit.js";

function parsedMessages(text) {
  let messages;
  try {
    messages = JSON.parse(text);
  } catch {
    throw new Error(t("playground.tokenizer_bad_json"));
  }
  if (!Array.isArray(messages)) throw new Error(t("playground.tokenizer_bad_json"));
  return messages;
}

export function mount(panel, models, wanted) {
  const form = $("#tokenizer-form", panel);
  prepare(panel, form, "chat", models, wanted, "#tokenizer-unavailable");
  runTool(form, $("#tokenizer-state", panel), async (data) => {
    const messages = parsedMessages(data.get("messages"));
    const result = await api("POST", "/console/api/tokenizer", { model: data.get("model"), messages });
    $("#tokenizer-count", panel).textContent = fmtInt(result.usage.prompt_tokens);
    return t("playground.tokenizer_done", { count: messages.length });
  });
}
