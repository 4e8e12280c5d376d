/**
 * Plotly figures to static SVG, drawn by the real plotly.js (the pinned `plotly.js-dist-min`,
 * loaded from `node_modules`, no CDN) inside headless Chromium with `Plotly.toImage`.
 * The SVG is what the PDF shows (vector, drawn before printing starts, so printing never
 * races the drawing) and what the executor stores beside the Plotly JSON so a notebook reads
 * on GitHub without a kernel.
 *
 * @example
 * ```ts
 * import { plotlyToSvg } from "./plotly_svg.ts";
 * const [svg] = await plotlyToSvg([{ data: [{ type: "scatter", x: [1, 2], y: [3, 4] }] }]);
 * ```
 * @module
 */
import { ownedTempDir, releaseTemp } from "./processes.ts";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { dumpDom, findChromium } from "./chromium.ts";

/** A Plotly figure as stored in an `application/vnd.plotly.v1+json` output. */
export interface PlotlyJson {
  /** Traces. */
  data: unknown[];
  /** Layout. */
  layout?: Record<string, unknown>;
}

/** Options of {@linkcode plotlyToSvg}. */
export interface PlotlySvgOptions {
  /** Width of figures whose layout sets none (default 680 px, an A4 page's text width). */
  widthPx?: number;
  /** Height of figures whose layout sets none (default 420 px). */
  heightPx?: number;
  /** Chromium executable (default: {@linkcode findChromium}). */
  chrome?: string;
}

/**
 * The path of the pinned plotly.js bundle in `node_modules`.
 * @example
 * ```ts
 * plotlyBundlePath(); // ".../node_modules/.deno/plotly.js-dist-min@4.1.2/.../plotly.min.js"
 * ```
 */
export function plotlyBundlePath(): string {
  try {
    return createRequire(import.meta.url).resolve("plotly.js-dist-min");
  } catch {
    throw new Error(
      "plotly.js-dist-min is not in node_modules; run deno task setup (or deno install)",
    );
  }
}

/**
 * Renders each figure to an SVG document (one string per figure, same order). Throws if
 * Plotly fails on a figure or does not finish within the time budget.
 * @example
 * ```ts
 * const svgs = await plotlyToSvg([
 *   { data: [{ type: "bar", x: ["a", "b"], y: [1, 2] }], layout: { title: { text: "t" } } },
 * ]);
 * svgs[0].startsWith("<svg"); // true
 * ```
 */
export async function plotlyToSvg(
  figures: readonly PlotlyJson[],
  options: PlotlySvgOptions = {},
): Promise<string[]> {
  if (figures.length === 0) return [];
  const width = options.widthPx ?? 680;
  const height = options.heightPx ?? 420;
  const dir = await ownedTempDir("plotly-svg-");
  try {
    const page = `${dir}/figures.html`;
    await Deno.writeTextFile(page, drawingPage(figures, width, height));
    const dom = await dumpDom(options.chrome ?? findChromium(), pathToFileURL(page).href, {
      virtualTimeBudgetMs: 30_000 + 2_000 * figures.length,
    });
    return readSvgs(dom, figures.length).map((svg, i) => stableIds(svg, figures[i]));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    releaseTemp(dir);
  }
}

function drawingPage(figures: readonly PlotlyJson[], width: number, height: number): string {
  // `<` escaped so no string in a figure can close the script element.
  const json = JSON.stringify(figures).replaceAll("<", "\\u003c");
  return `<!doctype html>
<html><head><meta charset="utf-8">
<script src="${pathToFileURL(plotlyBundlePath()).href}"></script>
<script type="application/json" id="figures">${json}</script>
</head><body><script>
(async () => {
  const figures = JSON.parse(document.getElementById("figures").textContent);
  for (const [i, f] of figures.entries()) {
    const pre = document.createElement("pre");
    pre.id = "svg-" + i;
    try {
      const layout = f.layout ?? {};
      const url = await Plotly.toImage({ data: f.data, layout }, {
        format: "svg",
        width: layout.width ?? ${width},
        height: layout.height ?? ${height},
      });
      pre.textContent = decodeURIComponent(url.slice(url.indexOf(",") + 1));
    } catch (e) {
      pre.dataset.error = String(e && e.message || e);
    }
    document.body.append(pre);
  }
  document.body.dataset.drawn = String(figures.length);
})();
</script></body></html>`;
}

function readSvgs(dom: string, count: number): string[] {
  const drawn = dom.match(/<body[^>]*data-drawn="(\d+)"/)?.[1];
  if (drawn !== String(count)) {
    throw new Error(
      `Plotly did not finish drawing ${count} figure(s) in headless Chromium within the ` +
        `time budget (drew ${drawn ?? "none"}); is node_modules/plotly.js-dist-min complete?`,
    );
  }
  const svgs: string[] = [];
  for (const m of dom.matchAll(/<pre id="svg-(\d+)"( data-error="([^"]*)")?>([\s\S]*?)<\/pre>/g)) {
    if (m[2]) {
      throw new Error(`Plotly could not draw figure ${Number(m[1]) + 1}: ${unescape(m[3])}`);
    }
    svgs[Number(m[1])] = unescape(m[4]);
  }
  if (svgs.length !== count || svgs.some((s) => !s?.startsWith("<svg"))) {
    throw new Error(`Plotly drew ${svgs.length} of ${count} figure(s)`);
  }
  return svgs;
}

/**
 * Plotly names clip paths, defs and traces with random hex uids, so every re-run of an
 * unchanged notebook would rewrite its saved SVGs. Renaming them after a hash of the figure
 * and their order of appearance keeps re-runs byte-identical, while different figures inline
 * in one page still get different ids (their `url(#…)` references must not collide).
 */
function stableIds(svg: string, figure: PlotlyJson): string {
  let hash = 0x811c9dc5;
  for (const ch of JSON.stringify(figure)) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193);
  const stem = (hash >>> 0).toString(16).padStart(8, "0");
  const names = new Map<string, string>();
  return svg.replace(/(clip|defs-|topdefs-|legend|trace)([0-9a-f]{6})/g, (_, prefix, uid) => {
    if (!names.has(uid)) names.set(uid, `${stem}${names.size.toString(16)}`);
    return prefix + names.get(uid);
  });
}

function unescape(html: string): string {
  return html.replaceAll("&lt;", "<").replaceAll("&gt;", ">").replaceAll("&quot;", '"')
    .replaceAll("&#39;", "'").replaceAll("&nbsp;", "\u00a0").replaceAll("&amp;", "&");
}
