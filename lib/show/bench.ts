/**
 * The benchmark's results as tables (`lib/show` mime bundles): decode speed per contender with
 * the ratios, the cost of beams, the judged targets; and {@linkcode benchReport}, the same as one
 * Markdown text, which `deno task bench` writes into `bench/README.md`. A notebook reads
 * `data/bench/results.json` and shows these; no benchmark runs inside a notebook.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { beamsTable, decodeTable, targetsTable } from "./bench.ts";
 * import { readBenchResults } from "../bench/results.ts";
 * const results = await readBenchResults();
 * for (const run of results.parts.decode?.models ?? []) assertEquals(decodeTable(run).length, 2);
 * for (const run of results.parts.beams?.runs ?? []) beamsTable(run);
 * targetsTable(results.targets);
 * ```
 * @module
 */
import { type Displayable, JUPYTER_DISPLAY, table } from "./mod.ts";
import type {
  BeamsResult,
  BenchResults,
  DecodeFloor,
  DecodeResult,
  TargetResult,
} from "../bench/results.ts";
import { shortfall } from "../bench/targets.ts";
import { summarize, type Summary } from "../bench/stats.ts";

const iqr = (s: Summary, digits = 2) => `${s.q1.toFixed(digits)}–${s.q3.toFixed(digits)}`;

/**
 * Decode and prefill tokens/s per contender (medians and quartiles), the time per step inside
 * the session, and ours ÷ theirs per repetition.
 * @example
 * ```ts
 * // decodeTable((await readBenchResults()).parts.decode!.models[0])
 * ```
 */
export function decodeTable(decode: DecodeResult): Displayable[] {
  const speeds = table(
    [
      { key: (c) => c.id, header: "contender" },
      { key: (c) => c.description, header: "runs on" },
      { key: (c) => c.decodeTokensPerS.median, header: "decode tokens/s" },
      { key: (c) => iqr(c.decodeTokensPerS, 1), header: "IQR", align: "right" },
      {
        key: (c) => summarize(c.decodeTokensPerSByRep.map((r) => 1000 / r)).median,
        header: "ms/step",
      },
      { key: (c) => c.sessionMsPerStep.median, header: "of which in session.run" },
      { key: (c) => c.prefillTokensPerS.median, header: "prefill tokens/s" },
    ],
    decode.contenders,
    {
      digits: 2,
      caption: `**${decode.name}** (${decode.group}): greedy decoding of ${decode.newTokens} ` +
        `tokens after a ${decode.promptIds.length}-token prompt, ${decode.reps} alternating ` +
        `repetitions, each contender's fastest of ${decode.bestOf} back-to-back generations in ` +
        `each (this machine's figures). Tokens identical across contenders and ` +
        `repetitions: ${decode.identicalTokens ? "yes" : "no"}.` +
        (decode.skipped.length > 0
          ? ` Not run: ${decode.skipped.map((s) => `${s.id} (${s.reason})`).join("; ")}.`
          : ""),
    },
  );
  const ratios = table(
    [
      { key: (k) => `${k.ours} ÷ ${k.theirs}`, header: "ours ÷ theirs" },
      { key: (k) => `${k.perRep.median.toFixed(2)}×`, header: "decode", align: "right" },
      { key: (k) => iqr(k.perRep), header: "IQR", align: "right" },
      { key: (k) => `${k.prefillPerRep.median.toFixed(2)}×`, header: "prefill", align: "right" },
      { key: (k) => (k.identicalTokens ? "yes" : "no"), header: "same tokens" },
      { key: (k) => k.what, header: "what it shows" },
    ],
    decode.comparisons,
  );
  return [speeds, ratios];
}

/**
 * Per-token cost of each beam width relative to greedy, with model calls per step.
 * @example
 * ```ts
 * // beamsTable((await readBenchResults()).parts.beams!.runs[0])
 * ```
 */
export function beamsTable(beams: BeamsResult): Displayable {
  return table(
    [
      { key: (w) => w.width, header: "beams" },
      { key: (w) => `${w.relativeToGreedy.median.toFixed(2)}×`, header: "cost/token vs greedy" },
      { key: (w) => iqr(w.relativeToGreedy), header: "IQR", align: "right" },
      { key: (w) => w.msPerToken.median, header: "ms/token" },
      { key: (w) => w.sessionMsPerToken.median, header: "of which in the session" },
      { key: (w) => w.callsPerStep, header: "model calls/step" },
      { key: (w) => w.rowsPerCall.join(", "), header: "rows per call", align: "right" },
    ],
    beams.widths,
    {
      digits: 2,
      caption: `**${beams.name}**, beam search on ${beams.contender} (${beams.description}), ` +
        `${beams.newTokens} new tokens, ${beams.reps} repetitions, each width's fastest of ` +
        `${beams.bestOf} back-to-back generations in each.`,
    },
  );
}

/**
 * The judged targets: per-repetition median and quartiles against the bounds, and by how much a
 * missed one misses.
 * @example
 * ```ts
 * // targetsTable((await readBenchResults()).targets)
 * ```
 */
