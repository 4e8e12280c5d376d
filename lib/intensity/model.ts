/**
 * The whole model: its layers (from {@linkcode layerCost}) times the layer count, plus what
 * surrounds them (embeddings, learned positions, OPT-350m's projections in and out, the final
 * norm and the LM head); its parameters and memory footprint, the largest batch a GPU's
 * memory holds, a request's latency from the roofline (time to first token, time per output
 * token, tokens/s) and the batch at which a decode step turns compute-bound.
 *
 * Conventions beyond the layer's:
 * - linear weights (the LM head's included) are stored at the weight dtype; embedding tables,
 *   norm parameters and biases at the activation dtype (quantizers leave them alone);
 * - the LM head runs on the last position only at prefill (what generation needs; `logits:
 *   "all"` for a plain forward pass);
 * - peak activation memory is the largest single operation's activations (inputs and output)
 *   plus the residual stream held across it;
 * - each operation takes max(FLOPs / peak, bytes / bandwidth) and a phase is their sum (no
 *   overlap between kernels); the first output token comes from prefill, each later one from a
 *   decode step attending to every token before it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { modelConfig } from "./config.ts";
 * import { parameterCount } from "./model.ts";
 * assertEquals(parameterCount(modelConfig({ preset: "llama-2-7b" })).total, 6738415616n);
 * ```
 * @module
 */
import { dtypeBytes, headDim, type ModelConfig, validateConfig } from "./config.ts";
import {
  type AttentionKind,
  costed,
  type CostedOp,
  type CostTotals,
  costTotals,
  elementBytes,
  ELEMENTWISE_FLOPS,
  layerCost,
} from "./layer_cost.ts";
import { kvCacheBytes, type Phase } from "./layer.ts";
import type { Roof } from "./roofline.ts";

/** Parameters by where they sit. */
export interface ParameterCount {
  /** Linear layers' weights, the LM head's included when it is not tied. */
  readonly linear: bigint;
  /** Token and position embeddings. */
  readonly embeddings: bigint;
  /** Norm parameters and biases. */
  readonly other: bigint;
  /** All of them. */
  readonly total: bigint;
}

function needVocab(config: ModelConfig): bigint {
  if (config.vocab === undefined) {
    throw new RangeError(
      `the whole model needs a vocabulary size; "${config.preset ?? config.name}" is one layer ` +
        `(give vocab, or choose a model preset or a config.json)`,
    );
  }
  return BigInt(config.vocab);
}

/**
 * Parameters of the model: per layer Q, K, V, O, the FFN's two (three) matrices, two norms and
 * the biases, times the layers; the token (and learned position) embeddings; OPT-350m's
 * projections; the final norm; an untied LM head.
 * @throws {RangeError} for a configuration without a vocabulary.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * parameterCount(modelConfig({ preset: "opt-350m" })).total; // 331196416n, as published
 * ```
 */
export function parameterCount(config: ModelConfig): ParameterCount {
  validateConfig(config);
  const V = needVocab(config), D = BigInt(config.dModel), F = BigInt(config.ffn);
  const kvN = BigInt(config.kvHeads * headDim(config)), L = BigInt(config.layers);
  const E = BigInt(config.embedDim ?? config.dModel);
  const ffnMatrices = config.ffnKind === "gated" ? 3n : 2n;
  const perLayerLinear = 2n * D * D + 2n * D * kvN + ffnMatrices * D * F;
  const normParams = config.norm === "layernorm" ? 2n * D : D;
  const biases = config.bias === "none"
    ? 0n
    : config.bias === "qkv"
    ? D + 2n * kvN
    : D + 2n * kvN + D + (ffnMatrices - 1n) * F + D;
  const projections = E === D ? 0n : 2n * E * D;
  const linear = L * perLayerLinear + projections + (config.tiedEmbeddings ? 0n : V * E);
  const embeddings = V * E +
    (config.positions === "learned" ? BigInt(config.maxPositions ?? config.seqLen) * D : 0n);
  const other = L * (2n * normParams + biases) + (config.finalNorm ? normParams : 0n);
  return { linear, embeddings, other, total: linear + embeddings + other };
}

/** Options of {@linkcode modelCost}. */
export interface ModelCostOptions {
  /**
   * Attention traffic.
   * @default {"unfused"}
   */
  readonly attention?: AttentionKind;
  /**
   * Positions the LM head runs on at prefill.
   * @default {"last"}
   */
  readonly logits?: "last" | "all";
}

