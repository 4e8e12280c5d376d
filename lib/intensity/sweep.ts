/**
 * How each matrix multiplication's intensity moves as one size of the configuration varies:
 * prefill intensity against sequence length, decode intensity against batch size.
 *
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { intensitySweep } from "./sweep.ts";
 * const s = intensitySweep(modelConfig(), "decode", "batch", [1, 8, 64]);
 * s.series[0].intensity; // Q projection at B = 1, 8, 64: ≈ [1.0, 7.97, 62.1]
 * ```
 * @module
 */
import { type ModelConfig, validateConfig } from "./config.ts";
import { fractionToNumber } from "./fraction.ts";
import { layerOps, type Phase } from "./layer.ts";
import { boundOf, type Roof } from "./roofline.ts";

/**
 * The configuration sizes a sweep can vary.
 * @example
 * ```ts
 * SWEEP_FIELDS.includes("batch"); // true
 * ```
 */
export const SWEEP_FIELDS = ["seqLen", "batch", "dModel", "ffn"] as const;

/** A size a sweep can vary. */
export type SweepField = typeof SWEEP_FIELDS[number];

/** One matmul's intensity along the sweep. */
export interface SweepSeries {
  /** Step numbers that share this curve (identical intensities at every point). */
  readonly steps: readonly number[];
  /** Plain-text label of the first step. */
  readonly label: string;
  /** All-heads intensity at each value, FLOPs per byte. */
  readonly intensity: readonly number[];
}

/** Result of {@linkcode intensitySweep}. */
export interface IntensitySweep {
  /** Phase swept. */
  readonly phase: Phase;
  /** Size varied. */
  readonly field: SweepField;
  /** Its values. */
  readonly values: readonly number[];
  /** One series per distinct curve, in step order. */
  readonly series: readonly SweepSeries[];
}

/** `config` with one size changed, validated. */
function withSize(config: ModelConfig, field: SweepField, value: number): ModelConfig {
  const changed = { ...config, [field]: value };
  validateConfig(changed);
  return changed;
}

/**
 * Intensity (all heads together) of every matmul of `phase` as `field` takes `values`; steps
 * whose curves coincide (e.g. K and V projections) share one series.
 * @throws {RangeError} when a value makes the configuration invalid.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * intensitySweep(modelConfig(), "prefill", "seqLen", [128, 4096]).series.length; // 4
 * ```
 */
export function intensitySweep(
  config: ModelConfig,
  phase: Phase,
  field: SweepField,
  values: readonly number[],
): IntensitySweep {
  if (!(SWEEP_FIELDS as readonly string[]).includes(field)) {
    throw new RangeError(`cannot sweep "${field}"; allowed: ${SWEEP_FIELDS.join(", ")}`);
  }
  if (values.length === 0) throw new RangeError("a sweep needs at least one value");
  const perValue = values.map((v) =>
    layerOps(withSize(config, field, v), phase).filter((op) => op.matmul)
  );
  const byCurve = new Map<string, { steps: number[]; label: string; intensity: number[] }>();
  perValue[0].forEach((op, i) => {
    const intensity = perValue.map((ops) => fractionToNumber(ops[i].matmul!.all.intensity));
    const key = perValue.map((ops) => {
      const f = ops[i].matmul!.all.intensity;
      return `${f.numerator}/${f.denominator}`;
    }).join(",");
    const seen = byCurve.get(key);
    if (seen) seen.steps.push(op.step);
    else byCurve.set(key, { steps: [op.step], label: op.label, intensity });
  });
  return { phase, field, values: [...values], series: [...byCurve.values()] };
}

/**
 * The smallest value of `field` (searched in 1…`limit`) at which step `step` of `phase`
 * (all heads together) becomes compute-bound on `roof`, or `undefined` if it never does. Uses
 * bisection: intensity grows with batch, sequence length, D and F.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * computeBoundFrom(modelConfig(), "decode", "batch", 1, v100); // 149: B·D/(2B + D) > 138.9
 * ```
 */
export function computeBoundFrom(
  config: ModelConfig,
  phase: Phase,
  field: SweepField,
  step: number,
  roof: Roof,
  limit = 1 << 20,
): number | undefined {
  const bound = (v: number) => {
    const op = layerOps(withSize(config, field, v), phase).find((o) => o.step === step);
    if (!op?.matmul) throw new RangeError(`step ${step} of ${phase} is not a matmul`);
    return boundOf(fractionToNumber(op.matmul.all.intensity), roof) === "compute";
  };
  if (!bound(limit)) return undefined;
  let lo = 1, hi = limit; // invariant: bound(hi), and !bound(lo - 1)
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (bound(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
