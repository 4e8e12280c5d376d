/**
 * Logits processors with Hugging Face transformers' (4.45) semantics, composed as a list the
 * way `LogitsProcessorList` composes them: one small processor per concern, each with one
 * signature (the row's tokens so far and its scores in, new scores out), validated when
 * built. {@linkcode logitsProcessors} builds the list from generation options in HF's order:
 * repetition penalty, no-repeat n-gram, min new tokens, then, when sampling, the warpers
 * temperature, top-k, top-p, min-p and typical-p. Removed tokens get `-Infinity`, HF's
 * `filter_value`.
 *
 * What a processor sees is what HF gives it: raw logits in greedy search and sampling,
 * log-softmax scores in beam modes. Temperature, top-k, top-p, min-p, typical-p, n-gram and
 * min-new-tokens are blind to the difference (they shift every score alike or only compare
 * them); the repetition penalty is not (it divides positive and multiplies negative scores).
 *
 * Careful points, each as HF:
 * - {@linkcode topK}: keeps every token whose score is ≥ the k-th largest score, so tokens tied
 *   with the k-th all survive (HF: `scores < topk(scores, k)[-1]` are removed); `k = 0` disables.
 * - {@linkcode topP}: sorts ascending, removes tokens while the cumulative probability is
 *   `<= 1 - p`, so the token whose mass crosses the threshold stays; `p = 1` disables. Ties in
 *   the sort are broken by token id (lower id removed first). Sums are in float64; HF sums in
 *   float32, which can only differ when a cumulative sum equals `1 - p` to float32 precision.
 *   `p = 0` (HF: keep `minTokensToKeep` tokens, greedy in disguise) is refused, as by the CLI.
 * - `minTokensToKeep`: the warpers always keep at least this many tokens. HF uses 1 for
 *   sampling and, with `num_beams > 1`, `1 + number of EOS ids` (2 without EOS) so a beam always
 *   has a non-EOS continuation; {@linkcode minTokensToKeepFor} returns that value.
 * - The n-gram and repetition processors look at the whole sequence, prompt included, as HF's
 *   `input_ids` of a decoder-only model.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { logitsProcessors, softmax } from "./processors.ts";
 * const list = logitsProcessors({ doSample: true, topK: 3, topP: 0.7 });
 * assertEquals(list.map((p) => p.name), ["top_k", "top_p"]);
 * const logProbs = Float64Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
 * const probs = softmax(applyProcessors(list, [], logProbs).scores);
 * assertAlmostEquals(probs[0], 0.625);
 * assertEquals(probs[2], 0);
 * ```
 * @module
 */

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
  checkTopK(k);
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
  checkTopP(p);
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
 * Log-softmax accumulated in float64 (turns logits into log-probabilities), written into `out`
 * (a new float64 row by default; the ONNX model passes a float32 row).
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * assertAlmostEquals(logSoftmax([0, 0])[1], Math.log(0.5));
 * assertAlmostEquals(logSoftmax(new Float32Array([1, 1]), new Float32Array(2))[0], Math.log(0.5), 1e-7);
 * ```
 */
export function logSoftmax<T extends Float32Array | Float64Array = Float64Array>(
  logits: ArrayLike<number>,
  out: T = new Float64Array(logits.length) as T,
): T {
  // Indexed loops: this runs on every row of every step, and iterators or callbacks over a
  // typed array cost V8 several times as much.
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i] - max);
  const logZ = max + Math.log(sum);
  for (let i = 0; i < n; i++) out[i] = logits[i] - logZ;
  return out;
}

function countFinite(xs: Float64Array): number {
  let n = 0;
  for (const x of xs) if (x !== -Infinity) n++;
  return n;
}

function checkTopK(k: number): void {
  if (!Number.isInteger(k) || k < 0) {
    throw new RangeError(`top_k must be an integer >= 0 (0 disables it), got ${k}`);
  }
}

function checkTopP(p: number): void {
  if (!(p > 0 && p <= 1)) {
    throw new RangeError(`top_p must be in (0, 1] (1 disables it), got ${p}`);
  }
}

function checkMinTokens(n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`min_tokens_to_keep must be an integer >= 1, got ${n}`);
  }
}

/**
 * One logits processor: given a row's tokens so far (prompt included) and its scores, returns
 * new scores (a new array; the input is left as it was).
 */
export interface LogitsProcessor {
  /** The generation option it implements, as HF names it (`top_k`, `repetition_penalty`). */
  readonly name: string;
  /** The processed scores. */
  process(inputIds: readonly number[], scores: Float64Array): Float64Array;
}

/**
 * HF `TemperatureLogitsWarper`: divides every score by `t`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...new TemperatureWarper(2).process([], Float64Array.from([2, -4]))], [1, -2]);
 * ```
 */
