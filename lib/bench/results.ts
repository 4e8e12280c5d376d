/**
 * The schema of the benchmark's results (`data/bench/results.json`, written by
 * `deno task bench`) and the reader the notebooks use. The harness that measures them lives in
 * `bench/`; this module only describes and reads what it wrote, and never imports it.
 *
 * A part measured with `--quick` (smaller shapes, fewer tokens) carries `quick: true`; the
 * reader refuses such a part unless asked, so a smoke run can never pass for a measurement.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { readBenchResults } from "./results.ts";
 * const results = await readBenchResults();
 * assert(results.parts.decode === undefined || results.parts.decode.models.length > 0);
 * ```
 * @module
 */
import type { Roof } from "../intensity/roofline.ts";
import type { Summary } from "./stats.ts";

/** The committed results file. */
export const BENCH_RESULTS_FILE: URL = new URL("../../data/bench/results.json", import.meta.url);

/** The machine a run happened on. */
export interface MachineInfo {
  /** CPU model from `/proc/cpuinfo`, when readable. */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** Deno's version. */
  deno: string;
  /** onnxruntime-web's version. */
  onnxruntimeWeb: string;
  /** The WebGPU adapter, or null when there is none. */
  webgpuAdapter: string | null;
  /** 1, 5 and 15-minute load averages when the run started (other jobs on the machine). */
  loadAverage: number[];
  /** Why the numbers may be noisy. */
  note: string;
}

/** Every contender the worker can run. */
export const CONTENDERS = [
  "ours-cpu",
  "ours-cpu-1thread",
  "ours-wasm",
  "ours-webgpu",
  "transformers.js-node",
  "transformers.js-node-1thread",
  "transformers.js-web-wasm",
  "transformers.js-web-webgpu",
] as const;

/** One contender. */
export type ContenderId = typeof CONTENDERS[number];
/** Bytes and calls moved between CPU and GPU. */
export interface GpuTrafficCounts {
  /** Bytes mapped for reading (GPU → CPU). */
  readbackBytes: number;
  /** Number of read mappings. */
  readbacks: number;
  /** Bytes written by `queue.writeBuffer` or mapped for writing (CPU → GPU). */
  uploadBytes: number;
  /** Number of uploads. */
  uploads: number;
}
/** Shape of a (batched) matrix product `[batch, m, k] · [batch, k, n]`. */
export interface BatchedMatmulShape {
  /** Independent products computed together (attention heads); 1 for a projection. */
  batch: number;
  /** Rows of the left operand (tokens). */
  m: number;
  /** Shared (reduced) dimension. */
  k: number;
  /** Columns of the right operand. */
  n: number;
}
/** A backend of onnxruntime-web this module times. */
export type OrtBackend = "wasm" | "webgpu";

/** A bandwidth figure: per-repetition GB/s (1e9 bytes per second). */
export interface BandwidthMeasurement {
  /** What was timed, in words. */
  method: string;
  /** Bytes counted per timed operation (reads + writes). */
  bytesPerOp: number;
  /** GB/s over the repetitions. */
  gbPerS: Summary;
}

/** Per-link seconds of a chain, measured by slope. */
export interface SlopeTiming {
  /** Chain depths timed. */
  depths: [number, number];
  /** Seconds per link, one sample per repetition: `(t2 − t1) / (d2 − d1)`. */
  samples: number[];
  /** Summary of `samples`. */
  secondsPerLink: Summary;
}

/** A timed MatMul shape with its analytical cost. */
export interface MatmulMeasurement {
  /** Short label, e.g. "prefill x·W^Q". */
  label: string;
  /** The shape timed (`batch` independent `m×k · k×n` products). */
  shape: BatchedMatmulShape;
  /** 2·batch·m·k·n. */
  flops: number;
  /** float32 bytes: 4·batch·(m·k + k·n + m·n), each operand moved once. */
  bytes: number;
  /** flops / bytes. */
  intensity: number;
  /** Measured FLOP/s over the repetitions (in GFLOP/s). */
  gflopsPerS: Summary;
  /** The slope timing behind it. */
  slope: SlopeTiming;
}

