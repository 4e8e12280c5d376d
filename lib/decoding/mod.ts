/**
 * The decoding engine: Hugging Face `generate` semantics (greedy, sampling, beam search, beam
 * sampling) over any {@linkcode LanguageModel}, its processors, seeded generator, per-step trace
 * and exhaustive search.
 *
 * @example
 * ```ts
 * import { generate } from "./mod.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await generate(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, trace: true });
 * out.trace!.steps.length; // 3
 * ```
 * @module
 */
export * from "./language_model.ts";
export * from "./generate.ts";
export * from "./processors.ts";
export * from "./rng.ts";
export * from "./select.ts";
export * from "./beam_hypotheses.ts";
export * from "./trace.ts";
export * from "./exhaustive.ts";
