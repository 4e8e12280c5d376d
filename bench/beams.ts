/**
 * The cost of beams: this workspace's beam search at widths 1, 2, 4, 8 against greedy, the same
 * number of new tokens, no sampling, widths alternating within each repetition. Cost per
 * generated token is taken from the decode steps only, as in `decode.ts`:
 * (t_N − t₁) / (N − 1) from the per-token stamps, of each width's fastest of `bestOf` back-to-back
 * generations per repetition. Every session run is counted, so the output shows that a step is one
 * batched call over all beams, not one call per beam.
 *
 * @example
 * ```ts
 * import { measureBeams } from "./beams.ts";
 * const r = await measureBeams({
 *   model: "data/models/brown-gpt2", name: "embedded", threads: 1, contender: "ours-wasm",
 *   widths: [1, 4],
 *   promptIds: [464, 318], newTokens: 16, reps: 3, bestOf: 2,
 *   warmUp: { minRuns: 1, minMs: 0, settleMaxMs: 0 },
 *   log: console.log,
 * });
 * r.widths[1].relativeToGreedy.median;
 * ```
 * @module
 */
import type { BeamsResult, ContenderId } from "../lib/bench/results.ts";
import { Contender } from "./contender.ts";
import type { RunReply } from "./protocol.ts";
import { decodeSeconds } from "./decode.ts";
import { summarize } from "../lib/bench/stats.ts";

/**
 * Times beam search at each width against greedy on one contender.
 * @example
 * ```ts
 * // const r = await measureBeams({ model, contender: "ours-wasm", widths: [1, 2, 4, 8], ... });
 * ```
 */
export async function measureBeams(options: {
  model: string;
  /** The model's name in the results. */
  name: string;
  /** Threads of the CPU runtimes. */
  threads: number;
  contender: ContenderId;
  widths: readonly number[];
  promptIds: number[];
  newTokens: number;
  reps: number;
  /** Back-to-back generations per width and repetition, of which the fastest counts. */
  bestOf: number;
  /**
   * Unmeasured runs per width before timing (see `Contender.warmUp`), then at most
   * `settleMaxMs` for the process to go idle (`Contender.settle`).
   */
  warmUp: { minRuns: number; minMs: number; settleMaxMs: number };
  log: (line: string) => void;
}): Promise<BeamsResult> {
  const { model, contender, promptIds, newTokens: n, reps, log } = options;
  const widths = [1, ...options.widths.filter((w) => w !== 1)];
  for (const w of widths) {
    if (!Number.isInteger(w) || w < 1) {
      throw new RangeError(`beam widths must be positive integers, got ${w}`);
    }
  }
  if (!Number.isInteger(n) || n < 2) {
    throw new RangeError(`beam timing needs at least 2 new tokens, got ${n}`);
  }
  const measuredAt = new Date().toISOString();
  const c = await Contender.start(contender, model, options.threads);
  try {
    log(`${contender}: ${c.description}`);
    // Width 1 scores its sequence as beam search does, so widths differ in rows alone.
    for (const w of widths) await c.warmUp(promptIds, n, w, true, options.warmUp);
    const waited = await Contender.settle([c], options.warmUp.settleMaxMs);
    log(`  ${contender} idle after ${(waited / 1000).toFixed(1)} s`);
    const runs = new Map<number, RunReply[]>(widths.map((w) => [w, []]));
    for (let r = 0; r < reps; r++) {
      const order = widths.map((_, i) => widths[(i + r) % widths.length]);
      for (const w of order) {
        runs.get(w)!.push(await c.runFastest(promptIds, n, w, true, options.bestOf));
      }
    }
    const msPerToken = (x: RunReply) => decodeSeconds(x) * 1000 / (n - 1);
    const greedy = runs.get(1)!;
    return {
      measuredAt,
      contender,
      description: c.description,
      name: options.name,
      newTokens: n,
      reps,
      bestOf: options.bestOf,
      widths: widths.map((w) => {
        const rs = runs.get(w)!;
        const last = rs[rs.length - 1];
        if (last.tokens.length !== n) {
          throw new Error(`width ${w} generated ${last.tokens.length} tokens instead of ${n}`);
        }
        // The first call is the prefill; every later one is a decode step.
        const decodeCalls = last.calls.slice(1);
        const relative = rs.map((x, i) => msPerToken(x) / msPerToken(greedy[i]));
        return {
          width: w,
          msPerToken: summarize(rs.map(msPerToken)),
          relativeToGreedy: summarize(relative),
          relativeToGreedyByRep: relative,
          generateMs: summarize(rs.map((x) => x.ms)),
          callsPerStep: decodeCalls.length / (n - 1),
          rowsPerCall: [...new Set(decodeCalls.map((k) => k.rows))],
          sessionMsPerToken: summarize(
            rs.map((x) => x.calls.slice(1).reduce((sum, k) => sum + k.ms, 0) / (n - 1)),
          ),
          ...(last.gpuTraffic
            ? { readbackBytesPerStep: last.gpuTraffic.readbackBytes / (n - 1) }
            : {}),
        };
      }),
    };
  } finally {
    await c.close();
  }
}
