/**
 * A decoding trace drawn as a tree (Plotly) and told as tables. Depth runs left to right, one
 * column per step; every node is a token with P(token | prefix) and the prefix's probability.
 * Kept beams and their edges are blue (the beam track), candidates considered and pruned are
 * red and dashed, finished hypotheses orange, the returned sequences gold stars with their
 * rank, and (for the homework tree) the unexplored rest of the search space pale grey. The
 * same drawing works for a 4096-token model: only the traced candidates are nodes then.
 *
 * @example
 * ```ts
 * import { traceTree, traceTable } from "./tree.ts";
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, trace: true });
 * traceTree(out.trace!, { tokenText: (t) => tree.tokenText(t), space: tree.nodes() });
 * traceTable(out.trace!, (t) => tree.tokenText(t));
 * ```
 * @module
 */
import type { Hypothesis } from "../decoding/beam_hypotheses.ts";
import type { EnumeratedSequence } from "../decoding/exhaustive.ts";
import type { CandidateStatus, Miss, Trace } from "../decoding/trace.ts";
import { type Displayable, formatNumber, markdown, plot, type PlotlyFigure, table } from "./mod.ts";

/** A node of the search space, e.g. from `TreeModel.nodes()`. */
export interface SpaceNode {
  /** Token ids from the root. */
  tokens: number[];
  /** P(last token | prefix). */
  p: number;
  /** Probability of the whole prefix. */
  probability: number;
}

/** Options of {@linkcode traceTree}. */
export interface TraceTreeOptions {
  /** Text of a token. */
  tokenText: (id: number) => string;
  /** The whole search space, drawn pale where the search did not go (small trees only). */
  space?: readonly SpaceNode[];
  /** Figure title. */
  title?: string;
  /** Label of the root (default "[s]"). */
  rootLabel?: string;
  /** Nodes to point out with a note, e.g. the exhaustive optimum. */
  marks?: readonly { tokens: readonly number[]; note: string }[];
  /**
   * `full`: token, p and the prefix probability P; `compact`: token and p (a real model's
   * tokens and tiny P need the room). Hover text always has everything.
   * @default {"full"}
   */
  labels?: "full" | "compact";
}

/** How a node of the drawing is shown. */
export type NodeRole = "root" | "final" | CandidateStatus | "unexplored";

/** A node of the drawing with its layout position. */
export interface DrawnNode {
  /** Token ids from the root. */
  tokens: number[];
  /** Role, from the trace (a returned sequence's last node is `final`). */
  role: NodeRole;
  /** P(last token | prefix); 1 for the root. */
  p: number;
  /** Probability of the prefix. */
  probability: number;
  /** 1-based rank among the returned sequences, for `final` nodes. */
  finalRank?: number;
  /** Column (depth). */
  x: number;
  /** Row (leaf order; internal nodes centred on their children). */
  y: number;
}

const STYLE: Record<
  NodeRole,
  { name: string; color: string; size: number; symbol: string; dash: string; width: number }
> = {
  root: { name: "prompt", color: "#333333", size: 12, symbol: "square", dash: "solid", width: 2 },
  unexplored: {
    name: "not explored",
    color: "#c8c8c8",
    size: 6,
    symbol: "circle",
    dash: "dot",
    width: 1,
  },
  filtered: {
    name: "removed by top-k / top-p",
    color: "#9e9e9e",
    size: 7,
    symbol: "x",
    dash: "dot",
    width: 1,
  },
  pruned: {
    name: "considered, pruned",
    color: "#d62728",
    size: 9,
    symbol: "circle-open",
    dash: "dash",
    width: 1.5,
  },
  finished: {
    name: "finished (EOS)",
    color: "#ff7f0e",
    size: 11,
    symbol: "diamond",
    dash: "solid",
    width: 2.5,
  },
  kept: {
    name: "kept beam",
    color: "#1f77b4",
    size: 11,
    symbol: "circle",
    dash: "solid",
    width: 3.5,
  },
  final: {
    name: "returned sequence",
    color: "#e6ab02",
    size: 18,
    symbol: "star",
    dash: "solid",
    width: 4,
  },
};
const ORDER: NodeRole[] = ["unexplored", "filtered", "pruned", "finished", "kept", "final", "root"];

