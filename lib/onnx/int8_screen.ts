/**
 * An int8 screen for an LM head's argmax: the constants with which an int8 product bounds every
 * float32 logit, so the exact argmax is known to be among the few tokens whose bound reaches the
 * best lower bound, and only those need their float32 logit.
 *
 * The head `logits = x · W` (`W` is `[hidden, vocab]`, float32) is quantized per vocabulary
 * column: `W[d, v] ≈ (q[d, v] − 128) · scale[v]`, `q` uint8 in 1…255 (symmetric, so no column
 * saturates), `scale[v] = max_d |W[d, v]| / 127`. The input row is quantized per tensor
 * (`DynamicQuantizeLinear`: `x ≈ x̂`, error `e = x − x̂`). Then the int32 product `acc` gives
 * `approx[v] = acc[v] · scale[v] · scale_x`, and
 *
 * `|x · W[:, v] − approx[v]| ≤ max|e| · Σ_d |W[d, v]| + Σ_d |x̂_d| · maxError[v]`
 *
 * with `maxError[v] = max_d |W[d, v] − (q[d, v] − 128) · scale[v]|`: `e · W[:, v]` plus
 * `x̂ · (W[:, v] − Ŵ[:, v])`, each by Hölder. {@linkcode screenHead} returns `absSum` and
 * `maxError` already multiplied by {@linkcode SCREEN_SAFETY}, which covers the float32 rounding
 * of the graph's own arithmetic and of the published head's sum (at most `hidden · 2⁻²⁴`
 * relative, under 1/16 for any hidden size up to 2²⁰).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { screenHead } from "./int8_screen.ts";
 * // hidden 2, vocab 3: W = [[1, 0, -2], [0.5, 0, 1]]
 * const s = screenHead(new Float32Array([1, 0, -2, 0.5, 0, 1]), 2, 3);
 * assertEquals([...s.scale], [1 / 127, 1, 2 / 127].map(Math.fround));
 * assertEquals([...s.quantized], [255, 128, 1, 192, 128, 192]);
 * assert(s.maxError[1] === 0 && s.absSum[2] >= 3);
 * ```
 * @module
 */

/** The factor on the bound's two terms that covers float32 rounding (see the module doc). */
export const SCREEN_SAFETY = 1.0625;

/** The largest hidden size whose int32 products cannot overflow: 255 · 127 · hidden < 2³¹. */
export const SCREEN_MAX_HIDDEN = 65_000;

/** What the screen's graph reads besides the input row. */
export interface HeadScreen {
  /** `q[d, v]`, uint8 with zero point 128, `[hidden, vocab]` row-major like the head. */
  quantized: Uint8Array;
  /** `scale[v]`, float32 (1 for an all-zero column). */
  scale: Float32Array;
  /** `SCREEN_SAFETY · max_d |W[d, v] − Ŵ[d, v]|`, rounded up to float32. */
  maxError: Float32Array;
  /** `SCREEN_SAFETY · Σ_d |W[d, v]|`, rounded up to float32. */
  absSum: Float32Array;
}

/**
 * Quantizes `weight` (`[hidden, vocab]` float32, row-major) per column for the screen.
 * @throws {RangeError} when the sizes do not match the weight or the hidden size could overflow
 * int32 products.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { screenHead } from "./int8_screen.ts";
 * assertEquals([...screenHead(new Float32Array([0, 0]), 1, 2).scale], [1, 1]);
 * ```
 */
export function screenHead(weight: Float32Array, hidden: number, vocab: number): HeadScreen {
  if (!(hidden >= 1 && vocab >= 1 && weight.length === hidden * vocab)) {
    throw new RangeError(
      `a head of ${hidden} × ${vocab} needs ${hidden * vocab} weights; got ${weight.length}`,
    );
  }
  if (hidden > SCREEN_MAX_HIDDEN) {
    throw new RangeError(
      `hidden size ${hidden} could overflow int32 (at most ${SCREEN_MAX_HIDDEN})`,
    );
  }
  const scale = new Float32Array(vocab), maxError = new Float32Array(vocab);
  const absSum = new Float32Array(vocab);
  const max = new Float64Array(vocab), sum = new Float64Array(vocab);
  for (let d = 0; d < hidden; d++) {
    const row = d * vocab;
    for (let v = 0; v < vocab; v++) {
      const a = Math.abs(weight[row + v]);
      if (a > max[v]) max[v] = a;
      sum[v] += a;
    }
  }
  for (let v = 0; v < vocab; v++) scale[v] = max[v] > 0 ? max[v] / 127 : 1;
  const quantized = new Uint8Array(hidden * vocab);
  const error = new Float64Array(vocab);
  for (let d = 0; d < hidden; d++) {
    const row = d * vocab;
    for (let v = 0; v < vocab; v++) {
      const w = weight[row + v];
      const q = Math.max(-127, Math.min(127, Math.round(w / scale[v])));
      quantized[row + v] = q + 128;
      const e = Math.abs(w - q * scale[v]);
      if (e > error[v]) error[v] = e;
    }
  }
  for (let v = 0; v < vocab; v++) {
    maxError[v] = roundUp(SCREEN_SAFETY * error[v]);
    absSum[v] = roundUp(SCREEN_SAFETY * sum[v]);
  }
  return { quantized, scale, maxError, absSum };
}

/** The float32 at or above `x` (x ≥ 0). */
function roundUp(x: number): number {
  const f = Math.fround(x);
  return f >= x ? f : Math.fround(x * (1 + 2 ** -23));
}
