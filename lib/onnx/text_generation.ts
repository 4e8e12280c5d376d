/**
 * The handout's Question 3 experiment as a function: tokenize a prompt, run the decoding
 * engine's `generate` on an {@linkcode OnnxCausalLM} with `question3.py`'s settings
 * (`do_sample=True`, temperature 1, `num_beams = num_return_sequences = beam_width`), and
 * return the prompt ids, each returned sequence's new ids and text, the backend that ran and
 * the measured prefill and decode times. The CLI and the notebook both go through here, and
 * {@linkcode QUESTION3_DEFAULTS} is the one place the handout's defaults are written.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { OnnxCausalLM } from "./causal_lm.ts";
 * import { generateText } from "./text_generation.ts";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const result = await generateText(model, "What is Apple?", { outputLen: 10, seed: 0 });
 * assertEquals(result.outputs[0].ids.length, 10);
 * await model.dispose();
 * ```
 * @module
 */
import { generate, type GenerateOutput, type TraceOptions } from "../decoding/generate.ts";
import { logitsProcessors } from "../decoding/processors.ts";
import type { DecodingMode, Trace } from "../decoding/trace.ts";
import type { Backend } from "./backend.ts";
import type { OnnxCausalLM, RunRecord } from "./causal_lm.ts";
import type { Dtype } from "./model_files.ts";
import { EMBEDDED_MODEL, modelLabel } from "./embedded.ts";
import { textStream } from "./tokenizer.ts";

/**
 * The handout's `question3.py` defaults (its model is `facebook/opt-350m`; here the embedded
 * model stands in, as no Hub is reachable), plus the seed this workspace adds. The CLI, its
 * usage text, the launch commands the notebooks show and the sweeps all read these.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals([QUESTION3_DEFAULTS.outputLen, QUESTION3_DEFAULTS.topK, QUESTION3_DEFAULTS.topP], [20, 50, 0.9]);
 * ```
 */
export const QUESTION3_DEFAULTS = {
  /** `--hf_model_name`. */
  model: EMBEDDED_MODEL,
  /** `--prompt_seq`. */
  prompt: "What is Apple?",
  /** `--output_len` (HF `max_new_tokens`). */
  outputLen: 20,
  /** `--top_k`. */
  topK: 50,
  /** `--top_p`. */
  topP: 0.9,
  /** `--beam_width` (`num_beams` = `num_return_sequences`). */
  beamWidth: 1,
  /** The handout's `temperature=1.0`. */
  temperature: 1,
  /** The handout's `do_sample=True`. */
  doSample: true,
  /** torch's seed 0 in the handout; here the seed of this workspace's generator. */
  seed: 0,
  /** The processors the handout leaves at HF's defaults (off). */
  repetitionPenalty: 1,
  /** Off. */
  noRepeatNgramSize: 0,
  /** Off. */
  minNewTokens: 0,
  /** Off (1). */
  typicalP: 1,
  /** Off: the prompt is encoded as plain text, as the handout does. */
  chat: false,
} as const;

