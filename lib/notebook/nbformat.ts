/**
 * The Jupyter notebook file format (nbformat 4): types, reading with validation, and writing
 * the way Jupyter does (multi-line strings as lists of lines, sorted keys, one-space indent),
 * atomically, so a notebook on disk is always either the old one or the complete new one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { readNotebook, writeNotebook } from "./nbformat.ts";
 * const nb = await readNotebook("notebooks/question1.ipynb");
 * const dir = await Deno.makeTempDir();
 * await writeNotebook(`${dir}/question1.ipynb`, nb);
 * // Jupyter's own layout: a notebook read and written back is the same bytes.
 * assertEquals(
 *   await Deno.readTextFile(`${dir}/question1.ipynb`),
 *   await Deno.readTextFile("notebooks/question1.ipynb"),
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */

import { ownTemp, partialPath, releaseTemp } from "./processes.ts";

/** A multi-line string as nbformat stores it: one string, or a list of lines. */
export type MultilineString = string | string[];

/** A mime bundle in a notebook output: mime type -> text or JSON. */
export type OutputData = Record<string, unknown>;

/** Text written to stdout or stderr. */
export interface StreamOutput {
  /** Output kind. */
  output_type: "stream";
  /** `stdout` or `stderr`. */
  name: string;
  /** The text. */
  text: MultilineString;
}

/** A rich value shown by `display`. */
export interface DisplayDataOutput {
  /** Output kind. */
  output_type: "display_data";
  /** Mime bundle. */
  data: OutputData;
  /** Per-mime metadata. */
  metadata: Record<string, unknown>;
}

/** The value of a cell's last expression. */
export interface ExecuteResultOutput {
  /** Output kind. */
  output_type: "execute_result";
  /** The cell's execution count. */
  execution_count: number | null;
  /** Mime bundle. */
  data: OutputData;
  /** Per-mime metadata. */
  metadata: Record<string, unknown>;
}

/** An exception raised by a cell. */
export interface ErrorOutput {
  /** Output kind. */
  output_type: "error";
  /** Exception name. */
  ename: string;
  /** Exception message. */
  evalue: string;
  /** Traceback lines. */
  traceback: string[];
}

/** Any cell output. */
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

/** A code cell. */
export interface CodeCell {
  /** Cell kind. */
  cell_type: "code";
  /** Cell id (nbformat 4.5+). */
  id?: string;
  /** Source code. */
  source: MultilineString;
  /** Cell metadata. */
  metadata: Record<string, unknown>;
  /** Outputs of the last run. */
  outputs: Output[];
  /** Execution count of the last run. */
  execution_count: number | null;
}

/** A Markdown or raw cell. */
export interface TextCell {
  /** Cell kind. */
  cell_type: "markdown" | "raw";
  /** Cell id (nbformat 4.5+). */
  id?: string;
  /** Text. */
  source: MultilineString;
  /** Cell metadata. */
  metadata: Record<string, unknown>;
  /** Attached files (images pasted into Markdown). */
  attachments?: Record<string, OutputData>;
}

/** Any cell. */
export type Cell = CodeCell | TextCell;

/** A notebook (nbformat 4). */
export interface Notebook {
  /** Major format version; always 4. */
  nbformat: 4;
  /** Minor format version. */
  nbformat_minor: number;
  /** Notebook metadata (kernelspec, language_info, ...). */
  metadata: Record<string, unknown>;
  /** The cells, in order. */
  cells: Cell[];
}

/**
 * Joins a multi-line string into one string.
 * @example
 * ```ts
 * joinSource(["a\n", "b"]); // "a\nb"
 * ```
 */
export function joinSource(s: MultilineString): string {
  return Array.isArray(s) ? s.join("") : s;
}

/**
 * Splits text into lines that keep their `\n`, as Jupyter stores multi-line strings.
 * @example
 * ```ts
 * splitLines("a\nb\n"); // ["a\n", "b\n"]
 * ```
 */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

/**
 * Parses notebook JSON and checks that it is nbformat 4 with well-formed cells.
 * @example
 * ```ts
 * parseNotebook('{"nbformat":4,"nbformat_minor":5,"metadata":{},"cells":[]}', "x.ipynb");
 * ```
 */
