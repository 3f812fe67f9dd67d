// Playground: settings → a Zhipu v4 chat request, streamed as it arrives (SSE over fetch),
// tool calls shown and answerable, the raw request/response, and SDK/curl snippets.
import { $, api, copyText, el, errorFrom, headersFor, setupTabs, showError, t } from "./api.js";

const WIRE_PATH = "/api/paas/v4/chat/completions";
const CONSOLE_PATH = "/console/api/chat/completions";
const settings = $("#settings");
const messagesBox = $("#messages");
const history = []; // the conversation without the system prompt
let controller = null;

const EXAMPLE_TOOLS = [{
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather of a city",
    parameters: { type: "object", properties: { city: { type: "string", description: "city name" } }, required: ["city"] },
  },
}];

// --- settings → request -------------------------------------------------------------------
function parsedTools() {
  const text = settings.elements.tools.value.trim();
  if (!text) return [];
  const tools = JSON.parse(text);
  if (!Array.isArray(tools)) throw new Error(t("playground.tools_not_list"));
  return tools;
}

function toolsState() {
  try {
    const count = parsedTools().length;
    $("#tools-state").textContent = count ? t("playground.tools_ok", { count }) : "";
    return true;
  } catch (error) {
    $("#tools-state").textContent = t("playground.tools_bad", { error: error.message });
    return false;
  }
}

function buildRequest(pendingPrompt) {
  const form = settings.elements;
  const messages = [];
  if (form.system.value.trim()) messages.push({ role: "system", content: form.system.value });
  messages.push(...history);
  if (pendingPrompt !== undefined) messages.push({ role: "user", content: pendingPrompt });
  const body = {
    model: form.model.value, messages,
    temperature: Number(form.temperature.value), top_p: Number(form.top_p.value),
    max_tokens: Number(form.max_tokens.value) || undefined, stream: form.stream.checked,
  };
  let tools = [];
  try { tools = parsedTools(); } catch { /* shown beside the editor */ }
  if (tools.length && form.tool_choice.value) body.tool_choice = form.tool_choice.value;
  if (form.knowledge_id.value) tools = [...tools, { type: "retrieval", retrieval: { knowledge_id: form.knowledge_id.value } }];
  if (tools.length) body.tools = tools;
  return body;
}

// --- snippets -------------------------------------------------------------------------------
function py(value, depth = 0) {
  const pad = "    ".repeat(depth + 1);
  const close = "    ".repeat(depth);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value !== "object") return JSON.stringify(value);
  const items = Array.isArray(value)
    ? value.map((v) => pad + py(v, depth + 1))
    : Object.entries(value).map(([k, v]) => `${pad}${JSON.stringify(k)}: ${py(v, depth + 1)}`);
  const [open, shut] = Array.isArray(value) ? ["[", "]"] : ["{", "}"];
  return items.length ? `${open}\n${items.join(",\n")},\n${close}${shut}` : open + shut;
}

function pythonCall(body) {
  const args = Object.entries(body).filter(([, v]) => v !== undefined).map(([k, v]) => `    ${k}=${py(v, 1)},`);
  const tail = body.stream
    ? 'for chunk in response:\n    print(chunk.choices[0].delta.content or "", end="", flush=True)'
    : "print(response.choices[0].message)";
  return `response = client.chat.completions.create(\n${args.join("\n")}\n)\n${tail}\n`;
}

