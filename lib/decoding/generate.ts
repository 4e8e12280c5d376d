/**
 * The one decoding engine: Hugging Face transformers' `generate` (4.4x semantics) over a
 * {@linkcode LanguageModel}. {@linkcode generate} picks the strategy as HF does:
 *
 * | `doSample` | `numBeams` | strategy |
 * | --- | --- | --- |
 * | false | 1 | greedy search |
 * | true | 1 | multinomial sampling (temperature → top-k → top-p) |
 * | false | > 1 | beam search |
 * | true | > 1 | beam sampling |
 *
 * Every step runs the row's scores through the logits processors
 * ({@linkcode logitsProcessors}, HF's list and order: repetition penalty, no-repeat n-gram, min
 * new tokens, then when sampling temperature, top-k, top-p, min-p, typical-p). As in HF they
 * see the raw logits in greedy search and sampling (when the model gives them) and the
 * log-softmax scores in beam modes.
 *
 * Beam modes follow HF's `_beam_search`: a beam's score is the sum of its (processed)
 * log-probabilities; each step ranks `max(2, 1 + #EOS) · numBeams` candidates across all beams ×
 * vocabulary (top-k for beam search; drawn without replacement from the softmax of the summed
 * scores for beam sampling, then sorted by score); candidates ending in EOS within the first
 * `numBeams` ranks become finished hypotheses scored `sum / generatedLen ** lengthPenalty`
 * (`generatedLen` counts new tokens including EOS, as in 4.4x); the first `numBeams` non-EOS
 * candidates become the next beams; `earlyStopping` (true / false / "never") decides when the
 * hypotheses list is final; at the length limit the live beams join the list.
 *
 * Where this differs from HF, deliberately:
 * - The prompt is prefilled once, not once per beam: the first step expands row 0 only, which is
 *   what HF's `-1e9` initial scores of beams 1… achieve.
 * - Impossible candidates (`-Infinity`: zero probability, or removed by top-k/top-p) are never
 *   chosen. HF would fill missing beams with them (scores ≈ -1e9 / -inf) when fewer possible
 *   candidates exist than beams (tiny vocabularies); here the beam set shrinks instead, and fewer
 *   than `numReturnSequences` sequences may come back.
 * - Finished rows of greedy/sampling are dropped from the batch instead of being fed padding.
 * - A greedy/sampling row's `sumScores` sums the log-probability of each chosen token under
 *   the distribution it was chosen from (the processed row, renormalised); HF keeps no such
 *   score for these modes.
 * - Random numbers come from {@linkcode Pcg32} (seeded), not torch's generator, so sampled
 *   tokens match HF's distribution, not its exact draws.
 *
 * @example
 * ```ts
 * import { generate } from "./generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await generate(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
 * out.sequences.map((s) => s.tokens.map((t) => tree.tokenText(t)).join("")); // ["bca", "cab"]
 * ```
 * @module
 */
import type { DecodeState, LanguageModel, StepRequest, TopTokens } from "./language_model.ts";
import { BeamHypotheses, type EarlyStopping, type Hypothesis } from "./beam_hypotheses.ts";
import {
  applyProcessors,
  type LogitsProcessor,
  logitsProcessors,
  logSoftmax,
  type ProcessedRow,
  softmax,
} from "./processors.ts";
import { Pcg32 } from "./rng.ts";
import { multinomial, topIndices } from "./select.ts";
import type {
  CandidateStatus,
  DecodingMode,
  FilterReport,
  Trace,
  TraceCandidate,
  TraceRow,
  TraceStep,
} from "./trace.ts";