/** One phase of the whole model. */
export interface ModelCost {
  /** Phase. */
  readonly phase: Phase;
  /** One layer's operations. */
  readonly layer: readonly CostedOp[];
  /** How many times the layer repeats. */
  readonly layers: number;
  /** Before the first layer: embeddings (and OPT-350m's projection in). */
  readonly head: readonly CostedOp[];
  /** After the last layer: final norm, projection out, LM head. */
  readonly tail: readonly CostedOp[];
  /** Layers × one layer, plus head and tail. */
  readonly totals: CostTotals;
}

/**
 * The whole model's operations and totals for one prefill pass over L tokens or one decode
 * step after L cached tokens, for the batch.
 * @throws {RangeError} for a configuration without a vocabulary.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const c = modelConfig({ preset: "llama-2-7b", seqLen: 1 });
 * modelCost(c, "prefill").totals.flops; // ≈ 2 × parameters for one token
 * ```
 */
export function modelCost(
  config: ModelConfig,
  phase: Phase,
  options: ModelCostOptions = {},
): ModelCost {
  const V = needVocab(config);
  const layer = layerCost(config, phase, { attention: options.attention });
  const a = dtypeBytes(config.dtype), w = dtypeBytes(config.weightDtype);
  const B = BigInt(config.batch), D = BigInt(config.dModel);
  const E = BigInt(config.embedDim ?? config.dModel);
  const queries = phase === "prefill" ? BigInt(config.seqLen) : 1n;
  const rows = B * queries;
  const logitRows = phase === "prefill" && (options.logits ?? "last") === "last" ? B : rows;
  const linear = (name: string, label: string, m: bigint, n: bigint, k: bigint) =>
    costed({
      name,
      label,
      kind: "matmul",
      flops: 2n * m * n * k,
      weightBytes: elementBytes(k * n, w),
      activationBytes: elementBytes(m * k, a) + elementBytes(m * n, a),
      convention: "2MNK; input read, weight read, output written",
    });
  const head: CostedOp[] = [costed({
    name: "embed_tokens",
    label: "x = E[tokens]",
    kind: "embedding",
    flops: 0n,
    weightBytes: elementBytes(rows * E, a),
    activationBytes: elementBytes(rows * E, a),
    convention: "a gather: one table row read and written per token",
  })];
  if (E !== D) head.push(linear("project_in", "x = x·W^in", rows, D, E));
  if (config.positions === "learned") {
    head.push(costed({
      name: "embed_positions",
      label: "x = x + P[positions]",
      kind: "embedding",
      flops: rows * D,
      weightBytes: elementBytes(queries * D, a),
      activationBytes: 2n * elementBytes(rows * D, a),
      convention: "1 FLOP per element; position rows read, x read and written",
    }));
  }
  const tail: CostedOp[] = [];
  if (config.finalNorm) {
    const per = BigInt(ELEMENTWISE_FLOPS[config.norm]);
    tail.push(costed({
      name: "final_norm",
      label: `${config.norm === "layernorm" ? "LayerNorm" : "RMSNorm"}(x)`,
      kind: "norm",
      flops: per * logitRows * D,
      weightBytes: elementBytes((config.norm === "layernorm" ? 2n : 1n) * D, a),
      activationBytes: 2n * elementBytes(logitRows * D, a),
      convention: `${per} FLOPs per element on the rows the LM head reads`,
    }));
  }
  if (E !== D) tail.push(linear("project_out", "x = x·W^out", logitRows, E, D));
  const lmHead = linear("lm_head", "logits = x·W^vocab", logitRows, V, E);
  tail.push(
    config.tiedEmbeddings
      ? { ...lmHead, convention: lmHead.convention + " (the embedding table, tied)" }
      : lmHead,
  );
  const sum = [costTotals(layer, BigInt(config.layers)), costTotals(head), costTotals(tail)];
  const totals = sum.reduce((x, y) => ({
    flops: x.flops + y.flops,
    weightBytes: x.weightBytes + y.weightBytes,
    activationBytes: x.activationBytes + y.activationBytes,
    kvBytes: x.kvBytes + y.kvBytes,
    bytes: x.bytes + y.bytes,
  }));
  return { phase, layer, layers: config.layers, head, tail, totals };
}

