/**
 * Exhaustive search: every complete sequence a model can generate within `maxNewTokens` (ending
 * at an EOS token or at the length limit), with its probability, most likely first. Feasible
 * only for tiny models such as the homework tree (vocab^depth sequences); it is the ground
 * truth beam search is compared against.
 *
 * @example
 * ```ts
 * import { exhaustiveSearch } from "./exhaustive.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const all = await exhaustiveSearch(tree, [], { maxNewTokens: 3 });
 * all[0].probability; // 0.128, "aba"
 * ```
 * @module
 */
import type { LanguageModel } from "./language_model.ts";

/** A complete sequence found by {@linkcode exhaustiveSearch}. */
export interface EnumeratedSequence {
  /** Generated tokens (prompt excluded), EOS included when it ended the sequence. */
  tokens: number[];
  /** Sum of the tokens' log-probabilities. */
  logProb: number;
  /** `exp(logProb)`. */
  probability: number;
  /** Why it ended. */
  finishReason: "eos" | "length";
}

/** Options of {@linkcode exhaustiveSearch}. */
export interface ExhaustiveOptions {
  /** The length limit in new tokens (integer ≥ 1). */
  maxNewTokens: number;
  /** End-of-sequence ids (default: the model's). */
  eosTokenIds?: readonly number[];
  /** Refuse to hold more live prefixes than this (default 1,000,000). */
  maxRows?: number;
}

/**
 * Enumerates every complete sequence with non-zero probability, sorted by probability
 * (descending; ties by token ids). All live prefixes of a step go to the model in one call.
 * @example
 * ```ts
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * (await exhaustiveSearch(tree, [], { maxNewTokens: 1 })).length; // 3
 * ```
 */
export async function exhaustiveSearch(
  model: LanguageModel,
  promptIds: readonly number[],
  options: ExhaustiveOptions,
): Promise<EnumeratedSequence[]> {
  const { maxNewTokens } = options;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(`maxNewTokens must be an integer >= 1, got ${maxNewTokens}`);
  }
  const maxRows = options.maxRows ?? 1_000_000;
  const eos = new Set(options.eosTokenIds ?? model.eosTokenIds);
  const done: EnumeratedSequence[] = [];
  let live = [{ tokens: [] as number[], logProb: 0 }];
  let state = await model.start(promptIds, 1);
  try {
    for (let step = 1; step <= maxNewTokens && live.length > 0; step++) {
      const next: typeof live = [];
      const parents: number[] = [];
      for (const [r, prefix] of live.entries()) {
        const lp = state.logProbs[r];
        for (let t = 0; t < lp.length; t++) {
          if (lp[t] === -Infinity) continue;
          const seq = { tokens: [...prefix.tokens, t], logProb: prefix.logProb + lp[t] };
          if (eos.has(t) || step === maxNewTokens) {
            done.push({
              ...seq,
              probability: Math.exp(seq.logProb),
              finishReason: eos.has(t) ? "eos" : "length",
            });
          } else {
            next.push(seq);
            parents.push(r);
          }
        }
      }
      if (next.length > maxRows) {
        throw new RangeError(
          `exhaustive search would hold ${next.length} prefixes after step ${step}, over maxRows ${maxRows}`,
        );
      }
      live = next;
      if (live.length > 0) state = await state.step(parents, live.map((s) => s.tokens.at(-1)!));
    }
  } finally {
    await state.dispose();
  }
  const byTokens = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  return done.sort((a, b) => b.logProb - a.logProb || byTokens(a.tokens, b.tokens));
}
