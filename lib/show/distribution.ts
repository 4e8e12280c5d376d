/**
 * One decoding step's next-token distribution with the sampling filters marked: the most
 * likely tokens as bars coloured by their fate (kept, removed by top-k, removed by top-p),
 * the cumulative probability that top-p thresholds, and dashed lines at the top-k and top-p
 * cut-offs. The fates come from the decoding engine's own processors (temperature → top-k →
 * top-p, Hugging Face's order and tie rules), so the picture is exactly what sampling used.
 *
 * @example
 * ```ts
 * import { distributionPlot, nextTokenDistribution } from "./distribution.ts";
 * const logProbs = Float32Array.from([0.5, 0.3, 0.15, 0.05].map(Math.log));
 * const d = nextTokenDistribution(logProbs, { topK: 3, topP: 0.7, tokenText: (t) => "abcd"[t] });
 * d.keptTokens; // 2
 * distributionPlot(d);
 * ```
 * @module
 */
import { softmax, temperature as applyTemperature, topK, topP } from "../decoding/processors.ts";
import { type Displayable, plot } from "./mod.ts";

/** Options of {@linkcode nextTokenDistribution}. */
export interface DistributionOptions {
  /** Top-k filter, 0 disables. */
  topK: number;
  /** Top-p filter in (0, 1], 1 disables. */
  topP: number;
  /** Temperature applied before the filters (default 1). */
  temperature?: number;
  /** Text of a token, for the axis. */
  tokenText: (id: number) => string;
  /** How many of the most likely tokens to keep for display (default 40). */
  shown?: number;
}

/** Why a token can or cannot be sampled. */
export type TokenFate = "kept" | "removed by top-k" | "removed by top-p";

/** One of the most likely tokens. */
export interface RankedToken {
  /** 1-based rank by probability. */
  rank: number;
  /** Token id. */
  token: number;
  /** Token text. */
  text: string;
  /** Probability after temperature (the model's when temperature is 1). */
  probability: number;
  /** Cumulative probability of ranks 1..rank within what top-k kept, renormalised: what top-p thresholds. */
  cumulativeAfterTopK: number;
  /** Probability of being sampled after both filters (0 when removed). */
  sampleProbability: number;
  /** Its fate under the filters. */
  fate: TokenFate;
}

/** A step's distribution and what the filters did to it. */
export interface NextTokenDistribution {
  /** The filter settings. */
  topK: number;
  /** The filter settings. */
  topP: number;
  /** The filter settings. */
  temperature: number;
  /** Vocabulary size. */
  vocabSize: number;
  /** Tokens top-k kept. */
  keptByTopK: number;
  /** Tokens left after top-k and top-p: the sampling pool. */
  keptTokens: number;
  /** Probability mass (after temperature) of the sampling pool. */
  keptMass: number;
  /** Shannon entropy of the distribution after temperature, in bits. */
  entropyBits: number;
  /** The most likely tokens, by rank. */
  tokens: RankedToken[];
}

/**
 * Applies temperature, top-k and top-p to a row of log-probabilities and ranks its tokens.
 * @example
 * ```ts
 * const d = nextTokenDistribution(Float32Array.from([Math.log(0.6), Math.log(0.4)]),
 *   { topK: 1, topP: 1, tokenText: String });
 * d.tokens.map((t) => t.fate); // ["kept", "removed by top-k"]
 * ```
 */
export function nextTokenDistribution(
  logProbs: ArrayLike<number>,
  options: DistributionOptions,
): NextTokenDistribution {
  const t = options.temperature ?? 1;
  const tempered = applyTemperature(logProbs, t);
  const probs = softmax(tempered);
  const afterK = options.topK > 0 ? topK(tempered, options.topK) : tempered;
  const afterP = options.topP < 1 ? topP(afterK, options.topP) : afterK;
  const kProbs = softmax(afterK);
  const pProbs = softmax(afterP);
  // Ties by higher id first: top-p removes the lower id of a tie first, so kept = a prefix.
  const order = Array.from(probs.keys()).sort((a, b) => tempered[b] - tempered[a] || b - a);
  let keptByTopK = 0, keptTokens = 0, keptMass = 0, entropy = 0;
  for (let i = 0; i < probs.length; i++) {
    if (afterK[i] > -Infinity) keptByTopK++;
    if (afterP[i] > -Infinity) {
      keptTokens++;
      keptMass += probs[i];
    }
    if (probs[i] > 0) entropy -= probs[i] * Math.log2(probs[i]);
  }
  let cumulative = 0;
  const tokens = order.slice(0, options.shown ?? 40).map((token, i): RankedToken => {
    cumulative += kProbs[token];
    return {
      rank: i + 1,
      token,
      text: options.tokenText(token),
      probability: probs[token],
      cumulativeAfterTopK: cumulative,
      sampleProbability: pProbs[token],
      fate: afterK[token] === -Infinity
        ? "removed by top-k"
        : afterP[token] === -Infinity
        ? "removed by top-p"
        : "kept",
    };
  });
  return {
    topK: options.topK,
    topP: options.topP,
    temperature: t,
    vocabSize: probs.length,
    keptByTopK,
    keptTokens,
    keptMass,
    entropyBits: entropy,
    tokens,
  };
}

