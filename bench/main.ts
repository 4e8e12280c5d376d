/**
 * `deno task bench`: generation speed against transformers.js on every runtime both can use,
 * the cost of beams, WebGPU readback per token, and this machine's roofline, measured side by
 * side in one run, on the embedded model and on a GPT-2-small-sized one (built on demand).
 * Prints ratios (and absolute figures, labelled as this machine's) and one line per target
 * (`target <name>: <median>× (IQR <lo>–<hi>, n <reps>) met|missed`), writes `results.json`
 * and the roofline figure into `--out`, this machine's roofs into `--hardware`, and, for a
 * full run into `data/bench`, the results section of `bench/README.md`.
 *
 * ```sh
 * deno task bench                       # everything, default repetitions
 * deno task bench --only roofline       # one part; others keep their previous results
 * deno task bench --quick              # a fast smoke run into out/bench-quick, never data/
 * ```
 *
 * @example
 * ```ts
 * import { parseBenchFlags } from "./main.ts";
 * parseBenchFlags(["--only", "beams", "--reps", "3"]).parts; // ["beams"]
 * ```
 * @module
 */
import { measuredRooflineFigure } from "../lib/show/roofline.ts";
import { fmtRate, hardwareEntries, measureRoofline, ROOFLINE_BUDGETS } from "./roofline.ts";
import { commitFiles, machineInfo, readJsonObject } from "./results_io.ts";
import { guardProcess, PARTIAL_FILE, sweepStale } from "../lib/notebook/processes.ts";
import { measureDecode } from "./decode.ts";
import { measureBeams } from "./beams.ts";
import { decodeFloor } from "./floor.ts";
import { BENCH_MODELS, type BenchModel, benchModelFolder } from "./models.ts";
import type {
  BeamsResult,
  BenchResults,
  ContenderId,
  DecodeFloor,
  DecodeModel,
  DecodeResult,
  RooflineResult,
} from "../lib/bench/results.ts";
import { benchTargets, fastestOurCpu, targetLine } from "../lib/bench/targets.ts";
import { readBenchResults } from "../lib/bench/results.ts";
import { benchReport } from "../lib/show/bench.ts";
import { summarize } from "../lib/bench/stats.ts";
import { loadTokenizer } from "../lib/onnx/tokenizer.ts";
import {
  flag,
  list,
  oneOf,
  parseFlags,
  positiveInteger,
  runCli,
  switchFlag,
  text,
  usage,
  UsageError,
} from "../lib/cli/args.ts";
import { resolve } from "node:path";

/** Where a full run's results go: committed, read by the notebooks. */
const COMMITTED_OUT = "data/bench";
/** Where a quick run's results go by default: `out/` is not committed. */
const QUICK_OUT = "out/bench-quick";

/** The parts of the benchmark, in the order they run. */
export const BENCH_PARTS = ["roofline", "decode", "beams"] as const;

/** One part of the benchmark. */
export type BenchPart = typeof BENCH_PARTS[number];

/** Parsed command line. */
export interface BenchFlags {
  /** Parts to run. */
  parts: BenchPart[];
  /** Repetitions per figure. */
  reps: number;
  /** Back-to-back generations per contender and repetition in decode and beams; the fastest counts. */
  bestOf: number;
  /** Smaller shapes, fewer tokens: a smoke run of every code path. */
  quick: boolean;
  /** Folder receiving `results.json` and `roofline-figure.json`. */
  outDir: string;
  /** Where this machine's roofs go (`lib/intensity` loads it), or null to skip. */
  hardwarePath: string | null;
  /** The benchmark models decoded (ignored when `model` is set). */
  models: BenchModel[];
  /** A model folder to decode instead of the benchmark models. */
  model: string | null;
  /** Threads of the CPU runtimes (ours and transformers.js's on onnxruntime-web). */
  threads: number;
  /** Tokens generated per run. */
  newTokens: number | null;
  /** Only regenerate the README's results section from the committed results. */
  render: boolean;
  /** Print usage and exit. */
  help: boolean;
}

