// Markdown for the playground's answers, built as DOM nodes with textContent only: the model's
// text never becomes HTML (no innerHTML anywhere), so a "<script>" or "<img onerror>" in an
// answer is shown as text. Covers what chat answers use: fenced code (with a copy button and
// light keyword highlighting), headings, lists, quotes, pipe tables, paragraphs, **bold**,
// *italic*, `code` and http(s) links. Unclosed fences (mid-stream) render as code so far.
import { copyText, el, t } from "./api.js";

const KEYWORDS = new Set(("def class return if elif else for while in import from as with try except finally raise " +
  "lambda yield async await pass break continue and or not is None True False function const let var new this " +
  "typeof instanceof switch case default throw catch export extends public private static void int long float " +
  "double char bool boolean string struct enum fn pub impl match mut use package func go select from where").split(" "));
const TOKEN = /(#[^\n]*|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`|\b\d+(?:\.\d+)?\b|\b[A-Za-z_]\w*\b)/g;

function highlight(code, lang) {
  const out = [];
  let last = 0;
  const hashComments = !["js", "javascript", "ts", "typescript", "c", "cpp", "java", "go", "rust", "css", "json"].includes(lang);
  for (const match of code.matchAll(TOKEN)) {
    const [token] = match;
    let kind = null;
    if (token.startsWith("#") ? hashComments : token.startsWith("//")) kind = "tok-comment";
    else if (/^["'`]/.test(token)) kind = "tok-string";
    else if (/^\d/.test(token)) kind = "tok-number";
    else if (KEYWORDS.has(token)) kind = "tok-keyword";
    if (!kind) continue;
    if (match.index > last) out.push(document.createTextNode(code.slice(last, match.index)));
    out.push(el("span", { class: kind, text: token }));
    last = match.index + token.length;
  }
  out.push(document.createTextNode(code.slice(last)));
  return out;
}

function codeBlock(code, lang) {
  const copy = el("button", { type: "button", class: "btn ghost small copy-code", text: t("common.copy") });
  copy.addEventListener("click", () => copyText(code));
  return el("div", { class: "md-code" },
    el("div", { class: "md-code-head" }, el("span", { class: "muted small", text: lang || "text" }), copy),
    el("pre", { class: "mono" }, el("code", { dataset: { lang: lang || "" } }, highlight(code, lang))));
}

const INLINE = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\s][^*\n]*\*|\[[^\]\n]+\]\((https?:\/\/[^)\s]+)\))/g;

export function inline(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    const [token] = match;
    if (match.index > last) out.push(document.createTextNode(text.slice(last, match.index)));
    if (token.startsWith("`")) out.push(el("code", { text: token.slice(1, -1) }));
    else if (token.startsWith("**")) out.push(el("strong", {}, inline(token.slice(2, -2))));
    else if (token.startsWith("*")) out.push(el("em", {}, inline(token.slice(1, -1))));
    else {
      const label = token.slice(1, token.indexOf("]("));
      out.push(el("a", { href: match[2], target: "_blank", rel: "noopener noreferrer nofollow", text: label }));
    }
    last = match.index + token.length;
  }
  out.push(document.createTextNode(text.slice(last)));
  return out;
}

// "| a | b |" → ["a", "b"] (a "\|" inside a cell is a literal bar).
function cells(line) {
  const inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

// A pipe table from lines[i] (its header) on, when lines[i + 1] is its rule: [node, next i].
function table(lines, i) {
  if (!lines[i].includes("|") || !TABLE_RULE.test(lines[i + 1] ?? "")) return null;
  const head = el("tr", {}, cells(lines[i]).map((text) => el("th", {}, inline(text))));
  const rows = [];
  let next = i + 2;
  for (; next < lines.length && lines[next].trim().startsWith("|"); next += 1) {
    rows.push(el("tr", {}, cells(lines[next]).map((text) => el("td", {}, inline(text)))));
  }
  return [el("div", { class: "table-wrap md-table" }, el("table", {}, el("thead", {}, head), el("tbody", {}, rows))), next - 1];
}

// Markdown text → an array of block nodes.
export function markdown(text) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const blocks = [];
  let paragraph = [];
  let list = null;
  const flush = () => {
    if (paragraph.length) blocks.push(el("p", {}, inline(paragraph.join("\n"))));
    paragraph = [];
    list = null;
  };
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    const fence = line.match(/^\s*(```|~~~)\s*([\w+-]*)/);
    if (fence) {
      flush();
      const code = [];
      for (i += 1; i < lines.length && !lines[i].trim().startsWith(fence[1]); i += 1) code.push(lines[i]);
      blocks.push(codeBlock(code.join("\n"), fence[2].toLowerCase()));
      continue;
    }
    const tabled = table(lines, i);
    if (tabled) {
      flush();
      blocks.push(tabled[0]);
      i = tabled[1];
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*(\d+)[.)]\s+(.*)$/);
    const quote = line.match(/^>\s?(.*)$/);
    if (heading) {
      flush();
      blocks.push(el(`h${Math.min(6, heading[1].length + 2)}`, {}, inline(heading[2])));
    } else if (bullet || numbered) {
      if (paragraph.length) { blocks.push(el("p", {}, inline(paragraph.join("\n")))); paragraph = []; }
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = el(tag, numbered && numbered[1] !== "1" ? { start: numbered[1] } : {});
        blocks.push(list);
      }
      list.append(el("li", {}, inline(bullet ? bullet[1] : numbered[2])));
    } else if (quote) {
      flush();
      blocks.push(el("blockquote", {}, inline(quote[1])));
    } else if (!line.trim()) {
      flush();
    } else {
      if (list) list = null;
      paragraph.push(line);
    }
  }
  flush();
  return blocks;
}

export function renderMarkdown(node, text) {
  node.replaceChildren(...markdown(text));
  node.classList.add("md");
}