/** Options of {@linkcode generate}, named after HF's `GenerationConfig`. */
export interface GenerateOptions {
  /** Maximum number of new tokens (HF `max_new_tokens`); an integer ≥ 1. */
  maxNewTokens: number;
  /** Sample instead of picking the best. @default {false} */
  doSample?: boolean;
  /** Number of beams. @default {1} */
  numBeams?: number;
  /** Sequences returned; ≤ `numBeams` for beam modes, 1 for greedy. @default {1} */
  numReturnSequences?: number;
  /** Sampling temperature > 0. Only used when sampling. @default {1} */
  temperature?: number;
  /** Top-k filter; 0 disables. Only used when sampling. @default {50} as HF */
  topK?: number;
  /** Top-p (nucleus) filter in (0, 1]; 1 disables. Only used when sampling. @default {1} */
  topP?: number;
  /** Min-p filter in [0, 1] (relative to the most likely token); absent disables. Sampling. */
  minP?: number;
  /** Typical-p mass in (0, 1]; 1 disables. Only used when sampling. @default {1} */
  typicalP?: number;
  /** HF `repetition_penalty` > 0: above 1 discourages repeats; 1 disables. @default {1} */
  repetitionPenalty?: number;
  /** HF `no_repeat_ngram_size`: no n-gram of this size repeats; 0 disables. @default {0} */
  noRepeatNgramSize?: number;
  /** HF `min_new_tokens`: EOS is banned before this many new tokens; 0 disables. @default {0} */
  minNewTokens?: number;
  /** Exponent of the length in beam hypotheses' scores. @default {1} */
  lengthPenalty?: number;
  /** HF `early_stopping` for beam modes. @default {false} */
  earlyStopping?: EarlyStopping;
  /** Seed of the random generator used by sampling. @default {0} */
  seed?: number;
  /**
   * Greedy search: `false` skips the chosen tokens' log-probabilities, so the model may find
   * each argmax without every logit (an ONNX model on onnxruntime-node screens a large LM head
   * in int8, exactly); the sequences' `score`, `sumScores` and `logProb` are then NaN.
   * @default {true}
   */
  sequenceScores?: boolean;
  /** End-of-sequence ids (default: the model's). */
  eosTokenIds?: readonly number[];
  /** Record a {@linkcode Trace}; `true` or how many candidates to keep per row. */
  trace?: boolean | TraceOptions;
  /** Called after every step, e.g. to stream text. */
  onStep?: (event: StepEvent) => void | Promise<void>;
}

/** How much of each step a trace keeps. */
export interface TraceOptions {
  /** The most likely tokens recorded per row, besides every chosen candidate. @default {10} */
  candidatesPerRow?: number;
}

/** Progress after one step. */
export interface StepEvent {
  /** 1-based index of the generated token. */
  step: number;
  /**
   * Greedy / sampling: every output row's tokens so far (finished rows stop growing).
   * Beam modes: the live beams' tokens, best first.
   */
  sequences: number[][];
  /** The token each entry of `sequences` got at this step, null if it had finished before. */
  newTokens: (number | null)[];
}

/** The result of {@linkcode generate}. */
export interface GenerateOutput {
  /** The strategy that ran. */
  mode: DecodingMode;
  /**
   * The generated sequences (prompt excluded). Beam modes: best first, `score` = HF's
   * `sequences_scores`. Greedy / sampling: one per row, `score` = the sequence's model
   * log-probability.
   */
  sequences: Hypothesis[];
  /** Decoding steps run (model calls after the prefill + 1). */
  steps: number;
  /** The step-by-step record, when requested. */
  trace?: Trace;
}

/** Options of the mode-specific entry points (the mode fixes `doSample`). */
export type ModeOptions = Omit<GenerateOptions, "doSample">;

/**
 * Generates continuations of `promptIds` with HF `generate` semantics (see the module doc).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await generate(tree, [], { maxNewTokens: 3, doSample: true, topK: 0, seed: 1 });
 * assertEquals(out.sequences[0].tokens.length, 3);
 * ```
 */