/**
 * The nodes of a trace drawing with their roles and positions (the data behind
 * {@linkcode traceTree}).
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, trace: true });
 * traceNodes(out.trace!, tree.nodes()).filter((n) => n.role === "final").length; // 2
 * ```
 */
export function traceNodes(trace: Trace, space: readonly SpaceNode[] = []): DrawnNode[] {
  const nodes = new Map<string, Omit<DrawnNode, "x" | "y">>();
  nodes.set("", { tokens: [], role: "root", p: 1, probability: 1 });
  for (const s of space) {
    if (s.tokens.length > 0) {
      nodes.set(s.tokens.join(), {
        tokens: [...s.tokens],
        role: "unexplored",
        p: s.p,
        probability: s.probability,
      });
    }
  }
  for (const step of trace.steps) {
    for (const c of step.candidates) {
      const tokens = [...step.rows[c.parent].tokens, c.token];
      nodes.set(tokens.join(), {
        tokens,
        role: c.status,
        p: Math.exp(c.logProb),
        probability: c.probability,
      });
    }
  }
  trace.final.forEach((h: Hypothesis, i) => {
    const node = nodes.get(h.tokens.join());
    if (node) Object.assign(node, { role: "final", finalRank: i + 1 });
  });
  // Layout: leaves take consecutive rows in token order; parents sit at their children's mean.
  const children = new Map<string, string[]>();
  for (const key of nodes.keys()) {
    if (key === "") continue;
    const parent = nodes.get(key)!.tokens.slice(0, -1).join();
    if (!nodes.has(parent)) continue;
    children.set(parent, [...(children.get(parent) ?? []), key]);
  }
  const placed: DrawnNode[] = [];
  let nextRow = 0;
  const place = (key: string): number => {
    const node = nodes.get(key)!;
    const kids = (children.get(key) ?? []).sort((a, b) => {
      const ta = nodes.get(a)!.tokens, tb = nodes.get(b)!.tokens;
      return ta[ta.length - 1] - tb[tb.length - 1];
    });
    const y = kids.length === 0
      ? nextRow++
      : kids.map(place).reduce((s, v) => s + v, 0) / kids.length;
    placed.push({ ...node, x: node.tokens.length, y });
    return y;
  };
  place("");
  return placed;
}

/**
 * The trace as a tree figure (Plotly mime bundle), beam track highlighted.
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2, trace: true });
 * traceTree(out.trace!, { tokenText: (t) => tree.tokenText(t), space: tree.nodes(), title: "Beam search, width 2" });
 * ```
 */
export function traceTree(trace: Trace, options: TraceTreeOptions): Displayable {
  return plot(traceTreeFigure(trace, options));
}

/**
 * The Plotly figure of {@linkcode traceTree} (for tests and further styling).
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, trace: true });
 * traceTreeFigure(out.trace!, { tokenText: (t) => tree.tokenText(t) }).data.length > 0; // true
 * ```
 */
