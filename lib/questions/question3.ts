/**
 * Question 3's studies. Its sub-questions change one flag of `deno task question3` at a time: a
 * {@linkcode flagSweep} runs the same experiment the CLI runs for several values of one flag
 * (the others at the handout's defaults) and keeps, for each, the launch command and the
 * result; {@linkcode sweepTranscript} shows them as the terminal would, and
 * {@linkcode seedStudy} measures what a flag does to sampling over many seeds. The
 * measured prefill and decode times are set beside Question 1's intensities of the same shapes
 * ({@linkcode intensityLink}), and {@linkcode formatHandout} is the handout script's output.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OnnxCausalLM } from "../onnx/causal_lm.ts";
 * import { flagSweep } from "./question3.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const runs = await flagSweep(model, "output_len", [3, 6]);
 * assertEquals(runs.map((r) => r.command), ["deno task question3 --output_len 3", "deno task question3 --output_len 6"]);
 * await model.dispose();
 * ```
 * @module
 */
import { LOG_AXIS } from "../show/roofline.ts";
import { type Displayable, markdown, plot, table } from "../show/mod.ts";
import type { OnnxCausalLM } from "../onnx/causal_lm.ts";
import type { ModelGeometry } from "../onnx/config.ts";
import { EMBEDDED_MODEL, embeddedModelFolder, modelLabel } from "../onnx/embedded.ts";
import { type DtypeRequest, parseDtype } from "../onnx/model_files.ts";
import type { PhaseTiming } from "../onnx/timing.ts";
import {
  generateText,
  QUESTION3_DEFAULTS,
  type TextGenerationOptions,
  type TextGenerationResult,
} from "../onnx/text_generation.ts";
import {
  decodeOps,
  fractionToNumber,
  layerTotals,
  modelConfig,
  prefillOps,
} from "../intensity/mod.ts";

/** The flags Question 3 varies, as the CLI spells them. */
export type SweepFlag = "output_len" | "beam_width" | "top_k" | "top_p";

const OPTION_OF: Record<SweepFlag, keyof TextGenerationOptions> = {
  output_len: "outputLen",
  beam_width: "beamWidth",
  top_k: "topK",
  top_p: "topP",
};

/** Base settings of a sweep: the prompt and any non-default flags kept fixed. */
export interface SweepBase extends Omit<TextGenerationOptions, "onText" | "trace"> {
  /** Prompt (default the handout's "What is Apple?"). */
  prompt?: string;
}

/** One value of a sweep: its command line and what it printed. */
export interface SweepRun {
  /** The flag varied. */
  flag: SweepFlag;
  /** Its value in this run. */
  value: number;
  /** The equivalent `deno task question3 …` command. */
  command: string;
  /** The experiment's result. */
  result: TextGenerationResult;
}

/**
 * The model the Question 3 notebook runs: `$QUESTION3_MODEL` (a folder or Hub id, e.g.
 * `facebook/opt-350m`) with `$QUESTION3_DTYPE` (default `auto`), else the embedded model, so a
 * student reruns the notebook on another model with no code edit.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * Deno.env.delete("QUESTION3_MODEL");
 * assertEquals(question3Model().dtype, "auto");
 * ```
 */
export function question3Model(): { name: string; dtype: DtypeRequest } {
  return {
    name: Deno.env.get("QUESTION3_MODEL") || embeddedModelFolder(),
    dtype: parseDtype(Deno.env.get("QUESTION3_DTYPE") || "auto"),
  };
}

/**
 * The `deno task question3` command line for a run's non-default settings.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(launchCommand({ outputLen: 40, prompt: "Hi" }, "data/models/brown-gpt2"), 'deno task question3 --prompt_seq "Hi" --output_len 40');
 * ```
 */
export function launchCommand(settings: SweepBase, model: string): string {
  const d = QUESTION3_DEFAULTS;
  const parts = ["deno task question3"];
  const label = modelLabel(model);
  if (label !== EMBEDDED_MODEL) parts.push(`--hf_model_name ${label}`);
  if (settings.prompt !== undefined && settings.prompt !== d.prompt) {
    parts.push(`--prompt_seq ${JSON.stringify(settings.prompt)}`);
  }
  const flags: [string, number | undefined, number | undefined][] = [
    ["--output_len", settings.outputLen, d.outputLen],
    ["--top_k", settings.topK, d.topK],
    ["--top_p", settings.topP, d.topP],
    ["--beam_width", settings.beamWidth, d.beamWidth],
    ["--temperature", settings.temperature, d.temperature],
    ["--repetition_penalty", settings.repetitionPenalty, d.repetitionPenalty],
    ["--no_repeat_ngram_size", settings.noRepeatNgramSize, d.noRepeatNgramSize],
    ["--min_new_tokens", settings.minNewTokens, d.minNewTokens],
    ["--min_p", settings.minP, undefined],
    ["--typical_p", settings.typicalP, d.typicalP],
    ["--seed", settings.seed, d.seed],
  ];
  for (const [flag, v, fallback] of flags) {
    if (v !== undefined && v !== fallback) parts.push(`${flag} ${v}`);
  }
  if (settings.doSample === false) parts.push("--no_sample");
  return parts.join(" ");
}

