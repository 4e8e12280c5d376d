/**
 * Every operation of one transformer layer, for the prefill phase (the whole prompt at once)
 * and the decode phase (one new token per sequence against the KV cache), numbered as the
 * homework's two tables number them: prefill steps 1–13, decode steps 1–15 for the handout's
 * ReLU MLP (one more step for a gated FFN's extra matrix). Each matrix multiplication carries
 * its M, N, K, FLOPs, bytes and exact intensity; partition, merge, concat and activations are
 * marked as non-matmul rows.
 *
 * Attention products are per sequence and per head (the handout's rows); `all` gives the same
 * product for all heads and sequences together. With multi-head attention that multiplies
 * FLOPs and bytes by B·n_H and leaves the intensity unchanged; with grouped-query attention the
 * n_H / n_KV query heads of a group share one K_j (V_j), so `all` moves fewer bytes and its
 * intensity rises.
 *
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { prefillOps } from "./layer.ts";
 * const q = prefillOps(modelConfig())[0];
 * q.matmul?.intensity; // { numerator: 4096n, denominator: 3n }
 * ```
 * @module
 */
import { DTYPE_BITS, dtypeBytes, headDim, type ModelConfig, validateConfig } from "./config.ts";
import { type Fraction, fraction } from "./fraction.ts";
import { type MatmulCost, matmulCost, type OperandBytes } from "./matmul.ts";

/** Prefill (the prompt in one pass) or decode (one token per step). */
export type Phase = "prefill" | "decode";

/**
 * The phases, in order.
 * @example
 * ```ts
 * PHASES; // ["prefill", "decode"]
 * ```
 */
export const PHASES: readonly Phase[] = ["prefill", "decode"];

/** What an operation is: a matrix multiplication or one of the handout's "-" rows. */
export type OpKind = "matmul" | "partition" | "merge" | "concat" | "relu" | "gelu" | "swiglu";

/** FLOPs, bytes and exact intensity of a batch of identical products taken together. */
export interface Totals {
  /** FLOPs. */
  readonly flops: bigint;
  /** Bytes moved. */
  readonly bytes: bigint;
  /** flops / bytes, exact. */
  readonly intensity: Fraction;
}

/** A matrix multiplication row: one product's cost and the whole layer's. */
export interface OpMatmul extends MatmulCost {
  /** M, N, K as LaTeX symbols of the configuration (`L`, `D`, `4D`, `L+1`, …). */
  readonly symbols: { readonly m: string; readonly n: string; readonly k: string };
  /** True for the per-head attention products (steps 7–8 prefill, 9–10 decode). */
  readonly perHead: boolean;
  /** How many such products one layer computes: B·n_H per-head products, else 1. */
  readonly products: number;
  /** All heads and sequences together (K_j, V_j read once per group under GQA). */
  readonly all: Totals;
  /** Element size of A, B and C: B is a weight in projections and the KV cache in attention. */
  readonly elementBytes: OperandBytes;
}

/** One row of a phase's table. */
export interface LayerOp {
  /** Phase. */
  readonly phase: Phase;
  /** Step number as the handout numbers it. */
  readonly step: number;
  /** Kind of operation. */
  readonly kind: OpKind;
  /** Plain-text computation, e.g. `Q = x·W^Q`. */
  readonly label: string;
  /** Computation in LaTeX (the handout's wording). */
  readonly computation: string;
  /** Inputs with their shapes, in LaTeX. */
  readonly input: string;
  /** Output with its shape, in LaTeX. */
  readonly output: string;
  /** Cost, for `kind === "matmul"` only. */
  readonly matmul?: OpMatmul;
}

/** LaTeX symbols of the configuration's sizes, as close to the handout's as the values allow. */
interface Symbols {
  rows: string;
  kvWidth: string;
  ffn: string;
  kvIndex: string;
  batchNote: string;
}

function symbolsOf(c: ModelConfig, phase: Phase): Symbols {
  const group = c.heads / c.kvHeads;
  return {
    rows: phase === "prefill" ? (c.batch === 1 ? "L" : "BL") : (c.batch === 1 ? "1" : "B"),
    kvWidth: c.kvHeads === c.heads ? "D" : "n_{KV}H",
    ffn: c.ffn === 4 * c.dModel ? "4D" : "F",
    kvIndex: group === 1 ? "i" : `\\lceil i/${group} \\rceil`,
    batchNote: c.batch === 1 ? "" : ", \\text{ each of the } B \\text{ sequences}",
  };
}

