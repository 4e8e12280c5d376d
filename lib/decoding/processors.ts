/**
 * Logits processors with Hugging Face transformers' (4.4x) semantics, over one row of
 * next-token scores (log-probabilities or logits; both give the same result). Removed tokens get
 * `-Infinity`, as HF's `filter_value`. Applied by sampling in HF's order: temperature, then
 * top-k, then top-p ({@linkcode warp}).
 *
 * - {@linkcode temperature}: `scores / t`.
 * - {@linkcode topK}: keeps every token whose score is ≥ the k-th largest score, so tokens tied
 *   with the k-th all survive (HF: `scores < topk(scores, k)[-1]` are removed); `k = 0` disables.
 * - {@linkcode topP}: sorts ascending, removes tokens while the cumulative probability is
 *   `<= 1 - p`, so the token whose mass crosses the threshold stays; `p = 1` disables. Ties in
 *   the sort are broken by token id (lower id removed first). Sums are in float64; HF sums in
 *   float32, which can only differ when a cumulative sum equals `1 - p` to float32 precision.
 * - `minTokensToKeep`: both filters always keep at least this many tokens. HF uses 1 for sampling
 *   and, with `num_beams > 1`, `1 + number of EOS ids` (2 without EOS) so a beam always has a
 *   non-EOS continuation; {@linkcode minTokensToKeepFor} returns that value.
 *
 * @example
 * ```ts
 * import { warp, softmax } from "./processors.ts";
 * const logProbs = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
 * const { scores } = warp(logProbs, { temperature: 1, topK: 3, topP: 0.7 });
 * softmax(scores); // [0.625, 0.375, 0, 0]
 * ```
 * @module
 */

/** Options of {@linkcode warp}. */
export interface WarpOptions {
  /** Divides the scores; > 0; 1 leaves them unchanged. */
  temperature?: number;
  /** Keep the k most likely tokens (and ties with the k-th); 0 disables. */
  topK?: number;
  /** Keep the smallest most-likely set with mass ≥ p; 1 disables. */
  topP?: number;
  /** At least this many tokens survive each filter (default 1). */
  minTokensToKeep?: number;
}

/** What {@linkcode warp} did to a row. */
export interface WarpResult {
  /** The processed scores: `-Infinity` where a token was removed. */
  scores: Float64Array;
  /** Tokens that top-k removed (finite before, `-Infinity` after). */
  removedByTopK: number;
  /** Tokens that top-p removed after top-k. */
  removedByTopP: number;
}

/**
 * Temperature, then top-k, then top-p, each skipped when disabled, as HF's sampling warpers.
 * @example
 * ```ts
 * const r = warp([Math.log(0.6), Math.log(0.4)], { topK: 1 });
 * r.removedByTopK; // 1
 * ```
 */
export function warp(scores: ArrayLike<number>, options: WarpOptions): WarpResult {
  const t = options.temperature ?? 1;
  const k = options.topK ?? 0;
  const p = options.topP ?? 1;
  const keep = options.minTokensToKeep ?? 1;
  let out = t !== 1 ? temperature(scores, t) : Float64Array.from(scores);
  let removedByTopK = 0;
  let removedByTopP = 0;
  if (k !== 0) {
    const before = countFinite(out);
    out = topK(out, k, keep);
    removedByTopK = before - countFinite(out);
  }
  if (p < 1) {
    const before = countFinite(out);
    out = topP(out, p, keep);
    removedByTopP = before - countFinite(out);
  }
  return { scores: out, removedByTopK, removedByTopP };
}

/**
 * Divides every score by `t` (HF `TemperatureLogitsWarper`).
 * @example
 * ```ts
 * temperature([2, -4], 2); // Float64Array [1, -2]
 * ```
 */
export function temperature(scores: ArrayLike<number>, t: number): Float64Array {
  if (!(Number.isFinite(t) && t > 0)) {
    throw new RangeError(`temperature must be a finite number > 0, got ${t}`);
  }
  const out = new Float64Array(scores.length);
  for (let i = 0; i < out.length; i++) out[i] = scores[i] / t;
  return out;
}

