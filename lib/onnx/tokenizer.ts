/**
 * Text to token ids and back for a model folder, with Hugging Face's own JavaScript tokenizer
 * (`@huggingface/tokenizers`) reading the folder's `tokenizer.json` and `tokenizer_config.json`,
 * plus a streaming decoder that prints text as tokens arrive without splitting a multi-byte
 * character.
 *
 * Special tokens are added as transformers.js's text-generation pipeline adds them: only when
 * `tokenizer_config.json` sets `add_bos_token` or `add_eos_token` (OPT: its post-processor then
 * prepends `</s>`). Chat templates are rendered with `@huggingface/jinja` as transformers.js's
 * `apply_chat_template` renders them (messages, `add_generation_prompt`, the special tokens by
 * name), and the result is encoded without special tokens.
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./tokenizer.ts";
 * const tokenizer = await loadTokenizer("data/models/brown-gpt2");
 * tokenizer.decode(tokenizer.encode("What is Apple?")); // "What is Apple?"
 * ```
 * @module
 */
import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import { readJsonFile } from "./config.ts";

/** One turn of a chat. */
export interface ChatMessage {
  /** `system`, `user` or `assistant`. */
  role: string;
  /** The turn's text. */
  content: string;
}

/** Encoding and decoding as a generation script uses them. */
export interface TextTokenizer {
  /** Token ids of `text`, with special tokens when the config asks for them (as transformers.js). */
  encode(text: string): number[];
  /** The chat template applied to `messages` with the generation prompt; throws without one. */
  applyChatTemplate(messages: readonly ChatMessage[]): string;
  /** Token ids of a rendered chat (no special tokens added: the template holds them). */
  encodeChat(messages: readonly ChatMessage[]): number[];
  /** Whether `tokenizer_config.json` has a chat template. */
  readonly hasChatTemplate: boolean;
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
  const [json, config] = [
    await readJsonFile(`${folder}/tokenizer.json`),
    await readJsonFile(`${folder}/tokenizer_config.json`),
  ];
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (e) {
    throw new Error(
      `${folder}/tokenizer.json (with tokenizer_config.json) is not a usable tokenizer: ` +
        (e as Error).message,
    );
  }
  const addSpecialTokens = Boolean(config.add_bos_token || config.add_eos_token);
  const template = typeof config.chat_template === "string"
    ? config.chat_template
    : Array.isArray(config.chat_template)
    ? (config.chat_template as { name: string; template: string }[])
      .find((t) => t.name === "default")?.template
    : undefined;
  let compiled: Template | undefined;
  const specials: Record<string, string> = {};
  for (
    const key of [
      "bos_token",
      "eos_token",
      "unk_token",
      "sep_token",
      "pad_token",
      "cls_token",
      "mask_token",
    ]
  ) {
    const v = config[key] as string | { content?: unknown } | undefined;
    const text = typeof v === "string" ? v : typeof v?.content === "string" ? v.content : undefined;
    if (text) specials[key] = text;
  }
  const applyChatTemplate = (messages: readonly ChatMessage[]) => {
    if (!template) {
      throw new Error(
        `${folder}/tokenizer_config.json has no chat_template; --chat needs an instruct model ` +
          `(one whose tokenizer_config.json has a chat_template)`,
      );
    }
    compiled ??= new Template(template);
    return compiled.render({ messages, add_generation_prompt: true, ...specials });
  };
  return {
    encode: (text) => tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids,
    applyChatTemplate,
    encodeChat: (messages) =>
      tokenizer.encode(applyChatTemplate(messages), { add_special_tokens: false }).ids,
    hasChatTemplate: template !== undefined,
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
