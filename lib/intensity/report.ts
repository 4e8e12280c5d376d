/**
 * Everything the tables, the CLI's `--json` and the notebook show for one configuration:
 * the configuration, the roofs, and per phase every operation with its cost and roofline
 * estimates. {@linkcode reportToJson} writes FLOP and byte counts as exact JSON integers.
 *
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { intensityReport, reportToJson } from "./report.ts";
 * const json = reportToJson(intensityReport(modelConfig(), ["decode"], []));
 * JSON.parse(json).phases.decode.ops[0].matmul.intensity.value; // 0.9995…
 * ```
 * @module
 */
import { headDim, type ModelConfig } from "./config.ts";
import { type Fraction, fractionToNumber } from "./fraction.ts";
import { layerOps, layerTotals, type Phase, PHASES, type Totals } from "./layer.ts";
import type { CostTotals } from "./layer_cost.ts";
import { computeBoundFrom } from "./sweep.ts";
import {
  decodeComputeBoundBatch,
  maxBatch,
  type MemoryFootprint,
  memoryFootprint,
  modelCost,
  type ModelCostOptions,
  modelSeconds,
  type ParameterCount,
  parameterCount,
  type Request,
  requestLatencies,
  type RequestLatency,
} from "./model.ts";
import {
  type LayerTime,
  layerTime,
  opEstimate,
  ridgeIntensity,
  type Roof,
  type RooflineEstimate,
} from "./roofline.ts";

/** An exact intensity with its decimal value. */
export interface IntensityValue {
  /** Numerator of the reduced fraction. */
  readonly numerator: bigint;
  /** Denominator of the reduced fraction. */
  readonly denominator: bigint;
  /** Decimal value, FLOPs per byte. */
  readonly value: number;
}

/** One operation of a phase, flattened for tables and JSON. */
export interface OpReport {
  /** Step number as the handout numbers it. */
  readonly step: number;
  /** `matmul`, `partition`, `merge`, `concat`, `relu` or `swiglu`. */
  readonly kind: string;
  /** Plain-text computation. */
  readonly label: string;
  /** Computation in LaTeX. */
  readonly computation: string;
  /** Matmul cost of one product (per head and sequence for attention); absent otherwise. */
  readonly matmul?: {
    readonly m: number;
    readonly n: number;
    readonly k: number;
    readonly flops: bigint;
    readonly bytes: bigint;
    readonly intensity: IntensityValue;
    readonly perHead: boolean;
    readonly products: number;
    /** All heads and sequences together. */
    readonly all: { flops: bigint; bytes: bigint; intensity: IntensityValue };
    /** Roofline estimate of `all` per roof, in the order of the report's roofs. */
    readonly roofline: readonly RooflineEstimate[];
  };
}

/** A phase: its operations, the layer's matmul totals and time per roof. */
export interface PhaseReport {
  /** Every operation, in step order. */
  readonly ops: readonly OpReport[];
  /** All matmuls together. */
  readonly totals: { flops: bigint; bytes: bigint; intensity: IntensityValue };
  /** Estimated layer time per roof, in the order of the report's roofs. */
  readonly time: readonly LayerTime[];
}

/** The whole report. */
export interface IntensityReport {
  /** The configuration, with H = D / n_H. */
  readonly config: ModelConfig & { readonly headDim: number };
  /** Roofs with their ridge points. */
  readonly roofs: readonly (Roof & { readonly ridgeIntensity: number })[];
  /** The phases asked for. */
  readonly phases: Partial<Record<Phase, PhaseReport>>;
}

function value(f: Fraction): IntensityValue {
  return { numerator: f.numerator, denominator: f.denominator, value: fractionToNumber(f) };
}

function totals(t: Totals) {
  return { flops: t.flops, bytes: t.bytes, intensity: value(t.intensity) };
}

/**
 * The report of `config` for `phases`, with roofline estimates on each of `roofs`.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * intensityReport(modelConfig(), ["prefill"], [v100]).phases.prefill?.time[0].seconds;
 * ```
 */
export function intensityReport(
  config: ModelConfig,
  phases: readonly Phase[],
  roofs: readonly Roof[],
): IntensityReport {
  const out: Partial<Record<Phase, PhaseReport>> = {};
  for (const phase of phases) {
    const ops = layerOps(config, phase);
    out[phase] = {
      ops: ops.map((op): OpReport => {
        const base = {
          step: op.step,
          kind: op.kind,
          label: op.label,
          computation: op.computation,
        };
        const m = op.matmul;
        if (!m) return base;
        return {
          ...base,
          matmul: {
            m: m.m,
            n: m.n,
            k: m.k,
            flops: m.flops,
            bytes: m.bytes,
            intensity: value(m.intensity),
            perHead: m.perHead,
            products: m.products,
            all: totals(m.all),
            roofline: roofs.map((r) => opEstimate(op, r)),
          },
        };
      }),
      totals: totals(layerTotals(ops)),
      time: roofs.map((r) => layerTime(ops, r)),
    };
  }
  return {
    config: { ...config, headDim: headDim(config) },
    roofs: roofs.map((r) => ({ ...r, ridgeIntensity: ridgeIntensity(r) })),
    phases: out,
  };
}