/** The layer of Question 1, scaled: sequence length, model width, heads, head width. */
export interface LayerShape {
  /** Prompt length L. */
  seqLen: number;
  /** Model dimension D. */
  dModel: number;
  /** Number of heads n_H. */
  nHeads: number;
}

/** The roofline of one backend, measured. */
export interface BackendRoofline {
  /** The backend. */
  backend: OrtBackend;
  /** Streaming bandwidth seen by the runtime. */
  bandwidth: BandwidthMeasurement;
  /** FLOP/s of a large square MatMul, taken as the compute roof. */
  peak: MatmulMeasurement;
  /** The layer's MatMuls, timed. */
  ops: MatmulMeasurement[];
  /** MatMuls whose time did not rise above the timing noise even with the longest chain. */
  skipped: { label: string; reason: string }[];
}

/** What the roofline part measures. */
export interface RooflineResult {
  /** ISO time of the measurement. */
  measuredAt: string;
  /** Repetitions per figure. */
  reps: number;
  /** The (scaled) layer whose MatMuls were timed. */
  layer: LayerShape;
  /** Plain JavaScript copy bandwidth (the CPU's memory system without any runtime). */
  jsCopy: BandwidthMeasurement;
  /**
   * Read-only bandwidth of WebAssembly SIMD loads on `wasmThreads` workers (what a decode step's
   * weight stream can reach; absent from runs before it was measured).
   */
  read?: BandwidthMeasurement;
  /** Per backend that could run. */
  backends: BackendRoofline[];
  /** Threads of the WASM measurements (onnxruntime-web's plain build). */
  wasmThreads: number;
}
/** One contender's figures. */
export interface ContenderDecode {
  /** Which contender. */
  id: ContenderId;
  /** Library, runtime and backend, as the contender describes itself. */
  description: string;
  /** Ours: greedy decode found each argmax through the int8-screened LM head. */
  int8Head?: boolean;
  /** Prompt tokens per second of the prefill (prompt tokens / t₁). */
  prefillTokensPerS: Summary;
  /** Generated tokens per second of the decode steps ((N − 1) / (t_N − t₁)). */
  decodeTokensPerS: Summary;
  /** The same, repetition by repetition (for ratios against other contenders). */
  decodeTokensPerSByRep: number[];
  /** Prefill tokens per second, repetition by repetition. */
  prefillTokensPerSByRep: number[];
  /** Milliseconds to the first token, t₁. */
  prefillMs: Summary;
  /** Milliseconds of the whole N-token call. */
  generateMs: Summary;
  /** The N generated tokens (from the last repetition). */
  tokens: number[];
  /** Whether every repetition produced the same tokens. */
  stableTokens: boolean;
  /** Session runs during the N-token generation: prefill + decode calls. */
  modelCalls: number;
  /**
   * Milliseconds per decode step inside the session's `run` (outputs computed, not yet read);
   * the rest of a step is the library's loop around it.
   */
  sessionMsPerStep: Summary;
  /**
   * WebGPU only: bytes moved per decode token (traffic after t₁ ÷ (N − 1)), and
   * `beyondLogitsBytes` = readback beyond one row of logits (0 when the cache stays on the GPU
   * and no other output is read).
   */
  gpuPerToken?: {
    readbackBytes: number;
    readbacks: number;
    uploadBytes: number;
    uploads: number;
    logitsBytes: number;
    beyondLogitsBytes: number;
  };
}

/** One ratio of decode speeds, ours over theirs. */
export interface DecodeComparison {
  /** The numerator contender (this workspace). */
  ours: ContenderId;
  /** The denominator contender. */
  theirs: ContenderId;
  /** What the comparison shows. */
  what: string;
  /** median decode tokens/s of `ours` ÷ median decode tokens/s of `theirs`. */
  ratio: number;
  /** Per-repetition ratios (both measured in the same repetition). */
  perRep: Summary;
  /** Same for prefill tokens/s. */
  prefillRatio: number;
  /** Per-repetition prefill ratios. */
  prefillPerRep: Summary;
  /** Whether both generated identical tokens. */
  identicalTokens: boolean;
}

