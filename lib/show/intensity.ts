/**
 * Tables of a layer's operations: the homework's layout (No., Computation, Input, Output,
 * Arithmetic Intensity, math rendered), a cost table with M, N, K, FLOPs, bytes and roofline
 * columns, each intensity's derivation in rendered math, and per-phase layer times.
 *
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * import { handoutTable } from "./intensity.ts";
 * handoutTable(prefillOps(modelConfig()));
 * ```
 * @module
 */
import {
  computeBoundFrom,
  decodeOps,
  type Fraction,
  fractionLatex,
  fractionToNumber,
  kvCacheBytes,
  type LayerOp,
  layerTime,
  type ModelConfig,
  opEstimate,
  prefillOps,
  ridgeIntensity,
  type Roof,
} from "../intensity/mod.ts";
import { type Column, type Displayable, formatNumber, markdown, table } from "./mod.ts";

/**
 * An intensity's decimal: two places from 100 on, four below (so 0.9995 stays distinct from 1).
 * @example
 * ```ts
 * formatIntensity(4096 / 3); // "1365.33"
 * formatIntensity(2048 / 2049); // "0.9995"
 * ```
 */
export function formatIntensity(value: number): string {
  return value.toFixed(value >= 100 ? 2 : 4);
}

/**
 * An exact intensity and its decimal as LaTeX: `\frac{4096}{3} \approx 1365.33`.
 * @example
 * ```ts
 * import { fraction } from "../intensity/mod.ts";
 * intensityLatex(fraction(4096n, 3n)); // "\\frac{4096}{3} \\approx 1365.33"
 * ```
 */
export function intensityLatex(f: Fraction): string {
  const decimal = formatIntensity(fractionToNumber(f));
  return f.denominator === 1n ? fractionLatex(f) : `${fractionLatex(f)} \\approx ${decimal}`;
}

/** Options of {@linkcode handoutTable}. */
export interface HandoutTableOptions {
  /** Shown above the table. */
  caption?: string;
  /** Intensity of all heads together instead of one head (differs only under GQA). */
  allHeads?: boolean;
}

/**
 * The homework's table: No., Computation, Input, Output, Arithmetic Intensity (exact fraction
 * and decimal, "-" for the non-matmul rows), with every cell in math.
 * @example
 * ```ts
 * import { decodeOps, modelConfig } from "../intensity/mod.ts";
 * handoutTable(decodeOps(modelConfig()), { caption: "Decode" });
 * ```
 */
export function handoutTable(
  ops: readonly LayerOp[],
  options: HandoutTableOptions = {},
): Displayable {
  const columns: Column<LayerOp>[] = [
    { key: (op) => String(op.step), header: "No.", align: "right" },
    { key: (op) => `$${op.computation}$`, header: "Computation" },
    { key: (op) => `$${op.input}$`, header: "Input" },
    { key: (op) => `$${op.output}$`, header: "Output" },
    {
      key: (op) =>
        op.matmul
          ? `$${intensityLatex(options.allHeads ? op.matmul.all.intensity : op.matmul.intensity)}$`
          : "-",
      header: "Arithmetic Intensity",
    },
  ];
  return table(columns, ops, { caption: options.caption });
}

/**
 * A count for a printed table: grouped digits below a million, else `$1.374 \times 10^{11}$`.
 * @example
 * ```ts
 * countLatex(137438953472n); // "$1.374 \\times 10^{11}$"
 * ```
 */
export function countLatex(n: bigint | number): string {
  const v = Number(n);
  if (v < 1e6) return formatNumber(v);
  const [mantissa, exponent] = v.toExponential(3).split("e");
  return `$${mantissa} \\times 10^{${Number(exponent)}}$`;
}

/**
 * An operation's computation as short math for narrow tables: without the head range and,
 * for the scores, without the softmax the handout asks to ignore.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * shortComputation(prefillOps(modelConfig())[6]); // "$Q_i K_{i}^T$"
 * ```
 */
export function shortComputation(op: LayerOp): string {
  const tex = op.computation
    .replace(/, i = 1, \\dots.*$/, "")
    .replace(/^\\text\{Score\}_i = \\text\{softmax\}\(\\frac\{(.*)\}\{\\sqrt\{D\}\}\)$/, "$1");
  return `$${tex}$`;
}

