/**
 * Measured prefill and decode time of an {@linkcode OnnxCausalLM} on the backend it runs on.
 * Prefill pushes all L prompt tokens through each weight matrix at once (a matrix-matrix
 * product, high arithmetic intensity); decode pushes one token per step (matrix-vector:
 * 2 FLOPs per weight read, 0.5 FLOP/byte in FP32, memory-bound). So prefill time per token falls
 * as L grows while decode time per token does not: the measurement behind Question 1's
 * intensities.
 *
 * Each prompt length is warmed up once (WebGPU compiles its shaders on first use of a shape),
 * then timed `repeats` times; the median is reported.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * import { measurePhases } from "./timing.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const rows = await measurePhases(model, "The jury said", [8, 32], { decodeTokens: 4, repeats: 1 });
 * assert(rows[1].prefillMs > 0 && rows[0].decodeMsPerToken > 0);
 * await model.dispose();
 * ```
 * @module
 */
import { summarize } from "../bench/stats.ts";
import { topIndices } from "../decoding/select.ts";
import type { Backend } from "./backend.ts";
import type { OnnxCausalLM } from "./causal_lm.ts";

/** Options of {@linkcode measurePhases}. */
export interface PhaseOptions {
  /** Decode steps timed after each prefill (default 16). */
  decodeTokens?: number;
  /** Timed repetitions per prompt length (default 3). */
  repeats?: number;
}

/** Prefill and decode time at one prompt length. */
export interface PhaseTiming {
  /** Backend that ran. */
  backend: Backend;
  /** L: prompt tokens. */
  promptTokens: number;
  /** Median prefill wall time, ms. */
  prefillMs: number;
  /** Prefill ms / L. */
  prefillMsPerToken: number;
  /** Median decode step wall time (one new token, L..L+n cached), ms. */
  decodeMsPerToken: number;
  /** Prefill throughput, tokens per second. */
  prefillTokensPerS: number;
  /** Decode throughput, tokens per second. */
  decodeTokensPerS: number;
}

/**
 * Times prefill of `promptTokens` tokens of `text` (repeated as needed) and the decode steps
 * that follow, for each length.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * assertEquals((await measurePhases(model, "The", [4], { decodeTokens: 2, repeats: 1 }))[0].promptTokens, 4);
 * await model.dispose();
 * ```
 */
export async function measurePhases(
  model: OnnxCausalLM,
  text: string,
  promptLengths: readonly number[],
  options: PhaseOptions = {},
): Promise<PhaseTiming[]> {
  const decodeTokens = options.decodeTokens ?? 16;
  const repeats = options.repeats ?? 3;
  const source = model.tokenizer.encode(text);
  if (source.length === 0) throw new RangeError("measurePhases needs a non-empty text");
  const limit = model.maxPositions ?? Infinity;
  const rows: PhaseTiming[] = [];
  for (const length of promptLengths) {
    if (!Number.isInteger(length) || length < 1 || length + decodeTokens > limit) {
      throw new RangeError(
        `prompt length ${length} + ${decodeTokens} decode tokens must be within 1..${limit}`,
      );
    }
    const prompt = Array.from({ length }, (_, i) => source[i % source.length]);
    const prefill: number[] = [];
    const decode: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      let state = await model.start(prompt, 1);
      for (let t = 0; t < decodeTokens; t++) {
        state = await state.step([0], topIndices(state.logProbs[0], 1));
      }
      state.dispose();
      if (r === 0) continue; // warm-up
      prefill.push(model.runs[0].ms);
      decode.push(...model.runs.slice(1).map((run) => run.ms));
    }
    const prefillMs = summarize(prefill).median;
    const decodeMs = summarize(decode).median;
    rows.push({
      backend: model.backend,
      promptTokens: length,
      prefillMs,
      prefillMsPerToken: prefillMs / length,
      decodeMsPerToken: decodeMs,
      prefillTokensPerS: (1000 * length) / prefillMs,
      decodeTokensPerS: 1000 / decodeMs,
    });
  }
  return rows;
}