/** What the decode part measures. */
export interface DecodeResult {
  /** ISO time of the measurement. */
  measuredAt: string;
  /** Model folder. */
  model: string;
  /** The model's name in the benchmark (`embedded`, `gpt2-124m`, or the folder given). */
  name: string;
  /** Which contenders: the CPU runtimes, or WebGPU (fewer tokens: lavapipe is slow). */
  group: "cpu" | "webgpu";
  /** Prompt token ids. */
  promptIds: number[];
  /** New tokens per generation (N). */
  newTokens: number;
  /** Repetitions. */
  reps: number;
  /** Back-to-back generations per contender and repetition, of which the fastest counts. */
  bestOf: number;
  /** Per contender. */
  contenders: ContenderDecode[];
  /** Ours over theirs. */
  comparisons: DecodeComparison[];
  /** Whether all contenders generated the same tokens. */
  identicalTokens: boolean;
  /** Contenders that could not start here, with the first line of their error. */
  skipped: { id: ContenderId; reason: string }[];
}
/** Figures for one beam width. */
export interface BeamWidthCost {
  /** Number of beams (1 = greedy). */
  width: number;
  /** Milliseconds per generated token in the decode steps. */
  msPerToken: Summary;
  /** msPerToken ÷ greedy's, per repetition (both measured in the same repetition). */
  relativeToGreedy: Summary;
  /** The same ratios, repetition by repetition. */
  relativeToGreedyByRep: number[];
  /** Milliseconds of the whole N-token generation (prefill included). */
  generateMs: Summary;
  /** Session runs per decode step: 1 when all beams go in one batch. */
  callsPerStep: number;
  /** Rows (beams) in each decode call. */
  rowsPerCall: number[];
  /** Milliseconds per decode step inside the session's `run` (the rest is the loop around it). */
  sessionMsPerToken: Summary;
  /** WebGPU only: bytes read back to the CPU per decode step (the logits of every row). */
  readbackBytesPerStep?: number;
}

/** What the beams part measures. */
export interface BeamsResult {
  /** ISO time of the measurement. */
  measuredAt: string;
  /** The contender that ran. */
  contender: ContenderId;
  /** Its description. */
  description: string;
  /** The model's name in the benchmark. */
  name: string;
  /** New tokens per generation (N). */
  newTokens: number;
  /** Repetitions. */
  reps: number;
  /** Back-to-back generations per width and repetition, of which the fastest counts. */
  bestOf: number;
  /** Per width, greedy first. */
  widths: BeamWidthCost[];
}
/** The floor against the measured decode speed. */
export interface DecodeFloor {
  /** Weight bytes read per generated token. */
  weightBytes: number;
  /** Whether those count the LM head as the int8 screen reads it (V·D bytes, not floats). */
  int8Head?: boolean;
  /** KV-cache bytes read per token, at the mean past length of the timed steps. */
  kvCacheBytes: number;
  /** Bandwidth used, GB/s. */
  gbPerS: number;
  /** Which measurement the bandwidth is. */
  bandwidthSource: string;
  /** (weightBytes + kvCacheBytes) ÷ bandwidth, milliseconds. */
  floorMsPerToken: number;
  /** The contender measured against the floor: this workspace's fastest CPU path. */
  contender: ContenderId;
  /** Its median decode milliseconds per token. */
  measuredMsPerToken: number;
  /** measured ÷ floor, per repetition. */
  timesAboveFloor: Summary;
  /** The same, repetition by repetition. */
  timesAboveFloorByRep: number[];
}

/** What every part carries besides its measurement. */
export interface PartMeta {
  /** Measured with `--quick`: a smoke run, not a measurement to quote. */
  quick: boolean;
  /** 1, 5 and 15-minute load averages when the part started. */
  loadAverage: number[];
}