/** Options of {@linkcode costTable} and {@linkcode rooflineTable}. */
export interface CostTableOptions {
  /** Shown above the table. */
  caption?: string;
  /** Leave out the non-matmul rows. */
  matmulsOnly?: boolean;
}

/**
 * The cost of each operation, narrow enough to print: M, N, K, FLOPs and bytes of one product
 * (one head and sequence for attention) and how many such products one layer computes.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * costTable(prefillOps(modelConfig()), { matmulsOnly: true });
 * ```
 */
export function costTable(ops: readonly LayerOp[], options: CostTableOptions = {}): Displayable {
  const m = (op: LayerOp) => op.matmul!;
  const num = (f: (op: LayerOp) => string) => (op: LayerOp) => op.matmul ? f(op) : "-";
  const rows = options.matmulsOnly ? ops.filter((op) => op.matmul) : ops;
  return table<LayerOp>(
    [
      { key: (op) => String(op.step), header: "No.", align: "right" },
      { key: shortComputation, header: "Computation" },
      { key: num((op) => formatNumber(m(op).m)), header: "$M$", align: "right" },
      { key: num((op) => formatNumber(m(op).n)), header: "$N$", align: "right" },
      { key: num((op) => formatNumber(m(op).k)), header: "$K$", align: "right" },
      { key: num((op) => countLatex(m(op).flops)), header: "FLOPs", align: "right" },
      { key: num((op) => countLatex(m(op).bytes)), header: "Bytes", align: "right" },
      { key: num((op) => String(m(op).products)), header: "Products", align: "right" },
    ],
    rows,
    { caption: options.caption },
  );
}

/**
 * The roofline of each matmul, all heads and sequences together: its intensity and, per roof,
 * the bound, attainable TFLOP/s = min(P, I·W) and time = max(FLOPs/P, bytes/W).
 * @example
 * ```ts
 * import { decodeOps, modelConfig } from "../intensity/mod.ts";
 * rooflineTable(decodeOps(modelConfig()), [
 *   { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 },
 * ]);
 * ```
 */
export function rooflineTable(
  ops: readonly LayerOp[],
  roofs: readonly Roof[],
  options: Omit<CostTableOptions, "matmulsOnly"> = {},
): Displayable {
  const columns: Column<LayerOp>[] = [
    { key: (op) => String(op.step), header: "No.", align: "right" },
    { key: shortComputation, header: "Computation" },
    {
      key: (op) => formatIntensity(fractionToNumber(op.matmul!.all.intensity)),
      header: "Intensity (all heads)",
      align: "right",
    },
  ];
  for (const roof of roofs) {
    columns.push({
      key: (op) => {
        const e = opEstimate(op, roof);
        return `${e.bound}, ${(e.attainableFlopsPerS / 1e12).toFixed(2)} TFLOP/s, ` +
          formatSeconds(e.seconds);
      },
      header: `${roof.name} (ridge ${ridgeIntensity(roof).toFixed(1)})`,
    });
  }
  return table(columns, ops.filter((op) => op.matmul), { caption: options.caption });
}

/**
 * Seconds in the unit that suits them: `37.3 µs`, `1.10 ms`, `2.50 s`.
 * @example
 * ```ts
 * formatSeconds(3.73e-5); // "37.3 µs"
 * ```
 */
export function formatSeconds(seconds: number): string {
  if (seconds < 1e-3) return `${(seconds * 1e6).toPrecision(3)} µs`;
  if (seconds < 1) return `${(seconds * 1e3).toPrecision(3)} ms`;
  return `${seconds.toPrecision(3)} s`;
}

/** Options of {@linkcode terminalTable}. */
export interface TerminalTableOptions {
  /** Shown above the table. */
  caption?: string;
  /** Add bound, attainable TFLOP/s and time columns for each roof. */
  roofs?: readonly Roof[];
}

/**
 * Everything about every operation in one wide plain-text table for a terminal: M, N, K, exact
 * FLOPs and bytes, exact and decimal intensity, products per layer, the all-heads intensity
 * and, per roof, bound, attainable TFLOP/s and time in µs.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * terminalTable(prefillOps(modelConfig()), {
 *   roofs: [{ name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 }],
 * });
 * ```
 */