const R = (rows: string, cols: string) => `\\mathbb{R}^{${rows} \\times ${cols}}`;

interface MatmulSpec {
  step: number;
  label: string;
  computation: string;
  input: string;
  output: string;
  m: number;
  n: number;
  k: number;
  symbols: { m: string; n: string; k: string };
  perHead?: boolean;
  /** `weights`: B is a weight (default); `kv-out`: also C goes to the KV cache; `kv`: B is K or V. */
  operands?: "weights" | "kv-out" | "kv";
}

/** Element sizes of a product's operands under the configuration's precisions. */
function operandBytes(c: ModelConfig, operands: MatmulSpec["operands"]): OperandBytes {
  const act = dtypeBytes(c.dtype), kv = dtypeBytes(c.kvDtype);
  if (operands === "kv") return { a: act, b: kv, c: act };
  return { a: act, b: dtypeBytes(c.weightDtype), c: operands === "kv-out" ? kv : act };
}

function matmulOp(c: ModelConfig, phase: Phase, s: MatmulSpec): LayerOp {
  const b = operandBytes(c, s.operands);
  const one = matmulCost({ m: s.m, n: s.n, k: s.k }, b);
  let all: Totals = one;
  let products = 1;
  if (s.perHead) {
    // A group's query heads stack their rows against the K_j (V_j) they share.
    const group = c.heads / c.kvHeads;
    const grouped = matmulCost({ m: group * s.m, n: s.n, k: s.k }, b);
    const copies = BigInt(c.batch * c.kvHeads);
    const flops = grouped.flops * copies, bytes = grouped.bytes * copies;
    all = { flops, bytes, intensity: fraction(flops, bytes) };
    products = c.batch * c.heads;
  }
  return {
    phase,
    step: s.step,
    kind: "matmul",
    label: s.label,
    computation: s.computation,
    input: s.input,
    output: s.output,
    matmul: {
      ...one,
      symbols: s.symbols,
      perHead: s.perHead ?? false,
      products,
      all,
      elementBytes: b,
    },
  };
}

function otherOp(
  phase: Phase,
  step: number,
  kind: Exclude<OpKind, "matmul">,
  label: string,
  computation: string,
  input: string,
  output: string,
): LayerOp {
  return { phase, step, kind, label, computation, input, output };
}

/**
 * The rows from `step` on that close attention and feed the FFN: merge the heads' Z_i
 * (`headRows` rows each), project with W^O, then {@linkcode ffnOps}.
 */
function outputOps(
  c: ModelConfig,
  phase: Phase,
  step: number,
  headRows: string,
  rowCount: number,
): LayerOp[] {
  const s = symbolsOf(c, phase);
  return [
    otherOp(
      phase,
      step,
      "merge",
      "Z = Merge(Z_1 … Z_nh)",
      "Z = \\text{Merge}_{-1}([Z_1, Z_2 \\dots, Z_{n_h}])",
      `Z_i \\in ${R(headRows, "H")}, i = 1, \\dots, n_h`,
      `Z \\in ${R(s.rows, "D")}`,
    ),
    matmulOp(c, phase, {
      step: step + 1,
      label: "Out = Z·W^O",
      computation: "\\text{Out} = ZW^O",
      input: `Z \\in ${R(s.rows, "D")}, W^O \\in ${R("D", "D")}`,
      output: `\\text{Out} \\in ${R(s.rows, "D")}`,
      m: rowCount,
      n: c.dModel,
      k: c.dModel,
      symbols: { m: s.rows, n: "D", k: "D" },
    }),
    ...ffnOps(c, phase, step + 2, rowCount),
  ];
}