/** One model's decode comparison and its memory floor (null before a roofline exists). */
export type DecodeModel = DecodeResult & { floor: DecodeFloor | null };

/** The decode part: one comparison per model. */
export type DecodePart = PartMeta & { models: DecodeModel[] };

/** The beams part: one sweep of widths per backend. */
export type BeamsPart = PartMeta & { runs: BeamsResult[] };

/** One target of the benchmark, judged on per-repetition ratios. */
export interface TargetResult {
  /** Short name, e.g. `greedy embedded onnxruntime-node`. */
  name: string;
  /** What is compared, in words. */
  what: string;
  /** The per-repetition ratios. */
  ratio: Summary;
  /** `>=`: the ratio must reach the bounds; `<=`: it must stay within them. */
  direction: ">=" | "<=";
  /** Bound on the median. */
  median: number;
  /** Bound on the unfavourable quartile (the lower one for `>=`, the upper for `<=`). */
  quartile: number;
  /** Both bounds met. */
  met: boolean;
  /** For a missed target: where the time went, from the same run's measurements. */
  why?: string;
}

/** The whole results file. */
export interface BenchResults {
  /** Schema version, 2 (per-model decode results and judged targets). */
  schema: 2;
  /** The machine of the latest run. */
  machine: MachineInfo;
  /** Each part that has run, from its latest run. */
  parts: {
    roofline?: PartMeta & RooflineResult;
    decode?: DecodePart;
    beams?: BeamsPart;
  };
  /** The targets judged on these parts (see `targets.ts`). */
  targets: TargetResult[];
}

/**
 * Reads a results file; throws naming the file when it is missing, is not schema 2, or holds a
 * `--quick` part (unless `allowQuick`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals((await readBenchResults()).schema, 2);
 * ```
 */
export async function readBenchResults(
  file: URL | string = BENCH_RESULTS_FILE,
  options: { allowQuick?: boolean } = {},
): Promise<BenchResults> {
  const name = file instanceof URL ? decodeURIComponent(file.pathname) : file;
  const value = JSON.parse(await Deno.readTextFile(file));
  if (value?.schema !== 2 || typeof value.parts !== "object") {
    throw new TypeError(`${name} is not a benchmark results file (schema 2)`);
  }
  const results = value as BenchResults;
  if (!options.allowQuick) {
    for (const [part, data] of Object.entries(results.parts)) {
      if (data?.quick) {
        throw new TypeError(
          `${name}: part ${part} comes from a --quick smoke run; rerun deno task bench without --quick`,
        );
      }
    }
  }
  return results;
}

/**
 * The compute roof of a measured backend: the best median of the peak MatMul and every timed
 * layer MatMul, in GFLOP/s.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const s = (median: number) => ({ n: 1, median, min: median, max: median, q1: median, q3: median, relativeIqr: 0 });
 * const op = (g: number) => ({ gflopsPerS: s(g) }) as MatmulMeasurement;
 * assertEquals(peakGflopsPerS({ peak: op(5), ops: [op(7), op(2)] } as BackendRoofline), 7);
 * ```
 */
export function peakGflopsPerS(r: BackendRoofline): number {
  return Math.max(r.peak.gflopsPerS.median, ...r.ops.map((o) => o.gflopsPerS.median));
}

/**
 * The measured roof of one backend, in the roofline module's terms.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const s = (median: number) => ({ n: 1, median, min: median, max: median, q1: median, q3: median, relativeIqr: 0 });
 * const r = { backend: "wasm", bandwidth: { gbPerS: s(10) }, peak: { gflopsPerS: s(20) }, ops: [] };
 * assertEquals(measuredRoof(r as unknown as BackendRoofline).bandwidthBytesPerS, 10e9);
 * ```
 */
export function measuredRoof(r: BackendRoofline): Roof {
  return {
    name: `${r.backend} (measured)`,
    peakFlopsPerS: peakGflopsPerS(r) * 1e9,
    bandwidthBytesPerS: r.bandwidth.gbPerS.median * 1e9,
  };
}