export function traceTreeFigure(trace: Trace, options: TraceTreeOptions): PlotlyFigure {
  const nodes = traceNodes(trace, options.space);
  const byKey = new Map(nodes.map((n) => [n.tokens.join(), n]));
  const compact = options.labels === "compact";
  const label = (n: DrawnNode) => {
    // The prompt reads as text; only tokens show their whitespace.
    if (n.role === "root") return clip(options.rootLabel ?? "[s]", 40).replaceAll("␣", " ");
    const token = clip(options.tokenText(n.tokens[n.tokens.length - 1]));
    const considered = n.role !== "unexplored" && n.role !== "filtered";
    if (compact) return considered ? `<b>${token}</b> ${n.p.toFixed(2)}` : token;
    return considered
      ? `<b>${token}</b> ${trim(n.p)} · P=${trim(n.probability)}`
      : `${token} ${trim(n.p)}`;
  };
  const text = (n: DrawnNode) => n.finalRank ? `${label(n)}  <b>#${n.finalRank}</b>` : label(n);
  const depth = Math.max(...nodes.map((n) => n.x));
  // The root's label hangs left of the plot and the leaves' labels right of it: size the
  // margins to the longest of each (about 7 px a character at 11 px) so none is cut off.
  const chars = (n: DrawnNode) => plainLabel(text(n)).length;
  const marginPx = (ns: DrawnNode[]) => 20 + LABEL_CHAR_PX * Math.max(0, ...ns.map(chars));
  // Columns as wide as the longest inner label, rows as tall as a label above its node and the
  // node above it: no label can reach another label or node.
  const inner = nodes.filter((n) => n.role !== "root" && n.x < depth);
  const columnPx = Math.max(120, 24 + LABEL_CHAR_PX * Math.max(0, ...inner.map(chars)));
  const data: Record<string, unknown>[] = [];
  for (const role of ORDER) {
    const style = STYLE[role];
    const xs: (number | null)[] = [], ys: (number | null)[] = [];
    for (const n of nodes) {
      if (n.role !== role || n.tokens.length === 0) continue;
      const parent = byKey.get(n.tokens.slice(0, -1).join());
      if (!parent) continue;
      xs.push(parent.x, n.x, null);
      ys.push(parent.y, n.y, null);
    }
    if (xs.length > 0) {
      data.push({
        type: "scatter",
        mode: "lines",
        x: xs,
        y: ys,
        line: { color: style.color, width: style.width, dash: style.dash },
        hoverinfo: "skip",
        showlegend: false,
        legendgroup: role,
      });
    }
  }
  for (const role of ORDER) {
    const style = STYLE[role];
    const ofRole = nodes.filter((n) => n.role === role);
    if (ofRole.length === 0) continue;
    data.push({
      type: "scatter",
      mode: "markers+text",
      name: style.name,
      legendgroup: role,
      x: ofRole.map((n) => n.x),
      y: ofRole.map((n) => n.y),
      text: ofRole.map(text),
      cliponaxis: false,
      // Leaves label to the right; inner nodes above, clear of their outgoing edges.
      textposition: ofRole.map((n) =>
        n.role === "root" ? "middle left" : n.x === depth ? "middle right" : "top center"
      ),
      textfont: {
        size: role === "unexplored" ? 10 : 11,
        color: role === "unexplored" ? "#8a8a8a" : "#222222",
      },
      hovertext: ofRole.map((n) =>
        `${n.tokens.map((t) => clip(options.tokenText(t))).join(" ") || "prompt"}<br>p = ${
          trim(n.p)
        }<br>P(prefix) = ${trim(n.probability)}<br>${style.name}`
      ),
      hoverinfo: "text",
      marker: {
        color: style.color,
        size: style.size,
        symbol: style.symbol,
        line: { width: 1, color: style.color },
      },
    });
  }
  const rows = Math.max(...nodes.map((n) => n.y)) + 1;
  return {
    data,
    layout: {
      title: {
        text: options.title ?? `${trace.mode.replace("_", " ")}, ${trace.numBeams} beam(s)`,
      },
      height: Math.max(340, ROW_PX * rows + 140),
      width: Math.round(
        marginPx(nodes.filter((n) => n.role === "root")) +
          marginPx(nodes.filter((n) => n.x === depth)) + columnPx * (depth + 0.1),
      ),
      margin: {
        l: marginPx(nodes.filter((n) => n.role === "root")),
        r: marginPx(nodes.filter((n) => n.x === depth)),
        t: 60,
        b: 40,
      },
      xaxis: {
        range: [-0.05, depth + 0.05],
        tickvals: Array.from({ length: depth + 1 }, (_, i) => i),
        ticktext: Array.from({ length: depth + 1 }, (_, i) => i === 0 ? "prompt" : `step ${i}`),
        showgrid: false,
        zeroline: false,
      },
      yaxis: { autorange: "reversed", visible: false },
      legend: { orientation: "h", y: -0.04, x: 0 },
      annotations: (options.marks ?? []).flatMap((m) => {
        const n = byKey.get(m.tokens.join());
        return n
          ? [{
            x: n.x,
            y: n.y,
            text: m.note,
            showarrow: true,
            arrowhead: 2,
            arrowcolor: "#2ca02c",
            ax: -120,
            ay: -18,
            font: { color: "#2ca02c", size: 11 },
            bgcolor: "white",
          }]
          : [];
      }),
      plot_bgcolor: "white",
    },
  };
}

