/**
 * Checks that Hugging Face's own JavaScript stack loads the model folder as it loads any Hub
 * export: `@huggingface/transformers` (AutoTokenizer + AutoModelForCausalLM, fp32, CPU) must
 * produce PyTorch's greedy continuation of each prompt, token for token. This exercises
 * config.json, tokenizer files and the decoder-with-past signature through transformers.js's
 * own KV-cache loop.
 *
 * Usage: deno run -A tools/train-model/check_transformers_js.ts <model dir> <greedy.json>
 * where greedy.json is `[{ "prompt": string, "ids": number[] }]` (`ids` = prompt + new
 * tokens). Exits 1 on any difference.
 *
 * @example
 * ```sh
 * deno run -A tools/train-model/check_transformers_js.ts data/models/brown-gpt2 /tmp/greedy.json
 * ```
 * @module
 */
import { AutoModelForCausalLM, AutoTokenizer, env, type Tensor } from "@huggingface/transformers";
import { basename, dirname, resolve } from "node:path";

/** A prompt and PyTorch's greedy sequence for it. */
export interface GreedyCase {
  /** Prompt text. */
  prompt: string;
  /** The prompt's ids from the trainer's tokenizer. */
  promptIds: number[];
  /** Prompt ids followed by the greedily generated ids (fewer if eos came first). */
  ids: number[];
}

/**
 * Loads the folder with transformers.js and returns a greedy generator (ids include the prompt).
 *
 * @example
 * ```ts
 * const greedy = await transformersGreedy("data/models/brown-gpt2");
 * const ids = await greedy("What is Apple?", 20);
 * ```
 */
export async function transformersGreedy(
  modelDir: string,
): Promise<(prompt: string, maxNewTokens: number) => Promise<number[]>> {
  env.allowRemoteModels = false;
  env.localModelPath = dirname(resolve(modelDir)) + "/";
  const name = basename(resolve(modelDir));
  const tokenizer = await AutoTokenizer.from_pretrained(name);
  const model = await AutoModelForCausalLM.from_pretrained(name, { dtype: "fp32", device: "cpu" });
  return async (prompt, maxNewTokens) => {
    const out = await model.generate({
      ...tokenizer(prompt),
      max_new_tokens: maxNewTokens,
      do_sample: false,
    }) as Tensor;
    return (out.tolist() as bigint[][])[0].map(Number);
  };
}

if (import.meta.main) {
  const [dir, casesPath] = Deno.args;
  if (!dir || !casesPath) {
    console.error("usage: check_transformers_js.ts <model dir> <greedy.json>");
    Deno.exit(2);
  }
  const cases: GreedyCase[] = JSON.parse(await Deno.readTextFile(casesPath));
  const greedy = await transformersGreedy(dir);
  const failures: string[] = [];
  for (const { prompt, promptIds, ids } of cases) {
    const got = await greedy(prompt, ids.length - promptIds.length);
    if (got.length !== ids.length || got.some((id, i) => id !== ids[i])) {
      failures.push(`${JSON.stringify(prompt)}: transformers.js ${got} vs PyTorch ${ids}`);
    }
  }
  console.log(JSON.stringify({ cases: cases.length, failures }));
  if (failures.length) Deno.exit(1);
}