export function parseNotebook(json: string, name: string): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(json);
  } catch (e) {
    throw new Error(`${name}: not valid JSON (${(e as Error).message})`);
  }
  const o = nb as Partial<Notebook>;
  if (typeof o !== "object" || o === null || o.nbformat !== 4) {
    throw new Error(
      `${name}: nbformat ${JSON.stringify(o?.nbformat)} is not supported; allowed: 4`,
    );
  }
  if (!Array.isArray(o.cells)) throw new Error(`${name}: "cells" must be an array`);
  o.cells.forEach((c, i) => {
    if (!["code", "markdown", "raw"].includes(c?.cell_type)) {
      throw new Error(
        `${name}: cell ${i} has cell_type ${
          JSON.stringify(c?.cell_type)
        }; allowed: code, markdown, raw`,
      );
    }
    if (typeof c.source !== "string" && !Array.isArray(c.source)) {
      throw new Error(`${name}: cell ${i} has no source`);
    }
    c.metadata ??= {};
    if (c.cell_type === "code") {
      c.outputs ??= [];
      c.execution_count ??= null;
    }
  });
  return {
    nbformat: 4,
    nbformat_minor: o.nbformat_minor ?? 5,
    metadata: o.metadata ?? {},
    cells: o.cells,
  };
}

/**
 * Reads and validates a notebook file.
 * @example
 * ```ts
 * const nb = await readNotebook("notebooks/question1.ipynb");
 * nb.cells.length;
 * ```
 */
export async function readNotebook(path: string): Promise<Notebook> {
  return parseNotebook(await Deno.readTextFile(path), path);
}

/**
 * Serializes a notebook as Jupyter does: text as lists of lines (git diffs stay per line),
 * JSON mime types left as objects, keys sorted, one-space indent, trailing newline.
 * @example
 * ```ts
 * serializeNotebook({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: [] });
 * ```
 */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((c) => {
    const cell: Record<string, unknown> = { ...c, source: splitLines(joinSource(c.source)) };
    if (c.cell_type === "code") cell.outputs = c.outputs.map(linesInOutput);
    return cell;
  });
  return JSON.stringify(sortKeys({ ...nb, cells }), null, 1) + "\n";
}

function linesInOutput(o: Output): Output {
  if (o.output_type === "stream") return { ...o, text: splitLines(joinSource(o.text)) };
  if (o.output_type === "error") return o;
  const data: OutputData = {};
  for (const [mime, v] of Object.entries(o.data)) {
    data[mime] = typeof v === "string" && !isJsonMime(mime) ? splitLines(v) : v;
  }
  return { ...o, data };
}

/**
 * Whether nbformat keeps this mime type's value as JSON rather than text.
 * @example
 * ```ts
 * isJsonMime("application/vnd.plotly.v1+json"); // true
 * ```
 */
export function isJsonMime(mime: string): boolean {
  return mime === "application/json" || mime.endsWith("+json");
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(
    Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
  );
}

/**
 * Writes a file atomically: the bytes go to a temporary file beside `path`, which is then
 * renamed over it, so readers never see a partial file.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const path = `${await Deno.makeTempDir()}/x.txt`;
 * await writeFileAtomic(path, new TextEncoder().encode("hi"));
 * assertEquals(await Deno.readTextFile(path), "hi");
 * ```
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  // Named with the pid, so a later run can sweep what a killed one left.
  const tmp = partialPath(path);
  ownTemp(tmp);
  try {
    await Deno.writeFile(tmp, bytes);
    // A temporary file is private (0600); keep the mode of the file it replaces.
    const mode = await Deno.stat(path).then((s) => s.mode ?? 0o644, () => 0o644);
    await Deno.chmod(tmp, mode & 0o777);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  } finally {
    releaseTemp(tmp);
  }
}

/**
 * Writes a notebook atomically in Jupyter's layout.
 * @example
 * ```ts
 * const nb = await readNotebook("notebooks/question1.ipynb");
 * const dir = await Deno.makeTempDir();
 * await writeNotebook(`${dir}/question1.ipynb`, nb);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeNotebook(path: string, nb: Notebook): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(serializeNotebook(nb)));
}