export async function generate(
  model: LanguageModel,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<GenerateOutput> {
  const o = resolve(model, promptIds, options, undefined);
  return await (o.numBeams > 1
    ? decodeBeams(model, promptIds, o)
    : decodeRows(model, promptIds, o));
}

/**
 * Greedy search: the most likely token at every step (HF `num_beams=1, do_sample=False`).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * assertEquals((await greedySearch(tree, [], { maxNewTokens: 3 })).sequences[0].tokens, [1, 2, 0]); // "bca"
 * ```
 */
export async function greedySearch(
  model: LanguageModel,
  promptIds: readonly number[],
  options: Omit<ModeOptions, "numBeams" | "numReturnSequences">,
): Promise<GenerateOutput> {
  return await decodeRows(model, promptIds, resolve(model, promptIds, options, "greedy"));
}

/**
 * Multinomial sampling after the processors; `numReturnSequences` independent rows.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await sample(tree, [], { maxNewTokens: 3, topP: 0.9, seed: 7, numReturnSequences: 4 });
 * assertEquals(out.sequences.length, 4);
 * ```
 */
export async function sample(
  model: LanguageModel,
  promptIds: readonly number[],
  options: Omit<ModeOptions, "numBeams">,
): Promise<GenerateOutput> {
  return await decodeRows(model, promptIds, resolve(model, promptIds, options, "sample"));
}

/**
 * Beam search, also with `numBeams: 1` (which then equals greedy search).
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
 * assertAlmostEquals(Math.exp(out.sequences[0].logProb), 0.12);
 * assertAlmostEquals(Math.exp(out.sequences[1].logProb), 0.096);
 * ```
 */
export async function beamSearch(
  model: LanguageModel,
  promptIds: readonly number[],
  options: ModeOptions,
): Promise<GenerateOutput> {
  return await decodeBeams(model, promptIds, resolve(model, promptIds, options, "beam_search"));
}

/**
 * Beam sampling (HF `do_sample=True, num_beams>1`): processed log-probabilities plus beam
 * scores, `2·numBeams` candidates drawn without replacement, then as beam search.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSample(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, seed: 3 });
 * assertEquals(out.sequences.length, 2);
 * ```
 */
export async function beamSample(
  model: LanguageModel,
  promptIds: readonly number[],
  options: ModeOptions,
): Promise<GenerateOutput> {
  return await decodeBeams(model, promptIds, resolve(model, promptIds, options, "beam_sample"));
}

interface Resolved {
  mode: DecodingMode;
  maxNewTokens: number;
  doSample: boolean;
  numBeams: number;
  numReturnSequences: number;
  temperature: number;
  processors: readonly LogitsProcessor[];
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  eosTokenIds: readonly number[];
  rng: Pcg32;
  traceRow: number;
  sequenceScores: boolean;
  onStep?: (event: StepEvent) => void | Promise<void>;
}

interface Row {
  tokens: number[];
  score: number;
  logProb: number;
  finishReason?: "eos" | "length";
}

function resolve(
  model: LanguageModel,
  promptIds: readonly number[],
  options: GenerateOptions,
  forced: DecodingMode | undefined,
): Resolved {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
    }
    return v;
  };
  const maxNewTokens = int("maxNewTokens", options.maxNewTokens, 1);
  const numBeams = int("numBeams", options.numBeams ?? 1, 1);
  const numReturnSequences = int("numReturnSequences", options.numReturnSequences ?? 1, 1);
  const doSample = forced === undefined
    ? options.doSample ?? false
    : forced === "sample" || forced === "beam_sample";
  const mode: DecodingMode = forced ??
    (numBeams > 1 ? (doSample ? "beam_sample" : "beam_search") : (doSample ? "sample" : "greedy"));
  const beamMode = mode === "beam_search" || mode === "beam_sample";
  if (beamMode && numReturnSequences > numBeams) {
    throw new RangeError(
      `numReturnSequences (${numReturnSequences}) must be <= numBeams (${numBeams})`,
    );
  }
  if (mode === "greedy" && numReturnSequences !== 1) {
    throw new RangeError(
      `greedy search returns one sequence; numReturnSequences must be 1, got ${numReturnSequences}`,
    );
  }
  const lengthPenalty = options.lengthPenalty ?? 1;
  if (!Number.isFinite(lengthPenalty)) {
    throw new RangeError(`lengthPenalty must be a finite number, got ${lengthPenalty}`);
  }
  const earlyStopping = options.earlyStopping ?? false;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== "never") {
    throw new RangeError(`earlyStopping must be true, false or "never", got ${earlyStopping}`);
  }
  const inVocab = (name: string) => (t: number) => {
    if (!Number.isInteger(t) || t < 0 || t >= model.vocabSize) {
      throw new RangeError(`${name} holds ${t}; token ids are integers in [0, ${model.vocabSize})`);
    }
  };
  promptIds.forEach(inVocab("promptIds"));
  const eosTokenIds = [...(options.eosTokenIds ?? model.eosTokenIds)];
  eosTokenIds.forEach(inVocab("eosTokenIds"));
  const temperature = options.temperature ?? 1;
  // The warpers are validated when sampling uses them; outside sampling they are ignored, as
  // in HF, but a nonsensical value is still refused.
  const processors = logitsProcessors({
    ...options,
    doSample,
    numBeams,
    eosTokenIds,
    promptLength: promptIds.length,
  });
  if (!doSample) logitsProcessors({ ...options, doSample: true, eosTokenIds });
  const seed = options.seed ?? 0;
  const sequenceScores = options.sequenceScores ?? true;
  if (sequenceScores !== true && sequenceScores !== false) {
    throw new RangeError(`sequenceScores must be true or false, got ${sequenceScores}`);
  }
  if (!sequenceScores && mode !== "greedy") {
    throw new RangeError(`sequenceScores: false is for greedy search; ${mode} ranks by the scores`);
  }
  const traceRow = options.trace === undefined || options.trace === false ? 0 : int(
    "trace.candidatesPerRow",
    options.trace === true ? 10 : options.trace.candidatesPerRow ?? 10,
    1,
  );
  return {
    mode,
    maxNewTokens,
    doSample,
    numBeams,
    numReturnSequences,
    temperature,
    processors,
    lengthPenalty,
    earlyStopping,
    eosTokenIds,
    rng: new Pcg32(seed),
    traceRow,
    sequenceScores,
    onStep: options.onStep,
  };
}