/** Estimated time of a list of operations on a roof, each at its own bound. */
export function opsSeconds(ops: readonly CostedOp[], roof: Roof): number {
  let seconds = 0;
  for (const op of ops) {
    seconds += Math.max(
      Number(op.flops) / roof.peakFlopsPerS,
      Number(op.bytes) / roof.bandwidthBytesPerS,
    );
  }
  return seconds;
}

/**
 * Estimated time of one phase of the whole model on `roof`: layers × the layer's time, plus
 * the head and tail operations, each operation at its own roofline bound.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const h100 = { name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3.35e12 };
 * modelSeconds(modelCost(modelConfig({ preset: "llama-2-7b" }), "decode"), h100) > 0; // true
 * ```
 */
export function modelSeconds(cost: ModelCost, roof: Roof): number {
  return cost.layers * opsSeconds(cost.layer, roof) + opsSeconds(cost.head, roof) +
    opsSeconds(cost.tail, roof);
}

/** Memory a request needs. */
export interface MemoryFootprint {
  /** Weights, embeddings and the other parameters. */
  readonly weightBytes: bigint;
  /** KV cache of the whole batch at the given context. */
  readonly kvCacheBytes: bigint;
  /** Largest operation's activations plus the residual stream, at prefill of the prompt. */
  readonly activationBytes: bigint;
  /** All three. */
  readonly totalBytes: bigint;
}

/** A request: prompt length, output length and batch. */
export interface Request {
  /** Prompt tokens per sequence. */
  readonly promptLen: number;
  /** Tokens generated per sequence (the first one by prefill). */
  readonly outputLen: number;
}

function checkRequest(request: Request): void {
  for (const [key, v] of Object.entries(request)) {
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new RangeError(`${key} must be a positive integer, got ${v}`);
    }
  }
}

/**
 * Bytes the weights take: linear weights at the weight dtype, the rest at the activation dtype.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * weightBytes(modelConfig({ preset: "llama-2-7b" })); // 2 bytes × 6,738,415,616
 * ```
 */
export function weightBytes(config: ModelConfig): bigint {
  const p = parameterCount(config);
  return elementBytes(p.linear, dtypeBytes(config.weightDtype)) +
    elementBytes(p.embeddings + p.other, dtypeBytes(config.dtype));
}

/**
 * The memory one request (the configuration's batch) needs: weights, the KV cache for prompt
 * plus output tokens, and prefill's peak activations.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const c = modelConfig({ preset: "llama-2-7b", batch: 4 });
 * memoryFootprint(c, { promptLen: 1024, outputLen: 1024 }).kvCacheBytes; // 4 × 2048 × 512 KiB
 * ```
 */
export function memoryFootprint(
  config: ModelConfig,
  request: Request,
  options: ModelCostOptions = {},
): MemoryFootprint {
  checkRequest(request);
  const c = config;
  const kv = kvCacheBytes(c, request.promptLen + request.outputLen);
  const prefill = modelCost({ ...c, seqLen: request.promptLen }, "prefill", options);
  let largest = 0n;
  for (const op of [...prefill.head, ...prefill.layer, ...prefill.tail]) {
    if (op.activationBytes > largest) largest = op.activationBytes;
  }
  const stream = elementBytes(BigInt(c.batch * request.promptLen * c.dModel), dtypeBytes(c.dtype));
  const weights = weightBytes(c);
  const activationBytes = largest + stream;
  return {
    weightBytes: weights,
    kvCacheBytes: kv,
    activationBytes,
    totalBytes: weights + kv + activationBytes,
  };
}

/**
 * The largest batch whose {@linkcode memoryFootprint} fits in `memoryBytes`; 0 when not even
 * the weights and one sequence fit.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * maxBatch(modelConfig({ preset: "llama-2-7b" }), 80e9, { promptLen: 1024, outputLen: 1024 });
 * ```
 */
export function maxBatch(
  config: ModelConfig,
  memoryBytes: number,
  request: Request,
  options: ModelCostOptions = {},
): number {
  if (!(memoryBytes > 0)) throw new RangeError(`memoryBytes must be positive, got ${memoryBytes}`);
  const at = (batch: number) =>
    Number(memoryFootprint({ ...config, batch }, request, options).totalBytes);
  const weights = Number(weightBytes(config));
  const perSequence = at(1) - weights;
  let batch = Math.max(0, Math.floor((memoryBytes - weights) / perSequence));
  // Rounding of half-byte types aside, the footprint is affine in the batch; settle exactly.
  while (batch > 0 && at(batch) > memoryBytes) batch--;
  while (at(batch + 1) <= memoryBytes) batch++;
  return batch;
}

