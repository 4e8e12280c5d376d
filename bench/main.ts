/**
 * `deno task bench`: generation speed against transformers.js, the cost of beams, WebGPU
 * readback per token, and this machine's roofline, measured side by side in one run. Prints
 * ratios (and absolute figures, labelled as this machine's), writes `results.json` and the
 * roofline figure into `--out`, and this machine's roofs into `--hardware`.
 *
 * ```sh
 * deno task bench                       # everything, default repetitions
 * deno task bench --only roofline       # one part; others keep their previous results
 * deno task bench --quick --out /tmp/b  # a fast smoke run that touches nothing in data/
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
import { rooflineFigure } from "../lib/bench/figure.ts";
import {
  hardwareEntries,
  measureRoofline,
  type OrtBackend,
  ROOFLINE_BUDGETS,
  type RooflineResult,
} from "../lib/bench/roofline.ts";
import { machineInfo, readJsonObject, writeJsonAtomic } from "../lib/bench/results.ts";

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

const USAGE = `deno task bench [flags]
  --only PARTS       comma-separated subset of ${BENCH_PARTS.join(",")} (default: all)
  --reps N           repetitions per figure (default 5; --quick: 2)
  --quick            small shapes and few tokens: a smoke run of every code path
  --tokens N         new tokens per generation (default 64; --quick: 8)
  --model DIR        model folder (default data/models/brown-gpt2)
  --out DIR          where results.json and roofline-figure.json go (default data/bench)
  --hardware FILE    this machine's roofs for lib/intensity (default
                     data/hardware-measured.json; "none" to skip; skipped with --quick
                     unless given)
  --help             this text`;

/**
 * Parses the bench's flags; unknown flags and bad values throw an error naming them.
 * @example
 * ```ts
 * parseBenchFlags(["--quick"]).reps; // 2
 * ```
 */
export function parseBenchFlags(args: readonly string[]): BenchFlags {
  let parts: BenchPart[] = [...BENCH_PARTS];
  let reps: number | undefined;
  let quick = false;
  let outDir = "data/bench";
  let hardwarePath: string | null | undefined;
  let model = "data/models/brown-gpt2";
  let newTokens: number | null = null;
  let help = false;
  const positiveInt = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 1) {
      throw new RangeError(`${flag} needs a positive integer, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  const value = (flag: string, v: string | undefined) => {
    if (v === undefined || v.startsWith("--")) throw new RangeError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].includes("=") ? args[i].split(/=(.*)/s, 2) : [args[i]];
    const next = () => inline ?? args[++i];
    switch (flag) {
      case "--only": {
        const names = value(flag, next()).split(",").map((s) => s.trim()).filter(Boolean);
        for (const n of names) {
          if (!(BENCH_PARTS as readonly string[]).includes(n)) {
            throw new RangeError(
              `--only: unknown part ${JSON.stringify(n)}; allowed: ${BENCH_PARTS.join(", ")}`,
            );
          }
        }
        if (names.length === 0) throw new RangeError("--only needs at least one part");
        parts = BENCH_PARTS.filter((p) => names.includes(p));
        break;
      }
      case "--reps":
        reps = positiveInt(flag, next());
        break;
      case "--tokens":
        newTokens = positiveInt(flag, next());
        break;
      case "--quick":
        quick = true;
        break;
      case "--out":
        outDir = value(flag, next());
        break;
      case "--hardware": {
        const v = value(flag, next());
        hardwarePath = v === "none" ? null : v;
        break;
      }
      case "--model":
        model = value(flag, next());
        break;
      case "--help":
      case "-h":
        help = true;
        break;
      default:
        throw new RangeError(`unknown flag ${JSON.stringify(args[i])}\n${USAGE}`);
    }
  }
  return {
    parts,
    reps: reps ?? (quick ? 2 : 5),
    quick,
    outDir,
    hardwarePath: hardwarePath !== undefined
      ? hardwarePath
      : quick
      ? null
      : "data/hardware-measured.json",
    model,
    newTokens,
    help,
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

async function main(args: string[]): Promise<void> {
  const flags = parseBenchFlags(args);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const machine = await machineInfo();
  console.log(
    `bench on this machine: ${machine.cpu}, ${machine.cores} cores, WebGPU adapter: ` +
      `${machine.webgpuAdapter ?? "none"}; ${machine.note}`,
  );
  const resultsPath = `${flags.outDir}/results.json`;
  const previous = await readJsonObject(resultsPath);
  const parts: Record<string, unknown> = {
    ...(previous?.parts as Record<string, unknown> | undefined),
  };
  if (flags.parts.includes("roofline")) {
    const roofline = await runRoofline(flags);
    parts.roofline = { quick: flags.quick, ...roofline };
    await writeJsonAtomic(`${flags.outDir}/roofline-figure.json`, rooflineFigure(roofline));
    if (flags.hardwarePath) {
      await writeJsonAtomic(
        flags.hardwarePath,
        hardwareEntries(roofline, `${machine.cpu}, ${machine.cores} cores`),
      );
      console.log(`  wrote ${flags.hardwarePath}`);
    }
  }
  await writeJsonAtomic(resultsPath, { schema: 1, machine, parts });
  console.log(`\nwrote ${resultsPath}`);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
