/**
 * Question 2's study over a probability tree: beam search at several widths, greedy search
 * and the exhaustive optimum side by side, and, when beam search misses the optimum, the step
 * at which the optimum's prefix was pruned and what beat it.
 *
 * @example
 * ```ts
 * import { compareSearches } from "./question2.ts";
 * import { loadTree } from "../tree/load.ts";
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
import type { TreeModel } from "../tree/load.ts";
import { type Displayable, table } from "../show/mod.ts";

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
 * import { loadTree } from "../tree/load.ts";
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

/**
 * Greedy, beam search at each width and exhaustive search side by side.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { loadTreeFile } from "../tree/load.ts";
 * import { JUPYTER_DISPLAY } from "../show/mod.ts";
 * const shown = comparisonTable(await compareSearches(await loadTreeFile(), [1, 2, 3]));
 * assertStringIncludes(String(shown[JUPYTER_DISPLAY]()["text/markdown"]), "aba (0.1280)");
 * ```
 */
export function comparisonTable(
  comparison: SearchComparison,
  options: { caption?: string } = {},
): Displayable {
  const p = (x: number) => x.toFixed(4);
  return table(
    [
      { key: "method", header: "search" },
      { key: "returned", header: "returned sequences (probability)" },
      { key: "best", header: "best" },
      { key: "optimum", header: "most probable?" },
      { key: "scored", header: "$P(\\text{token}\\mid\\text{prefix})$ evaluated" },
    ],
    comparison.rows.map((r) => ({
      method: r.method,
      returned: r.sequences.map((s) => `${s.text} (${p(s.probability)})`).join(", ") +
        (r.width === null ? ", …" : ""),
      best: `${r.best.text} (${p(r.best.probability)})`,
      optimum: r.isOptimum ? "yes" : "**no**",
      scored: r.candidatesScored,
    })),
    { caption: options.caption },
  );
}
