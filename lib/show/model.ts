/**
 * Tables and a plot for the whole model: every operation of a layer with its cost, the whole
 * model's totals and memory, a request's latency per GPU, and how a decode step's intensity
 * climbs towards each GPU's ridge point as the batch grows.
 *
 * @example
 * ```ts
 * import { modelConfig, wholeModelReport } from "../intensity/mod.ts";
 * import { latencyTable } from "./model.ts";
 * const h100 = { name: "H100", peakFlopsPerS: 989e12, bandwidthBytesPerS: 3.35e12 };
 * const r = wholeModelReport(modelConfig({ preset: "llama-2-7b" }), [h100], {
 *   promptLen: 512, outputLen: 64,
 * });
 * latencyTable(r);
 * ```
 * @module
 */
import {
  type CostedOp,
  decodeStepIntensity,
  type ModelConfig,
  type ModelCostOptions,
  PRECISIONS,
  type Request,
  ridgeIntensity,
  type Roof,
  type WholeModelReport,
  wholeModelReport,
} from "../intensity/mod.ts";
import { formatSeconds } from "./intensity.ts";
import { LOG_AXIS } from "./roofline.ts";
import {
  type Column,
  type Displayable,
  formatNumber,
  markdown,
  plot,
  type PlotlyFigure,
  table,
} from "./mod.ts";

/**
 * Bytes in decimal units: `512 B`, `13.5 GB`.
 * @example
 * ```ts
 * formatBytes(13476831232n); // "13.48 GB"
 * ```
 */
