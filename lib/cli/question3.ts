/**
 * `deno task question3`: the handout's `question3.py` on an ONNX model in Deno, WebGPU when
 * an adapter exists, else WASM. Flags and defaults as the handout's (see
 * {@linkcode QUESTION3_CLI} or `--help`); text streams to stdout as it is generated when
 * one sequence is asked for; errors go to stderr with exit code 2 (bad flags) or 1.
 *
 * @example
 * ```ts
 * // deno task question3 --output_len 40 --beam_width 2
 * import { assertEquals } from "@std/assert";
 * import { main } from "./question3.ts";
 * assertEquals(await main(["--output_len", "2", "--backend", "wasm", "--json"]), 0);
 * ```
 * @module
 */
import { describeRewrites } from "../onnx/graph_rewrite.ts";
import { OnnxCausalLM } from "../onnx/causal_lm.ts";
import { BACKEND_REQUESTS, type BackendRequest } from "../onnx/backend.ts";
import { EMBEDDED_MODEL, embeddedModelFolder } from "../onnx/embedded.ts";
import { DTYPE_REQUESTS, type DtypeRequest } from "../onnx/model_files.ts";
import { generateText, QUESTION3_DEFAULTS } from "../onnx/text_generation.ts";
import { formatHandout, formatRunInfo } from "../questions/question3.ts";
import {
  decimal,
  flag,
  integer,
  oneOf,
  parseFlags,
  runCli,
  switchFlag,
  text,
  usage,
} from "./args.ts";

const d = QUESTION3_DEFAULTS;

/**
 * The flags of `deno task question3`: the handout's (`--hf_model_name`, `--prompt_seq`,
 * `--output_len`, `--top_k`, `--top_p`, `--beam_width`) with its defaults, Hugging Face's
 * `generate` options under their HF names, and this workspace's own (`--seed`, `--backend`,
 * `--no_sample`, `--json`). `--output-len` is read as `--output_len`, and so on.
 */
export const QUESTION3_CLI = {
  name: "question3",
  summary: "Generates text with an ONNX causal language model, as the handout's question3.py " +
    "does with Hugging Face transformers: do_sample=True, temperature 1.0, num_beams = " +
    "num_return_sequences = beam_width (beam_width > 1 is Hugging Face's beam sampling).",
  dashesAreUnderscores: true,
  flags: {
    hf_model_name: flag({
      value: text("a model folder or a Hub id"),
      default: d.model,
      help: "a folder or Hub id (facebook/opt-350m runs its ONNX export Xenova/opt-350m)",
      valueName: "NAME",
      aliases: ["model"],
    }),
    prompt_seq: flag({
      value: text("any text"),
      default: d.prompt,
      help: "the prompt",
      valueName: "TEXT",
    }),
    output_len: flag({
      value: integer({ min: 1 }),
      default: d.outputLen,
      help: "new tokens",
      valueName: "N",
    }),
    top_k: flag({
      value: integer({ min: 0 }),
      default: d.topK,
      help: "top-k filter, 0 disables",
      valueName: "K",
    }),
    top_p: flag({
      value: decimal({ min: 0, minExclusive: true, max: 1 }),
      default: d.topP,
      help: "top-p filter, 1 disables",
      valueName: "P",
    }),
    beam_width: flag({
      value: integer({ min: 1 }),
      default: d.beamWidth,
      help: "beams and returned sequences",
      valueName: "B",
    }),
    temperature: flag({
      value: decimal({ min: 0, minExclusive: true }),
      default: d.temperature,
      help: "sampling temperature",
      valueName: "T",
    }),
    repetition_penalty: flag({
      value: decimal({ min: 0, minExclusive: true }),
      default: d.repetitionPenalty,
      help: "HF repetition_penalty: > 1 discourages tokens already in the text, 1 disables",
      valueName: "R",
    }),
    no_repeat_ngram_size: flag({
      value: integer({ min: 0 }),
      default: d.noRepeatNgramSize,
      help: "HF no_repeat_ngram_size: no n-gram of this size twice, 0 disables",
      valueName: "N",
    }),
    min_new_tokens: flag({
      value: integer({ min: 0 }),
      default: d.minNewTokens,
      help: "HF min_new_tokens: no end-of-text before this many new tokens",
      valueName: "N",
    }),
    min_p: flag({
      value: decimal({ min: 0, max: 1 }),
      help: "HF min_p: drop tokens below P times the top token's probability",
      valueName: "P",
      defaultText: "off",
    }),
    typical_p: flag({
      value: decimal({ min: 0, minExclusive: true, max: 1 }),
      default: d.typicalP,
      help: "HF typical_p: locally typical sampling mass, 1 disables",
      valueName: "P",
    }),
    seed: flag({
      value: integer({ min: 0 }),
      default: d.seed,
      help: "seed of the sampler",
      valueName: "S",
    }),
    backend: flag({
      value: oneOf(BACKEND_REQUESTS),
      default: "auto" as BackendRequest,
      help: "auto: WebGPU if an adapter exists, else cpu (onnxruntime-node), else WASM",
      valueName: "B",
    }),
    threads: flag({
      value: integer({ min: 1 }),
      help: "threads of the cpu and wasm backends (default: the free cores)",
      valueName: "N",
      defaultText: "free cores",
    }),
    dtype: flag({
      value: oneOf(DTYPE_REQUESTS),
      default: "auto" as DtypeRequest,
      help: "file variant as transformers.js names it; auto: q8 on WASM, fp32 on WebGPU",
      valueName: "D",
    }),
    revision: flag({
      value: text("a branch, tag or commit"),
      default: "main",
      help: "Hub revision of the model",
      valueName: "REV",
    }),
    chat: switchFlag("wrap the prompt as a user turn in the model's chat template"),
    no_sample: switchFlag("greedy search (width 1) or beam search (width > 1), no sampling"),
    json: switchFlag("print one JSON object instead of text"),
    verbose: switchFlag(
      "on stderr: the backend, and the text as it is generated (default on a terminal)",
    ),
    help: switchFlag("show this text", "h"),
  },
} as const;

