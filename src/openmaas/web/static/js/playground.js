// Playground: settings → a Zhipu v4 chat request, streamed as it arrives (SSE over fetch),
// tool calls shown and answerable, the raw request/response, and SDK/curl snippets.
import { humanError, fillTable, onSubmit, $, api, copyText, el, errorFrom, headersFor, setupTabs, showError, t, toast } from "./api.js";
import { renderMarkdown } from "./markdown.js";

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

// The conversation up to its last user (or tool) turn: a snippet replays the question, not the
// answer the model already gave to it.
function toUserTurn(messages) {
  let end = messages.length;
  while (end > 0 && messages[end - 1].role === "assistant" && !messages[end - 1].tool_calls) end -= 1;
  return messages.slice(0, end);
}

function buildRequest(pendingPrompt, turns = history) {
  const form = settings.elements;
  const messages = [];
  if (form.system.value.trim()) messages.push({ role: "system", content: form.system.value });
  messages.push(...turns);
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
  const turns = toUserTurn(history);
  const asked = prompt ? body : buildRequest(turns.length ? undefined : t("playground.sample_prompt"), turns);
  $("#code").textContent = snippet($("#code-lang").value, asked);
}

// --- conversation rendering -------------------------------------------------------------------
function messageActions(node, role) {
  const copy = el("button", { type: "button", class: "btn ghost small", "data-testid": "msg-copy", text: t("common.copy") });
  copy.addEventListener("click", () => copyText(node.dataset.text ?? node.querySelector(".body").textContent));
  const actions = el("div", { class: "msg-actions" }, copy);
  if (role === "assistant") {
    const again = el("button", { type: "button", class: "btn ghost small regenerate", "data-testid": "msg-regenerate", text: t("playground.regenerate") });
    again.addEventListener("click", () => regenerate(node));
    actions.append(again);
  }
  return actions;
}

