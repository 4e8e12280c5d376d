/**
 * Checks a trained tokenizer folder with Hugging Face's own JavaScript tokenizer: for every
 * case, `encode(text)` must give the ids the Python trainer's encoder gave, and
 * `decode(ids)` must give the text back byte for byte.
 *
 * Usage: deno run -A tools/train-model/check_tokenizer.ts <model dir> <cases.json>
 * where cases.json is `[{ "text": string, "ids": number[] }]`. Exits 1 on any mismatch.
 *
 * @example
 * ```sh
 * deno run -A tools/train-model/check_tokenizer.ts data/models/brown-gpt2 /tmp/cases.json
 * ```
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";

/** One text and the ids the Python encoder produced for it. */
export interface TokenizerCase {
  /** Input text. */
  text: string;
  /** Token ids from the trainer's own encoder. */
  ids: number[];
}

/**
 * Returns one message per failed case (empty when all agree).
 *
 * @example
 * ```ts
 * const failures = checkTokenizer(tokenizer, [{ text: "Hi", ids: [1, 2] }]);
 * ```
 */
export function checkTokenizer(tokenizer: Tokenizer, cases: TokenizerCase[]): string[] {
  const failures: string[] = [];
  for (const { text, ids } of cases) {
    const got = tokenizer.encode(text, { add_special_tokens: false }).ids;
    if (got.length !== ids.length || got.some((id, i) => id !== ids[i])) {
      failures.push(`ids differ for ${JSON.stringify(text.slice(0, 60))}: ${got} vs ${ids}`);
    }
    // decode() rejects an empty id list; the empty text is covered by the ids check above.
    if (ids.length === 0) continue;
    const back = tokenizer.decode(ids, { skip_special_tokens: false });
    if (back !== text) {
      failures.push(`decode differs: ${JSON.stringify(back.slice(0, 60))}`);
    }
  }
  return failures;
}

if (import.meta.main) {
  const [dir, casesPath] = Deno.args;
  if (!dir || !casesPath) {
    console.error("usage: check_tokenizer.ts <model dir> <cases.json>");
    Deno.exit(2);
  }
  const read = async (p: string) => JSON.parse(await Deno.readTextFile(p));
  const tokenizer = new Tokenizer(
    await read(`${dir}/tokenizer.json`),
    await read(`${dir}/tokenizer_config.json`),
  );
  const cases: TokenizerCase[] = await read(casesPath);
  const failures = checkTokenizer(tokenizer, cases);
  console.log(JSON.stringify({ cases: cases.length, failures }));
  if (failures.length) Deno.exit(1);
}