/** Parsed flags of `deno task question3`. */
export type Question3Flags = ReturnType<typeof parseQuestion3Flags>;

/**
 * Parses `args` (`--flag value` or `--flag=value`); throws a `UsageError` naming the flag, the
 * value and what is allowed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const f = parseQuestion3Flags(["--top_p=0.5", "--beam_width", "3"]);
 * assertEquals([f.topP, f.beamWidth, f.outputLen, f.doSample], [0.5, 3, 20, true]);
 * ```
 */
export function parseQuestion3Flags(args: readonly string[]) {
  const v = parseFlags(QUESTION3_CLI, args).values;
  return {
    hfModelName: v.hf_model_name,
    promptSeq: v.prompt_seq,
    outputLen: v.output_len,
    topK: v.top_k,
    topP: v.top_p,
    beamWidth: v.beam_width,
    temperature: v.temperature,
    repetitionPenalty: v.repetition_penalty,
    noRepeatNgramSize: v.no_repeat_ngram_size,
    minNewTokens: v.min_new_tokens,
    typicalP: v.typical_p,
    ...(v.min_p === undefined ? {} : { minP: v.min_p }),
    seed: v.seed,
    backend: v.backend,
    ...(v.threads === undefined ? {} : { threads: v.threads }),
    dtype: v.dtype,
    revision: v.revision,
    chat: v.chat,
    doSample: !v.no_sample,
    json: v.json,
    verbose: v.verbose,
    help: v.help,
  };
}

/**
 * Runs the CLI on `args` and returns the process exit code.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(await main(["--help"]), 0);
 * assertEquals(await main(["--top_k", "1e3"]), 2);
 * ```
 */
export function main(args: readonly string[]): Promise<number> {
  return runCli(QUESTION3_CLI.name, () => run(parseQuestion3Flags(args)));
}

async function run(flags: Question3Flags): Promise<number> {
  if (flags.help) {
    console.log(usage(QUESTION3_CLI));
    return 0;
  }
  let model: OnnxCausalLM | undefined;
  try {
    const name = flags.hfModelName === EMBEDDED_MODEL ? embeddedModelFolder() : flags.hfModelName;
    model = await OnnxCausalLM.load(name, {
      backend: flags.backend,
      dtype: flags.dtype,
      revision: flags.revision,
      ...(flags.threads === undefined ? {} : { threads: flags.threads }),
    });
    const encoder = new TextEncoder();
    // stdout carries exactly the handout's lines; the backend and the live text go to stderr,
    // where a person watching sees them and a redirected run does not repeat the text.
    const chatty = flags.verbose || (Deno.stderr.isTerminal() && !flags.json);
    const streaming = chatty && flags.beamWidth === 1;
    if (chatty) {
      const n = model.threads;
      const threads = model.backend !== "webgpu" ? `, ${n} thread${n === 1 ? "" : "s"}` : "";
      console.error(
        `backend: ${model.backend}${threads}, ${model.files.graph} (${model.files.dtype}); ` +
          describeRewrites(model.rewrites),
      );
    }
    // The header goes out with the first piece, so an early error prints nothing half-done.
    let streamed = false;
    const stream = (piece: string) => {
      const head = streamed ? "" : `streaming: ${flags.promptSeq}`;
      streamed = true;
      Deno.stderr.writeSync(encoder.encode(head + piece));
    };
    const {
      hfModelName: _model,
      promptSeq,
      backend: _backend,
      dtype: _dtype,
      revision: _revision,
      threads: _threads,
      json: _json,
      verbose: _verbose,
      help: _help,
      ...settings
    } = flags;
    const result = await generateText(model, promptSeq, {
      ...settings,
      ...(streaming ? { onText: stream } : {}),
    });
    if (streamed) console.error("\n");
    if (flags.json) {
      const { runs: _runs, ...rest } = result;
      console.log(JSON.stringify(rest, null, 2));
    } else {
      console.log(formatHandout(result));
      if (chatty) console.error(formatRunInfo(result));
    }
    return 0;
  } catch (e) {
    console.error(`question3: ${(e as Error).message}`);
    return 1;
  } finally {
    await model?.dispose();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
