/**
 * The shape of a decoder-only transformer as far as one layer's cost is concerned: sequence
 * length L, model dimension D, query heads n_H (head dimension H = D / n_H), key/value heads
 * n_KV (grouped-query attention when n_KV < n_H), FFN width F and kind, batch size B, the
 * element types of activations, weights and KV cache, and what the whole model adds around its
 * layers (vocabulary, norms, positions, biases). {@linkcode modelConfig} validates a
 * configuration, starting from a preset or from a Hugging Face `config.json`
 * ({@linkcode presetFromHfConfig}).
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
 * Element types and their width in bits (int4 packs two elements per byte).
 * @example
 * ```ts
 * DTYPE_BITS.int4; // 4
 * ```
 */
export const DTYPE_BITS = { fp32: 32, fp16: 16, bf16: 16, fp8: 8, int8: 8, int4: 4 } as const;

/** An element type: `fp32`, `fp16`, `bf16`, `fp8`, `int8` or `int4`. */
export type Dtype = keyof typeof DTYPE_BITS;

/**
 * The element types, in the order help texts list them.
 * @example
 * ```ts
 * DTYPES.includes("fp8"); // true
 * ```
 */
export const DTYPES: readonly Dtype[] = Object.keys(DTYPE_BITS) as Dtype[];

/**
 * Bytes per element of `dtype` (0.5 for int4).
 * @example
 * ```ts
 * dtypeBytes("int4"); // 0.5
 * ```
 */
export function dtypeBytes(dtype: Dtype): number {
  return DTYPE_BITS[dtype] / 8;
}

/**
 * The feed-forward block's kinds.
 * @example
 * ```ts
 * FFN_KINDS.includes("gated"); // true
 * ```
 */
export const FFN_KINDS = ["mlp", "gated"] as const;

/**
 * `mlp`: A = Out·W¹, A' = act(A), x' = A'·W² (the handout and OPT with relu, GPT-2 with gelu).
 * `gated`: A = Out·W^gate, U = Out·W^up, A' = SiLU(A) ⊙ U, x' = A'·W^down (Llama's SwiGLU).
 */
export type FfnKind = typeof FFN_KINDS[number];

/**
 * Activation functions of an `mlp` FFN (a gated FFN always uses SiLU).
 * @example
 * ```ts
 * ACTIVATIONS; // ["relu", "gelu"]
 * ```
 */
export const ACTIVATIONS = ["relu", "gelu"] as const;

/** An `mlp` FFN's activation. */
export type Activation = typeof ACTIVATIONS[number];

/** Normalisation layers: LayerNorm (GPT-2, OPT) or RMSNorm (Llama, Mistral, Qwen). */
export type NormKind = "layernorm" | "rmsnorm";

/** How positions enter: learned table added to the embeddings, rotary on Q and K, or none. */
export type PositionKind = "learned" | "rotary" | "none";

/** Which linear layers carry a bias: none (Llama), Q/K/V only (Qwen2), all (GPT-2, OPT). */
export type BiasKind = "none" | "qkv" | "all";

/** Everything one layer's (and the whole model's) cost depends on. */
export interface ModelConfig {
  /** Preset this configuration started from, if any. */
  readonly preset?: string;
  /** Human-readable name. */
  readonly name: string;
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
  /** Activation of an `mlp` FFN. */
  readonly activation: Activation;
  /** B: sequences processed together. */
  readonly batch: number;
  /** Element type of activations, and of the arithmetic (the peak FLOP/s a roof uses). */
  readonly dtype: Dtype;
  /** Element type of the linear layers' weights (the LM head's included). */
  readonly weightDtype: Dtype;
  /** Element type of the KV cache. */
  readonly kvDtype: Dtype;
  /** Transformer layers (for whole-model totals). */
  readonly layers: number;
  /** Vocabulary size, for the embeddings and the LM head; absent for a lone layer. */
  readonly vocab?: number;
  /** Width of the token embeddings when it differs from D (OPT-350m's 512, projected in and out). */
  readonly embedDim?: number;
  /** The LM head reuses the token embedding matrix. */
  readonly tiedEmbeddings: boolean;
  /** Normalisation layer kind. */
  readonly norm: NormKind;
  /** A norm after the last layer (absent in post-LN OPT-350m). */
  readonly finalNorm: boolean;
  /** Position encoding. */
  readonly positions: PositionKind;
  /** Rows of a learned position table (context length, plus OPT's offset of 2). */
  readonly maxPositions?: number;
  /** Biases of the linear layers. */
  readonly bias: BiasKind;
}