export function terminalTable(
  ops: readonly LayerOp[],
  options: TerminalTableOptions = {},
): Displayable {
  const num = (f: (op: LayerOp) => number | bigint) => (op: LayerOp) =>
    op.matmul ? formatNumber(Number(f(op))) : "-";
  const columns: Column<LayerOp>[] = [
    { key: (op) => String(op.step), header: "No.", align: "right" },
    { key: (op) => op.label, header: "Computation" },
    { key: num((op) => op.matmul!.m), header: "M", align: "right" },
    { key: num((op) => op.matmul!.n), header: "N", align: "right" },
    { key: num((op) => op.matmul!.k), header: "K", align: "right" },
    { key: num((op) => op.matmul!.flops), header: "FLOPs", align: "right" },
    { key: num((op) => op.matmul!.bytes), header: "Bytes", align: "right" },
    {
      key: (op) => {
        if (!op.matmul) return "-";
        const { numerator, denominator } = op.matmul.intensity;
        return denominator === 1n ? `${numerator}` : `${numerator}/${denominator}`;
      },
      header: "Intensity (exact)",
      align: "right",
    },
    {
      key: (op) => op.matmul ? formatIntensity(fractionToNumber(op.matmul.intensity)) : "-",
      header: "Intensity",
      align: "right",
    },
    {
      key: (op) => op.matmul ? String(op.matmul.products) : "-",
      header: "Products",
      align: "right",
    },
    {
      key: (op) => op.matmul ? formatIntensity(fractionToNumber(op.matmul.all.intensity)) : "-",
      header: "Intensity (all heads)",
      align: "right",
    },
  ];
  for (const roof of options.roofs ?? []) {
    const est = (op: LayerOp) => opEstimate(op, roof);
    const short = roof.id ?? roof.name;
    columns.push(
      { key: (op) => op.matmul ? est(op).bound : "-", header: `${short} bound` },
      {
        key: (op) => op.matmul ? (est(op).attainableFlopsPerS / 1e12).toFixed(2) : "-",
        header: `${short} TFLOP/s`,
        align: "right",
      },
      {
        key: (op) => op.matmul ? (est(op).seconds * 1e6).toFixed(2) : "-",
        header: `${short} time µs`,
        align: "right",
      },
    );
  }
  return table(columns, ops, { caption: options.caption });
}

/**
 * The derivation of one matmul's intensity in display math: the course's formula, the
 * configuration's symbols, the numbers, the exact reduced fraction and its decimal.
 * @throws {RangeError} for an operation that is not a matrix multiplication.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const c = modelConfig();
 * derivation(prefillOps(c)[0]);
 * ```
 */
export function derivation(op: LayerOp): Displayable {
  return markdown(derivationLatex(op));
}

/**
 * The derivation of {@linkcode derivation} as a Markdown string (`$$…$$`).
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const c = modelConfig();
 * derivationLatex(prefillOps(c)[0]).startsWith("$$"); // true
 * ```
 */
export function derivationLatex(op: LayerOp): string {
  const m = op.matmul;
  if (!m) throw new RangeError(`step ${op.step} (${op.label}) is a ${op.kind}, not a matmul`);
  const { a, b, c } = m.elementBytes;
  const { m: sm, n: sn, k: sk } = m.symbols;
  const dot = (...xs: (string | number)[]) => xs.join(" \\cdot ");
  const shape = (name: string, symbol: string, n: number) =>
    symbol === String(n) ? `${name} = ${n}` : `${name} = ${symbol} = ${n}`;
  // One element size factors out; mixed precisions weigh each operand by its own.
  const bytesOf = (mk: string, kn: string, mn: string) =>
    a === b && b === c
      ? `${a}(${mk} + ${kn} + ${mn})`
      : `${dot(a, mk)} + ${dot(b, kn)} + ${dot(c, mn)}`;
  return [
    "$$",
    `\\begin{aligned}`,
    `&\\text{step ${op.step}: } ${shape("M", sm, m.m)},\\; ${shape("N", sn, m.n)},\\; ` +
    `${shape("K", sk, m.k)} \\\\`,
    `I &= \\frac{2MNK}{${
      a === b && b === c ? `${a}(MK + KN + MN)` : "b_A MK + b_B KN + b_C MN"
    }} = ` +
    `\\frac{${dot(2, sm, sn, sk)}}{${bytesOf(dot(sm, sk), dot(sk, sn), dot(sm, sn))}} \\\\`,
    `&= \\frac{${dot(2, m.m, m.n, m.k)}}{${
      bytesOf(dot(m.m, m.k), dot(m.k, m.n), dot(m.m, m.n))
    }} = \\frac{${m.flops}}{${m.bytes}} = ${intensityLatex(m.intensity)}`,
    `\\end{aligned}`,
    "$$",
  ].join("\n");
}

