/**
 * A notebook as one self-contained, printable HTML page: Markdown cells and `text/markdown`
 * outputs through `marked`, math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`, also inside tables)
 * typeset here with KaTeX (its CSS and fonts inlined as data: URLs, so the page works
 * offline), code cells with their source, stream, text, HTML, image and Plotly outputs. Plotly
 * figures appear as the SVG `plotly_svg.ts` drew, so nothing is left to draw while printing.
 * Two renderings: `full` (everything, code included) and `submission` (the cells tagged
 * `answer`, boxed, and `submission`, without code).
 *
 * @example
 * ```ts
 * import { notebookToHtml } from "./html.ts";
 * import { readNotebook } from "./nbformat.ts";
 * const { html, warnings } = notebookToHtml(await readNotebook("notebooks/question1.ipynb"));
 * ```
 * @module
 */
import katex from "katex";
import { Marked } from "marked";
import { createRequire } from "node:module";
import { type Cell, joinSource, type Notebook, type Output, type OutputData } from "./nbformat.ts";

/** The Plotly mime type. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** Output mime types in the order the page prefers them (as nbconvert, Plotly first). */
export const MIME_PRIORITY: readonly string[] = [
  PLOTLY_MIME,
  "text/html",
  "image/svg+xml",
  "image/png",
  "image/jpeg",
  "text/markdown",
  "text/latex",
  "text/plain",
];

/**
 * Which cells a rendering prints. `full`: every cell, code included (cells tagged
 * `remove-input`, `remove-output` or `remove-cell` drop those parts). `submission`: only cells
 * tagged `answer` or `submission`, outputs without their code; each run of `answer` cells is
 * boxed, so the answer reads first. A notebook that tags no cell is submitted whole.
 */
export type Rendering = "full" | "submission";

/**
 * The cell tags a submission rendering prints.
 * @example
 * ```ts
 * SUBMISSION_TAGS; // ["answer", "submission"]
 * ```
 */
export const SUBMISSION_TAGS: readonly string[] = ["answer", "submission"];

/** Options of {@linkcode notebookToHtml}. */
export interface HtmlOptions {
  /** Page title (default: the first Markdown heading, else "Notebook"). */
  title?: string;
  /**
   * Which cells are printed.
   * @default {"full"}
   */
  rendering?: Rendering;
  /**
   * SVG drawings of the Plotly outputs that have no saved `image/svg+xml`, in document order
   * (see {@linkcode plotlyBundles}); a Plotly output with neither shows a note.
   */
  plotlySvgs?: readonly string[];
}

/** The page and what went wrong while making it. */
export interface HtmlResult {
  /** The complete HTML document. */
  html: string;
  /** Math KaTeX could not typeset and outputs that could not be shown. */
  warnings: string[];
}

/**
 * The mime bundles of a notebook's printed Plotly outputs, in document order (outputs of cells
 * tagged `remove-output` or `remove-cell` are not printed and not listed).
 * @example
 * ```ts
 * import { readNotebook } from "./nbformat.ts";
 * plotlyBundles(await readNotebook("notebooks/question1.ipynb")).length;
 * ```
 */
export function plotlyBundles(nb: Notebook, rendering: Rendering = "full"): OutputData[] {
  return nb.cells.flatMap((c) =>
    c.cell_type === "code" && printed(c, rendering, marksSubmission(nb)) &&
      !hasTag(c, "remove-output") &&
      !hasTag(c, "remove-cell")
      ? c.outputs.flatMap((o) =>
        (o.output_type === "display_data" || o.output_type === "execute_result") &&
          o.data[PLOTLY_MIME] !== undefined
          ? [o.data]
          : []
      )
      : []
  );
}

/**
 * Renders a notebook as a standalone HTML page for printing.
 * @example
 * ```ts
 * const nb = { nbformat: 4 as const, nbformat_minor: 5, metadata: {}, cells: [
 *   { cell_type: "markdown" as const, metadata: {}, source: "# Title\n\n$x^2$" },
 * ] };
 * notebookToHtml(nb).html.includes("katex"); // true
 * ```
 */
