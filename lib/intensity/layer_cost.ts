/**
 * Every operation of one transformer layer with its FLOPs and bytes, the handout's matrix
 * multiplications and everything around them: the two norms, rotary embeddings, softmax, the
 * activation, the residual adds and the KV-cache append. Each row keeps the handout's step
 * number where it has one, and says what it counts ({@linkcode CostedOp.convention}).
 *
 * Conventions (per element of the tensor named):
 * - matmuls: 2MNK FLOPs, each operand read once and the result written once (the handout's);
 *   bias adds are fused into the product's epilogue and not counted;
 * - softmax: 5 FLOPs (max, subtract, exp, sum, divide) and the score matrix read and written
 *   once, the 1/√H scaling folded into the product (LLM-Viewer's count);
 * - LayerNorm 7 FLOPs (mean, subtract, square, variance, scale by 1/σ, γ, β; LLM-Viewer's 7),
 *   RMSNorm 4 (square, mean, scale by 1/rms, γ): x read, y written, γ (and β) read;
 * - rotary embeddings: 3 FLOPs per element of Q and K (x·cos + rot(x)·sin), Q and K read and
 *   written, the cos and sin tables read;
 * - relu 1 FLOP, GELU (tanh form) 9, SwiGLU 5 (SiLU's 4 and the product): inputs read, output
 *   written;
 * - residual add: 1 FLOP, both addends read and the sum written;
 * - partition and merge are views of a contiguous tensor: nothing moves;
 * - decode's concat appends K_d (V_d) to a preallocated cache: read and written once, 0 FLOPs
 *   (`torch.cat` would copy the whole cache instead).
 *
 * With `attention: "fused"` (FlashAttention, flash decoding) the score, softmax and Z rows
 * become one kernel whose FLOPs are their sum and whose traffic is Q, K, V read once and Z
 * written once: the score matrix never leaves the chip.
 *
 * Non-matmul FLOPs run on vector units, not tensor cores; the roofline here prices them at the
 * same peak (as LLM-Viewer does); they are memory-bound on every GPU preset either way.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { modelConfig } from "./config.ts";
 * import { layerCost } from "./layer_cost.ts";
 * const ops = layerCost(modelConfig(), "decode");
 * const softmax = ops.find((op) => op.name === "softmax")!;
 * assertEquals(softmax.flops, 5n * 32n * 4097n); // 5 per score, n_H rows of L + 1
 * ```
 * @module
 */
import { dtypeBytes, headDim, type ModelConfig, validateConfig } from "./config.ts";
import { type LayerOp, layerOps, type Phase } from "./layer.ts";

/** What a costed operation is. */
export type CostKind =
  | "matmul"
  | "attention"
  | "softmax"
  | "norm"
  | "rope"
  | "activation"
  | "residual"
  | "view"
  | "kv-append"
  | "embedding";

/** Attention traffic: per product (score matrix through memory) or one fused kernel. */
export type AttentionKind = "unfused" | "fused";

/** One operation of a layer (or of the model around its layers) with its whole cost. */
export interface CostedOp {
  /** Short id, LLM-Viewer's names where it has one (`q_proj`, `qk_matmul`, `mlp_add`, …). */
  readonly name: string;
  /** Plain-text computation. */
  readonly label: string;
  /** Kind. */
  readonly kind: CostKind;
  /** The handout table's step, for its rows. */
  readonly handoutStep?: number;
  /** FLOPs for all heads and sequences. */
  readonly flops: bigint;
  /** Bytes of weights (and norm parameters) read. */
  readonly weightBytes: bigint;
  /** Bytes of activations read and written. */
  readonly activationBytes: bigint;
  /** Bytes of KV cache read and written. */
  readonly kvBytes: bigint;
  /** weightBytes + activationBytes + kvBytes. */
  readonly bytes: bigint;
  /** What is counted, in words. */
  readonly convention: string;
}