/** The command line of `deno task bench`. */
export const BENCH_CLI = {
  name: "bench",
  summary: "Generation speed against transformers.js, the cost of beams, WebGPU readback per " +
    "token, and this machine's roofline, measured side by side in one run.",
  flags: {
    only: flag({
      value: list(oneOf(BENCH_PARTS)),
      help: "parts to run",
      valueName: "PARTS",
      defaultText: "all",
    }),
    reps: flag({
      value: positiveInteger,
      help: "repetitions per figure",
      valueName: "N",
      defaultText: "5; --quick: 2",
    }),
    "best-of": flag({
      value: positiveInteger,
      help:
        "back-to-back generations per contender and repetition (decode, beams); the fastest counts",
      valueName: "N",
      defaultText: "3; --quick: 2",
    }),
    quick: switchFlag("small shapes and few tokens: a smoke run of every code path"),
    render: switchFlag(
      "measure nothing: rewrite bench/README.md's results section from data/bench/results.json",
    ),
    tokens: flag({
      value: positiveInteger,
      help: "new tokens per generation",
      valueName: "N",
      defaultText: "64; --quick: 8",
    }),
    models: flag({
      value: list(oneOf(BENCH_MODELS)),
      help: "benchmark models (gpt2-124m is built on demand with PyTorch, then cached)",
      valueName: "MODELS",
      defaultText: "all; --quick: embedded",
    }),
    model: flag({
      value: text("a model folder"),
      help: "decode this model folder instead of the benchmark models",
      valueName: "DIR",
    }),
    threads: flag({
      value: positiveInteger,
      help: "threads of the CPU runtimes",
      valueName: "N",
      defaultText: "every core",
    }),
    out: flag({
      value: text("a folder"),
      help: "where results.json and roofline-figure.json go",
      valueName: "DIR",
      defaultText: `${COMMITTED_OUT}; --quick: ${QUICK_OUT}`,
    }),
    hardware: flag({
      value: text("a file path or none"),
      help: 'this machine\'s roofs for lib/intensity ("none" to skip)',
      valueName: "FILE",
      defaultText: "data/hardware-measured.json; skipped with --quick unless given",
    }),
    help: switchFlag("this text", "h"),
  },
} as const;

/**
 * Parses the bench's flags; unknown flags and bad values throw a `UsageError` naming them.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseBenchFlags(["--quick"]).reps, 2);
 * assertEquals(parseBenchFlags(["--only", "beams,roofline"]).parts, ["roofline", "beams"]);
 * ```
 */
export function parseBenchFlags(args: readonly string[]): BenchFlags {
  const v = parseFlags(BENCH_CLI, args).values;
  const only = v.only ?? [...BENCH_PARTS];
  return {
    parts: BENCH_PARTS.filter((p) => only.includes(p)),
    reps: v.reps ?? (v.quick ? 2 : 5),
    bestOf: v["best-of"] ?? (v.quick ? 2 : 3),
    quick: v.quick,
    outDir: v.out ?? (v.quick ? QUICK_OUT : COMMITTED_OUT),
    hardwarePath: v.hardware !== undefined
      ? (v.hardware === "none" ? null : v.hardware)
      : v.quick
      ? null
      : "data/hardware-measured.json",
    // A smoke run decodes the embedded model only unless told: no model build on the way.
    models: BENCH_MODELS.filter((m) =>
      (v.models ?? (v.quick ? ["embedded"] : BENCH_MODELS)).includes(m)
    ),
    model: v.model ?? null,
    // Every core by default, as transformers.js's onnxruntime-node does; `ours-cpu-1thread`
    // and `transformers.js-node-1thread` cover a machine whose second core is busy.
    threads: v.threads ?? navigator.hardwareConcurrency ?? 1,
    newTokens: v.tokens ?? null,
    render: v.render,
    help: v.help,
  };
}