export function notebookToHtml(nb: Notebook, options: HtmlOptions = {}): HtmlResult {
  const warnings: string[] = [];
  const svgs = [...(options.plotlySvgs ?? [])];
  const rendering = options.rendering ?? "full";
  const parts: string[] = [];
  let box: string[] | undefined;
  const tagged = marksSubmission(nb);
  nb.cells.forEach((cell, i) => {
    if (!printed(cell, rendering, tagged)) return;
    const html = renderCell(cell, i, svgs, warnings, rendering === "submission" && tagged);
    if (rendering === "submission" && hasTag(cell, "answer")) {
      (box ??= []).push(html);
      return;
    }
    if (box) parts.push(`<section class="answer">${box.join("\n")}</section>`);
    box = undefined;
    parts.push(html);
  });
  if (box) parts.push(`<section class="answer">${box.join("\n")}</section>`);
  const body = parts.join("\n");
  const title = options.title ?? firstHeading(nb) ?? "Notebook";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${katexCss()}</style>
<style>${PRINT_CSS}</style>
</head><body>
<main>
${body}
</main>
<script>${FIT_TABLES_JS}</script>
</body></html>
`;
  return { html, warnings };
}

function printed(cell: Cell, rendering: Rendering, anyTagged: boolean): boolean {
  return rendering === "full" || !anyTagged || SUBMISSION_TAGS.some((t) => hasTag(cell, t));
}

/** Whether a notebook marks its submission at all (one without tags is submitted whole). */
function marksSubmission(nb: Notebook): boolean {
  return nb.cells.some((c) => SUBMISSION_TAGS.some((t) => hasTag(c, t)));
}

function hasTag(cell: Cell, tag: string): boolean {
  const tags = cell.metadata?.tags;
  return Array.isArray(tags) && tags.includes(tag);
}

function renderCell(
  cell: Cell,
  index: number,
  svgs: string[],
  warnings: string[],
  hideInput = false,
): string {
  if (hasTag(cell, "remove-cell")) return "";
  const source = joinSource(cell.source);
  if (cell.cell_type === "markdown") {
    const withAttachments = source.replace(
      /\(attachment:([^)\s]+)\)/g,
      (all, name: string) => {
        const bundle = cell.attachments?.[name];
        const mime = bundle && Object.keys(bundle)[0];
        return mime ? `(data:${mime};base64,${joinSource(bundle[mime] as string)})` : all;
      },
    );
    return `<section class="cell markdown">${
      renderMarkdown(withAttachments, warnings, `cell ${index + 1}`)
    }</section>`;
  }
  if (cell.cell_type !== "code") return "";
  const input = hideInput || hasTag(cell, "remove-input") || source.trim() === ""
    ? ""
    : `<div class="input">${
      cell.execution_count != null ? `<span class="count">[${cell.execution_count}]</span>` : ""
    }<pre class="code"><code>${highlightTypeScript(source)}</code></pre></div>`;
  const outputs = hasTag(cell, "remove-output")
    ? ""
    : cell.outputs.map((o) => renderOutput(o, svgs, warnings, `cell ${index + 1}`)).join("\n");
  if (!input && !outputs) return "";
  return `<section class="cell code">${input}${
    outputs ? `<div class="outputs">${outputs}</div>` : ""
  }</section>`;
}

function renderOutput(o: Output, svgs: string[], warnings: string[], where: string): string {
  if (o.output_type === "stream") {
    const text = stripAnsi(joinSource(o.text));
    return `<pre class="output stream ${o.name === "stderr" ? "stderr" : "stdout"}">${
      escapeHtml(text)
    }</pre>`;
  }
  if (o.output_type === "error") {
    const text = stripAnsi([`${o.ename}: ${o.evalue}`, ...o.traceback].join("\n"));
    return `<pre class="output error">${escapeHtml(text)}</pre>`;
  }
  return renderBundle(o.data, svgs, warnings, where);
}

function renderBundle(
  data: OutputData,
  svgs: string[],
  warnings: string[],
  where: string,
): string {
  const mime = MIME_PRIORITY.find((m) => data[m] !== undefined);
  const text = (m: string) => joinSource(data[m] as string | string[]);
  switch (mime) {
    case PLOTLY_MIME: {
      const svg = data["image/svg+xml"] !== undefined ? text("image/svg+xml") : svgs.shift();
      if (svg) return figure(svg);
      warnings.push(`${where}: a Plotly figure has no drawing`);
      return `<p class="output missing">[Plotly figure not drawn]</p>`;
    }
    case "text/html":
      return `<div class="output html">${text(mime)}</div>`;
    case "image/svg+xml":
      return figure(text(mime));
    case "image/png":
    case "image/jpeg":
      return `<figure class="output image"><img src="data:${mime};base64,${
        text(mime).replace(/\s/g, "")
      }" alt=""></figure>`;
    case "text/markdown":
      return `<div class="output markdown">${renderMarkdown(text(mime), warnings, where)}</div>`;
    case "text/latex":
      return `<div class="output markdown">${renderMarkdown(text(mime), warnings, where)}</div>`;
    case "text/plain":
      return `<pre class="output plain">${escapeHtml(stripAnsi(text(mime)))}</pre>`;
    default: {
      const kinds = Object.keys(data).join(", ") || "empty bundle";
      warnings.push(`${where}: no printable representation (${kinds})`);
      return `<p class="output missing">[output of type ${escapeHtml(kinds)} not shown]</p>`;
    }
  }
}

