/**
 * `deno task report`: executes each question notebook on the Deno kernel (saving it in place
 * with its outputs and static drawings of its figures) and exports it to `out/<name>.pdf`.
 *
 * ```
 * deno task report                      # question1, question2, question3
 * deno task report question2            # only some
 * deno task report --no-execute         # export the notebooks as saved
 * deno task report --out DIR --notebooks DIR --cell-timeout 900
 * deno task report --refresh-timings    # also replace the saved timings (cells tagged `timing`)
 * ```
 *
 * Each notebook gives two PDFs: `out/<name>.pdf`, the submission (the cells tagged `answer`,
 * boxed, then those tagged `submission`; no code), and `out/appendix/<name>.pdf` with every cell
 * and its code. Cells tagged `timing` run but keep their saved outputs unless
 * `--refresh-timings` is given, so the main job leaves the repository as it found it.
 *
 * A failing cell names the notebook, the cell and the error, leaves no PDF for that notebook
 * (an older PDF stays untouched) and makes the command exit non-zero. An interrupt (Ctrl-C,
 * SIGTERM, SIGHUP, or the death of `deno task`) ends Chromium and the kernel, removes
 * temporary folders and partial files, and leaves every committed file as it was; what a
 * killed run left is swept by the next.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { main } from "./report.ts";
 * assertEquals(await main(["--cell-timeout", "soon"]), 2);
 * ```
 * @module
 */
import { executeNotebook, NotebookExecutionError } from "../notebook/execute.ts";
import { readNotebook } from "../notebook/nbformat.ts";
import { addStaticFigures, exportPdf } from "../notebook/pdf.ts";
import { findChromium } from "../notebook/chromium.ts";
import { defaultPython } from "../notebook/kernel.ts";
import { guardProcess, sweepReportLeftovers } from "../notebook/processes.ts";
import { decimal, flag, parseFlags, runCli, switchFlag, text, usage, UsageError } from "./args.ts";

/** Cells carrying this tag hold measured timings (see `--refresh-timings`). */
export const TIMING_TAG = "timing";

/** The notebooks the report covers, in order. */
export const QUESTION_NOTEBOOKS: readonly string[] = ["question1", "question2", "question3"];

/** The longest cell timeout: timers take at most 2³¹ − 1 ms. */
const MAX_CELL_TIMEOUT_S = Math.floor((2 ** 31 - 1) / 1000);

/** The command line of `deno task report`. */
export const REPORT_CLI = {
  name: "report",
  summary: `Executes notebooks and exports each to a PDF (default: ${
    QUESTION_NOTEBOOKS.join(", ")
  }).`,
  positionals: "[NAME...]",
  flags: {
    "no-execute": switchFlag("export the notebooks as saved, without running them"),
    out: flag({
      value: text("a folder"),
      default: "out",
      help: "where the PDFs go",
      valueName: "DIR",
    }),
    notebooks: flag({
      value: text("a folder"),
      default: "notebooks",
      help: "where the notebooks are",
      valueName: "DIR",
    }),
    "refresh-timings": switchFlag(
      "replace the saved outputs of timing cells (tagged timing) with this run's",
    ),
    "cell-timeout": flag({
      value: decimal({ min: 0, minExclusive: true, max: MAX_CELL_TIMEOUT_S }),
      default: 600,
      help: "longest a cell may run, in seconds",
      valueName: "SEC",
    }),
    help: switchFlag("show this help", "h"),
  },
} as const;

/** Parsed command line of the report. */
export interface ReportArgs {
  /** Notebook names (without `.ipynb`). */
  names: string[];
  /** Whether names were given explicitly (then a missing notebook is an error). */
  explicit: boolean;
  /** Run the notebooks before exporting. */
  execute: boolean;
  /** Output folder. */
  outDir: string;
  /** Notebook folder. */
  notebooksDir: string;
  /** Per-cell timeout. */
  cellTimeoutS: number;
  /** Replace saved timings. */
  refreshTimings: boolean;
  /** Only print the help. */
  help: boolean;
}