async function runRoofline(flags: BenchFlags, webgpu: boolean): Promise<RooflineResult> {
  console.log(
    `\n== roofline: this machine's bandwidth and MatMul FLOP/s (WASM: ${flags.threads} ` +
      `thread(s)) ==`,
  );
  return await measureRoofline({
    // onnxruntime-web's backends that run here: WASM always, WebGPU with an adapter.
    backends: webgpu ? ["wasm", "webgpu"] : ["wasm"],
    threads: flags.threads,
    reps: flags.reps,
    layer: flags.quick
      ? { seqLen: 64, dModel: 128, nHeads: 2 }
      : { seqLen: 512, dModel: 512, nHeads: 4 },
    budget: ROOFLINE_BUDGETS[flags.quick ? "quick" : "full"],
    copyBytes: flags.quick ? 16 << 20 : 256 << 20,
    readBytes: flags.quick ? 16 << 20 : 512 << 20,
    log: (line) => console.log(`  ${line}`),
  });
}

/** A sentence from the Brown corpus (the model's training text), as the prompt. */
const PROMPT = "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent " +
  "primary election produced no evidence that any irregularities took place.";

/** One model as the benchmark decodes it. */
interface ModelPlan {
  /** Its name in the results. */
  name: string;
  /** Its folder. */
  folder: string;
  /** Prompt ids (the Brown sentence, cut to fit). */
  promptIds: number[];
  /** Vocabulary size. */
  vocabSize: number;
  /** New tokens per CPU run. */
  newTokens: number;
  /** New tokens per WebGPU run (lavapipe takes 0.1 s a step on the small model, 2 s on 124M). */
  webgpuTokens: number;
  /** Beam widths swept. */
  beamWidths: number[];
}

async function planModel(
  flags: BenchFlags,
  name: string,
  folder: string,
  large: boolean,
): Promise<ModelPlan> {
  const config = await readJsonObject(`${folder}/config.json`);
  if (!config) throw new Error(`no model at ${folder} (config.json missing)`);
  const tokenizer = await loadTokenizer(folder);
  const positions = Number(config.n_positions ?? config.max_position_embeddings ?? 1024);
  const wanted = flags.newTokens ?? (flags.quick ? 8 : large ? 32 : 64);
  if (wanted + 1 > positions) {
    throw new RangeError(`--tokens ${wanted} does not fit the model's ${positions} positions`);
  }
  // A short context window keeps the prompt's head so prompt + new tokens fit.
  const promptIds = tokenizer.encode(PROMPT).slice(0, positions - wanted);
  return {
    name,
    folder,
    promptIds,
    vocabSize: Number(config.vocab_size),
    newTokens: wanted,
    webgpuTokens: Math.max(2, Math.min(wanted, flags.quick ? 4 : large ? 8 : 16)),
    beamWidths: flags.quick || large ? [1, 4] : [1, 2, 4, 8],
  };
}

async function planModels(flags: BenchFlags): Promise<ModelPlan[]> {
  if (flags.model) {
    const name = flags.model.replace(/\/+$/, "").split("/").pop()!;
    return [await planModel(flags, name, flags.model, false)];
  }
  const plans: ModelPlan[] = [];
  for (const m of flags.models) {
    const folder = await benchModelFolder(m, (line) => console.log(`  ${line}`));
    plans.push(await planModel(flags, m, folder, m !== "embedded"));
  }
  return plans;
}

/**
 * Warm-up per contender (and per beam width): optimized WASM code and compiled shaders; then
 * at most `settleMaxMs` for every contender's process to go idle (`Contender.settle`).
 */
function warmUpBudget(flags: BenchFlags): { minRuns: number; minMs: number; settleMaxMs: number } {
  return flags.quick
    ? { minRuns: 1, minMs: 0, settleMaxMs: 500 }
    : { minRuns: 3, minMs: 3000, settleMaxMs: 60_000 };
}

const CPU_CONTENDERS: readonly ContenderId[] = [
  "ours-cpu",
  "ours-cpu-1thread",
  "ours-wasm",
  "transformers.js-node",
  "transformers.js-node-1thread",
  "transformers.js-web-wasm",
];
const WEBGPU_CONTENDERS: readonly ContenderId[] = ["ours-webgpu", "transformers.js-web-webgpu"];

