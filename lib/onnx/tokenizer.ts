/**
 * Text to token ids and back for a model folder, with Hugging Face's own JavaScript tokenizer
 * (`@huggingface/tokenizers`) reading the folder's `tokenizer.json` and `tokenizer_config.json`,
 * plus a streaming decoder that prints text as tokens arrive without splitting a multi-byte
 * character.
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./tokenizer.ts";
 * const tokenizer = await loadTokenizer("data/models/brown-gpt2");
 * tokenizer.decode(tokenizer.encode("What is Apple?")); // "What is Apple?"
 * ```
 * @module
 */
import { Tokenizer } from "@huggingface/tokenizers";

/** Encoding and decoding as a generation script uses them. */
export interface TextTokenizer {
  /** Token ids of `text`, with the special tokens the tokenizer adds by default (as HF does). */
  encode(text: string): number[];
  /** Text of `ids`, special tokens skipped. */
  decode(ids: readonly number[]): string;
  /** Text of one token, special tokens kept (for traces and drawings). */
  tokenText(id: number): string;
}

/**
 * Loads the tokenizer of a model folder.
 * @example
 * ```ts
 * const tokenizer = await loadTokenizer("data/models/brown-gpt2");
 * tokenizer.encode("Hello");
 * ```
 */
export async function loadTokenizer(folder: string): Promise<TextTokenizer> {
  const read = async (file: string) => {
    const path = `${folder}/${file}`;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      throw new Error(`cannot read ${path}: ${(e as Error).message}`);
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
    }
  };
  const tokenizer = new Tokenizer(
    await read("tokenizer.json"),
    await read("tokenizer_config.json"),
  );
  return {
    encode: (text) => tokenizer.encode(text).ids,
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: true }),
    tokenText: (id) => tokenizer.decode([id], { skip_special_tokens: false }),
  };
}

/**
 * Turns a growing list of generated ids into text pieces to print: each call returns only the
 * new text since the last call, holding back a trailing partial UTF-8 character (shown as
 * U+FFFD) until the token that completes it arrives.
 * @example
 * ```ts
 * const tokenizer = await loadTokenizer("data/models/brown-gpt2");
 * const stream = textStream(tokenizer);
 * const ids = tokenizer.encode(" an apple");
 * ids.map((_, i) => stream(ids.slice(0, i + 1))).join(""); // " an apple"
 * ```
 */
export function textStream(tokenizer: TextTokenizer): (ids: readonly number[]) => string {
  let printed = 0;
  return (ids) => {
    const text = tokenizer.decode(ids);
    if (text.endsWith("\uFFFD")) return "";
    const piece = text.slice(printed);
    printed = text.length;
    return piece;
  };
}
