/**
 * What the notebook tests read out of a notebook: its rich output bundles, and the KaTeX
 * warnings its math would raise in the PDF export.
 *
 * @example
 * ```ts
 * import { readNotebook } from "../lib/notebook/nbformat.ts";
 * const nb = await readNotebook("notebooks/question2.ipynb");
 * outputBundles(nb).length > 0 && katexWarnings(nb, "question2").length === 0;
 * ```
 * @module
 */
import { renderMarkdown } from "../lib/notebook/html.ts";
import { joinSource, type Notebook, type Output } from "../lib/notebook/nbformat.ts";

/**
 * The mime bundles of every `display_data` and `execute_result` output, in cell order.
 * @example
 * ```ts
 * import { readNotebook } from "../lib/notebook/nbformat.ts";
 * outputBundles(await readNotebook("notebooks/question1.ipynb"))[0]["text/plain"];
 * ```
 */
export function outputBundles(nb: Notebook): Record<string, unknown>[] {
  return nb.cells.flatMap((c) => c.cell_type === "code" ? c.outputs : []).flatMap((o: Output) =>
    o.output_type === "display_data" || o.output_type === "execute_result" ? [o.data] : []
  );
}

/**
 * KaTeX's complaints about the math of the Markdown cells and `text/markdown` outputs, as the
 * PDF export typesets them (empty when every formula renders).
 * @example
 * ```ts
 * import { readNotebook } from "../lib/notebook/nbformat.ts";
 * katexWarnings(await readNotebook("notebooks/question1.ipynb"), "question1"); // []
 * ```
 */
export function katexWarnings(nb: Notebook, label: string): string[] {
  const warnings: string[] = [];
  for (const cell of nb.cells) {
    if (cell.cell_type === "markdown") renderMarkdown(joinSource(cell.source), warnings, label);
  }
  for (const b of outputBundles(nb)) {
    if (b["text/markdown"]) renderMarkdown(joinSource(b["text/markdown"] as string), warnings);
  }
  return warnings;
}

/** A code cell for a test notebook: no outputs unless given, tags when given. */
export function codeCell(
  source: string,
  options: { tags?: string[]; outputs?: unknown[] } = {},
): Record<string, unknown> {
  return {
    cell_type: "code",
    execution_count: null,
    id: crypto.randomUUID().slice(0, 8),
    metadata: options.tags ? { tags: options.tags } : {},
    outputs: options.outputs ?? [],
    source,
  };
}

/** The text of an nbformat 4.5 notebook on the Deno kernel holding `cells`. */
export function denoNotebook(cells: readonly unknown[]): string {
  return JSON.stringify(
    {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: { kernelspec: { name: "deno", display_name: "Deno", language: "typescript" } },
      cells,
    },
    null,
    1,
  ) + "\n";
}
