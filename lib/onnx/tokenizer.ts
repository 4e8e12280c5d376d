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
  const [json, config] = [await read("tokenizer.json"), await read("tokenizer_config.json")];
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw new Error(
      `${folder}/tokenizer.json (with tokenizer_config.json) is not a usable tokenizer: ` +
        (e as Error).message,
    );
  }
  return {
    encode: (text) => tokenizer.encode(text).ids,
    decode: (ids) => tokenizer.decode([...ids], { skip_special_tokens: true }),
    tokenText: (id) => tokenizer.decode([id], { skip_special_tokens: false }),
  };
}

/** Incremental text of a growing list of generated ids; see {@linkcode textStream}. */
export interface TextStream {
  /** The text added since the last call, holding back a trailing partial character. */
  next(ids: readonly number[]): string;
  /** Whatever is still held back once generation has ended (the partial character, as U+FFFD). */
  end(ids: readonly number[]): string;
}

/**
 * Turns a growing list of generated ids into text pieces to print: each `next` returns only the
 * new text since the last call, holding back a trailing partial UTF-8 character (shown as
 * U+FFFD) until the token that completes it arrives; `end` flushes what is left.
 * @example
 * ```ts
 * const tokenizer = await loadTokenizer("data/models/brown-gpt2");
 * const stream = textStream(tokenizer);
 * const ids = tokenizer.encode(" an apple");
 * ids.map((_, i) => stream.next(ids.slice(0, i + 1))).join("") + stream.end(ids); // " an apple"
 * ```
 */
export function textStream(tokenizer: TextTokenizer): TextStream {
  let printed = 0;
  const take = (ids: readonly number[], final: boolean) => {
    const text = tokenizer.decode(ids);
    if (!final && text.endsWith("\uFFFD")) return "";
    const piece = text.slice(printed);
    printed = text.length;
    return piece;
  };
  return { next: (ids) => take(ids, false), end: (ids) => take(ids, true) };
}