/**
 * What a step asks of the model: greedy and beam search with no processors and no trace need
 * only each row's `k` best tokens, which a model may compute without handing over full rows.
 */
function stepRequest(o: Resolved, k: number): StepRequest {
  if (o.processors.length > 0 || o.doSample || o.traceRow > 0) return {};
  return o.sequenceScores ? { topK: k } : { topK: k, logProbs: false };
}

function checkRows(
  state: DecodeState,
  rows: number,
  vocabSize: number,
  request: StepRequest,
): void {
  if (state.top) {
    if (state.top.length !== rows) {
      throw new Error(`model returned ${state.top.length} rows of top tokens, expected ${rows}`);
    }
    const scored = request.logProbs !== false;
    for (const [r, top] of state.top.entries()) {
      if (top.tokens.length === 0 || (scored && !(top.logProbs[0] > -Infinity))) {
        throw new Error(`model row ${r} has no finite log-probability`);
      }
    }
    return;
  }
  if (state.logProbs.length !== rows) {
    throw new Error(
      `model returned ${state.logProbs.length} rows of log-probabilities, expected ${rows}`,
    );
  }
  for (const [r, row] of state.logProbs.entries()) {
    if (row.length !== vocabSize) {
      throw new Error(
        `model row ${r} has ${row.length} log-probabilities, expected vocabSize ${vocabSize}`,
      );
    }
  }
}

/**
 * The processors over one row (its tokens are the prompt and `generated`); without processors
 * the scores are the row itself, and neither the tokens nor the scores are copied.
 */
function processRow(
  o: Resolved,
  promptIds: readonly number[],
  generated: readonly number[],
  scores: ArrayLike<number>,
): ProcessedRow | undefined {
  return o.processors.length === 0
    ? undefined
    : applyProcessors(o.processors, [...promptIds, ...generated], Float64Array.from(scores));
}

/** A candidate as the trace records it; `parentRow` gives its cumulative log-probability. */
function candidate(c: {
  parent: number;
  parentRow: Row;
  token: number;
  logProb: number;
  score: number;
  rank: number | null;
  status: CandidateStatus;
  next?: number;
}): TraceCandidate {
  const cumLogProb = c.parentRow.logProb + c.logProb;
  return {
    parent: c.parent,
    token: c.token,
    logProb: c.logProb,
    cumLogProb,
    probability: Math.exp(cumLogProb),
    score: c.score,
    rank: c.rank,
    status: c.status,
    ...(c.next === undefined ? {} : { next: c.next }),
  };
}