/** Settings of one generation; the defaults are {@linkcode QUESTION3_DEFAULTS}. */
export interface TextGenerationOptions {
  /** New tokens (HF `max_new_tokens`), ≥ 0. */
  outputLen?: number;
  /** Top-k filter, 0 disables. */
  topK?: number;
  /** Top-p filter in (0, 1], 1 disables. */
  topP?: number;
  /** Beams and returned sequences. */
  beamWidth?: number;
  /** Sampling temperature. */
  temperature?: number;
  /** Sample (true, as the handout); false = greedy or beam search. */
  doSample?: boolean;
  /** Seed of every random draw. */
  seed?: number;
  /** HF `repetition_penalty`; 1 disables. */
  repetitionPenalty?: number;
  /** HF `no_repeat_ngram_size`; 0 disables. */
  noRepeatNgramSize?: number;
  /** HF `min_new_tokens`; 0 disables. */
  minNewTokens?: number;
  /** HF `min_p`; absent disables. */
  minP?: number;
  /** HF `typical_p`; 1 disables. */
  typicalP?: number;
  /** Wrap the prompt as one user turn in the model's chat template (instruct models). */
  chat?: boolean;
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

/** A generation's settings, defaults filled in. */
export type Settings =
  & Required<Omit<TextGenerationOptions, "trace" | "onText" | "minP">>
  & Pick<TextGenerationOptions, "minP">;

/** What {@linkcode generateText} returns. */
export interface TextGenerationResult {
  /** Hub repository, else model folder (the embedded model as `data/models/brown-gpt2`). */
  model: string;
  /** Backend that ran the model. */
  backend: Backend;
  /** The dtype of the graph that ran (`fp32`, `fp16`, `q8`, …). */
  dtype: Dtype;
  /** The decoding strategy that ran. */
  mode: DecodingMode;
  /** Settings used, defaults filled in (`minP` stays absent when off). */
  settings: Settings;
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
 * import { assertEquals } from "@std/assert";
 * const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend: "wasm" });
 * const r = await generateText(model, "What is Apple?", { outputLen: 5, beamWidth: 2 });
 * assertEquals(r.outputs.map((o) => o.label), ["Output-1", "Output-2"]);
 * await model.dispose();
 * ```
 */
export async function generateText(
  model: OnnxCausalLM,
  prompt: string,
  options: TextGenerationOptions = {},
): Promise<TextGenerationResult> {
  const d = QUESTION3_DEFAULTS;
  const settings: Settings = {
    outputLen: options.outputLen ?? d.outputLen,
    topK: options.topK ?? d.topK,
    topP: options.topP ?? d.topP,
    beamWidth: options.beamWidth ?? d.beamWidth,
    temperature: options.temperature ?? d.temperature,
    doSample: options.doSample ?? d.doSample,
    seed: options.seed ?? d.seed,
    repetitionPenalty: options.repetitionPenalty ?? d.repetitionPenalty,
    noRepeatNgramSize: options.noRepeatNgramSize ?? d.noRepeatNgramSize,
    minNewTokens: options.minNewTokens ?? d.minNewTokens,
    typicalP: options.typicalP ?? d.typicalP,
    chat: options.chat ?? d.chat,
    ...(options.minP === undefined ? {} : { minP: options.minP }),
  };
  if (!Number.isInteger(settings.outputLen) || settings.outputLen <= 0) {
    // Hugging Face's generate refuses max_new_tokens <= 0 the same way.
    throw new RangeError(
      `output_len (max_new_tokens) must be greater than 0, but is ${settings.outputLen}`,
    );
  }
  // The processors validate their settings as they are built (top_p in (0, 1] among them),
  // before the model runs.
  logitsProcessors({ ...settings, doSample: true, eosTokenIds: model.eosTokenIds });
  const promptIds = settings.chat
    ? model.tokenizer.encodeChat([{ role: "user", content: prompt }])
    : model.tokenizer.encode(prompt);
  if (promptIds.length === 0) throw new RangeError("the prompt encodes to no tokens");
  const limit = model.maxPositions;
  if (limit !== undefined && promptIds.length + settings.outputLen > limit) {
    throw new RangeError(
      `prompt (${promptIds.length} tokens) + output_len (${settings.outputLen}) = ` +
        `${promptIds.length + settings.outputLen} exceeds the model's ${limit} positions; ` +
        `pass --output_len ${Math.max(0, limit - promptIds.length)} or less, or a shorter prompt`,
    );
  }
  const base = {
    model: model.repo ?? modelLabel(model.folder),
    backend: model.backend,
    dtype: model.files.dtype,
    settings,
    prompt,
    promptIds,
  };
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
    minP: settings.minP,
    typicalP: settings.typicalP,
    repetitionPenalty: settings.repetitionPenalty,
    noRepeatNgramSize: settings.noRepeatNgramSize,
    minNewTokens: settings.minNewTokens,
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