const COLORS: Record<TokenFate, string> = {
  "kept": "#2a7ab0",
  "removed by top-k": "#c8c8c8",
  "removed by top-p": "#f0a35e",
};

/**
 * The distribution as a Plotly figure: bars by fate, cumulative probability (after top-k) on
 * the right axis with the top-p level, dashed lines at the top-k and top-p cut-offs.
 * @example
 * ```ts
 * const d = nextTokenDistribution(Float32Array.from([0.5, 0.3, 0.2].map(Math.log)),
 *   { topK: 2, topP: 1, tokenText: (t) => "abc"[t] });
 * distributionPlot(d, "Next token after “ab”");
 * ```
 */
export function distributionPlot(d: NextTokenDistribution, title?: string): Displayable {
  const label = (t: RankedToken) =>
    JSON.stringify(t.text).slice(1, -1).replaceAll(" ", "␣") || `#${t.token}`;
  const fates: TokenFate[] = ["kept", "removed by top-p", "removed by top-k"];
  const bars = fates
    .map((fate) => d.tokens.filter((t) => t.fate === fate))
    .filter((ts) => ts.length > 0)
    .map((ts) => ({
      type: "bar",
      name: ts[0].fate,
      x: ts.map((t) => t.rank),
      y: ts.map((t) => t.probability),
      marker: { color: COLORS[ts[0].fate] },
      customdata: ts.map((t) => [label(t), t.token, t.sampleProbability]),
      hovertemplate: "%{customdata[0]} (id %{customdata[1]})<br>p = %{y:.4f}" +
        "<br>sampled with p = %{customdata[2]:.4f}<extra></extra>",
    }));
  const last = d.tokens.length;
  const shapes: Record<string, unknown>[] = [];
  const annotations: Record<string, unknown>[] = [];
  // top-p acts after top-k, so its cut-off is never right of top-k's: label top-k on the
  // right of its line and top-p on the left of its own, so the two never overlap.
  const cut = (rank: number, text: string, color: string, side: "left" | "right") => {
    if (rank >= last) {
      annotations.push({
        xref: "paper",
        yref: "paper",
        x: 1,
        y: side === "left" ? 1.08 : 1.0,
        xanchor: "right",
        showarrow: false,
        text: `${text} (beyond rank ${last})`,
        font: { color },
      });
      return;
    }
    shapes.push({
      type: "line",
      xref: "x",
      yref: "paper",
      x0: rank + 0.5,
      x1: rank + 0.5,
      y0: 0,
      y1: 1,
      line: { color, dash: "dash", width: 2 },
    });
    annotations.push({
      xref: "x",
      yref: "paper",
      x: rank + 0.5,
      y: 1.06,
      xanchor: side,
      showarrow: false,
      text: side === "left" ? ` ${text}` : `${text} `,
      font: { color },
    });
  };
  if (d.topK > 0) cut(d.keptByTopK, `top-k = ${d.topK}`, "#555555", "left");
  if (d.topP < 1) cut(d.keptTokens, `top-p = ${d.topP}: ${d.keptTokens} kept`, "#d0661b", "right");
  if (d.topP < 1) {
    shapes.push({
      type: "line",
      xref: "paper",
      yref: "y2",
      x0: 0,
      x1: 1,
      y0: d.topP,
      y1: d.topP,
      line: { color: "#d0661b", dash: "dot", width: 1 },
    });
  }
  return plot({
    data: [
      ...bars,
      {
        type: "scatter",
        mode: "lines+markers",
        name: "cumulative p after top-k",
        x: d.tokens.map((t) => t.rank),
        y: d.tokens.map((t) => t.cumulativeAfterTopK),
        yaxis: "y2",
        line: { color: "#333333", width: 1 },
        marker: { size: 4 },
      },
    ],
    layout: {
      title: {
        text: title ??
          `Next-token distribution: ${d.keptTokens} of ${d.vocabSize} tokens can be sampled`,
      },
      barmode: "overlay",
      xaxis: {
        title: { text: "token (by rank)" },
        tickmode: "array",
        tickvals: d.tokens.map((t) => t.rank),
        ticktext: d.tokens.map(label),
        tickangle: -60,
        range: [0.5, last + 0.5],
      },
      yaxis: { title: { text: "probability" }, rangemode: "tozero" },
      yaxis2: {
        title: { text: "cumulative probability" },
        overlaying: "y",
        side: "right",
        range: [0, 1.05],
        tickvals: [0, 0.25, 0.5, 0.75, 1],
        showgrid: false,
      },
      legend: { orientation: "h", y: -0.35 },
      margin: { b: 140, t: 90 },
      shapes,
      annotations,
      width: 900,
      height: 480,
    },
  });
}
