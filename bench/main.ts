/**
 * `deno task bench`: generation speed against transformers.js, the cost of beams, WebGPU
 * readback per token, and this machine's roofline, measured side by side in one run. Prints
 * ratios (and absolute figures, labelled as this machine's), writes `results.json` and the
 * roofline figure into `--out`, and this machine's roofs into `--hardware`.
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
import { webGpuAdapter } from "../lib/onnx/backend.ts";
import { measuredRooflineFigure } from "../lib/show/roofline.ts";
import { fmtRate, hardwareEntries, measureRoofline, ROOFLINE_BUDGETS } from "./roofline.ts";
import { commitJsonFiles, machineInfo, readJsonObject } from "./results_io.ts";
import { guardProcess, PARTIAL_FILE, sweepStale } from "../lib/notebook/processes.ts";
import { measureDecode } from "./decode.ts";
import { measureBeams } from "./beams.ts";
import { decodeFloor } from "./floor.ts";
import type {
  BeamsResult,
  ContenderId,
  DecodeFloor,
  DecodeResult,
  OrtBackend,
  RooflineResult,
} from "../lib/bench/results.ts";
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
  /** Smaller shapes, fewer tokens: a smoke run of every code path. */
  quick: boolean;
  /** Folder receiving `results.json` and `roofline-figure.json`. */
  outDir: string;
  /** Where this machine's roofs go (`lib/intensity` loads it), or null to skip. */
  hardwarePath: string | null;
  /** The model folder decoded. */
  model: string;
  /** Tokens generated per run. */
  newTokens: number | null;
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
    quick: switchFlag("small shapes and few tokens: a smoke run of every code path"),
    tokens: flag({
      value: positiveInteger,
      help: "new tokens per generation",
      valueName: "N",
      defaultText: "64; --quick: 8",
    }),
    model: flag({
      value: text("a model folder"),
      default: "data/models/brown-gpt2",
      help: "model folder",
      valueName: "DIR",
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
    quick: v.quick,
    outDir: v.out ?? (v.quick ? QUICK_OUT : COMMITTED_OUT),
    hardwarePath: v.hardware !== undefined
      ? (v.hardware === "none" ? null : v.hardware)
      : v.quick
      ? null
      : "data/hardware-measured.json",
    model: v.model,
    newTokens: v.tokens ?? null,
    help: v.help,
  };
}

/** Backends of onnxruntime-web that can run here: WASM always, WebGPU with an adapter. */
async function availableBackends(): Promise<OrtBackend[]> {
  return (await webGpuAdapter()) ? ["wasm", "webgpu"] : ["wasm"];
}

async function runRoofline(flags: BenchFlags): Promise<RooflineResult> {
  console.log("\n== roofline: this machine's bandwidth and MatMul FLOP/s ==");
  return await measureRoofline({
    backends: await availableBackends(),
    reps: flags.reps,
    layer: flags.quick
      ? { seqLen: 64, dModel: 128, nHeads: 2 }
      : { seqLen: 512, dModel: 512, nHeads: 4 },
    budget: ROOFLINE_BUDGETS[flags.quick ? "quick" : "full"],
    copyBytes: flags.quick ? 16 << 20 : 256 << 20,
    log: (line) => console.log(`  ${line}`),
  });
}

/** A sentence from the Brown corpus (the model's training text), as the prompt. */
const PROMPT = "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent " +
  "primary election produced no evidence that any irregularities took place.";

/** Ratio a decode comparison must reach (the workspace's target). */
const DECODE_TARGET = 1.3;
/** Most a beam width of 4 may cost per token, relative to greedy. */
const BEAM4_TARGET = 2;

interface ModelInfo {
  promptIds: number[];
  vocabSize: number;
  newTokens: number;
}

async function modelInfo(flags: BenchFlags): Promise<ModelInfo> {
  const config = await readJsonObject(`${flags.model}/config.json`);
  if (!config) throw new Error(`no model at ${flags.model} (config.json missing)`);
  const tokenizer = await loadTokenizer(flags.model);
  const positions = Number(config.n_positions ?? config.max_position_embeddings ?? 1024);
  const wanted = flags.newTokens ?? (flags.quick ? 8 : 64);
  if (wanted + 1 > positions) {
    throw new RangeError(`--tokens ${wanted} does not fit the model's ${positions} positions`);
  }
  // A short context window keeps the prompt's head so prompt + new tokens fit.
  const promptIds = tokenizer.encode(PROMPT).slice(0, positions - wanted);
  const newTokens = wanted;
  return { promptIds, vocabSize: Number(config.vocab_size), newTokens };
}