/**
 * Records a {@linkcode Trace} step by step; {@linkcode NO_TRACE} does nothing, so decoding
 * calls it unconditionally and pays nothing when tracing is off.
 */
interface Tracer {
  /** Starts a step with the rows it expands. */
  beginStep(step: number, rows: readonly Row[]): void;
  /**
   * Records row `parent`'s candidates: its most likely tokens and every token `chosen()` gives,
   * best first, with the score and fate each got.
   */
  rowCandidates(
    parent: number,
    row: Row,
    logProbs: ArrayLike<number>,
    chosen: () => Iterable<number>,
    fate: (
      token: number,
    ) => { score: number; rank: number | null; status: CandidateStatus; next?: number },
  ): void;
  /** Records what the processors did to row `parent` (sampling modes). */
  filters(
    parent: number,
    logProbs: ArrayLike<number>,
    processed: ArrayLike<number>,
    removed: Record<string, number>,
  ): void;
  /** Ends the step. */
  endStep(): void;
  /** The trace of the run, or undefined when off. */
  finish(final: Hypothesis[]): Trace | undefined;
}

const NO_TRACE: Tracer = {
  beginStep() {},
  rowCandidates() {},
  filters() {},
  endStep() {},
  finish: () => undefined,
};

function tracer(o: Resolved, promptIds: readonly number[]): Tracer {
  if (o.traceRow === 0) return NO_TRACE;
  const steps: TraceStep[] = [];
  let current: TraceStep;
  return {
    beginStep(step, rows) {
      const traced: TraceRow[] = rows.map((r) => ({
        tokens: [...r.tokens],
        score: r.score,
        logProb: r.logProb,
      }));
      current = { step, rows: traced, candidates: [], ...(o.doSample ? { filters: [] } : {}) };
    },
    rowCandidates(parent, row, lp, chosen, fate) {
      const shown = new Set([...topIndices(lp, o.traceRow), ...chosen()]);
      for (const token of [...shown].sort((a, b) => lp[b] - lp[a] || a - b)) {
        current.candidates.push(
          candidate({ parent, parentRow: row, token, logProb: lp[token], ...fate(token) }),
        );
      }
    },
    filters(parent, lp, processed, removed) {
      current.filters!.push(filterReport(o, parent, lp, processed, removed));
    },
    endStep() {
      steps.push(current);
    },
    finish: (final) => ({
      mode: o.mode,
      numBeams: o.numBeams,
      promptIds: [...promptIds],
      steps,
      final,
    }),
  };
}

function filterReport(
  o: Resolved,
  row: number,
  logProbs: ArrayLike<number>,
  processed: ArrayLike<number>,
  removed: Record<string, number>,
): FilterReport {
  const tempered = softmax(Float64Array.from(logProbs, (x) => x / o.temperature));
  const after = softmax(processed);
  let keptTokens = 0, keptMass = 0;
  for (let t = 0; t < after.length; t++) {
    if (processed[t] > -Infinity) {
      keptTokens++;
      keptMass += tempered[t];
    }
  }
  return {
    row,
    keptTokens,
    removedByTopK: removed.top_k ?? 0,
    removedByTopP: removed.top_p ?? 0,
    removed,
    keptMass,
    top: topIndices(logProbs, o.traceRow).map((token) => ({
      token,
      probability: Math.exp(logProbs[token]),
      temperedProbability: tempered[token],
      warpedProbability: after[token],
    })),
  };
}

