// The reads-only bandwidth probe: its hand-encoded WebAssembly reads every 16 bytes (checked by
// XOR against JavaScript), and its workers each check their share.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { measureReadBandwidth, readModule } from "../bench/read_bandwidth.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test("the read probe loads every 16 bytes: its XOR against one computed in JS", () => {
  const memory = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  const words = new Int32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = (i * 7919) ^ (i << 11);
  const { exports } = new WebAssembly.Instance(readModule(2), { env: { memory } });
  const read = exports.read as (start: number, end: number) => number;
  // Lane 0 of the XOR of every 16-byte load: the int32 at each 16-byte boundary.
  const expected = (start: number, end: number) => {
    let x = 0;
    for (let i = start / 4; i < end / 4; i += 4) x ^= words[i];
    return x;
  };
  for (const [start, end] of [[0, 64], [64, 4096], [128, 131072], [0, 131072]]) {
    assertEquals(read(start, end), expected(start, end), `[${start}, ${end})`);
  }
  // A probe that skipped a load (offset 48 of each line, say) would give another value.
  let skipping = 0;
  for (let i = 0; i < words.length; i += 4) if (i % 16 !== 12) skipping ^= words[i];
  assert(read(0, 131072) !== skipping);
});

Deno.test("measureReadBandwidth: every worker's share checked, bad sizes named", opts, async () => {
  const m = await measureReadBandwidth({ bytes: 3 << 20, threads: 3, reps: 2 });
  assertEquals([m.bytesPerOp, m.gbPerS.n], [3 << 20, 2]);
  assert(m.gbPerS.min > 0);
  await assertRejects(
    () => measureReadBandwidth({ bytes: 1 << 20, threads: 0, reps: 1 }),
    RangeError,
    "threads must be a positive integer, got 0",
  );
});
