// The benchmark's targets from synthetic results whose ratios are known in closed form: which
// targets exist, their per-repetition ratios, the fastest-path choice, and the quartile rule.
import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import type {
  BeamsPart,
  ContenderDecode,
  ContenderId,
  DecodeModel,
  DecodePart,
} from "../lib/bench/results.ts";
import { summarize } from "../lib/bench/stats.ts";
import { benchTargets, judge, shortfall, targetLine } from "../lib/bench/targets.ts";

function contender(id: ContenderId, decode: number[], prefill: number[]): ContenderDecode {
  const s = summarize(decode);
  return {
    id,
    description: id,
    prefillTokensPerS: summarize(prefill),
    decodeTokensPerS: s,
    decodeTokensPerSByRep: decode,
    prefillTokensPerSByRep: prefill,
    prefillMs: s,
    generateMs: s,
    tokens: [1, 2],
    stableTokens: true,
    modelCalls: 2,
    sessionMsPerStep: s,
  };
}

function run(name: string, contenders: ContenderDecode[], timesAboveFloor?: number[]): DecodeModel {
  const s = summarize([1]);
  return {
    measuredAt: "2026-12-02T00:00:00Z",
    model: `models/${name}`,
    name,
    group: "cpu",
    promptIds: [1],
    newTokens: 2,
    reps: contenders[0].decodeTokensPerSByRep.length,
    bestOf: 1,
    contenders,
    comparisons: [],
    identicalTokens: true,
    skipped: [],
    floor: timesAboveFloor
      ? {
        weightBytes: 1,
        kvCacheBytes: 0,
        gbPerS: 1,
        bandwidthSource: "test",
        floorMsPerToken: 1,
        contender: "ours-wasm",
        measuredMsPerToken: 1,
        timesAboveFloor: { ...s, ...summarize(timesAboveFloor) },
        timesAboveFloorByRep: timesAboveFloor,
      }
      : null,
  };
}

function beams(name: string, contender: ContenderId, relative: number[]): BeamsPart["runs"][0] {
  const s = summarize(relative);
  return {
    measuredAt: "",
    contender,
    description: "",
    name,
    newTokens: 2,
    reps: relative.length,
    bestOf: 1,
    widths: [{
      width: 4,
      msPerToken: s,
      relativeToGreedy: s,
      relativeToGreedyByRep: relative,
      generateMs: s,
      callsPerStep: 1,
      rowsPerCall: [4],
      sessionMsPerToken: s,
    }],
  };
}

Deno.test("targets: same-runtime, fastest-path, beam and floor ratios per repetition", () => {
  const decode: DecodePart = {
    quick: false,
    loadAverage: [0, 0, 0],
    models: [
      run("embedded", [
        // ours-wasm is our fastest CPU path; transformers.js-node-1thread theirs.
        contender("ours-cpu", [100, 110, 120, 130], [10, 10, 10, 10]),
        contender("ours-wasm", [200, 200, 200, 200], [20, 20, 20, 20]),
        contender("transformers.js-node", [80, 80, 80, 80], [40, 40, 40, 40]),
        contender("transformers.js-node-1thread", [160, 150, 200, 140], [5, 5, 5, 5]),
        contender("transformers.js-web-wasm", [100, 200, 100, 200], [10, 20, 10, 20]),
      ]),
      run("gpt2-124m", [contender("ours-wasm", [10, 10, 10], [1, 1, 1])], [1.5, 2.5, 1.8]),
    ],
  };
  const beamsPart: BeamsPart = {
    quick: false,
    loadAverage: [0, 0, 0],
    runs: [beams("embedded", "ours-wasm", [1.4, 1.45, 1.6])],
  };
  const targets = benchTargets({ decode, beams: beamsPart });
  const byName = new Map(targets.map((t) => [t.name, t]));
  assertEquals([...byName.keys()], [
    "greedy/embedded/onnxruntime-node",
    "prefill/embedded/onnxruntime-node",
    "greedy/embedded/wasm",
    "prefill/embedded/wasm",
    "fastest-cpu/embedded",
    "beam4/embedded/ours-wasm",
    "beam4/embedded/wasm",
    "floor/gpt2-124m",
  ]);
  // ours-cpu ÷ transformers.js-node: 1.25, 1.375, 1.5, 1.625 → median 1.4375, q1 1.34375.
  const node = byName.get("greedy/embedded/onnxruntime-node")!;
  assertAlmostEquals(node.ratio.median, 1.4375, 1e-12);
  assertAlmostEquals(node.ratio.q1, 1.34375, 1e-12);
  assert(node.met);
  // Prefill 0.25 everywhere: missed.
  assertEquals(byName.get("prefill/embedded/onnxruntime-node")!.met, false);
  // ours-wasm ÷ web-wasm: 2, 1, 2, 1 → median 1.5 but q1 1.0 < 1.1: missed on the quartile.
  const wasm = byName.get("greedy/embedded/wasm")!;
  assertEquals([wasm.ratio.median, wasm.ratio.q1, wasm.met], [1.5, 1, false]);
  assertEquals(shortfall(wasm), "lower quartile 1.00× is 9% short of 1.1×");
  // Fastest: ours-wasm (200) over transformers.js-node-1thread (median 155, above web-wasm's
  // 150): 1.25, 1.333, 1, 1.429 → median 1.2917.
  const fast = byName.get("fastest-cpu/embedded")!;
  assertEquals(
    fast.what,
    "decode, ours-wasm ÷ transformers.js-node-1thread (each side's fastest CPU path)",
  );
  assertAlmostEquals(fast.ratio.median, (1.25 + 200 / 150) / 2, 1e-12);
  assertEquals(fast.met, false);
  // Beams ≤ 1.5 on the fastest path: median 1.45 passes, upper quartile 1.525 does not.
  const beam = byName.get("beam4/embedded/ours-wasm")!;
  assertEquals(beam.met, false);
  assertEquals(shortfall(beam), "upper quartile 1.52× is 2% over 1.5×");
  assert(byName.get("beam4/embedded/wasm")!.met, "≤ 2 on WASM");
  // Floor ≤ 2: median 1.8, upper quartile 2.15: missed.
  assertEquals(byName.get("floor/gpt2-124m")!.met, false);
  assertEquals(
    targetLine(byName.get("floor/gpt2-124m")!),
    "target floor/gpt2-124m: 1.80× (IQR 1.65–2.15, n 3) missed",
  );
});