export function formatBytes(bytes: bigint | number): string {
  const n = Number(bytes);
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0, v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

const ratio = (flops: bigint, bytes: bigint) =>
  bytes === 0n ? "-" : formatNumber(Number(flops) / Number(bytes), 2);

/**
 * Every operation of one layer: handout step (where it has one), FLOPs, bytes split into
 * weights, activations and KV cache, intensity and, per roof, the bound and the time.
 * @example
 * ```ts
 * import { layerCost, modelConfig } from "../intensity/mod.ts";
 * layerCostTable(layerCost(modelConfig(), "decode"), []);
 * ```
 */
export function layerCostTable(
  ops: readonly CostedOp[],
  roofs: readonly Roof[],
  caption?: string,
): Displayable {
  const count = (f: (op: CostedOp) => bigint) => (op: CostedOp) => formatNumber(Number(f(op)));
  const columns: Column<CostedOp>[] = [
    { key: (op) => op.name, header: "Operation" },
    { key: (op) => op.handoutStep?.toString() ?? "", header: "Step", align: "right" },
    { key: count((op) => op.flops), header: "FLOPs", align: "right" },
    { key: count((op) => op.weightBytes), header: "Weight B", align: "right" },
    { key: count((op) => op.activationBytes), header: "Activation B", align: "right" },
    { key: count((op) => op.kvBytes), header: "KV B", align: "right" },
    { key: (op) => ratio(op.flops, op.bytes), header: "FLOP/B", align: "right" },
  ];
  for (const roof of roofs) {
    const short = roof.id ?? roof.name;
    const seconds = (op: CostedOp) =>
      Math.max(Number(op.flops) / roof.peakFlopsPerS, Number(op.bytes) / roof.bandwidthBytesPerS);
    const bound = (op: CostedOp) =>
      Number(op.flops) / Number(op.bytes) > ridgeIntensity(roof) ? "compute" : "memory";
    columns.push(
      { key: (op) => op.bytes === 0n ? "-" : bound(op), header: `${short} bound` },
      {
        key: (op) => op.bytes === 0n ? "-" : formatSeconds(seconds(op)),
        header: `${short} time`,
        align: "right",
      },
    );
  }
  return table(columns, ops, { caption });
}

/**
 * The whole model's parameters, totals per phase and memory footprint.
 * @example
 * ```ts
 * import { modelConfig, wholeModelReport } from "../intensity/mod.ts";
 * wholeModelTable(wholeModelReport(modelConfig({ preset: "llama-3-8b" }), [], {
 *   promptLen: 1024, outputLen: 128,
 * }));
 * ```
 */
export function wholeModelTable(report: WholeModelReport, caption?: string): Displayable {
  const { phases, memory, parameters } = report;
  const rows: [string, string][] = [
    ["Parameters", formatNumber(Number(parameters.total))],
    [
      `Prefill of ${report.request.promptLen} tokens`,
      `${formatNumber(Number(phases.prefill.flops))} FLOPs, ${formatBytes(phases.prefill.bytes)} ` +
      `moved (${formatNumber(phases.prefill.intensity, 1)} FLOP/B)`,
    ],
    [
      "One decode step after it",
      `${formatNumber(Number(phases.decode.flops))} FLOPs, ${formatBytes(phases.decode.bytes)} ` +
      `moved (${formatNumber(phases.decode.intensity, 2)} FLOP/B)`,
    ],
    ["Weights", formatBytes(memory.weightBytes)],
    [
      `KV cache (${report.request.promptLen + report.request.outputLen} tokens)`,
      formatBytes(memory.kvCacheBytes),
    ],
    ["Peak activations", formatBytes(memory.activationBytes)],
    ["Memory needed", formatBytes(memory.totalBytes)],
  ];
  return table<[string, string]>(
    [{ key: (r) => r[0], header: "Whole model" }, { key: (r) => r[1], header: "" }],
    rows,
    { caption },
  );
}

/**
 * Per roof: time to first token, time per output token, the whole request, tokens/s, whether
 * it fits the GPU's memory, the largest batch that does, and the batch from which one decode
 * step is compute-bound.
 * @example
 * ```ts
 * import { modelConfig, wholeModelReport } from "../intensity/mod.ts";
 * const a100 = { name: "A100", peakFlopsPerS: 312e12, bandwidthBytesPerS: 2.039e12,
 *   memoryBytes: 80e9 };
 * latencyTable(wholeModelReport(modelConfig({ preset: "llama-2-7b" }), [a100], {
 *   promptLen: 512, outputLen: 128,
 * }));
 * ```
 */
export function latencyTable(report: WholeModelReport, caption?: string): Displayable {
  type Row = WholeModelReport["roofs"][number];
  return table<Row>(
    [
      { key: (r) => r.roof, header: "Hardware" },
      { key: (r) => formatSeconds(r.latency.ttftSeconds), header: "TTFT", align: "right" },
      { key: (r) => formatSeconds(r.latency.tpotSeconds), header: "TPOT", align: "right" },
      { key: (r) => formatSeconds(r.latency.totalSeconds), header: "Total", align: "right" },
      { key: (r) => formatNumber(r.latency.tokensPerS, 0), header: "Tokens/s", align: "right" },
      {
        key: (r) => r.fits === undefined ? "?" : r.fits ? "yes" : "no",
        header: "Fits",
      },
      {
        key: (r) => r.maxBatch === undefined ? "?" : String(r.maxBatch),
        header: "Max batch",
        align: "right",
      },
      {
        key: (r) =>
          r.decodeComputeBoundBatch === undefined ? "never" : `B ≥ ${r.decodeComputeBoundBatch}`,
        header: "Decode step compute-bound",
      },
      {
        key: (r) =>
          r.projectionComputeBoundBatch === undefined
            ? "never"
            : `B ≥ ${r.projectionComputeBoundBatch}`,
        header: "Weight products compute-bound",
      },
    ],
    report.roofs,
    { caption },
  );
}

/**
 * The plot of a whole decode step's intensity against the batch, one curve per context
 * length, with each roof's ridge point: a curve crosses a ridge at the batch from which decode
 * is compute-bound, and long contexts flatten below it (the KV cache grows with the batch).
 * @example
 * ```ts
 * import { modelConfig } from "../intensity/mod.ts";
 * decodeBatchFigure(modelConfig({ preset: "llama-3-8b" }), [128, 4096], [1, 64, 1024], []);
 * ```
 */
export function decodeBatchFigure(
  config: ModelConfig,
  contexts: readonly number[],
  batches: readonly number[],
  roofs: readonly Roof[],
  options: ModelCostOptions = {},
): PlotlyFigure {
  const data: Record<string, unknown>[] = contexts.map((seqLen) => ({
    type: "scatter",
    mode: "lines+markers",
    name: `context ${seqLen}`,
    x: batches,
    y: batches.map((batch) => decodeStepIntensity({ ...config, seqLen, batch }, options)),
    hovertemplate: `B = %{x}<br>I = %{y:.3g} FLOP/B<extra>context ${seqLen}</extra>`,
  }));
  const x = [Math.min(...batches), Math.max(...batches)];
  for (const roof of roofs) {
    const ridge = ridgeIntensity(roof);
    data.push({
      type: "scatter",
      mode: "lines",
      name: `ridge of ${roof.name} (${ridge.toFixed(0)})`,
      x,
      y: [ridge, ridge],
      line: { dash: "dot", color: "#555", width: 1.2 },
      hoverinfo: "name",
    });
  }
  return {
    data,
    layout: {
      title: { text: `${config.name}: one decode step's intensity against the batch` },
      xaxis: { ...LOG_AXIS, title: { text: "Batch B" } },
      yaxis: { ...LOG_AXIS, title: { text: "FLOP/byte, whole step" } },
      legend: { orientation: "h", y: -0.2 },
      width: 900,
      height: 500,
    },
  };
}

/**
 * {@linkcode decodeBatchFigure} as a notebook output.
 * @example
 * ```ts
 * import { modelConfig } from "../intensity/mod.ts";
 * decodeBatchPlot(modelConfig({ preset: "llama-2-7b" }), [512], [1, 8, 64], []);
 * ```
 */
export function decodeBatchPlot(
  config: ModelConfig,
  contexts: readonly number[],
  batches: readonly number[],
  roofs: readonly Roof[],
  options: ModelCostOptions = {},
): Displayable {
  return plot(decodeBatchFigure(config, contexts, batches, roofs, options));
}

/** One row of {@linkcode precisionTable}. */
interface PrecisionRow {
  name: string;
  config: ModelConfig;
  report: WholeModelReport;
}

/**
 * The same request under several precisions on one roof: weight memory, TTFT, TPOT and the
 * largest batch that fits. The roof's peak should match each precision's arithmetic type, so
 * `roofOf` is asked for a roof per configuration.
 * @example
 * ```ts
 * import { hardwareRoof, loadHardware, modelConfig, PRECISIONS } from "../intensity/mod.ts";
 * const h100 = loadHardware().h100;
 * precisionTable(modelConfig({ preset: "llama-2-7b" }), (c) => hardwareRoof(h100, c.dtype), {
 *   promptLen: 512, outputLen: 32,
 * }, ["fp16", "w4a16"]);
 * ```
 */
export function precisionTable(
  config: ModelConfig,
  roofOf: (config: ModelConfig) => Roof,
  request: Request,
  precisions: readonly string[],
  caption?: string,
): Displayable {
  const rows: PrecisionRow[] = precisions.map((name) => {
    const preset = PRECISIONS[name];
    if (preset === undefined) {
      throw new RangeError(`unknown precision "${name}"; known: ${Object.keys(PRECISIONS)}`);
    }
    const c = { ...config, ...preset };
    return { name, config: c, report: wholeModelReport(c, [roofOf(c)], request) };
  });
  const roof = (r: PrecisionRow) => r.report.roofs[0];
  return table<PrecisionRow>(
    [
      { key: (r) => r.name, header: "Precision" },
      {
        key: (r) => `${r.config.dtype} / ${r.config.weightDtype} / ${r.config.kvDtype}`,
        header: "Activations / weights / KV",
      },
      { key: (r) => formatBytes(r.report.memory.weightBytes), header: "Weights", align: "right" },
      { key: (r) => formatSeconds(roof(r).latency.ttftSeconds), header: "TTFT", align: "right" },
      { key: (r) => formatSeconds(roof(r).latency.tpotSeconds), header: "TPOT", align: "right" },
      {
        key: (r) => roof(r).maxBatch === undefined ? "?" : String(roof(r).maxBatch),
        header: "Max batch",
        align: "right",
      },
    ],
    rows,
    { caption },
  );
}

/**
 * Sentences that read a {@linkcode latencyTable}'s numbers: which GPU serves the request
 * fastest, how much of a token's time is the weights' traffic, where decode turns
 * compute-bound. Every word that compares is chosen from the numbers.
 * @example
 * ```ts
 * import { hardwareRoof, loadHardware, modelConfig, wholeModelReport } from "../intensity/mod.ts";
 * const hw = loadHardware();
 * const roofs = ["a100", "h100"].map((id) => hardwareRoof(hw[id], "fp16"));
 * latencySummary(wholeModelReport(modelConfig({ preset: "llama-3-8b" }), roofs, {
 *   promptLen: 1024, outputLen: 256,
 * }), roofs);
 * ```
 */
export function latencySummary(report: WholeModelReport, roofs: readonly Roof[]): Displayable {
  if (report.roofs.length === 0) return markdown("");
  const rows = report.roofs.map((r, i) => ({ ...r, bandwidth: roofs[i].bandwidthBytesPerS }));
  const byTpot = [...rows].sort((x, y) => x.latency.tpotSeconds - y.latency.tpotSeconds);
  const fast = byTpot[0], slow = byTpot[byTpot.length - 1];
  const weightsShare = (r: typeof rows[number]) =>
    Number(report.phases.decode.weightBytes) / r.bandwidth / r.latency.tpotSeconds;
  const { promptLen, outputLen } = report.request;
  const parts = [
    `For a ${promptLen}-token prompt and ${outputLen} output tokens, ${fast.roof} generates ` +
    `fastest (${formatSeconds(fast.latency.tpotSeconds)} per token` +
    (rows.length > 1
      ? `, ${(slow.latency.tpotSeconds / fast.latency.tpotSeconds).toFixed(1)}× faster than ` +
        `${slow.roof})`
      : ")") +
    `. Reading the weights a decode step needs takes ${
      (100 * weightsShare(fast)).toFixed(0)
    } % of each ` +
    `token's time there: at batch ${report.batch} ` +
    (weightsShare(fast) > 0.5
      ? "the memory bandwidth, not the peak FLOP/s, sets the speed."
      : "the weights are no longer the main cost."),
  ];
  const turns = rows.filter((r) => r.decodeComputeBoundBatch !== undefined);
  const never = rows.filter((r) => r.decodeComputeBoundBatch === undefined);
  if (turns.length > 0) {
    parts.push(
      `A whole decode step at context ${promptLen} turns compute-bound from ` +
        turns.map((r) => `B = ${r.decodeComputeBoundBatch} on ${r.roof}`).join(", ") + ".",
    );
  }
  if (never.length > 0) {
    parts.push(
      `On ${never.map((r) => r.roof).join(", ")} no batch makes a decode step compute-bound at ` +
        `that context: the KV cache read grows with the batch as fast as the FLOPs do.`,
    );
  }
  const fit = rows.filter((r) => r.maxBatch !== undefined);
  if (fit.length > 0) {
    const most = fit.reduce((x, y) => (y.maxBatch! > x.maxBatch! ? y : x));
    parts.push(
      `Memory holds at most ${
        fit.map((r) => `${r.maxBatch} sequences on ${r.roof}`).join(", ")
      } of this length; ${most.roof} holds the most.`,
    );
  }
  return markdown(parts.join(" "));
}
