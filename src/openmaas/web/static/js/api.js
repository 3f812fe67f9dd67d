// Shared helpers of the console's page modules: the API client (session cookie + CSRF header),
// translations, DOM building with textContent only (never innerHTML), formatting, tabs, toasts.

const STRINGS = JSON.parse(document.getElementById("i18n").textContent);
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";

export function t(key, vars = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

export const hasText = (key) => key in STRINGS;

export function csrfToken() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("openmaas_csrf="));
  return found ? decodeURIComponent(found.slice("openmaas_csrf=".length)) : "";
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function headersFor(method, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = csrfToken();
  return headers;
}

// The API's error envelope as an ApiError; a 401 on a session call means the session ended.
export async function errorFrom(response, sessionCall = true) {
  let code = String(response.status);
  let message = response.statusText || t("common.failed");
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch {
    /* not JSON: keep the status text */
  }
  if (response.status === 401 && sessionCall && !location.pathname.endsWith("/login")) {
    location.assign(`/console/login?next=${encodeURIComponent(location.pathname)}`);
  }
  return new ApiError(response.status, code, message);
}

// Calls the platform (or console) API; JSON in and out, FormData passed through.
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: headersFor(method) };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

// el("td", {class: "num", text: "3"}, child, ...): builds DOM; text is always textContent.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the CSP
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function fillTable(table, rows, emptyText = t("common.none")) {
  const body = table.tBodies[0];
  const columns = table.tHead ? table.tHead.rows[0].cells.length : 1;
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colspan: columns, text: emptyText }))]));
}

let toastTimer = 0;
export function toast(message, bad = false, small = "") {
  const box = $("#toast");
  box.replaceChildren(el("span", { text: message }), ...(small ? [el("small", { class: "code", text: small })] : []));
  box.className = bad ? "bad" : "";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, bad ? 6000 : 3000);
}

const FIELD_IN_MESSAGE = [/^(\S+) 参数非法/, /^未正常接收到 (\S+) 参数/];
// The API's words for what this server lacks (its text names settings only an operator sets).
const UNCONFIGURED = [[/no web search provider is configured/, "error.no_search_provider"],
  [/no image model configured/, "error.no_image_model"], [/no \w+ engine is configured/, "error.no_engine"]];

function fieldName(field) {
  const key = `error.field_${field}`;
  return key in STRINGS ? t(key) : field;
}

// An API error as a sentence in the UI language (the wire text is Chinese-first for the API's
// sake); the code goes to small print. Unknown codes read as a generic sentence.
export function humanError(error) {
  if (!(error instanceof ApiError)) return String(error.message || error);
  const missing = UNCONFIGURED.find(([pattern]) => pattern.test(error.message));
  if (missing) return t(missing[1]);
  if (error.code === "1214" || error.code === "1213") {
    const found = FIELD_IN_MESSAGE.map((re) => error.message.match(re)).find(Boolean);
    return found ? t(`error.${error.code}`, { param: fieldName(found[1]) }) : t("error.1214_plain");
  }
  const key = `error.${error.code}`;
  return key in STRINGS ? t(key) : t("error.generic");
}

// Small print under the sentence: the code, and the API's own detail (e.g. which line of a file).
export function errorSmallPrint(error) {
  if (!(error instanceof ApiError)) return "";
  const detail = error.message.match(/\(([^()]*)\)\s*$/);
  return t("error.code", { code: error.code }) + (detail ? ` · ${detail[1]}` : "");
}

export function showError(error) {
  toast(humanError(error), true, errorSmallPrint(error));
}

// Runs `handler(form data)` on submit with the submit button disabled; errors become toasts.
export function onSubmit(form, handler) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("[type=submit]");
    if (button) button.disabled = true;
    try {
      await handler(new FormData(form), form);
    } catch (error) {
      showError(error);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

export function setupTabs(root = document, onChange = () => {}) {
  const groups = root.querySelectorAll("[role=tablist]");
  for (const list of groups) {
    const scope = list.parentElement.closest("section, .card, main") || document;
    list.addEventListener("click", (event) => {
      const button = event.target.closest("[data-tab]");
      if (!button) return;
      for (const other of list.querySelectorAll("[data-tab]")) {
        const selected = other === button;
        other.setAttribute("aria-selected", String(selected));
        for (const panel of scope.querySelectorAll(`[data-panel="${other.dataset.tab}"]`)) panel.hidden = !selected;
      }
      onChange(button.dataset.tab);
    });
  }
}

// POSTs a multipart form with upload progress (fetch cannot report it; XMLHttpRequest can).
// Resolves with the parsed JSON body, rejects with an ApiError like `api()`.
export function upload(path, form, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(headersFor("POST"))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    });
    xhr.addEventListener("load", async () => {
      onProgress(100);
      if (xhr.status >= 200 && xhr.status < 300) resolve(JSON.parse(xhr.responseText));
      else reject(await errorFrom(new Response(xhr.responseText, { status: xhr.status })));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "network", t("common.failed"))));
    xhr.send(form);
  });
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = el("textarea", { class: "mono" });
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  toast(t("common.copied"));
}