/** Warm-up per contender (and per beam width): optimized WASM code and compiled shaders. */
function warmUpBudget(flags: BenchFlags): { minRuns: number; minMs: number } {
  return flags.quick ? { minRuns: 1, minMs: 0 } : { minRuns: 3, minMs: 3000 };
}

const pct = (ratio: number) => `${((ratio - 1) * 100).toFixed(0)}%`;

async function runDecode(flags: BenchFlags, info: ModelInfo): Promise<DecodeResult> {
  console.log(
    `\n== decode: greedy, ${info.promptIds.length}-token prompt, ${info.newTokens} new ` +
      `tokens, ${flags.reps} reps, contenders alternating ==`,
  );
  const contenders: ContenderId[] = [
    "ours-wasm",
    "transformers.js-node",
    "transformers.js-node-1thread",
    "transformers.js-web-wasm",
    ...((await webGpuAdapter()) ? ["ours-webgpu" as const] : []),
  ];
  const r = await measureDecode({
    model: flags.model,
    contenders,
    promptIds: info.promptIds,
    newTokens: info.newTokens,
    reps: flags.reps,
    vocabSize: info.vocabSize,
    warmUp: warmUpBudget(flags),
    log: (line) => console.log(`  ${line}`),
  });
  console.log("  this machine's absolute figures (median, IQR):");
  for (const c of r.contenders) {
    console.log(
      `    ${c.id.padEnd(29)} decode ${fmtRate(c.decodeTokensPerS, "tokens/s")}; ` +
        `prefill ${fmtRate(c.prefillTokensPerS, "tokens/s")}; ${c.modelCalls} model calls`,
    );
  }
  console.log("  ratios (decode tokens/s, ours ÷ theirs, same run):");
  for (const k of r.comparisons) {
    const verdict = k.ratio >= DECODE_TARGET
      ? "target met"
      : `target ${DECODE_TARGET}x missed by ${((1 - k.ratio / DECODE_TARGET) * 100).toFixed(0)}%`;
    console.log(
      `    ${k.ours} vs ${k.theirs}: ${k.ratio.toFixed(2)}x (per-rep median ` +
        `${k.perRep.median.toFixed(2)}, IQR ${k.perRep.q1.toFixed(2)}–${
          k.perRep.q3.toFixed(2)
        }), ` +
        `prefill ` +
        `${k.prefillRatio.toFixed(2)}x, tokens ${k.identicalTokens ? "identical" : "DIFFER"}` +
        `${k.ours === "ours-wasm" ? ` [${verdict}]` : ""} — ${k.what}`,
    );
  }
  console.log(
    `  tokens identical across all contenders and repetitions: ${r.identicalTokens ? "yes" : "NO"}`,
  );
  const gpu = r.contenders.find((c) => c.gpuPerToken)?.gpuPerToken;
  if (gpu) {
    console.log(
      `  WebGPU transfers per decode token: read back ${gpu.readbackBytes} B in ` +
        `${gpu.readbacks} reads (logits = ${gpu.logitsBytes} B; beyond logits: ` +
        `${gpu.kvReadbackBytesPerToken} B ${
          gpu.kvReadbackBytesPerToken === 0 ? "[no KV-cache readback: target met]" : "[MISSED]"
        }); uploaded ${gpu.uploadBytes.toFixed(0)} B in ${gpu.uploads.toFixed(0)} writes`,
    );
  }
  return r;
}

