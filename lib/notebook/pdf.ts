/**
 * A notebook to PDF: Plotly figures drawn to SVG first, the page rendered by `html.ts`, then
 * printed by headless Chromium. The PDF is written beside its target and renamed over it only
 * once complete, so an existing PDF is replaced by a whole new one or not at all.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { exportPdf } from "./pdf.ts";
 * import { readNotebook } from "./nbformat.ts";
 * const nb = await readNotebook("notebooks/question2.ipynb");
 * const dir = await Deno.makeTempDir();
 * const { warnings } = await exportPdf(nb, `${dir}/question2.pdf`);
 * assertEquals(warnings, []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import { pathToFileURL } from "node:url";
import { findChromium, printToPdf } from "./chromium.ts";
import { notebookToHtml, PLOTLY_MIME, plotlyBundles, type Rendering } from "./html.ts";
import type { Notebook } from "./nbformat.ts";
import { type PlotlyJson, plotlyToSvg } from "./plotly_svg.ts";
import { ownedTempDir, ownTemp, partialPath, releaseTemp } from "./processes.ts";

/** Options of {@linkcode exportPdf}. */
export interface PdfOptions {
  /** Chromium executable (default: `findChromium()`). */
  chrome?: string;
  /** Page title (default: the notebook's first heading). */
  title?: string;
  /** Called as each step starts (for progress display). */
  onStep?: (step: "figures" | "html" | "print") => void;
  /**
   * Which cells are printed.
   * @default {"full"}
   */
  rendering?: Rendering;
}

/** What {@linkcode exportPdf} made. */
export interface PdfResult {
  /** Problems that did not stop the export (math KaTeX rejected, unprintable outputs). */
  warnings: string[];
  /** Number of Plotly figures in the PDF. */
  figures: number;
}

/**
 * Exports a notebook (with its saved outputs) to a PDF at `pdfPath`.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { readNotebook } from "./nbformat.ts";
 * const dir = await Deno.makeTempDir();
 * const { figures } = await exportPdf(await readNotebook("notebooks/question2.ipynb"), `${dir}/q2.pdf`);
 * assert(figures >= 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportPdf(
  nb: Notebook,
  pdfPath: string,
  options: PdfOptions = {},
): Promise<PdfResult> {
  const chrome = options.chrome ?? findChromium();
  options.onStep?.("figures");
  const rendering = options.rendering ?? "full";
  const figures = plotlyBundles(nb, rendering);
  // Figures saved with their drawing (by the report's executor) are not drawn again.
  const plotlySvgs = await plotlyToSvg(
    figures.filter((b) => b["image/svg+xml"] === undefined).map((b) =>
      b[PLOTLY_MIME] as PlotlyJson
    ),
    { chrome },
  );
  options.onStep?.("html");
  const { html, warnings } = notebookToHtml(nb, { title: options.title, plotlySvgs, rendering });
  options.onStep?.("print");
  const work = await ownedTempDir("notebook-pdf-");
  const partial = partialPath(pdfPath);
  ownTemp(partial);
  try {
    const page = `${work}/notebook.html`;
    await Deno.writeTextFile(page, html);
    await printToPdf(chrome, pathToFileURL(page).href, partial);
    await Deno.rename(partial, pdfPath);
  } finally {
    await Deno.remove(partial).catch(() => {});
    releaseTemp(partial);
    await Deno.remove(work, { recursive: true }).catch(() => {});
    releaseTemp(work);
  }
  return { warnings, figures: figures.length };
}

/**
 * Adds a static `image/svg+xml` drawing beside every Plotly output (the Plotly JSON stays),
 * so the notebook shows its figures where no Plotly renderer runs, e.g. on GitHub.
 * Returns the number of figures drawn.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { readNotebook } from "./nbformat.ts";
 * const nb = await readNotebook("notebooks/question1.ipynb");
 * assert(await addStaticFigures(nb) > 0);
 * ```
 */
export async function addStaticFigures(
  nb: Notebook,
  options: { chrome?: string } = {},
): Promise<number> {
  const bundles = nb.cells.flatMap((c) =>
    c.cell_type === "code"
      ? c.outputs.flatMap((o) =>
        (o.output_type === "display_data" || o.output_type === "execute_result") &&
          o.data[PLOTLY_MIME] !== undefined
          ? [o.data]
          : []
      )
      : []
  );
  const svgs = await plotlyToSvg(
    bundles.map((b) => b[PLOTLY_MIME] as PlotlyJson),
    { chrome: options.chrome },
  );
  bundles.forEach((b, i) => b["image/svg+xml"] = svgs[i]);
  return bundles.length;
}
