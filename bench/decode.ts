/**
 * Generation speed, side by side: every contender (this workspace on WASM and WebGPU,
 * transformers.js on onnxruntime-node and on onnxruntime-web) generates the same greedy tokens
 * from the same prompt ids on the same ONNX model, contenders alternating within each
 * repetition. Each library reports every chosen token through its own public callback (our
 * `onStep`, a transformers.js streamer), stamped with the time since the call: the first stamp
 * t₁ ends the prefill (and the first argmax), the last one t_N ends N − 1 decode steps, so
 *
 * - prefill tokens/s = prompt tokens / t₁
 * - decode tokens/s = (N − 1) / (t_N − t₁)
 *
 * computed per repetition (each contender's fastest of `bestOf` back-to-back generations), then
 * summarized. On WebGPU the bytes read back to the CPU during the
 * decode steps are counted (`gpu_traffic.ts`) and compared with the logits' size.
 *
 * @example
 * ```ts
 * import { measureDecode } from "./decode.ts";
 * const r = await measureDecode({
 *   model: "data/models/brown-gpt2", name: "embedded", group: "cpu", threads: 1,
 *   contenders: ["ours-wasm", "transformers.js-web-wasm"],
 *   promptIds: [464, 318, 257], newTokens: 16, reps: 3, bestOf: 2, vocabSize: 4096,
 *   warmUp: { minRuns: 1, minMs: 0, settleMaxMs: 0 }, log: console.log,
 * });
 * r.comparisons[0].ratio;
 * ```
 * @module
 */
import type {
  ContenderDecode,
  ContenderId,
  DecodeComparison,
  DecodeResult,
} from "../lib/bench/results.ts";
import { Contender } from "./contender.ts";
import type { RunReply } from "./protocol.ts";
import { summarize } from "../lib/bench/stats.ts";

/** The comparisons made when both sides ran, with what each shows. */
export const DECODE_COMPARISONS: readonly {
  ours: ContenderId;
  theirs: ContenderId;
  what: string;
}[] = [
  {
    ours: "ours-cpu",
    theirs: "transformers.js-node",
    what: "same runtime: onnxruntime-node; transformers.js's usual Deno path, default threads",
  },
  {
    ours: "ours-cpu-1thread",
    theirs: "transformers.js-node-1thread",
    what: "onnxruntime-node, both pinned to one intra-op thread",
  },
  {
    ours: "ours-wasm",
    theirs: "transformers.js-web-wasm",
    what: "same runtime: onnxruntime-web's plain WASM build, same threads",
  },
  {
    ours: "ours-webgpu",
    theirs: "transformers.js-web-webgpu",
    what: "same runtime: onnxruntime-web's WebGPU build (lavapipe here, a CPU rasterizer)",
  },
];

/**
 * Runs the decode comparison: starts every contender, warms each up, then `reps`
 * repetitions of an N-token generation per contender in rotating order.
 * @example
 * ```ts
 * // const result = await measureDecode({ model, contenders, promptIds, newTokens: 64, reps: 5,
//   bestOf: 3,
 * //   vocabSize: 4096, warmUp: { minRuns: 3, minMs: 3000, settleMaxMs: 60_000 }, log });
 * ```
 */
