/**
 * This machine's roofline, measured: memory bandwidth (a JavaScript TypedArray copy, WebAssembly
 * SIMD reads on the runtime's thread count, and a streaming Add chain on onnxruntime-web) and peak MatMul FLOP/s per backend (WASM, WebGPU),
 * plus the MatMuls of a transformer layer (Question 1's shapes, scaled down) timed on the same
 * backends and placed against the measured roofs.
 *
 * Operators are timed by slope: a chain of `d1` and one of `d2` identical links run
 * alternately, and `(t(d2) − t(d1)) / (d2 − d1)` is the time of one link. The fixed cost of a
 * run (dispatch, input upload, output download, GPU sync) cancels out.
 *
 * @example
 * ```ts
 * import { measureJsCopyBandwidth } from "./roofline.ts";
 * const copy = await measureJsCopyBandwidth({ bytes: 1 << 20, reps: 3 });
 * copy.gbPerS.median > 0;
 * ```
 * @module
 */
import { peakGflopsPerS } from "../lib/bench/results.ts";
import type { HardwareEntry } from "../lib/intensity/hardware.ts";
import type {
  BackendRoofline,
  BandwidthMeasurement,
  BatchedMatmulShape,
  LayerShape,
  MatmulMeasurement,
  OrtBackend,
  RooflineResult,
  SlopeTiming,
} from "../lib/bench/results.ts";
import type * as Ort from "onnxruntime-web/webgpu";
import { configureRuntime, ortFor, sessionOptions, wasmThreads } from "../lib/onnx/backend.ts";
import { matmulCost } from "../lib/intensity/matmul.ts";
import { decodeOps, prefillOps } from "../lib/intensity/layer.ts";
import { modelConfig } from "../lib/intensity/config.ts";
import type { Phase } from "../lib/intensity/layer.ts";
import { addChainModel, type BuiltModel, matmulChainModel } from "./onnx_model.ts";
import { measureReadBandwidth } from "./read_bandwidth.ts";
import { summarize, type Summary } from "../lib/bench/stats.ts";

/** Bytes per float32 element: what every model built here computes in. */
export const FLOAT32_BYTES = 4;

/**
 * Memory bandwidth of a plain `Float32Array.prototype.set` copy of `bytes` bytes, counted as
 * STREAM does (one read and one write per byte copied), best of a warm-up then `reps` runs.
 * @example
 * ```ts
 * const m = await measureJsCopyBandwidth({ bytes: 1 << 20, reps: 2 });
 * m.bytesPerOp === 2 << 20;
 * ```
 */
export function measureJsCopyBandwidth(
  options: { bytes: number; reps: number },
): Promise<BandwidthMeasurement> {
  const { bytes, reps } = options;
  checkPositiveInteger("bytes", bytes);
  checkPositiveInteger("reps", reps);
  const elements = Math.floor(bytes / FLOAT32_BYTES);
  const src = new Float32Array(elements).map((_, i) => i & 1023);
  const dst = new Float32Array(elements);
  dst.set(src); // touch every page so the timed copies do not measure page faults
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    dst.set(src);
    const seconds = (performance.now() - t0) / 1000;
    samples.push((2 * elements * FLOAT32_BYTES) / seconds / 1e9);
  }
  if (dst[elements - 1] !== src[elements - 1]) throw new Error("copy check failed");
  return Promise.resolve({
    method: `Float32Array.set copy of ${fmtBytes(elements * FLOAT32_BYTES)}, ` +
      "read + write counted (STREAM convention)",
    bytesPerOp: 2 * elements * FLOAT32_BYTES,
    gbPerS: summarize(samples),
  });
}

/**
 * Times one link of a chain model by slope between depths `d1 < d2`, running the two sessions
 * alternately for `reps` repetitions (each keeps each depth's fastest of
 * {@linkcode RUNS_PER_REPETITION} runs) after one warm-up run each.
 * @example
 * ```ts
 * import { addChainModel } from "./onnx_model.ts";
 * const t = await timeChainSlope("wasm", (d) => addChainModel({ elements: 4096, depth: d, seed: 1 }), [1, 3], 3);
 * t.secondsPerLink.n === 3;
 * ```
 */