export class TemperatureWarper implements LogitsProcessor {
  /** The option's name. */
  readonly name = "temperature";
  /** Validates `t`: a finite number > 0. */
  constructor(readonly t: number) {
    temperature([], t);
  }
  /** `scores / t`. */
  process(_ids: readonly number[], scores: Float64Array): Float64Array {
    return temperature(scores, this.t);
  }
}

/**
 * HF `TopKLogitsWarper`: {@linkcode topK} as a processor.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...new TopKWarper(1).process([], Float64Array.from([1, 3, 2]))], [-Infinity, 3, -Infinity]);
 * ```
 */
export class TopKWarper implements LogitsProcessor {
  /** The option's name. */
  readonly name = "top_k";
  /** Validates `k` (an integer ≥ 1 here; 0 means no processor) and `minTokensToKeep`. */
  constructor(readonly k: number, readonly minTokensToKeep = 1) {
    checkTopK(k);
    checkMinTokens(minTokensToKeep);
  }
  /** Keeps the k best and their ties. */
  process(_ids: readonly number[], scores: Float64Array): Float64Array {
    return topK(scores, this.k, this.minTokensToKeep);
  }
}

/**
 * HF `TopPLogitsWarper`: {@linkcode topP} as a processor.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const row = Float64Array.from([0.5, 0.3, 0.2].map(Math.log));
 * assertEquals(new TopPWarper(0.6).process([], row)[2], -Infinity);
 * ```
 */
export class TopPWarper implements LogitsProcessor {
  /** The option's name. */
  readonly name = "top_p";
  /** Validates `p` in (0, 1] and `minTokensToKeep`. */
  constructor(readonly p: number, readonly minTokensToKeep = 1) {
    checkTopP(p);
    checkMinTokens(minTokensToKeep);
  }
  /** Keeps the smallest most likely set with mass ≥ p. */
  process(_ids: readonly number[], scores: Float64Array): Float64Array {
    return topP(scores, this.p, this.minTokensToKeep);
  }
}

/**
 * HF `MinPLogitsWarper`: removes tokens whose probability is below `minP` times the most
 * likely token's, keeping at least `minTokensToKeep` of the highest scores.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * // P = 0.5, 0.3, 0.15, 0.05; threshold 0.2 · 0.5 = 0.1 removes only the last.
 * const row = Float64Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
 * assertEquals(new MinPWarper(0.2).process([], row).map((x) => x === -Infinity ? 1 : 0), Float64Array.from([0, 0, 0, 1]));
 * ```
 */
export class MinPWarper implements LogitsProcessor {
  /** The option's name. */
  readonly name = "min_p";
  /** Validates `minP` in [0, 1] and `minTokensToKeep`. */
  constructor(readonly minP: number, readonly minTokensToKeep = 1) {
    if (!(minP >= 0 && minP <= 1)) {
      throw new RangeError(`min_p must be in [0, 1], got ${minP}`);
    }
    checkMinTokens(minTokensToKeep);
  }
  /** The filtered scores. */
  process(_ids: readonly number[], scores: Float64Array): Float64Array {
    const probs = softmax(scores);
    let top = 0;
    for (const p of probs) if (p > top) top = p;
    const threshold = this.minP * top;
    const out = Float64Array.from(scores);
    // HF keeps the first minTokensToKeep of a descending (stable) sort of the scores.
    const keep = new Set(
      Array.from(out.keys()).sort((a, b) => scores[b] - scores[a] || a - b)
        .slice(0, this.minTokensToKeep),
    );
    for (let i = 0; i < out.length; i++) {
      if (probs[i] < threshold && !keep.has(i)) out[i] = -Infinity;
    }
    return out;
  }
}

/**
 * HF `TypicalLogitsWarper` (locally typical sampling, Meister et al. 2022): ranks tokens by how
 * far their surprisal −log p lies from the entropy H, and keeps the closest ones until their
 * probability mass reaches `mass` (the token that crosses it included).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * // P = 0.4, 0.3, 0.2, 0.1: H = 1.2799 nats; |−log p − H| = 0.364, 0.076, 0.330, 1.023.
 * // In that order the masses add 0.3, 0.5, 0.9: at mass 0.6 the first three stay.
 * const row = Float64Array.from([0.4, 0.3, 0.2, 0.1].map(Math.log));
 * assertEquals(new TypicalWarper(0.6).process([], row)[3], -Infinity);
 * assertEquals(new TypicalWarper(0.6).process([], row)[0] > -Infinity, true);
 * ```
 */