/** One line of {@linkcode traceTable}. */
export interface TraceTableRow {
  /** Step. */
  step: number;
  /** The parent beam's text. */
  prefix: string;
  /** The candidate token. */
  token: string;
  /** P(token | prefix). */
  p: number;
  /** Probability of prefix + token. */
  probability: number;
  /** Rank among the step's chosen candidates (1-based), if ranked. */
  rank: number | null;
  /** The candidate's fate. */
  status: CandidateStatus;
}

/**
 * Every candidate of every step as rows (data behind {@linkcode traceTable}), best first per
 * step.
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, trace: true });
 * traceRows(out.trace!, (t) => tree.tokenText(t))[0]; // { step: 1, prefix: "[s]", token: "b", … }
 * ```
 */
export function traceRows(
  trace: Trace,
  tokenText: (id: number) => string,
  rootLabel = "[s]",
): TraceTableRow[] {
  return trace.steps.flatMap((s) =>
    s.candidates.map((c) => ({
      step: s.step,
      prefix: s.rows[c.parent].tokens.map(tokenText).join(" ") || rootLabel,
      token: tokenText(c.token),
      p: Math.exp(c.logProb),
      probability: c.probability,
      rank: c.rank === null ? null : c.rank + 1,
      status: c.status,
    })).sort((a, b) => b.probability - a.probability)
  );
}

/**
 * The step-by-step table of a search: each candidate with P(token | prefix), the sequence
 * probability, its rank and whether it was kept, pruned or finished.
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, trace: true });
 * traceTable(out.trace!, (t) => tree.tokenText(t));
 * ```
 */
export function traceTable(
  trace: Trace,
  tokenText: (id: number) => string,
  options: { caption?: string; rootLabel?: string } = {},
): Displayable {
  const rows = traceRows(trace, tokenText, options.rootLabel);
  const mark = (r: TraceTableRow) =>
    r.status === "kept" ? "**kept**" : r.status === "finished" ? "**finished**" : r.status;
  return table<TraceTableRow>(
    [
      { key: "step", header: "step" },
      { key: "prefix", header: "beam (prefix)" },
      { key: "token", header: "token" },
      { key: "p", header: "$P(\\text{token}\\mid\\text{prefix})$" },
      { key: "probability", header: "$P(\\text{prefix}+\\text{token})$" },
      { key: (r) => r.rank ?? "", header: "rank" },
      { key: mark, header: "fate" },
    ],
    rows,
    { caption: options.caption, digits: 4 },
  );
}

/**
 * The returned sequences with their probabilities and scores.
 * @example
 * ```ts
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTree } from "../tree/load.ts";
 * const tree = loadTree(await Deno.readTextFile("data/q2-tree.json"));
 * const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
 * sequencesTable(out.sequences, (t) => tree.tokenText(t));
 * ```
 */
export function sequencesTable(
  sequences: readonly Hypothesis[],
  tokenText: (id: number) => string,
  options: { caption?: string; separator?: string } = {},
): Displayable {
  return table(
    [
      { key: "rank", header: "#" },
      { key: "text", header: "sequence" },
      { key: "probability", header: "probability" },
      { key: "logProb", header: "$\\log P$" },
      { key: "score", header: "score ($\\log P / \\text{len}^{\\alpha}$)" },
    ],
    sequences.map((s, i) => ({
      rank: i + 1,
      text: s.tokens.map(tokenText).join(options.separator ?? " "),
      probability: Math.exp(s.logProb),
      logProb: s.logProb,
      score: s.score,
    })),
    { caption: options.caption, digits: 4 },
  );
}

/** Options of {@linkcode enumerationTable}. */
export interface EnumerationTableOptions {
  /** Sequences a search returned, marked in the table as `returnedBy #rank`. */
  returned?: readonly Hypothesis[];
  /** Name of that search (default "beam search"). */
  returnedBy?: string;
  /** Exact probability of a sequence (e.g. `TreeModel.probabilityOf`); default exp(log P). */
  probabilityOf?: (tokens: number[]) => number;
  /** Text before the automatic caption. */
  title?: string;
}

