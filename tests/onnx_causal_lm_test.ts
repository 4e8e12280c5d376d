import {
  assert,
  assertEquals,
  assertGreater,
  assertLessOrEqual,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { cacheSlots, KvCache } from "../lib/onnx/kv_cache.ts";
import { webGpuAdapter } from "../lib/onnx/backend.ts";

const MODEL = "data/models/brown-gpt2";
const PROMPT = "What is Apple?";
const hasGpu = (await webGpuAdapter()) !== undefined;
// WebGPU and WASM accumulate float32 sums in different orders; logits of a small model agree
// to ~1e-5 relative. 1e-3 absolute is far below the gap between distinct tokens' logits.
const LOGIT_TOLERANCE = 1e-3;
const opts = { sanitizeResources: false, sanitizeOps: false };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertEquals(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

Deno.test("tokenizer round-trips text, including punctuation and non-ASCII", opts, async () => {
  const model = await OnnxCausalLM.load(MODEL, { backend: "wasm" });
  try {
    for (const text of [PROMPT, 'The jury said, "it\'s 1961" — naïve café!', " two  spaces"]) {
      const ids = model.tokenizer.encode(text);
      assertGreater(ids.length, 0);
      assert(ids.every((id) => Number.isInteger(id) && id >= 0 && id < model.vocabSize));
      assertEquals(model.tokenizer.decode(ids), text);
      // single tokens may hold part of a multi-byte character; ASCII text rebuilds exactly
      if ([...text].every((c) => c.charCodeAt(0) < 128)) {
        assertEquals(ids.map((id) => model.tokenText(id)).join(""), text);
      }
    }
  } finally {
    await model.dispose();
  }
});

for (const backend of ["wasm", ...(hasGpu ? ["webgpu" as const] : [])] as const) {
  Deno.test(
    `${backend}: the whole prompt at once and token by token with the past agree`,
    opts,
    async () => {
      const model = await OnnxCausalLM.load(MODEL, { backend });
      try {
        assertEquals(model.backend, backend);
        const ids = model.tokenizer.encode(PROMPT);
        const whole = await model.start(ids, 1);
        let state = await model.start(ids.slice(0, 1), 1);
        for (const id of ids.slice(1)) state = await state.step([0], [id]);
        assertEquals(state.cache.pastLength, ids.length);
        assertLessOrEqual(maxAbsDiff(whole.logits![0], state.logits![0]), LOGIT_TOLERANCE);
        // log-probabilities are a normalised distribution
        const mass = whole.logProbs[0].reduce((s, x) => s + Math.exp(x), 0);
        assertLessOrEqual(Math.abs(mass - 1), 1e-4);
        whole.dispose();
        state.dispose();
      } finally {
        await model.dispose();
      }
    },
  );

  Deno.test(`${backend}: reordering beams gathers cache rows by parent`, opts, async () => {
    const model = await OnnxCausalLM.load(MODEL, { backend });
    try {
      const ids = model.tokenizer.encode(PROMPT);
      // three rows that diverge, then a reorder [2, 0, 2] checked against the rows' contents
      const s0 = await model.start(ids, 3);
      const s1 = await s0.step([0, 1, 2], ids.slice(0, 3));
      const before = await s1.cache.download();
      const reordered = await s1.cache.reorder([2, 0, 2]);
      const after = await reordered.download();
      const rowLength = before["past_key_values.0.key"].length / 3;
      for (const name of Object.keys(before)) {
        [2, 0, 2].forEach((parent, row) => {
          const want = before[name].subarray(parent * rowLength, (parent + 1) * rowLength);
          const got = after[name].subarray(row * rowLength, (row + 1) * rowLength);
          assertEquals(maxAbsDiff(got, want), 0, `${name} row ${row}`);
        });
      }
      assertEquals(reordered.rows, 3);
      reordered.dispose();
    } finally {
      await model.dispose();
    }
  });

  Deno.test(`${backend}: a batched beam step equals each row run alone`, opts, async () => {
    const model = await OnnxCausalLM.load(MODEL, { backend });
    try {
      const ids = model.tokenizer.encode(PROMPT);
      const extra = model.tokenizer.encode(" The jury");
      const batched = await (await model.start(ids, 2)).step([1, 0], [extra[0], extra[1]]);
      for (const [row, token] of [[0, extra[0]], [1, extra[1]]]) {
        const alone = await model.start([...ids, token], 1);
        assertLessOrEqual(maxAbsDiff(batched.logits![row], alone.logits![0]), LOGIT_TOLERANCE);
        alone.dispose();
      }
      batched.dispose();
    } finally {
      await model.dispose();
    }
  });
}

Deno.test({
  name: "WebGPU and WASM agree: logits within tolerance, greedy tokens equal",
  ignore: !hasGpu,
  ...opts,
  fn: async () => {
    const gpu = await OnnxCausalLM.load(MODEL, { backend: "webgpu" });
    const cpu = await OnnxCausalLM.load(MODEL, { backend: "wasm" });
    try {
      const ids = gpu.tokenizer.encode(PROMPT);
      let g = await gpu.start(ids, 1);
      let c = await cpu.start(ids, 1);
      const tokens: number[][] = [[], []];
      for (let i = 0; i < 6; i++) {
        assertLessOrEqual(maxAbsDiff(g.logits![0], c.logits![0]), LOGIT_TOLERANCE, `step ${i}`);
        tokens[0].push(argmax(g.logits![0]));
        tokens[1].push(argmax(c.logits![0]));
        g = await g.step([0], [tokens[0][i]]);
        c = await c.step([0], [tokens[1][i]]);
      }
      assertEquals(tokens[0], tokens[1]);
      g.dispose();
      c.dispose();
    } finally {
      await gpu.dispose();
      await cpu.dispose();
    }
  },
});

Deno.test({
  name: "WebGPU keeps the KV cache on the GPU: per step only the logits are read back",
  ignore: !hasGpu,
  ...opts,
  fn: async () => {
    const model = await OnnxCausalLM.load(MODEL, { backend: "webgpu" });
    const mapped: number[] = [];
    const mapAsync = GPUBuffer.prototype.mapAsync;
    GPUBuffer.prototype.mapAsync = function (mode, offset, size) {
      mapped.push(size ?? this.size - (offset ?? 0));
      return mapAsync.call(this, mode, offset, size);
    };
    try {
      const ids = model.tokenizer.encode(PROMPT);
      let state = await model.start(ids, 3);
      assertEquals(state.cache.location, "gpu-buffer");
      mapped.length = 0;
      for (const parents of [[0, 1, 2], [2, 2, 0], [1, 0, 1]]) {
        state = await state.step(parents, ids.slice(0, 3));
        const logitsBytes = 3 * model.vocabSize * 4;
        assertEquals(model.runs.at(-1)!.logitsBytes, logitsBytes);
        assertEquals(mapped, [logitsBytes], "one read-back per step, of the logits only");
        assertEquals(state.cache.location, "gpu-buffer");
        mapped.length = 0;
      }
      state.dispose();
    } finally {
      GPUBuffer.prototype.mapAsync = mapAsync;
      await model.dispose();
    }
  },
});

Deno.test("an empty cache has past length 0 and rejects parents outside its rows", async () => {
  const cache = KvCache.empty(
    [{ key: "past_key_values.0.key", value: "past_key_values.0.value" }],
    { kvHeads: 2, headDim: 4, dataType: "float32" },
    2,
  );
  assertEquals([cache.rows, cache.pastLength], [2, 0]);
  assertEquals(cache.feeds()["past_key_values.0.key"].dims, [2, 2, 0, 4]);
  const error = await assertRejects(() => cache.reorder([0, 2]), RangeError);
  assertStringIncludes(error.message, "parent row 2");
  cache.dispose();
});

Deno.test("a same-rows reorder of CPU tensors permutes them in place, matching a fresh gather", async () => {
  const ort = await import("onnxruntime-web");
  const names = [{ key: "past_key_values.0.key", value: "past_key_values.0.value" }];
  const [heads, length, headDim] = [2, 3, 4];
  const row = heads * length * headDim;
  // Every parents vector over 3 rows and over 4 rows, in float32 and float16.
  const vectors = (rows: number): number[][] =>
    Array.from(
      { length: rows ** rows },
      (_, n) => Array.from({ length: rows }, (_, i) => Math.floor(n / rows ** i) % rows),
    );
  for (const dataType of ["float32", "float16"] as const) {
    for (const rows of [3, 4]) {
      for (const parents of vectors(rows)) {
        const original = new Uint16Array(rows * row).map((_, i) => i + 1);
        const make = (seed: number) => {
          const bits = original.map((x) => x + seed);
          return dataType === "float32"
            ? new ort.Tensor("float32", Float32Array.from(bits), [rows, heads, length, headDim])
            : new ort.Tensor("float16", bits, [rows, heads, length, headDim]);
        };
        const outputs = { "present.0.key": make(0), "present.0.value": make(7) };
        const buffers = Object.values(outputs).map((t) => (t.data as ArrayBufferView).buffer);
        const cache = KvCache.fromOutputs(
          names,
          { kvHeads: heads, headDim, dataType },
          outputs,
          (n) => n.replace("past_key_values", "present"),
          ort as never,
        );
        const next = await cache.reorder(parents);
        const got = await next.download();
        for (
          const [name, seed] of [["past_key_values.0.key", 0], [
            "past_key_values.0.value",
            7,
          ]] as const
        ) {
          // Brute force: a new array, row i copied from row parents[i] of the original.
          const want = parents.flatMap((p) =>
            Array.from(original.subarray(p * row, (p + 1) * row), (x) => x + seed)
          );
          assertEquals(Array.from(got[name], Number), want, `${dataType} ${parents} ${name}`);
        }
        const after = Object.values(next.feeds()).map((t) => (t.data as ArrayBufferView).buffer);
        assertEquals(after, buffers, "no new cache buffers");
        next.dispose();
      }
    }
  }
});

Deno.test("cacheSlots places every beam step with the fewest row copies any placement has", () => {
  const permutations = (n: number): number[][] =>
    n === 0
      ? [[]]
      : permutations(n - 1).flatMap((p) =>
        Array.from({ length: n }, (_, at) => [...p.slice(0, at), n - 1, ...p.slice(at)])
      );
  for (const rows of [1, 2, 3, 4, 5]) {
    for (let n = 0; n < rows ** rows; n++) {
      const sources = Array.from({ length: rows }, (_, i) => Math.floor(n / rows ** i) % rows);
      const { slots, parents } = cacheSlots(sources);
      assertEquals([...slots].sort(), [...Array(rows).keys()], `${sources}: slots permute rows`);
      // Reordering by `parents` puts next row i's source into cache row slots[i].
      sources.forEach((s, i) => assertEquals(parents[slots[i]], s, `${sources} row ${i}`));
      // Brute force over every placement: none copies fewer rows.
      const copies = (ps: number[]) => ps.filter((p, r) => p !== r).length;
      const fewest = Math.min(
        ...permutations(rows).map((place) => {
          const ps = new Array<number>(rows);
          sources.forEach((s, i) => ps[place[i]] = s);
          return copies(ps);
        }),
      );
      assertEquals(copies(parents), fewest, `${sources}`);
    }
  }
  const error = assertThrows(() => cacheSlots([0, 2]), RangeError);
  assertStringIncludes(error.message, "source row 2 is outside the rows 0..1");
});

Deno.test("each step's outputs go into the buffers of the step before, grown when too small", async () => {
  const ort = await import("onnxruntime-node");
  const names = [{ key: "past_key_values.0.key", value: "past_key_values.0.value" }];
  const shape = { kvHeads: 2, headDim: 4, dataType: "float32" } as const;
  const present = (n: string) => n.replace("past_key_values", "present");
  const bufferOf = (t: { data: unknown }) => (t.data as ArrayBufferView).buffer;
  // A run's stand-in: writes each given output with its step number, as onnxruntime-node does.
  const step = (cache: KvCache, rows: number, length: number, mark: number) => {
    const given = cache.outputBuffers(rows, length, present);
    for (const t of Object.values(given)) (t.data as Float32Array).fill(mark);
    return { given, next: KvCache.fromOutputs(names, shape, given, present, ort as never, cache) };
  };
  let cache = KvCache.empty(names, shape, 2, ort as never);
  const seen: ArrayBufferLike[][] = [];
  for (let length = 1; length <= 40; length++) {
    const own = Object.values(cache.feeds()).map(bufferOf);
    const { given, next } = step(cache, 2, length, length);
    const used = Object.values(given).map(bufferOf);
    // Never the buffers the run reads; the key and the value never share one.
    assert(used.every((b) => !own.includes(b)), `step ${length} reads what it writes`);
    assert(used[0] !== used[1]);
    assertEquals(given["present.0.key"].dims, [2, 2, length, 4]);
    assertEquals(
      Array.from(next.feeds()["past_key_values.0.key"].data as Float32Array),
      new Array(2 * 2 * length * 4).fill(length),
    );
    seen.push(used);
    cache = next;
  }
  // Two sets of buffers alternate, replaced only when the length passes 16 and 32: 2 tensors ×
  // 2 sets × capacities 16, 32 and 64.
  const distinct = new Set(seen.flat());
  assertEquals(distinct.size, 2 * 2 * 3);
  assert(seen.slice(2, 16).every((b, i) => b[0] === seen[i % 2][0]));
  cache.dispose();
});

Deno.test("a corrupt ONNX file fails naming the file", opts, async () => {
  const folder = await Deno.makeTempDir();
  try {
    for (
      const f of [
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
      ]
    ) {
      await Deno.copyFile(`${MODEL}/${f}`, `${folder}/${f}`);
    }
    await Deno.mkdir(`${folder}/onnx`);
    await Deno.writeFile(`${folder}/onnx/model.onnx`, new TextEncoder().encode("not a protobuf"));
    const error = await assertRejects(() => OnnxCausalLM.load(folder, { backend: "wasm" }), Error);
    assertStringIncludes(error.message, `${folder}/onnx/model.onnx`);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
