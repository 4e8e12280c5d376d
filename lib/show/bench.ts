/**
 * The benchmark's results as notebook tables (`lib/show` mime bundles): decode speed per
 * contender with the ratios, and the cost of beams. A notebook reads
 * `data/bench/results.json` and returns these; no benchmark runs inside a notebook.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { beamsTable, decodeTable } from "./bench.ts";
 * import { readBenchResults } from "../bench/results.ts";
 * const { decode, beams } = (await readBenchResults()).parts;
 * if (decode) assertEquals(decodeTable(decode).length, 2);
 * if (beams) beamsTable(beams.runs[0]);
 * ```
 * @module
 */
import { type Displayable, table } from "./mod.ts";
import type { BeamsResult, DecodeResult } from "../bench/results.ts";

/**
 * Decode and prefill tokens/s per contender (medians and quartiles), and ours ÷ theirs.
 * @example
 * ```ts
 * // decodeTable(JSON.parse(Deno.readTextFileSync("data/bench/results.json")).parts.decode)
 * ```
 */
export function decodeTable(decode: DecodeResult): Displayable[] {
  const speeds = table(
    [
      { key: (c) => c.id, header: "contender" },
      { key: (c) => c.description, header: "runs on" },
      { key: (c) => c.decodeTokensPerS.median, header: "decode tokens/s" },
      {
        key: (c) =>
          `${c.decodeTokensPerS.q1.toPrecision(3)}–${c.decodeTokensPerS.q3.toPrecision(3)}`,
        header: "IQR",
        align: "right",
      },
      { key: (c) => c.prefillTokensPerS.median, header: "prefill tokens/s" },
    ],
    decode.contenders,
    {
      digits: 1,
      caption: `Greedy decoding of ${decode.newTokens} tokens after a ${decode.promptIds.length}` +
        `-token prompt, ${decode.reps} alternating repetitions (this machine's figures). ` +
        `Tokens identical across contenders: ${decode.identicalTokens ? "yes" : "no"}.`,
    },
  );
  const ratios = table(
    [
      { key: (k) => `${k.ours} ÷ ${k.theirs}`, header: "ratio" },
      { key: (k) => `${k.ratio.toFixed(2)}×`, header: "decode", align: "right" },
      { key: (k) => `${k.prefillRatio.toFixed(2)}×`, header: "prefill", align: "right" },
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
 * // beamsTable(JSON.parse(Deno.readTextFileSync("data/bench/results.json")).parts.beams.runs[0])
 * ```
 */
export function beamsTable(beams: BeamsResult): Displayable {
  return table(
    [
      { key: (w) => w.width, header: "beams" },
      { key: (w) => `${w.relativeToGreedy.median.toFixed(2)}×`, header: "cost/token vs greedy" },
      { key: (w) => w.msPerToken.median, header: "ms/token" },
      { key: (w) => w.sessionMsPerToken.median, header: "of which in the session" },
      { key: (w) => w.callsPerStep, header: "model calls/step" },
      { key: (w) => w.rowsPerCall.join(", "), header: "rows per call", align: "right" },
    ],
    beams.widths,
    {
      digits: 2,
      caption: `Beam search on ${beams.contender} (${beams.description}), ` +
        `${beams.newTokens} new tokens, ${beams.reps} repetitions.`,
    },
  );
}