/**
 * Runs the Question 3 experiment for each value of `flag`, everything else from `base`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OnnxCausalLM } from "../onnx/causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const runs = await flagSweep(model, "top_k", [1, 50], { outputLen: 4 });
 * assertEquals(runs.map((r) => r.command), ["deno task question3 --output_len 4 --top_k 1", "deno task question3 --output_len 4"]);
 * await model.dispose();
 * ```
 */
export async function flagSweep(
  model: OnnxCausalLM,
  flag: SweepFlag,
  values: readonly number[],
  base: SweepBase = {},
): Promise<SweepRun[]> {
  const runs: SweepRun[] = [];
  for (const value of values) {
    const settings = { ...base, [OPTION_OF[flag]]: value };
    const result = await generateText(model, base.prompt ?? QUESTION3_DEFAULTS.prompt, settings);
    runs.push({
      flag,
      value,
      command: launchCommand(settings, model.repo ?? model.folder),
      result,
    });
  }
  return runs;
}

/**
 * Each run as a terminal transcript: the launch command, then what the CLI prints.
 * @example
 * ```ts
 * // sweepTranscript(await flagSweep(model, "output_len", [10, 40]));
 * ```
 */
export function sweepTranscript(runs: readonly SweepRun[]): Displayable {
  return markdown(
    runs.map((r) => "```text\n$ " + r.command + "\n" + formatHandout(r.result) + "\n```").join(
      "\n\n",
    ) +
      `\n\nRan on the **${[...new Set(runs.map((r) => r.result.backend))].join(", ")}** backend ` +
      "(the CLI names it on stderr with `--verbose`).",
  );
}

/**
 * A compact comparison of a sweep: one row per returned sequence with its score, new tokens
 * and text.
 * @example
 * ```ts
 * // sweepTable(await flagSweep(model, "beam_width", [1, 2, 4]));
 * ```
 */
export function sweepTable(runs: readonly SweepRun[]): Displayable {
  const rows = runs.flatMap((r) =>
    r.result.outputs.map((o) => ({
      value: r.value,
      label: o.label,
      tokens: o.ids.length,
      logProbPerToken: o.ids.length > 0 ? o.logProb / o.ids.length : null,
      stop: o.finishReason,
      text: (r.result.prompt + o.text).replaceAll("\n", " ⏎ "),
    }))
  );
  const flag = runs[0]?.flag ?? "value";
  return table(
    [
      { key: "value", header: `\`--${flag}\`` },
      { key: "label", header: "sequence" },
      { key: "tokens", header: "new tokens" },
      { key: "logProbPerToken", header: "log p / token" },
      { key: "stop", header: "stop" },
      { key: "text", header: "text" },
    ],
    rows,
    { digits: 3 },
  );
}

/** What many seeds of one setting produce. */
export interface SeedStudyRow {
  /** The flag varied. */
  flag: SweepFlag;
  /** Its value. */
  value: number;
  /** Seeds run. */
  seeds: number;
  /** Distinct continuations among them. */
  distinct: number;
  /** Distinct first tokens among them. */
  distinctFirstTokens: number;
  /** Mean model log-probability per generated token (higher = more predictable text). */
  meanLogProbPerToken: number;
}

/**
 * Runs `seeds` seeds (0 … seeds-1) of each value of `flag` and measures diversity (distinct
 * continuations) against predictability (mean log-probability per token under the model).
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { OnnxCausalLM } from "../onnx/causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const [narrow, wide] = await seedStudy(model, "top_p", [0.1, 1], 3, { outputLen: 5 });
 * assert(narrow.distinct <= wide.distinct);
 * await model.dispose();
 * ```
 */
export async function seedStudy(
  model: OnnxCausalLM,
  flag: SweepFlag,
  values: readonly number[],
  seeds: number,
  base: SweepBase = {},
): Promise<SeedStudyRow[]> {
  const rows: SeedStudyRow[] = [];
  for (const value of values) {
    const texts = new Set<string>();
    const firsts = new Set<number>();
    let logProb = 0, tokens = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const r = await generateText(model, base.prompt ?? QUESTION3_DEFAULTS.prompt, {
        ...base,
        [OPTION_OF[flag]]: value,
        seed,
      });
      for (const o of r.outputs) {
        texts.add(o.ids.join(","));
        if (o.ids.length > 0) firsts.add(o.ids[0]);
        logProb += o.logProb;
        tokens += o.ids.length;
      }
    }
    rows.push({
      flag,
      value,
      seeds,
      distinct: texts.size,
      distinctFirstTokens: firsts.size,
      meanLogProbPerToken: tokens > 0 ? logProb / tokens : 0,
    });
  }
  return rows;
}

/**
 * A {@linkcode seedStudy} as a table.
 * @example
 * ```ts
 * // seedStudyTable(await seedStudy(model, "top_k", [1, 5, 50], 8));
 * ```
 */
