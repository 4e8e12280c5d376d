/**
 * This machine's roofline, measured: memory bandwidth (a JavaScript TypedArray copy and a
 * streaming Add chain on onnxruntime-web) and peak MatMul FLOP/s per backend (WASM, WebGPU),
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
import type * as Ort from "onnxruntime-web/webgpu";
import { configureRuntime, sessionOptions } from "../onnx/backend.ts";
import { matmulCost } from "../intensity/matmul.ts";
import {
  addChainModel,
  type BuiltModel,
  matmulChainModel,
  type MatmulShape,
} from "./onnx_model.ts";
import { summarize, type Summary } from "./stats.ts";

/** A backend of onnxruntime-web this module times. */
export type OrtBackend = "wasm" | "webgpu";

/** Bytes per float32 element: what every model built here computes in. */
export const FLOAT32_BYTES = 4;

/** A bandwidth figure: per-repetition GB/s (1e9 bytes per second). */
export interface BandwidthMeasurement {
  /** What was timed, in words. */
  method: string;
  /** Bytes counted per timed operation (reads + writes). */
  bytesPerOp: number;
  /** GB/s over the repetitions. */
  gbPerS: Summary;
}

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

/** Per-link seconds of a chain, measured by slope. */
export interface SlopeTiming {
  /** Chain depths timed. */
  depths: [number, number];
  /** Seconds per link, one sample per repetition: `(t2 − t1) / (d2 − d1)`. */
  samples: number[];
  /** Summary of `samples`. */
  secondsPerLink: Summary;
}

/**
 * Times one link of a chain model by slope between depths `d1 < d2`, running the two sessions
 * alternately for `reps` repetitions after one warm-up run each.
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
  const ort = configureRuntime();
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
    // Alternate the order so slow drifts of a shared machine hit both depths alike.
    const [a, b] = r % 2 === 0 ? [0, 1] : [1, 0];
    const times: number[] = [];
    times[a] = await runners[a].run();
    times[b] = await runners[b].run();
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
  const slope = await timeChainSlope(
    backend,
    (depth) => addChainModel({ elements, depth, seed: 11 }),
    depths,
    reps,
  );
  return {
    method: `onnxruntime-web ${backend}: Add chain over ${fmtBytes(elements * FLOAT32_BYTES)} ` +
      `tensors, slope between depths ${depths.join(" and ")}, 2 reads + 1 write per element`,
    bytesPerOp,
    gbPerS: rate(slope, bytesPerOp / 1e9),
    slope,
  };
}

/** A timed MatMul shape with its analytical cost. */
export interface MatmulMeasurement {
  /** Short label, e.g. "prefill x·W^Q". */
  label: string;
  /** The shape timed (`batch` independent `m×k · k×n` products). */
  shape: MatmulShape;
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

/**
 * FLOPs and float32 bytes of a batched MatMul, from the Question 1 cost model
 * (`lib/intensity/matmul.ts`) times the batch.
 * @example
 * ```ts
 * matmulFlopsBytes({ batch: 2, m: 1, k: 4, n: 4 }); // { flops: 64, bytes: 192 }
 * ```
 */
export function matmulFlopsBytes(shape: MatmulShape): { flops: number; bytes: number } {
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
  shape: MatmulShape,
  options: { reps: number; minFlops?: number; minWeightBytes?: number; maxDepth?: number },
): Promise<MatmulMeasurement> {
  const { reps, minFlops = 0, minWeightBytes = 0, maxDepth = 129 } = options;
  const { flops, bytes } = matmulFlopsBytes(shape);
  const weightBytes = shape.batch * shape.k * shape.n * FLOAT32_BYTES;
  const links = Math.min(
    maxDepth - 1,
    Math.max(2, Math.ceil(minFlops / flops), Math.ceil(minWeightBytes / weightBytes)),
  );
  const slope = await timeChainSlope(
    backend,
    (depth) => matmulChainModel({ ...shape, depth, seed: 101 }),
    [1, 1 + links],
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

/** The layer of Question 1, scaled: sequence length, model width, heads, head width. */
export interface LayerShape {
  /** Prompt length L. */
  seqLen: number;
  /** Model dimension D. */
  dModel: number;
  /** Number of heads n_H. */
  nHeads: number;
}

/** Question 1's layer: L = 4096, D = 4096, n_H = 32 (H = 128). */
export const QUESTION1_LAYER: LayerShape = { seqLen: 4096, dModel: 4096, nHeads: 32 };

/**
 * The MatMuls of Question 1's tables for a layer shape: prefill and decode projections,
 * feed-forward and per-head Q·Kᵀ, as batched shapes.
 * @example
 * ```ts
 * const ops = layerMatmuls({ seqLen: 512, dModel: 512, nHeads: 4 });
 * ops.find((o) => o.label.startsWith("decode x·W"))?.shape; // { batch: 1, m: 1, k: 512, n: 512 }
 * ```
 */
export function layerMatmuls(layer: LayerShape): { label: string; shape: MatmulShape }[] {
  const { seqLen: L, dModel: D, nHeads } = layer;
  for (const [name, v] of Object.entries(layer)) checkPositiveInteger(name, v);
  if (D % nHeads !== 0) {
    throw new RangeError(`dModel (${D}) must be a multiple of nHeads (${nHeads})`);
  }
  const H = D / nHeads;
  return [
    { label: "prefill x·W^Q (steps 1–3)", shape: { batch: 1, m: L, k: D, n: D } },
    { label: "prefill Out·W^1 (step 11)", shape: { batch: 1, m: L, k: D, n: 4 * D } },
    { label: "prefill Q_i·K_iᵀ (step 7)", shape: { batch: nHeads, m: L, k: H, n: L } },
    { label: "decode t·W^Q (steps 1, 2, 4)", shape: { batch: 1, m: 1, k: D, n: D } },
    { label: "decode Out·W^1 (step 13)", shape: { batch: 1, m: 1, k: D, n: 4 * D } },
    { label: "decode Q_i·K_iᵀ (step 9)", shape: { batch: nHeads, m: 1, k: H, n: L + 1 } },
  ];
}

/**
 * Per-repetition rates `amount / seconds`, summarized; a chain whose slope is not positive
 * means noise swamped the work, which is an error rather than a figure.
 */
function rate(slope: SlopeTiming, amount: number): Summary {
  if (!(slope.secondsPerLink.median > 0)) {
    throw new Error(
      `timing noise exceeded the work: median seconds per link ${slope.secondsPerLink.median} ` +
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
