/**
 * The benchmark's targets, judged on per-repetition ratios: a ratio measured in every
 * repetition from contenders that ran side by side in it, summarized by its median and
 * quartiles. A target is met only when the median meets its bound and the unfavourable quartile
 * (the lower for "at least", the upper for "at most") meets its own.
 *
 * Per model:
 * - `greedy/<model>/<runtime>`: ours ÷ transformers.js decode tokens/s on the same runtime
 *   (onnxruntime-node, onnxruntime-web WASM, WebGPU): median ≥ 1.3, lower quartile ≥ 1.1.
 * - `fastest-cpu/<model>`: our fastest CPU contender ÷ transformers.js's fastest CPU
 *   configuration (by median): ≥ 1.3, lower quartile ≥ 1.1.
 * - `prefill/<model>/<runtime>`: prefill tokens/s, same pairs: ≥ 1.0, lower quartile ≥ 1.0.
 * - `beam4/<model>/<contender>`: width 4's cost per token ÷ greedy's on our fastest CPU path:
 *   ≤ 1.5, upper quartile ≤ 1.5; on WASM ≤ 2.
 * - `floor/<model>`: decode time per token ÷ the memory floor, on the 124M model: ≤ 2.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { judge, targetLine } from "./targets.ts";
 * const t = judge("greedy/x/wasm", "ours ÷ theirs", [1.2, 1.4, 1.5, 1.7], ">=", 1.3, 1.1);
 * assertEquals(targetLine(t), "target greedy/x/wasm: 1.45× (IQR 1.35–1.55, n 4) met");
 * ```
 * @module
 */
import type {
  BeamsPart,
  BeamWidthCost,
  ContenderDecode,
  ContenderId,
  DecodeFloor,
  DecodePart,
  DecodeResult,
  TargetResult,
} from "./results.ts";
import { summarize } from "./stats.ts";

/** Each kind of target: its direction, the bound on the median and on the unfavourable quartile. */
export const TARGET_BOUNDS = {
  greedy: { direction: ">=", median: 1.3, quartile: 1.1 },
  fastestCpu: { direction: ">=", median: 1.3, quartile: 1.1 },
  prefill: { direction: ">=", median: 1.0, quartile: 1.0 },
  beam4FastestCpu: { direction: "<=", median: 1.5, quartile: 1.5 },
  beam4Wasm: { direction: "<=", median: 2, quartile: 2 },
  floor: { direction: "<=", median: 2, quartile: 2 },
} as const;

/** The model whose floor is a target (DRAM-bound: its weights exceed the caches). */
export const FLOOR_MODEL = "gpt2-124m";

/** Same-runtime pairs: ours, theirs, and the runtime's name in target names. */
export const SAME_RUNTIME: readonly { ours: ContenderId; theirs: ContenderId; runtime: string }[] =
  [
    { ours: "ours-cpu", theirs: "transformers.js-node", runtime: "onnxruntime-node" },
    { ours: "ours-wasm", theirs: "transformers.js-web-wasm", runtime: "wasm" },
    { ours: "ours-webgpu", theirs: "transformers.js-web-webgpu", runtime: "webgpu" },
  ];

const OUR_CPU: readonly ContenderId[] = ["ours-cpu", "ours-cpu-1thread", "ours-wasm"];
const THEIR_CPU: readonly ContenderId[] = [
  "transformers.js-node",
  "transformers.js-node-1thread",
  "transformers.js-web-wasm",
];

/**
 * Judges per-repetition `ratios` against a median bound and an unfavourable-quartile bound.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * // Median 1.45 meets 1.3 but the lower quartile 1.05 misses 1.1.
 * assertEquals(judge("t", "", [0.9, 1.1, 1.8, 1.9], ">=", 1.3, 1.1).met, false);
 * assertEquals(judge("t", "", [1.4, 1.45, 1.5], "<=", 1.5, 1.5).met, true);
 * ```
 */