async function runDecode(
  flags: BenchFlags,
  plan: ModelPlan,
  webgpu: boolean,
): Promise<DecodeResult[]> {
  const groups = [
    { group: "cpu" as const, contenders: CPU_CONTENDERS, newTokens: plan.newTokens },
    ...(webgpu
      ? [{ group: "webgpu" as const, contenders: WEBGPU_CONTENDERS, newTokens: plan.webgpuTokens }]
      : []),
  ];
  const results: DecodeResult[] = [];
  for (const { group, contenders, newTokens } of groups) {
    console.log(
      `\n== decode ${plan.name} (${group}): greedy, ${plan.promptIds.length}-token prompt, ` +
        `${newTokens} new tokens, ${flags.reps} reps (fastest of ${flags.bestOf} each), ` +
        `contenders alternating, ` +
        `${flags.threads} CPU thread(s) ==`,
    );
    const r = await measureDecode({
      model: plan.folder,
      name: plan.name,
      group,
      threads: flags.threads,
      contenders,
      promptIds: plan.promptIds,
      newTokens,
      reps: flags.reps,
      bestOf: flags.bestOf,
      vocabSize: plan.vocabSize,
      warmUp: warmUpBudget(flags),
      log: (line) => console.log(`  ${line}`),
    });
    printDecode(r);
    results.push(r);
  }
  return results;
}

/** Median milliseconds per decode step, over the repetitions. */
function msPerStep(c: DecodeResult["contenders"][number]): number {
  return summarize(c.decodeTokensPerSByRep.map((r) => 1000 / r)).median;
}

function printDecode(r: DecodeResult): void {
  console.log("  this machine's absolute figures (median, IQR):");
  for (const c of r.contenders) {
    console.log(
      `    ${c.id.padEnd(29)} decode ${fmtRate(c.decodeTokensPerS, "tokens/s")}; ` +
        `prefill ${fmtRate(c.prefillTokensPerS, "tokens/s")}; ` +
        `${c.sessionMsPerStep.median.toFixed(3)} of ${msPerStep(c).toFixed(3)} ` +
        `ms per step inside session.run; ${c.modelCalls} model calls`,
    );
  }
  console.log("  ratios (ours ÷ theirs, per repetition, same run):");
  for (const k of r.comparisons) {
    console.log(
      `    ${k.ours} vs ${k.theirs}: decode ${k.perRep.median.toFixed(2)}x (IQR ` +
        `${k.perRep.q1.toFixed(2)}–${k.perRep.q3.toFixed(2)}), prefill ` +
        `${k.prefillPerRep.median.toFixed(2)}x, tokens ${
          k.identicalTokens ? "identical" : "DIFFER"
        }` +
        ` — ${k.what}`,
    );
  }
  console.log(
    `  tokens identical across all contenders and repetitions: ${r.identicalTokens ? "yes" : "NO"}`,
  );
  const gpu = r.contenders.find((c) => c.id === "ours-webgpu")?.gpuPerToken;
  if (gpu) {
    console.log(
      `  ours-webgpu transfers per decode token: read back ${gpu.readbackBytes} B in ` +
        `${gpu.readbacks} reads (a full logits row would be ${gpu.logitsBytes} B); uploaded ` +
        `${gpu.uploadBytes.toFixed(0)} B in ${gpu.uploads.toFixed(0)} writes`,
    );
  }
}

async function runBeams(
  flags: BenchFlags,
  plan: ModelPlan,
  fastestCpu: ContenderId,
  webgpu: boolean,
): Promise<BeamsResult[]> {
  const results: BeamsResult[] = [];
  const runs: { contender: ContenderId; newTokens: number }[] = [
    { contender: fastestCpu, newTokens: plan.newTokens },
    ...(fastestCpu === "ours-wasm"
      ? []
      : [{ contender: "ours-wasm" as const, newTokens: plan.newTokens }]),
    // On the small model only: lavapipe takes about 2 s a step on the large one.
    ...(webgpu && plan.name !== "gpt2-124m"
      ? [{ contender: "ours-webgpu" as const, newTokens: plan.webgpuTokens }]
      : []),
  ];
  for (const { contender, newTokens } of runs) {
    console.log(
      `\n== beams ${plan.name}: widths ${plan.beamWidths.join(", ")} vs greedy on ${contender}, ` +
        `${newTokens} new tokens, ${flags.reps} reps (fastest of ${flags.bestOf} each) ==`,
    );
    const r = await measureBeams({
      model: plan.folder,
      name: plan.name,
      threads: flags.threads,
      contender,
      widths: plan.beamWidths,
      promptIds: plan.promptIds,
      newTokens,
      reps: flags.reps,
      bestOf: flags.bestOf,
      warmUp: warmUpBudget(flags),
      log: (line) => console.log(`  ${line}`),
    });
    for (const w of r.widths) {
      const rel = w.relativeToGreedy;
      console.log(
        `  width ${w.width}: ${rel.median.toFixed(2)}x greedy per token (IQR ` +
          `${rel.q1.toFixed(2)}–${rel.q3.toFixed(2)}); this machine: ` +
          `${w.msPerToken.median.toFixed(2)} ms/token (${
            w.sessionMsPerToken.median.toFixed(2)
          } in the session); ${w.callsPerStep} model call(s) per ` +
          `step with ${w.rowsPerCall.join("/")} rows` +
          (w.readbackBytesPerStep === undefined
            ? ""
            : `; read back ${w.readbackBytesPerStep} B/step`),
      );
    }
    results.push(r);
  }
  return results;
}

