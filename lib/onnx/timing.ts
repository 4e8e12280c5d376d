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
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * import { measurePhases } from "./timing.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const rows = await measurePhases(model, "The jury said", [8, 32], { decodeTokens: 8 });
 * rows[0].decodeMsPerToken;
 * ```
 * @module
 */
import {
  decodeOps,
  fractionToNumber,
  layerTotals,
  modelConfig,
  prefillOps,
} from "../intensity/mod.ts";
import { type Displayable, plot, table } from "../show/mod.ts";
import type { Backend } from "./backend.ts";
import type { OnnxCausalLM } from "./causal_lm.ts";
import type { ModelGeometry } from "./config.ts";

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
 * // await measurePhases(model, longText, [16, 64, 256]);
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
  const limit = model.geometry.maxPositions ?? Infinity;
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
        state = await state.step([0], [argmax(state.logProbs[0])]);
      }
      state.dispose();
      if (r === 0) continue; // warm-up
      prefill.push(model.runs[0].ms);
      decode.push(...model.runs.slice(1).map((run) => run.ms));
    }
    const prefillMs = median(prefill);
    const decodeMs = median(decode);
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

/**
 * The measurements as a table.
 * @example
 * ```ts
 * // phaseTable(await measurePhases(model, text, [16, 64]));
 * ```
 */
export function phaseTable(rows: readonly PhaseTiming[], caption?: string): Displayable {
  return table(
    [
      { key: "backend", header: "backend" },
      { key: "promptTokens", header: "prompt tokens $L$" },
      { key: "prefillMs", header: "prefill ms" },
      { key: "prefillMsPerToken", header: "prefill ms / token" },
      { key: "decodeMsPerToken", header: "decode ms / token" },
      { key: "prefillTokensPerS", header: "prefill tokens/s" },
      { key: "decodeTokensPerS", header: "decode tokens/s" },
    ],
    rows,
    { digits: 2, ...(caption ? { caption } : {}) },
  );
}

/**
 * Milliseconds per token of prefill and decode against prompt length, one line pair per
 * backend (log-log).
 * @example
 * ```ts
 * // phasePlot([...wasmRows, ...gpuRows]);
 * ```
 */
export function phasePlot(rows: readonly PhaseTiming[], title?: string): Displayable {
  const backends = [...new Set(rows.map((r) => r.backend))];
  const data = backends.flatMap((b, i) => {
    const rs = rows.filter((r) => r.backend === b);
    const color = ["#1f77b4", "#d62728", "#2ca02c"][i % 3];
    return [
      {
        type: "scatter",
        mode: "lines+markers",
        name: `${b}: prefill ms / token`,
        x: rs.map((r) => r.promptTokens),
        y: rs.map((r) => r.prefillMsPerToken),
        line: { color },
      },
      {
        type: "scatter",
        mode: "lines+markers",
        name: `${b}: decode ms / token`,
        x: rs.map((r) => r.promptTokens),
        y: rs.map((r) => r.decodeMsPerToken),
        line: { color, dash: "dash" },
      },
    ];
  });
  return plot({
    data,
    layout: {
      title: { text: title ?? "Time per token: prefill (all L at once) vs decode (one per step)" },
      xaxis: { title: { text: "prompt tokens L" }, type: "log" },
      yaxis: { title: { text: "ms per token" }, type: "log" },
      width: 800,
      height: 440,
    },
  });
}

/** A measured row next to Question 1's intensities of the same shapes. */
export interface IntensityLink extends PhaseTiming {
  /** FLOPs per byte of one layer's matmuls in prefill of L tokens (FP32). */
  prefillIntensity: number;
  /** FLOPs per byte of one layer's matmuls decoding one token after L cached (FP32). */
  decodeIntensity: number;
  /** Achieved GFLOP/s of the model's matmuls in prefill (all layers and the LM head). */
  prefillGflopPerS: number;
  /** Achieved GFLOP/s in one decode step. */
  decodeGflopPerS: number;
}

/**
 * Puts Question 1's arithmetic intensity (its `lib/intensity` model of one layer: the
 * projections, attention products and a 4D MLP, here in FP32) beside each measurement, and the
 * FLOP/s each phase achieved.
 * @example
 * ```ts
 * // intensityLink(model.geometry, await measurePhases(model, text, [16, 64]));
 * ```
 */
export function intensityLink(
  geometry: ModelGeometry,
  rows: readonly PhaseTiming[],
): IntensityLink[] {
  return rows.map((r) => {
    const config = modelConfig({
      seqLen: r.promptTokens,
      dModel: geometry.hiddenSize,
      heads: geometry.heads,
      kvHeads: geometry.kvHeads,
      ffn: 4 * geometry.hiddenSize,
      ffnKind: "mlp",
      layers: geometry.layers,
      dtype: "fp32",
    });
    const prefill = layerTotals(prefillOps(config));
    const decode = layerTotals(decodeOps(config));
    const layers = geometry.layers;
    // The LM head (D x vocab) runs on every prompt position in prefill, once per decode step.
    const head = 2 * geometry.hiddenSize * geometry.vocabSize;
    const prefillFlops = layers * Number(prefill.flops) + r.promptTokens * head;
    const decodeFlops = layers * Number(decode.flops) + head;
    return {
      ...r,
      prefillIntensity: fractionToNumber(prefill.intensity),
      decodeIntensity: fractionToNumber(decode.intensity),
      prefillGflopPerS: prefillFlops / (r.prefillMs * 1e6),
      decodeGflopPerS: decodeFlops / (r.decodeMsPerToken * 1e6),
    };
  });
}

/**
 * {@linkcode intensityLink} rows as a table.
 * @example
 * ```ts
 * // intensityTable(intensityLink(model.geometry, rows));
 * ```
 */
export function intensityTable(rows: readonly IntensityLink[], caption?: string): Displayable {
  return table(
    [
      { key: "backend", header: "backend" },
      { key: "promptTokens", header: "$L$" },
      { key: "prefillIntensity", header: "prefill FLOP/byte" },
      { key: "decodeIntensity", header: "decode FLOP/byte" },
      { key: "prefillMsPerToken", header: "prefill ms / token" },
      { key: "decodeMsPerToken", header: "decode ms / token" },
      { key: "prefillGflopPerS", header: "prefill GFLOP/s" },
      { key: "decodeGflopPerS", header: "decode GFLOP/s" },
    ],
    rows,
    { digits: 2, ...(caption ? { caption } : {}) },
  );
}

/**
 * One sentence per backend comparing the cost per token of prefill (at the longest prompt)
 * and of decode, from the measurements themselves.
 * @example
 * ```ts
 * // markdown(phaseSummary(intensityLink(model.geometry, rows)));
 * ```
 */
export function phaseSummary(rows: readonly IntensityLink[]): string {
  const backends = [...new Set(rows.map((r) => r.backend))];
  return backends.map((b) => {
    const rs = rows.filter((r) => r.backend === b).sort((x, y) => x.promptTokens - y.promptTokens);
    const short = rs[0], long = rs[rs.length - 1];
    const ratio = long.decodeMsPerToken / long.prefillMsPerToken;
    return `**${b}:** prefill of ${long.promptTokens} tokens costs ` +
      `${long.prefillMsPerToken.toFixed(2)} ms per token (${long.prefillGflopPerS.toFixed(2)} ` +
      `GFLOP/s, intensity ${long.prefillIntensity.toFixed(1)} FLOP/byte) against ` +
      `${short.prefillMsPerToken.toFixed(2)} ms per token at ${short.promptTokens} tokens; a ` +
      `decode step costs ${long.decodeMsPerToken.toFixed(2)} ms for its one token ` +
      `(${long.decodeGflopPerS.toFixed(2)} GFLOP/s, intensity ` +
      `${long.decodeIntensity.toFixed(2)} FLOP/byte): ${ratio.toFixed(1)}× the prefill cost ` +
      `per token.`;
  }).join("\n\n");
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