function bubble(role, text = "") {
  messagesBox.querySelector(".empty")?.remove();
  const body = el("div", { class: "body", text });
  const node = el("div", { class: `msg ${role}` }, el("span", { class: "role", text: t(`playground.role_${role}`) }), body);
  node.dataset.text = text;
  for (const button of messagesBox.querySelectorAll(".regenerate")) button.hidden = true; // the last answer only
  if (role !== "tool") node.append(messageActions(node, role));
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
  const state = { content: "", reasoning: "", calls: [], usage: null, firstTokenMs: null };
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
        if (delta.reasoning_content) {
          state.reasoning += delta.reasoning_content;
          showThinking(node, state.reasoning);
        }
        if (delta.content) {
          state.firstTokenMs ??= performance.now() - started;
          state.content += delta.content;
          renderMarkdown(node.querySelector(".body"), state.content);
          node.dataset.text = state.content;
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
  if (message.reasoning_content) showThinking(node, message.reasoning_content);
  renderMarkdown(node.querySelector(".body"), message.content || "");
  node.dataset.text = message.content || "";
  return { content: message.content || "", calls: message.tool_calls || [], usage: body.usage, firstTokenMs: null };
}

// A thinking model's reasoning, folded above its answer (plain text: never rendered as HTML).
function showThinking(node, text) {
  let box = node.querySelector(".thinking");
  if (!box) {
    box = el("details", { class: "thinking", "data-testid": "thinking" },
      el("summary", { text: t("playground.thinking") }), el("div", { class: "thinking-text" }));
    node.querySelector(".body").before(box);
  }
  box.querySelector(".thinking-text").textContent = text;
}

// Answers again: the last answer (and what follows it) leaves the conversation and the
// question is sent once more. Only the last answer can be regenerated.
function regenerate(node) {
  if (controller) return;
  const answers = [...messagesBox.querySelectorAll(".msg.assistant")];
  if (answers[answers.length - 1] !== node) return;
  history.length = Number(node.dataset.at); // the conversation as it was when this answer was asked for
  while (node.nextSibling) node.nextSibling.remove();
  node.remove();
  send();
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
  node.dataset.at = String(history.length);
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
    node.append(el("span", { class: "meta error", text: aborted ? t("playground.stopped") : `${humanError(error)}${error.code ? ` (${error.code})` : ""}` }));
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
  const [models, bases] = await Promise.all([api("GET", "/console/api/models?include=tools"), api("GET", "/console/api/knowledge?size=100")]);
  const wanted = new URLSearchParams(location.search).get("model");
  const mode = showMode();
  if (TOOL_MODES.includes(mode)) {  // each tool tab is its own module, loaded when opened
    const tab = await import(`./playground-${mode}.js`);
    tab.mount($(`#${mode}-panel`), models.data, wanted);
  }
  const select = settings.elements.model;
  const chat = models.data.filter((m) => m.kind === "chat");  // every other kind has its own tab
  const option = (m) => el("option", { value: m.id, text: m.root === m.id ? m.id : `${m.id} → ${m.root}` });
  select.replaceChildren(...chat.map(option));
  const embedSelect = $("#embed-model");
  const embedding = models.data.filter((m) => m.kind === "embedding");
  embedSelect.replaceChildren(...embedding.map(option));
  if (embedding.some((m) => m.id === wanted)) {  // an embedding model opens the embeddings tab
    embedSelect.value = wanted;
    const url = new URL(location.href);
    url.searchParams.set("mode", "embeddings");
    history.replaceState(null, "", url);
    showMode();
  }
  const ids = chat.map((m) => m.id);
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
// --- mode tabs: chat, embeddings (below) and the tool tabs (playground-<mode>.js) -----------
const TOOL_MODES = ["images", "rerank", "tokenizer", "search", "ocr", "audio"];

function showMode() {
  const asked = new URLSearchParams(location.search).get("mode");
  const mode = ["embeddings", ...TOOL_MODES].includes(asked) ? asked : "chat";
  for (const panel of document.querySelectorAll("[data-mode-panel]")) panel.hidden = panel.dataset.modePanel !== mode;
  for (const link of document.querySelectorAll(".mode-tabs [data-mode]")) {
    if (link.dataset.mode === mode) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  return mode;
}

// --- embeddings tab: vectors, their first values and the texts' cosine similarities ---------
function cosine(a, b) {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i += 1) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / (Math.sqrt(na * nb) || 1);
}

onSubmit($("#embed-form"), async (data) => {
  const texts = data.get("input").split("\n").map((line) => line.trim()).filter(Boolean).slice(0, 16);
  const started = performance.now();
  const result = await api("POST", "/console/api/embeddings", { model: data.get("model"), input: texts });
  const vectors = result.data.map((d) => d.embedding);
  fillTable($("#embed-result"), vectors.map((v, i) => el("tr", {},
    el("td", { text: String(i + 1) }), el("td", { text: texts[i] }), el("td", { class: "num", text: String(v.length) }),
    el("td", { class: "mono small", text: v.slice(0, 6).map((x) => x.toFixed(4)).join(", ") }))));
  const table = $("#embed-similarity");
  table.tHead.rows[0].replaceChildren(el("th"), ...texts.map((_, i) => el("th", { class: "num", text: String(i + 1) })));
  table.tBodies[0].replaceChildren(...vectors.map((a, i) => el("tr", {}, el("th", { text: String(i + 1) }),
    ...vectors.map((b) => el("td", { class: "num", text: cosine(a, b).toFixed(3) })))));
  $("#embed-state").textContent = t("playground.embed_done", {
    count: vectors.length, tokens: result.usage.total_tokens, ms: Math.round(performance.now() - started) });
});

// "Open in playground" from the request log: the stored request's messages arrive in
// sessionStorage (read once); the last user turn waits in the prompt box to be sent again.
function applyReplay() {
  if (new URLSearchParams(location.search).get("replay") !== "1") return;
  const stored = sessionStorage.getItem("openmaas.replay");
  sessionStorage.removeItem("openmaas.replay");
  let messages = [];
  try { messages = JSON.parse(stored || "{}").messages || []; } catch { return; }
  const text = (m) => (typeof m.content === "string" ? m.content : JSON.stringify(m.content ?? ""));
  const turns = messages.filter((m) => m.role !== "system");
  const last = turns.length && turns[turns.length - 1].role === "user" ? turns.pop() : null;
  const system = messages.find((m) => m.role === "system");
  if (system) settings.elements.system.value = text(system);
  for (const m of turns) {
    if (!["user", "assistant"].includes(m.role)) continue;
    history.push({ role: m.role, content: text(m) });
    bubble(m.role, text(m));
  }
  if (last) $("#prompt").value = text(last);
  toast(t("playground.replayed"));
}

showMode();
setupTabs(document);
setState("idle", "");
applyReplay();
loadChoices().catch(showError);