export async function timeChainSlope(
  backend: OrtBackend,
  build: (depth: number) => BuiltModel,
  depths: [number, number],
  reps: number,
): Promise<SlopeTiming> {
  const [d1, d2] = depths;
  if (!(Number.isInteger(d1) && Number.isInteger(d2) && d1 >= 1 && d2 > d1)) {
    throw new RangeError(`chain depths must be integers with 1 ≤ d1 < d2, got [${d1}, ${d2}]`);
  }
  checkPositiveInteger("reps", reps);
  // WASM runs on the plain build ours uses, at the process's thread count (fixed by the first
  // `ortFor("wasm", n)`, which `measureRoofline` makes); WebGPU on the JSEP build.
  const ort = backend === "wasm" ? await ortFor("wasm", wasmThreads() ?? 1) : configureRuntime();
  const runners = [];
  for (const depth of depths) {
    const model = build(depth);
    const session = await ort.InferenceSession.create(model.bytes, sessionOptions(backend));
    const size = model.inputShape.reduce((a, b) => a * b, 1);
    const x = new ort.Tensor("float32", new Float32Array(size).fill(0.5), model.inputShape);
    const run = async () => {
      const t0 = performance.now();
      const out = await session.run({ [model.inputName]: x });
      // Reading the output forces the GPU to finish before the clock stops.
      await (out[model.outputName] as Ort.Tensor).getData();
      const ms = performance.now() - t0;
      for (const t of Object.values(out)) t.dispose();
      return ms;
    };
    await run();
    runners.push({ run, session });
  }
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    // Alternate the order so slow drifts of a shared machine hit both depths alike, and keep
    // each depth's fastest of a few runs: another job's stall only ever adds time.
    const order = r % 2 === 0 ? [0, 1] : [1, 0];
    const times = [Infinity, Infinity];
    for (let k = 0; k < RUNS_PER_REPETITION; k++) {
      for (const i of order) times[i] = Math.min(times[i], await runners[i].run());
    }
    samples.push((times[1] - times[0]) / 1000 / (d2 - d1));
  }
  for (const { session } of runners) await session.release();
  return { depths, samples, secondsPerLink: summarize(samples) };
}

/**
 * Memory bandwidth seen by onnxruntime-web: one Add link over `elements` floats reads two
 * tensors and writes one (12 bytes per element).
 * @example
 * ```ts
 * const m = await measureOrtBandwidth("wasm", { elements: 1 << 16, depths: [1, 3], reps: 3 });
 * m.bytesPerOp === 12 << 16;
 * ```
 */
export async function measureOrtBandwidth(
  backend: OrtBackend,
  options: { elements: number; depths: [number, number]; reps: number },
): Promise<BandwidthMeasurement & { slope: SlopeTiming }> {
  const { elements, depths, reps } = options;
  const bytesPerOp = 3 * elements * FLOAT32_BYTES;
  const slope = await timeLinks(
    backend,
    (depth) => addChainModel({ elements, depth, seed: 11 }),
    depths[1] - depths[0],
    4 * (depths[1] - depths[0]),
    reps,
    depths[0],
  );
  return {
    method: `onnxruntime-web ${backend}: Add chain over ${fmtBytes(elements * FLOAT32_BYTES)} ` +
      `tensors, slope between depths ${slope.depths.join(" and ")}, 2 reads + 1 write per element`,
    bytesPerOp,
    gbPerS: rate(slope, bytesPerOp / 1e9),
    slope,
  };
}

/**
 * FLOPs and float32 bytes of a batched MatMul, from the Question 1 cost model
 * (`lib/intensity/matmul.ts`) times the batch.
 * @example
 * ```ts
 * matmulFlopsBytes({ batch: 2, m: 1, k: 4, n: 4 }); // { flops: 64, bytes: 192 }
 * ```
 */
export function matmulFlopsBytes(shape: BatchedMatmulShape): { flops: number; bytes: number } {
  const cost = matmulCost({ m: shape.m, k: shape.k, n: shape.n }, FLOAT32_BYTES);
  return {
    flops: Number(cost.flops) * shape.batch,
    bytes: Number(cost.bytes) * shape.batch,
  };
}

/**
 * Times one MatMul of `shape` on `backend` by chain slope. The longer chain is sized so the
 * timed difference does at least `minFlops` of work and streams at least `minWeightBytes` of
 * distinct weights (more than the last-level cache, so weights come from memory as in a real
 * decode step).
 * @example
 * ```ts
 * const m = await measureMatmul("wasm", "tiny", { batch: 1, m: 8, k: 8, n: 8 }, { reps: 3 });
 * m.flops === 1024;
 * ```
 */