/**
 * Parses the report's arguments; throws a `UsageError` naming a bad value.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * assertEquals(parseReportArgs(["question2", "--no-execute"]).execute, false);
 * assertThrows(() => parseReportArgs(["--cell-timeout", "1e12"]), Error, "--cell-timeout");
 * ```
 */
export function parseReportArgs(args: string[]): ReportArgs {
  const { values, positionals } = parseFlags(REPORT_CLI, args);
  const names = positionals.map((p) => p.replace(/\.ipynb$/, "").replace(/^.*\//, ""));
  return {
    names: names.length > 0 ? names : [...QUESTION_NOTEBOOKS],
    explicit: names.length > 0,
    execute: !values["no-execute"],
    outDir: values.out,
    notebooksDir: values.notebooks,
    cellTimeoutS: values["cell-timeout"],
    refreshTimings: values["refresh-timings"],
    help: values.help,
  };
}

/** Progress on stderr: a live status line on a terminal, one line per step elsewhere. */
class Progress {
  #tty = Deno.stderr.isTerminal();
  #status = "";
  #since = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #encoder = new TextEncoder();

  step(status: string): void {
    this.#status = status;
    if (this.#tty) {
      this.#timer ??= setInterval(() => this.#draw(), 250);
      this.#draw();
    } else {
      this.#write(`  ${status}\n`);
    }
  }

  start(): void {
    this.#since = performance.now();
  }

  elapsedS(): number {
    return (performance.now() - this.#since) / 1000;
  }

  line(text: string): void {
    this.#clear();
    this.#write(`${text}\n`);
    if (this.#tty && this.#timer !== undefined) this.#draw();
  }

  done(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#clear();
  }

  #draw(): void {
    let cols = 100;
    try {
      cols = Deno.consoleSize().columns || cols;
    } catch {
      // No console size (a pipe on stdout): keep the default width.
    }
    const time = ` (${this.elapsedS().toFixed(1)} s)`;
    this.#write(`\r\x1b[2K  ${this.#status.slice(0, Math.max(10, cols - time.length - 3))}${time}`);
  }

  #clear(): void {
    if (this.#tty) this.#write("\r\x1b[2K");
  }

  #write(s: string): void {
    Deno.stderr.writeSync(this.#encoder.encode(s));
  }
}

/**
 * Runs the report; returns the process exit code (0 all done, 1 a notebook failed, 2 usage
 * or missing tools).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(await main(["--help"]), 0);
 * ```
 */
export function main(argv: string[]): Promise<number> {
  return runCli(REPORT_CLI.name, () => report(parseReportArgs(argv)));
}

async function report(args: ReportArgs): Promise<number> {
  if (args.help) {
    console.log(usage(REPORT_CLI));
    return 0;
  }
  for (const [flagName, dir] of [["--out", args.outDir], ["--notebooks", args.notebooksDir]]) {
    const stat = await Deno.stat(dir).catch(() => undefined);
    if (stat !== undefined && !stat.isDirectory) {
      throw new UsageError(`${flagName} ${dir} is an existing file; it must be a folder`);
    }
  }
  const unguard = guardProcess("report");
  try {
    sweepReportLeftovers([args.outDir, args.notebooksDir]);
    return await exportAll(args);
  } finally {
    unguard();
  }
}

async function exportAll(args: ReportArgs): Promise<number> {
  const paths = new Map<string, string>();
  for (const name of args.names) {
    const path = `${args.notebooksDir}/${name}.ipynb`;
    if (await exists(path)) paths.set(name, path);
    else if (args.explicit) {
      const available = await listNotebooks(args.notebooksDir);
      console.error(
        `report: ${path} does not exist; available in ${args.notebooksDir}/: ${
          available.join(", ") || "none"
        }`,
      );
      return 2;
    } else {
      console.error(`report: skipping ${name}: ${path} does not exist yet`);
    }
  }
  if (paths.size === 0) {
    console.error(`report: no notebooks to export in ${args.notebooksDir}/`);
    return 1;
  }
  let chrome: string;
  try {
    chrome = findChromium();
    if (args.execute) await checkJupyter();
  } catch (e) {
    console.error(`report: ${(e as Error).message}`);
    return 2;
  }
  await Deno.mkdir(args.outDir, { recursive: true });

  const progress = new Progress();
  const summary: string[] = [];
  let failed = 0;
  for (const [name, path] of paths) {
    const pdfPath = `${args.outDir}/${name}.pdf`;
    progress.start();
    progress.line(`${name}: ${path} -> ${pdfPath}`);
    try {
      let nb;
      if (args.execute) {
        progress.step(`${name}: starting the Deno kernel`);
        nb = await executeNotebook(path, {
          cellTimeoutMs: args.cellTimeoutS * 1000,
          ...(args.refreshTimings ? {} : { keepOutputsTagged: TIMING_TAG }),
          onCell: (p) => progress.step(`${name}: cell ${p.index + 1}/${p.total}: ${p.firstLine}`),
          beforeWrite: async (executed) => {
            progress.step(`${name}: drawing static figures for the saved notebook`);
            await addStaticFigures(executed, { chrome });
          },
        });
      } else {
        nb = await readNotebook(path);
      }
      const appendixPath = `${args.outDir}/appendix/${name}.pdf`;
      await Deno.mkdir(`${args.outDir}/appendix`, { recursive: true });
      const exported = [];
      for (
        const [rendering, target] of [["submission", pdfPath], ["full", appendixPath]] as const
      ) {
        exported.push(
          await exportPdf(nb, target, {
            chrome,
            rendering,
            onStep: (step) =>
              progress.step(
                `${name}: ${
                  { figures: "drawing figures", html: "typesetting", print: "printing to PDF" }[
                    step
                  ]
                } (${rendering === "full" ? "appendix" : "submission"})`,
              ),
          }),
        );
      }
      const warnings = [...new Set(exported.flatMap((e) => e.warnings))];
      const figures = exported[1].figures;
      progress.done();
      for (const w of warnings) progress.line(`  warning: ${w}`);
      const seconds = progress.elapsedS().toFixed(1);
      progress.line(
        `  done: ${pdfPath} (${await pageCount(pdfPath)} pages), ${appendixPath} ` +
          `(${figures} figure(s)), ${seconds} s`,
      );
      summary.push(`  ok      ${name.padEnd(12)} ${pdfPath}  ${seconds} s`);
    } catch (e) {
      progress.done();
      failed++;
      const seconds = progress.elapsedS().toFixed(1);
      progress.line(`  FAILED: ${(e as Error).message}`);
      if (e instanceof NotebookExecutionError && e.traceback.length > 0) {
        progress.line(
          // deno-lint-ignore no-control-regex
          e.traceback.slice(0, 12).map((l) => `    ${l.replace(/\x1b\[[0-9;]*m/g, "")}`).join(
            "\n",
          ),
        );
      }
      progress.line(`  no PDF written for ${name}`);
      summary.push(`  FAILED  ${name.padEnd(12)} (${seconds} s)`);
    }
  }
  console.error(`\nreport:\n${summary.join("\n")}`);
  return failed > 0 ? 1 : 0;
}

/** Pages of a PDF (its `/Type /Page` objects), or "?" when it cannot be read. */
async function pageCount(path: string): Promise<string> {
  try {
    const text = new TextDecoder("latin1").decode(await Deno.readFile(path));
    return String(text.match(/\/Type\s*\/Page(?!s)/g)?.length ?? "?");
  } catch {
    return "?";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function listNotebooks(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.endsWith(".ipynb")) names.push(e.name.replace(/\.ipynb$/, ""));
    }
  } catch {
    // The folder itself is missing: nothing available.
  }
  return names.sort();
}

async function checkJupyter(): Promise<void> {
  const python = defaultPython();
  const fail = () =>
    new Error(
      `${python} cannot import jupyter_client; install Jupyter's client ` +
        `(Debian: sudo apt-get install python3-nbclient python3-ipykernel, or run deno task setup)` +
        `, or set NOTEBOOK_PYTHON to a Python that has it`,
    );
  try {
    const out = await new Deno.Command(python, {
      args: ["-c", "import jupyter_client, zmq"],
      stdout: "null",
      stderr: "null",
    }).output();
    if (!out.success) throw fail();
  } catch {
    throw fail();
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