function snippet(kind, body) {
  const origin = location.origin;
  if (kind === "curl") {
    const json = JSON.stringify(body, null, 2).replace(/'/g, "'\\''");
    return `curl ${body.stream ? "-N " : ""}${origin}${WIRE_PATH} \\\n  -H "Authorization: Bearer $ZHIPUAI_API_KEY" \\\n  -H "Content-Type: application/json" \\\n  -d '${json}'\n`;
  }
  if (kind === "openai") {
    return `from openai import OpenAI\n\nclient = OpenAI(api_key="YOUR_API_KEY", base_url="${origin}/v1")\n${pythonCall(body)}`;
  }
  return `from zhipuai import ZhipuAI\n\nclient = ZhipuAI(api_key="YOUR_API_KEY", base_url="${origin}/api/paas/v4/")\n${pythonCall(body)}`;
}

function refreshInspectors() {
  const prompt = $("#prompt").value;
  const body = buildRequest(prompt || (history.length ? undefined : t("playground.sample_prompt")));
  // Before the first send the raw request previews the next one; afterwards it is the last one sent.
  if (!$("#raw-request").dataset.sent) $("#raw-request").textContent = `POST ${WIRE_PATH}\n\n${JSON.stringify(body, null, 2)}`;
  $("#code").textContent = snippet($("#code-lang").value, body);
}

// --- conversation rendering -------------------------------------------------------------------
function bubble(role, text = "") {
  messagesBox.querySelector(".empty")?.remove();
  const body = el("div", { class: "body", text });
  const node = el("div", { class: `msg ${role}` }, el("span", { class: "role", text: t(`playground.role_${role}`) }), body);
  messagesBox.append(node);
  messagesBox.scrollTop = messagesBox.scrollHeight;
  return node;
}

function toolCallCard(call) {
  const result = el("textarea", { rows: 2, class: "mono", placeholder: t("playground.tool_result_placeholder") });
  const submit = el("button", { type: "button", class: "btn small", text: t("playground.tool_submit") });
  submit.addEventListener("click", () => {
    history.push({ role: "tool", tool_call_id: call.id, content: result.value || "{}" });
    bubble("tool", result.value || "{}");
    submit.disabled = true;
    send();
  });
  let args = call.function?.arguments ?? "";
  try { args = JSON.stringify(JSON.parse(args), null, 2); } catch { /* show as sent */ }
  return el("div", { class: "tool-call", "data-testid": "tool-call" },
    el("strong", { text: t("playground.tool_call", { name: call.function?.name ?? "?" }) }),
    el("pre", { class: "mono", text: args }), result, submit);
}

function setState(state, text) {
  messagesBox.dataset.state = state;
  $("#run-state").textContent = text;
  $("#send").disabled = state === "running";
  $("#stop").hidden = state !== "running";
}

// --- sending -----------------------------------------------------------------------------------
function endpoint() {
  const key = settings.elements.api_key.value.trim();
  if (key) return { url: WIRE_PATH, session: false, headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" } };
  return { url: CONSOLE_PATH, session: true, headers: headersFor("POST", { "Content-Type": "application/json" }) };
}

function mergeToolCalls(calls, deltas) {
  for (const delta of deltas || []) {
    const index = delta.index ?? calls.length;
    const call = (calls[index] ||= { id: delta.id, type: "function", function: { name: "", arguments: "" } });
    if (delta.id) call.id = delta.id;
    if (delta.function?.name) call.function.name = delta.function.name;
    if (delta.function?.arguments) call.function.arguments += delta.function.arguments;
  }
}

async function readStream(response, node, raw) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const state = { content: "", calls: [], usage: null, firstTokenMs: null };
  const started = performance.now();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    raw.textContent += value;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(`${chunk.error.message} (${chunk.error.code})`);
        const delta = chunk.choices?.[0]?.delta || {};
        if (delta.content) {
          state.firstTokenMs ??= performance.now() - started;
          state.content += delta.content;
          node.querySelector(".body").textContent = state.content;
          messagesBox.scrollTop = messagesBox.scrollHeight;
        }
        mergeToolCalls(state.calls, delta.tool_calls);
        if (chunk.usage) state.usage = chunk.usage;
      }
    }
  }
  return state;
}

async function readWhole(response, node, raw) {
  const body = await response.json();
  raw.textContent = JSON.stringify(body, null, 2);
  const message = body.choices?.[0]?.message || {};
  node.querySelector(".body").textContent = message.content || "";
  return { content: message.content || "", calls: message.tool_calls || [], usage: body.usage, firstTokenMs: null };
}