/** What the roofline predicts for one request. */
export interface RequestLatency {
  /** Time to first token: the prefill pass. */
  readonly ttftSeconds: number;
  /** Mean time per output token after the first (0 for one output token). */
  readonly tpotSeconds: number;
  /** TTFT plus every decode step. */
  readonly totalSeconds: number;
  /** Generated tokens of the whole batch per second of the request. */
  readonly tokensPerS: number;
  /** Generated tokens per second of decoding alone (batch / TPOT). */
  readonly decodeTokensPerS: number;
}

/**
 * Latency of a request on `roof`: prefill of `promptLen` tokens gives the first token; decode
 * step i (i = 1 … outputLen − 1) attends to promptLen + i tokens.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const h100 = { name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3.35e12 };
 * requestLatency(modelConfig({ preset: "llama-2-7b" }), h100, { promptLen: 512, outputLen: 128 })
 *   .tpotSeconds; // ≈ 4 ms: 13.5 GB of weights at 3.35 TB/s
 * ```
 */
export function requestLatency(
  config: ModelConfig,
  roof: Roof,
  request: Request,
  options: ModelCostOptions = {},
): RequestLatency {
  return requestLatencies(config, [roof], request, options)[0];
}

/**
 * {@linkcode requestLatency} on each of `roofs`; the request's prefill and decode steps are
 * costed once for all of them.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const a100 = { name: "A100", peakFlopsPerS: 312e12, bandwidthBytesPerS: 2.039e12 };
 * const h100 = { name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3.35e12 };
 * requestLatencies(modelConfig({ preset: "llama-2-7b" }), [a100, h100], {
 *   promptLen: 512, outputLen: 16,
 * }).length; // 2
 * ```
 */
export function requestLatencies(
  config: ModelConfig,
  roofs: readonly Roof[],
  request: Request,
  options: ModelCostOptions = {},
): RequestLatency[] {
  checkRequest(request);
  const prefill = modelCost({ ...config, seqLen: request.promptLen }, "prefill", options);
  const decode = Array.from(
    { length: request.outputLen - 1 },
    (_, i) => modelCost({ ...config, seqLen: request.promptLen + i }, "decode", options),
  );
  const steps = decode.length;
  return roofs.map((roof) => {
    const ttftSeconds = modelSeconds(prefill, roof);
    const decodeSeconds = decode.reduce((sum, step) => sum + modelSeconds(step, roof), 0);
    const tpotSeconds = steps === 0 ? 0 : decodeSeconds / steps;
    const totalSeconds = ttftSeconds + decodeSeconds;
    return {
      ttftSeconds,
      tpotSeconds,
      totalSeconds,
      tokensPerS: config.batch * request.outputLen / totalSeconds,
      decodeTokensPerS: steps === 0 ? 0 : config.batch / tpotSeconds,
    };
  });
}

/**
 * Intensity of one whole-model decode step: all its FLOPs over all its bytes.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * decodeStepIntensity(modelConfig({ preset: "llama-2-7b", batch: 1 })); // ≈ 1 FLOP/byte
 * ```
 */
export function decodeStepIntensity(config: ModelConfig, options: ModelCostOptions = {}): number {
  const t = modelCost(config, "decode", options).totals;
  return Number(t.flops) / Number(t.bytes);
}

/**
 * The smallest batch at which a whole decode step (at the configuration's context) does more
 * FLOPs per byte than the roof's ridge point; `undefined` when no batch up to `limit` does (the
 * KV cache's traffic grows with the batch as fast as the FLOPs, so long contexts never turn).
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const h100 = { name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3.35e12 };
 * decodeComputeBoundBatch(modelConfig({ preset: "llama-3-8b", seqLen: 512 }), h100);
 * ```
 */
export function decodeComputeBoundBatch(
  config: ModelConfig,
  roof: Roof,
  options: ModelCostOptions = {},
  limit = 1 << 16,
): number | undefined {
  const ridge = roof.peakFlopsPerS / roof.bandwidthBytesPerS;
  const above = (batch: number) => decodeStepIntensity({ ...config, batch }, options) > ridge;
  if (!above(limit)) return undefined;
  // Intensity B·f / (W + B·c) rises with B: bisect.
  let lo = 0, hi = limit;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (above(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}
