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