/** A named model shape with where its numbers come from. */
export interface ModelPreset extends
  Omit<
    ModelConfig,
    "preset" | "batch" | "dtype" | "weightDtype" | "kvDtype" | "activation" | "finalNorm"
  > {
  /** Activation of an `mlp` FFN; default relu. */
  readonly activation?: Activation;
  /** Default true. */
  readonly finalNorm?: boolean;
  /** Where the numbers come from. */
  readonly source: string;
}

const LLAMA = {
  ffnKind: "gated",
  norm: "rmsnorm",
  positions: "rotary",
  bias: "none",
  tiedEmbeddings: false,
} as const;

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
    norm: "layernorm",
    positions: "none",
    bias: "none",
    tiedEmbeddings: true,
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
    vocab: 50272,
    embedDim: 512,
    tiedEmbeddings: true,
    norm: "layernorm",
    finalNorm: false,
    positions: "learned",
    maxPositions: 2050,
    bias: "all",
    source: "facebook/opt-350m config.json: hidden_size 1024, num_attention_heads 16, " +
      "ffn_dim 4096, num_hidden_layers 24, max_position_embeddings 2048 (+2 offset rows), " +
      "vocab_size 50272, word_embed_proj_dim 512, do_layer_norm_before false, activation relu",
  },
  "llama-2-7b": {
    ...LLAMA,
    name: "Llama-2-7B",
    seqLen: 4096,
    dModel: 4096,
    heads: 32,
    kvHeads: 32,
    ffn: 11008,
    layers: 32,
    vocab: 32000,
    source: "meta-llama/Llama-2-7b-hf config.json: hidden_size 4096, num_attention_heads 32, " +
      "num_key_value_heads 32, intermediate_size 11008, num_hidden_layers 32, " +
      "max_position_embeddings 4096, vocab_size 32000, hidden_act silu",
  },
  "llama-3-8b": {
    ...LLAMA,
    name: "Llama-3-8B",
    seqLen: 8192,
    dModel: 4096,
    heads: 32,
    kvHeads: 8,
    ffn: 14336,
    layers: 32,
    vocab: 128256,
    source: "meta-llama/Meta-Llama-3-8B config.json: hidden_size 4096, num_attention_heads 32, " +
      "num_key_value_heads 8, intermediate_size 14336, num_hidden_layers 32, " +
      "max_position_embeddings 8192, vocab_size 128256, hidden_act silu",
  },
  "mistral-7b": {
    ...LLAMA,
    name: "Mistral-7B",
    seqLen: 8192,
    dModel: 4096,
    heads: 32,
    kvHeads: 8,
    ffn: 14336,
    layers: 32,
    vocab: 32000,
    source: "mistralai/Mistral-7B-v0.1 config.json: hidden_size 4096, num_attention_heads 32, " +
      "num_key_value_heads 8, intermediate_size 14336, num_hidden_layers 32, " +
      "vocab_size 32000, hidden_act silu (sequence length here: 8192)",
  },
  "qwen2.5-7b": {
    ...LLAMA,
    name: "Qwen2.5-7B",
    seqLen: 8192,
    dModel: 3584,
    heads: 28,
    kvHeads: 4,
    ffn: 18944,
    layers: 28,
    vocab: 152064,
    bias: "qkv",
    source: "Qwen/Qwen2.5-7B config.json: hidden_size 3584, num_attention_heads 28, " +
      "num_key_value_heads 4, intermediate_size 18944, num_hidden_layers 28, " +
      "vocab_size 152064, tie_word_embeddings false, Q/K/V biases (sequence length here: 8192)",
  },
  "llama-3-70b": {
    ...LLAMA,
    name: "Llama-3-70B",
    seqLen: 8192,
    dModel: 8192,
    heads: 64,
    kvHeads: 8,
    ffn: 28672,
    layers: 80,
    vocab: 128256,
    source: "meta-llama/Meta-Llama-3-70B config.json: hidden_size 8192, " +
      "num_attention_heads 64, num_key_value_heads 8, intermediate_size 28672, " +
      "num_hidden_layers 80, max_position_embeddings 8192, vocab_size 128256",
  },
};