/** One row of {@linkcode layerTimeTable}. */
interface TimeRow {
  roof: Roof;
  phase: string;
  ops: readonly LayerOp[];
}

/**
 * Per roof and phase: ridge point, estimated matmul time of one layer and the share of it
 * spent in memory-bound operations.
 * @example
 * ```ts
 * import { decodeOps, modelConfig, prefillOps } from "../intensity/mod.ts";
 * const c = modelConfig();
 * layerTimeTable({ prefill: prefillOps(c), decode: decodeOps(c) }, [
 *   { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 },
 * ]);
 * ```
 */
export function layerTimeTable(
  phases: Readonly<Record<string, readonly LayerOp[]>>,
  roofs: readonly Roof[],
  caption?: string,
): Displayable {
  const rows: TimeRow[] = roofs.flatMap((roof) =>
    Object.entries(phases).map(([phase, ops]) => ({ roof, phase, ops }))
  );
  const time = (r: TimeRow) => layerTime(r.ops, r.roof);
  return table<TimeRow>(
    [
      { key: (r) => r.roof.name, header: "Hardware" },
      {
        key: (r) => ridgeIntensity(r.roof).toFixed(1),
        header: "Ridge (FLOP/byte)",
        align: "right",
      },
      { key: (r) => r.phase, header: "Phase" },
      { key: (r) => (time(r).seconds * 1e6).toFixed(1), header: "Matmul time µs", align: "right" },
      {
        key: (r) => `${(100 * time(r).memoryBoundSeconds / time(r).seconds).toFixed(1)} %`,
        header: "Memory-bound share",
        align: "right",
      },
    ],
    rows,
    { caption },
  );
}

/**
 * One derivation per distinct intensity of `ops` (e.g. steps 1, 2, 3, 10 share one), each
 * headed by the steps it covers.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const c = modelConfig();
 * distinctDerivations(prefillOps(c)); // 4 derivations: 1,2,3,10 · 7 · 8 · 11,13
 * ```
 */
export function distinctDerivations(ops: readonly LayerOp[]): Displayable {
  const groups = new Map<string, LayerOp[]>();
  for (const op of ops) {
    if (!op.matmul) continue;
    const { m, n, k, symbols, elementBytes: e } = op.matmul;
    // Same shape and element sizes give the same derivation.
    const key = `${m}|${n}|${k}|${symbols.m}|${symbols.n}|${symbols.k}|${e.a}|${e.b}|${e.c}`;
    groups.set(key, [...(groups.get(key) ?? []), op]);
  }
  const parts = [...groups.values()].map((group) =>
    `**Step${group.length > 1 ? "s" : ""} ${group.map((op) => op.step).join(", ")}** ` +
    `(${shortComputation(group[0])})\n\n${derivationLatex(group[0])}`
  );
  return markdown(parts.join("\n\n"));
}

/**
 * The per-head attention products against all heads (and sequences) together: FLOPs and
 * bytes of one product and of all of them, and both intensities.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * allHeadsTable(prefillOps(modelConfig()));
 * ```
 */
export function allHeadsTable(ops: readonly LayerOp[], caption?: string): Displayable {
  const rows = ops.filter((op) => op.matmul?.perHead);
  const m = (op: LayerOp) => op.matmul!;
  return table<LayerOp>(
    [
      { key: (op) => String(op.step), header: "No.", align: "right" },
      { key: shortComputation, header: "Computation" },
      { key: (op) => countLatex(m(op).flops), header: "FLOPs, one head", align: "right" },
      { key: (op) => countLatex(m(op).bytes), header: "Bytes, one head", align: "right" },
      { key: (op) => `$${intensityLatex(m(op).intensity)}$`, header: "Intensity, one head" },
      { key: (op) => String(m(op).products), header: "Products", align: "right" },
      { key: (op) => countLatex(m(op).all.flops), header: "FLOPs, all", align: "right" },
      { key: (op) => countLatex(m(op).all.bytes), header: "Bytes, all", align: "right" },
      { key: (op) => `$${intensityLatex(m(op).all.intensity)}$`, header: "Intensity, all" },
    ],
    rows,
    { caption },
  );
}