/** The FFN rows from `step` on: Out·W¹, relu, ·W² (or gate, up, SiLU⊙, down). */
function ffnOps(c: ModelConfig, phase: Phase, step: number, rowCount: number): LayerOp[] {
  const s = symbolsOf(c, phase);
  const src = "\\text{Out}";
  const out = phase === "prefill" ? "x'" : "t'";
  const D = c.dModel, F = c.ffn;
  const up = (n: number, w: string, a: string): LayerOp =>
    matmulOp(c, phase, {
      step: n,
      label: `${a} = Out·W^${w}`,
      computation: `${a} = ${src} W^{${w}}`,
      input: `${src} \\in ${R(s.rows, "D")}, W^{${w}} \\in ${R("D", s.ffn)}`,
      output: `${a} \\in ${R(s.rows, s.ffn)}`,
      m: rowCount,
      n: F,
      k: D,
      symbols: { m: s.rows, n: s.ffn, k: "D" },
    });
  const down = (n: number, w: string): LayerOp =>
    matmulOp(c, phase, {
      step: n,
      label: `${out} = A'·W^${w}`,
      computation: `${out} = A' W^{${w}}`,
      input: `A' \\in ${R(s.rows, s.ffn)}, W^{${w}} \\in ${R(s.ffn, "D")}`,
      output: `${out} \\in ${R(s.rows, "D")}`,
      m: rowCount,
      n: D,
      k: F,
      symbols: { m: s.rows, n: "D", k: s.ffn },
    });
  if (c.ffnKind === "mlp") {
    return [
      up(step, "1", "A"),
      otherOp(
        phase,
        step + 1,
        c.activation,
        `A' = ${c.activation}(A)`,
        `A' = \\text{${c.activation}}(A)`,
        `A \\in ${R(s.rows, s.ffn)}`,
        `A' \\in ${R(s.rows, s.ffn)}`,
      ),
      down(step + 2, "2"),
    ];
  }
  return [
    up(step, "gate", "A"),
    up(step + 1, "up", "U"),
    otherOp(
      phase,
      step + 2,
      "swiglu",
      "A' = SiLU(A) ⊙ U",
      "A' = \\text{SiLU}(A) \\odot U",
      `A, U \\in ${R(s.rows, s.ffn)}`,
      `A' \\in ${R(s.rows, s.ffn)}`,
    ),
    down(step + 3, "down"),
  ];
}

/**
 * The prefill phase's operations for one layer: steps 1–13 of the handout's first table
 * (1–14 with a gated FFN). Projections have M = B·L rows; attention products are per sequence
 * and head.
 * @throws {RangeError} when the configuration is invalid.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * const ops = prefillOps(modelConfig());
 * ops.filter((op) => op.kind === "matmul").map((op) => op.step); // [1, 2, 3, 7, 8, 10, 11, 13]
 * ```
 */
export function prefillOps(config: ModelConfig): LayerOp[] {
  validateConfig(config);
  const c = config, s = symbolsOf(c, "prefill"), H = headDim(c);
  const rows = c.batch * c.seqLen, kvN = c.kvHeads * H, D = c.dModel;
  const proj = (step: number, name: "Q" | "K" | "V"): LayerOp => {
    const width = name === "Q" ? "D" : s.kvWidth;
    return matmulOp(c, "prefill", {
      step,
      label: `${name} = x·W^${name}`,
      computation: `${name} = xW^${name}`,
      input: `x \\in ${R(s.rows, "D")}, W^${name} \\in ${R("D", width)}`,
      output: `${name} \\in ${R(s.rows, width)}`,
      m: rows,
      n: name === "Q" ? D : kvN,
      k: D,
      symbols: { m: s.rows, n: width, k: "D" },
      operands: name === "Q" ? "weights" : "kv-out",
    });
  };
  const partition = (step: number, name: "Q" | "K" | "V"): LayerOp => {
    const kv = name !== "Q" && c.kvHeads !== c.heads;
    const n = kv ? "n_{KV}" : "n_h";
    const idx = kv ? "j" : "i";
    const width = name === "Q" ? "D" : s.kvWidth;
    return otherOp(
      "prefill",
      step,
      "partition",
      `[${name}_1 … ${name}_${kv ? "nKV" : "nh"}] = Partition(${name})`,
      `[${name}_1, ${name}_2 \\dots, ${name}_{${n}}] = \\text{Partition}_{-1}(${name})`,
      `${name} \\in ${R(s.rows, width)}`,
      `${name}_${idx} \\in ${R(s.rows, "H")}, ${idx} = 1, \\dots, ${n}`,
    );
  };
  return [
    proj(1, "Q"),
    proj(2, "K"),
    proj(3, "V"),
    partition(4, "Q"),
    partition(5, "K"),
    partition(6, "V"),
    matmulOp(c, "prefill", {
      step: 7,
      label: "Score_i = softmax(Q_i·K_i^T / √D)",
      computation:
        `\\text{Score}_i = \\text{softmax}(\\frac{Q_i K_{${s.kvIndex}}^T}{\\sqrt{D}}), ` +
        `i = 1, \\dots, n_h${s.batchNote}`,
      input: `Q_i, K_{${s.kvIndex}} \\in ${R("L", "H")}`,
      output: `\\text{score}_i \\in ${R("L", "L")}`,
      m: c.seqLen,
      n: c.seqLen,
      k: H,
      symbols: { m: "L", n: "L", k: "H" },
      perHead: true,
      operands: "kv",
    }),
    matmulOp(c, "prefill", {
      step: 8,
      label: "Z_i = score_i·V_i",
      computation: `Z_i = \\text{score}_i V_{${s.kvIndex}}, i = 1, \\dots, n_h${s.batchNote}`,
      input: `\\text{score}_i \\in ${R("L", "L")}, V_{${s.kvIndex}} \\in ${R("L", "H")}`,
      output: `Z_i \\in ${R("L", "H")}`,
      m: c.seqLen,
      n: H,
      k: c.seqLen,
      symbols: { m: "L", n: "H", k: "L" },
      perHead: true,
      operands: "kv",
    }),
    ...outputOps(c, "prefill", 9, s.rows, rows),
  ];
}