/**
 * FLOPs per element of the elementwise operations, as the module's conventions count them.
 * @example
 * ```ts
 * ELEMENTWISE_FLOPS.softmax; // 5
 * ```
 */
export const ELEMENTWISE_FLOPS = {
  softmax: 5,
  layernorm: 7,
  rmsnorm: 4,
  rope: 3,
  relu: 1,
  gelu: 9,
  swiglu: 5,
  residual: 1,
} as const;

/** Options of {@linkcode layerCost}. */
export interface LayerCostOptions {
  /**
   * Attention traffic.
   * @default {"unfused"}
   */
  readonly attention?: AttentionKind;
}

/** Bytes of `count` elements of `bytes` each, rounded up to a whole byte. */
export function elementBytes(count: bigint | number, bytes: number): bigint {
  return (BigInt(count) * BigInt(bytes * 8) + 7n) / 8n;
}

/** Builds a costed operation, summing its bytes. */
export function costed(
  op: Omit<CostedOp, "bytes" | "weightBytes" | "activationBytes" | "kvBytes"> & {
    weightBytes?: bigint;
    activationBytes?: bigint;
    kvBytes?: bigint;
  },
): CostedOp {
  const weightBytes = op.weightBytes ?? 0n, activationBytes = op.activationBytes ?? 0n;
  const kvBytes = op.kvBytes ?? 0n;
  return {
    ...op,
    weightBytes,
    activationBytes,
    kvBytes,
    bytes: weightBytes + activationBytes + kvBytes,
  };
}

/** A handout matmul row with its bytes split into weights, activations and KV cache. */
function matmulRow(c: ModelConfig, op: LayerOp, name: string): CostedOp {
  const m = op.matmul!;
  const e = m.elementBytes;
  const M = BigInt(m.m), N = BigInt(m.n), K = BigInt(m.k);
  if (m.perHead) {
    // All heads and sequences: a group's query heads share one K_j (V_j).
    const group = BigInt(c.heads / c.kvHeads), copies = BigInt(c.batch * c.kvHeads);
    return costed({
      name,
      label: op.label.replace(/^Score_i = softmax\((.*)\)$/, "Score_i = $1"),
      kind: "matmul",
      handoutStep: op.step,
      flops: m.all.flops,
      activationBytes: copies *
        (elementBytes(group * M * K, e.a) + elementBytes(group * M * N, e.c)),
      kvBytes: copies * elementBytes(K * N, e.b),
      convention: "2MNK per head; Q (score) and the result through memory, K (V) once per " +
        "KV head",
    });
  }
  const toCache = name === "k_proj" || name === "v_proj";
  return costed({
    name,
    label: op.label,
    kind: "matmul",
    handoutStep: op.step,
    flops: m.flops,
    weightBytes: elementBytes(K * N, e.b),
    activationBytes: elementBytes(M * K, e.a) + (toCache ? 0n : elementBytes(M * N, e.c)),
    kvBytes: toCache ? elementBytes(M * N, e.c) : 0n,
    convention: "2MNK; input read, weight read, output written (K, V straight to the cache)",
  });
}

const MATMUL_NAMES: Record<string, string> = {
  "Q": "q_proj",
  "K": "k_proj",
  "V": "v_proj",
  "Out": "out_proj",
};

function matmulName(op: LayerOp): string {
  const lhs = op.label.split(" = ")[0].replace("Q = Q_d", "Q").replace(/_d$/, "");
  if (MATMUL_NAMES[lhs]) return MATMUL_NAMES[lhs];
  if (op.label.startsWith("Score")) return "qk_matmul";
  if (op.label.startsWith("Z_i")) return "sv_matmul";
  const weight = op.label.match(/W\^(\w+)/)?.[1] ?? "";
  return { "1": "fc1", "2": "fc2", gate: "gate_proj", up: "up_proj", down: "down_proj" }[weight] ??
    `step_${op.step}`;
}