/** One row of {@linkcode crossoverTable}. */
interface CrossoverRow {
  roof: Roof;
  prefillSeqLen?: number;
  decodeBatch?: number;
  attentionBatch?: number;
}

/**
 * Per roof: the ridge point, the shortest prompt L at which the prefill Q projection becomes
 * compute-bound, and the smallest batch B at which the decode Q projection does (attention's
 * decode products, whose intensity batching does not change, are checked too).
 * @example
 * ```ts
 * import { modelConfig } from "../intensity/mod.ts";
 * crossoverTable(modelConfig(), [{ name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 }]);
 * ```
 */
export function crossoverTable(
  config: ModelConfig,
  roofs: readonly Roof[],
  caption?: string,
  limit = 1 << 16,
): Displayable {
  const decodeScores = decodeOps(config).find((op) => op.matmul?.perHead)!.step;
  const rows: CrossoverRow[] = roofs.map((roof) => ({
    roof,
    prefillSeqLen: computeBoundFrom(config, "prefill", "seqLen", 1, roof, limit),
    decodeBatch: computeBoundFrom(config, "decode", "batch", 1, roof, limit),
    attentionBatch: computeBoundFrom(config, "decode", "batch", decodeScores, roof, limit),
  }));
  const never = `never (B ≤ ${formatNumber(limit)})`;
  return table<CrossoverRow>(
    [
      { key: (r) => r.roof.name, header: "Hardware" },
      {
        key: (r) => ridgeIntensity(r.roof).toFixed(1),
        header: "Ridge (FLOP/byte)",
        align: "right",
      },
      {
        key: (r) => r.prefillSeqLen === undefined ? "never" : `L ≥ ${r.prefillSeqLen}`,
        header: "Prefill $QW^Q$ compute-bound from",
      },
      {
        key: (r) => r.decodeBatch === undefined ? never : `B ≥ ${r.decodeBatch}`,
        header: "Decode $tW^Q$ compute-bound from",
      },
      {
        key: (r) => r.attentionBatch === undefined ? never : `B ≥ ${r.attentionBatch}`,
        header: "Decode $Q_iK_i^T$ compute-bound from",
      },
    ],
    rows,
    { caption },
  );
}

/**
 * Model presets side by side: shape, KV cache per token and at L tokens, decode attention
 * intensity (all heads) and the estimated matmul time of one layer on `roof` for each phase.
 * @example
 * ```ts
 * import { modelConfig } from "../intensity/mod.ts";
 * modelTable([modelConfig({ preset: "llama-2-7b" }), modelConfig({ preset: "llama-3-8b" })], {
 *   name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3350e9,
 * });
 * ```
 */
export function modelTable(
  configs: readonly ModelConfig[],
  roof: Roof,
  caption?: string,
): Displayable {
  const scores = (c: ModelConfig) => decodeOps(c).find((op) => op.matmul?.perHead)!.matmul!;
  const time = (ops: readonly LayerOp[]) => formatSeconds(layerTime(ops, roof).seconds);
  const kib = (n: bigint) => `${formatNumber(Number(n) / 1024, 0)} KiB`;
  return table<ModelConfig>(
    [
      {
        key: (c) =>
          `${c.preset ?? "custom"} (${c.ffnKind}, ${c.layers} layer${c.layers === 1 ? "" : "s"})`,
        header: "Model",
      },
      {
        key: (c) => `${c.seqLen}, ${c.dModel}, ${c.heads}/${c.kvHeads}, ${c.ffn}`,
        header: "$L$, $D$, $n_H/n_{KV}$, $F$",
      },
      { key: (c) => kib(kvCacheBytes(c, 1)), header: "KV cache per token", align: "right" },
      {
        key: (c) => `${formatNumber(Number(kvCacheBytes(c)) / 2 ** 20, 0)} MiB`,
        header: "KV cache at $L$",
        align: "right",
      },
      {
        key: (c) =>
          `${formatIntensity(fractionToNumber(scores(c).intensity))} → ` +
          formatIntensity(fractionToNumber(scores(c).all.intensity)),
        header: "Decode $Q_iK_i^T$: one head → all",
      },
      { key: (c) => time(prefillOps(c)), header: "Prefill / layer", align: "right" },
      { key: (c) => time(decodeOps(c)), header: "Decode / layer", align: "right" },
    ],
    configs,
    { caption: caption ?? `Estimated matmul time per layer on ${roof.name}` },
  );
}