function finish(node, result, seconds) {
  const calls = result.calls.filter(Boolean);
  history.push(calls.length ? { role: "assistant", content: result.content || null, tool_calls: calls } : { role: "assistant", content: result.content });
  for (const call of calls) node.append(toolCallCard(call));
  const usage = result.usage;
  const parts = [t("playground.seconds", { seconds: seconds.toFixed(1) })];
  if (result.firstTokenMs !== null) parts.push(t("playground.first_token", { ms: Math.round(result.firstTokenMs) }));
  if (usage) parts.push(t("playground.usage", { prompt: usage.prompt_tokens, completion: usage.completion_tokens }));
  node.append(el("span", { class: "meta", text: parts.join(" · ") }));
  setState("done", t("playground.done"));
}

async function send() {
  const request = buildRequest();
  $("#raw-request").textContent = `POST ${WIRE_PATH}\n\n${JSON.stringify(request, null, 2)}`;
  $("#raw-request").dataset.sent = "true";
  const raw = $("#raw-response");
  raw.textContent = "";
  const node = bubble("assistant");
  node.classList.add("streaming");
  controller = new AbortController();
  setState("running", t("playground.running"));
  const started = performance.now();
  try {
    const { url, headers, session } = endpoint();
    const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(request), signal: controller.signal, credentials: "same-origin" });
    if (!response.ok) throw await errorFrom(response, session);
    const result = request.stream ? await readStream(response, node, raw) : await readWhole(response, node, raw);
    finish(node, result, (performance.now() - started) / 1000);
  } catch (error) {
    const aborted = error.name === "AbortError";
    node.append(el("span", { class: "meta error", text: aborted ? t("playground.stopped") : `${error.message}${error.code ? ` (${error.code})` : ""}` }));
    if (!aborted) showError(error);
    setState(aborted ? "stopped" : "error", aborted ? t("playground.stopped") : t("common.failed"));
  } finally {
    node.classList.remove("streaming");
    controller = null;
    refreshInspectors();
  }
}

// --- wiring ------------------------------------------------------------------------------------
async function loadChoices() {
  const [models, bases] = await Promise.all([api("GET", "/console/api/models"), api("GET", "/console/api/knowledge?size=100")]);
  const wanted = new URLSearchParams(location.search).get("model");
  const select = settings.elements.model;
  select.replaceChildren(...models.data.map((m) => el("option", { value: m.id, text: m.root === m.id ? m.id : `${m.id} → ${m.root}` })));
  const ids = models.data.map((m) => m.id);
  select.value = ids.includes(wanted) ? wanted : ids.includes("glm-4") ? "glm-4" : ids[0] || "";
  settings.elements.knowledge_id.append(...bases.list.map((b) => el("option", { value: b.id, text: b.name })));
  refreshInspectors();
}

for (const name of ["temperature", "top_p"]) {
  const input = settings.elements[name];
  input.addEventListener("input", () => { $(`#${name}-out`).textContent = input.value; });
}
settings.addEventListener("input", () => { toolsState(); refreshInspectors(); });
settings.addEventListener("change", refreshInspectors);
settings.addEventListener("submit", (event) => event.preventDefault());
$("#prompt").addEventListener("input", refreshInspectors);
$("#code-lang").addEventListener("change", refreshInspectors);
$("#copy-code").addEventListener("click", () => copyText($("#code").textContent));
$("#tools-example").addEventListener("click", () => {
  settings.elements.tools.value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
  toolsState();
  refreshInspectors();
});
$("#stop").addEventListener("click", () => controller?.abort());
$("#clear").addEventListener("click", () => {
  history.length = 0;
  messagesBox.replaceChildren(el("p", { class: "empty muted", text: t("playground.empty") }));
  $("#raw-response").textContent = "";
  delete $("#raw-request").dataset.sent;
  setState("idle", "");
  refreshInspectors();
});
$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const prompt = $("#prompt").value.trim();
  if (!prompt || controller) return;
  if (!toolsState()) {
    showError(new Error($("#tools-state").textContent));
    return;
  }
  history.push({ role: "user", content: prompt });
  bubble("user", prompt);
  $("#prompt").value = "";
  send();
});
$("#prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("#composer").requestSubmit();
});
setupTabs(document);
setState("idle", "");
loadChoices().catch(showError);
