/**
 * Executes a notebook on the Deno kernel without losing outputs, and saves it with its
 * outputs.
 *
 * Why not `jupyter nbconvert --execute`: the Deno kernel (2.9) publishes a cell's `idle`
 * status before some of its stream, `display_data` and `execute_result` messages; those are
 * queued inside the kernel and take the parent id of whatever request is current *when they
 * are sent*. nbclient closes a cell at `idle`, so it drops them, and if the next cell has
 * already started they land in the wrong cell. Measured here: 83 of 360 messages of a
 * 30-cell run arrived after their cell's idle, and with back-to-back requests some carried
 * the next cell's id. Waiting for the idle of a follow-up `kernel_info` request is not enough
 * either (6 outputs of 40 cells still came after it): statuses do not pass through the output
 * queues.
 *
 * The fix: after each cell, a silent *sentinel* request prints a marker line and displays a
 * marker bundle. The kernel's output queues are first in, first out, so once both markers
 * have arrived every output the cell produced has arrived too; outputs that arrive carrying
 * the sentinel's id before its markers are the cell's late outputs and go back to the cell.
 * Only then does the next cell start, so no output can take a later cell's id.
 *
 * Errors that escape a cell — a timer callback that throws, a promise rejection nobody
 * handles — would otherwise vanish or hang a later cell. A prelude run before the first cell
 * records them with the cell that scheduled the timer (or was running when the rejection
 * surfaced); each sentinel reports what was recorded, and the run fails naming that cell.
 *
 * While it runs, the notebook is locked (`.<name>.lock` beside it, holding the pid), so a
 * second run of the same notebook fails at once; and it is saved only if the file on disk is
 * still the one that was read (size, mtime and content hash), so edits made meanwhile survive.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { executeNotebook } from "./execute.ts";
 * // In place by default; here into a scratch file, so the committed notebook stays as it is.
 * const dir = await Deno.makeTempDir();
 * const nb = await executeNotebook("notebooks/question2.ipynb", {
 *   outPath: `${dir}/question2.ipynb`,
 *   cellTimeoutMs: 300_000,
 * });
 * assertEquals(nb.cells.filter((c) => c.cell_type === "code" && c.outputs.length > 0).length > 0, true);
 * await Deno.remove(dir, { recursive: true });
 * ```
 * @module
 */
import {
  type CodeCell,
  joinSource,
  type Notebook,
  readNotebook,
  writeNotebook,
} from "./nbformat.ts";
import { CellOutputs, OUTPUT_MESSAGE_TYPES } from "./outputs.ts";
import { type KernelMessage, KernelSession } from "./kernel.ts";
import { basename, dirname, resolve } from "node:path";
import { ownTemp, processAlive, releaseTemp } from "./processes.ts";

/** The mime type of the sentinel's marker bundle; never saved into a notebook. */
export const MARKER_MIME = "application/x-notebook-executor-marker";

/** The global symbol under which the prelude keeps its recorder. */
const RECORDER = "notebook-executor";

/**
 * Deno code run before the first cell: records errors that escape cells (timer callbacks,
 * microtasks, unhandled rejections) with the index of the cell they belong to.
 * @example
 * ```ts
 * PRELUDE.includes("unhandledrejection"); // true
 * ```
 */
export const PRELUDE: string = `{
  const errors = [];
  let cell = -1;
  const record = (error, at) => errors.push({
    cell: at,
    name: String(error?.name ?? "Error"),
    message: String(error?.message ?? error),
    stack: String(error?.stack ?? ""),
  });
  globalThis.addEventListener("error", (e) => { e.preventDefault(); record(e.error ?? e.message, cell); });
  globalThis.addEventListener("unhandledrejection", (e) => { e.preventDefault(); record(e.reason, cell); });
  const wrap = (schedule) => function (fn, ...rest) {
    if (typeof fn !== "function") return schedule(fn, ...rest);
    const at = cell;
    return schedule(function (...args) {
      try { return fn.apply(this, args); } catch (error) { record(error, at); }
    }, ...rest);
  };
  globalThis.setTimeout = wrap(globalThis.setTimeout);
  globalThis.setInterval = wrap(globalThis.setInterval);
  globalThis.queueMicrotask = wrap(globalThis.queueMicrotask);
  Object.defineProperty(globalThis, Symbol.for(${JSON.stringify(RECORDER)}), {
    value: { setCell: (i) => { cell = i; }, take: () => errors.splice(0) },
  });
}`;

