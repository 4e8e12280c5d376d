/**
 * The n-best list of finished beam-search hypotheses, as Hugging Face transformers' (4.4x)
 * `BeamHypotheses`: a hypothesis scores `sumScores / generatedLen ** lengthPenalty`, where
 * `generatedLen` counts the generated tokens including the EOS token (4.4x; versions before
 * 4.35 divided by the whole sequence length, prompt included). At most `numBeams` are kept;
 * a new one enters only if the list is not full or it beats the worst.
 *
 * @example
 * ```ts
 * import { BeamHypotheses } from "./beam_hypotheses.ts";
 * const h = new BeamHypotheses({ numBeams: 2, lengthPenalty: 1, earlyStopping: false, maxNewTokens: 5 });
 * h.add({ tokens: [1, 2], sumScores: -1, logProb: -1, finishReason: "eos" });
 * h.best(1)[0].score; // -0.5
 * ```
 * @module
 */

/** HF's `early_stopping`: stop at `numBeams` finished hypotheses, use a heuristic, or never. */
export type EarlyStopping = boolean | "never";

/** A finished sequence before scoring. */
export interface FinishedSequence {
  /** Generated tokens (prompt excluded), EOS included when it ended the sequence. */
  tokens: number[];
  /** Sum of the step scores the search ranked by (processed log-probabilities). */
  sumScores: number;
  /** Sum of the model's own log-probabilities of the tokens. */
  logProb: number;
  /** Why it ended: an EOS token or the length limit. */
  finishReason: "eos" | "length";
}

/** A finished sequence with its length-normalised score. */
export interface Hypothesis extends FinishedSequence {
  /** `sumScores / tokens.length ** lengthPenalty` (HF `sequences_scores`). */
  score: number;
}

/** Settings of {@linkcode BeamHypotheses}. */
export interface BeamHypothesesOptions {
  /** Capacity of the list. */
  numBeams: number;
  /** Exponent of the length in the score's denominator. */
  lengthPenalty: number;
  /** HF `early_stopping`. */
  earlyStopping: EarlyStopping;
  /** The length limit in new tokens, used by `earlyStopping: "never"`. */
  maxNewTokens: number;
}

/**
 * The n-best list of finished hypotheses.
 * @example
 * ```ts
 * const h = new BeamHypotheses({ numBeams: 1, lengthPenalty: 1, earlyStopping: true, maxNewTokens: 3 });
 * h.add({ tokens: [0], sumScores: -2, logProb: -2, finishReason: "eos" });
 * h.isDone(-1, 2); // true: early stopping with numBeams finished
 * ```
 */
export class BeamHypotheses {
  readonly #options: BeamHypothesesOptions;
  readonly #hyps: Hypothesis[] = [];
  #worstScore = 1e9;

  /** An empty list. */
  constructor(options: BeamHypothesesOptions) {
    this.#options = options;
  }

  /**
   * Number of hypotheses held.
   * @example
   * ```ts
   * new BeamHypotheses({ numBeams: 1, lengthPenalty: 1, earlyStopping: false, maxNewTokens: 3 }).size; // 0
   * ```
   */
  get size(): number {
    return this.#hyps.length;
  }

  /**
   * Scores `sequence` and adds it if the list is not full or it beats the worst (which is then
   * dropped; among equal worst scores the earliest added goes). Returns whether it was added.
   * @example
   * ```ts
   * const h = new BeamHypotheses({ numBeams: 1, lengthPenalty: 1, earlyStopping: false, maxNewTokens: 3 });
   * h.add({ tokens: [0, 1], sumScores: -4, logProb: -4, finishReason: "length" }); // true
   * h.add({ tokens: [2], sumScores: -3, logProb: -3, finishReason: "eos" }); // false: -3 < -2
   * ```
   */
  add(sequence: FinishedSequence): boolean {
    const score = sequence.sumScores / sequence.tokens.length ** this.#options.lengthPenalty;
    if (this.#hyps.length >= this.#options.numBeams && !(score > this.#worstScore)) return false;
    this.#hyps.push({ ...sequence, score });
    if (this.#hyps.length > this.#options.numBeams) {
      const order = this.#hyps.map((h, i) => [h.score, i]).sort((a, b) =>
        a[0] - b[0] || a[1] - b[1]
      );
      this.#hyps.splice(order[0][1], 1);
      this.#worstScore = order[1][0];
    } else {
      this.#worstScore = Math.min(score, this.#worstScore);
    }
    return true;
  }

  /**
   * HF `is_done`: whether no live beam can still produce a hypothesis better than the worst held.
   * `bestSumScores` is the best candidate score of the step; `generatedLen` the number of new
   * tokens including this step's.
   * @example
   * ```ts
   * const h = new BeamHypotheses({ numBeams: 1, lengthPenalty: 1, earlyStopping: false, maxNewTokens: 9 });
   * h.add({ tokens: [0], sumScores: -1, logProb: -1, finishReason: "eos" });
   * h.isDone(-3, 2); // true: -1 >= -3 / 2
   * ```
   */
  isDone(bestSumScores: number, generatedLen: number): boolean {
    const { numBeams, earlyStopping, lengthPenalty, maxNewTokens } = this.#options;
    if (this.#hyps.length < numBeams) return false;
    if (earlyStopping === true) return true;
    const len = earlyStopping === "never" && lengthPenalty > 0 ? maxNewTokens : generatedLen;
    return this.#worstScore >= bestSumScores / len ** lengthPenalty;
  }

  /**
   * The `n` best hypotheses, best first (HF `finalize`: stable ascending sort, popped from the
   * end, so among equal scores the later-added comes first).
   * @example
   * ```ts
   * const h = new BeamHypotheses({ numBeams: 2, lengthPenalty: 0, earlyStopping: false, maxNewTokens: 3 });
   * h.add({ tokens: [0], sumScores: -2, logProb: -2, finishReason: "eos" });
   * h.add({ tokens: [1], sumScores: -1, logProb: -1, finishReason: "eos" });
   * h.best(2).map((x) => x.tokens[0]); // [1, 0]
   * ```
   */
  best(n: number): Hypothesis[] {
    const ascending = this.#hyps.map((h, i) => ({ h, i }))
      .sort((a, b) => a.h.score - b.h.score || a.i - b.i);
    return ascending.reverse().slice(0, n).map(({ h }) => ({ ...h, tokens: [...h.tokens] }));
  }
}
