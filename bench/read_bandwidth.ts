/**
 * Read bandwidth, the roof a decode step streams its weights against: `threads` workers each
 * read their share of one shared buffer far larger than the last-level cache with 16-byte
 * WebAssembly SIMD loads (four per 64-byte line, XOR-folded so no load can be skipped), and a
 * pass is timed from the message that starts every worker to the last one's answer. Only reads
 * are counted: a decode step reads its weights and writes almost nothing, so a copy (half its
 * traffic writes) or an Add (a third) measures a different mix.
 *
 * @example
 * ```ts
 * import { measureReadBandwidth } from "./read_bandwidth.ts";
 * const m = await measureReadBandwidth({ bytes: 4 << 20, threads: 2, reps: 2 });
 * m.gbPerS.median > 0;
 * ```
 * @module
 */
import type { BandwidthMeasurement } from "../lib/bench/results.ts";
import { summarize } from "../lib/bench/stats.ts";
import { varintBytes } from "../lib/onnx/protobuf.ts";

/** Bytes each loop iteration reads: one cache line, four 16-byte loads. */
export const LINE_BYTES = 64;
const PAGE_BYTES = 65536;
/** Passes per repetition; the fastest counts (another job's stall only adds time). */
const PASSES_PER_REPETITION = 3;

function section(id: number, content: number[]): number[] {
  return [id, ...varintBytes(content.length), ...content];
}

/**
 * A WebAssembly module importing a shared memory of `pages` 64 KiB pages as `env.memory` and
 * exporting `read(start, end): i32`, which loads every 16 bytes of `[start, end)` (`end −
 * start` a positive multiple of {@linkcode LINE_BYTES}) and returns lane 0 of their XOR: the
 * XOR of the int32 at every 16-byte boundary.
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
 * const { exports } = new WebAssembly.Instance(readModule(1), { env: { memory } });
 * new Int32Array(memory.buffer).set([5, 0, 0, 0, 3], 0);
 * assertEquals((exports.read as (a: number, b: number) => number)(0, 64), 5 ^ 3);
 * ```
 */
export function readModule(pages: number): WebAssembly.Module {
  const str = (s: string) => [s.length, ...new TextEncoder().encode(s)];
  const load = (offset: number) => [0x20, 0x00, 0xfd, 0x00, 0x04, ...varintBytes(offset)];
  const xor = [0xfd, ...varintBytes(81)];
  const body = [
    0x01,
    0x01,
    0x7b, // one v128 local: the accumulator
    0x03,
    0x40, // loop
    0x20,
    0x02, // acc
    ...load(0),
    ...xor,
    ...load(16),
    ...xor,
    ...load(32),
    ...xor,
    ...load(48),
    ...xor,
    0x21,
    0x02, // acc =
    0x20,
    0x00,
    0x41,
    ...[0xc0, 0x00],
    0x6a,
    0x22,
    0x00, // start += 64
    0x20,
    0x01,
    0x49,
    0x0d,
    0x00, // while start < end
    0x0b,
    0x20,
    0x02,
    0xfd,
    ...varintBytes(27),
    0x00, // i32x4.extract_lane 0
    0x0b,
  ];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f]),
    ...section(2, [
      0x01,
      ...str("env"),
      ...str("memory"),
      0x02,
      0x03, // limits: minimum and maximum, shared
      ...varintBytes(pages),
      ...varintBytes(pages),
    ]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...str("read"), 0x00, 0x00]),
    ...section(10, [0x01, ...varintBytes(body.length), ...body]),
  ];
  return new WebAssembly.Module(new Uint8Array(bytes));
}

/** What a worker answers: its share's XOR (checked by the caller) after one pass. */
interface Answer {
  xor: number;
}

/**
 * Measures read bandwidth over `bytes` (rounded up to whole 64 KiB pages, split evenly into
 * cache lines over `threads` workers): a warm-up pass, then `reps` repetitions of the fastest
 * of {@linkcode PASSES_PER_REPETITION} passes. Throws when a worker's XOR differs from the one
 * computed here, so every byte was read.
 * @example
 * ```ts
 * const m = await measureReadBandwidth({ bytes: 1 << 20, threads: 1, reps: 1 });
 * m.bytesPerOp; // 1048576
 * ```
 */
export async function measureReadBandwidth(
  options: { bytes: number; threads: number; reps: number },
): Promise<BandwidthMeasurement> {
  const { threads, reps } = options;
  for (const [name, value] of Object.entries({ bytes: options.bytes, threads, reps })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
  }
  const pages = Math.ceil(options.bytes / PAGE_BYTES);
  const bytes = pages * PAGE_BYTES;
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const words = new Int32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761) ^ (i >>> 7);
  const lines = bytes / LINE_BYTES;
  const shares = Array.from({ length: threads }, (_, t) => {
    const start = Math.floor((lines * t) / threads) * LINE_BYTES;
    const end = Math.floor((lines * (t + 1)) / threads) * LINE_BYTES;
    let xor = 0;
    for (let i = start / 4; i < end / 4; i += 4) xor ^= words[i];
    return { start, end, xor };
  });
  const module = readModule(pages);
  const workers = shares.map(() =>
    new Worker(new URL("./read_bandwidth_worker.ts", import.meta.url), { type: "module" })
  );
  try {
    // One answer per message sent; a failing worker rejects the pass that waits on it.
    const answer = (w: Worker) =>
      new Promise<Answer>((resolve, reject) => {
        const failed = (e: ErrorEvent) => {
          e.preventDefault();
          reject(new Error(`read-bandwidth worker failed: ${e.message}`));
        };
        w.addEventListener("error", failed, { once: true });
        w.addEventListener("message", (e: MessageEvent<Answer>) => {
          w.removeEventListener("error", failed);
          resolve(e.data);
        }, { once: true });
      });
    const pass = async (): Promise<number> => {
      const waiting = workers.map(answer);
      const t0 = performance.now();
      workers.forEach((w, t) => w.postMessage({ start: shares[t].start, end: shares[t].end }));
      const got = await Promise.all(waiting);
      const seconds = (performance.now() - t0) / 1000;
      got.forEach((a, t) => {
        if (a.xor !== shares[t].xor) {
          throw new Error(`worker ${t} read ${a.xor}, expected ${shares[t].xor}: not every byte`);
        }
      });
      return seconds;
    };
    const ready = workers.map(answer);
    workers.forEach((w) => w.postMessage({ module, memory }));
    await Promise.all(ready);
    await pass();
    const samples: number[] = [];
    for (let r = 0; r < reps; r++) {
      let fastest = Infinity;
      for (let k = 0; k < PASSES_PER_REPETITION; k++) fastest = Math.min(fastest, await pass());
      samples.push(bytes / fastest / 1e9);
    }
    return {
      method: `WebAssembly SIMD reads of ${bytes / 2 ** 20} MiB by ${threads} worker(s), ` +
        "reads only (a decode step's traffic)",
      bytesPerOp: bytes,
      gbPerS: summarize(samples),
    };
  } finally {
    for (const w of workers) w.terminate();
  }
}