const recorder = `globalThis[Symbol.for(${JSON.stringify(RECORDER)})]`;

/** An error that escaped a cell, as the prelude recorded it. */
export interface EscapedError {
  /** Index of the cell it belongs to (-1: before the first). */
  cell: number;
  /** Error name. */
  name: string;
  /** Error message. */
  message: string;
  /** Stack, when there is one. */
  stack: string;
}

/** Options of {@linkcode executeNotebook}. */
export interface ExecuteOptions {
  /** Where to write the executed notebook (default: in place). */
  outPath?: string;
  /** Longest a single cell may run (default 10 minutes). */
  cellTimeoutMs?: number;
  /** Longest the kernel may take to start (default 60 s). */
  startupTimeoutMs?: number;
  /** Kernelspec name (default `deno`). */
  kernelName?: string;
  /** Python with `jupyter_client` (see `kernel.ts`). */
  python?: string;
  /** Called before each code cell runs. */
  onCell?: (progress: CellProgress) => void;
  /** Called on the executed notebook before it is written (e.g. to add static figures). */
  beforeWrite?: (nb: Notebook) => Promise<void>;
  /**
   * Cells carrying this tag run, but keep the outputs they were saved with (when they have
   * some): measured timings, which differ on every run, then change the notebook only when
   * asked. Unset: every cell takes its new outputs.
   */
  keepOutputsTagged?: string;
}

/** Progress of {@linkcode executeNotebook}. */
export interface CellProgress {
  /** Index of the cell in the notebook (0-based). */
  index: number;
  /** Number of cells in the notebook. */
  total: number;
  /** First non-empty line of the cell's source. */
  firstLine: string;
}

/** A cell that raised, timed out or killed the kernel. */
export class NotebookExecutionError extends Error {
  /** The notebook's path. */
  readonly notebook: string;
  /** Index of the failing cell (0-based, among all cells). */
  readonly cellIndex: number;
  /** Number of cells in the notebook. */
  readonly cellCount: number;
  /** First non-empty line of the failing cell. */
  readonly firstLine: string;
  /** Exception name (`Timeout` / `KernelDied` for those cases). */
  readonly ename: string;
  /** Exception message. */
  readonly evalue: string;
  /** Traceback lines from the kernel. */
  readonly traceback: string[];

  /**
   * Records where and how a notebook failed.
   * @example
   * ```ts
   * new NotebookExecutionError("q.ipynb", 2, 5, "throw new Error('x')", "Error", "x", []);
   * ```
   */
  constructor(
    notebook: string,
    cellIndex: number,
    cellCount: number,
    firstLine: string,
    ename: string,
    evalue: string,
    traceback: string[],
  ) {
    super(
      `${notebook}: cell ${cellIndex + 1} of ${cellCount} (${firstLine}) failed: ` +
        `${ename}: ${evalue}`,
    );
    this.name = "NotebookExecutionError";
    this.notebook = notebook;
    this.cellIndex = cellIndex;
    this.cellCount = cellCount;
    this.firstLine = firstLine;
    this.ename = ename;
    this.evalue = evalue;
    this.traceback = traceback;
  }
}