/** Element types of activations (and arithmetic), weights and KV cache. */
export interface Precision {
  /** Activations and arithmetic. */
  readonly dtype: Dtype;
  /** Linear-layer weights. */
  readonly weightDtype: Dtype;
  /** KV cache. */
  readonly kvDtype: Dtype;
}

/**
 * Precision presets: `wXaY` is X-bit weights and Y-bit activations. Weight-only quantization
 * (w8a16, w4a16) still computes in FP16; w8a8 computes in INT8 and, as LLM-Viewer defaults it,
 * keeps the KV cache at the activations' width.
 * @example
 * ```ts
 * PRECISIONS.w4a16.weightDtype; // "int4"
 * ```
 */
export const PRECISIONS: Readonly<Record<string, Precision>> = {
  fp16: { dtype: "fp16", weightDtype: "fp16", kvDtype: "fp16" },
  bf16: { dtype: "bf16", weightDtype: "bf16", kvDtype: "bf16" },
  fp32: { dtype: "fp32", weightDtype: "fp32", kvDtype: "fp32" },
  w8a16: { dtype: "fp16", weightDtype: "int8", kvDtype: "fp16" },
  w4a16: { dtype: "fp16", weightDtype: "int4", kvDtype: "fp16" },
  w8a8: { dtype: "int8", weightDtype: "int8", kvDtype: "int8" },
  fp8: { dtype: "fp8", weightDtype: "fp8", kvDtype: "fp8" },
};

/** Options of {@linkcode modelConfig}: a preset (default `handout`) and any overrides. */
export interface ModelConfigOptions extends Partial<Omit<ModelConfig, "preset">> {
  /** Name of a {@linkcode MODEL_PRESETS} entry; default `handout`. */
  readonly preset?: string;
  /** Start from this shape instead of a preset (e.g. {@linkcode presetFromHfConfig}'s). */
  readonly base?: ModelPreset;
}

/**
 * A validated configuration: the preset's shape (default `handout`), batch 1 and FP16, with
 * `options` overriding any field. Setting `heads` without `kvHeads` keeps attention multi-head;
 * setting `dtype` alone sets the weights and the KV cache to it too.
 * @throws {RangeError} naming the bad value and what is allowed.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const c = modelConfig({ seqLen: 512, batch: 8, dtype: "int8" });
 * assertEquals([c.dModel, c.weightDtype, c.kvDtype], [4096, "int8", "int8"]);
 * ```
 */