export function judge(
  name: string,
  what: string,
  ratios: readonly number[],
  direction: ">=" | "<=",
  median: number,
  quartile: number,
): TargetResult {
  const ratio = summarize(ratios);
  const met = direction === ">="
    ? ratio.median >= median && ratio.q1 >= quartile
    : ratio.median <= median && ratio.q3 <= quartile;
  return { name, what, ratio, direction, median, quartile, met };
}

/**
 * The line a run prints for a target:
 * `target <name>: <median>× (IQR <lo>–<hi>, n <reps>) met|missed`.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const t = judge("beam4/x/ours-cpu", "", [1.6, 1.7, 1.8], "<=", 1.5, 1.5);
 * assertEquals(targetLine(t), "target beam4/x/ours-cpu: 1.70× (IQR 1.65–1.75, n 3) missed");
 * ```
 */
export function targetLine(t: TargetResult): string {
  const r = t.ratio;
  return `target ${t.name}: ${r.median.toFixed(2)}× (IQR ${r.q1.toFixed(2)}–${
    r.q3.toFixed(2)
  }, n ${r.n}) ${t.met ? "met" : "missed"}`;
}

/**
 * How far a missed target is from its bounds, in words (empty when met).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const t = judge("t", "", [1.0, 1.1, 1.2], ">=", 1.3, 1.1);
 * assertEquals(shortfall(t), "median 1.10× is 15% short of 1.3×; lower quartile 1.05× is 5% short of 1.1×");
 * // A quartile a hair under its bound is not rounded up to it.
 * assertEquals(
 *   shortfall(judge("t", "", [1.098, 1.098, 1.4, 1.5, 1.6], ">=", 1.3, 1.1)),
 *   "lower quartile 1.098× is 0.2% short of 1.1×",
 * );
 * ```
 */
export function shortfall(t: TargetResult): string {
  if (t.met) return "";
  const parts: string[] = [];
  const check = (label: string, value: number, bound: number) => {
    const bad = t.direction === ">=" ? value < bound : value > bound;
    if (!bad) return;
    // A value that rounds to its bound shows a third digit and a tenth of a percent.
    const close = value.toFixed(2) === bound.toFixed(2);
    const pct = Math.abs(value / bound - 1) * 100;
    parts.push(
      `${label} ${value.toFixed(close ? 3 : 2)}× is ${close ? pct.toFixed(1) : Math.round(pct)}% ` +
        `${t.direction === ">=" ? "short of" : "over"} ${bound}×`,
    );
  };
  check("median", t.ratio.median, t.median);
  check(
    t.direction === ">=" ? "lower quartile" : "upper quartile",
    t.direction === ">=" ? t.ratio.q1 : t.ratio.q3,
    t.quartile,
  );
  return parts.join("; ");
}

/**
 * The contender of `ids` with the highest median decode speed in a run, if any ran.
 * @example
 * ```ts
 * // fastest(run, ["ours-cpu", "ours-wasm"])?.id
 * ```
 */
export function fastest(
  run: DecodeResult,
  ids: readonly ContenderId[],
): ContenderDecode | undefined {
  return run.contenders
    .filter((c) => ids.includes(c.id))
    .reduce<ContenderDecode | undefined>(
      (best, c) => !best || c.decodeTokensPerS.median > best.decodeTokensPerS.median ? c : best,
      undefined,
    );
}

/**
 * Our fastest CPU contender in a model's decode run: the path the beam and floor targets use.
 * @example
 * ```ts
 * // fastestOurCpu(decodePart.models[0])?.id; // "ours-wasm"
 * ```
 */
export function fastestOurCpu(run: DecodeResult): ContenderDecode | undefined {
  return fastest(run, OUR_CPU);
}

const ms = (x: number) => `${x < 10 ? x.toFixed(3) : x.toFixed(1)} ms`;

