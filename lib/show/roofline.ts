/**
 * Roofline and intensity plots as Plotly figures (mime bundles through `plot()`): a log-log
 * roofline with a layer's operations placed on each processor's roof, and each matmul's
 * intensity against a swept size with the processors' ridge points drawn across.
 *
 * @example
 * ```ts
 * import { decodeOps, hardwareRoof, loadHardware, modelConfig, prefillOps } from "../intensity/mod.ts";
 * import { rooflinePlot } from "./roofline.ts";
 * const c = modelConfig();
 * rooflinePlot(
 *   [{ name: "prefill", ops: prefillOps(c) }, { name: "decode", ops: decodeOps(c) }],
 *   [hardwareRoof(loadHardware().v100, "fp16")],
 * );
 * ```
 * @module
 */
import {
  attainableFlopsPerS,
  fractionToNumber,
  type IntensitySweep,
  type LayerOp,
  ridgeIntensity,
  type Roof,
} from "../intensity/mod.ts";
import { type Displayable, plot, type PlotlyFigure } from "./mod.ts";
import { measuredRoof, type RooflineResult } from "../bench/results.ts";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "star"];
const RIDGE_DASHES = ["dash", "dot", "dashdot", "longdash"];

/** A named set of operations placed on the roofline (e.g. one phase). */
export interface OpSeries {
  /** Legend name. */
  readonly name: string;
  /** Operations; non-matmul rows are skipped. */
  readonly ops: readonly LayerOp[];
}

/** Options of {@linkcode rooflineFigure}. */
export interface RooflineOptions {
  /** Figure title. */
  title?: string;
}