export class TypicalWarper implements LogitsProcessor {
  /** The option's name. */
  readonly name = "typical_p";
  /** Validates `mass` in (0, 1) and `minTokensToKeep`. */
  constructor(readonly mass: number, readonly minTokensToKeep = 1) {
    if (!(mass > 0 && mass < 1)) {
      throw new RangeError(`typical_p must be in (0, 1) (1 disables it), got ${mass}`);
    }
    checkMinTokens(minTokensToKeep);
  }
  /** The filtered scores. */
  process(_ids: readonly number[], scores: Float64Array): Float64Array {
    const logp = logSoftmax(scores);
    let entropy = 0;
    for (const l of logp) if (l > -Infinity) entropy -= l * Math.exp(l); // nansum: 0·−∞ = 0
    const shifted = Float64Array.from(logp, (l) => Math.abs(-l - entropy));
    const order = Array.from(shifted.keys()).sort((a, b) => shifted[a] - shifted[b] || a - b);
    const probs = softmax(scores);
    // HF: last_ind = #(cumulative < mass), clamped; remove what lies strictly beyond it.
    let cumulative = 0, lastInd = 0;
    for (const i of order) {
      cumulative += probs[i];
      if (cumulative < this.mass) lastInd++;
      else break;
    }
    lastInd = Math.min(lastInd, order.length - 1);
    const cutoff = shifted[order[lastInd]];
    const out = Float64Array.from(scores);
    order.forEach((i, rank) => {
      if (rank >= this.minTokensToKeep && shifted[i] > cutoff) out[i] = -Infinity;
    });
    return out;
  }
}

/**
 * HF `RepetitionPenaltyLogitsProcessor` (Keskar et al. 2019): every token already in the
 * sequence (prompt included) has its score divided by `penalty` when positive and multiplied
 * by it when negative, so `penalty > 1` makes repeats less likely.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([...new RepetitionPenalty(2).process([0, 1, 1], Float64Array.from([4, -1, 3]))], [2, -2, 3]);
 * ```
 */
export class RepetitionPenalty implements LogitsProcessor {
  /** The option's name. */
  readonly name = "repetition_penalty";
  /** Validates `penalty`: a finite number > 0. */
  constructor(readonly penalty: number) {
    if (!(Number.isFinite(penalty) && penalty > 0)) {
      throw new RangeError(`repetition_penalty must be a finite number > 0, got ${penalty}`);
    }
  }
  /** The penalised scores. */
  process(inputIds: readonly number[], scores: Float64Array): Float64Array {
    const out = Float64Array.from(scores);
    for (const id of new Set(inputIds)) {
      const s = scores[id];
      out[id] = s < 0 ? s * this.penalty : s / this.penalty;
    }
    return out;
  }
}

/**
 * HF `NoRepeatNGramLogitsProcessor`: bans every token that would complete an n-gram already
 * present in the sequence (prompt included).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * // Bigrams of 1 2 1: (1,2), (2,1). The last token is 1, so 2 is banned.
 * assertEquals([...new NoRepeatNGram(2).process([1, 2, 1], new Float64Array(4))], [0, 0, -Infinity, 0]);
 * ```
 */
export class NoRepeatNGram implements LogitsProcessor {
  /** The option's name. */
  readonly name = "no_repeat_ngram_size";
  /** Validates `n`: an integer ≥ 1. */
  constructor(readonly n: number) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`no_repeat_ngram_size must be an integer >= 1, got ${n}`);
    }
  }
  /** The scores with the banned tokens removed. */
  process(inputIds: readonly number[], scores: Float64Array): Float64Array {
    const out = Float64Array.from(scores);
    const n = this.n, len = inputIds.length;
    if (len + 1 < n) return out;
    const prefix = inputIds.slice(len - (n - 1)).join();
    for (let i = 0; i + n <= len; i++) {
      if (inputIds.slice(i, i + n - 1).join() === prefix) out[inputIds[i + n - 1]] = -Infinity;
    }
    return out;
  }
}

/**
 * HF `MinNewTokensLengthLogitsProcessor`: while fewer than `minNewTokens` tokens follow the
 * prompt's `promptLength`, the EOS tokens cannot be chosen.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const p = new MinNewTokens(3, 2, [0]);
 * assertEquals(p.process([5, 6, 7, 8], new Float64Array(2))[0], -Infinity); // 1 new token
 * assertEquals(p.process([5, 6, 7, 8, 9], new Float64Array(2))[0], 0); // 2 new tokens
 * ```
 */
export class MinNewTokens implements LogitsProcessor {
  /** The option's name. */
  readonly name = "min_new_tokens";
  /** Validates both counts (integers ≥ 0). */
  constructor(
    readonly promptLength: number,
    readonly minNewTokens: number,
    readonly eosTokenIds: readonly number[],
  ) {
    for (const [name, v] of [["prompt length", promptLength], ["min_new_tokens", minNewTokens]]) {
      if (!Number.isInteger(v) || (v as number) < 0) {
        throw new RangeError(`${name} must be an integer >= 0, got ${v}`);
      }
    }
  }
  /** The scores with EOS removed while too few new tokens exist. */
  process(inputIds: readonly number[], scores: Float64Array): Float64Array {
    const out = Float64Array.from(scores);
    if (inputIds.length - this.promptLength < this.minNewTokens) {
      for (const e of this.eosTokenIds) out[e] = -Infinity;
    }
    return out;
  }
}