/** Greedy search and sampling: independent rows, one token each per step. */
async function decodeRows(
  model: LanguageModel,
  promptIds: readonly number[],
  o: Resolved,
): Promise<GenerateOutput> {
  const vocab = model.vocabSize;
  const eos = new Set(o.eosTokenIds);
  const trace = tracer(o, promptIds);
  const count = o.mode === "sample" ? o.numReturnSequences : 1;
  const rows: Row[] = Array.from({ length: count }, () => ({ tokens: [], score: 0, logProb: 0 }));
  let live = rows.map((_, i) => i);
  let stateRowOf = live.map(() => 0);
  let stepsRun = 0;
  const request = stepRequest(o, 1);
  let state = await model.start(promptIds, 1, request);
  try {
    for (let step = 1; step <= o.maxNewTokens; step++) {
      stepsRun = step;
      checkRows(state, step === 1 ? 1 : live.length, vocab, request);
      trace.beginStep(step, live.map((i) => rows[i]));
      const newTokens: (number | null)[] = rows.map(() => null);
      for (const [j, i] of live.entries()) {
        const row = rows[i];
        const top = state.top?.[stateRowOf[j]];
        if (top) {
          // Greedy without processors: the model's own argmax and its log-probability.
          const token = top.tokens[0];
          row.tokens.push(token);
          row.score += top.logProbs[0];
          row.logProb += top.logProbs[0];
          newTokens[i] = token;
          if (eos.has(token)) row.finishReason = "eos";
          continue;
        }
        const lp = state.logProbs[stateRowOf[j]];
        // HF's processors see the raw logits in these modes.
        const raw = state.logits?.[stateRowOf[j]] ?? lp;
        const processed = processRow(o, promptIds, row.tokens, raw);
        const scores = processed?.scores ?? raw;
        const token = o.mode === "sample"
          ? multinomial(softmax(scores), 1, o.rng)[0]
          : topIndices(scores, 1)[0];
        if (token === undefined) {
          throw new Error(`model row ${stateRowOf[j]} has no finite log-probability`);
        }
        // The chosen token's log-probability under the distribution it was chosen from.
        const stepLogProbs = processed ? logSoftmax(processed.scores) : lp;
        trace.rowCandidates(j, row, lp, () => [token], (t) => ({
          score: row.score + stepLogProbs[t],
          rank: t === token ? 0 : null,
          status: t === token
            ? (eos.has(t) ? "finished" : "kept")
            : stepLogProbs[t] === -Infinity
            ? "filtered"
            : "pruned",
          ...(t === token ? { next: j } : {}),
        }));
        if (o.mode === "sample") {
          trace.filters(j, lp, processed?.scores ?? lp, processed?.removed ?? {});
        }
        row.tokens.push(token);
        row.score += stepLogProbs[token];
        row.logProb += lp[token];
        newTokens[i] = token;
        if (eos.has(token)) row.finishReason = "eos";
      }
      trace.endStep();
      await o.onStep?.({ step, sequences: rows.map((r) => [...r.tokens]), newTokens });
      const stillLive = live.filter((i) => rows[i].finishReason === undefined);
      if (stillLive.length === 0 || step === o.maxNewTokens) break;
      const parents = stillLive.map((i) => stateRowOf[live.indexOf(i)]);
      state = await state.step(parents, stillLive.map((i) => rows[i].tokens.at(-1)!), request);
      live = stillLive;
      stateRowOf = live.map((_, j) => j);
    }
  } finally {
    await state.dispose();
  }
  // Unasked-for scores are NaN whichever path ran, not sometimes numbers.
  const unscored = (x: number) => o.sequenceScores ? x : NaN;
  const sequences: Hypothesis[] = rows.map((r) => ({
    tokens: r.tokens,
    sumScores: unscored(r.score),
    logProb: unscored(r.logProb),
    finishReason: r.finishReason ?? "length",
    score: unscored(r.logProb),
  }));
  const traced = trace.finish(sequences);
  return { mode: o.mode, sequences, steps: stepsRun, ...(traced ? { trace: traced } : {}) };
}

/** What became of one ranked candidate of a beam step. */
interface Fate {
  rank: number;
  status: CandidateStatus;
  next?: number;
}

/** A beam step's scores, keyed by `beam · vocab + token`. */
interface StepScores {
  /** The beam's running score plus the candidate's processed score. */
  total(idx: number): number;
  /** Row `r`'s log-probability of token `t`. */
  logProb(r: number, t: number): number;
}

/**
 * Ranks a beam step from each row's top tokens: the best `count` of `beams[r].score` + log-prob
 * over every row's candidates, ties to the lower `beam · vocab + token` (as over full rows).
 */
