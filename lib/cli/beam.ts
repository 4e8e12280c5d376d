/**
 * `deno task beam`: beam search over a probability tree (Question 2). Prints the returned
 * sequences with their probabilities, the step-by-step search and how the result compares
 * with the most probable sequence (exhaustive search); `--json` prints one JSON document with
 * the sequences and the full trace instead. Bad flags or trees exit with status 2 and a message
 * naming the flag or the tree node and what is allowed.
 *
 * @example
 * ```sh
 * deno task beam                       # the homework: width 2 over data/q2-tree.json
 * deno task beam --width 3 --json
 * deno task beam --tree my-tree.json --width 1 --return 1
 * ```
 * @module
 */
import { beamSearch, type GenerateOutput } from "../decoding/generate.ts";
import { exhaustiveSearch } from "../decoding/exhaustive.ts";
import { JUPYTER_DISPLAY, table } from "../show/mod.ts";
import { traceRows } from "../show/tree.ts";
import { loadTree, type TreeModel } from "../tree/load.ts";
import { whereMissed } from "../decoding/trace.ts";
import {
  flag,
  parseFlags,
  positiveInteger,
  runCli,
  switchFlag,
  text as textValue,
  usage,
  UsageError,
} from "./args.ts";

/**
 * The default tree: the homework's, shipped in `data/`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseBeamArgs([]).tree, DEFAULT_TREE);
 * ```
 */
export const DEFAULT_TREE: string = new URL("../../data/q2-tree.json", import.meta.url).pathname;

/** The command line of `deno task beam`. */
export const BEAM_CLI = {
  name: "beam",
  summary: "Beam search over a probability tree (vocabulary tokens; each node holds " +
    "P(token | path); the leaves' depth is the length limit). Prints the returned sequences, " +
    "the search step by step, and the most probable sequence found by exhaustive search.",
  flags: {
    width: flag({ value: positiveInteger, default: 2, help: "number of beams", valueName: "K" }),
    return: flag({
      value: positiveInteger,
      help: "sequences returned, 1..width",
      valueName: "N",
      defaultText: "width",
    }),
    tree: flag({
      value: textValue("a file path"),
      default: DEFAULT_TREE,
      defaultText: "data/q2-tree.json, the homework's tree",
      help: "tree JSON file",
      valueName: "FILE",
    }),
    json: switchFlag("print one JSON document (sequences, optimum, trace) instead of text"),
    help: switchFlag("this text", "h"),
  },
} as const;

/** Parsed command line of {@linkcode main}. */
export interface BeamArgs {
  /** Number of beams. */
  width: number;
  /** Sequences returned. */
  returnSequences: number;
  /** Tree file. */
  tree: string;
  /** JSON output. */
  json: boolean;
  /** Show the usage. */
  help: boolean;
}

/**
 * Parses the flags; throws {@linkcode UsageError} naming the bad flag.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(parseBeamArgs(["--width", "3"]).width, 3);
 * assertEquals(parseBeamArgs(["--width", "3"]).returnSequences, 3);
 * ```
 */
export function parseBeamArgs(args: string[]): BeamArgs {
  const v = parseFlags(BEAM_CLI, args).values;
  const returnSequences = v.return ?? v.width;
  if (returnSequences > v.width) {
    throw new UsageError(
      `--return must be between 1 and --width (${v.width}), got ${returnSequences}`,
    );
  }
  return { width: v.width, returnSequences, tree: v.tree, json: v.json, help: v.help };
}

