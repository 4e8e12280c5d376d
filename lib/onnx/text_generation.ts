/**
 * The handout's Question 3 experiment as a function: tokenize a prompt, run the decoding
 * engine's `generate` on an {@linkcode OnnxCausalLM} with `question3.py`'s settings
 * (`do_sample=True`, temperature 1, `num_beams = num_return_sequences = beam_width`), and
 * return the prompt ids, each returned sequence's new ids and text, the backend that ran and
 * the measured prefill and decode times. {@linkcode formatHandout} prints it in the handout
 * script's shape; the CLI and the notebook both go through here.
 *
 * @example
 * ```ts
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * import { formatHandout, generateText } from "./text_generation.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const result = await generateText(model, "What is Apple?", { outputLen: 10, seed: 0 });
 * console.log(formatHandout(result));
 * ```
 * @module
 */
import { generate, type GenerateOutput, type TraceOptions } from "../decoding/mod.ts";
import type { DecodingMode, Trace } from "../decoding/trace.ts";
import type { Backend } from "./backend.ts";
import type { OnnxCausalLM, RunRecord } from "./causal_lm.ts";
import { modelLabel } from "./question3_flags.ts";
import { textStream } from "./tokenizer.ts";

/** Settings of one generation; the defaults are the handout's. */
export interface TextGenerationOptions {
  /** New tokens (HF `max_new_tokens`), ≥ 0 (default 20). */
  outputLen?: number;
  /** Top-k filter, 0 disables (default 50). */
  topK?: number;
  /** Top-p filter in (0, 1], 1 disables (default 0.9). */
  topP?: number;
  /** Beams and returned sequences (default 1). */
  beamWidth?: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Sample (default true, as the handout); false = greedy or beam search. */
  doSample?: boolean;
  /** Seed of every random draw (default 0). */
  seed?: number;
  /** Record the decoding trace (for drawings). */
  trace?: boolean | TraceOptions;
  /** Receives text as it is generated; only called when one sequence is generated. */
  onText?: (piece: string) => void;
}

/** One returned sequence. */
export interface GeneratedSequence {
  /** `Output-1` … `Output-N`, best first for beam modes. */
  label: string;
  /** New token ids, prompt excluded (EOS included when it ended the sequence). */
  ids: number[];
  /** Decoded new text (special tokens skipped). */
  text: string;
  /** Beam modes: HF `sequences_scores`; greedy/sampling: model log-probability. */
  score: number;
  /** Model log-probability of the new tokens. */
  logProb: number;
  /** Why it stopped. */
  finishReason: "eos" | "length";
}

/** What {@linkcode generateText} returns. */
export interface TextGenerationResult {
  /** Model folder (the embedded model as `data/models/brown-gpt2`). */
  model: string;
  /** Backend that ran the model. */
  backend: Backend;
  /** The decoding strategy that ran. */
  mode: DecodingMode | "none";
  /** Settings used, defaults filled in. */
  settings: Required<Omit<TextGenerationOptions, "trace" | "onText">>;
  /** The prompt text. */
  prompt: string;
  /** The prompt's token ids. */
  promptIds: number[];
  /** The returned sequences. */
  outputs: GeneratedSequence[];
  /** Milliseconds of the prompt's forward pass (prefill). */
  prefillMs: number;
  /** Milliseconds of each decode step (one token for every beam). */
  decodeMs: number[];
  /** Every session run, timed. */
  runs: RunRecord[];
  /** The decoding trace, when requested. */
  trace?: Trace;
}

/**
 * Runs the Question 3 experiment on a loaded model.
 * @example
 * ```ts
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const r = await generateText(model, "What is Apple?", { outputLen: 5, beamWidth: 2 });
 * r.outputs.map((o) => o.label); // ["Output-1", "Output-2"]
 * ```
 */
