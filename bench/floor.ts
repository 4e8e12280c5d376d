/**
 * The decode floor: generating one token must read every weight the step touches once, plus
 * the KV cache, so `bytes per token ÷ memory bandwidth` is the least time a token can take on
 * a memory-bound machine. Compared with the measured decode time it says how far above the
 * roofline's bound the decode loop runs.
 *
 * Bytes per token for a GPT-2 block stack, fp32, from `config.json`:
 * - per layer 12·D² + 13·D parameters (QKV 3D², output D², MLP 8D², biases and norms 13D)
 * - the LM head V·D (GPT-2 ties it to the token embedding; the embeddings' lookups read one row)
 * - the final norm 2·D
 * - the KV cache: 2 · layers · past · D values.
 *
 * With the LM head run as the int8 screen (`lib/onnx/int8_screen.ts`) the head reads V·D bytes
 * and three float32 vectors of V instead of V·D floats (the few rescored rows aside).
 *
 * @example
 * ```ts
 * import { gpt2DecodeBytes } from "./floor.ts";
 * gpt2DecodeBytes({ n_layer: 1, n_embd: 2, vocab_size: 3 }, 0); // 4·(12·4 + 13·2 + 6 + 4)
 * ```
 * @module
 */
import type { DecodeFloor, DecodeResult, RooflineResult } from "../lib/bench/results.ts";
import { summarize } from "../lib/bench/stats.ts";
import { fastestOurCpu } from "../lib/bench/targets.ts";

/** The GPT-2 fields of `config.json` the byte count needs. */
export interface Gpt2Geometry {
  /** Transformer layers. */
  n_layer: number;
  /** Model dimension D. */
  n_embd: number;
  /** Vocabulary size V (rows of the tied LM head). */
  vocab_size: number;
}

/**
 * Bytes one decode step reads: the fp32 weights it uses and a KV cache of `past` tokens
 * (`int8Head`: the head as the int8 screen reads it instead).
 * @example
 * ```ts
 * gpt2DecodeBytes({ n_layer: 2, n_embd: 64, vocab_size: 100 }, 10);
 * ```
 */
export function gpt2DecodeBytes(config: Gpt2Geometry, past: number, int8Head = false): number {
  const { n_layer: layers, n_embd: d, vocab_size: v } = config;
  for (const [name, x] of Object.entries({ n_layer: layers, n_embd: d, vocab_size: v })) {
    if (!Number.isInteger(x) || x < 1) {
      throw new RangeError(`config ${name} must be a positive integer, got ${x}`);
    }
  }
  if (!Number.isInteger(past) || past < 0) {
    throw new RangeError(`past must be a non-negative integer, got ${past}`);
  }
  const params = layers * (12 * d * d + 13 * d) + 2 * d;
  const head = int8Head ? v * d + 3 * 4 * v : 4 * v * d;
  return 4 * (params + 2 * layers * past * d) + head;
}

/**
 * The floor of a model's decode run, against our fastest CPU contender in it, from the model's
 * config and the best bandwidth measured on this machine (WebAssembly SIMD reads or a plain JS
 * copy): a floor is a bound, so the higher rate sets it.
 * @example
 * ```ts
 * // const floor = await decodeFloor("data/models/brown-gpt2", decodeResult, rooflineResult);
 * ```
 */
export async function decodeFloor(
  modelFolder: string,
  decode: DecodeResult,
  roofline: RooflineResult,
): Promise<DecodeFloor | undefined> {
  const ours = fastestOurCpu(decode);
  if (!ours) return undefined;
  const config = JSON.parse(await Deno.readTextFile(`${modelFolder}/config.json`));
  const meanPast = decode.promptIds.length + Math.floor(decode.newTokens / 2);
  const int8Head = ours.int8Head === true;
  const weightBytes = gpt2DecodeBytes(config, 0, int8Head);
  const kvCacheBytes = gpt2DecodeBytes(config, meanPast, int8Head) - weightBytes;
  // Reads only, as a decode step streams its weights; the copy (read + write) as a check. The
  // Add chain's slope is no candidate: between two noisy runs that each copy 64 MiB in and out
  // it ranged 17–128 GB/s (inter-quartile) in one run here, above what reads alone reach.
  const candidates = [
    { gbPerS: roofline.jsCopy.gbPerS.median, source: "plain JS copy" },
    ...(roofline.read
      ? [{
        gbPerS: roofline.read.gbPerS.median,
        source: `WebAssembly SIMD reads, ${roofline.wasmThreads} thread(s)`,
      }]
      : []),
  ];
  const best = candidates.reduce((a, b) => (b.gbPerS > a.gbPerS ? b : a));
  const floorMsPerToken = (weightBytes + kvCacheBytes) / (best.gbPerS * 1e9) * 1000;
  const measuredMsPerToken = 1000 / ours.decodeTokensPerS.median;
  const byRep = ours.decodeTokensPerSByRep.map((rate) => 1000 / rate / floorMsPerToken);
  return {
    weightBytes,
    int8Head,
    kvCacheBytes,
    gbPerS: best.gbPerS,
    bandwidthSource: `${best.source}, measured ${roofline.measuredAt}`,
    floorMsPerToken,
    contender: ours.id,
    measuredMsPerToken,
    timesAboveFloor: summarize(byRep),
    timesAboveFloorByRep: byRep,
  };
}