/**
 * Every operation of one layer for `phase`, in execution order, with FLOPs and bytes split by
 * what they move. The handout's rows keep their step numbers; the others have none.
 * @throws {RangeError} when the configuration is invalid.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { modelConfig } from "./config.ts";
 * const c = modelConfig({ preset: "llama-2-7b", seqLen: 1024 });
 * const add = layerCost(c, "prefill").find((op) => op.name === "attn_add")!;
 * assertEquals(add.bytes, 3n * 1024n * 4096n * 2n); // two addends read, the sum written
 * ```
 */
export function layerCost(
  config: ModelConfig,
  phase: Phase,
  options: LayerCostOptions = {},
): CostedOp[] {
  validateConfig(config);
  const attention = options.attention ?? "unfused";
  if (attention !== "unfused" && attention !== "fused") {
    throw new RangeError(`unknown attention "${attention}"; allowed: unfused, fused`);
  }
  const c = config, H = headDim(c), a = dtypeBytes(c.dtype), kv = dtypeBytes(c.kvDtype);
  const B = BigInt(c.batch), D = BigInt(c.dModel), F = BigInt(c.ffn);
  const kvN = BigInt(c.kvHeads * H), nH = BigInt(c.heads);
  const queries = phase === "prefill" ? BigInt(c.seqLen) : 1n;
  const context = phase === "prefill" ? BigInt(c.seqLen) : BigInt(c.seqLen + 1);
  const rows = B * queries;
  const norm = (name: string): CostedOp =>
    costed({
      name,
      label: `${c.norm === "layernorm" ? "LayerNorm" : "RMSNorm"}(x)`,
      kind: "norm",
      flops: BigInt(ELEMENTWISE_FLOPS[c.norm]) * rows * D,
      weightBytes: elementBytes((c.norm === "layernorm" ? 2n : 1n) * D, a),
      activationBytes: 2n * elementBytes(rows * D, a),
      convention: `${ELEMENTWISE_FLOPS[c.norm]} FLOPs per element; x read, y written, ` +
        `${c.norm === "layernorm" ? "γ and β" : "γ"} read`,
    });
  const residual = (name: string, label: string): CostedOp =>
    costed({
      name,
      label,
      kind: "residual",
      flops: rows * D,
      activationBytes: 3n * elementBytes(rows * D, a),
      convention: "1 FLOP per element; both addends read, the sum written",
    });
  const ops: LayerOp[] = layerOps(c, phase);
  const out: CostedOp[] = [norm("attn_norm")];
  const scores = B * nH * queries * context;
  for (const op of ops) {
    if (op.kind === "matmul") {
      const name = matmulName(op);
      if (attention === "fused" && (name === "qk_matmul" || name === "sv_matmul")) {
        if (name === "sv_matmul") continue;
        const z = ops.find((o) => o.kind === "matmul" && matmulName(o) === "sv_matmul")!;
        out.push(costed({
          name: "fused_attention",
          label: "Z_i = softmax(Q_i·K_i^T / √H)·V_i (one kernel)",
          kind: "attention",
          handoutStep: op.step,
          flops: op.matmul!.all.flops + z.matmul!.all.flops +
            BigInt(ELEMENTWISE_FLOPS.softmax) * scores,
          activationBytes: 2n * elementBytes(rows * D, a),
          kvBytes: 2n * elementBytes(B * context * kvN, kv),
          convention: "QKᵀ, softmax and ·V FLOPs; Q read, K and V read once, Z written; " +
            "scores stay on chip",
        }));
        continue;
      }
      out.push(matmulRow(c, op, name));
      if (name === "qk_matmul") {
        out.push(costed({
          name: "softmax",
          label: "softmax(score_i)",
          kind: "softmax",
          handoutStep: op.step,
          flops: BigInt(ELEMENTWISE_FLOPS.softmax) * scores,
          activationBytes: 2n * elementBytes(scores, a),
          convention: "5 FLOPs per score (max, subtract, exp, sum, divide); scores read and " +
            "written",
        }));
      }
      if (name === "v_proj" && phase === "prefill" && c.positions === "rotary") {
        out.push(rope(c, rows, queries));
      }
      if (name === "out_proj") {
        out.push(residual("attn_add", "x + Out"));
        out.push(norm("mlp_norm"));
      }
      continue;
    }
    if (op.kind === "concat") {
      if (op.label.startsWith("K") && c.positions === "rotary") out.push(rope(c, rows, queries));
      out.push(costed({
        name: op.label.startsWith("K") ? "k_append" : "v_append",
        label: op.label,
        kind: "kv-append",
        handoutStep: op.step,
        flops: 0n,
        kvBytes: 2n * elementBytes(B * kvN, kv),
        convention: "the new row read and written into a preallocated cache",
      }));
      continue;
    }
    if (op.kind === "partition" || op.kind === "merge") {
      if (attention === "fused") continue;
      out.push(costed({
        name: op.kind === "merge" ? "merge" : `partition_${op.label[1]}`,
        label: op.label,
        kind: "view",
        handoutStep: op.step,
        flops: 0n,
        convention: "a view of a contiguous tensor: nothing moves",
      }));
      continue;
    }
    // The FFN's activation.
    const inputs = op.kind === "swiglu" ? 2n : 1n;
    out.push(costed({
      name: "mlp_act",
      label: op.label,
      kind: "activation",
      handoutStep: op.step,
      flops: BigInt(ELEMENTWISE_FLOPS[op.kind as "relu" | "gelu" | "swiglu"]) * rows * F,
      activationBytes: (inputs + 1n) * elementBytes(rows * F, a),
      convention: `${ELEMENTWISE_FLOPS[op.kind as "relu" | "gelu" | "swiglu"]} FLOPs per ` +
        `element; ${inputs === 2n ? "A and U" : "A"} read, A' written`,
    }));
  }
  out.push(residual("mlp_add", "x + FFN(x)"));
  return out;
}

