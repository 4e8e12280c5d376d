/**
 * Question 2's analysis over a probability tree: beam search at several widths, greedy search
 * and the exhaustive optimum side by side, and, when beam search misses the optimum, the step
 * at which the optimum's prefix was pruned and what beat it.
 *
 * @example
 * ```ts
 * import { compareSearches } from "./question2.ts";
 * import { loadTree } from "./load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const c = await compareSearches(tree, [1, 2, 3]);
 * c.rows.map((r) => [r.method, r.best.text, r.isOptimum]);
 * // [["greedy", "bca", false], ["beam, width 1", "bca", false], …, ["beam, width 3", "aba", true]]
 * ```
 * @module
 */
import { beamSearch, greedySearch } from "../decoding/generate.ts";
import { type EnumeratedSequence, exhaustiveSearch } from "../decoding/exhaustive.ts";
import type { Trace } from "../decoding/trace.ts";
import type { TreeModel } from "./load.ts";

/** A sequence as text with its probability. */
export interface ScoredText {
  /** Tokens joined. */
  text: string;
  /** Probability of the sequence. */
  probability: number;
}

/** One search method's result. */
export interface ComparisonRow {
  /** "greedy", "beam, width k" or "exhaustive". */
  method: string;
  /** Beam width (1 for greedy; null for exhaustive). */
  width: number | null;
  /** The returned sequences (beam: `width` of them), best first. */
  sequences: ScoredText[];
  /** The best returned sequence. */
  best: ScoredText;
  /** Whether `best` is the most probable sequence of the tree. */
  isOptimum: boolean;
  /** Sequences scored by the model: greedy 1 per step; beam width·vocab per step. */
  candidatesScored: number;
}

/** The comparison of {@linkcode compareSearches}. */
export interface SearchComparison {
  /** Greedy, each beam width, then exhaustive. */
  rows: ComparisonRow[];
  /** Every sequence of the tree, most probable first. */
  all: EnumeratedSequence[];
  /** The beam-search traces by width. */
  traces: Map<number, Trace>;
}

/**
 * Runs greedy search, beam search at each width (returning `width` sequences) and exhaustive
 * search over the whole tree.
 * @example
 * ```ts
 * import { loadTree } from "./load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * (await compareSearches(tree, [2])).rows[1].sequences.map((s) => s.text); // ["bca", "cab"]
 * ```
 */
export async function compareSearches(
  tree: TreeModel,
  widths: readonly number[],
): Promise<SearchComparison> {
  const text = (tokens: number[]) => tokens.map((t) => tree.tokenText(t)).join("");
  const all = await exhaustiveSearch(tree, [], { maxNewTokens: tree.depth });
  const optimum = all[0];
  const scored = (tokens: number[]) => ({
    text: text(tokens),
    probability: tree.probabilityOf(tokens),
  });
  const row = (
    method: string,
    width: number | null,
    seqs: ScoredText[],
    candidatesScored: number,
  ): ComparisonRow => ({
    method,
    width,
    sequences: seqs,
    best: seqs[0],
    isOptimum: seqs[0].text === text(optimum.tokens),
    candidatesScored,
  });
  const greedy = await greedySearch(tree, [], { maxNewTokens: tree.depth });
  const rows = [
    row(
      "greedy",
      1,
      greedy.sequences.map((s) => scored(s.tokens)),
      tree.depth * tree.vocabSize,
    ),
  ];
  const traces = new Map<number, Trace>();
  for (const width of widths) {
    const out = await beamSearch(tree, [], {
      maxNewTokens: tree.depth,
      numBeams: width,
      numReturnSequences: width,
      trace: { candidatesPerRow: tree.vocabSize },
    });
    traces.set(width, out.trace!);
    const scoredCount = out.trace!.steps.reduce((n, s) => n + s.rows.length * tree.vocabSize, 0);
    rows.push(
      row(
        `beam, width ${width}`,
        width,
        out.sequences.map((s) => scored(s.tokens)),
        scoredCount,
      ),
    );
  }
  rows.push(
    row(
      "exhaustive",
      null,
      all.slice(0, 3).map((s) => scored(s.tokens)),
      tree.nodes().length - 1,
    ),
  );
  return { rows, all, traces };
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
 * import { loadTree } from "./load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const c = await compareSearches(tree, [2]);
 * whereMissed(c.traces.get(2)!, c.all[0].tokens); // { step: 1, prefix: [0], probability: 0.2, weakestKept: 0.3 }
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
