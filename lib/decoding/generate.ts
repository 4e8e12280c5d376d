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
import type { DecodeState, LanguageModel } from "./language_model.ts";
import { BeamHypotheses, type EarlyStopping, type Hypothesis } from "./beam_hypotheses.ts";
import { minTokensToKeepFor, softmax, warp, type WarpResult } from "./processors.ts";
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
  /** Sample instead of picking the best (default false). */
  doSample?: boolean;
  /** Number of beams (default 1). */
  numBeams?: number;
  /** Sequences returned (default 1); ≤ `numBeams` for beam modes, 1 for greedy. */
  numReturnSequences?: number;
  /** Sampling temperature > 0 (default 1). Only used when sampling. */
  temperature?: number;
  /** Top-k filter; 0 disables (default 50, as HF). Only used when sampling. */
  topK?: number;
  /** Top-p (nucleus) filter in [0, 1]; 1 disables (default 1). Only used when sampling. */
  topP?: number;
  /** Exponent of the length in beam hypotheses' scores (default 1). */
  lengthPenalty?: number;
  /** HF `early_stopping` for beam modes (default false). */
  earlyStopping?: EarlyStopping;
  /** Seed of the random generator used by sampling (default 0). */
  seed?: number;
  /** End-of-sequence ids (default: the model's). */
  eosTokenIds?: readonly number[];
  /** Record a {@linkcode Trace}; `true` or how many candidates to keep per row. */
  trace?: boolean | TraceOptions;
  /** Called after every step, e.g. to stream text. */
  onStep?: (event: StepEvent) => void | Promise<void>;
}

/** How much of each step a trace keeps. */
export interface TraceOptions {
  /** The most likely tokens recorded per row, besides every chosen candidate (default 10). */
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
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await generate(tree, [], { maxNewTokens: 3, doSample: true, topK: 0, seed: 1 });
 * out.sequences[0].tokens.length; // 3
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
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * (await greedySearch(tree, [], { maxNewTokens: 3 })).sequences[0].tokens; // [1, 2, 0] = "bca"
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
 * Multinomial sampling after temperature, top-k and top-p; `numReturnSequences` independent rows.
 * @example
 * ```ts
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * await sample(tree, [], { maxNewTokens: 3, topP: 0.9, seed: 7, numReturnSequences: 4 });
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
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
 * out.sequences.map((s) => Math.exp(s.logProb)); // [0.12, 0.096]
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
 * Beam sampling (HF `do_sample=True, num_beams>1`): warped log-probabilities plus beam scores,
 * `2·numBeams` candidates drawn without replacement, then as beam search.
 * @example
 * ```ts
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * await beamSample(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, seed: 3 });
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
  topK: number;
  topP: number;
  lengthPenalty: number;
  earlyStopping: EarlyStopping;
  eosTokenIds: readonly number[];
  rng: Pcg32;
  traceRow: number;
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
  const temperature = options.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new RangeError(`temperature must be a finite number > 0, got ${temperature}`);
  }
  const topK = int("topK", options.topK ?? 50, 0);
  const topP = options.topP ?? 1;
  if (!(topP >= 0 && topP <= 1)) throw new RangeError(`topP must be in [0, 1], got ${topP}`);
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
  const seed = options.seed ?? 0;
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
    topK,
    topP,
    lengthPenalty,
    earlyStopping,
    eosTokenIds,
    rng: new Pcg32(seed),
    traceRow,
    onStep: options.onStep,
  };
}