/** Rotary embeddings on Q and K of `rows` tokens at `positions` distinct positions. */
function rope(c: ModelConfig, rows: bigint, positions: bigint): CostedOp {
  const a = dtypeBytes(c.dtype), H = BigInt(headDim(c));
  const elements = rows * (BigInt(c.dModel) + BigInt(c.kvHeads) * H);
  return costed({
    name: "rope",
    label: "RoPE(Q), RoPE(K)",
    kind: "rope",
    flops: BigInt(ELEMENTWISE_FLOPS.rope) * elements,
    activationBytes: 2n * elementBytes(elements, a) + 2n * elementBytes(positions * H, a),
    convention: "3 FLOPs per element of Q and K; Q, K read and written; cos, sin read",
  });
}

/** FLOPs and bytes of a list of operations together. */
export interface CostTotals {
  /** FLOPs. */
  readonly flops: bigint;
  /** Weights read. */
  readonly weightBytes: bigint;
  /** Activations read and written. */
  readonly activationBytes: bigint;
  /** KV cache read and written. */
  readonly kvBytes: bigint;
  /** All bytes. */
  readonly bytes: bigint;
}

/**
 * Sums of `ops`, each repeated `times` (e.g. the layers).
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * costTotals(layerCost(modelConfig(), "decode"), 2n).flops > 0n; // true
 * ```
 */
export function costTotals(ops: readonly CostedOp[], times = 1n): CostTotals {
  let flops = 0n, weightBytes = 0n, activationBytes = 0n, kvBytes = 0n;
  for (const op of ops) {
    flops += op.flops;
    weightBytes += op.weightBytes;
    activationBytes += op.activationBytes;
    kvBytes += op.kvBytes;
  }
  return {
    flops: flops * times,
    weightBytes: weightBytes * times,
    activationBytes: activationBytes * times,
    kvBytes: kvBytes * times,
    bytes: (weightBytes + activationBytes + kvBytes) * times,
  };
}
