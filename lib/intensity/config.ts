/**
 * The shape of a decoder-only transformer as far as one layer's cost is concerned: sequence
 * length L, model dimension D, query heads n_H (head dimension H = D / n_H), key/value heads
 * n_KV (grouped-query attention when n_KV < n_H), FFN width F and kind, batch size B and the
 * element type. {@linkcode modelConfig} validates a configuration, starting from a preset.
 *
 * @example
 * ```ts
 * import { headDim, modelConfig } from "./config.ts";
 * const c = modelConfig({ preset: "llama-3-8b", seqLen: 2048 });
 * headDim(c); // 128
 * c.kvHeads; // 8
 * ```
 * @module
 */

/**
 * Element types and their size in bytes.
 * @example
 * ```ts
 * DTYPE_BYTES.int8; // 1
 * ```
 */
export const DTYPE_BYTES = { fp32: 4, fp16: 2, bf16: 2, int8: 1 } as const;

/** An element type: `fp32`, `fp16`, `bf16` or `int8`. */
export type Dtype = keyof typeof DTYPE_BYTES;

/**
 * The feed-forward block's kinds.
 * @example
 * ```ts
 * FFN_KINDS.includes("gated"); // true
 * ```
 */
export const FFN_KINDS = ["mlp", "gated"] as const;

/**
 * `mlp`: A = Out·W¹, A' = relu(A), x' = A'·W² (the handout, OPT, GPT-2).
 * `gated`: A = Out·W^gate, U = Out·W^up, A' = SiLU(A) ⊙ U, x' = A'·W^down (Llama's SwiGLU).
 */
export type FfnKind = typeof FFN_KINDS[number];

/** Everything one layer's cost depends on. */
export interface ModelConfig {
  /** Preset this configuration started from, if any. */
  readonly preset?: string;
  /** L: prompt length (prefill rows; decode attends to L cached tokens plus the new one). */
  readonly seqLen: number;
  /** D: model dimension. */
  readonly dModel: number;
  /** n_H: query heads. */
  readonly heads: number;
  /** n_KV: key/value heads; equal to `heads` for multi-head attention. */
  readonly kvHeads: number;
  /** F: FFN inner width (4D in the handout). */
  readonly ffn: number;
  /** Feed-forward kind. */
  readonly ffnKind: FfnKind;
  /** B: sequences processed together. */
  readonly batch: number;
  /** Element type of weights, activations and KV cache. */
  readonly dtype: Dtype;
  /** Transformer layers (for whole-model totals). */
  readonly layers: number;
}

/** A named model shape with where its numbers come from. */
export interface ModelPreset extends Omit<ModelConfig, "preset" | "batch" | "dtype"> {
  /** Human-readable name. */
  readonly name: string;
  /** Where the numbers come from. */
  readonly source: string;
}

/**
 * Model presets: the handout's shapes and real models' published configurations.
 * @example
 * ```ts
 * MODEL_PRESETS["llama-3-8b"].kvHeads; // 8
 * ```
 */
export const MODEL_PRESETS: Readonly<Record<string, ModelPreset>> = {
  handout: {
    name: "Homework 3 (one layer)",
    seqLen: 4096,
    dModel: 4096,
    heads: 32,
    kvHeads: 32,
    ffn: 16384,
    ffnKind: "mlp",
    layers: 1,
    source: "COMP4901Y Homework 3, Question 1: L = 4096, D = 4096, n_H = 32, H = 128, FFN 4D",
  },
  "opt-350m": {
    name: "OPT-350m",
    seqLen: 2048,
    dModel: 1024,
    heads: 16,
    kvHeads: 16,
    ffn: 4096,
    ffnKind: "mlp",
    layers: 24,
    source: "facebook/opt-350m config.json: hidden_size 1024, num_attention_heads 16, " +
      "ffn_dim 4096, num_hidden_layers 24, max_position_embeddings 2048, activation relu",
  },
  "llama-2-7b": {
    name: "Llama-2-7B",
    seqLen: 4096,
    dModel: 4096,
    heads: 32,
    kvHeads: 32,
    ffn: 11008,
    ffnKind: "gated",
    layers: 32,
    source: "meta-llama/Llama-2-7b-hf config.json: hidden_size 4096, num_attention_heads 32, " +
      "num_key_value_heads 32, intermediate_size 11008, num_hidden_layers 32, " +
      "max_position_embeddings 4096, hidden_act silu",
  },
  "llama-3-8b": {
    name: "Llama-3-8B",
    seqLen: 8192,
    dModel: 4096,
    heads: 32,
    kvHeads: 8,
    ffn: 14336,
    ffnKind: "gated",
    layers: 32,
    source: "meta-llama/Meta-Llama-3-8B config.json: hidden_size 4096, num_attention_heads 32, " +
      "num_key_value_heads 8, intermediate_size 14336, num_hidden_layers 32, " +
      "max_position_embeddings 8192, hidden_act silu",
  },
};