async function readTree(path: string): Promise<TreeModel> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new UsageError(`--tree: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return loadTree(text);
  } catch (e) {
    throw new UsageError(`--tree ${path}: ${(e as Error).message}`);
  }
}

/** The JSON document of `--json`. */
export interface BeamReport {
  /** The tree file. */
  tree: string;
  /** Vocabulary. */
  vocab: readonly string[];
  /** Depth (= new tokens generated). */
  depth: number;
  /** Number of beams. */
  width: number;
  /** Returned sequences, best first. */
  sequences: {
    tokens: string[];
    ids: number[];
    probability: number;
    logProb: number;
    score: number;
  }[];
  /** The most probable sequence of the tree and whether beam search returned it. */
  optimum: { tokens: string[]; probability: number; found: boolean };
  /** The decoding trace. */
  trace: GenerateOutput["trace"];
}

/**
 * Runs the search and returns the report (the data `--json` prints).
 * @example
 * ```ts
 * const r = await beamReport(DEFAULT_TREE, 2, 2);
 * r.sequences.map((s) => s.tokens.join("")); // ["bca", "cab"]
 * ```
 */
export async function beamReport(
  treePath: string,
  width: number,
  returnSequences: number,
): Promise<BeamReport> {
  const tree = await readTree(treePath);
  const out = await beamSearch(tree, [], {
    maxNewTokens: tree.depth,
    numBeams: width,
    numReturnSequences: returnSequences,
    trace: { candidatesPerRow: tree.vocabSize },
  });
  const [best] = await exhaustiveSearch(tree, [], { maxNewTokens: tree.depth });
  const words = (ids: number[]) => ids.map((t) => tree.tokenText(t));
  return {
    tree: treePath === DEFAULT_TREE ? "data/q2-tree.json" : treePath,
    vocab: tree.vocab,
    depth: tree.depth,
    width,
    sequences: out.sequences.map((s) => ({
      tokens: words(s.tokens),
      ids: s.tokens,
      probability: tree.probabilityOf(s.tokens),
      logProb: s.logProb,
      score: s.score,
    })),
    optimum: {
      tokens: words(best.tokens),
      probability: tree.probabilityOf(best.tokens),
      found: out.sequences.some((s) => s.tokens.join() === best.tokens.join()),
    },
    trace: out.trace,
  };
}

function text(report: BeamReport, tree: TreeModel): string {
  const p = (x: number) => x.toFixed(4);
  const lines = [
    `Beam search over ${report.tree} (vocab ${
      report.vocab.join(", ")
    }; depth ${report.depth}), width ${report.width}`,
    "",
    "Returned sequences:",
    ...report.sequences.map((s, i) =>
      `  ${i + 1}. ${s.tokens.join(" ")}   P = ${p(s.probability)}   log P = ${
        p(s.logProb)
      }   score = ${p(s.score)}`
    ),
    "",
    `Most probable sequence (exhaustive search): ${report.optimum.tokens.join(" ")}   P = ${
      p(report.optimum.probability)
    }`,
  ];
  if (report.optimum.found) lines.push("  found by this beam search.");
  else {
    const miss = whereMissed(report.trace!, tree.encode(report.optimum.tokens));
    lines.push(
      miss
        ? `  missed: its prefix "${miss.prefix.map((t) => tree.tokenText(t)).join(" ")}" (P = ${
          p(miss.probability)
        }) was pruned at step ${miss.step}, below the weakest kept beam (P = ${
          p(miss.weakestKept)
        }).`
        : "  not returned (fewer sequences requested than beams).",
    );
  }
  const plain = table([
    { key: "step", header: "step" },
    { key: "prefix", header: "beam" },
    { key: "token", header: "token" },
    { key: "p", header: "P(token|beam)" },
    { key: "probability", header: "P(beam+token)" },
    { key: (r) => r.rank ?? "", header: "rank" },
    { key: "status", header: "fate" },
  ], traceRows(report.trace!, (t) => tree.tokenText(t)))[JUPYTER_DISPLAY]()["text/plain"];
  lines.push("", "The search step by step (every candidate, best first per step):", String(plain));
  return lines.join("\n");
}

/**
 * The command: parses `args`, prints text or JSON. Returns the exit status.
 * @example
 * ```ts
 * await main(["--width", "2", "--json"]); // 0, prints the JSON report
 * ```
 */
export function main(args: string[]): Promise<number> {
  return runCli(BEAM_CLI.name, async () => {
    const a = parseBeamArgs(args);
    if (a.help) {
      console.log(usage(BEAM_CLI));
      return 0;
    }
    const report = await beamReport(a.tree, a.width, a.returnSequences);
    if (a.json) console.log(JSON.stringify(report, null, 2));
    else console.log(text(report, await readTree(a.tree)));
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
