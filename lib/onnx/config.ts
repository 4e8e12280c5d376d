/**
 * A decoder-only model's geometry from its Hugging Face `config.json` (and end-of-sequence ids
 * from `generation_config.json`): layers, attention heads, key/value heads, head dimension,
 * hidden size, vocabulary. GPT-2 style names (`n_layer`, `n_head`, `n_embd`) and the names of
 * most other decoders (`num_hidden_layers`, `num_attention_heads`, `hidden_size`,
 * `num_key_value_heads`, `head_dim`) are both understood.
 *
 * @example
 * ```ts
 * import { modelGeometry } from "./config.ts";
 * const g = modelGeometry({ model_type: "gpt2", n_layer: 12, n_head: 12, n_embd: 768, vocab_size: 50257, eos_token_id: 50256 });
 * g.headDim; // 64
 * ```
 * @module
 */

/** The shapes that decoding with a KV cache needs to know. */
export interface ModelGeometry {
  /** `model_type` from config.json (e.g. `gpt2`, `opt`, `llama`). */
  modelType: string;
  /** Transformer layers; one key and one value cache tensor each. */
  layers: number;
  /** Query heads per layer. */
  heads: number;
  /** Key/value heads per layer (fewer than `heads` with grouped-query attention). */
  kvHeads: number;
  /** Dimension of one head. */
  headDim: number;
  /** Model (hidden) dimension D. */
  hiddenSize: number;
  /** Vocabulary size as configured (the logits' last dimension may be padded beyond it). */
  vocabSize: number;
  /** Longest sequence the position embeddings allow, when the config says. */
  maxPositions?: number;
  /** Width of the token embeddings when it differs from the hidden size (OPT-350m: 512). */
  embedDim?: number;
  /** End-of-sequence ids (generation_config.json first, then config.json). */
  eosTokenIds: number[];
  /** Beginning-of-sequence id, when configured. */
  bosTokenId?: number;
}

/** A parsed JSON object such as `config.json`. */
export type Json = Record<string, unknown>;

/**
 * Reads and parses a JSON file; errors name the file and say whether it is missing or broken.
 * With `optional`, a missing file reads as `{}`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals((await readJsonFile("data/models/brown-gpt2/config.json")).model_type, "gpt2");
 * assertEquals(await readJsonFile("no/such/file.json", { optional: true }), {});
 * ```
 */
export async function readJsonFile(
  path: string,
  { optional = false }: { optional?: boolean } = {},
): Promise<Json> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (optional && e instanceof Deno.errors.NotFound) return {};
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Reads the geometry out of parsed `config.json` (and optional `generation_config.json`).
 * Throws naming the missing field when the config lacks layers, heads or hidden size.
 * @example
 * ```ts
 * modelGeometry({ model_type: "llama", num_hidden_layers: 2, num_attention_heads: 4,
 *   num_key_value_heads: 2, hidden_size: 64, vocab_size: 100, eos_token_id: [1, 2] }).kvHeads; // 2
 * ```
 */
export function modelGeometry(config: Json, generationConfig: Json = {}): ModelGeometry {
  const modelType = typeof config.model_type === "string" ? config.model_type : "unknown";
  const layers = field(config, ["n_layer", "num_hidden_layers", "num_layers"], modelType);
  const heads = field(config, ["n_head", "num_attention_heads", "num_heads"], modelType);
  const hiddenSize = field(config, ["n_embd", "hidden_size", "d_model"], modelType);
  const kvHeads = optionalField(config, ["num_key_value_heads", "n_kv_heads"]) ?? heads;
  const headDim = optionalField(config, ["head_dim"]) ?? hiddenSize / heads;
  if (!Number.isInteger(headDim)) {
    throw new Error(
      `config.json: hidden size ${hiddenSize} is not a multiple of the ${heads} heads`,
    );
  }
  const vocabSize = field(config, ["vocab_size"], modelType);
  const eos = generationConfig.eos_token_id ?? config.eos_token_id;
  const eosTokenIds = (Array.isArray(eos) ? eos : eos === undefined || eos === null ? [] : [eos])
    .map(Number);
  const bos = generationConfig.bos_token_id ?? config.bos_token_id;
  const maxPositions = optionalField(config, ["n_positions", "max_position_embeddings"]);
  const embedDim = optionalField(config, ["word_embed_proj_dim"]);
  return {
    modelType,
    layers,
    heads,
    kvHeads,
    headDim,
    hiddenSize,
    vocabSize,
    ...(maxPositions !== undefined ? { maxPositions } : {}),
    ...(embedDim !== undefined && embedDim !== hiddenSize ? { embedDim } : {}),
    eosTokenIds,
    ...(typeof bos === "number" ? { bosTokenId: bos } : {}),
  };
}

function optionalField(config: Json, names: readonly string[]): number | undefined {
  for (const name of names) {
    const v = config[name];
    if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  }
  return undefined;
}

function field(config: Json, names: readonly string[], modelType: string): number {
  const v = optionalField(config, names);
  if (v === undefined) {
    throw new Error(
      `config.json (model_type ${modelType}) has no positive integer ${names.join(" / ")}`,
    );
  }
  return v;
}
