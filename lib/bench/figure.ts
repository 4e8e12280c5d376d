/**
 * The measured roofline as a Plotly figure: for each backend the roof drawn from its measured
 * bandwidth and peak (min(P, I·W), the analytical model), the timed MatMuls of the layer at
 * their analytical intensity and measured FLOP/s, and, beside each, where the roof says it
 * could be. Notebooks show it with `plot()` from `lib/show/mod.ts`.
 *
 * @example
 * ```ts
 * import { rooflineFigure } from "./figure.ts";
 * const results = JSON.parse(await Deno.readTextFile("data/bench/results.json"));
 * const figure = rooflineFigure(results.parts.roofline);
 * ```
 * @module
 */
import type { PlotlyFigure } from "../show/mod.ts";
import { attainableFlopsPerS, type Roof } from "../intensity/roofline.ts";
import { type BackendRoofline, peakGflopsPerS, type RooflineResult } from "./roofline.ts";

const COLORS: Record<string, string> = { wasm: "#1f77b4", webgpu: "#d62728" };

/**
 * The measured roof of one backend, in the roofline module's terms.
 * @example
 * ```ts
 * // measuredRoof(result.backends[0]).bandwidthBytesPerS
 * ```
 */
export function measuredRoof(r: BackendRoofline): Roof {
  return {
    name: `${r.backend} (measured)`,
    peakFlopsPerS: peakGflopsPerS(r) * 1e9,
    bandwidthBytesPerS: r.bandwidth.gbPerS.median * 1e9,
  };
}

/**
 * A log-log roofline figure (GFLOP/s against FLOPs per byte) from the bench's roofline part.
 * @example
 * ```ts
 * // rooflineFigure(JSON.parse(Deno.readTextFileSync("data/bench/results.json")).parts.roofline)
 * ```
 */
export function rooflineFigure(result: RooflineResult): PlotlyFigure {
  const data: Record<string, unknown>[] = [];
  const intensities = result.backends.flatMap((b) => b.ops.map((o) => o.intensity));
  const lo = Math.min(0.1, ...intensities) / 2;
  const hi = Math.max(1000, ...intensities) * 2;
  for (const b of result.backends) {
    const roof = measuredRoof(b);
    const color = COLORS[b.backend] ?? "#333";
    const ridge = roof.peakFlopsPerS / roof.bandwidthBytesPerS;
    const xs = [lo, ridge, hi];
    data.push({
      type: "scatter",
      mode: "lines",
      name: `${b.backend} roof: ${b.bandwidth.gbPerS.median.toFixed(1)} GB/s, ` +
        `${(roof.peakFlopsPerS / 1e9).toFixed(1)} GFLOP/s`,
      x: xs,
      y: xs.map((i) => attainableFlopsPerS(i, roof) / 1e9),
      line: { color },
    });
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${b.backend} measured MatMuls`,
      x: b.ops.map((o) => o.intensity),
      y: b.ops.map((o) => o.gflopsPerS.median),
      text: b.ops.map((o) => o.label),
      error_y: {
        type: "data",
        symmetric: false,
        array: b.ops.map((o) => o.gflopsPerS.q3 - o.gflopsPerS.median),
        arrayminus: b.ops.map((o) => o.gflopsPerS.median - o.gflopsPerS.q1),
      },
      marker: { color, size: 9, symbol: "circle" },
      hovertemplate: "%{text}<br>AI %{x:.2f} FLOP/B<br>%{y:.3g} GFLOP/s<extra></extra>",
    });
    data.push({
      type: "scatter",
      mode: "markers",
      name: `${b.backend} roofline prediction`,
      x: b.ops.map((o) => o.intensity),
      y: b.ops.map((o) => attainableFlopsPerS(o.intensity, roof) / 1e9),
      text: b.ops.map((o) => o.label),
      marker: { color, size: 9, symbol: "circle-open" },
      hovertemplate: "%{text}<br>roof: %{y:.3g} GFLOP/s<extra></extra>",
    });
  }
  const { seqLen, dModel, nHeads } = result.layer;
  return {
    data,
    layout: {
      title: {
        text: `This machine's measured roofline, fp32<br><sub>Question 1's MatMuls at ` +
          `L = ${seqLen}, D = ${dModel}, n_H = ${nHeads}</sub>`,
      },
      margin: { t: 90 },
      xaxis: { type: "log", title: { text: "arithmetic intensity (FLOPs per byte)" } },
      yaxis: { type: "log", title: { text: "GFLOP/s" } },
      legend: { orientation: "h", y: -0.3 },
    },
  };
}