export function seedStudyTable(rows: readonly SeedStudyRow[], caption?: string): Displayable {
  const flag = rows[0]?.flag ?? "value";
  return table(
    [
      { key: "value", header: `\`--${flag}\`` },
      { key: "seeds", header: "seeds" },
      { key: "distinct", header: "distinct texts" },
      { key: "distinctFirstTokens", header: "distinct first tokens" },
      { key: "meanLogProbPerToken", header: "mean log p / token" },
    ],
    rows,
    { digits: 3, ...(caption ? { caption } : {}) },
  );
}

/**
 * The result as the handout's script prints it, and nothing else: the prompt, its token ids and
 * their count, then each sequence's new token ids and text under its label. Deterministic for a
 * seed (no timings; {@linkcode formatRunInfo} has those).
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { OnnxCausalLM } from "../onnx/causal_lm.ts";
 * import { generateText } from "../onnx/text_generation.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const shown = formatHandout(await generateText(model, "What is Apple?", { outputLen: 3 }));
 * assertStringIncludes(shown, "Output-1: What is Apple?");
 * await model.dispose();
 * ```
 */
export function formatHandout(result: TextGenerationResult): string {
  const lines = [
    `Prompt: ${result.prompt}`,
    `prompt token ids: [${result.promptIds.join(", ")}]`,
    `prompt length: ${result.promptIds.length}`,
  ];
  for (const o of result.outputs) {
    lines.push(
      "",
      `${o.label} token ids (${o.ids.length}): [${o.ids.join(", ")}]`,
      `${o.label}: ${result.prompt}${o.text}`,
    );
  }
  return lines.join("\n");
}

/**
 * What the CLI adds on stderr with `--verbose`: model, backend, decoding mode, settings and the
 * time of prefill and decode.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { OnnxCausalLM } from "../onnx/causal_lm.ts";
 * import { generateText } from "../onnx/text_generation.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * assertStringIncludes(formatRunInfo(await generateText(model, "Hi", { outputLen: 2 })), "wasm");
 * await model.dispose();
 * ```
 */
export function formatRunInfo(result: TextGenerationResult): string {
  const s = result.settings;
  const decodeTotal = result.decodeMs.reduce((a, b) => a + b, 0);
  const lines = [
    `model: ${result.model}   backend: ${result.backend}   mode: ${result.mode}`,
    `settings: output_len=${s.outputLen} top_k=${s.topK} top_p=${s.topP} ` +
    `beam_width=${s.beamWidth} do_sample=${s.doSample} temperature=${s.temperature} seed=${s.seed}`,
  ];
  lines.push(
    `time: prefill ${result.prefillMs.toFixed(1)} ms (${result.promptIds.length} tokens), ` +
      `decode ${decodeTotal.toFixed(1)} ms (${result.decodeMs.length} steps` +
      (result.decodeMs.length > 0
        ? `, ${(decodeTotal / result.decodeMs.length).toFixed(1)} ms/step)`
        : ")") +
      ` on ${result.backend}`,
  );
  return lines.join("\n");
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
      xaxis: { ...LOG_AXIS, title: { text: "prompt tokens L" } },
      yaxis: { ...LOG_AXIS, title: { text: "ms per token" } },
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
    // Words from the numbers: a change within 15% is "about the same".
    const trend = (from: number, to: number, falls: string, rises: string, flat: string) =>
      to < from / 1.15 ? falls : to > from * 1.15 ? rises : flat;
    const prefillTrend = trend(
      short.prefillMsPerToken,
      long.prefillMsPerToken,
      "falls",
      "rises",
      "stays about the same",
    );
    const decodeTrend = trend(
      short.decodeMsPerToken,
      long.decodeMsPerToken,
      "falls",
      "grows",
      "stays about the same",
    );
    return `**${b}:** prefill cost per token ${prefillTrend} as the prompt grows, ` +
      `${short.prefillMsPerToken.toFixed(2)} ms at ${short.promptTokens} tokens to ` +
      `${long.prefillMsPerToken.toFixed(2)} ms at ${long.promptTokens} ` +
      `(${long.prefillGflopPerS.toFixed(2)} GFLOP/s, intensity ` +
      `${long.prefillIntensity.toFixed(1)} FLOP/byte); a decode step ${decodeTrend} with the ` +
      `context (${short.decodeMsPerToken.toFixed(2)} to ${long.decodeMsPerToken.toFixed(2)} ms, ` +
      `${long.decodeGflopPerS.toFixed(2)} GFLOP/s, intensity ` +
      `${long.decodeIntensity.toFixed(2)} FLOP/byte) and costs ` +
      (ratio >= 1
        ? `${ratio.toFixed(1)}× the prefill cost per token`
        : `${(1 / ratio).toFixed(1)}× less per token than prefill`) +
      ` at ${long.promptTokens} tokens (medians after a warm-up run).`;
  }).join("\n\n");
}