export function modelConfig(options: ModelConfigOptions = {}): ModelConfig {
  const presetName = options.preset ?? (options.base ? undefined : "handout");
  const preset = options.base ??
    (Object.hasOwn(MODEL_PRESETS, presetName!) ? MODEL_PRESETS[presetName!] : undefined);
  if (preset === undefined) {
    throw new RangeError(
      `unknown model preset "${presetName}"; known: ${Object.keys(MODEL_PRESETS).join(", ")}`,
    );
  }
  const heads = options.heads ?? preset.heads;
  const dtype = options.dtype ?? "fp16";
  const pick = <K extends keyof ModelConfig>(key: K, fallback: ModelConfig[K]) =>
    (options[key as keyof ModelConfigOptions] ?? fallback) as ModelConfig[K];
  const config: ModelConfig = {
    ...(presetName === undefined ? {} : { preset: presetName }),
    name: pick("name", preset.name),
    seqLen: pick("seqLen", preset.seqLen),
    dModel: pick("dModel", preset.dModel),
    heads,
    kvHeads: options.kvHeads ?? (options.heads === undefined ? preset.kvHeads : heads),
    ffn: pick("ffn", preset.ffn),
    ffnKind: pick("ffnKind", preset.ffnKind),
    activation: pick("activation", preset.activation ?? "relu"),
    batch: pick("batch", 1),
    dtype,
    weightDtype: pick("weightDtype", dtype),
    kvDtype: pick("kvDtype", dtype),
    layers: pick("layers", preset.layers),
    ...(options.vocab ?? preset.vocab) === undefined
      ? {}
      : { vocab: options.vocab ?? preset.vocab },
    ...(options.embedDim ?? preset.embedDim) === undefined
      ? {}
      : { embedDim: options.embedDim ?? preset.embedDim },
    tiedEmbeddings: pick("tiedEmbeddings", preset.tiedEmbeddings),
    norm: pick("norm", preset.norm),
    finalNorm: pick("finalNorm", preset.finalNorm ?? true),
    positions: pick("positions", preset.positions),
    ...(options.maxPositions ?? preset.maxPositions) === undefined
      ? {}
      : { maxPositions: options.maxPositions ?? preset.maxPositions },
    bias: pick("bias", preset.bias),
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

const OPTIONAL_SIZES = ["vocab", "embedDim", "maxPositions"] as const;

function oneOfOrThrow(name: string, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) {
    throw new RangeError(`unknown ${name} "${value}"; allowed: ${allowed.join(", ")}`);
  }
}

/**
 * Checks a configuration: positive integer sizes, D divisible by n_H, n_H divisible by n_KV,
 * known element types, FFN kind, activation, norm, positions and biases.
 * @throws {RangeError} naming the bad value and what is allowed.
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * validateConfig(modelConfig({ preset: "opt-350m" }));
 * assertThrows(() => validateConfig({ ...modelConfig(), heads: 3 }), RangeError, "divisible");
 * ```
 */
export function validateConfig(config: ModelConfig): void {
  const positive = (label: string, v: unknown) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`${label} must be a positive integer, got ${v}`);
    }
  };
  for (const [key, label] of Object.entries(SIZE_NAMES)) {
    positive(label, config[key as keyof typeof SIZE_NAMES]);
  }
  for (const key of OPTIONAL_SIZES) {
    if (config[key] !== undefined) positive(key, config[key]);
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
  for (const key of ["dtype", "weightDtype", "kvDtype"] as const) {
    oneOfOrThrow(key, config[key], DTYPES);
  }
  oneOfOrThrow("ffnKind", config.ffnKind, FFN_KINDS);
  oneOfOrThrow("activation", config.activation, ACTIVATIONS);
  oneOfOrThrow("norm", config.norm, ["layernorm", "rmsnorm"]);
  oneOfOrThrow("positions", config.positions, ["learned", "rotary", "none"]);
  oneOfOrThrow("bias", config.bias, ["none", "qkv", "all"]);
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
 * Bytes per element of the activations (the configuration's `dtype`).
 * @example
 * ```ts
 * bytesPerElement(modelConfig({ dtype: "fp32" })); // 4
 * ```
 */
export function bytesPerElement(config: ModelConfig): number {
  return dtypeBytes(config.dtype);
}

/** True when activations, weights and KV cache share one element type. */
export function uniformPrecision(config: ModelConfig): boolean {
  return config.weightDtype === config.dtype && config.kvDtype === config.dtype;
}

/**
 * A model shape read from a Hugging Face `config.json` (GPT-2, OPT, Llama, Mistral, Qwen2 and
 * kin: `hidden_size`/`n_embd`/`d_model`, `num_attention_heads`/`n_head`,
 * `num_key_value_heads`, `intermediate_size`/`ffn_dim`/`n_inner`, `num_hidden_layers`/`n_layer`,
 * `max_position_embeddings`/`n_positions`, `vocab_size`, `tie_word_embeddings`).
 * @throws {TypeError} naming `origin` and the key that is missing or wrong.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const p = presetFromHfConfig({ model_type: "gpt2", n_embd: 192, n_head: 4, n_layer: 4,
 *   n_positions: 256, vocab_size: 4096, activation_function: "gelu_new" }, "config.json");
 * assertEquals([p.ffn, p.activation, p.norm], [768, "gelu", "layernorm"]);
 * ```
 */
export function presetFromHfConfig(json: unknown, origin: string): ModelPreset {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new TypeError(`${origin}: expected a JSON object (a Hugging Face config.json)`);
  }
  const c = json as Record<string, unknown>;
  const get = (...keys: string[]): number | undefined => {
    for (const key of keys) {
      if (!Object.hasOwn(c, key) || c[key] === null) continue;
      const v = c[key];
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
        throw new TypeError(`${origin}: ${key} must be a positive integer, got ${v}`);
      }
      return v;
    }
    return undefined;
  };
  const need = (...keys: string[]): number => {
    const v = get(...keys);
    if (v === undefined) throw new TypeError(`${origin}: needs ${keys.join(" or ")}`);
    return v;
  };
  const type = typeof c.model_type === "string" ? c.model_type : "unknown";
  const dModel = need("hidden_size", "n_embd", "d_model");
  const heads = need("num_attention_heads", "n_head");
  const act = String(c.hidden_act ?? c.activation_function ?? c.hidden_activation ?? "relu");
  const gated = ["llama", "mistral", "qwen2", "qwen3", "gemma", "phi3", "mixtral"].includes(type) ||
    (act === "silu" && get("intermediate_size") !== undefined);
  const llamaLike = gated;
  const positionsRows = get("max_position_embeddings", "n_positions", "n_ctx");
  const learned = ["gpt2", "opt", "gpt_neo", "gpt_bigcode"].includes(type);
  const embedDim = get("word_embed_proj_dim");
  return {
    name: typeof c._name_or_path === "string" && c._name_or_path !== ""
      ? c._name_or_path
      : `${type} (${origin})`,
    seqLen: positionsRows ?? 2048,
    dModel,
    heads,
    kvHeads: get("num_key_value_heads") ?? heads,
    ffn: get("intermediate_size", "ffn_dim", "n_inner") ?? 4 * dModel,
    ffnKind: gated ? "gated" : "mlp",
    activation: act.startsWith("gelu") ? "gelu" : "relu",
    layers: need("num_hidden_layers", "n_layer", "num_layers"),
    vocab: need("vocab_size"),
    ...(embedDim !== undefined && embedDim !== dModel ? { embedDim } : {}),
    tiedEmbeddings: typeof c.tie_word_embeddings === "boolean" ? c.tie_word_embeddings : !llamaLike,
    norm: llamaLike ? "rmsnorm" : "layernorm",
    finalNorm: type === "opt" ? c.do_layer_norm_before !== false : true,
    positions: learned ? "learned" : llamaLike ? "rotary" : "none",
    ...(learned && positionsRows !== undefined
      ? { maxPositions: positionsRows + (type === "opt" ? 2 : 0) }
      : {}),
    bias: llamaLike ? (type.startsWith("qwen2") ? "qkv" : "none") : "all",
    source: `${origin} (model_type ${type})`,
  };
}