/**
 * Runs every code cell of the notebook at `path` on a fresh kernel (cwd = the notebook's
 * folder, `NO_COLOR=1`) and writes the notebook with outputs and execution counts
 * atomically. Nothing is written if a cell fails; the error names the notebook, the cell and
 * the exception.
 * @example
 * ```ts
 * import { assertRejects, assertStringIncludes } from "@std/assert";
 * const dir = await Deno.makeTempDir();
 * const error = await assertRejects(() =>
 *   executeNotebook("tests/fixtures/notebooks/failing.ipynb", {
 *     outPath: `${dir}/failing.ipynb`,
 *     onCell: (p) => console.log(`cell ${p.index + 1}/${p.total}: ${p.firstLine}`),
 *   }), NotebookExecutionError);
 * assertStringIncludes(error.message, "limit 3 exceeded");
 * // Nothing is written when a cell fails.
 * await assertRejects(() => Deno.stat(`${dir}/failing.ipynb`), Deno.errors.NotFound);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function executeNotebook(
  path: string,
  options: ExecuteOptions = {},
): Promise<Notebook> {
  const cellTimeoutMs = options.cellTimeoutMs ?? 600_000;
  if (!(cellTimeoutMs > 0 && cellTimeoutMs <= 2 ** 31 - 1)) {
    throw new RangeError(
      `cellTimeoutMs must be a number of milliseconds in (0, ${2 ** 31 - 1}], got ${cellTimeoutMs}`,
    );
  }
  const outPath = options.outPath ?? path;
  const unlock = await lockNotebook(outPath);
  try {
    const read = await fingerprint(path);
    const nb = await readNotebook(path);
    const kept = keptOutputs(nb, options.keepOutputsTagged);
    await run(path, nb, cellTimeoutMs, options);
    for (const [index, outputs] of kept) {
      const cell = nb.cells[index];
      if (cell.cell_type === "code") cell.outputs = outputs;
    }
    nb.metadata.kernelspec ??= { name: "deno", display_name: "Deno", language: "typescript" };
    if (nb.nbformat_minor >= 5) addMissingCellIds(nb);
    await options.beforeWrite?.(nb);
    const target = outPath === path ? read : await fingerprint(outPath);
    if (!sameFile(target, await fingerprint(outPath))) {
      throw new NotebookChangedError(outPath);
    }
    await writeNotebook(outPath, nb);
    return nb;
  } finally {
    await unlock();
  }
}

/** The saved outputs of the code cells tagged `tag` that have some, by cell index. */
function keptOutputs(nb: Notebook, tag: string | undefined): Map<number, CodeCell["outputs"]> {
  const kept = new Map<number, CodeCell["outputs"]>();
  if (tag === undefined) return kept;
  nb.cells.forEach((cell, i) => {
    const tags = cell.metadata?.tags;
    if (cell.cell_type === "code" && Array.isArray(tags) && tags.includes(tag)) {
      if (cell.outputs.length > 0) kept.set(i, structuredClone(cell.outputs));
    }
  });
  return kept;
}

/** The notebook on disk changed while it ran; saving would lose those edits. */
export class NotebookChangedError extends Error {
  /**
   * Names the notebook that changed.
   * @example
   * ```ts
   * new NotebookChangedError("notebooks/question1.ipynb").message;
   * ```
   */
  constructor(path: string) {
    super(
      `${path} changed on disk while it ran; not saving over it (your edits are kept, the ` +
        `executed copy is discarded); run again to execute the new version`,
    );
    this.name = "NotebookChangedError";
  }
}

/** What identifies a file's version: size, modification time and a hash of its bytes. */
interface Fingerprint {
  size: number;
  mtimeMs: number;
  sha256: string;
}