/**
 * Keeps the `k` highest scores and every score tied with the k-th (HF `TopKLogitsWarper`):
 * `k` is raised to `minTokensToKeep` and capped at the vocabulary size.
 * @example
 * ```ts
 * topK([3, 1, 2, 2], 2); // Float64Array [3, -Infinity, 2, 2]: both 2s tie with the 2nd
 * ```
 */
export function topK(scores: ArrayLike<number>, k: number, minTokensToKeep = 1): Float64Array {
  if (!Number.isInteger(k) || k < 0) {
    throw new RangeError(`top_k must be an integer >= 0 (0 disables it), got ${k}`);
  }
  checkMinTokens(minTokensToKeep);
  const out = Float64Array.from(scores);
  if (k === 0) return out;
  const kk = Math.min(Math.max(k, minTokensToKeep), out.length);
  const kth = Float64Array.from(out).sort()[out.length - kk];
  for (let i = 0; i < out.length; i++) if (out[i] < kth) out[i] = -Infinity;
  return out;
}

/**
 * Nucleus filtering (HF `TopPLogitsWarper`): in ascending order of score, removes tokens while
 * their cumulative probability is `<= 1 - p`, keeping at least `minTokensToKeep`.
 * @example
 * ```ts
 * topP([Math.log(0.5), Math.log(0.3), Math.log(0.2)], 0.6); // keeps 0.5 and 0.3 (0.5 < 0.6)
 * ```
 */
export function topP(scores: ArrayLike<number>, p: number, minTokensToKeep = 1): Float64Array {
  if (!(p >= 0 && p <= 1)) {
    throw new RangeError(`top_p must be in [0, 1] (1 disables it), got ${p}`);
  }
  checkMinTokens(minTokensToKeep);
  const out = Float64Array.from(scores);
  if (p === 1) return out;
  const probs = softmax(out);
  const order = Array.from(out.keys()).sort((a, b) => out[a] - out[b] || a - b);
  const removable = order.length - minTokensToKeep;
  let cumulative = 0;
  for (let j = 0; j < removable; j++) {
    cumulative += probs[order[j]];
    if (cumulative > 1 - p) break;
    out[order[j]] = -Infinity;
  }
  return out;
}

/**
 * HF's `min_tokens_to_keep` for the warpers: 1 for sampling; with beams, one more than the
 * number of EOS ids (2 when there is none), so every beam keeps a non-EOS continuation.
 * @example
 * ```ts
 * minTokensToKeepFor(4, [2]); // 2
 * minTokensToKeepFor(1, [2]); // 1
 * ```
 */
export function minTokensToKeepFor(numBeams: number, eosTokenIds: readonly number[]): number {
  if (numBeams <= 1) return 1;
  return eosTokenIds.length > 0 ? eosTokenIds.length + 1 : 2;
}

/**
 * Softmax in float64; `-Infinity` scores get probability 0.
 * @example
 * ```ts
 * softmax([0, 0]); // Float64Array [0.5, 0.5]
 * ```
 */
export function softmax(scores: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
  const out = new Float64Array(scores.length);
  if (max === -Infinity) throw new RangeError("softmax of a row whose scores are all -Infinity");
  let sum = 0;
  for (let i = 0; i < out.length; i++) sum += out[i] = Math.exp(scores[i] - max);
  for (let i = 0; i < out.length; i++) out[i] /= sum;
  return out;
}

/**
 * Log-softmax in float64 (turns logits into log-probabilities).
 * @example
 * ```ts
 * logSoftmax([0, 0]); // Float64Array [-0.693…, -0.693…]
 * ```
 */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < out.length; i++) out[i] = logits[i] - logZ;
  return out;
}

function countFinite(xs: Float64Array): number {
  let n = 0;
  for (const x of xs) if (x !== -Infinity) n++;
  return n;
}

function checkMinTokens(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`min_tokens_to_keep must be an integer >= 1, got ${n}`);
  }
}
