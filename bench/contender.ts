/**
 * A generation contender running in its own Deno process (`decode_worker.ts`), driven from the
 * benchmark one request at a time over JSON lines, so contenders can be alternated run by run
 * while each keeps its own libraries loaded. Only one contender computes at any moment.
 *
 * @example
 * ```ts
 * import { Contender } from "./contender.ts";
 * const ours = await Contender.start("ours-wasm", "data/models/brown-gpt2", 1);
 * const run = await ours.run([464, 318], 8, 1, false);
 * console.log(run.tokens.length, run.ms);
 * await ours.close();
 * ```
 * @module
 */
import { readLines } from "../lib/notebook/processes.ts";
import {
  type ContenderId,
  REPLY_PREFIX,
  type RunReply,
  type WorkerReply,
  type WorkerRequest,
} from "./protocol.ts";

const WORKER = new URL("./decode_worker.ts", import.meta.url);
const CONFIG = new URL("../deno.json", import.meta.url);

/** A loaded contender in its process. */
export class Contender {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #replies: AsyncIterator<string>;
  #stderr: string[] = [];

  private constructor(
    /** Which contender. */
    readonly id: ContenderId,
    private readonly child: Deno.ChildProcess,
  ) {
    this.#writer = child.stdin.getWriter();
    this.#replies = readLines(child.stdout)[Symbol.asyncIterator]();
    // Keep the tail of stderr for error messages; draining it also keeps the child unblocked.
    (async () => {
      for await (const line of readLines(child.stderr)) {
        this.#stderr.push(line);
        if (this.#stderr.length > 20) this.#stderr.shift();
      }
    })();
  }

  /** What it runs on, as the contender describes itself. */
  description = "";
  /** Whether greedy tokens-only runs use the int8-screened LM head (ours on large heads). */
  int8Head = false;

  /**
   * Starts a process and loads `contender` on `model`; rejects with the process's error.
   * @example
   * ```ts
   * const c = await Contender.start("transformers.js-node", "data/models/brown-gpt2", 2);
   * await c.close();
   * ```
   */
  static async start(contender: ContenderId, model: string, threads: number): Promise<Contender> {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", CONFIG.pathname, WORKER.pathname],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const c = new Contender(contender, child);
    try {
      const reply = await c.#request({ kind: "load", contender, model, threads });
      if (reply.kind !== "loaded") throw new Error(`unexpected reply ${reply.kind}`);
      c.description = reply.description;
      c.int8Head = reply.int8Head;
      return c;
    } catch (e) {
      await c.close();
      throw e;
    }
  }

  async #request(request: WorkerRequest): Promise<WorkerReply> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    for (;;) {
      const next = await this.#replies.next();
      if (next.done) {
        throw new Error(
          `${this.id}: the contender process ended; its stderr ends with:\n` +
            this.#stderr.join("\n"),
        );
      }
      if (!next.value.startsWith(REPLY_PREFIX)) continue;
      const reply = JSON.parse(next.value.slice(REPLY_PREFIX.length)) as WorkerReply;
      if (reply.kind === "error") throw new Error(`${this.id}: ${reply.message}`);
      return reply;
    }
  }

  /**
   * Generates `newTokens` tokens after `promptIds` (greedy for `numBeams` 1, else beam
   * search; `scores` false: greedy tokens only), timed inside the contender's process.
   * @example
   * ```ts
   * // const { tokens, ms, calls } = await contender.run(promptIds, 32, 4, true);
   * ```
   */
  async run(
    promptIds: number[],
    newTokens: number,
    numBeams: number,
    scores: boolean,
  ): Promise<RunReply> {
    const reply = await this.#request({ kind: "run", promptIds, newTokens, numBeams, scores });
    if (reply.kind !== "ran") throw new Error(`${this.id}: unexpected reply ${reply.kind}`);
    return reply;
  }

  /**
   * The fastest (least total time) of `bestOf` back-to-back generations, as {@linkcode run}
   * times each: a stall from another job or a core left cold by the idle wait before only adds
   * time, so the fastest run is the one that measured this contender's code. Throws when the
   * runs' tokens differ.
   * @example
   * ```ts
   * // const fastest = await contender.runFastest(promptIds, 32, 1, false, 3);
   * ```
   */
  async runFastest(
    promptIds: number[],
    newTokens: number,
    numBeams: number,
    scores: boolean,
    bestOf: number,
  ): Promise<RunReply> {
    if (!Number.isInteger(bestOf) || bestOf < 1) {
      throw new RangeError(`bestOf must be a positive integer, got ${bestOf}`);
    }
    let fastest: RunReply | undefined;
    for (let i = 0; i < bestOf; i++) {
      const r = await this.run(promptIds, newTokens, numBeams, scores);
      if (fastest && r.tokens.join() !== fastest.tokens.join()) {
        throw new Error(`${this.id}: back-to-back runs generated different tokens`);
      }
      if (!fastest || r.ms < fastest.ms) fastest = r;
    }
    return fastest!;
  }

  /**
   * Runs unmeasured generations until at least `minRuns` ran and `minMs` passed: WebAssembly
   * starts on V8's baseline compiler and tiers up to optimized code in the background, and
   * WebGPU compiles its shaders on first use, so the first runs are not the steady state.
   * @example
   * ```ts
   * // await contender.warmUp(promptIds, 64, 1, false, { minRuns: 3, minMs: 2000 });
   * ```
   */
  async warmUp(
    promptIds: number[],
    newTokens: number,
    numBeams: number,
    scores: boolean,
    budget: { minRuns: number; minMs: number },
  ): Promise<number> {
    const t0 = performance.now();
    let runs = 0;
    while (runs < budget.minRuns || performance.now() - t0 < budget.minMs) {
      await this.run(promptIds, newTokens, numBeams, scores);
      runs++;
    }
    return runs;
  }

  /**
   * Waits until every contender's process is idle, at most `maxMs`: V8 goes on compiling a
   * WebAssembly runtime on background threads after its first runs (the last contender warmed
   * took a whole core for 4–5 s more here), which would slow whichever contender runs first.
   * Idle: under 5% of a core over half a second, from `/proc/<pid>/stat` (Linux; elsewhere it
   * waits one half second). Returns the milliseconds waited.
   * @example
   * ```ts
   * // const waited = await Contender.settle(started, 60_000);
   * ```
   */
  static async settle(contenders: readonly Contender[], maxMs: number): Promise<number> {
    const t0 = performance.now();
    const windowMs = 500;
    const cpuTicks = (c: Contender) => {
      try {
        const fields = Deno.readTextFileSync(`/proc/${c.child.pid}/stat`).split(") ")[1].split(" ");
        // utime and stime, in clock ticks (USER_HZ, 100 per second).
        return Number(fields[11]) + Number(fields[12]);
      } catch {
        return undefined;
      }
    };
    while (performance.now() - t0 < maxMs) {
      const before = contenders.map(cpuTicks);
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      const busy = contenders.map(cpuTicks).map((after, i) =>
        after === undefined || before[i] === undefined ? 0 : (after - before[i]!) / 100
      );
      if (busy.every((seconds) => seconds < 0.05 * windowMs / 1000)) break;
    }
    return performance.now() - t0;
  }

  /** Ends the process (closing its stdin ends its request loop). */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => {
      try {
        this.child.kill();
      } catch {
        // Already exited.
      }
    }, 5000);
    await this.child.status;
    clearTimeout(timer);
  }
}