async function runBeams(flags: BenchFlags, info: ModelInfo): Promise<BeamsResult[]> {
  const results: BeamsResult[] = [];
  // lavapipe takes ~0.1 s per step: fewer tokens keep WebGPU's sweep to a minute or two.
  const runs: { contender: ContenderId; newTokens: number }[] = [
    { contender: "ours-wasm", newTokens: info.newTokens },
    ...((await webGpuAdapter())
      ? [{ contender: "ours-webgpu" as const, newTokens: Math.min(info.newTokens, 16) }]
      : []),
  ];
  for (const { contender, newTokens } of runs) {
    console.log(
      `\n== beams: widths 1, 2, 4, 8 vs greedy on ${contender}, ${newTokens} new ` +
        `tokens, ${flags.reps} reps ==`,
    );
    const r = await measureBeams({
      model: flags.model,
      contender,
      widths: [1, 2, 4, 8],
      promptIds: info.promptIds,
      newTokens,
      reps: flags.reps,
      warmUp: warmUpBudget(flags),
      log: (line) => console.log(`  ${line}`),
    });
    for (const w of r.widths) {
      const rel = w.relativeToGreedy;
      const target = w.width === 4
        ? rel.median <= BEAM4_TARGET
          ? " [target ≤ 2x met]"
          : ` [target ≤ 2x missed by ${pct(rel.median / BEAM4_TARGET)}]`
        : "";
      console.log(
        `  width ${w.width}: ${rel.median.toFixed(2)}x greedy per token (IQR ` +
          `${rel.q1.toFixed(2)}–${rel.q3.toFixed(2)}); this machine: ` +
          `${w.msPerToken.median.toFixed(2)} ms/token (${
            w.sessionMsPerToken.median.toFixed(2)
          } in the session); ${w.callsPerStep} model call(s) per ` +
          `step with ${w.rowsPerCall.join("/")} rows` +
          (w.readbackBytesPerStep === undefined
            ? ""
            : `; read back ${w.readbackBytesPerStep} B/step = ` +
              `${(w.readbackBytesPerStep / (4 * info.vocabSize)).toFixed(2)} rows of logits`) +
          target,
      );
    }
    results.push(r);
  }
  return results;
}

function printFloor(f: DecodeFloor): void {
  console.log(
    `  floor: ${(f.weightBytes / 1e6).toFixed(1)} MB of weights ÷ ${f.gbPerS.toFixed(1)} GB/s ` +
      `(${f.bandwidthSource}) = ${f.floorMsPerToken.toFixed(3)} ms per token at least; ` +
      `ours-wasm decodes at ${f.measuredMsPerToken.toFixed(3)} ms per token, ` +
      `${f.timesAboveFloor.toFixed(1)}x the floor`,
  );
}

async function main(args: string[]): Promise<void> {
  const flags = parseBenchFlags(args);
  if (flags.help) {
    console.log(usage(BENCH_CLI));
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

async function measure(flags: BenchFlags): Promise<void> {
  const machine = await machineInfo();
  console.log(
    `bench on this machine: ${machine.cpu}, ${machine.cores} cores, WebGPU adapter: ` +
      `${machine.webgpuAdapter ?? "none"}; load average ${machine.loadAverage.join(", ")}; ` +
      machine.note,
  );
  const resultsPath = `${flags.outDir}/results.json`;
  const previous = await readJsonObject(resultsPath);
  const parts: Record<string, unknown> = {
    ...(previous?.parts as Record<string, unknown> | undefined),
  };
  // Written together at the end: an interrupted run changes none of them.
  const files: { path: string; value: unknown }[] = [];
  if (flags.parts.includes("roofline")) {
    const roofline = await runRoofline(flags);
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
  const info = needsModel ? await modelInfo(flags) : undefined;
  if (info && flags.parts.includes("decode")) {
    // Load averages before each part: the other jobs it shared the machine with.
    const loadAverage = Deno.loadavg();
    const decode = await runDecode(flags, info);
    const roofline = parts.roofline as RooflineResult | undefined;
    const floor = roofline ? await decodeFloor(flags.model, decode, roofline) : undefined;
    if (floor) printFloor(floor);
    else console.log("  floor: no roofline measured yet (run --only roofline first)");
    parts.decode = {
      quick: flags.quick,
      loadAverage,
      ...decode,
      floor: floor ?? null,
    };
  }
  if (info && flags.parts.includes("beams")) {
    const loadAverage = Deno.loadavg();
    parts.beams = { quick: flags.quick, loadAverage, runs: await runBeams(flags, info) };
  }
  files.push({ path: resultsPath, value: { schema: 1, machine, parts } });
  await commitJsonFiles(files);
  console.log(`\nwrote ${files.map((f) => f.path).join(", ")}`);
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