/** The matmuls of `ops` grouped by identical all-heads intensity. */
function pointsOf(ops: readonly LayerOp[]): { intensity: number; ops: LayerOp[] }[] {
  const groups = new Map<string, { intensity: number; ops: LayerOp[] }>();
  for (const op of ops) {
    if (!op.matmul) continue;
    const f = op.matmul.all.intensity;
    const key = `${f.numerator}/${f.denominator}`;
    const g = groups.get(key) ?? { intensity: fractionToNumber(f), ops: [] };
    g.ops.push(op);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/**
 * Step labels of points sorted by intensity: points within 5% of each other share one label,
 * shown on the first of them, so near-coincident operations stay readable.
 */
function clusterLabels(points: { intensity: number; ops: LayerOp[] }[]): string[] {
  const labels = points.map(() => "");
  let start = 0;
  for (let j = 1; j <= points.length; j++) {
    if (j === points.length || points[j].intensity > points[start].intensity * 1.05) {
      const steps = points.slice(start, j).flatMap((p) => p.ops.map((op) => op.step));
      labels[start] = steps.sort((a, b) => a - b).join(",");
      start = j;
    }
  }
  return labels;
}

/** One roof line of a {@linkcode rooflineFigure}. */
export interface RoofLine {
  /** The processor. */
  readonly roof: Roof;
  /** Legend text. */
  readonly name: string;
  /** Line colour. */
  readonly color: string;
  /** The point sets drawn right after this roof (in the legend's order). */
  readonly points: readonly RooflinePoints[];
}

/** A set of points of a {@linkcode rooflineFigure}, at their intensity. */
export interface RooflinePoints {
  /** Legend text. */
  readonly name: string;
  /** Intensities, FLOP/byte. */
  readonly intensity: readonly number[];
  /** FLOP/s of each point. */
  readonly flopsPerS: readonly number[];
  /** Text beside each point ("" for none). */
  readonly text?: readonly string[];
  /** Where each text sits (Plotly `textposition`). */
  readonly textPosition?: readonly string[];
  /** Hover text of each point. */
  readonly hover?: readonly string[];
  /** Marker colour and symbol. */
  readonly color: string;
  /** Plotly marker symbol. */
  readonly symbol: string;
  /** Error bars below and above each point, in FLOP/s. */
  readonly error?: { readonly minus: readonly number[]; readonly plus: readonly number[] };
  /**
   * Whether the set has its own legend entry; without one it toggles with its roof's.
   * @default {true}
   */
  readonly inLegend?: boolean;
}

/** Everything {@linkcode rooflineFigure} draws. */
export interface RooflineSpec {
  /** Roofs, drawn as min(P, I·W), each followed by its points. */
  readonly roofs: readonly RoofLine[];
  /** The y axis unit: FLOP/s are divided by 10⁹ or 10¹². */
  readonly unit: "GFLOP/s" | "TFLOP/s";
  /** Title (may hold `<br><sub>…</sub>`). */
  readonly title: string;
  /** The y axis title (default `Attainable <unit>`). */
  readonly yTitle?: string;
  /** Legend-only entries explaining marker shapes (e.g. one per phase), drawn in grey. */
  readonly markerKey?: readonly { readonly name: string; readonly symbol: string }[];
  /** Extra layout (size, margins, legend). */
  readonly layout?: Record<string, unknown>;
}

/**
 * The one roofline figure builder: each roof as min(P, I·W) on log-log axes spanning the
 * points and the ridges, each followed by its point sets.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * const f = rooflineFigure({
 *   roofs: [{ roof: v100, name: "V100", color: "#000", points: [
 *     { name: "op", intensity: [1], flopsPerS: [0.9e12], color: "#000", symbol: "circle" },
 *   ] }],
 *   unit: "TFLOP/s", title: "t",
 * });
 * assertEquals(f.data.length, 2);
 * assertEquals((f.data[0] as { y: number[] }).y[1], 125); // the ridge sits on the peak
 * ```
 */
export function rooflineFigure(spec: RooflineSpec): PlotlyFigure {
  if (spec.roofs.length === 0) throw new RangeError("a roofline needs at least one roof");
  const scale = spec.unit === "TFLOP/s" ? 1e12 : 1e9;
  const intensities = spec.roofs.flatMap((r) => r.points.flatMap((p) => p.intensity));
  const ridges = spec.roofs.map((r) => ridgeIntensity(r.roof));
  const xMin = Math.min(0.25, ...intensities.map((x) => x / 2));
  const xMax = Math.max(...ridges.map((r) => r * 8), ...intensities.map((x) => x * 2));
  const data: Record<string, unknown>[] = [];
  for (const [i, r] of spec.roofs.entries()) {
    data.push({
      type: "scatter",
      mode: "lines",
      name: r.name,
      legendgroup: `roof-${i}`,
      x: [xMin, ridges[i], xMax],
      y: [xMin, ridges[i], xMax].map((x) => attainableFlopsPerS(x, r.roof) / scale),
      line: { color: r.color, width: 2 },
      hovertemplate: `I = %{x:.3g} FLOP/B<br>%{y:.3g} ${spec.unit}<extra></extra>`,
    });
    for (const p of r.points) data.push({ ...pointsTrace(p, scale), legendgroup: `roof-${i}` });
  }
  for (const key of spec.markerKey ?? []) {
    data.push({
      type: "scatter",
      mode: "markers",
      name: key.name,
      x: [null],
      y: [null],
      marker: { color: "#666", symbol: key.symbol, size: 9, line: { width: 1 } },
      hoverinfo: "skip",
    });
  }
  return {
    data,
    layout: {
      title: { text: spec.title },
      xaxis: { ...LOG_AXIS, title: { text: "Arithmetic intensity (FLOP/byte)" } },
      yaxis: { ...LOG_AXIS, title: { text: spec.yTitle ?? `Attainable ${spec.unit}` } },
      ...spec.layout,
    },
  };
}

/**
 * A log axis labelled at decades only (1, 10, 100, …), never at the minor ticks between.
 * @example
 * ```ts
 * LOG_AXIS.dtick; // 1
 * ```
 */
export const LOG_AXIS = { type: "log", dtick: 1 } as const;

/**
 * A plain-text computation (`Q_i·K_i^T`, `W^Q`) with its sub- and superscripts as Plotly
 * draws them (`<sub>`, `<sup>`), so legends read as math rather than as code.
 * @example
 * ```ts
 * plotlyMath("Score_i = softmax(Q_i·K_i^T / √D)"); // "Score<sub>i</sub> = softmax(Q<sub>i</sub>·K<sub>i</sub><sup>T</sup> / √D)"
 * ```
 */
export function plotlyMath(text: string): string {
  return text.replace(/_(\w+)/g, "<sub>$1</sub>").replace(/\^(\w+)/g, "<sup>$1</sup>");
}

function pointsTrace(p: RooflinePoints, scale: number): Record<string, unknown> {
  return {
    type: "scatter",
    mode: p.text ? "markers+text" : "markers",
    name: p.name,
    x: p.intensity,
    y: p.flopsPerS.map((f) => f / scale),
    ...(p.text ? { text: p.text, textfont: { size: 10, color: p.color } } : {}),
    ...(p.inLegend === false ? { showlegend: false } : {}),
    ...(p.textPosition ? { textposition: p.textPosition } : {}),
    ...(p.hover ? { hovertext: p.hover, hoverinfo: "text" } : {}),
    ...(p.error
      ? {
        error_y: {
          type: "data",
          symmetric: false,
          array: p.error.plus.map((e) => e / scale),
          arrayminus: p.error.minus.map((e) => e / scale),
        },
      }
      : {}),
    marker: { color: p.color, symbol: p.symbol, size: 9, line: { width: 1 } },
  };
}

/**
 * A layer's roofline: each roof in TFLOP/s, and each series' matrix multiplications (all heads
 * together) at their intensity on every roof, labelled with their step numbers.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * // The roof, its prefill points, and the legend's key to the prefill marker.
 * assertEquals(layerRooflineFigure([{ name: "prefill", ops: prefillOps(modelConfig()) }], [v100]).data.length, 3);
 * ```
 */
export function layerRooflineFigure(
  series: readonly OpSeries[],
  roofs: readonly Roof[],
  options: RooflineOptions = {},
): PlotlyFigure {
  const lines: RoofLine[] = roofs.map((roof, r) => ({
    roof,
    color: COLORS[r % COLORS.length],
    // Four significant digits: datasheet roofs print as given, measured ones stay readable.
    name: `${roof.id ?? roof.name}: ${+(roof.peakFlopsPerS / 1e12).toPrecision(4)} TFLOP/s, ` +
      `${+(roof.bandwidthBytesPerS / 1e9).toPrecision(4)} GB/s, ridge ${
        ridgeIntensity(roof).toFixed(1)
      }`,
    points: series.map((s, i) => {
      const sorted = pointsOf(s.ops).sort((a, b) => a.intensity - b.intensity);
      return {
        name: `${s.name} on ${roof.id ?? roof.name}`,
        inLegend: false,
        intensity: sorted.map((p) => p.intensity),
        flopsPerS: sorted.map((p) => attainableFlopsPerS(p.intensity, roof)),
        text: r === 0 ? clusterLabels(sorted) : sorted.map(() => ""),
        textPosition: sorted.map((_, j) => (i + j) % 2 === 0 ? "top center" : "bottom center"),
        hover: sorted.map((p) =>
          `${s.name} on ${roof.name}<br>` +
          p.ops.map((op) => `${op.step}: ${op.label}`).join("<br>") +
          `<br>I = ${p.intensity.toPrecision(6)} FLOP/B`
        ),
        color: COLORS[r % COLORS.length],
        symbol: SYMBOLS[i % SYMBOLS.length],
      };
    }),
  }));
  return rooflineFigure({
    roofs: lines,
    unit: "TFLOP/s",
    title: options.title ?? "Roofline",
    markerKey: series.map((s, i) => ({ name: s.name, symbol: SYMBOLS[i % SYMBOLS.length] })),
    layout: {
      legend: { orientation: "h", y: -0.22 },
      margin: { t: 50, b: 40 },
      width: 900,
      height: 520,
    },
  });
}

const MEASURED_COLORS: Record<string, string> = { wasm: "#1f77b4", webgpu: "#d62728" };

/**
 * This machine's measured roofline from the benchmark's roofline part: for each backend the
 * roof drawn from its measured bandwidth and peak, the timed MatMuls at their analytical
 * intensity and measured GFLOP/s (with quartiles), and where the roof says each could be.
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { readBenchResults } from "../bench/results.ts";
 * const roofline = (await readBenchResults()).parts.roofline;
 * if (roofline) assert(measuredRooflineFigure(roofline).data.length >= 3);
 * ```
 */
export function measuredRooflineFigure(result: RooflineResult): PlotlyFigure {
  const roofs: RoofLine[] = result.backends.map((b) => {
    const roof = measuredRoof(b);
    const color = MEASURED_COLORS[b.backend] ?? "#333";
    const intensity = b.ops.map((o) => o.intensity);
    const predicted = intensity.map((i) => attainableFlopsPerS(i, roof));
    return {
      roof,
      color,
      name: `${b.backend} roof: ${b.bandwidth.gbPerS.median.toFixed(1)} GB/s, ` +
        `${(roof.peakFlopsPerS / 1e9).toFixed(1)} GFLOP/s`,
      points: [{
        name: `${b.backend} measured MatMuls`,
        intensity,
        flopsPerS: b.ops.map((o) => o.gflopsPerS.median * 1e9),
        hover: b.ops.map((o) =>
          `${o.label}<br>AI ${o.intensity.toFixed(2)} FLOP/B<br>` +
          `${o.gflopsPerS.median.toPrecision(3)} GFLOP/s`
        ),
        error: {
          minus: b.ops.map((o) => (o.gflopsPerS.median - o.gflopsPerS.q1) * 1e9),
          plus: b.ops.map((o) => (o.gflopsPerS.q3 - o.gflopsPerS.median) * 1e9),
        },
        color,
        symbol: "circle",
      }, {
        name: `${b.backend} roofline prediction`,
        intensity,
        flopsPerS: predicted,
        hover: b.ops.map((o, j) =>
          `${o.label}<br>roof: ${(predicted[j] / 1e9).toPrecision(3)} GFLOP/s`
        ),
        color,
        symbol: "circle-open",
      }],
    };
  });
  const { seqLen, dModel, nHeads } = result.layer;
  return rooflineFigure({
    roofs,
    unit: "GFLOP/s",
    yTitle: "GFLOP/s",
    title: `This machine's measured roofline, fp32<br><sub>Question 1's MatMuls at ` +
      `L = ${seqLen}, D = ${dModel}, n_H = ${nHeads}</sub>`,
    layout: { margin: { t: 90 }, legend: { orientation: "h", y: -0.3 } },
  });
}

/**
 * {@linkcode rooflineFigure} as a notebook output.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * rooflinePlot([{ name: "prefill", ops: prefillOps(modelConfig()) }], [v100]);
 * ```
 */
export function rooflinePlot(
  series: readonly OpSeries[],
  roofs: readonly Roof[],
  options: RooflineOptions = {},
): Displayable {
  return plot(layerRooflineFigure(series, roofs, options));
}

const FIELD_TITLES: Record<string, string> = {
  seqLen: "Sequence length L",
  batch: "Batch size B",
  dModel: "Model dimension D",
  ffn: "FFN width F",
};

/**
 * Intensity of each matmul along a sweep (log-log), with the ridge point of each roof as a
 * dashed line: above it an operation is compute-bound on that processor.
 * @example
 * ```ts
 * import { intensitySweep, modelConfig } from "../intensity/mod.ts";
 * const s = intensitySweep(modelConfig(), "decode", "batch", [1, 4, 16]);
 * intensitySweepFigure(s, []).data.length; // 3
 * ```
 */
export function intensitySweepFigure(
  sweep: IntensitySweep,
  roofs: readonly Roof[],
  title?: string,
): PlotlyFigure {
  const data: Record<string, unknown>[] = sweep.series.map((s, i) => ({
    type: "scatter",
    mode: "lines+markers",
    name: `${s.steps.length > 1 ? "steps" : "step"} ${s.steps.join(",")}: ${plotlyMath(s.label)}`,
    x: sweep.values,
    y: s.intensity,
    marker: { symbol: SYMBOLS[i % SYMBOLS.length] },
    hovertemplate: `${FIELD_TITLES[sweep.field]} = %{x}<br>I = %{y:.4g} FLOP/B<extra></extra>`,
  }));
  const x = [Math.min(...sweep.values), Math.max(...sweep.values)];
  roofs.forEach((roof, r) => {
    const ridge = ridgeIntensity(roof);
    data.push({
      type: "scatter",
      mode: "lines",
      name: `ridge of ${roof.name} (${ridge.toFixed(1)} FLOP/B)`,
      x,
      y: [ridge, ridge],
      // Grey dashes set ridges apart from the intensity curves, which use Plotly's colours.
      line: { dash: RIDGE_DASHES[r % RIDGE_DASHES.length], color: "#555", width: 1.5 },
      hoverinfo: "name",
    });
  });
  return {
    data,
    layout: {
      title: {
        text: title ??
          `${sweep.phase === "prefill" ? "Prefill" : "Decode"}: intensity against ` +
            FIELD_TITLES[sweep.field].toLowerCase().replace(/ (\w)$/, (m) => m.toUpperCase()),
      },
      xaxis: { ...LOG_AXIS, title: { text: FIELD_TITLES[sweep.field] } },
      yaxis: { ...LOG_AXIS, title: { text: "Arithmetic intensity (FLOP/byte), all heads" } },
      legend: { orientation: "h", y: -0.2 },
      width: 900,
      height: 550,
    },
  };
}

/**
 * {@linkcode intensitySweepFigure} as a notebook output.
 * @example
 * ```ts
 * import { intensitySweep, modelConfig } from "../intensity/mod.ts";
 * intensitySweepPlot(intensitySweep(modelConfig(), "prefill", "seqLen", [256, 4096]), []);
 * ```
 */
export function intensitySweepPlot(
  sweep: IntensitySweep,
  roofs: readonly Roof[],
  title?: string,
): Displayable {
  return plot(intensitySweepFigure(sweep, roofs, title));
}