function figure(svg: string): string {
  const url = `data:image/svg+xml;base64,${base64(svg)}`;
  return `<figure class="output figure"><img src="${url}" alt=""></figure>`;
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

const marked = new Marked({ gfm: true, breaks: false });

/**
 * Markdown with math to HTML. Math is cut out before `marked` sees it (so `_` and `\` inside
 * math survive), typeset by KaTeX, and put back; code spans and fenced blocks are left alone.
 * Inside a table row `\|` in math is a `|`, as GFM reads it.
 * @example
 * ```ts
 * renderMarkdown("| op | AI |\n|---|---|\n| $QK^T$ | $\\frac{n}{2}$ |", []);
 * ```
 */
export function renderMarkdown(text: string, warnings: string[], where = "markdown"): string {
  const maths: string[] = [];
  const protectedText = extractMath(text, (tex, display) => {
    maths.push(typeset(tex, display, warnings, where));
    return `MATHPLACEHOLDER${maths.length - 1}X`;
  });
  const html = (marked.parse(protectedText, { async: false }) as string)
    // A paragraph right before a table is its caption: they stay on one page together.
    .replace(
      /<p>((?:(?!<\/p>)[\s\S])*)<\/p>\s*<table>([\s\S]*?)<\/table>/g,
      (_, caption, rows) => `<div class="captioned"><p>${caption}</p><table>${rows}</table></div>`,
    );
  return html.replace(/MATHPLACEHOLDER(\d+)X/g, (_, i: string) => maths[Number(i)]);
}

function typeset(tex: string, display: boolean, warnings: string[], where: string): string {
  try {
    return katex.renderToString(tex, {
      displayMode: display,
      output: "html",
      throwOnError: true,
      strict: "ignore",
    });
  } catch (e) {
    warnings.push(`${where}: KaTeX cannot typeset ${JSON.stringify(tex)}: ${(e as Error).message}`);
    return `<code class="math-error">${escapeHtml(tex)}</code>`;
  }
}

/**
 * Replaces each math span of Markdown text by what `replace` returns, skipping code.
 * @example
 * ```ts
 * extractMath("a $x$ `$y$`", (tex) => `[${tex}]`); // "a [x] `$y$`"
 * ```
 */
export function extractMath(
  text: string,
  replace: (tex: string, display: boolean) => string,
): string {
  let out = "";
  let i = 0;
  const lineStart = (at: number) => text.lastIndexOf("\n", at - 1) + 1;
  const inTableRow = (at: number) => text.slice(lineStart(at)).trimStart().startsWith("|");
  const emit = (tex: string, display: boolean, at: number) =>
    replace(inTableRow(at) ? tex.replaceAll("\\|", "|") : tex, display);
  while (i < text.length) {
    const rest = text.slice(i);
    // Fenced code block at the start of a line: copy through its closing fence.
    const fence = i === lineStart(i) ? rest.match(/^ {0,3}(`{3,}|~{3,})/) : null;
    if (fence) {
      const close = new RegExp(`\\n {0,3}${fence[1][0]}{${fence[1].length},}[ \\t]*(\\n|$)`);
      const closing = close.exec(rest.slice(fence[0].length));
      const len = closing ? fence[0].length + closing.index + closing[0].length : rest.length;
      out += rest.slice(0, len);
      i += len;
      continue;
    }
    const ch = text[i];
    if (ch === "\\" && (text[i + 1] === "$" || text[i + 1] === "\\")) {
      out += text.slice(i, i + 2);
      i += 2;
      continue;
    }
    if (ch === "`") {
      const ticks = rest.match(/^`+/)![0];
      const end = rest.indexOf(ticks, ticks.length);
      const len = end < 0 ? ticks.length : end + ticks.length;
      out += rest.slice(0, len);
      i += len;
      continue;
    }
    const display = rest.match(/^\$\$([\s\S]+?)\$\$/) ?? rest.match(/^\\\[([\s\S]+?)\\\]/);
    if (display) {
      out += emit(display[1], true, i);
      i += display[0].length;
      continue;
    }
    const inline = rest.match(/^\$(?!\s)((?:\\.|[^$\\\n]|\n(?!\s*\n))+?)(?<!\s)\$(?!\d)/) ??
      rest.match(/^\\\(([\s\S]+?)\\\)/);
    if (inline) {
      out += emit(inline[1], false, i);
      i += inline[0].length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

const TS_TOKEN = new RegExp(
  [
    String.raw`(\/\/[^\n]*|\/\*[\s\S]*?\*\/)`, // comment
    String.raw`("(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\x60(?:\\.|[^\x60\\])*\x60)`, // string
    String
      .raw`\b(as|async|await|break|case|catch|class|const|continue|default|do|else|export|extends|false|finally|for|from|function|if|import|in|instanceof|interface|let|new|null|of|return|switch|this|throw|true|try|type|typeof|undefined|var|void|while|yield)\b`,
    String.raw`\b(\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?n?)\b`, // number
  ].join("|"),
  "g",
);

/**
 * TypeScript source as HTML with comments, strings, keywords and numbers wrapped in spans for
 * colour; the text itself is unchanged (only escaped).
 * @example
 * ```ts
 * highlightTypeScript("const n = 1; // one");
 * ```
 */
export function highlightTypeScript(code: string): string {
  let html = "";
  let last = 0;
  for (const m of code.matchAll(TS_TOKEN)) {
    html += escapeHtml(code.slice(last, m.index));
    const kind = m[1] ? "c" : m[2] ? "s" : m[3] ? "k" : "n";
    html += `<span class="tok-${kind}">${escapeHtml(m[0])}</span>`;
    last = m.index + m[0].length;
  }
  return html + escapeHtml(code.slice(last));
}

function firstHeading(nb: Notebook): string | undefined {
  for (const c of nb.cells) {
    if (c.cell_type !== "markdown") continue;
    const m = joinSource(c.source).match(/^#{1,6}\s+(.+)$/m);
    if (m) return m[1].replace(/[$*_`]/g, "").trim();
  }
  return undefined;
}

/**
 * Escapes text for HTML.
 * @example
 * ```ts
 * escapeHtml("a < b"); // "a &lt; b"
 * ```
 */
export function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function stripAnsi(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
}

let katexCssCache: string | undefined;

/**
 * KaTeX's stylesheet with its fonts inlined as woff2 data: URLs (no network, no file paths).
 * @example
 * ```ts
 * katexCss().includes("data:font/woff2;base64,"); // true
 * ```
 */
export function katexCss(): string {
  if (katexCssCache) return katexCssCache;
  const require = createRequire(import.meta.url);
  const cssPath = require.resolve("katex/dist/katex.min.css");
  const dir = cssPath.slice(0, cssPath.lastIndexOf("/"));
  const css = Deno.readTextFileSync(cssPath);
  katexCssCache = css.replace(/src:([^;}]+)/g, (_, sources: string) => {
    const woff2 = sources.match(/url\(([^)]+\.woff2)\)/)?.[1];
    if (!woff2) return `src:${sources}`;
    const bytes = Deno.readFileSync(`${dir}/${woff2.replace(/^["']|["']$/g, "")}`);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return `src:url(data:font/woff2;base64,${btoa(binary)}) format("woff2")`;
  });
  return katexCssCache;
}

/**
 * Shrinks tables wider than the text column: first to their one-line width, down to 60 %,
 * then (if words still cannot fit) further, so a table never runs off the page and numbers
 * are never broken mid-digit. Runs once fonts are in, before Chromium prints.
 */
const FIT_TABLES_JS = `
document.fonts.ready.then(() => {
  for (const t of document.querySelectorAll("table")) {
    const avail = t.parentElement.clientWidth;
    t.style.width = "max-content";
    const natural = t.offsetWidth;
    t.style.width = "";
    if (natural <= avail) continue;
    let zoom = Math.max(0.6, avail / natural);
    t.style.zoom = String(zoom);
    if (t.offsetWidth * zoom > avail) t.style.zoom = String(zoom * avail / (t.offsetWidth * zoom));
  }
  document.body.dataset.laidOut = "true";
});
`;

/** The print style: A4, readable type, code and outputs that wrap, figures never split. */
const PRINT_CSS = `
@page { size: A4; margin: 16mm 15mm 18mm 15mm;
  @bottom-center { content: counter(page) " / " counter(pages); font: 9pt "DejaVu Sans", sans-serif; color: #777; } }
html { font: 10.5pt/1.45 "DejaVu Serif", Georgia, serif; color: #1a1a1a; }
body { margin: 0; }
main { max-width: 180mm; margin: 0 auto; }
h1, h2, h3, h4 { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; line-height: 1.25;
  break-after: avoid; page-break-after: avoid; }
h1 { font-size: 19pt; margin: 0 0 8pt; padding-bottom: 4pt; border-bottom: 1.5pt solid #333; }
h2 { font-size: 14pt; margin: 16pt 0 6pt; border-bottom: 0.5pt solid #bbb; padding-bottom: 2pt; }
h3 { font-size: 12pt; margin: 12pt 0 4pt; }
h4 { font-size: 10.5pt; margin: 10pt 0 4pt; }
p, li { orphans: 3; widows: 3; }
a { color: #1a4d8f; text-decoration: none; }
code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 8.6pt; }
:not(pre) > code { background: #f2f2f2; padding: 0 2pt; border-radius: 2pt; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.cell { margin: 6pt 0; }
.cell.code { margin: 9pt 0; }
.input { position: relative; break-after: avoid; page-break-after: avoid; }
.input .count { position: absolute; right: 4pt; top: 2pt;
  font: 7pt "DejaVu Sans Mono", monospace; color: #9aa5b1; }
pre.code { break-inside: avoid; background: #f5f7fa; border: 0.5pt solid #d8dee6; border-left: 2.5pt solid #7a9cc6;
  padding: 4pt 6pt; border-radius: 2pt; }
.tok-c { color: #6a737d; font-style: italic; }
.tok-s { color: #22863a; }
.tok-k { color: #8a3ab9; }
.tok-n { color: #b35900; }
.outputs { margin: 3pt 0 0 0; }
.output { margin: 3pt 0; }
pre.output { padding: 2pt 6pt; border-left: 2.5pt solid #e0e0e0; }
pre.stderr { background: #fff6f4; border-left-color: #e8b4a8; }
pre.error { background: #fdecea; border-left-color: #c0392b; color: #7a1c12; }
.output.missing { color: #a00; font-style: italic; }
figure { margin: 6pt 0; text-align: center; break-inside: avoid; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; }
.output.html { overflow-wrap: anywhere; }
.output.html img, .output.markdown img, .markdown img { max-width: 100%; }
table { border-collapse: collapse; margin: 6pt auto; font-size: 9pt; break-inside: auto; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
th, td { border-top: 0.5pt solid #ccc; border-bottom: 0.5pt solid #ccc; padding: 2.5pt 5pt;
  vertical-align: top; }
th { border-bottom: 1pt solid #555; background: #fafafa; font-family: "DejaVu Sans", sans-serif;
  font-size: 8.8pt; }
td[align="right"], th[align="right"] { font-variant-numeric: tabular-nums; }
.katex { font-size: 1.08em; }
.katex-display { margin: 6pt 0; break-inside: avoid; overflow-wrap: normal; }
.katex-display > .katex { white-space: normal; }
td .katex, th .katex { white-space: nowrap; }
blockquote { margin: 6pt 0; padding: 2pt 10pt; border-left: 2.5pt solid #ccc; color: #444; }
hr { border: none; border-top: 0.5pt solid #bbb; margin: 12pt 0; }
img { break-inside: avoid; }
.answer { border: 1.2pt solid #2f5d8a; border-radius: 3pt; padding: 2pt 9pt 4pt; margin: 8pt 0 12pt;
  background: #fbfdff; }
/* A caption stays with the table under it (a table taller than a page still splits by rows). */
.captioned { break-inside: avoid; page-break-inside: avoid; }
/* Consecutive transcripts read as separate blocks. */
.markdown pre + pre { margin-top: 8pt; border-top: 0.5pt dashed #c8c8c8; padding-top: 4pt; }
.math-error { color: #a00; }
`;