/** Options of {@linkcode modelConfig}: a preset (default `handout`) and any overrides. */
export interface ModelConfigOptions extends Partial<Omit<ModelConfig, "preset">> {
  /** Name of a {@linkcode MODEL_PRESETS} entry; default `handout`. */
  readonly preset?: string;
}

/**
 * A validated configuration: the preset's shape (default `handout`), batch 1 and FP16, with
 * `options` overriding any field. Setting `heads` without `kvHeads` keeps attention multi-head.
 * @throws {RangeError} naming the bad value and what is allowed.
 * @example
 * ```ts
 * modelConfig({ seqLen: 512, batch: 8, dtype: "int8" }).dModel; // 4096
 * ```
 */
export function modelConfig(options: ModelConfigOptions = {}): ModelConfig {
  const presetName = options.preset ?? "handout";
  const preset = MODEL_PRESETS[presetName];
  if (preset === undefined) {
    throw new RangeError(
      `unknown model preset "${presetName}"; known: ${Object.keys(MODEL_PRESETS).join(", ")}`,
    );
  }
  const heads = options.heads ?? preset.heads;
  const config: ModelConfig = {
    preset: presetName,
    seqLen: options.seqLen ?? preset.seqLen,
    dModel: options.dModel ?? preset.dModel,
    heads,
    kvHeads: options.kvHeads ?? (options.heads === undefined ? preset.kvHeads : heads),
    ffn: options.ffn ?? preset.ffn,
    ffnKind: options.ffnKind ?? preset.ffnKind,
    batch: options.batch ?? 1,
    dtype: options.dtype ?? "fp16",
    layers: options.layers ?? preset.layers,
  };
  validateConfig(config);
  return config;
}

/** Symbols of the sizes, as error messages name them. */
const SIZE_NAMES = {
  seqLen: "seqLen (L)",
  dModel: "dModel (D)",
  heads: "heads (n_H)",
  kvHeads: "kvHeads (n_KV)",
  ffn: "ffn (F)",
  batch: "batch (B)",
  layers: "layers",
} as const;

/**
 * Checks a configuration: positive integer sizes, D divisible by n_H, n_H divisible by n_KV,
 * a known dtype and FFN kind.
 * @throws {RangeError} naming the bad value and what is allowed.
 * @example
 * ```ts
 * validateConfig(modelConfig({ preset: "opt-350m" })); // fine
 * try {
 *   validateConfig({ ...modelConfig(), heads: 3 });
 * } catch (e) {
 *   (e as RangeError).message; // "dModel (D) = 4096 is not divisible by heads (n_H) = 3; …"
 * }
 * ```
 */
export function validateConfig(config: ModelConfig): void {
  for (const [key, label] of Object.entries(SIZE_NAMES)) {
    const v = config[key as keyof typeof SIZE_NAMES];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`${label} must be a positive integer, got ${v}`);
    }
  }
  if (config.dModel % config.heads !== 0) {
    throw new RangeError(
      `dModel (D) = ${config.dModel} is not divisible by heads (n_H) = ${config.heads}; ` +
        `the head dimension H = D / n_H must be an integer`,
    );
  }
  if (config.kvHeads > config.heads || config.heads % config.kvHeads !== 0) {
    throw new RangeError(
      `heads (n_H) = ${config.heads} is not divisible by kvHeads (n_KV) = ${config.kvHeads}; ` +
        `n_KV must divide n_H (n_KV = n_H is multi-head, n_KV = 1 multi-query attention)`,
    );
  }
  if (!Object.hasOwn(DTYPE_BYTES, config.dtype)) {
    throw new RangeError(
      `unknown dtype "${config.dtype}"; allowed: ${Object.keys(DTYPE_BYTES).join(", ")}`,
    );
  }
  if (!(FFN_KINDS as readonly string[]).includes(config.ffnKind)) {
    throw new RangeError(
      `unknown ffnKind "${config.ffnKind}"; allowed: ${FFN_KINDS.join(", ")}`,
    );
  }
}

/**
 * H = D / n_H.
 * @example
 * ```ts
 * headDim(modelConfig()); // 128
 * ```
 */
export function headDim(config: ModelConfig): number {
  return config.dModel / config.heads;
}

/**
 * Bytes per element of the configuration's dtype.
 * @example
 * ```ts
 * bytesPerElement(modelConfig({ dtype: "fp32" })); // 4
 * ```
 */
export function bytesPerElement(config: ModelConfig): number {
  return DTYPE_BYTES[config.dtype];
}
