// The report owns its children: interrupted at a chosen moment (by PID, by process group, by
// killing its parent), it leaves no Chromium or kernel process, no partial file and no temporary
// folder, and never rewrites the notebook; concurrent and edited-notebook runs fail clearly;
// errors that escape cells fail the run naming the cell.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { executeNotebook, NotebookExecutionError } from "../lib/notebook/execute.ts";
import { codeCell, denoNotebook } from "./notebook_helpers.ts";

const REPORT = new URL("../lib/cli/report.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

const PLOTLY = {
  data: [{ type: "scatter", x: [1, 2, 3], y: [1, 4, 9], name: "squares" }],
  layout: { title: { text: "squares" } },
};

/** A self-contained notebook: `sleeps` cells of `sleepMs`, then a saved Plotly figure. */
function notebook(sleeps: number, sleepMs: number): string {
  return denoNotebook([
    { cell_type: "markdown", id: "intro", metadata: {}, source: "# Interrupt me\n\n$x^2$" },
    ...Array.from(
      { length: sleeps },
      (_, i) => codeCell(`await new Promise((r) => setTimeout(r, ${sleepMs}));\n"slept ${i}"`),
    ),
    codeCell(
      `await Deno.jupyter.display({ "application/vnd.plotly.v1+json": ${
        JSON.stringify(PLOTLY)
      } }, { raw: true });`,
      {
        outputs: [{
          output_type: "display_data",
          metadata: {},
          data: { "application/vnd.plotly.v1+json": PLOTLY, "text/plain": "figure" },
        }],
      },
    ),
  ]);
}

interface Run {
  /** The temporary root: TMPDIR of the run, holding `nb/` and `out/`. */
  dir: string;
  /** The spawned process (the report, or the shell wrapping it). */
  child: Deno.ChildProcess;
  /** Stderr so far. */
  stderr: () => string;
  /** Resolves when stderr contains `text`. */
  waitFor: (text: string, timeoutMs?: number) => Promise<void>;
}

/** Starts a report in a session of its own (so a group signal reaches only it and its own). */
async function startReport(
  args: string[],
  options: { viaShell?: boolean; sleeps?: number; sleepMs?: number; dir?: string } = {},
): Promise<Run> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "ri-" });
  await Deno.mkdir(`${dir}/nb`, { recursive: true });
  await Deno.mkdir(`${dir}/out`, { recursive: true });
  const nbPath = `${dir}/nb/probe.ipynb`;
  if (!options.dir) {
    await Deno.writeTextFile(nbPath, notebook(options.sleeps ?? 4, options.sleepMs ?? 1500));
  }
  const report = [
    Deno.execPath(),
    "run",
    "-A",
    REPORT,
    "--notebooks",
    `${dir}/nb`,
    "--out",
    `${dir}/out`,
    ...args,
    "probe",
  ];
  const argv = options.viaShell ? ["bash", "-c", `${report.map(quote).join(" ")}; true`] : report;
  const child = new Deno.Command("setsid", {
    args: argv,
    cwd: ROOT,
    env: { TMPDIR: dir, NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const waiters: { text: string; resolve: () => void }[] = [];
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      for (const w of waiters.filter((w) => stderr.includes(w.text))) w.resolve();
    }
  })();
  return {
    dir,
    child,
    stderr: () => stderr,
    waitFor: (text, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        const timer = setTimeout(
          () => reject(new Error(`no "${text}" within ${timeoutMs} ms; stderr:\n${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          text,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** Processes whose command line mentions `dir` (Chromium's profile, the kernel's connection). */
function processesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(dir)) found.push(`${e.name}: ${cmd.slice(0, 120)}`);
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

/** Waits until no process of the run is left (or fails listing them after `ms`). */
async function assertNoProcesses(dir: string, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (processesUnder(dir).length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
  }
  assertEquals(processesUnder(dir), [], "processes of the run still alive");
}

/** The PDFs under an output folder (its appendix folder included). */
function pdfsIn(dir: string): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? pdfsIn(`${dir}/${e.name}`) : e.name.endsWith(".pdf") ? [e.name] : []
  );
}

/** What is left in the run's folder besides the notebook and the output folder. */
function leftovers(dir: string): string[] {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n !== "nb" && n !== "out"
  );
  const hidden = (sub: string): string[] =>
    [...Deno.readDirSync(`${dir}/${sub}`)].flatMap((e) =>
      // The appendix folder is an output folder like out/ itself: only what is in it counts.
      e.isDirectory && e.name === "appendix" ? hidden(`${sub}/appendix`) : [`${sub}/${e.name}`]
    ).filter((n) => n !== "nb/probe.ipynb" && !n.endsWith(".pdf"));
  return [...names, ...hidden("nb"), ...hidden("out")].sort();
}

Deno.test("report: a process-group SIGINT while printing leaves nothing behind", async () => {
  const run = await startReport(["--no-execute"]);
  const before = await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`);
  try {
    await run.waitFor("printing to PDF");
    await new Promise((r) => setTimeout(r, 300));
    assert(processesUnder(run.dir).length > 0, "Chromium should be printing");
    Deno.kill(-run.child.pid, "SIGINT");
    const status = await run.child.status;
    assertEquals(status.code, 130, run.stderr());
    assertStringIncludes(run.stderr(), "interrupted by SIGINT");
    await assertNoProcesses(run.dir);
    assertEquals(leftovers(run.dir), []);
    assertEquals(pdfsIn(`${run.dir}/out`), []);
    assertEquals(await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`), before);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("report: SIGTERM while the kernel runs ends the kernel and saves nothing", async () => {
  const run = await startReport([]);
  const before = await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`);
  try {
    await run.waitFor("cell 3/");
    assert(processesUnder(run.dir).some((p) => p.includes("jupyter")), "the kernel runs");
    Deno.kill(run.child.pid, "SIGTERM");
    assertEquals((await run.child.status).code, 143, run.stderr());
    await assertNoProcesses(run.dir);
    assertEquals(leftovers(run.dir), []);
    assertEquals(await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`), before);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("report: SIGKILL while printing takes Chromium along; the next run sweeps", async () => {
  const run = await startReport(["--no-execute"]);
  try {
    await run.waitFor("printing to PDF");
    await new Promise((r) => setTimeout(r, 300));
    Deno.kill(run.child.pid, "SIGKILL");
    await run.child.status;
    await assertNoProcesses(run.dir);
    // A run that cannot clean up leaves pid-named leftovers; the next run removes them.
    const again = await startReport(["--no-execute"], { dir: run.dir });
    assertEquals((await again.child.status).code, 0, again.stderr());
    assertEquals(leftovers(run.dir), []);
    assert(Deno.statSync(`${run.dir}/out/probe.pdf`).size > 1000);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("report: when its parent (deno task) is killed, the report stops and writes nothing", async () => {
  const run = await startReport([], { viaShell: true });
  const before = await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`);
  try {
    await run.waitFor("cell 3/");
    Deno.kill(run.child.pid, "SIGKILL"); // the shell, standing in for `deno task`
    await run.child.status;
    await assertNoProcesses(run.dir, 8_000);
    assertEquals(leftovers(run.dir), []);
    assertEquals(pdfsIn(`${run.dir}/out`), []);
    assertEquals(await Deno.readTextFile(`${run.dir}/nb/probe.ipynb`), before);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("report: a notebook edited while it runs is not overwritten", async () => {
  const run = await startReport([], { sleeps: 3, sleepMs: 1500 });
  try {
    await run.waitFor("cell 2/");
    const path = `${run.dir}/nb/probe.ipynb`;
    const nb = JSON.parse(await Deno.readTextFile(path));
    nb.cells.push({ cell_type: "markdown", id: "added", metadata: {}, source: "my new cell" });
    const edited = JSON.stringify(nb, null, 1) + "\n";
    await Deno.writeTextFile(path, edited);
    assertEquals((await run.child.status).code, 1, run.stderr());
    assertStringIncludes(run.stderr(), "changed on disk while it ran; not saving over it");
    assertEquals(await Deno.readTextFile(path), edited);
    assertEquals(leftovers(run.dir), []);
  } finally {
    await Deno.remove(run.dir, { recursive: true });
  }
});

Deno.test("report: two runs of one notebook at once: the second fails clearly", async () => {
  const first = await startReport([], { sleeps: 3, sleepMs: 1500 });
  try {
    await first.waitFor("cell 2/");
    const second = await startReport([], { dir: first.dir });
    assertEquals((await second.child.status).code, 1, second.stderr());
    assertStringIncludes(second.stderr(), "is being executed by another run (pid");
    assertEquals((await first.child.status).code, 0, first.stderr());
    assertEquals(leftovers(first.dir), []);
  } finally {
    await Deno.remove(first.dir, { recursive: true });
  }
});

Deno.test("report: --out naming an existing file is one line and exit 2", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", REPORT, "--out", `${ROOT}README.md`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 2);
  assertEquals(stderr.trim().split("\n").length, 1, stderr);
  assertStringIncludes(stderr, "--out");
  assertStringIncludes(stderr, "README.md is an existing file; it must be a folder");
});

/** A notebook of `sources` cells in a fresh folder. */
async function tinyNotebook(sources: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "escaped-errors-" });
  const path = `${dir}/t.ipynb`;
  await Deno.writeTextFile(path, denoNotebook(sources.map((source) => codeCell(source))));
  return path;
}

Deno.test("executor: errors that escape a cell fail the run, naming that cell", async () => {
  const cases: [string[], number, string][] = [
    // A timer that throws after its cell finished is reported against the cell that set it.
    [
      [
        "1",
        "setTimeout(() => { throw new Error('late boom'); }, 400);",
        "await new Promise((r) => setTimeout(r, 800));",
        "2",
      ],
      2,
      "late boom",
    ],
    [["1", "Promise.reject(new Error('nobody handles me'));", "2"], 2, "nobody handles me"],
    [["1", "setTimeout(() => { throw new Error('at the end'); }, 50);"], 2, "at the end"],
  ];
  for (const [sources, cell, message] of cases) {
    const path = await tinyNotebook(sources);
    const before = await Deno.readTextFile(path);
    try {
      const error = await assertRejects(
        () => executeNotebook(path, { cellTimeoutMs: 20_000 }),
        NotebookExecutionError,
      );
      assertEquals(error.cellIndex + 1, cell, error.message);
      assertStringIncludes(error.message, `cell ${cell} of ${sources.length}`);
      assertStringIncludes(error.message, message);
      assertEquals(await Deno.readTextFile(path), before, "nothing written");
    } finally {
      await Deno.remove(path.replace(/\/t\.ipynb$/, ""), { recursive: true });
    }
  }
  // Timers and microtasks that behave stay harmless.
  const fine = await tinyNotebook([
    "const t = setTimeout(() => {}, 10); 'ok'",
    "queueMicrotask(() => {}); await Promise.resolve(1)",
    "await new Promise((r) => setTimeout(r, 50)); 'done'",
  ]);
  try {
    const nb = await executeNotebook(fine, { cellTimeoutMs: 20_000 });
    assertEquals(nb.cells.length, 3);
  } finally {
    await Deno.remove(fine.replace(/\/t\.ipynb$/, ""), { recursive: true });
  }
});
