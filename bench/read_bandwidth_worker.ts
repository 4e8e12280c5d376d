/**
 * One reader of `read_bandwidth.ts`: the first message brings the compiled module and the
 * shared memory (answered once instantiated), each later one a `[start, end)` range to read,
 * answered with the range's XOR.
 * @module
 */
/// <reference lib="deno.worker" />

let read: ((start: number, end: number) => number) | undefined;

self.onmessage = (e: MessageEvent) => {
  const m = e.data;
  if (m.module) {
    const instance = new WebAssembly.Instance(m.module, { env: { memory: m.memory } });
    read = instance.exports.read as (start: number, end: number) => number;
    self.postMessage({ xor: 0 });
    return;
  }
  self.postMessage({ xor: read!(m.start, m.end) });
};