/**
 * The decode phase's operations for one layer when generating the token after an L-token
 * prompt: steps 1–15 of the handout's second table (1–16 with a gated FFN). Projections have
 * M = B rows (one new token per sequence); attention reads the L cached keys and values plus
 * the new one.
 * @throws {RangeError} when the configuration is invalid.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * import { fractionToNumber } from "./fraction.ts";
 * const q = decodeOps(modelConfig())[0];
 * fractionToNumber(q.matmul!.intensity); // 2048/2049 ≈ 0.9995
 * ```
 */
export function decodeOps(config: ModelConfig): LayerOp[] {
  validateConfig(config);
  const c = config, s = symbolsOf(c, "decode"), H = headDim(c);
  const rows = c.batch, kvN = c.kvHeads * H, D = c.dModel, ctx = c.seqLen + 1;
  const proj = (step: number, name: "Q" | "K" | "V"): LayerOp => {
    const width = name === "Q" ? "D" : s.kvWidth;
    const lhs = name === "Q" ? "Q = Q_d" : `${name}_d`;
    return matmulOp(c, "decode", {
      step,
      label: `${lhs} = t·W^${name}`,
      computation: `${lhs} = tW^${name}`,
      input: `t \\in ${R(s.rows, "D")}, W^${name} \\in ${R("D", width)}`,
      output: `${name === "Q" ? "Q, Q_d" : lhs} \\in ${R(s.rows, width)}`,
      m: rows,
      n: name === "Q" ? D : kvN,
      k: D,
      symbols: { m: s.rows, n: width, k: "D" },
      operands: name === "Q" ? "weights" : "kv-out",
    });
  };
  const concat = (step: number, name: "K" | "V"): LayerOp =>
    otherOp(
      "decode",
      step,
      "concat",
      `${name} = concat(${name}_cache, ${name}_d)`,
      `${name} = \\text{concat}(${name}_{\\text{cache}}, ${name}_d)`,
      `${name}_{\\text{cache}} \\in ${R("L", s.kvWidth)}, ${name}_d \\in ${R("1", s.kvWidth)}`,
      `${name} \\in ${R("(L+1)", s.kvWidth)}`,
    );
  const partition = (step: number, name: "Q" | "K" | "V"): LayerOp => {
    const kv = name !== "Q" && c.kvHeads !== c.heads;
    const n = kv ? "n_{KV}" : "n_h";
    const idx = kv ? "j" : "i";
    const len = name === "Q" ? "1" : "(L+1)";
    const width = name === "Q" ? "D" : s.kvWidth;
    return otherOp(
      "decode",
      step,
      "partition",
      `[${name}_1 … ${name}_${kv ? "nKV" : "nh"}] = Partition(${name})`,
      `[${name}_1, ${name}_2 \\dots, ${name}_{${n}}] = \\text{Partition}_{-1}(${name})`,
      `${name} \\in ${R(len, width)}`,
      `${name}_${idx} \\in ${R(len, "H")}, ${idx} = 1, \\dots, ${n}`,
    );
  };
  return [
    proj(1, "Q"),
    proj(2, "K"),
    concat(3, "K"),
    proj(4, "V"),
    concat(5, "V"),
    partition(6, "Q"),
    partition(7, "K"),
    partition(8, "V"),
    matmulOp(c, "decode", {
      step: 9,
      label: "Score_i = softmax(Q_i·K_i^T / √D)",
      computation:
        `\\text{Score}_i = \\text{softmax}(\\frac{Q_i K_{${s.kvIndex}}^T}{\\sqrt{D}}), ` +
        `i = 1, \\dots, n_h${s.batchNote}`,
      input: `Q_i \\in ${R("1", "H")}, K_{${s.kvIndex}} \\in ${R("(L+1)", "H")}`,
      output: `\\text{score}_i \\in ${R("1", "(L+1)")}`,
      m: 1,
      n: ctx,
      k: H,
      symbols: { m: "1", n: "(L+1)", k: "H" },
      perHead: true,
      operands: "kv",
    }),
    matmulOp(c, "decode", {
      step: 10,
      label: "Z_i = score_i·V_i",
      computation: `Z_i = \\text{score}_i V_{${s.kvIndex}}, i = 1, \\dots, n_h${s.batchNote}`,
      input: `\\text{score}_i \\in ${R("1", "(L+1)")}, V_{${s.kvIndex}} \\in ${R("(L+1)", "H")}`,
      output: `Z_i \\in ${R("1", "H")}`,
      m: 1,
      n: H,
      k: ctx,
      symbols: { m: "1", n: "H", k: "(L+1)" },
      perHead: true,
      operands: "kv",
    }),
    ...outputOps(c, "decode", 11, "1", rows),
  ];
}