const locale = LANG === "zh" ? "zh-CN" : "en-US";
export const fmtInt = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString(locale));
export const fmtYuan = (money) => (money ? `¥${Number(money.yuan).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 6 })}` : "—");
export const fmtTime = (value) => {
  if (value === null || value === undefined) return "—";
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString(locale, { hour12: false });
};
const CJK = /[\u4e00-\u9fff]/;
const UNITS = { 万: 10_000, 亿: 100_000_000 };

// A pack's stored name in the UI language: "注册赠送 (registration grant)" keeps one half;
// offer names like "GLM-4 资源包 1000 万 tokens" are rebuilt from their parts.
export function packName(name) {
  if (!name) return "";
  const paired = name.match(/^(.*?)\s*\(([^()]*)\)\s*$/);
  if (paired && CJK.test(paired[1]) && !CJK.test(paired[2])) return LANG === "zh" ? paired[1] : paired[2];
  const offer = name.match(/^(.*?)\s*资源包\s*([\d.]+)\s*(万|亿)?\s*tokens$/);
  if (offer && LANG === "en") {
    const tokens = Math.round(Number(offer[2]) * (UNITS[offer[3]] || 1));
    const model = !offer[1] || offer[1] === "通用" ? t("common.pack_general") : offer[1];
    return t("common.pack_named", { model, tokens: fmtInt(tokens) });
  }
  return name;
}

// A notification in the UI language, from its kind and the numbers in the stored text.
export function notificationText(n) {
  const numbers = (n.message.match(/-?\d+(?:\.\d+)?/g) || []);
  if (n.kind === "balance_alert" && numbers.length >= 2) return t("common.alert_balance", { balance: numbers[0], threshold: numbers[1] });
  if (n.kind === "pack_alert" && numbers.length >= 2) return t("common.alert_pack", { left: fmtInt(numbers[0]), threshold: fmtInt(numbers[1]) });
  return n.message;
}

// Exact µ元 → "¥1,234.56" / "-¥0.000123" (integer arithmetic: no float rounding).
export function fmtMicro(micro, signed = false) {
  const value = BigInt(micro);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  let fraction = (abs % 1000000n).toString().padStart(6, "0").replace(/0+$/, "");
  fraction = fraction.padEnd(2, "0");
  const whole = Number(abs / 1000000n).toLocaleString(locale);
  const sign = negative ? "-" : signed && abs > 0n ? "+" : "";
  return `${sign}¥${whole}.${fraction}`;
}
export const fmtDay = (value) => new Date(value).toLocaleDateString(locale);

// Beijing-time calendar helpers (bills are cut at UTC+8).
export function beijingToday() {
  return new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
}
export function daysBefore(isoDay, days) {
  const date = new Date(`${isoDay}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() - days);
  return date.toISOString().slice(0, 10);
}

function setupLogout() {
  const button = $("#logout");
  if (!button) return;
  button.addEventListener("click", async () => {
    try {
      await api("POST", "/api/platform/auth/logout");
    } finally {
      location.assign("/console/login");
    }
  });
}
setupLogout();
// On a phone the navigation is one scrolling row: keep the current page in view.
$(".nav [aria-current=page]")?.scrollIntoView({ block: "nearest", inline: "center" });

// Polls `refresh` (which resolves true while something is still in a non-final state) every
// `ms`: stops when it resolves false, pauses while the tab is hidden and refreshes at once when
// it shows again. The returned `run()` refreshes now (e.g. after a change made on the page) and
// restarts the polling; calls during a refresh fold into one more refresh after it.
export function livePoll(refresh, ms = 1500) {
  let timer = 0;
  let active = false;
  let running = null;
  let again = false;
  const once = async () => {
    try {
      active = Boolean(await refresh());
    } catch (error) {
      active = false;
      showError(error);
    }
  };
  const run = async () => {
    clearTimeout(timer);
    if (running) { again = true; return running; }
    if (document.hidden) { active = true; return undefined; }
    running = (async () => {
      do { again = false; await once(); } while (again);
    })();
    await running;
    running = null;
    if (active && !document.hidden) timer = setTimeout(run, ms);
    return undefined;
  };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else if (active) run();
  });
  return run;
}