/**
 * Every complete sequence ranked by probability (the caption gives their count and total
 * probability), with the ones a search returned marked.
 * @example
 * ```ts
 * import { exhaustiveSearch } from "../decoding/exhaustive.ts";
 * import { beamSearch } from "../decoding/generate.ts";
 * import { loadTreeFile } from "../tree/load.ts";
 * const tree = await loadTreeFile();
 * const all = await exhaustiveSearch(tree, [], { maxNewTokens: 3 });
 * const beam = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
 * enumerationTable(all, (t) => tree.tokenText(t), { returned: beam.sequences });
 * ```
 */
export function enumerationTable(
  all: readonly EnumeratedSequence[],
  tokenText: (id: number) => string,
  options: EnumerationTableOptions = {},
): Displayable {
  const key = (tokens: readonly number[]) => tokens.join();
  const marks = new Map((options.returned ?? []).map((h, i) => [
    key(h.tokens),
    `${options.returnedBy ?? "beam search"} #${i + 1}`,
  ]));
  const probabilityOf = options.probabilityOf ??
    ((t: number[]) => Math.exp(all.find((s) => key(s.tokens) === key(t))!.logProb));
  const rows = all.map((s, i) => ({
    rank: i + 1,
    text: s.tokens.map(tokenText).join(""),
    probability: probabilityOf(s.tokens),
    mark: marks.get(key(s.tokens)) ?? "",
  }));
  const total = rows.reduce((sum, r) => sum + r.probability, 0);
  return table(
    [
      { key: "rank", header: "rank" },
      { key: "text", header: "sequence" },
      { key: "probability", header: "probability" },
      { key: "mark", header: "returned by" },
    ],
    rows,
    {
      caption: `${
        options.title ?? "**Exhaustive search**"
      }: all ${rows.length} sequences, most probable first; their probabilities sum to ${
        total.toFixed(6)
      }.`,
    },
  );
}

/**
 * One sentence on where a beam search lost a sequence (or that it kept it).
 * @example
 * ```ts
 * missNote(null, (t) => "abc"[t], "aba", 2); // "Beam search with width 2 keeps aba …"
 * ```
 */
export function missNote(
  miss: Miss | null,
  tokenText: (id: number) => string,
  target: string,
  width: number,
): Displayable {
  const p = (x: number) => x.toFixed(4);
  if (miss === null) {
    return markdown(`Beam search with width ${width} keeps **${target}** in the beam to the end.`);
  }
  const prefix = miss.prefix.map(tokenText).join("");
  return markdown(
    `Beam search with width ${width} loses **${target}** at step ${miss.step}: its prefix ` +
      `**${prefix}** has probability ${p(miss.probability)}, below the weakest kept beam ` +
      `(${p(miss.weakestKept)}), so nothing below it is ever scored.`,
  );
}

function trim(v: number): string {
  return v >= 1e-3 ? String(+v.toFixed(4)) : formatNumber(v, 3);
}

/** Pixels per character of an 11 px label, generously (DejaVu Sans averages about 6.5). */
export const LABEL_CHAR_PX = 7;

/** Pixels per leaf row: a label above its node stays clear of the node above. */
export const ROW_PX = 24;

/**
 * A label's text as drawn: tags dropped, entities read back.
 * @example
 * ```ts
 * plainLabel("<b>a&amp;b</b> 0.5"); // "a&b 0.5"
 * ```
 */
export function plainLabel(label: string): string {
  return label.replace(/<[^>]+>/g, "").replaceAll("&lt;", "<").replaceAll("&gt;", ">")
    .replaceAll("&amp;", "&");
}

/**
 * A token as Plotly label text: whitespace made visible (␣ space, ⏎ newline, ⇥ tab), other
 * control characters as `\u` escapes, HTML escaped (Plotly reads a subset of it), clipped.
 * @example
 * ```ts
 * clip(" the\n"); // "␣the⏎"
 * ```
 */
export function clip(text: string, max = 14): string {
  // deno-lint-ignore no-control-regex
  const control = /[\u0000-\u001f\u007f]/g;
  const shown = text.replaceAll(" ", "␣").replaceAll("\n", "⏎").replaceAll("\t", "⇥")
    .replace(control, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const letters = [...shown];
  const clipped = letters.length > max ? `${letters.slice(0, max - 1).join("")}…` : shown;
  return clipped.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