function checkRows(state: DecodeState, rows: number, vocabSize: number): void {
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

function warpFor(o: Resolved, logProbs: ArrayLike<number>, minTokensToKeep: number): WarpResult {
  return warp(logProbs, {
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    minTokensToKeep,
  });
}

function filterReport(
  row: number,
  logProbs: ArrayLike<number>,
  warped: WarpResult,
  o: Resolved,
): FilterReport {
  const tempered = softmax(Float64Array.from(logProbs, (x) => x / o.temperature));
  const after = softmax(warped.scores);
  let keptTokens = 0, keptMass = 0;
  for (let t = 0; t < after.length; t++) {
    if (warped.scores[t] > -Infinity) {
      keptTokens++;
      keptMass += tempered[t];
    }
  }
  return {
    row,
    keptTokens,
    removedByTopK: warped.removedByTopK,
    removedByTopP: warped.removedByTopP,
    keptMass,
    top: topIndices(logProbs, o.traceRow).map((token) => ({
      token,
      probability: Math.exp(logProbs[token]),
      temperedProbability: tempered[token],
      warpedProbability: after[token],
    })),
  };
}

function traceRows(rows: readonly Row[]): TraceRow[] {
  return rows.map((r) => ({ tokens: [...r.tokens], score: r.score, logProb: r.logProb }));
}

/** Greedy search and sampling: independent rows, one token each per step. */
async function decodeRows(
  model: LanguageModel,
  promptIds: readonly number[],
  o: Resolved,
): Promise<GenerateOutput> {
  const vocab = model.vocabSize;
  const eos = new Set(o.eosTokenIds);
  const count = o.mode === "sample" ? o.numReturnSequences : 1;
  const rows: Row[] = Array.from({ length: count }, () => ({ tokens: [], score: 0, logProb: 0 }));
  let live = rows.map((_, i) => i);
  let stateRowOf = live.map(() => 0);
  const steps: TraceStep[] = [];
  let stepsRun = 0;
  let state = await model.start(promptIds, 1);
  try {
    for (let step = 1; step <= o.maxNewTokens; step++) {
      stepsRun = step;
      checkRows(state, step === 1 ? 1 : live.length, vocab);
      const before = o.traceRow > 0 ? traceRows(live.map((i) => rows[i])) : [];
      const candidates: TraceCandidate[] = [];
      const filters: FilterReport[] = [];
      const newTokens: (number | null)[] = rows.map(() => null);
      for (const [j, i] of live.entries()) {
        const lp = state.logProbs[stateRowOf[j]];
        let token: number, stepScore: number, warped: WarpResult | undefined;
        if (o.mode === "sample") {
          warped = warpFor(o, lp, 1);
          token = multinomial(softmax(warped.scores), 1, o.rng)[0];
          stepScore = warped.scores[token];
        } else {
          token = topIndices(lp, 1)[0];
          stepScore = lp[token];
        }
        if (token === undefined) {
          throw new Error(`model row ${stateRowOf[j]} has no finite log-probability`);
        }
        const row = rows[i];
        if (o.traceRow > 0) {
          const shown = new Set([...topIndices(lp, o.traceRow), token]);
          for (const t of [...shown].sort((a, b) => lp[b] - lp[a] || a - b)) {
            const chosen = t === token;
            const score = warped ? warped.scores[t] : lp[t];
            const status: CandidateStatus = chosen
              ? (eos.has(t) ? "finished" : "kept")
              : score === -Infinity
              ? "filtered"
              : "pruned";
            candidates.push(
              candidate(
                j,
                t,
                lp[t],
                row,
                row.score + score,
                chosen ? 0 : null,
                status,
                chosen ? j : undefined,
              ),
            );
          }
          if (warped) filters.push(filterReport(j, lp, warped, o));
        }
        row.tokens.push(token);
        row.score += stepScore;
        row.logProb += lp[token];
        newTokens[i] = token;
        if (eos.has(token)) row.finishReason = "eos";
      }
      if (o.traceRow > 0) {
        steps.push({ step, rows: before, candidates, ...(o.mode === "sample" ? { filters } : {}) });
      }
      await o.onStep?.({ step, sequences: rows.map((r) => [...r.tokens]), newTokens });
      const stillLive = live.filter((i) => rows[i].finishReason === undefined);
      if (stillLive.length === 0 || step === o.maxNewTokens) break;
      const parents = stillLive.map((i) => stateRowOf[live.indexOf(i)]);
      state = await state.step(parents, stillLive.map((i) => rows[i].tokens.at(-1)!));
      live = stillLive;
      stateRowOf = live.map((_, j) => j);
    }
  } finally {
    await state.dispose();
  }
  const sequences: Hypothesis[] = rows.map((r) => ({
    tokens: r.tokens,
    sumScores: r.score,
    logProb: r.logProb,
    finishReason: r.finishReason ?? "length",
    score: r.logProb,
  }));
  return {
    mode: o.mode,
    sequences,
    steps: stepsRun,
    ...(o.traceRow > 0
      ? { trace: { mode: o.mode, numBeams: 1, promptIds: [...promptIds], steps, final: sequences } }
      : {}),
  };
}

function candidate(
  parent: number,
  token: number,
  logProb: number,
  row: Row,
  score: number,
  rank: number | null,
  status: CandidateStatus,
  next: number | undefined,
): TraceCandidate {
  const cumLogProb = row.logProb + logProb;
  return {
    parent,
    token,
    logProb,
    cumLogProb,
    probability: Math.exp(cumLogProb),
    score,
    rank,
    status,
    ...(next === undefined ? {} : { next }),
  };
}

/** Beam search and beam sampling (HF `_beam_search` with `BeamSearchScorer`). */
async function decodeBeams(
  model: LanguageModel,
  promptIds: readonly number[],
  o: Resolved,
): Promise<GenerateOutput> {
  const vocab = model.vocabSize;
  const eos = new Set(o.eosTokenIds);
  const candidatesPerStep = Math.max(2, 1 + o.eosTokenIds.length) * o.numBeams;
  const minTokensToKeep = minTokensToKeepFor(o.numBeams, o.eosTokenIds);
  const hyps = new BeamHypotheses({
    numBeams: o.numBeams,
    lengthPenalty: o.lengthPenalty,
    earlyStopping: o.earlyStopping,
    maxNewTokens: o.maxNewTokens,
  });
  let beams: Row[] = [{ tokens: [], score: 0, logProb: 0 }];
  const steps: TraceStep[] = [];
  let stepsRun = 0;
  let state = await model.start(promptIds, 1);
  try {
    for (let step = 1; step <= o.maxNewTokens; step++) {
      stepsRun = step;
      checkRows(state, beams.length, vocab);
      const totals = new Float64Array(beams.length * vocab);
      const filters: FilterReport[] = [];
      for (const [r, beam] of beams.entries()) {
        const lp = state.logProbs[r];
        const warped = o.doSample ? warpFor(o, lp, minTokensToKeep) : undefined;
        const scores = warped ? warped.scores : lp;
        for (let t = 0; t < vocab; t++) totals[r * vocab + t] = beam.score + scores[t];
        if (warped && o.traceRow > 0) filters.push(filterReport(r, lp, warped, o));
      }
      const chosen = o.doSample
        ? multinomial(softmax(totals), candidatesPerStep, o.rng).sort((a, b) =>
          totals[b] - totals[a]
        )
        : topIndices(totals, candidatesPerStep);
      const fate = new Map<number, { rank: number; status: CandidateStatus; next?: number }>();
      const next: Row[] = [];
      const parents: number[] = [];
      for (const [rank, idx] of chosen.entries()) {
        if (next.length === o.numBeams) {
          fate.set(idx, { rank, status: "pruned" });
          continue;
        }
        const r = Math.floor(idx / vocab), t = idx % vocab;
        const beam = beams[r];
        const logProb = beam.logProb + state.logProbs[r][t];
        if (eos.has(t)) {
          // HF: an EOS outside the first numBeams ranks never becomes a hypothesis.
          const added = rank < o.numBeams &&
            hyps.add({
              tokens: [...beam.tokens, t],
              sumScores: totals[idx],
              logProb,
              finishReason: "eos",
            });
          fate.set(idx, { rank, status: added ? "finished" : "pruned" });
        } else {
          fate.set(idx, { rank, status: "kept", next: next.length });
          next.push({ tokens: [...beam.tokens, t], score: totals[idx], logProb });
          parents.push(r);
        }
      }
      const done = next.length === 0 || hyps.isDone(totals[chosen[0]], step);
      if (o.traceRow > 0) {
        const candidates: TraceCandidate[] = [];
        for (const [r, beam] of beams.entries()) {
          const lp = state.logProbs[r];
          const shown = new Set(topIndices(lp, o.traceRow));
          for (const idx of chosen) if (Math.floor(idx / vocab) === r) shown.add(idx % vocab);
          for (const t of [...shown].sort((a, b) => lp[b] - lp[a] || a - b)) {
            const f = fate.get(r * vocab + t);
            const score = totals[r * vocab + t];
            const status = f?.status ?? (score === -Infinity ? "filtered" : "pruned");
            candidates.push(candidate(r, t, lp[t], beam, score, f?.rank ?? null, status, f?.next));
          }
        }
        steps.push({
          step,
          rows: traceRows(beams),
          candidates,
          ...(o.doSample ? { filters } : {}),
        });
      }
      await o.onStep?.({
        step,
        sequences: next.map((b) => [...b.tokens]),
        newTokens: next.map((b) => b.tokens.at(-1)!),
      });
      if (done) break;
      beams = next;
      if (step === o.maxNewTokens) {
        for (const b of beams) {
          hyps.add({
            tokens: b.tokens,
            sumScores: b.score,
            logProb: b.logProb,
            finishReason: "length",
          });
        }
        break;
      }
      state = await state.step(parents, beams.map((b) => b.tokens.at(-1)!));
    }
  } finally {
    await state.dispose();
  }
  const sequences = hyps.best(o.numReturnSequences);
  return {
    mode: o.mode,
    sequences,
    steps: stepsRun,
    ...(o.traceRow > 0
      ? {
        trace: {
          mode: o.mode,
          numBeams: o.numBeams,
          promptIds: [...promptIds],
          steps,
          final: sequences,
        },
      }
      : {}),
  };
}