function printFloor(f: DecodeFloor): void {
  console.log(
    `  floor: ${(f.weightBytes / 1e6).toFixed(1)} MB of weights` +
      `${f.int8Head ? " (int8-screened LM head)" : ""} + ` +
      `${(f.kvCacheBytes / 1e6).toFixed(1)} MB of cache ÷ ${f.gbPerS.toFixed(1)} GB/s ` +
      `(${f.bandwidthSource}) = ${f.floorMsPerToken.toFixed(3)} ms per token at least; ` +
      `${f.contender} decodes at ${f.measuredMsPerToken.toFixed(3)} ms per token, ` +
      `${f.timesAboveFloor.median.toFixed(2)}x the floor`,
  );
}

async function main(args: string[]): Promise<void> {
  const flags = parseBenchFlags(args);
  if (flags.help) {
    console.log(usage(BENCH_CLI));
    return;
  }
  if (flags.render) {
    const results = await readBenchResults(`${COMMITTED_OUT}/results.json`);
    const text = await formatMarkdown(
      spliceReadme(await Deno.readTextFile(README), benchReport(results)),
    );
    await commitFiles([], [{ path: README, text }]);
    console.log(`wrote ${README} from ${COMMITTED_OUT}/results.json`);
    return;
  }
  if (flags.quick) refuseCommittedPaths(flags);
  const unguard = guardProcess("bench");
  try {
    sweepStale(flags.outDir, PARTIAL_FILE);
    await measure(flags);
  } finally {
    unguard();
  }
}

/** The results section of `bench/README.md`, regenerated by every full run into data/bench. */
const README = "bench/README.md";
const README_START = "<!-- bench:results:start -->";
const README_END = "<!-- bench:results:end -->";