/**
 * The report as JSON, with `bigint` counts written as exact JSON integers.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * reportToJson(intensityReport(modelConfig(), ["prefill"], [])).includes('"flops":137438953472');
 * ```
 */
export function reportToJson(report: IntensityReport, indent = 2): string {
  // JSON.rawJSON (V8, TC39 stage 3) is not in TypeScript's lib yet.
  const raw = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;
  return JSON.stringify(
    report,
    (_key, v) => typeof v === "bigint" ? raw(v.toString()) : v,
    indent,
  );
}

/** What {@linkcode wholeModelReport} says about one roof. */
export interface RoofModelReport {
  /** Roof name. */
  readonly roof: string;
  /** Prefill pass of the prompt, seconds. */
  readonly prefillSeconds: number;
  /** First decode step after the prompt, seconds. */
  readonly decodeStepSeconds: number;
  /** The request's latency. */
  readonly latency: RequestLatency;
  /** Memory capacity used, bytes (the preset's, or the one asked for). */
  readonly memoryBytes?: number;
  /** Whether the request's footprint fits it. */
  readonly fits?: boolean;
  /** Largest batch that fits it. */
  readonly maxBatch?: number;
  /** Smallest batch at which one decode step (context: the prompt) is compute-bound. */
  readonly decodeComputeBoundBatch?: number;
  /** Smallest batch at which decode's Q projection (every weight product alike) is. */
  readonly projectionComputeBoundBatch?: number;
}

/** The whole model for one request: parameters, totals per phase, memory and per-roof timing. */
export interface WholeModelReport {
  /** The request. */
  readonly request: Request;
  /** Sequences served together. */
  readonly batch: number;
  /** Attention traffic and LM-head positions used. */
  readonly options: Required<ModelCostOptions>;
  /** Parameters. */
  readonly parameters: ParameterCount;
  /** Prefill of the prompt and the first decode step after it. */
  readonly phases: Record<Phase, CostTotals & { readonly intensity: number }>;
  /** Memory the request needs at the configuration's batch. */
  readonly memory: MemoryFootprint;
  /** Per roof. */
  readonly roofs: readonly RoofModelReport[];
}

/**
 * The whole model's report for a request on each roof; a roof's memory capacity is
 * `memoryBytes` when given, else the roof's own.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { modelConfig } from "./config.ts";
 * const r = wholeModelReport(modelConfig({ preset: "llama-2-7b" }), [], {
 *   promptLen: 512, outputLen: 64,
 * });
 * assertEquals(r.parameters.total, 6738415616n);
 * ```
 */
export function wholeModelReport(
  config: ModelConfig,
  roofs: readonly Roof[],
  request: Request,
  options: ModelCostOptions = {},
  memoryBytes?: number,
): WholeModelReport {
  const opts = { attention: options.attention ?? "unfused", logits: options.logits ?? "last" };
  const at = { ...config, seqLen: request.promptLen };
  const costs = { prefill: modelCost(at, "prefill", opts), decode: modelCost(at, "decode", opts) };
  const phases = Object.fromEntries(PHASES.map((phase) => {
    const t = costs[phase].totals;
    return [phase, { ...t, intensity: Number(t.flops) / Number(t.bytes) }];
  })) as WholeModelReport["phases"];
  const memory = memoryFootprint(config, request, opts);
  const latencies = requestLatencies(config, roofs, request, opts);
  return {
    request,
    batch: config.batch,
    options: opts,
    parameters: parameterCount(config),
    phases,
    memory,
    roofs: roofs.map((roof, i) => {
      const capacity = memoryBytes ?? roof.memoryBytes;
      return {
        roof: roof.name,
        prefillSeconds: modelSeconds(costs.prefill, roof),
        decodeStepSeconds: modelSeconds(costs.decode, roof),
        latency: latencies[i],
        ...(capacity === undefined ? {} : {
          memoryBytes: capacity,
          fits: Number(memory.totalBytes) <= capacity,
          maxBatch: maxBatch(config, capacity, request, opts),
        }),
        decodeComputeBoundBatch: decodeComputeBoundBatch(at, roof, opts),
        projectionComputeBoundBatch: computeBoundFrom(at, "decode", "batch", 1, roof),
      };
    }),
  };
}
