/**
 * The flags of the handout's `question3.py`, with its defaults, plus this workspace's own
 * (`--seed`, `--backend`, `--no_sample`, `--json`), parsed and validated. Every error names the
 * flag, the value given and what is allowed.
 *
 * | flag | default | allowed |
 * | --- | --- | --- |
 * | `--hf_model_name` | `data/models/brown-gpt2` | a model folder or a Hub id |
 * | `--prompt_seq` | `What is Apple?` | any text |
 * | `--output_len` | 20 | integer ≥ 0 |
 * | `--top_k` | 50 | integer ≥ 0 (0 disables) |
 * | `--top_p` | 0.9 | number in (0, 1] (1 disables) |
 * | `--beam_width` | 1 | integer ≥ 1 |
 * | `--seed` | 0 | integer ≥ 0 |
 * | `--backend` | `auto` | `auto`, `webgpu`, `wasm` |
 * | `--no_sample` | off | greedy (width 1) or beam search (width > 1) |
 * | `--json` | off | print one JSON object instead of text |
 *
 * @example
 * ```ts
 * import { parseQuestion3Flags } from "./question3_flags.ts";
 * parseQuestion3Flags(["--output_len", "40"]).outputLen; // 40
 * ```
 * @module
 */
import { type BackendRequest, parseBackendRequest } from "./backend.ts";

/** The embedded model, the default since this machine reaches no Hub. */
export const DEFAULT_MODEL = "data/models/brown-gpt2";

/**
 * The embedded model's folder as an absolute path, wherever the caller runs (a notebook's
 * working directory is `notebooks/`, the CLI's the workspace root).
 * @example
 * ```ts
 * embeddedModelFolder().endsWith("data/models/brown-gpt2"); // true
 * ```
 */
export function embeddedModelFolder(): string {
  return decodeURIComponent(new URL(`../../${DEFAULT_MODEL}`, import.meta.url).pathname);
}

/**
 * How a model folder is named in commands and printouts: the embedded model as
 * {@linkcode DEFAULT_MODEL} however it was reached, anything else as given.
 * @example
 * ```ts
 * modelLabel(embeddedModelFolder()); // "data/models/brown-gpt2"
 * ```
 */
export function modelLabel(folder: string): string {
  const real = (path: string) => {
    try {
      return Deno.realPathSync(path);
    } catch {
      return path;
    }
  };
  return real(folder) === real(embeddedModelFolder()) ? DEFAULT_MODEL : folder;
}

/** Parsed flags of `deno task question3`. */
export interface Question3Flags {
  /** Model folder or Hub id. */
  hfModelName: string;
  /** The prompt. */
  promptSeq: string;
  /** New tokens to generate (HF `max_new_tokens`). */
  outputLen: number;
  /** Top-k filter (0 disables). */
  topK: number;
  /** Top-p (nucleus) filter (1 disables). */
  topP: number;
  /** Beams, and sequences returned. */
  beamWidth: number;
  /** Seed of every random choice. */
  seed: number;
  /** Requested backend. */
  backend: BackendRequest;
  /** `do_sample`: true as in the handout unless `--no_sample`. */
  doSample: boolean;
  /** Print JSON instead of the handout's text. */
  json: boolean;
  /** `--help` was given. */
  help: boolean;
}

/** The usage text printed by `--help`. */
export const QUESTION3_USAGE = `Usage: deno task question3 [flags]

Generates text with an ONNX causal language model, as the handout's question3.py does with
Hugging Face transformers: do_sample=True, temperature 1.0, num_beams = num_return_sequences =
beam_width (beam_width > 1 is Hugging Face's beam sampling).

  --hf_model_name NAME  model folder (HF layout with onnx/model.onnx) or Hub id
                        (default ${DEFAULT_MODEL})
  --prompt_seq TEXT     prompt (default "What is Apple?")
  --output_len N        new tokens, integer >= 0 (default 20)
  --top_k K             top-k filter, integer >= 0, 0 disables (default 50)
  --top_p P             top-p filter, number in (0, 1], 1 disables (default 0.9)
  --beam_width B        beams and returned sequences, integer >= 1 (default 1)
  --seed S              seed of the sampler, integer >= 0 (default 0)
  --backend B           auto | webgpu | wasm (default auto: WebGPU if an adapter exists)
  --no_sample           greedy search (width 1) or beam search (width > 1), no sampling
  --json                print one JSON object instead of text
  --help                show this text`;

const VALUE_FLAGS = [
  "hf_model_name",
  "prompt_seq",
  "output_len",
  "top_k",
  "top_p",
  "beam_width",
  "seed",
  "backend",
] as const;
const SWITCHES = ["no_sample", "json", "help"] as const;

/**
 * Parses `args` (`--flag value` or `--flag=value`). Throws a `RangeError` naming the flag on an
 * unknown flag, a missing value, a non-number, or a number outside its range.
 * @example
 * ```ts
 * parseQuestion3Flags(["--top_p=0.5", "--beam_width", "3"]).beamWidth; // 3
 * ```
 */
export function parseQuestion3Flags(args: readonly string[]): Question3Flags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const m = arg.match(/^--([A-Za-z_-]+)(?:=(.*))?$/s);
    if (!m) {
      throw new RangeError(`unexpected argument ${JSON.stringify(arg)}; flags start with --`);
    }
    const name = m[1].replaceAll("-", "_");
    if ((SWITCHES as readonly string[]).includes(name)) {
      if (m[2] !== undefined) throw new RangeError(`--${name} takes no value`);
      switches.add(name);
    } else if ((VALUE_FLAGS as readonly string[]).includes(name)) {
      const value = m[2] ?? args[++i];
      if (value === undefined) throw new RangeError(`--${name} needs a value`);
      values.set(name, value);
    } else {
      throw new RangeError(
        `unknown flag --${name}; allowed: ${
          [...VALUE_FLAGS, ...SWITCHES].map((f) => `--${f}`)
            .join(", ")
        }`,
      );
    }
  }
  const get = (name: string, fallback: string) => values.get(name) ?? fallback;
  const prompt = get("prompt_seq", "What is Apple?");
  const model = get("hf_model_name", DEFAULT_MODEL);
  if (model === "") throw new RangeError("--hf_model_name must not be empty");
  let backend: BackendRequest;
  try {
    backend = parseBackendRequest(get("backend", "auto"));
  } catch (e) {
    throw new RangeError(`--${(e as Error).message}`);
  }
  return {
    hfModelName: model,
    promptSeq: prompt,
    outputLen: integer("output_len", get("output_len", "20"), 0),
    topK: integer("top_k", get("top_k", "50"), 0),
    topP: probability("top_p", get("top_p", "0.9")),
    beamWidth: integer("beam_width", get("beam_width", "1"), 1),
    seed: integer("seed", get("seed", "0"), 0),
    backend,
    doSample: !switches.has("no_sample"),
    json: switches.has("json"),
    help: switches.has("help"),
  };
}

function integer(flag: string, text: string, min: number): number {
  const v = /^[+-]?\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`--${flag} must be an integer >= ${min}; got ${JSON.stringify(text)}`);
  }
  return v;
}

function probability(flag: string, text: string): number {
  const v = text.trim() === "" ? NaN : Number(text);
  if (!(v > 0 && v <= 1)) {
    throw new RangeError(`--${flag} must be a number in (0, 1]; got ${JSON.stringify(text)}`);
  }
  return v;
}