/**
 * Where a decode ratio's time went: each side's median step split into `session.run` and the
 * loop around it, and, on a model with a memory floor, how close theirs already is to it (a
 * ratio above theirs ÷ floor would need ours below the floor).
 * @example
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 * import type { ContenderDecode } from "./results.ts";
 * import { summarize } from "./stats.ts";
 * // 500 and 1000 tokens/s: 2 ms and 1 ms steps, 1.9 and 0.9 ms of them in session.run.
 * const side = (id: string, tokensPerS: number, sessionMs: number) =>
 *   ({
 *     id,
 *     decodeTokensPerS: summarize([tokensPerS]),
 *     sessionMsPerStep: summarize([sessionMs]),
 *   }) as unknown as ContenderDecode;
 * const why = decodeWhy(side("ours-wasm", 500, 1.9), side("theirs", 1000, 0.9), null, 1.3);
 * assertStringIncludes(why, "inside session.run (1.000 ms against us)");
 * ```
 */
export function decodeWhy(
  ours: ContenderDecode,
  theirs: ContenderDecode,
  floor: DecodeFloor | null,
  bound: number,
): string {
  const step = (c: ContenderDecode) => 1000 / c.decodeTokensPerS.median;
  const [a, t] = [ours, theirs].map((c) => ({
    step: step(c),
    session: c.sessionMsPerStep.median,
    loop: step(c) - c.sessionMsPerStep.median,
  }));
  const dSession = t.session - a.session, dLoop = t.loop - a.loop;
  const parts = [
    `a step is ${ms(a.step)} for ${ours.id} (${ms(a.session)} in session.run, ${
      ms(a.loop)
    } in the loop) against ${ms(t.step)} for ${theirs.id} (${ms(t.session)}, ${ms(t.loop)})`,
    Math.abs(dSession) >= Math.abs(dLoop)
      ? `so the difference is inside session.run (${ms(Math.abs(dSession))} ${
        dSession >= 0 ? "in our favour" : "against us"
      })`
      : `so the difference is the loop (${ms(Math.abs(dLoop))} ${
        dLoop >= 0 ? "in our favour" : "against us"
      })`,
  ];
  if (floor) {
    const ceiling = t.step / floor.floorMsPerToken;
    if (ceiling < bound) {
      parts.push(
        `${theirs.id} already decodes at ${ceiling.toFixed(2)}× the memory floor ` +
          `(${ms(floor.floorMsPerToken)} per token at ${
            floor.gbPerS.toFixed(1)
          } GB/s), so ${bound}× ` +
          `would need ours below the floor`,
      );
    }
  }
  return parts.join("; ");
}

/**
 * Where width 4's cost went: its step inside `session.run` against greedy's, and the loop.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { BeamWidthCost } from "./results.ts";
 * import { summarize } from "./stats.ts";
 * const width = (w: number, ms: number, sessionMs: number) =>
 *   ({ width: w, msPerToken: summarize([ms]), sessionMsPerToken: summarize([sessionMs]) }) as
 *     unknown as BeamWidthCost;
 * assertEquals(
 *   beamWhy([width(1, 0.5, 0.4), width(4, 1.5, 1.2)]),
 *   "a width-4 step spends 1.200 ms in session.run, 3.00× greedy's 0.400 ms (4 rows through " +
 *     "the same kernels), and 0.300 ms in the loop against 0.100 ms",
 * );
 * ```
 */
export function beamWhy(widths: readonly BeamWidthCost[]): string {
  const one = widths.find((w) => w.width === 1), four = widths.find((w) => w.width === 4);
  if (!one || !four) return "";
  const s1 = one.sessionMsPerToken.median, s4 = four.sessionMsPerToken.median;
  const l1 = one.msPerToken.median - s1, l4 = four.msPerToken.median - s4;
  return `a width-4 step spends ${ms(s4)} in session.run, ${(s4 / s1).toFixed(2)}× greedy's ` +
    `${ms(s1)} (4 rows through the same kernels), and ${ms(l4)} in the loop against ${ms(l1)}`;
}

function byRep(a: ContenderDecode, b: ContenderDecode, key: "decode" | "prefill"): number[] {
  const x = key === "decode" ? a.decodeTokensPerSByRep : a.prefillTokensPerSByRep;
  const y = key === "decode" ? b.decodeTokensPerSByRep : b.prefillTokensPerSByRep;
  return x.map((v, i) => v / y[i]);
}