function rankTop(
  top: readonly TopTokens[],
  beams: readonly Row[],
  vocab: number,
  count: number,
): { ranked: number[]; scores: StepScores } {
  const totals = new Map<number, number>(), logProbs = new Map<number, number>();
  for (const [r, row] of top.entries()) {
    for (let j = 0; j < row.tokens.length; j++) {
      if (!(row.logProbs[j] > -Infinity)) continue;
      const idx = r * vocab + row.tokens[j];
      totals.set(idx, beams[r].score + row.logProbs[j]);
      logProbs.set(idx, row.logProbs[j]);
    }
  }
  const ranked = [...totals.keys()]
    .sort((a, b) => totals.get(b)! - totals.get(a)! || a - b)
    .slice(0, count);
  return {
    ranked,
    scores: {
      total: (idx) => totals.get(idx)!,
      logProb: (r, t) => logProbs.get(r * vocab + t)!,
    },
  };
}

/** The outcome of {@linkcode selectBeams}. */
interface BeamSelection {
  /** The next step's beams, best first. */
  next: Row[];
  /** For each next beam, the index of the beam it continues. */
  parents: number[];
  /** Each ranked candidate's fate, keyed by `beam · vocab + token`. */
  fate: Map<number, Fate>;
}

/**
 * HF `BeamSearchScorer.process`: walks the ranked candidates; an EOS candidate within the
 * first `numBeams` ranks becomes a finished hypothesis, other candidates fill the next beams
 * until there are `numBeams`, the rest are pruned.
 */
function selectBeams(
  o: Resolved,
  ranked: readonly number[],
  beams: readonly Row[],
  scores: StepScores,
  vocab: number,
  hyps: BeamHypotheses,
): BeamSelection {
  const eos = new Set(o.eosTokenIds);
  const fate = new Map<number, Fate>();
  const next: Row[] = [];
  const parents: number[] = [];
  for (const [rank, idx] of ranked.entries()) {
    if (next.length === o.numBeams) {
      fate.set(idx, { rank, status: "pruned" });
      continue;
    }
    const r = Math.floor(idx / vocab), t = idx % vocab;
    const beam = beams[r];
    const logProb = beam.logProb + scores.logProb(r, t);
    if (eos.has(t)) {
      // HF: an EOS outside the first numBeams ranks never becomes a hypothesis.
      const added = rank < o.numBeams &&
        hyps.add({
          tokens: [...beam.tokens, t],
          sumScores: scores.total(idx),
          logProb,
          finishReason: "eos",
        });
      fate.set(idx, { rank, status: added ? "finished" : "pruned" });
    } else {
      fate.set(idx, { rank, status: "kept", next: next.length });
      next.push({ tokens: [...beam.tokens, t], score: scores.total(idx), logProb });
      parents.push(r);
    }
  }
  return { next, parents, fate };
}

/** Beams still open at `max_new_tokens` join the hypotheses as length-finished. */
function addUnfinished(hyps: BeamHypotheses, beams: readonly Row[]): void {
  for (const b of beams) {
    hyps.add({ tokens: b.tokens, sumScores: b.score, logProb: b.logProb, finishReason: "length" });
  }
}

/** One beam step from each row's top tokens (no processors, no trace). */
function topBeamStep(
  o: Resolved,
  top: readonly TopTokens[],
  beams: readonly Row[],
  vocab: number,
  candidates: number,
  hyps: BeamHypotheses,
  step: number,
): { next: Row[]; parents: number[]; done: boolean } {
  const { ranked, scores } = rankTop(top, beams, vocab, candidates);
  const { next, parents } = selectBeams(o, ranked, beams, scores, vocab, hyps);
  return { next, parents, done: next.length === 0 || hyps.isDone(scores.total(ranked[0]), step) };
}