export async function generateText(
  model: OnnxCausalLM,
  prompt: string,
  options: TextGenerationOptions = {},
): Promise<TextGenerationResult> {
  const settings = {
    outputLen: options.outputLen ?? 20,
    topK: options.topK ?? 50,
    topP: options.topP ?? 0.9,
    beamWidth: options.beamWidth ?? 1,
    temperature: options.temperature ?? 1,
    doSample: options.doSample ?? true,
    seed: options.seed ?? 0,
  };
  if (!Number.isInteger(settings.outputLen) || settings.outputLen < 0) {
    throw new RangeError(`output_len must be an integer >= 0; got ${settings.outputLen}`);
  }
  if (!(settings.topP > 0 && settings.topP <= 1)) {
    throw new RangeError(`top_p must be in (0, 1]; got ${settings.topP}`);
  }
  const promptIds = model.tokenizer.encode(prompt);
  if (promptIds.length === 0) throw new RangeError("the prompt encodes to no tokens");
  const limit = model.geometry.maxPositions;
  if (limit !== undefined && promptIds.length + settings.outputLen > limit) {
    throw new RangeError(
      `prompt (${promptIds.length} tokens) + output_len (${settings.outputLen}) exceeds the ` +
        `model's ${limit} positions`,
    );
  }
  const base = {
    model: modelLabel(model.folder),
    backend: model.backend,
    settings,
    prompt,
    promptIds,
  };
  if (settings.outputLen === 0) {
    return { ...base, mode: "none", outputs: [], prefillMs: 0, decodeMs: [], runs: [] };
  }
  const stream = options.onText ? textStream(model.tokenizer) : undefined;
  const single = settings.beamWidth === 1;
  const out: GenerateOutput = await generate(model, promptIds, {
    maxNewTokens: settings.outputLen,
    doSample: settings.doSample,
    numBeams: settings.beamWidth,
    numReturnSequences: settings.beamWidth,
    temperature: settings.temperature,
    topK: settings.topK,
    topP: settings.topP,
    seed: settings.seed,
    ...(options.trace ? { trace: options.trace } : {}),
    ...(stream && single ? { onStep: (e) => options.onText!(stream.next(e.sequences[0])) } : {}),
  });
  const runs = [...model.runs];
  if (stream && single) {
    const rest = stream.end(out.sequences[0].tokens);
    if (rest) options.onText!(rest);
  }
  return {
    ...base,
    mode: out.mode,
    outputs: out.sequences.map((s, i) => ({
      label: `Output-${i + 1}`,
      ids: s.tokens,
      text: model.tokenizer.decode(s.tokens),
      score: s.score,
      logProb: s.logProb,
      finishReason: s.finishReason,
    })),
    prefillMs: runs.filter((r) => r.phase === "prefill").reduce((a, r) => a + r.ms, 0),
    decodeMs: runs.filter((r) => r.phase === "decode").map((r) => r.ms),
    runs,
    ...(out.trace ? { trace: out.trace } : {}),
  };
}

/**
 * The result as the handout's script prints it: prompt ids and count, then each sequence's
 * new token ids and text under its label, plus the backend and timings.
 * @example
 * ```ts
 * // console.log(formatHandout(await generateText(model, "What is Apple?")));
 * ```
 */
export function formatHandout(result: TextGenerationResult): string {
  const s = result.settings;
  const decodeTotal = result.decodeMs.reduce((a, b) => a + b, 0);
  const lines = [
    `model: ${result.model}   backend: ${result.backend}   mode: ${result.mode}`,
    `settings: output_len=${s.outputLen} top_k=${s.topK} top_p=${s.topP} ` +
    `beam_width=${s.beamWidth} do_sample=${s.doSample} temperature=${s.temperature} seed=${s.seed}`,
    `prompt: ${JSON.stringify(result.prompt)}`,
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
  lines.push(
    "",
    `time: prefill ${result.prefillMs.toFixed(1)} ms (${result.promptIds.length} tokens), ` +
      `decode ${decodeTotal.toFixed(1)} ms (${result.decodeMs.length} steps` +
      (result.decodeMs.length > 0
        ? `, ${(decodeTotal / result.decodeMs.length).toFixed(1)} ms/step)`
        : ")") +
      ` on ${result.backend}`,
  );
  return lines.join("\n");
}