Deno.test("judge: both bounds, either direction", () => {
  assert(judge("a", "", [1.3, 1.3, 1.3], ">=", 1.3, 1.1).met);
  assertEquals(judge("b", "", [1.29, 1.3, 1.31], ">=", 1.3, 1.1).met, true);
  assertEquals(judge("c", "", [1.2, 1.29, 1.4], ">=", 1.3, 1.1).met, false);
  assertEquals(judge("d", "", [2, 2, 2], "<=", 2, 2).met, true);
  assertEquals(judge("e", "", [1, 2, 3], "<=", 2, 2).met, false);
});

Deno.test("a missed decode target says where the time went, and when the memory floor bounds it", () => {
  // ours 400 tokens/s (2.5 ms steps, 2.0 in session.run); theirs 500 tokens/s (2.0 ms, 1.8).
  const ours = { ...contender("ours-wasm", [400], [1]), sessionMsPerStep: summarize([2.0]) };
  const theirs = {
    ...contender("transformers.js-web-wasm", [500], [1]),
    sessionMsPerStep: summarize([1.8]),
  };
  const floor = { ...run("gpt2-124m", [ours], [1]).floor!, floorMsPerToken: 1.6, gbPerS: 40 };
  const part = (models: DecodeModel[]): DecodePart => ({
    quick: false,
    loadAverage: [0, 0, 0],
    models,
  });
  const [greedy] = benchTargets({ decode: part([{ ...run("gpt2-124m", [ours, theirs]), floor }]) });
  assertEquals(greedy.name, "greedy/gpt2-124m/wasm");
  assert(!greedy.met);
  // The loop's 0.3 ms against us outweighs session.run's 0.2; theirs 2.0 ms ÷ the 1.6 ms floor
  // is 1.25, below 1.3.
  assertEquals(
    greedy.why,
    "a step is 2.500 ms for ours-wasm (2.000 ms in session.run, 0.500 ms in the loop) against " +
      "2.000 ms for transformers.js-web-wasm (1.800 ms, 0.200 ms); so the difference is the loop " +
      "(0.300 ms against us); transformers.js-web-wasm already decodes at 1.25× the memory floor " +
      "(1.600 ms per token at 40.0 GB/s), so 1.3× would need ours below the floor",
  );
  // A met target carries no explanation.
  const [met] = benchTargets({
    decode: part([run("gpt2-124m", [
      contender("ours-wasm", [1000], [1]),
      contender("transformers.js-web-wasm", [500], [1]),
    ])]),
  });
  assert(met.met && met.why === undefined);
});
