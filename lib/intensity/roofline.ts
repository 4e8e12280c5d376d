/**
 * The roofline model: an operation of intensity I (FLOPs per byte) on a processor with peak
 * P FLOP/s and memory bandwidth W bytes/s attains min(P, I·W) FLOP/s. It is memory-bound below
 * the ridge point P / W (the processor's ops:byte ratio) and compute-bound above it, and takes
 * at least max(FLOPs / P, bytes / W) seconds.
 *
 * @example
 * ```ts
 * import { rooflineEstimate } from "./roofline.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * rooflineEstimate(137438953472n, 100663296n, v100).bound; // "compute"
 * ```
 * @module
 */
import type { LayerOp } from "./layer.ts";

/** A processor's roof: peak FLOP/s and the bandwidth of one memory level. */
export interface Roof {
  /** Hardware id the roof comes from, when it comes from a preset. */
  readonly id?: string;
  /** Shown in plots and tables. */
  readonly name: string;
  /** Peak FLOP/s. */
  readonly peakFlopsPerS: number;
  /** Memory bandwidth, bytes/s. */
  readonly bandwidthBytesPerS: number;
  /** Memory capacity, bytes, when known. */
  readonly memoryBytes?: number;
}

/** Which roof limits an operation. */
export type Bound = "memory" | "compute";

/**
 * Ridge point: the processor's ops:byte ratio P / W, FLOPs per byte.
 * @example
 * ```ts
 * ridgeIntensity({ name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 }); // 138.9
 * ```
 */
export function ridgeIntensity(roof: Roof): number {
  return roof.peakFlopsPerS / roof.bandwidthBytesPerS;
}

/**
 * Attainable FLOP/s at intensity I: min(P, I·W).
 * @example
 * ```ts
 * attainableFlopsPerS(1, { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 });
 * // 9e11
 * ```
 */
export function attainableFlopsPerS(intensity: number, roof: Roof): number {
  if (!(intensity >= 0)) throw new RangeError(`intensity must be non-negative, got ${intensity}`);
  return Math.min(roof.peakFlopsPerS, intensity * roof.bandwidthBytesPerS);
}

/**
 * `compute` when the intensity exceeds the ridge point, else `memory`.
 * @example
 * ```ts
 * boundOf(1, { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 }); // "memory"
 * ```
 */
export function boundOf(intensity: number, roof: Roof): Bound {
  return intensity > ridgeIntensity(roof) ? "compute" : "memory";
}

/** What the roofline predicts for one operation. */
export interface RooflineEstimate {
  /** FLOPs per byte. */
  readonly intensity: number;
  /** min(P, I·W). */
  readonly attainableFlopsPerS: number;
  /** Which roof limits it. */
  readonly bound: Bound;
  /** FLOPs / P: the time if memory were free. */
  readonly computeSeconds: number;
  /** bytes / W: the time if arithmetic were free. */
  readonly memorySeconds: number;
  /** max(computeSeconds, memorySeconds). */
  readonly seconds: number;
}

/**
 * Roofline estimate for `flops` FLOPs moving `bytes` bytes.
 * @example
 * ```ts
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * rooflineEstimate(2n * 4096n * 4096n, 2n * (4096n + 4096n * 4096n + 4096n), v100).seconds;
 * ```
 */
export function rooflineEstimate(flops: bigint, bytes: bigint, roof: Roof): RooflineEstimate {
  if (bytes <= 0n) throw new RangeError(`bytes must be positive, got ${bytes}`);
  const f = Number(flops), b = Number(bytes);
  const intensity = f / b;
  const computeSeconds = f / roof.peakFlopsPerS;
  const memorySeconds = b / roof.bandwidthBytesPerS;
  return {
    intensity,
    attainableFlopsPerS: attainableFlopsPerS(intensity, roof),
    bound: boundOf(intensity, roof),
    computeSeconds,
    memorySeconds,
    seconds: Math.max(computeSeconds, memorySeconds),
  };
}

/**
 * Roofline estimate of an operation's whole-layer work (all heads and sequences together).
 * @throws {RangeError} for an operation that is not a matrix multiplication.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { decodeOps } from "./layer.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * opEstimate(decodeOps(modelConfig())[0], v100).bound; // "memory"
 * ```
 */
export function opEstimate(op: LayerOp, roof: Roof): RooflineEstimate {
  if (!op.matmul) {
    throw new RangeError(`step ${op.step} (${op.label}) is a ${op.kind}, not a matmul`);
  }
  return rooflineEstimate(op.matmul.all.flops, op.matmul.all.bytes, roof);
}

/** A layer's matmul time split by what bounds each operation. */
export interface LayerTime {
  /** Sum of every matmul's estimated time. */
  readonly seconds: number;
  /** Part of `seconds` spent in memory-bound operations. */
  readonly memoryBoundSeconds: number;
  /** Part of `seconds` spent in compute-bound operations. */
  readonly computeBoundSeconds: number;
}

/**
 * Estimated time of a layer's matrix multiplications, each at its own roofline bound.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { decodeOps } from "./layer.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * layerTime(decodeOps(modelConfig()), v100).memoryBoundSeconds;
 * ```
 */
export function layerTime(ops: readonly LayerOp[], roof: Roof): LayerTime {
  let memoryBoundSeconds = 0, computeBoundSeconds = 0;
  for (const op of ops) {
    if (!op.matmul) continue;
    const e = opEstimate(op, roof);
    if (e.bound === "memory") memoryBoundSeconds += e.seconds;
    else computeBoundSeconds += e.seconds;
  }
  return {
    seconds: memoryBoundSeconds + computeBoundSeconds,
    memoryBoundSeconds,
    computeBoundSeconds,
  };
}
