/**
 * What every notebook shows, as Jupyter mime bundles: tables (Markdown with math), Plotly
 * figures and Markdown text. A value returned by a notebook cell, or passed to
 * `Deno.jupyter.display`, is drawn by Jupyter, VS Code and the PDF export from the same bundle.
 *
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { JUPYTER_DISPLAY, table } from "./mod.ts";
 * const t = table([{ key: "op", header: "Op" }, { key: "ai", header: "$\\mathrm{AI}$" }], [
 *   { op: "Q = xW^Q", ai: 2048 },
 * ]);
 * assertStringIncludes(String(t[JUPYTER_DISPLAY]()["text/markdown"]), "| Q = xW^Q |");
 * ```
 * @module
 */

/** The symbol through which the Deno kernel asks a value for its mime bundle. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/** A mime bundle: mime type -> content. */
export type MimeBundle = Record<string, unknown>;

/** A value the Deno Jupyter kernel displays through its mime bundle. */
export interface Displayable {
  /** The bundle Jupyter renders. */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** The Plotly mime type that Jupyter, VS Code and the PDF export render. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/**
 * Wraps a mime bundle so a notebook cell can return it.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const shown = display({ "text/plain": "hi" });
 * assertEquals(shown[JUPYTER_DISPLAY](), { "text/plain": "hi" });
 * ```
 */
export function display(bundle: MimeBundle): Displayable {
  return { [JUPYTER_DISPLAY]: () => bundle };
}

/**
 * Markdown (with `$…$` / `$$…$$` math) to show as a cell output.
 * @example
 * ```ts
 * markdown("Intensity $= \\frac{2MNK}{2(MK+KN+MN)}$");
 * ```
 */
export function markdown(text: string): Displayable {
  return display({ "text/markdown": text, "text/plain": text });
}

/** One column of a {@linkcode table}. */
export interface Column<Row> {
  /** Field of the row shown in this column, or a function computing the cell. */
  key: keyof Row | ((row: Row) => Cell);
  /** Header text; may contain `$…$` math. */
  header: string;
  /** Alignment; numbers default to right, text to left. */
  align?: "left" | "right" | "center";
}

/** A table cell: text (may contain `$…$` math), a number, or nothing. */
export type Cell = string | number | null | undefined;

/** Options of {@linkcode table}. */
export interface TableOptions {
  /** Shown above the table, in Markdown. */
  caption?: string;
  /** Digits after the decimal point for non-integer numbers (default 4). */
  digits?: number;
}

/**
 * A table as a Markdown (GFM) mime bundle with a plain-text fallback.
 * @example
 * ```ts
 * table([{ key: "n", header: "n" }], [{ n: 1 }, { n: 2 }], { caption: "Two rows" });
 * ```
 */
export function table<Row>(
  columns: readonly Column<Row>[],
  rows: readonly Row[],
  options: TableOptions = {},
): Displayable {
  const digits = options.digits ?? 4;
  const cellOf = (row: Row, c: Column<Row>): Cell =>
    typeof c.key === "function" ? c.key(row) : row[c.key] as Cell;
  const format = (v: Cell): string =>
    v === null || v === undefined
      ? ""
      : typeof v === "number"
      ? formatNumber(v, digits)
      : v.replaceAll("|", "\\|").replaceAll("\n", " ");
  const cells = rows.map((r) => columns.map((c) => format(cellOf(r, c))));
  const aligns = columns.map((c) =>
    c.align ?? (rows.length > 0 && typeof cellOf(rows[0], c) === "number" ? "right" : "left")
  );
  const rule = aligns.map((a) => a === "right" ? "---:" : a === "center" ? ":---:" : "---");
  const line = (xs: string[]) => `| ${xs.join(" | ")} |`;
  const md = [
    ...(options.caption ? [options.caption, ""] : []),
    line(columns.map((c) => c.header)),
    line(rule),
    ...cells.map(line),
  ].join("\n");
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => row[i].length))
  );
  const pad = (s: string, i: number) =>
    aligns[i] === "right" ? s.padStart(widths[i]) : s.padEnd(widths[i]);
  const plain = [
    ...(options.caption ? [options.caption] : []),
    columns.map((c, i) => pad(c.header, i)).join("  "),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map((row) => row.map(pad).join("  ")),
  ].join("\n");
  return display({ "text/markdown": md, "text/plain": plain });
}

/**
 * A number for a table: integers with thousands separators, others with `digits` decimals
 * (scientific notation when very large or small).
 * @example
 * ```ts
 * formatNumber(1234567); // "1,234,567"
 * formatNumber(0.5); // "0.5000"
 * ```
 */
export function formatNumber(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e9 || a < 1e-3)) return v.toExponential(digits - 1);
  return v.toFixed(digits);
}

/** A Plotly figure: traces and layout as Plotly's JSON schema defines them. */
export interface PlotlyFigure {
  /** Plotly traces. */
  data: Record<string, unknown>[];
  /** Plotly layout. */
  layout?: Record<string, unknown>;
}

/**
 * A Plotly figure as a mime bundle (`application/vnd.plotly.v1+json`), rendered inline by
 * Jupyter and VS Code and drawn by the PDF export; the plain-text fallback names it.
 * @example
 * ```ts
 * plot({ data: [{ type: "scatter", x: [1, 2], y: [3, 4] }], layout: { title: { text: "t" } } });
 * ```
 */
export function plot(figure: PlotlyFigure): Displayable {
  const title = (figure.layout?.title as { text?: string } | undefined)?.text ?? "figure";
  return display({
    [PLOTLY_MIME]: { data: figure.data, layout: figure.layout ?? {} },
    "text/plain": `[Plotly figure: ${title}]`,
  });
}
