// Shared helpers of the console's page modules: the API client (session cookie + CSRF header),
// translations, DOM building with textContent only (never innerHTML), formatting, tabs, toasts.

const STRINGS = JSON.parse(document.getElementById("i18n").textContent);
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const LANG = document.documentElement.lang.startsWith("zh") ? "zh" : "en";

export function t(key, vars = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

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
export function toast(message, bad = false) {
  const box = $("#toast");
  box.textContent = message;
  box.className = bad ? "bad" : "";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, bad ? 6000 : 3000);
}

export function showError(error) {
  toast(error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message || error), true);
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