async function fingerprint(path: string): Promise<Fingerprint | undefined> {
  let bytes: Uint8Array, stat: Deno.FileInfo;
  try {
    [stat, bytes] = await Promise.all([Deno.stat(path), Deno.readFile(path)]);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return {
    size: stat.size,
    mtimeMs: stat.mtime?.getTime() ?? 0,
    sha256: [...digest].map((b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

function sameFile(a: Fingerprint | undefined, b: Fingerprint | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.sha256 === b.sha256;
}

/**
 * Takes the lock of a notebook (`.<name>.lock` beside it, holding this pid); a lock whose
 * holder is gone is taken over. Returns the release.
 * @throws {Error} naming the notebook and the pid that holds it.
 * @example
 * ```ts
 * const release = await lockNotebook("notebooks/question2.ipynb");
 * await release();
 * ```
 */
export async function lockNotebook(path: string): Promise<() => Promise<void>> {
  const lock = `${dirname(path)}/.${basename(path)}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await Deno.open(lock, { write: true, createNew: true });
      await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
      file.close();
      ownTemp(lock);
      return async () => {
        await Deno.remove(lock).catch(() => {});
        releaseTemp(lock);
      };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const holder = Number((await Deno.readTextFile(lock).catch(() => "")).trim());
      if (Number.isSafeInteger(holder) && holder > 0 && processAlive(holder)) {
        throw new Error(
          `${path} is being executed by another run (pid ${holder}, lock ${lock}); ` +
            `wait for it to finish`,
        );
      }
      // Its holder died without releasing it.
      await Deno.remove(lock).catch(() => {});
    }
  }
  throw new Error(`${path}: cannot take the lock ${lock}`);
}

async function run(
  path: string,
  nb: Notebook,
  cellTimeoutMs: number,
  options: ExecuteOptions,
): Promise<void> {
  const kernel = await KernelSession.start({
    cwd: resolve(dirname(path)),
    kernelName: options.kernelName,
    startupTimeoutMs: options.startupTimeoutMs,
    python: options.python,
  });
  const failAt = (index: number, ename: string, evalue: string, traceback: string[] = []) =>
    new NotebookExecutionError(
      path,
      index,
      nb.cells.length,
      index < 0 ? "(before the first cell)" : firstLineOf(joinSource(nb.cells[index].source)),
      ename,
      evalue,
      traceback,
    );
  const escaped = (errors: EscapedError[]) => {
    if (errors.length === 0) return;
    const e = errors[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : "";
    return failAt(
      e.cell,
      e.name,
      `${e.message} (escaped the cell: a timer callback or an unhandled rejection)${more}`,
      e.stack.split("\n"),
    );
  };
  try {
    await runQuietly(
      kernel,
      PRELUDE,
      cellTimeoutMs,
      () => failAt(-1, "PreludeFailed", "the error recorder did not start"),
    );
    for (const [index, cell] of nb.cells.entries()) {
      if (cell.cell_type !== "code") continue;
      const code = joinSource(cell.source);
      const firstLine = firstLineOf(code);
      if (code.trim() === "") {
        cell.outputs = [];
        cell.execution_count = null;
        continue;
      }
      options.onCell?.({ index, total: nb.cells.length, firstLine });
      const fail = (ename: string, evalue: string, traceback: string[] = []) =>
        failAt(index, ename, evalue, traceback);
      // The kernel runs requests in order: the index is set before the cell starts.
      kernel.execute(`${recorder}.setCell(${index});`, { silent: true, storeHistory: false });
      const late = await runCell(kernel, cell, code, cellTimeoutMs, fail);
      const error = escaped(late);
      if (error) throw error;
    }
    // Timers of the last cells get a moment to fire before the kernel goes.
    const error = escaped(
      await runQuietly(
        kernel,
        "await new Promise((r) => setTimeout(r, 200));",
        cellTimeoutMs,
        () => failAt(-1, "Timeout", "the final check did not finish"),
      ),
    );
    if (error) throw error;
  } finally {
    await kernel.close();
  }
}

/** Runs code that shows nothing (the prelude, a final check); returns escaped errors. */
async function runQuietly(
  kernel: KernelSession,
  code: string,
  timeoutMs: number,
  fail: () => Error,
): Promise<EscapedError[]> {
  const cell: CodeCell = {
    cell_type: "code",
    execution_count: null,
    metadata: {},
    outputs: [],
    source: code,
  };
  try {
    return await runCell(kernel, cell, code, timeoutMs, fail, { silent: true });
  } catch {
    throw fail();
  }
}

async function runCell(
  kernel: KernelSession,
  cell: CodeCell,
  code: string,
  timeoutMs: number,
  fail: (ename: string, evalue: string, traceback?: string[]) => Error,
  options: { silent?: boolean } = {},
): Promise<EscapedError[]> {
  const cellId = options.silent
    ? kernel.execute(code, { silent: true, storeHistory: false })
    : kernel.execute(code);
  const marker = `notebook-executor-marker-${crypto.randomUUID()}`;
  const collector = new CellCollector(cellId, marker);
  const deadline = Date.now() + timeoutMs;
  while (!collector.done) {
    const event = await kernel.next(deadline - Date.now());
    if (event.kind === "timeout") {
      throw fail("Timeout", `no result after ${timeoutMs / 1000} s`);
    }
    if (event.kind !== "message") {
      throw fail("KernelDied", `the kernel exited${"stderr" in event ? `: ${event.stderr}` : ""}`);
    }
    collector.accept(event.message);
    // The sentinel goes only after the cell's reply, so the cell's result is known first.
    if (collector.replied && collector.sentinelId === undefined) {
      collector.sentinelId = kernel.execute(sentinelCode(marker), {
        silent: true,
        storeHistory: false,
      });
    }
  }
  const reply = collector.reply!;
  cell.outputs = collector.outputs.list();
  cell.execution_count = (reply.execution_count as number | undefined) ?? null;
  if (reply.status !== "ok") {
    const shown = cell.outputs.find((o) => o.output_type === "error");
    // The Deno kernel answers a cell it cannot parse with a bare "Execution failed" and no
    // error output; Deno's own parser (via `deno fmt`) says what and where.
    const syntax = !shown && reply.evalue === "Execution failed"
      ? await syntaxError(code)
      : undefined;
    if (syntax) throw fail(syntax.ename, syntax.evalue, syntax.traceback);
    const ename = String(reply.ename ?? (shown?.output_type === "error" ? shown.ename : "Error"));
    const evalue = String(
      reply.evalue ?? (shown?.output_type === "error" ? shown.evalue : reply.status),
    );
    const traceback = (reply.traceback ??
      (shown?.output_type === "error" ? shown.traceback : [])) as string[];
    throw fail(ename, evalue, traceback);
  }
  return collector.escaped;
}

/**
 * Deno code for the sentinel: one marker line on stdout and one marker bundle through the
 * display path, the two queues the kernel's outputs travel through.
 * @example
 * ```ts
 * sentinelCode("m-1"); // 'console.log("m-1"); await Deno.jupyter.display(...)'
 * ```
 */
export function sentinelCode(marker: string): string {
  // Escaped errors first, on their own line, then the markers.
  return `{ const e = ${recorder}?.take() ?? []; ` +
    `if (e.length > 0) console.log(${
      JSON.stringify(`${marker} escaped `)
    } + JSON.stringify(e)); }\n` +
    `console.log(${JSON.stringify(marker)}); ` +
    `await Deno.jupyter.display({ ${JSON.stringify(MARKER_MIME)}: ${
      JSON.stringify(marker)
    } }, { raw: true });`;
}

/**
 * Attributes kernel messages to one cell: messages with the cell's id, plus outputs with the
 * sentinel's id that arrive before the sentinel's markers. Done when the cell has replied and
 * both markers and the sentinel's reply have arrived.
 * @example
 * ```ts
 * const c = new CellCollector("cell-1", "m");
 * c.accept({ channel: "shell", msg_type: "execute_reply", msg_id: "r", parent_msg_id: "cell-1",
 *   content: { status: "ok", execution_count: 1 } });
 * c.replied; // true
 * ```
 */
export class CellCollector {
  /** The cell's outputs so far. */
  readonly outputs: CellOutputs = new CellOutputs();
  /** The id of the sentinel request, once sent. */
  sentinelId: string | undefined;
  /** The cell's `execute_reply` content, once it arrived. */
  reply: Record<string, unknown> | undefined;
  /** Errors that escaped cells, as the sentinel reported them. */
  readonly escaped: EscapedError[] = [];
  #cellId: string;
  #markerLine: string;
  #escapedPrefix: string;
  #streamMarker = false;
  #displayMarker = false;
  #sentinelReplied = false;

  /**
   * Collects for the cell whose `execute_request` had id `cellId`; `marker` is the text the
   * sentinel will print and display.
   * @example
   * ```ts
   * new CellCollector("cell-msg-id", "marker-text");
   * ```
   */
  constructor(cellId: string, marker: string) {
    this.#cellId = cellId;
    this.#markerLine = `${marker}\n`;
    this.#escapedPrefix = `${marker} escaped `;
  }

  /** Whether the cell's `execute_reply` has arrived. */
  get replied(): boolean {
    return this.reply !== undefined;
  }

  /** Whether every output of the cell has provably arrived. */
  get done(): boolean {
    return this.replied && this.#sentinelReplied && this.#streamMarker && this.#displayMarker;
  }

  /**
   * Takes one kernel message into account.
   * @example
   * ```ts
   * const c = new CellCollector("cell-1", "m");
   * c.accept({ channel: "iopub", msg_type: "stream", msg_id: "s", parent_msg_id: "cell-1",
   *   content: { name: "stdout", text: "hi\n" } });
   * ```
   */
  accept(m: KernelMessage): void {
    if (m.channel === "shell") {
      if (m.msg_type !== "execute_reply") return;
      if (m.parent_msg_id === this.#cellId) this.reply = m.content;
      else if (this.sentinelId !== undefined && m.parent_msg_id === this.sentinelId) {
        this.#sentinelReplied = true;
      }
      return;
    }
    if (!OUTPUT_MESSAGE_TYPES.has(m.msg_type)) return;
    if (m.parent_msg_id === this.#cellId) {
      this.outputs.add(m.msg_type, m.content);
      return;
    }
    if (this.sentinelId === undefined || m.parent_msg_id !== this.sentinelId) return;
    if (m.msg_type === "stream") {
      const kept: string[] = [];
      for (const line of String(m.content.text).split(/(?<=\n)/)) {
        // A late output without a newline may share the marker's line: keep its head.
        const escapedAt = line.indexOf(this.#escapedPrefix);
        if (line.endsWith(this.#markerLine)) {
          this.#streamMarker = true;
          kept.push(line.slice(0, -this.#markerLine.length));
        } else if (escapedAt >= 0) {
          kept.push(line.slice(0, escapedAt));
          this.escaped.push(...JSON.parse(line.slice(escapedAt + this.#escapedPrefix.length)));
        } else kept.push(line);
      }
      const rest = kept.join("");
      if (rest) this.outputs.add("stream", { ...m.content, text: rest });
      return;
    }
    const data = m.content.data as Record<string, unknown> | undefined;
    if (m.msg_type === "display_data" && data?.[MARKER_MIME] !== undefined) {
      this.#displayMarker = true;
      return;
    }
    // Anything else with the sentinel's id is a late output of the cell.
    this.outputs.add(m.msg_type, m.content);
  }
}

/**
 * The syntax error in a cell's code as Deno's parser reports it, or undefined if it parses.
 * @example
 * ```ts
 * await syntaxError("const x = ;"); // { ename: "SyntaxError", evalue: "Expression expected (line 1, column 11)", ... }
 * ```
 */
export async function syntaxError(
  code: string,
): Promise<{ ename: string; evalue: string; traceback: string[] } | undefined> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=ts", "-"],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(code));
  await writer.close();
  const out = await child.output();
  if (out.success) return undefined;
  const lines = new TextDecoder().decode(out.stderr).split("\n");
  const head = lines[0].replace(/^error:\s*/, "").match(/^(\w*Error): (.*)$/);
  if (!head) return undefined;
  const at = lines.find((l) => /^\s+at .*:\d+:\d+$/.test(l))?.match(/:(\d+):(\d+)$/);
  const where = at ? ` (line ${at[1]}, column ${at[2]})` : "";
  const snippet = lines.slice(1).filter((l) => /^\s*\d*\s*\|/.test(l));
  return { ename: head[1], evalue: `${head[2]}${where}`, traceback: snippet };
}

function firstLineOf(code: string): string {
  const line = code.split("\n").find((l) => l.trim() !== "")?.trim() ?? "";
  return line.length > 60 ? `${line.slice(0, 57)}...` : line;
}

/** nbformat 4.5 requires cell ids; give missing ones stable, unique ids from their position. */
function addMissingCellIds(nb: Notebook): void {
  const taken = new Set(nb.cells.map((c) => c.id).filter((id) => id !== undefined));
  nb.cells.forEach((c, i) => {
    if (c.id !== undefined) return;
    let id = `cell-${i}`;
    for (let k = 1; taken.has(id); k++) id = `cell-${i}-${k}`;
    taken.add(id);
    c.id = id;
  });
}