/** The generation options that decide the processor list (HF `GenerationConfig` names). */
export interface ProcessorOptions {
  /** Sampling: the warpers join the list (default false). */
  doSample?: boolean;
  /** Beams: raises the warpers' `minTokensToKeep` ({@linkcode minTokensToKeepFor}). */
  numBeams?: number;
  /** End-of-sequence ids (for `minNewTokens` and `minTokensToKeep`). */
  eosTokenIds?: readonly number[];
  /** Prompt length, where new tokens start (for `minNewTokens`). */
  promptLength?: number;
  /** Above 1 discourages repeats; 1 disables (default). */
  repetitionPenalty?: number;
  /** No n-gram of this size occurs twice; 0 disables (default). */
  noRepeatNgramSize?: number;
  /** EOS is banned until this many new tokens exist; 0 disables (default). */
  minNewTokens?: number;
  /** @default {1} */
  temperature?: number;
  /** 0 disables. @default {50} as HF */
  topK?: number;
  /** 1 disables. @default {1} */
  topP?: number;
  /** Relative probability floor; absent disables (0 removes nothing). */
  minP?: number;
  /** Typical mass; 1 disables. @default {1} */
  typicalP?: number;
}

/**
 * The processor list HF's `_get_logits_processor` builds for these options, in its order;
 * each processor validates its setting as it is built.
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * const names = logitsProcessors({
 *   doSample: true, temperature: 0.7, topK: 50, topP: 0.9, minP: 0.05, typicalP: 0.95,
 *   repetitionPenalty: 1.2, noRepeatNgramSize: 3, minNewTokens: 5, eosTokenIds: [0],
 * }).map((p) => p.name);
 * assertEquals(names, ["repetition_penalty", "no_repeat_ngram_size", "min_new_tokens",
 *   "temperature", "top_k", "top_p", "min_p", "typical_p"]);
 * assertEquals(logitsProcessors({ doSample: false, topK: 5 }).length, 0); // warpers only sample
 * assertThrows(() => logitsProcessors({ doSample: true, topP: 0 }), RangeError, "top_p");
 * ```
 */
export function logitsProcessors(options: ProcessorOptions): LogitsProcessor[] {
  const eos = options.eosTokenIds ?? [];
  const list: LogitsProcessor[] = [];
  const penalty = options.repetitionPenalty ?? 1;
  if (penalty !== 1) list.push(new RepetitionPenalty(penalty));
  const ngram = options.noRepeatNgramSize ?? 0;
  if (ngram !== 0) list.push(new NoRepeatNGram(ngram));
  const minNew = options.minNewTokens ?? 0;
  if (minNew !== 0 && eos.length > 0) {
    list.push(new MinNewTokens(options.promptLength ?? 0, minNew, eos));
  }
  if (options.doSample) {
    const keep = minTokensToKeepFor(options.numBeams ?? 1, eos);
    const t = options.temperature ?? 1;
    if (t !== 1) list.push(new TemperatureWarper(t));
    const k = options.topK ?? 50;
    if (k !== 0) list.push(new TopKWarper(k, keep));
    const p = options.topP ?? 1;
    if (p !== 1) list.push(new TopPWarper(p, keep));
    if (options.minP !== undefined) list.push(new MinPWarper(options.minP, keep));
    const typical = options.typicalP ?? 1;
    if (typical !== 1) list.push(new TypicalWarper(typical, keep));
  }
  return list;
}

/** What {@linkcode applyProcessors} did to a row. */
export interface ProcessedRow {
  /** The final scores: `-Infinity` where a token was removed. */
  scores: Float64Array;
  /** Tokens each processor removed (finite before it, `-Infinity` after), by name. */
  removed: Record<string, number>;
}

/**
 * Runs the list over one row, in order, counting what each processor removed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const r = applyProcessors([new TopKWarper(1)], [], Float64Array.from([Math.log(0.6), Math.log(0.4)]));
 * assertEquals(r.removed, { top_k: 1 });
 * ```
 */
export function applyProcessors(
  list: readonly LogitsProcessor[],
  inputIds: readonly number[],
  scores: Float64Array,
): ProcessedRow {
  let out = scores;
  const removed: Record<string, number> = {};
  for (const p of list) {
    const before = countFinite(out);
    out = p.process(inputIds, out);
    removed[p.name] = before - countFinite(out);
  }
  return { scores: out === scores ? Float64Array.from(scores) : out, removed };
}
