/**
 * The one seam between decoding and whatever produces next-token distributions: the
 * homework's probability tree and an ONNX causal language model both implement
 * {@linkcode LanguageModel}; the decoding engine knows nothing else about either.
 *
 * Decoding proceeds in steps over a batch of rows (beams). {@linkcode LanguageModel.start}
 * runs the prompt once (prefill) for `rows` identical rows; each {@linkcode DecodeState.step}
 * says, for every row of the next step, which row of this step it continues (its parent beam)
 * and which token it appends. A model with a KV cache reorders the cache by `parents` and feeds
 * only the new tokens; a stateless model just extends its prefixes.
 *
 * Greedy and beam search without logits processors need only each row's best few tokens: they
 * pass `{ topK }` ({@linkcode StepRequest}), and a model that can compute those itself (an ONNX
 * graph with an in-graph top-k head) returns them as `top` instead of full rows, so nothing of
 * vocabulary size crosses into JavaScript. A model that cannot ignores the request.
 *
 * @example
 * ```ts
 * import type { LanguageModel } from "./language_model.ts";
 * async function greedyNext(model: LanguageModel, prompt: number[]): Promise<number> {
 *   const state = await model.start(prompt, 1);
 *   const row = state.logProbs[0];
 *   let best = 0;
 *   for (let t = 1; t < row.length; t++) if (row[t] > row[best]) best = t;
 *   await state.dispose();
 *   return best;
 * }
 * ```
 * @module
 */

/** A source of next-token log-probabilities over a fixed vocabulary. */
export interface LanguageModel {
  /** Number of entries in every log-probability row. */
  readonly vocabSize: number;
  /** End-of-sequence token ids; generation of a row stops when it emits one. */
  readonly eosTokenIds: readonly number[];
  /** Human-readable token for an id (for traces and drawings). */
  tokenText(id: number): string;
  /**
   * Prefill: run `prompt` for `rows` identical rows and return the first decoding state.
   * `prompt` may be empty for models with an implicit start (the homework tree's root).
   */
  start(prompt: readonly number[], rows: number, request?: StepRequest): Promise<DecodeState>;
}

/** What the caller needs of a step's distribution. */
export interface StepRequest {
  /**
   * Only each row's `topK` most likely tokens: the model may return `top` and leave `logProbs`
   * and `logits` unavailable (they throw).
   */
  topK?: number;
  /**
   * With `topK` 1: `false` when the top token's log-probability is not needed either, so the
   * model may find its argmax without every logit (`top[r].logProbs` is then NaN).
   * @default {true}
   */
  logProbs?: boolean;
}

/** A row's most likely tokens, best first (ties: lower id first). */
export interface TopTokens {
  /** Token ids. */
  tokens: Int32Array;
  /** Their log-probabilities (`log_softmax` of the logits). */
  logProbs: Float32Array;
}

/** The model's state after a step: one log-probability row per live row. */
export interface DecodeState {
  /** `logProbs[r][t]` = log P(token t | prefix of row r); each row has `vocabSize` entries. */
  readonly logProbs: readonly Float32Array[];
  /**
   * The raw scores before `log_softmax`, when the model has them (an ONNX model's logits).
   * HF's logits processors see these in greedy search and sampling; a model without them
   * (the homework's tree) is processed on its log-probabilities.
   */
  readonly logits?: readonly Float32Array[];
  /** Each row's top-k, when the step asked for it and the model computes it. */
  readonly top?: readonly TopTokens[];
  /**
   * Advance one token. Row `i` of the returned state continues row `parents[i]` of this state
   * with token `tokens[i]`; `parents.length` becomes the new number of rows. This state must
   * not be used afterwards.
   */
  step(
    parents: readonly number[],
    tokens: readonly number[],
    request?: StepRequest,
  ): Promise<DecodeState>;
  /** Release resources (GPU buffers, ONNX tensors). Safe to call more than once. */
  dispose(): Promise<void> | void;
}