/**
 * The operations of `phase`.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * layerOps(modelConfig(), "decode").length; // 15
 * ```
 */
export function layerOps(config: ModelConfig, phase: Phase): LayerOp[] {
  if (phase === "prefill") return prefillOps(config);
  if (phase === "decode") return decodeOps(config);
  throw new RangeError(`unknown phase "${phase}"; allowed: ${PHASES.join(", ")}`);
}

/**
 * FLOPs, bytes and intensity of all matrix multiplications of a layer together (all heads and
 * sequences).
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * layerTotals(prefillOps(modelConfig())).flops;
 * ```
 */
export function layerTotals(ops: readonly LayerOp[]): Totals {
  let flops = 0n, bytes = 0n;
  for (const op of ops) {
    if (op.matmul) {
      flops += op.matmul.all.flops;
      bytes += op.matmul.all.bytes;
    }
  }
  if (bytes === 0n) throw new RangeError("layerTotals needs at least one matmul operation");
  return { flops, bytes, intensity: fraction(flops, bytes) };
}

/**
 * Bytes of the KV cache holding `tokens` tokens for every sequence of the batch across all
 * layers: 2 (K and V) · B · layers · tokens · n_KV · H · b_KV. Grouped-query attention shrinks
 * it by n_H / n_KV.
 * @example
 * ```ts
 * import { modelConfig } from "./config.ts";
 * kvCacheBytes(modelConfig({ preset: "llama-2-7b" }), 1); // 524288n (512 KiB per token)
 * ```
 */
export function kvCacheBytes(config: ModelConfig, tokens: number = config.seqLen): bigint {
  validateConfig(config);
  if (!Number.isSafeInteger(tokens) || tokens < 0) {
    throw new RangeError(`tokens must be a non-negative integer, got ${tokens}`);
  }
  return 2n * BigInt(config.batch) * BigInt(config.layers) * BigInt(tokens) *
    BigInt(config.kvHeads * headDim(config) * DTYPE_BITS[config.kvDtype]) / 8n;
}
