/**
 * The messages between the benchmark and a contender process (`decode_worker.ts`): which
 * contenders exist, the requests, and the replies, one JSON object per line. Kept apart from
 * the worker so the benchmark's code never loads transformers.js (nor its types) itself.
 *
 * @example
 * ```ts
 * import { CONTENDERS, REPLY_PREFIX } from "./protocol.ts";
 * CONTENDERS.includes("ours-wasm");
 * const line = REPLY_PREFIX + JSON.stringify({ kind: "loaded", description: "…" });
 * ```
 * @module
 */
import type { ContenderId, GpuTrafficCounts } from "../lib/bench/results.ts";
export { type ContenderId, CONTENDERS } from "../lib/bench/results.ts";

/** A message to the worker. */
export type WorkerRequest =
  | {
    kind: "load";
    contender: ContenderId;
    model: string;
    /** Threads of the CPU runtimes (transformers.js-node ignores it: default threads). */
    threads: number;
  }
  | {
    kind: "run";
    promptIds: number[];
    newTokens: number;
    numBeams: number;
    /**
     * Whether ours computes the sequences' scores (false: greedy tokens only, as
     * transformers.js's greedy `generate` returns; beam search always scores).
     */
    scores: boolean;
  };

/** One session run seen by the worker's counter. */
export interface ModelCall {
  /** Rows (beams) in the batch. */
  rows: number;
  /** Tokens per row fed. */
  tokens: number;
  /** Milliseconds until the session's `run` resolved (outputs computed, not yet read). */
  ms: number;
}

/** The result of one generation. */
export interface RunReply {
  /** Tags the message in the worker protocol. */
  kind: "ran";
  /** Generated token ids (prompt excluded) of the best sequence. */
  tokens: number[];
  /** Wall time of the generation call, milliseconds. */
  ms: number;
  /**
   * Milliseconds from the call to the moment each new token was chosen (the library's own
   * per-token callback: `onStep` here, a streamer for transformers.js); entry 0 ends the
   * prefill, entries 1… are decode steps.
   */
  tokenMs: number[];
  /** Every session run of the generation, in order. */
  calls: ModelCall[];
  /** WebGPU transfers during the decode steps, after the first token (WebGPU only). */
  gpuTraffic?: GpuTrafficCounts;
}

/** A message from the worker. */
export type WorkerReply =
  | {
    kind: "loaded";
    description: string;
    /** Ours: the graph has the int8-screened argmax, which greedy tokens-only runs use. */
    int8Head: boolean;
  }
  | RunReply
  | { kind: "error"; message: string };

/** Prefix of protocol lines on stdout; anything else a library prints there is ignored. */
export const REPLY_PREFIX = "@@bench-reply ";
