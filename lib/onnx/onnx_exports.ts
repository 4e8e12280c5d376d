/**
 * Where the ONNX export of a Hub model lives when the model's own repository has none: the
 * Xenova and onnx-community repositories that transformers.js documents for OPT, GPT-2,
 * DistilGPT-2, Llama, Qwen, SmolLM and TinyLlama. `facebook/opt-350m`, the handout's model, has
 * only PyTorch, TensorFlow and Flax weights; its export is `Xenova/opt-350m`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { onnxExportOf } from "./onnx_exports.ts";
 * assertEquals(onnxExportOf("facebook/opt-350m"), "Xenova/opt-350m");
 * assertEquals(onnxExportOf("meta-llama/Llama-3.2-1B-Instruct"), "onnx-community/Llama-3.2-1B-Instruct");
 * assertEquals(onnxExportOf("someone/some-model"), undefined);
 * ```
 * @module
 */

/** One family's rule: the source id's pattern and the export repository it maps to. */
export interface ExportRule {
  /** The family, for messages. */
  family: string;
  /** Matches a source id; `$1` is the model name carried over. */
  source: RegExp;
  /** The export's owner; the name is `$1`. */
  owner: "Xenova" | "onnx-community";
}

/** The families transformers.js documents with ONNX exports, checked in order. */
export const EXPORT_RULES: readonly ExportRule[] = [
  { family: "OPT", source: /^facebook\/(opt-[\w.-]+)$/, owner: "Xenova" },
  {
    family: "GPT-2",
    source: /^(?:openai-community\/)?(gpt2(?:-medium|-large|-xl)?)$/,
    owner: "Xenova",
  },
  { family: "DistilGPT-2", source: /^(?:distilbert\/)?(distilgpt2)$/, owner: "Xenova" },
  { family: "TinyLlama", source: /^TinyLlama\/(TinyLlama-[\w.-]+)$/, owner: "Xenova" },
  { family: "Llama", source: /^meta-llama\/(Llama-3\.2-[\w.-]+)$/, owner: "onnx-community" },
  { family: "Qwen", source: /^Qwen\/(Qwen[\w.-]+)$/, owner: "onnx-community" },
  { family: "SmolLM", source: /^HuggingFaceTB\/(SmolLM[\w.-]+)$/, owner: "onnx-community" },
];

/**
 * The ONNX export repository of `id`, or `undefined` when no documented family matches (an id
 * already under Xenova/ or onnx-community/ maps to nothing: it is an export).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(onnxExportOf("gpt2"), "Xenova/gpt2");
 * assertEquals(onnxExportOf("Xenova/opt-350m"), undefined);
 * ```
 */
export function onnxExportOf(id: string): string | undefined {
  for (const rule of EXPORT_RULES) {
    const m = id.match(rule.source);
    if (m) return `${rule.owner}/${m[1]}`;
  }
  return undefined;
}

/**
 * What to tell a user whose model has no ONNX files and no known export.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * assertStringIncludes(noExportAdvice("acme/widget-7b"), "onnx-community/widget-7b");
 * ```
 */
export function noExportAdvice(id: string): string {
  const name = id.includes("/") ? id.slice(id.indexOf("/") + 1) : id;
  return `${id} has no ONNX files and no known ONNX export; pass an ONNX export of it with ` +
    `--model, e.g. onnx-community/${name} or Xenova/${name} if one exists ` +
    `(https://huggingface.co/models?library=transformers.js&search=${encodeURIComponent(name)}), ` +
    `or a local folder holding config.json, tokenizer.json and onnx/model.onnx`;
}