export async function measureMatmul(
  backend: OrtBackend,
  label: string,
  shape: BatchedMatmulShape,
  options: { reps: number; minFlops?: number; minWeightBytes?: number; maxDepth?: number },
): Promise<MatmulMeasurement> {
  const { reps, minFlops = 0, minWeightBytes = 0, maxDepth = 129 } = options;
  const { flops, bytes } = matmulFlopsBytes(shape);
  const weightBytes = shape.batch * shape.k * shape.n * FLOAT32_BYTES;
  const links = Math.min(
    maxDepth - 1,
    Math.max(2, Math.ceil(minFlops / flops), Math.ceil(minWeightBytes / weightBytes)),
  );
  const slope = await timeLinks(
    backend,
    (depth) => matmulChainModel({ ...shape, depth, seed: 101 }),
    links,
    maxDepth - 1,
    reps,
  );
  return {
    label,
    shape,
    flops,
    bytes,
    intensity: flops / bytes,
    gflopsPerS: rate(slope, flops / 1e9),
    slope,
  };
}

/** Question 1's layer: L = 4096, D = 4096, n_H = 32 (H = 128). */
export const QUESTION1_LAYER: LayerShape = { seqLen: 4096, dModel: 4096, nHeads: 32 };

/** The rows of Question 1's tables that the roofline times: one of each distinct shape. */
const TIMED_STEPS: readonly { phase: Phase; step: number; label: string }[] = [
  { phase: "prefill", step: 1, label: "prefill x·W^Q (steps 1–3)" },
  { phase: "prefill", step: 11, label: "prefill Out·W^1 (step 11)" },
  { phase: "prefill", step: 7, label: "prefill Q_i·K_iᵀ (step 7)" },
  { phase: "decode", step: 1, label: "decode t·W^Q (steps 1, 2, 4)" },
  { phase: "decode", step: 13, label: "decode Out·W^1 (step 13)" },
  { phase: "decode", step: 9, label: "decode Q_i·K_iᵀ (step 9)" },
];

/**
 * The MatMuls of Question 1's tables for a layer shape (FFN 4D, one sequence), taken from
 * `lib/intensity`'s rows: prefill and decode projections, feed-forward and per-head Q·Kᵀ, as
 * batched shapes (the batch is the number of products per layer: the heads for attention).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const ops = layerMatmuls({ seqLen: 512, dModel: 512, nHeads: 4 });
 * assertEquals(ops.find((o) => o.label.startsWith("decode t·W"))?.shape, { batch: 1, m: 1, k: 512, n: 512 });
 * ```
 */
export function layerMatmuls(layer: LayerShape): { label: string; shape: BatchedMatmulShape }[] {
  const { seqLen, dModel, nHeads } = layer;
  for (const [name, v] of Object.entries(layer)) checkPositiveInteger(name, v);
  if (dModel % nHeads !== 0) {
    throw new RangeError(`dModel (${dModel}) must be a multiple of nHeads (${nHeads})`);
  }
  const config = modelConfig({ seqLen, dModel, heads: nHeads, ffn: 4 * dModel, dtype: "fp32" });
  const phases = { prefill: prefillOps(config), decode: decodeOps(config) };
  return TIMED_STEPS.map(({ phase, step, label }) => {
    const { m, k, n, products } = phases[phase].find((op) => op.step === step)!.matmul!;
    return { label, shape: { batch: products, m, k, n } };
  });
}

/**
 * Times `links` links by slope from depth `base`; when noise makes any repetition's difference
 * non-positive (a busy shared machine, too little work), doubles the links up to `maxLinks`,
 * and there measures again up to {@linkcode ATTEMPTS_AT_MAX_LINKS} times in all (a burst of
 * another job's work passes; a machine too noisy for the chain still ends in `rate`'s error).
 */
async function timeLinks(
  backend: OrtBackend,
  build: (depth: number) => BuiltModel,
  links: number,
  maxLinks: number,
  reps: number,
  base = 1,
): Promise<SlopeTiming> {
  let n = Math.min(links, maxLinks);
  for (let atMax = 0;;) {
    const slope = await timeChainSlope(backend, build, [base, base + n], reps);
    if (slope.samples.every((s) => s > 0)) return slope;
    if (n < maxLinks) n = Math.min(2 * n, maxLinks);
    else if (++atMax >= ATTEMPTS_AT_MAX_LINKS) return slope;
  }
}