export function targetsTable(targets: readonly TargetResult[]): Displayable {
  return table(
    [
      { key: (t) => `\`${t.name}\``, header: "target" },
      { key: (t) => t.what, header: "ratio" },
      { key: (t) => `${t.ratio.median.toFixed(2)}×`, header: "median", align: "right" },
      { key: (t) => iqr(t.ratio), header: "IQR", align: "right" },
      { key: (t) => t.ratio.n, header: "n" },
      {
        key: (t) =>
          `${t.direction === ">=" ? "≥" : "≤"} ${t.median}× (${
            t.direction === ">=" ? "lower" : "upper"
          } quartile ${t.direction === ">=" ? "≥" : "≤"} ${t.quartile}×)`,
        header: "target",
      },
      { key: (t) => (t.met ? "**met**" : `missed: ${shortfall(t)}`), header: "verdict" },
    ],
    targets,
  );
}

/**
 * When `ours-cpu` ran with one thread it is the same configuration as `ours-cpu-1thread`: their
 * per-repetition ratio, which should be 1, shows how much this machine's noise alone moves a ratio.
 */
function sameConfigRatio(run: DecodeResult): string | undefined {
  const a = run.contenders.find((c) => c.id === "ours-cpu");
  const b = run.contenders.find((c) => c.id === "ours-cpu-1thread");
  if (!a || !b || !/\b1 intra-op thread/.test(a.description)) return undefined;
  const r = summarize(a.decodeTokensPerSByRep.map((x, i) => x / b.decodeTokensPerSByRep[i]));
  return `A/A check: \`ours-cpu\` ran with one thread, the configuration of ` +
    `\`ours-cpu-1thread\`; their decode ratio, 1 but for noise, is ${r.median.toFixed(2)}× ` +
    `(IQR ${iqr(r)}, range ${r.min.toFixed(2)}–${r.max.toFixed(2)}).`;
}

function floorLine(name: string, f: DecodeFloor): string {
  const head = f.int8Head ? " (the LM head as its int8 screen reads it)" : "";
  return `**${name}** memory floor: ${(f.weightBytes / 1e6).toFixed(1)} MB of weights${head} and ` +
    `${(f.kvCacheBytes / 1e6).toFixed(2)} MB of KV cache per token ÷ ${f.gbPerS.toFixed(1)} GB/s ` +
    `(${f.bandwidthSource}) = ${f.floorMsPerToken.toFixed(3)} ms per token; ${f.contender} ` +
    `decodes at ${f.measuredMsPerToken.toFixed(3)} ms per token, ` +
    `${f.timesAboveFloor.median.toFixed(2)}× the floor (IQR ${iqr(f.timesAboveFloor)}).`;
}

/**
 * The whole results file as Markdown: machine, targets, then each decode run and beam sweep.
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import { readBenchResults } from "../bench/results.ts";
 * assertStringIncludes(benchReport(await readBenchResults()), "| target |");
 * ```
 */
export function benchReport(results: BenchResults): string {
  const md = (d: Displayable) => String(d[JUPYTER_DISPLAY]()["text/markdown"]);
  const m = results.machine;
  const { decode, beams, roofline } = results.parts;
  const load = (what: string, xs?: number[]) =>
    xs ? `${what} ${xs.map((x) => x.toFixed(2)).join(", ")}` : "";
  const out = [
    `_Generated by \`deno task bench\` from \`data/bench/results.json\`; a new full run rewrites ` +
    `this section._`,
    "",
    `Machine: ${m.cpu}, ${m.cores} cores; WebGPU adapter: ${m.webgpuAdapter ?? "none"}; ` +
    `Deno ${m.deno}, onnxruntime-web ${m.onnxruntimeWeb}. Load averages (1, 5, 15 min) ` +
    [
      load("before the roofline", roofline?.loadAverage),
      load("before decode", decode?.loadAverage),
      load("before beams", beams?.loadAverage),
    ].filter((x) => x).join("; ") +
    `. Decode measured ${decode?.models[0]?.measuredAt ?? "never"}; ${m.note}.`,
    "",
    "**Targets** (per-repetition ratios of contenders that ran side by side):",
    "",
    md(targetsTable(results.targets)),
    "",
    ...(results.targets.some((t) => t.why)
      ? [
        "",
        "Where the time went in each missed target, from this run's medians:",
        "",
        ...results.targets.filter((t) => t.why).map((t) => `- \`${t.name}\`: ${t.why}.`),
      ]
      : []),
    "",
    "```text",
    ...results.targets.map((t) =>
      `target ${t.name}: ${t.ratio.median.toFixed(2)}× (IQR ${iqr(t.ratio)}, n ${t.ratio.n}) ` +
      (t.met ? "met" : "missed")
    ),
    "```",
  ];
  for (const run of decode?.models ?? []) {
    out.push("", ...decodeTable(run).flatMap((d) => [md(d), ""]));
    const aa = sameConfigRatio(run);
    if (aa) out.push(aa, "");
    if (run.floor) out.push(floorLine(run.name, run.floor), "");
  }
  for (const run of beams?.runs ?? []) out.push("", md(beamsTable(run)));
  return out.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
}