export async function measureDecode(options: {
  model: string;
  /** The model's name in the results. */
  name: string;
  /** Which contenders these are. */
  group: "cpu" | "webgpu";
  /** Threads of the CPU runtimes. */
  threads: number;
  contenders: readonly ContenderId[];
  promptIds: number[];
  newTokens: number;
  reps: number;
  /** Back-to-back generations per contender and repetition, of which the fastest counts. */
  bestOf: number;
  vocabSize: number;
  /**
   * Unmeasured runs per contender before timing (see `Contender.warmUp`), then at most
   * `settleMaxMs` for the processes to go idle (`Contender.settle`).
   */
  warmUp: { minRuns: number; minMs: number; settleMaxMs: number };
  log: (line: string) => void;
}): Promise<DecodeResult> {
  const { model, promptIds, newTokens: n, reps, log } = options;
  if (!Number.isInteger(n) || n < 2) {
    throw new RangeError(`decode timing needs at least 2 new tokens, got ${n}`);
  }
  const measuredAt = new Date().toISOString();
  const started: Contender[] = [];
  const skipped: { id: ContenderId; reason: string }[] = [];
  try {
    for (const id of options.contenders) {
      let c: Contender;
      try {
        c = await Contender.start(id, model, options.threads);
      } catch (e) {
        // A reference library that cannot load here (no native binary for this platform)
        // leaves the others to compare; this workspace itself must run.
        if (id.startsWith("ours-")) throw e;
        const reason = (e instanceof Error ? e.message : String(e)).split("\n")[0];
        log(`${id}: skipped, ${reason}`);
        skipped.push({ id, reason });
        continue;
      }
      started.push(c);
      log(`${id}: ${c.description}`);
      // Greedy tokens only, as transformers.js's generate returns them: no sequence scores.
      await c.warmUp(promptIds, n, 1, false, options.warmUp);
    }
    const waited = await Contender.settle(started, options.warmUp.settleMaxMs);
    log(`  contenders idle after ${(waited / 1000).toFixed(1)} s`);
    const runs = new Map<ContenderId, RunReply[]>(started.map((c) => [c.id, []]));
    for (let r = 0; r < reps; r++) {
      const order = started.map((_, i) => started[(i + r) % started.length]);
      for (const c of order) {
        runs.get(c.id)!.push(await c.runFastest(promptIds, n, 1, false, options.bestOf));
      }
    }
    const contenders = started.map((c) =>
      summarizeContender(c, runs.get(c.id)!, promptIds.length, n, options.vocabSize)
    );
    const byId = new Map(contenders.map((c) => [c.id, c]));
    const comparisons: DecodeComparison[] = [];
    for (const { ours, theirs, what } of DECODE_COMPARISONS) {
      const a = byId.get(ours), b = byId.get(theirs);
      if (!a || !b) continue;
      const ra = runs.get(ours)!, rb = runs.get(theirs)!;
      comparisons.push({
        ours,
        theirs,
        what,
        ratio: a.decodeTokensPerS.median / b.decodeTokensPerS.median,
        perRep: summarize(ra.map((x, i) => decodeSeconds(rb[i]) / decodeSeconds(x))),
        prefillRatio: a.prefillTokensPerS.median / b.prefillTokensPerS.median,
        prefillPerRep: summarize(ra.map((x, i) => rb[i].tokenMs[0] / x.tokenMs[0])),
        identicalTokens: sameTokens(a.tokens, b.tokens),
      });
    }
    const identicalTokens = contenders.every((c) =>
      c.stableTokens && sameTokens(c.tokens, contenders[0].tokens)
    );
    return {
      measuredAt,
      model,
      name: options.name,
      group: options.group,
      promptIds,
      newTokens: n,
      reps,
      bestOf: options.bestOf,
      contenders,
      comparisons,
      identicalTokens,
      skipped,
    };
  } finally {
    for (const c of started) await c.close();
  }
}

/**
 * Seconds of the N − 1 decode steps of one run: from the first token's stamp to the last's.
 * @example
 * ```ts
 * decodeSeconds({ tokenMs: [30, 40, 50] }); // 0.02
 * ```
 */
export function decodeSeconds(run: Pick<RunReply, "tokenMs">): number {
  const t = run.tokenMs;
  if (t.length < 2) {
    throw new RangeError(`decode timing needs 2 or more token stamps, got ${t.length}`);
  }
  return (t[t.length - 1] - t[0]) / 1000;
}

function summarizeContender(
  c: Contender,
  runs: RunReply[],
  promptTokens: number,
  n: number,
  vocabSize: number,
): ContenderDecode {
  for (const run of runs) {
    if (run.tokens.length !== n || run.tokenMs.length !== n) {
      throw new Error(
        `${c.id} generated ${run.tokens.length} tokens (${run.tokenMs.length} callbacks) ` +
          `instead of ${n}`,
      );
    }
  }
  const last = runs[runs.length - 1];
  const result: ContenderDecode = {
    id: c.id,
    description: c.description,
    ...(c.int8Head ? { int8Head: true } : {}),
    prefillTokensPerS: summarize(runs.map((r) => promptTokens / (r.tokenMs[0] / 1000))),
    decodeTokensPerS: summarize(runs.map((r) => (n - 1) / decodeSeconds(r))),
    prefillMs: summarize(runs.map((r) => r.tokenMs[0])),
    generateMs: summarize(runs.map((r) => r.ms)),
    decodeTokensPerSByRep: runs.map((r) => (n - 1) / decodeSeconds(r)),
    prefillTokensPerSByRep: runs.map((r) => promptTokens / (r.tokenMs[0] / 1000)),
    tokens: last.tokens,
    stableTokens: runs.every((r) => sameTokens(r.tokens, last.tokens)),
    modelCalls: last.calls.length,
    // Session runs after the prefill's are the decode steps.
    sessionMsPerStep: summarize(
      runs.map((r) => r.calls.slice(1).reduce((sum, k) => sum + k.ms, 0) / (n - 1)),
    ),
  };
  if (last.gpuTraffic) {
    const t = last.gpuTraffic;
    const steps = n - 1;
    const logitsBytes = vocabSize * 4;
    const readbackBytes = t.readbackBytes / steps;
    result.gpuPerToken = {
      readbackBytes,
      readbacks: t.readbacks / steps,
      uploadBytes: t.uploadBytes / steps,
      uploads: t.uploads / steps,
      logitsBytes,
      beyondLogitsBytes: Math.max(0, readbackBytes - logitsBytes),
    };
  }
  return result;
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