/** Runs of each depth per repetition of {@linkcode timeChainSlope}; the fastest counts. */
const RUNS_PER_REPETITION = 3;

/** Measurements of the longest chain before its noise is reported as an error. */
const ATTEMPTS_AT_MAX_LINKS = 3;

/**
 * Per-repetition rates `amount / seconds`, summarized; a chain whose slope is not positive
 * means noise swamped the work, which is an error rather than a figure.
 */
function rate(slope: SlopeTiming, amount: number): Summary {
  if (!slope.samples.every((s) => s > 0)) {
    throw new Error(
      `timing noise exceeded the work: seconds per link ${slope.samples.join(", ")} ` +
        `between depths ${slope.depths.join(" and ")}; use longer chains or more reps`,
    );
  }
  return summarize(slope.samples.map((s) => amount / s));
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
}

function fmtBytes(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(0)} MiB` : `${bytes} B`;
}

/** How much work the roofline part does on one backend. */
export interface RooflineBudget {
  /** Elements of the Add-chain tensors (float32). */
  bandwidthElements: number;
  /** Add-chain depths timed. */
  bandwidthDepths: [number, number];
  /** Side of the square MatMul whose FLOP/s is taken as the peak. */
  peakSide: number;
  /** Least FLOPs in a timed chain difference. */
  minFlops: number;
  /** Least distinct weight bytes streamed in a timed chain difference. */
  minWeightBytes: number;
  /** Longest chain built. */
  maxDepth: number;
}

/** The default budgets: a few seconds per backend on a 2-core machine. */
export const ROOFLINE_BUDGETS: Record<"full" | "quick", Record<OrtBackend, RooflineBudget>> = {
  full: {
    wasm: {
      bandwidthElements: 16 << 20,
      bandwidthDepths: [1, 5],
      peakSide: 512,
      minFlops: 2e9,
      minWeightBytes: 64 << 20,
      maxDepth: 129,
    },
    // lavapipe runs WebGPU on the CPU at a few GFLOP/s with milliseconds per dispatch.
    webgpu: {
      bandwidthElements: 8 << 20,
      bandwidthDepths: [1, 5],
      peakSide: 512,
      minFlops: 5e8,
      minWeightBytes: 16 << 20,
      maxDepth: 33,
    },
  },
  quick: {
    wasm: {
      bandwidthElements: 1 << 20,
      bandwidthDepths: [1, 3],
      peakSide: 128,
      minFlops: 3e8,
      minWeightBytes: 4 << 20,
      maxDepth: 65,
    },
    webgpu: {
      bandwidthElements: 1 << 20,
      bandwidthDepths: [1, 3],
      peakSide: 128,
      minFlops: 3e7,
      minWeightBytes: 1 << 20,
      maxDepth: 65,
    },
  },
};

/**
 * Measures the roofline of each backend in `backends`: bandwidth, peak and the layer's MatMuls.
 * `log` receives one line per figure as it is measured.
 * @example
 * ```ts
 * const r = await measureRoofline({
 *   backends: ["wasm"], reps: 2, layer: { seqLen: 16, dModel: 32, nHeads: 2 },
 *   budget: ROOFLINE_BUDGETS.quick, copyBytes: 1 << 20, readBytes: 1 << 20, log: console.log,
 * });
 * r.backends[0].ops.length === 6;
 * ```
 */
export async function measureRoofline(options: {
  backends: readonly OrtBackend[];
  /** Threads of the WASM runtime (the process's, fixed at its first WASM session). */
  threads?: number;
  reps: number;
  layer: LayerShape;
  budget: Record<OrtBackend, RooflineBudget>;
  copyBytes: number;
  /** Bytes the read-bandwidth workers stream per pass (far beyond the last-level cache). */
  readBytes: number;
  log: (line: string) => void;
}): Promise<RooflineResult> {
  const { reps, layer, budget, log } = options;
  const measuredAt = new Date().toISOString();
  await ortFor("wasm", options.threads ?? 1);
  const threads = wasmThreads() ?? 1;
  const jsCopy = await measureJsCopyBandwidth({ bytes: options.copyBytes, reps });
  log(`js copy bandwidth: ${fmtRate(jsCopy.gbPerS, "GB/s")}`);
  const read = await measureReadBandwidth({ bytes: options.readBytes, threads, reps });
  log(`read bandwidth (${threads} thread(s)): ${fmtRate(read.gbPerS, "GB/s")}`);
  const backends: BackendRoofline[] = [];
  for (const backend of options.backends) {
    const b = budget[backend];
    const bandwidth = await measureOrtBandwidth(backend, {
      elements: b.bandwidthElements,
      depths: b.bandwidthDepths,
      reps,
    });
    log(`${backend} Add-chain bandwidth: ${fmtRate(bandwidth.gbPerS, "GB/s")}`);
    const side = b.peakSide;
    const peak = await measureMatmul(
      backend,
      `peak ${side}×${side}·${side}×${side}`,
      { batch: 1, m: side, k: side, n: side },
      { reps, minFlops: b.minFlops, maxDepth: b.maxDepth },
    );
    log(`${backend} MatMul peak (${peak.label}): ${fmtRate(peak.gflopsPerS, "GFLOP/s")}`);
    const ops: MatmulMeasurement[] = [];
    const skipped: { label: string; reason: string }[] = [];
    for (const op of layerMatmuls(layer)) {
      const dims = `[${op.shape.batch}×${op.shape.m}×${op.shape.k}·${op.shape.n}]`;
      try {
        const m = await measureMatmul(backend, op.label, op.shape, {
          reps,
          minFlops: b.minFlops,
          minWeightBytes: b.minWeightBytes,
          maxDepth: b.maxDepth,
        });
        log(
          `${backend} ${op.label} ${dims} AI ${m.intensity.toFixed(2)} FLOP/B: ` +
            fmtRate(m.gflopsPerS, "GFLOP/s"),
        );
        ops.push(m);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        log(`${backend} ${op.label} ${dims}: not measured, ${reason}`);
        skipped.push({ label: op.label, reason });
      }
    }
    backends.push({ backend, bandwidth, peak, ops, skipped });
  }
  return { measuredAt, reps, layer, jsCopy, read, backends, wasmThreads: threads };
}

/**
 * `data/hardware-measured.json` entries (the schema of `lib/intensity/hardware.ts`) for each
 * measured backend: fp32 peak FLOP/s and memory GB/s, with how and when they were measured.
 * @example
 * ```ts
 * // hardwareEntries(result, "AMD EPYC, 2 cores") → { "this-machine-wasm": { … }, … }
 * ```
 */
export function hardwareEntries(
  result: RooflineResult,
  machine: string,
  webgpuAdapter: string | null = null,
): Record<string, HardwareEntry> {
  const entries: Record<string, HardwareEntry> = {};
  for (const r of result.backends) {
    const peak = peakGflopsPerS(r);
    entries[`this-machine-${r.backend}`] = {
      name: `This machine, onnxruntime-web ${
        r.backend === "wasm"
          ? "WASM (1 thread)"
          : `WebGPU${webgpuAdapter ? ` on ${webgpuAdapter}` : ""}`
      }`,
      peakFlopsPerS: { fp32: peak * 1e9 },
      memoryGbPerS: r.bandwidth.gbPerS.median,
      source: `measured by \`deno task bench\` on ${result.measuredAt} on ${machine}: ` +
        `peak = best median fp32 MatMul FLOP/s (${r.peak.label} and the Question 1 MatMuls ` +
        `scaled to L=${result.layer.seqLen}, D=${result.layer.dModel}), chain-slope timing, ` +
        `${result.reps} reps; bandwidth = ${r.bandwidth.method}` +
        (r.backend === "wasm" ? ` (${result.wasmThreads ?? 1} thread(s))` : "") +
        `. Plain JS copy on the same ` +
        `machine: ${result.jsCopy.gbPerS.median.toFixed(1)} GB/s. Shared machine: other jobs ` +
        "may have been running.",
      measuredAt: result.measuredAt,
    };
  }
  return entries;
}

/** `median unit (q1–q3)` with three significant digits. */
export function fmtRate(s: Summary, unit: string): string {
  const p = (v: number) => v.toPrecision(3);
  return `${p(s.median)} ${unit} (IQR ${p(s.q1)}–${p(s.q3)}, n=${s.n})`;
}