/** One beam step over full rows: processors, sampling and the trace's candidates. */
function fullBeamStep(
  o: Resolved,
  promptIds: readonly number[],
  state: DecodeState,
  beams: readonly Row[],
  vocab: number,
  candidatesPerStep: number,
  hyps: BeamHypotheses,
  step: number,
  trace: Tracer,
): { next: Row[]; parents: number[]; done: boolean } {
  // Each beam's processed log-softmax scores plus its running score, over beams × vocab.
  const totals = new Float64Array(beams.length * vocab);
  const processedRows: ArrayLike<number>[] = [];
  for (const [r, beam] of beams.entries()) {
    const lp = state.logProbs[r];
    const processed = processRow(o, promptIds, beam.tokens, lp);
    const scores = processed?.scores ?? lp;
    processedRows.push(scores);
    for (let t = 0; t < vocab; t++) totals[r * vocab + t] = beam.score + scores[t];
    if (o.doSample) trace.filters(r, lp, scores, processed?.removed ?? {});
  }
  const ranked = o.doSample
    ? multinomial(softmax(totals), candidatesPerStep, o.rng)
      .sort((a, b) => totals[b] - totals[a])
    : topIndices(totals, candidatesPerStep);
  const fullRows: StepScores = {
    total: (idx) => totals[idx],
    logProb: (r, t) => state.logProbs[r][t],
  };
  const { next, parents, fate } = selectBeams(o, ranked, beams, fullRows, vocab, hyps);
  const done = next.length === 0 || hyps.isDone(totals[ranked[0]], step);
  for (const [r, beam] of beams.entries()) {
    // Only a live tracer asks which ranked candidates came from this beam.
    const chosen = () =>
      ranked.filter((idx) => Math.floor(idx / vocab) === r).map((idx) => idx % vocab);
    trace.rowCandidates(r, beam, state.logProbs[r], chosen, (t) => {
      const f = fate.get(r * vocab + t);
      const score = totals[r * vocab + t];
      return {
        score,
        rank: f?.rank ?? null,
        status: f?.status ?? (processedRows[r][t] === -Infinity ? "filtered" : "pruned"),
        ...(f?.next === undefined ? {} : { next: f.next }),
      };
    });
  }
  return { next, parents, done };
}

/** Beam search and beam sampling (HF `_beam_search` with `BeamSearchScorer`). */
async function decodeBeams(
  model: LanguageModel,
  promptIds: readonly number[],
  o: Resolved,
): Promise<GenerateOutput> {
  const vocab = model.vocabSize;
  const trace = tracer(o, promptIds);
  const candidatesPerStep = Math.max(2, 1 + o.eosTokenIds.length) * o.numBeams;
  const hyps = new BeamHypotheses({
    numBeams: o.numBeams,
    lengthPenalty: o.lengthPenalty,
    earlyStopping: o.earlyStopping,
    maxNewTokens: o.maxNewTokens,
  });
  let beams: Row[] = [{ tokens: [], score: 0, logProb: 0 }];
  let stepsRun = 0;
  // Each row's best candidatesPerStep tokens hold the step's best candidatesPerStep overall.
  const request = stepRequest(o, candidatesPerStep);
  let state = await model.start(promptIds, 1, request);
  try {
    for (let step = 1; step <= o.maxNewTokens; step++) {
      stepsRun = step;
      checkRows(state, beams.length, vocab, request);
      trace.beginStep(step, beams);
      const { next, parents, done } = state.top
        ? topBeamStep(o, state.top, beams, vocab, candidatesPerStep, hyps, step)
        : fullBeamStep(o, promptIds, state, beams, vocab, candidatesPerStep, hyps, step, trace);
      trace.endStep();
      await o.onStep?.({
        step,
        sequences: next.map((b) => [...b.tokens]),
        newTokens: next.map((b) => b.tokens.at(-1)!),
      });
      if (done) break;
      beams = next;
      if (step === o.maxNewTokens) {
        addUnfinished(hyps, beams);
        break;
      }
      state = await state.step(parents, beams.map((b) => b.tokens.at(-1)!), request);
    }
  } finally {
    await state.dispose();
  }
  const sequences = hyps.best(o.numReturnSequences);
  const traced = trace.finish(sequences);
  return { mode: o.mode, sequences, steps: stepsRun, ...(traced ? { trace: traced } : {}) };
}
