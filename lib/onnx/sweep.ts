/**
 * Question 3's sub-questions change one flag of `deno task question3` at a time. A
 * {@linkcode flagSweep} runs the same experiment the CLI runs for several values of one flag
 * (the others at the handout's defaults) and keeps, for each, the launch command and the
 * result; {@linkcode sweepTranscript} shows them as the terminal would, and
 * {@linkcode seedStudy} measures what a flag does to sampling over many seeds.
 *
 * @example
 * ```ts
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * import { flagSweep, sweepTranscript } from "./sweep.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const runs = await flagSweep(model, "output_len", [10, 20]);
 * sweepTranscript(runs);
 * ```
 * @module
 */
import { type Displayable, markdown, table } from "../show/mod.ts";
import type { OnnxCausalLM } from "./causal_lm.ts";
import { DEFAULT_MODEL, modelLabel } from "./question3_flags.ts";
import {
  formatHandout,
  generateText,
  type TextGenerationOptions,
  type TextGenerationResult,
} from "./text_generation.ts";

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
 * The `deno task question3` command line for a run's non-default settings.
 * @example
 * ```ts
 * launchCommand({ outputLen: 40, prompt: "Hi" }, "data/models/brown-gpt2");
 * // 'deno task question3 --prompt_seq "Hi" --output_len 40'
 * ```
 */
export function launchCommand(settings: SweepBase, model: string): string {
  const parts = ["deno task question3"];
  const label = modelLabel(model);
  if (label !== DEFAULT_MODEL) parts.push(`--hf_model_name ${label}`);
  if (settings.prompt !== undefined && settings.prompt !== "What is Apple?") {
    parts.push(`--prompt_seq ${JSON.stringify(settings.prompt)}`);
  }
  const flags: [string, number | undefined, number][] = [
    ["--output_len", settings.outputLen, 20],
    ["--top_k", settings.topK, 50],
    ["--top_p", settings.topP, 0.9],
    ["--beam_width", settings.beamWidth, 1],
    ["--seed", settings.seed, 0],
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
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * (await flagSweep(model, "top_k", [1, 50])).map((r) => r.command);
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
    const result = await generateText(model, base.prompt ?? "What is Apple?", settings);
    runs.push({ flag, value, command: launchCommand(settings, model.folder), result });
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
    ),
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
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * await seedStudy(model, "top_p", [0.5, 1], 4, { outputLen: 10 });
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
      const r = await generateText(model, base.prompt ?? "What is Apple?", {
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