/**
 * Every target the parts can judge, in a fixed order; a target whose contenders did not run is
 * left out (the run's `skipped` list says why).
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * assertEquals(benchTargets({}), []);
 * ```
 */
export function benchTargets(parts: { decode?: DecodePart; beams?: BeamsPart }): TargetResult[] {
  const out: TargetResult[] = [];
  const add = (
    kind: keyof typeof TARGET_BOUNDS,
    name: string,
    what: string,
    ratios: number[],
    why: () => string,
  ) => {
    const b = TARGET_BOUNDS[kind];
    const t = judge(name, what, ratios, b.direction, b.median, b.quartile);
    out.push(t.met ? t : { ...t, why: why() });
  };
  for (const run of parts.decode?.models ?? []) {
    const m = run.name;
    const get = (id: ContenderId) => run.contenders.find((c) => c.id === id);
    for (const { ours, theirs, runtime } of SAME_RUNTIME) {
      const a = get(ours), t = get(theirs);
      if (!a || !t) continue;
      const what = `${ours} ÷ ${theirs}`;
      const floor = m === FLOOR_MODEL ? run.floor : null;
      add(
        "greedy",
        `greedy/${m}/${runtime}`,
        `decode, ${what}`,
        byRep(a, t, "decode"),
        () => decodeWhy(a, t, floor, TARGET_BOUNDS.greedy.median),
      );
      add(
        "prefill",
        `prefill/${m}/${runtime}`,
        `prefill, ${what}`,
        byRep(a, t, "prefill"),
        () =>
          `the prompt takes ${ms(a.prefillMs.median)} for ${ours} (IQR ${
            a.prefillMs.q1.toFixed(1)
          }–${a.prefillMs.q3.toFixed(1)}) against ${ms(t.prefillMs.median)} for ${theirs} ` +
          `(IQR ${t.prefillMs.q1.toFixed(1)}–${t.prefillMs.q3.toFixed(1)})`,
      );
    }
    const ours = fastest(run, OUR_CPU), theirs = fastest(run, THEIR_CPU);
    if (ours && theirs) {
      add(
        "fastestCpu",
        `fastest-cpu/${m}`,
        `decode, ${ours.id} ÷ ${theirs.id} (each side's fastest CPU path)`,
        byRep(ours, theirs, "decode"),
        () =>
          decodeWhy(
            ours,
            theirs,
            m === FLOOR_MODEL ? run.floor : null,
            TARGET_BOUNDS.fastestCpu.median,
          ),
      );
    }
    const widths = (id: ContenderId) =>
      parts.beams?.runs.find((r) => r.name === m && r.contender === id)?.widths;
    const width4 = (id: ContenderId) =>
      widths(id)?.find((w) => w.width === 4)?.relativeToGreedyByRep;
    const fastestBeams = ours && width4(ours.id);
    if (ours && fastestBeams) {
      add(
        "beam4FastestCpu",
        `beam4/${m}/${ours.id}`,
        "width 4 ÷ greedy per token, our fastest CPU path",
        fastestBeams,
        () => beamWhy(widths(ours.id)!),
      );
    }
    const wasmBeams = run.group === "cpu" ? width4("ours-wasm") : undefined;
    if (wasmBeams) {
      add(
        "beam4Wasm",
        `beam4/${m}/wasm`,
        "width 4 ÷ greedy per token on WASM",
        wasmBeams,
        () => beamWhy(widths("ours-wasm")!),
      );
    }
    if (m === FLOOR_MODEL && run.floor) {
      add(
        "floor",
        `floor/${m}`,
        `decode ms/token of ${run.floor.contender} ÷ the memory floor`,
        run.floor.timesAboveFloorByRep,
        () =>
          `${run.floor!.contender} decodes at ${ms(run.floor!.measuredMsPerToken)} per token ` +
          `against a floor of ${ms(run.floor!.floorMsPerToken)}`,
      );
    }
  }
  return out;
}
