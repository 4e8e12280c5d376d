/**
 * What decoding did, step by step, as data: the rows (beams) each step expanded, the candidates
 * it considered with their log-probabilities and fate, and for sampling what temperature,
 * top-k and top-p did to the distribution. Only candidates are stored (a few per row), never
 * whole vocabulary rows, so a trace of a 4096-token model stays small and drawable.
 *
 * @example
 * ```ts
 * import type { Trace } from "./trace.ts";
 * function keptPerStep(trace: Trace): number[] {
 *   return trace.steps.map((s) => s.candidates.filter((c) => c.status === "kept").length);
 * }
 * ```
 * @module
 */
import type { Hypothesis } from "./beam_hypotheses.ts";

/** The decoding strategy, named as in HF's `generate` docs. */
export type DecodingMode = "greedy" | "sample" | "beam_search" | "beam_sample";

/**
 * The fate of a candidate at its step:
 * - `kept`: became a live row (a beam, or the sampled/greedy token of a row);
 * - `finished`: ended a sequence (EOS) that entered the hypotheses list;
 * - `pruned`: considered (ranked or drawn, or among the row's best) but not kept;
 * - `filtered`: removed by top-k or top-p before the choice.
 */
export type CandidateStatus = "kept" | "finished" | "pruned" | "filtered";

/** A row (beam) at the start of a step. */
export interface TraceRow {
  /** Tokens generated so far by this row (prompt excluded). */
  tokens: number[];
  /** Cumulative score the search ranks by (sum of processed step scores). */
  score: number;
  /** Cumulative model log-probability of `tokens`. */
  logProb: number;
}

/** One candidate continuation: row `parent` of the step extended by `token`. */
export interface TraceCandidate {
  /** Index into the step's `rows`. */
  parent: number;
  /** The appended token id. */
  token: number;
  /** log P(token | parent's prefix) under the model. */
  logProb: number;
  /** Parent's cumulative log-probability + `logProb`. */
  cumLogProb: number;
  /** `exp(cumLogProb)`: the probability of the whole generated sequence. */
  probability: number;
  /** Cumulative processed score the search ranked by (`-Infinity` when filtered). */
  score: number;
  /** Position in the step's ranking (beam modes: among the 2·numBeams chosen), else null. */
  rank: number | null;
  /** What became of it. */
  status: CandidateStatus;
  /** Its row index in the next step when kept. */
  next?: number;
}

/** One of the most likely tokens of a row, before and after the sampling filters. */
export interface FilteredToken {
  /** Token id. */
  token: number;
  /** Model probability. */
  probability: number;
  /** Probability after temperature, before top-k / top-p. */
  temperedProbability: number;
  /** Probability after temperature, top-k and top-p (renormalised); 0 when removed. */
  warpedProbability: number;
}

/** What the sampling filters did to one row. */
export interface FilterReport {
  /** Index into the step's `rows`. */
  row: number;
  /** Tokens left after the filters. */
  keptTokens: number;
  /** Tokens top-k removed. */
  removedByTopK: number;
  /** Tokens top-p removed (after top-k). */
  removedByTopP: number;
  /** Tokens each processor removed, by option name (`top_k`, `min_p`, …). */
  removed: Record<string, number>;
  /** Tempered probability mass of the kept tokens. */
  keptMass: number;
  /** The row's most likely tokens (by model probability). */
  top: FilteredToken[];
}

/** One decoding step. */
export interface TraceStep {
  /** 1-based index of the token this step generates. */
  step: number;
  /** Rows expanded at this step. */
  rows: TraceRow[];
  /** Candidates considered, best first within each row. */
  candidates: TraceCandidate[];
  /** Sampling modes: per-row filter reports. */
  filters?: FilterReport[];
}

/** A whole decoding run. */
export interface Trace {
  /** The strategy. */
  mode: DecodingMode;
  /** Number of beams (1 for greedy and sampling). */
  numBeams: number;
  /** The prompt's token ids. */
  promptIds: number[];
  /** The steps, in order. */
  steps: TraceStep[];
  /** The returned sequences, best first for beam modes. */
  final: Hypothesis[];
}

/** Why a beam search missed a sequence: where its prefix fell out of the beam. */
export interface Miss {
  /** The step at which the prefix was pruned (1-based). */
  step: number;
  /** The pruned prefix's tokens. */
  prefix: number[];
  /** Its probability at that step. */
  probability: number;
  /** The probability of the weakest beam kept at that step. */
  weakestKept: number;
}

/**
 * Finds where `target`'s prefix left the beam in `trace`, or null if the search kept it to
 * the end.
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { beamSearch } from "./generate.ts";
 * import { loadTreeFile } from "../tree/load.ts";
 * const tree = await loadTreeFile();
 * const { trace } = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, trace: true });
 * // "aba", the most probable sequence, leaves the beam at step 1 (P(a) = 0.2 < 0.3).
 * const miss = whereMissed(trace!, tree.encode(["a", "b", "a"]))!;
 * assertEquals([miss.step, miss.prefix], [1, [0]]);
 * assertAlmostEquals(miss.probability, 0.2, 1e-6);
 * assertAlmostEquals(miss.weakestKept, 0.3, 1e-6);
 * ```
 */
export function whereMissed(trace: Trace, target: readonly number[]): Miss | null {
  for (const step of trace.steps) {
    const prefix = target.slice(0, step.step);
    const kept = step.candidates.filter((c) => c.status === "kept");
    const mine = step.candidates.find((c) =>
      [...step.rows[c.parent].tokens, c.token].join() === prefix.join()
    );
    if (mine === undefined || mine.status === "kept" || mine.status === "finished") continue;
    return {
      step: step.step,
      prefix,
      probability: mine.probability,
      weakestKept: Math.min(...kept.map((c) => c.probability)),
    };
  }
  return null;
}
