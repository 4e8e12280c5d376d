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

/**
 * The roofline figure: each roof as min(P, I·W) in TFLOP/s on log-log axes, and each series'
 * matrix multiplications (all heads together) at their intensity on every roof.
 * @example
 * ```ts
 * import { modelConfig, prefillOps } from "../intensity/mod.ts";
 * const v100 = { name: "V100", peakFlopsPerS: 125e12, bandwidthBytesPerS: 900e9 };
 * rooflineFigure([{ name: "prefill", ops: prefillOps(modelConfig()) }], [v100]).data.length; // 2
 * ```
 */
export function rooflineFigure(
  series: readonly OpSeries[],
  roofs: readonly Roof[],
  options: RooflineOptions = {},
): PlotlyFigure {
  if (roofs.length === 0) throw new RangeError("a roofline needs at least one roof");
  const intensities = series.flatMap((s) => pointsOf(s.ops).map((p) => p.intensity));
  const ridges = roofs.map(ridgeIntensity);
  const xMin = Math.min(0.25, ...intensities.map((x) => x / 2));
  const xMax = Math.max(...ridges.map((r) => r * 8), ...intensities.map((x) => x * 2));
  const data: Record<string, unknown>[] = [];
  roofs.forEach((roof, r) => {
    const color = COLORS[r % COLORS.length];
    const ridge = ridges[r];
    data.push({
      type: "scatter",
      mode: "lines",
      // Four significant digits: datasheet roofs print as given, measured ones stay readable.
      name: `${roof.id ?? roof.name}: ${+(roof.peakFlopsPerS / 1e12).toPrecision(4)} TFLOP/s, ` +
        `${+(roof.bandwidthBytesPerS / 1e9).toPrecision(4)} GB/s, ridge ${ridge.toFixed(1)}`,
      x: [xMin, ridge, xMax],
      y: [xMin, ridge, xMax].map((x) => attainableFlopsPerS(x, roof) / 1e12),
      line: { color, width: 2 },
      hovertemplate: "I = %{x:.3g} FLOP/B<br>%{y:.3g} TFLOP/s<extra></extra>",
    });
    series.forEach((s, i) => {
      const points = pointsOf(s.ops).sort((a, b) => a.intensity - b.intensity);
      const labels = r === 0 ? clusterLabels(points) : points.map(() => "");
      data.push({
        type: "scatter",
        mode: "markers+text",
        name: `${s.name} on ${roof.id ?? roof.name}`,
        x: points.map((p) => p.intensity),
        y: points.map((p) => attainableFlopsPerS(p.intensity, roof) / 1e12),
        text: labels,
        textposition: points.map((_, j) => (i + j) % 2 === 0 ? "top center" : "bottom center"),
        textfont: { size: 10, color },
        hovertext: points.map((p) =>
          `${s.name} on ${roof.name}<br>` +
          p.ops.map((op) => `${op.step}: ${op.label}`).join("<br>") +
          `<br>I = ${p.intensity.toPrecision(6)} FLOP/B`
        ),
        hoverinfo: "text",
        marker: { color, symbol: SYMBOLS[i % SYMBOLS.length], size: 9, line: { width: 1 } },
      });
    });
  });
  return {
    data,
    layout: {
      title: { text: options.title ?? "Roofline" },
      xaxis: { type: "log", title: { text: "Arithmetic intensity (FLOP/byte)" } },
      yaxis: { type: "log", title: { text: "Attainable TFLOP/s" } },
      legend: { orientation: "h", y: -0.18 },
      margin: { t: 50, b: 40 },
      width: 900,
      height: 720,
    },
  };
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
  return plot(rooflineFigure(series, roofs, options));
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
    name: `${s.steps.length > 1 ? "steps" : "step"} ${s.steps.join(",")}: ${s.label}`,
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
      xaxis: { type: "log", title: { text: FIELD_TITLES[sweep.field] } },
      yaxis: { type: "log", title: { text: "Arithmetic intensity (FLOP/byte), all heads" } },
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
