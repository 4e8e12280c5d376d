/**
 * Summary statistics of repeated timings: median and spread (quartiles, min, max), the robust
 * figures a benchmark on a shared machine should report instead of a mean.
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * const s = summarize([12, 10, 11, 30]);
 * s.median === 11.5;
 * ```
 * @module
 */

/** Median and spread of a set of samples, in the samples' unit. */
export interface Summary {
  /** Number of samples. */
  n: number;
  /** Middle value (mean of the two middle values for an even count). */
  median: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
  /** First quartile (linear interpolation between order statistics). */
  q1: number;
  /** Third quartile. */
  q3: number;
  /** Inter-quartile range divided by the median: 0.05 means the middle half lies within ±2.5%. */
  relativeIqr: number;
}

function checkSamples(samples: readonly number[]): number[] {
  if (samples.length === 0) throw new RangeError("cannot summarize zero samples");
  for (const s of samples) {
    if (!Number.isFinite(s)) throw new RangeError(`samples must be finite numbers, got ${s}`);
  }
  return [...samples].sort((a, b) => a - b);
}

/**
 * The `p`-quantile (0 ≤ p ≤ 1) with linear interpolation between order statistics (the
 * default of R, NumPy and spreadsheets).
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.25) === 1.75;
 * ```
 */
export function quantile(samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`quantile p must lie in [0, 1], got ${p}`);
  const sorted = checkSamples(samples);
  const pos = p * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Median, quartiles, extremes and relative inter-quartile range of `samples`.
 * @example
 * ```ts
 * const s = summarize([3, 1, 2]);
 * s.median === 2 && s.min === 1 && s.max === 3;
 * ```
 */
export function summarize(samples: readonly number[]): Summary {
  const sorted = checkSamples(samples);
  const median = quantile(sorted, 0.5);
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  return {
    n: sorted.length,
    median,
    min: sorted[0],
    max: sorted[sorted.length - 1],
    q1,
    q3,
    relativeIqr: median === 0 ? 0 : (q3 - q1) / Math.abs(median),
  };
}

/**
 * Formats a summary as `median (q1–q3)` with a unit, for benchmark output lines.
 * @example
 * ```ts
 * formatSummary({ n: 3, median: 2, min: 1, max: 3, q1: 1.5, q3: 2.5, relativeIqr: 0.5 }, "ms");
 * // "2.00 ms (1.50–2.50, n=3)"
 * ```
 */
export function formatSummary(s: Summary, unit: string, digits = 2): string {
  return `${s.median.toFixed(digits)} ${unit} (${s.q1.toFixed(digits)}–${
    s.q3.toFixed(digits)
  }, n=${s.n})`;
}