async function measure(flags: BenchFlags): Promise<void> {
  const machine = await machineInfo();
  console.log(
    `bench on this machine: ${machine.cpu}, ${machine.cores} cores, WebGPU adapter: ` +
      `${machine.webgpuAdapter ?? "none"}; load average ${machine.loadAverage.join(", ")}; ` +
      machine.note,
  );
  // machineInfo asked for the adapter once; every part goes by that answer.
  const webgpu = machine.webgpuAdapter !== null;
  const resultsPath = `${flags.outDir}/results.json`;
  const previous = await readJsonObject(resultsPath);
  // A schema-1 file's parts have another shape: start afresh rather than mix them.
  const parts: BenchResults["parts"] = previous?.schema === 2
    ? { ...(previous.parts as BenchResults["parts"]) }
    : {};
  // Written together at the end: an interrupted run changes none of them.
  const files: { path: string; value: unknown }[] = [];
  if (flags.parts.includes("roofline")) {
    const roofline = await runRoofline(flags, webgpu);
    parts.roofline = { quick: flags.quick, loadAverage: machine.loadAverage, ...roofline };
    files.push({
      path: `${flags.outDir}/roofline-figure.json`,
      value: measuredRooflineFigure(roofline),
    });
    if (flags.hardwarePath) {
      files.push({
        path: flags.hardwarePath,
        value: hardwareEntries(
          roofline,
          `${machine.cpu}, ${machine.cores} cores`,
          machine.webgpuAdapter,
        ),
      });
    }
  }
  const needsModel = flags.parts.includes("decode") || flags.parts.includes("beams");
  const plans = needsModel ? await planModels(flags) : [];
  if (plans.length > 0 && flags.parts.includes("decode")) {
    // Load averages before each part: the other jobs it shared the machine with.
    const loadAverage = Deno.loadavg().map((x) => Math.round(x * 100) / 100);
    const models: DecodeModel[] = [];
    for (const plan of plans) {
      for (const r of await runDecode(flags, plan, webgpu)) {
        const roofline = parts.roofline;
        const floor = r.group === "cpu" && roofline
          ? await decodeFloor(plan.folder, r, roofline)
          : undefined;
        if (floor) printFloor(floor);
        models.push({ ...r, floor: floor ?? null });
      }
    }
    parts.decode = { quick: flags.quick, loadAverage, models };
  }
  if (plans.length > 0 && flags.parts.includes("beams")) {
    const loadAverage = Deno.loadavg().map((x) => Math.round(x * 100) / 100);
    const runs: BeamsResult[] = [];
    for (const plan of plans) {
      // Beams on our fastest CPU path as the decode part measured it (ours-cpu before any).
      const decoded = parts.decode?.models.find((r) => r.name === plan.name && r.group === "cpu");
      const fastestCpu = (decoded && fastestOurCpu(decoded)?.id) ?? "ours-cpu";
      runs.push(...await runBeams(flags, plan, fastestCpu, webgpu));
    }
    parts.beams = { quick: flags.quick, loadAverage, runs };
  }
  // Floors from the roofline in this file, whichever run measured it.
  if (parts.decode && parts.roofline) {
    for (const r of parts.decode.models) {
      r.floor = r.group === "cpu" ? await decodeFloor(r.model, r, parts.roofline) ?? null : null;
    }
  }
  const targets = benchTargets(parts);
  console.log("\n== targets (per-repetition ratios; met when the median and the quartile are) ==");
  for (const t of targets) console.log(targetLine(t));
  const results: BenchResults = { schema: 2, machine, parts, targets };
  files.push({ path: resultsPath, value: results });
  const committed = resolve(flags.outDir) === resolve(COMMITTED_OUT);
  const texts = committed && !flags.quick
    ? [{
      path: README,
      text: await formatMarkdown(
        spliceReadme(await Deno.readTextFile(README), benchReport(results)),
      ),
    }]
    : [];
  await commitFiles(files, texts);
  console.log(`\nwrote ${[...files, ...texts].map((f) => f.path).join(", ")}`);
}

/** `text` as `deno fmt` formats Markdown (aligned tables, wrapped at the workspace's width). */
async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`deno fmt could not format ${README}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/**
 * `readme` with the text between the results markers replaced by `section`.
 * @throws {Error} when the markers are missing: nothing else of the README is rewritten.
 */
function spliceReadme(readme: string, section: string): string {
  const start = readme.indexOf(README_START), end = readme.indexOf(README_END);
  if (start < 0 || end < start) {
    throw new Error(`${README} lacks the markers ${README_START} … ${README_END}`);
  }
  return readme.slice(0, start + README_START.length) + "\n" + section.trimEnd() + "\n" +
    readme.slice(end);
}

/** A quick run's numbers are a smoke test's; they never replace committed measurements. */
function refuseCommittedPaths(flags: BenchFlags): void {
  const committed = [resolve(COMMITTED_OUT), resolve("data/hardware-measured.json")];
  const targets = [
    resolve(flags.outDir, "results.json"),
    ...(flags.hardwarePath ? [resolve(flags.hardwarePath)] : []),
  ];
  for (const target of targets) {
    if (committed.some((c) => target === c || target.startsWith(`${c}/`))) {
      throw new UsageError(
        `--quick writes smoke-test numbers; it never writes ${target} (committed ` +
          `measurements); pass --out and --hardware outside data/, or drop --quick`,
      );
    }
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await runCli(BENCH_CLI.name, () => main(Deno.args)));
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
