import {
  assert,
  assertEquals,
  assertGreaterOrEqual,
  assertMatch,
  assertNotMatch,
  assertStringIncludes,
} from "@std/assert";
import { executeNotebook } from "../lib/notebook/execute.ts";
import { exportPdf } from "../lib/notebook/pdf.ts";
import { plotlyToSvg } from "../lib/notebook/plotly_svg.ts";
import {
  extractMath,
  highlightTypeScript,
  notebookToHtml,
  renderMarkdown,
} from "../lib/notebook/html.ts";
import { joinSource, type Notebook, parseNotebook } from "../lib/notebook/nbformat.ts";
import { runScript, type ScriptRun } from "./run_script.ts";

const FIXTURES = new URL("./fixtures/notebooks/", import.meta.url).pathname;
const REPORT = new URL("../lib/cli/report.ts", import.meta.url).pathname;

async function tempWith(...names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "export-test-" });
  for (const n of names) await Deno.copyFile(`${FIXTURES}${n}`, `${dir}/${n}`);
  return dir;
}

async function tool(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  assert(out.success, `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

const pdfText = (pdf: string, ...pages: string[]) => tool("pdftotext", ...pages, pdf, "-");

async function report(...args: string[]) {
  return await reportIn(Deno.cwd(), ...args);
}

const reportIn = (cwd: string, ...args: string[]): Promise<ScriptRun> =>
  runScript(REPORT, args, cwd);

/** Math the fixture writes in TeX; each must come out as the glyph TeX defines for it. */
const TEX_GLYPHS: Record<string, string> = {
  "\\pi": "π",
  "\\beta": "β",
  "\\cdot": "⋅",
  "\\in": "∈",
  "\\le": "≤",
  "\\lVert": "∥",
  "\\times": "×",
  "\\top": "⊤",
};

Deno.test("export: typeset math, tables, stream text and the Plotly figure reach the PDF", async () => {
  const dir = await tempWith("export.ipynb");
  const nb = await executeNotebook(`${dir}/export.ipynb`);
  const pdf = `${dir}/export.pdf`;
  const { warnings, figures } = await exportPdf(nb, pdf);
  assertEquals(warnings, []);
  assertEquals(figures, 1);
  const raw = await pdfText(pdf);
  // Ligatures (fi, fl) come out of pdftotext as single glyphs; compare words after NFKC.
  const text = raw.normalize("NFKC");
  const source = await Deno.readTextFile(`${FIXTURES}export.ipynb`);
  for (const [tex, glyph] of Object.entries(TEX_GLYPHS)) {
    assert(source.includes(tex), `the fixture uses ${tex}`);
    assertStringIncludes(raw, glyph, `${tex} typeset as ${glyph}`);
  }
  assertNotMatch(text, /\\(mathbb|frac|mathrm|top|times|cdot|min)\b/, "raw TeX in the PDF");
  assertNotMatch(text, /\$[A-Za-z\\{]/, "unprocessed $…$ in the PDF");
  assertNotMatch(text, /application\/vnd\.plotly|"layout"|text\/markdown/, "raw mime bundle");
  assertStringIncludes(text, "stream line: tokens per second = 42");
  assertStringIncludes(text, "console.log(", "visible code cells show their source");
  assertNotMatch(text, /String\.raw/, "remove-input hides a cell's source");
  assertStringIncludes(text.replace(/\s/g, ""), "softmax(S)V");
  assertStringIncludes(text, "2,097,152");
  assertStringIncludes(text, "escaped dollar: $5.");
  const fonts = await tool("pdffonts", pdf);
  assertMatch(fonts, /KaTeX_AMS-Regular/, "\\mathbb drawn with KaTeX's blackboard font");
  assertMatch(fonts, /KaTeX_Math-Italic/);
  // Figure: Plotly's title, axis titles and tick labels are text in the PDF (a vector drawing,
  // no raster image), all on one page, so no page break cut the figure.
  assertEquals((await tool("pdfimages", "-list", pdf)).trim().split("\n").length, 2, "no images");
  const pages = Number((await tool("pdfinfo", pdf)).match(/Pages:\s+(\d+)/)![1]);
  const figurePages: number[] = [];
  for (let p = 1; p <= pages; p++) {
    const t = (await pdfText(pdf, "-f", String(p), "-l", String(p))).normalize("NFKC");
    const parts = ["Roofline of the fixture", "Arithmetic intensity (FLOP/byte)", "TFLOP/s"];
    const found = parts.filter((s) => t.includes(s));
    if (found.length > 0) {
      assertEquals(found, parts, `page ${p} holds only part of the figure`);
      figurePages.push(p);
    }
  }
  assertEquals(figurePages.length, 1, "the figure appears once");
});

Deno.test("report: executes, saves outputs and static figures, writes the PDF", async () => {
  const dir = await tempWith("export.ipynb");
  const out = `${dir}/pdfs`;
  const r = await report("export", "--notebooks", dir, "--out", out);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stderr, "export");
  const nb = parseNotebook(await Deno.readTextFile(`${dir}/export.ipynb`), "saved");
  const outputs = nb.cells.flatMap((c) => c.cell_type === "code" ? c.outputs : []);
  const figure = outputs.find((o) =>
    o.output_type !== "stream" && o.output_type !== "error" &&
    o.data["application/vnd.plotly.v1+json"] !== undefined
  );
  assert(figure && figure.output_type !== "stream" && figure.output_type !== "error");
  const svg = [figure.data["image/svg+xml"]].flat().join("");
  assertMatch(svg, /^<svg[\s\S]*Roofline of the fixture[\s\S]*<\/svg>$/);
  assert(outputs.some((o) => o.output_type === "stream"), "stream output saved");
  assertEquals([...Deno.readDirSync(out)].map((e) => e.name).sort(), ["appendix", "export.pdf"]);
  assertEquals([...Deno.readDirSync(`${out}/appendix`)].map((e) => e.name), ["export.pdf"]);
  const text = (await pdfText(`${out}/export.pdf`)).normalize("NFKC");
  assertStringIncludes(text, "tokens per second = 42");
  // The PDF reuses the drawing saved in the notebook.
  assertStringIncludes(text, "Roofline of the fixture");
});

Deno.test("report: a failing cell exits non-zero, names it, and keeps the old PDF", async () => {
  const dir = await tempWith("failing.ipynb");
  const out = `${dir}/pdfs`;
  await Deno.mkdir(out);
  const old = new TextEncoder().encode("%PDF-1.4 an older export\n%%EOF\n");
  await Deno.writeFile(`${out}/failing.pdf`, old);
  const before = await Deno.readTextFile(`${dir}/failing.ipynb`);
  // Relative folders, as `deno task report` uses them, resolved against the working directory.
  const [parent, name] = [dir.slice(0, dir.lastIndexOf("/")), dir.slice(dir.lastIndexOf("/") + 1)];
  const r = await reportIn(parent, "failing", "--notebooks", name, "--out", `${name}/pdfs`);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(r.stderr, `${name}/failing.ipynb`);
  assertStringIncludes(r.stderr, "cell 3 of 4");
  assertStringIncludes(r.stderr, "RangeError: limit 3 exceeded");
  assertEquals(await Deno.readFile(`${out}/failing.pdf`), old, "the old PDF is untouched");
  assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["failing.pdf"], "no partial file");
  assertEquals(await Deno.readTextFile(`${dir}/failing.ipynb`), before, "notebook untouched");
});

Deno.test("report: --no-execute exports the notebook as saved and leaves it alone", async () => {
  const dir = await tempWith("export.ipynb", "failing.ipynb");
  const before = await Deno.readTextFile(`${dir}/failing.ipynb`);
  const r = await report("failing", "--no-execute", "--notebooks", dir, "--out", dir);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(await pdfText(`${dir}/failing.pdf`), "A notebook whose third cell fails");
  assertEquals(await Deno.readTextFile(`${dir}/failing.ipynb`), before);
});

Deno.test("report: bad input is refused with exit 2, naming the value", async () => {
  const dir = await tempWith("failing.ipynb");
  const missing = await report("question9", "--notebooks", dir, "--out", dir);
  assertEquals(missing.code, 2);
  assertStringIncludes(missing.stderr, `${dir}/question9.ipynb does not exist`);
  assertStringIncludes(missing.stderr, "failing");
  const timeout = await report("--cell-timeout", "soon", "--notebooks", dir);
  assertEquals(timeout.code, 2);
  assertStringIncludes(
    timeout.stderr,
    '--cell-timeout must be a number in (0, 2147483], got "soon"',
  );
  const flag = await report("--colour");
  assertEquals(flag.code, 2);
  assertStringIncludes(flag.stderr, "--colour");
  const none = await report("--notebooks", dir, "--out", dir);
  assertEquals(none.code, 1, "no question notebooks in the folder");
  assertStringIncludes(none.stderr, "skipping question1");
});

Deno.test("report: without Chromium it says what to install", async () => {
  const dir = await tempWith("failing.ipynb");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", REPORT, "failing", "--notebooks", dir, "--out", dir],
    env: { CHROME_PATH: `${dir}/no-such-chrome` },
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  const stderr = new TextDecoder().decode(out.stderr);
  assertStringIncludes(stderr, "no-such-chrome");
  assertStringIncludes(stderr, "apt-get install chromium");
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["failing.ipynb"]);
});

Deno.test("report: without Jupyter's client it says what to install", async () => {
  const dir = await tempWith("failing.ipynb");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", REPORT, "failing", "--notebooks", dir, "--out", dir],
    env: { NOTEBOOK_PYTHON: `${dir}/no-such-python` },
    stderr: "piped",
  }).output();
  assertEquals(out.code, 2);
  const stderr = new TextDecoder().decode(out.stderr);
  assertStringIncludes(stderr, "no-such-python");
  assertStringIncludes(stderr, "apt-get install python3-nbclient");
  assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["failing.ipynb"]);
});

Deno.test("extractMath: math spans, not code, escaped dollars or prices", () => {
  const seen: string[] = [];
  const out = extractMath(
    "a $x_1$ b `$c$` $$\\frac{1}{2}$$ \\$5 and $3 or $4\n```\n$z$\n```\n\\(y\\) \\[w\\]",
    (tex, display) => {
      seen.push(`${display ? "D" : "I"}:${tex}`);
      return "#";
    },
  );
  assertEquals(seen, ["I:x_1", "D:\\frac{1}{2}", "I:y", "D:w"]);
  assertEquals(out, "a # b `$c$` # \\$5 and $3 or $4\n```\n$z$\n```\n# #");
});

Deno.test("renderMarkdown: math in a GFM table is typeset, `\\|` in a row is a bar", () => {
  const warnings: string[] = [];
  const html = renderMarkdown(
    "| a | b |\n|---|---|\n| $\\mathbb{R}^d$ | $\\lvert x \\rvert + \\|y\\|$ |",
    warnings,
  );
  assertEquals(warnings, []);
  assertEquals((html.match(/<td>/g) ?? []).length, 2, "still two cells");
  assertNotMatch(html, /\\mathbb|\$/);
  assertStringIncludes(html, "mathbb");
  const bad = renderMarkdown("$\\frac{1}{$", warnings);
  assertEquals(warnings.length, 1, "malformed math is reported");
  assertStringIncludes(warnings[0], "\\frac{1}{");
  assertStringIncludes(bad, "math-error");
});

Deno.test("notebookToHtml: outputs without a printable mime never dump their JSON", () => {
  const nb: Notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {},
    cells: [{
      cell_type: "code",
      metadata: {},
      source: "x",
      execution_count: 1,
      outputs: [
        {
          output_type: "display_data",
          data: { "application/x-custom": { secret: 42 } },
          metadata: {},
        },
        {
          output_type: "display_data",
          data: { "application/vnd.plotly.v1+json": { data: [] } },
          metadata: {},
        },
      ],
    }],
  };
  const { html, warnings } = notebookToHtml(nb);
  assertNotMatch(html, /secret|"data"/);
  assertGreaterOrEqual(warnings.length, 2);
  assertStringIncludes(warnings.join("\n"), "application/x-custom");
});

Deno.test("highlightTypeScript: text unchanged, tokens classified", async () => {
  const unhtml = (h: string) =>
    h.replace(/<[^>]+>/g, "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
      .replaceAll("&quot;", '"').replaceAll("&amp;", "&");
  for (const entry of Deno.readDirSync(FIXTURES)) {
    const nb = parseNotebook(await Deno.readTextFile(`${FIXTURES}${entry.name}`), entry.name);
    for (const c of nb.cells) {
      const code = joinSource(c.source);
      assertEquals(unhtml(highlightTypeScript(code)), code, `${entry.name}: text changed`);
    }
  }
  const spans = (code: string) =>
    [...highlightTypeScript(code).matchAll(/<span class="tok-(\w)">([^<]*)<\/span>/g)].map((m) =>
      `${m[1]}:${unhtml(m[2])}`
    );
  assertEquals(spans('const url = "http://x"; // say "hi" 42'), [
    "k:const",
    's:"http://x"',
    'c:// say "hi" 42',
  ]);
  assertEquals(spans("await f(1.5e3, `a ${b} // c`) /* 7 */"), [
    "k:await",
    "n:1.5e3",
    "s:`a ${b} // c`",
    "c:/* 7 */",
  ]);
  assertEquals(spans("x<y && z > 'it\\'s'"), ["s:'it\\'s'"]);
});

Deno.test("static SVGs: a redraw is byte-identical, and two figures never share an id", async () => {
  const figures = [
    { data: [{ type: "scatter", x: [1, 2], y: [3, 4] }], layout: { title: { text: "one" } } },
    { data: [{ type: "bar", x: [1, 2], y: [4, 3] }], layout: { title: { text: "two" } } },
  ];
  const [first, again] = [await plotlyToSvg(figures), await plotlyToSvg(figures)];
  assertEquals(again, first, "saved notebooks do not change when nothing did");
  const ids = first.map((svg) => new Set([...svg.matchAll(/ id="([^"]+)"/g)].map((m) => m[1])));
  assertGreaterOrEqual(ids[0].size, 3);
  assertEquals([...ids[0]].filter((id) => ids[1].has(id)), [], "ids shared by both figures");
});
