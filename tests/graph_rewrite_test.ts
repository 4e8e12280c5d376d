import { assert, assertAlmostEquals, assertEquals } from "@std/assert";
import * as ort from "onnxruntime-web";
import * as ortNode from "onnxruntime-node";
import { type LoadOptions, OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import {
  type DecoderRewrites,
  describeRewrites,
  rewriteDecoder,
} from "../lib/onnx/graph_rewrite.ts";
import { ProtoReader, ProtoWriter } from "../lib/onnx/protobuf.ts";
import { Pcg32 } from "../lib/decoding/rng.ts";
import { generate } from "../lib/decoding/generate.ts";
import type { DtypeRequest } from "../lib/onnx/model_files.ts";
import { configureRuntime, webGpuAdapter } from "../lib/onnx/backend.ts";

const HUB = "tests/fixtures/hub/models";
const ALL: DecoderRewrites = {
  fusedAttention: true,
  beamIdx: true,
  lastPositionLogits: true,
  topK: true,
  skipLayerNorm: true,
  screenedArgmax: true,
  gemmHead: true,
};
/** What every rewrite gives a tied head: the screen takes the head, so Gemm does not. */
const TIED = { ...ALL, gemmHead: false };
const NONE: DecoderRewrites = {
  fusedAttention: false,
  beamIdx: false,
  lastPositionLogits: false,
  topK: false,
  skipLayerNorm: false,
  screenedArgmax: false,
  gemmHead: false,
};
/** Without the last-position slice the screen is not applied: it needs one position per row. */
const NO_LAST: DecoderRewrites = {
  ...ALL,
  lastPositionLogits: false,
  screenedArgmax: false,
  gemmHead: false,
};
/**
 * Attention not in the exported GPT-2 form (llama: rotary embeddings), or not float32; norms
 * not float32 either (or RMS norms).
 */
const UNFUSED_NO_LAST: DecoderRewrites = {
  ...NO_LAST,
  fusedAttention: false,
  skipLayerNorm: false,
};

/** Which rewrites each graph takes, and why the others are unsafe there. */
const GRAPHS: {
  folder: string;
  dtype: DtypeRequest;
  applied: DecoderRewrites;
  backend?: "cpu";
  /** Load with the backend's default rewrites instead of every one. */
  defaults?: true;
}[] = [
  { folder: "data/models/brown-gpt2", dtype: "fp32", applied: TIED },
  { folder: "data/models/brown-gpt2", dtype: "fp32", applied: TIED, backend: "cpu" },
  // onnxruntime-node's defaults: the cache reordered in place in JavaScript, each step's
  // outputs written into the buffers of the step before.
  {
    folder: "data/models/brown-gpt2",
    dtype: "fp32",
    applied: { ...ALL, beamIdx: false, screenedArgmax: false, gemmHead: false },
    backend: "cpu",
    defaults: true,
  },
  // WASM's defaults: the head as Gemm on the embedding table instead of the screen.
  {
    folder: "data/models/brown-gpt2",
    dtype: "fp32",
    applied: { ...ALL, beamIdx: false, screenedArgmax: false },
    defaults: true,
  },
  { folder: `${HUB}/opt`, dtype: "fp32", applied: TIED },
  // The head's weight is a Cast of an fp16 initializer: not recognised as constant, left alone;
  // MultiHeadAttention's CPU kernel is float32 only.
  { folder: `${HUB}/opt`, dtype: "fp16", applied: UNFUSED_NO_LAST },
  // Dynamic quantization's scale spans every position: slicing would change it. Its sublayers
  // end in quantized products, not MatMuls, so no norm's sum is known to have the full shape.
  { folder: `${HUB}/opt`, dtype: "q8", applied: { ...NO_LAST, skipLayerNorm: false } },
  // onnx-community style: the graph has num_logits_to_keep already.
  { folder: `${HUB}/llama`, dtype: "fp32", applied: UNFUSED_NO_LAST },
  { folder: `${HUB}/llama`, dtype: "fp16", applied: UNFUSED_NO_LAST },
  { folder: `${HUB}/llama`, dtype: "q8", applied: UNFUSED_NO_LAST },
];

const PROMPT = "The jury said it did find that the city";

/** Runs `f` on the graph as published and with `rewrite`, on one backend, then releases both. */
async function withPair(
  options: LoadOptions,
  f: (published: OnnxCausalLM, rewritten: OnnxCausalLM) => Promise<void>,
  folder = "data/models/brown-gpt2",
): Promise<void> {
  const published = await OnnxCausalLM.load(folder, { ...options, rewrite: false });
  const rewritten = await OnnxCausalLM.load(folder, options);
  try {
    await f(published, rewritten);
  } finally {
    await published.dispose();
    await rewritten.dispose();
  }
}

for (const { folder, dtype, applied, backend = "wasm", defaults } of GRAPHS) {
  const which = defaults ? "default rewrites" : "every rewrite";
  Deno.test(`${folder} ${dtype} ${backend}, ${which}: the rewritten graph generates the published graph's tokens`, async () => {
    // Every rewrite includes beam_idx, which both CPU runtimes leave off by default.
    const options: LoadOptions = { backend, dtype, rewrite: defaults ?? ALL };
    await withPair(options, async (published, rewritten) => {
      assertEquals(rewritten.rewrites, applied);
      const ids = rewritten.tokenizer.encode(PROMPT);
      for (const numBeams of [1, 4]) {
        const options = { maxNewTokens: 20, numBeams, numReturnSequences: numBeams };
        const want = await generate(published, ids, options);
        const got = await generate(rewritten, ids, options);
        assertEquals(
          got.sequences.map((s) => s.tokens),
          want.sequences.map((s) => s.tokens),
          `${numBeams} beam(s)`,
        );
        got.sequences.forEach((s, i) =>
          assertAlmostEquals(s.sumScores, want.sequences[i].sumScores, 1e-3)
        );
        // The rewritten graph's runs read k values per row, the published one whole rows.
        const decode = rewritten.runs.filter((r) => r.phase === "decode");
        const k = numBeams === 1 ? 1 : Math.max(2, 1 + rewritten.eosTokenIds.length) * numBeams;
        assert(decode.every((r) => r.logitsBytes === r.rows * k * (4 + 8)));
      }
      // Tokens only: the screened head's argmax, one id per row and no log-probability.
      const bare = await generate(rewritten, ids, { maxNewTokens: 20, sequenceScores: false });
      const want = await generate(published, ids, { maxNewTokens: 20 });
      assertEquals(bare.sequences[0].tokens, want.sequences[0].tokens, "without scores");
      const bytes = applied.screenedArgmax ? 8 : applied.topK ? 12 : undefined;
      const steps = rewritten.runs.filter((r) => r.phase === "decode");
      if (bytes) assert(steps.every((r) => r.logitsBytes === r.rows * bytes));
    }, folder);
  });
}

Deno.test("top-k rows equal an argsort and log_softmax of the published graph's logits", () =>
  withPair({ backend: "wasm" }, async (published, rewritten) => {
    const ids = rewritten.tokenizer.encode(PROMPT);
    const full = await published.start(ids, 1);
    const top = await rewritten.start(ids, 1, { topK: 6 });
    const logits = Array.from(full.logits![0]);
    // Independent: a float64 log-sum-exp and a full sort, ties to the lower id.
    const max = Math.max(...logits);
    const logZ = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    const order = logits.map((_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
    assertEquals([...top.top![0].tokens], order.slice(0, 6));
    top.top![0].logProbs.forEach((lp, j) => assertAlmostEquals(lp, logits[order[j]] - logZ, 1e-4));
    full.dispose();
    top.dispose();
  }));

Deno.test("beam_idx gathers the cache in the graph as KvCache.reorder does outside it", () =>
  withPair({ backend: "wasm", rewrite: ALL }, async (published, rewritten) => {
    assert(rewritten.rewrites.beamIdx);
    const ids = rewritten.tokenizer.encode(PROMPT);
    const walk = async (model: OnnxCausalLM) => {
      let s = await model.start(ids, 3);
      s = await s.step([0, 0, 0], [11, 22, 33]);
      s = await s.step([2, 0, 2, 1], [44, 55, 66, 77]);
      const logits = s.logits!.map((row) => Array.from(row));
      s.dispose();
      return logits;
    };
    const want = await walk(published), got = await walk(rewritten);
    assertEquals(got.length, 4);
    got.forEach((row, r) =>
      row.forEach((x, t) => assertAlmostEquals(x, want[r][t], 1e-4, `row ${r} token ${t}`))
    );
    // Rows continuing different parents differ, so the gather is not a no-op.
    assert(got[0].some((x, t) => Math.abs(x - got[3][t]) > 1e-2));
  }));

Deno.test("each backend's default rewrites", async () => {
  for (
    const [backend, applied] of [
      // The embedded model's head (3 MB) is too small for the screen to pay by default.
      ["cpu", { ...ALL, beamIdx: false, screenedArgmax: false, gemmHead: false }],
      // WASM's head as Gemm on the embedding table (WebGPU's only for vocabularies not a
      // multiple of 4; the embedded model's is 4096).
      ["wasm", { ...ALL, beamIdx: false, screenedArgmax: false }],
    ] as const
  ) {
    const model = await OnnxCausalLM.load("data/models/brown-gpt2", { backend });
    assertEquals(model.rewrites, applied, backend);
    await model.dispose();
  }
});

Deno.test("rewriting is idempotent, skips what is off, and leaves merged decoders' cache alone", async () => {
  const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
  assert(rewriteDecoder(bytes, NONE).bytes === bytes);
  const once = rewriteDecoder(bytes);
  const twice = rewriteDecoder(once.bytes);
  assertEquals(twice.applied, NONE);
  assert(twice.bytes === once.bytes);
  const merged = await Deno.readFile(`${HUB}/opt/onnx/decoder_model_merged.onnx`);
  const r = rewriteDecoder(merged);
  assertEquals(r.applied, { ...NONE, topK: true });
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(r.bytes);
  assert(session.outputNames.includes("top_tokens") && session.inputNames.includes("top_k"));
  await session.release();
});

// Fused attention keeps the graph's own mask; skip layer norms keep the residual stream.
for (
  const wanted of [
    { ...NONE, fusedAttention: true },
    { ...NONE, skipLayerNorm: true },
    { ...NONE, fusedAttention: true, skipLayerNorm: true },
  ]
) {
  const names = describeRewrites(wanted).replace("graph rewrites: ", "");
  Deno.test(`${names}: padded rows give the published logits`, async () => {
    const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
    const fused = rewriteDecoder(bytes, wanted);
    assertEquals(fused.applied, wanted);
    ort.env.wasm.numThreads = 1;
    const published = await ort.InferenceSession.create(bytes);
    const rewritten = await ort.InferenceSession.create(fused.bytes);
    await comparePadded(published, rewritten);
    await published.release();
    await rewritten.release();
  });
}

/** A left-padded two-row prefill and one cached step: `rewritten` gives `published`'s logits. */
async function comparePadded(
  published: ort.InferenceSession,
  rewritten: ort.InferenceSession,
): Promise<void> {
  const layers = published.inputNames.filter((n) => n.endsWith(".key")).length;
  const int64 = (xs: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(xs, BigInt), dims);
  // Two rows of six positions; the second is left-padded by two, then one cached step each.
  const ids = [[464, 318, 257, 1110, 286, 262], [0, 0, 464, 318, 257, 1110]];
  const mask = [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]];
  const run = async (session: ort.InferenceSession, padding: boolean) => {
    const m = padding ? mask : mask.map((row) => row.map(() => 1));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(ids.flat(), [2, 6]),
      attention_mask: int64(m.flat(), [2, 6]),
      position_ids: int64(m.flatMap((row) => row.map((_, i) => i)), [2, 6]),
    };
    for (let i = 0; i < layers; i++) {
      for (const kv of ["key", "value"]) {
        feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [
          2,
          4,
          0,
          48,
        ]);
      }
    }
    const first = await session.run(feeds);
    const step: Record<string, ort.Tensor> = {
      input_ids: int64([286, 262], [2, 1]),
      attention_mask: int64([...m[0], 1, ...m[1], 1], [2, 7]),
      position_ids: int64([6, 6], [2, 1]),
    };
    for (let i = 0; i < layers; i++) {
      for (const kv of ["key", "value"]) {
        step[`past_key_values.${i}.${kv}`] = first[`present.${i}.${kv}`];
      }
    }
    const second = await session.run(step);
    return [...first.logits.data as Float32Array, ...second.logits.data as Float32Array];
  };
  const want = await run(published, true), got = await run(rewritten, true);
  assertEquals(got.length, want.length);
  got.forEach((x, i) => assertAlmostEquals(x, want[i], 1e-4, `logit ${i}`));
  // The padding changes the second row, so a fused node ignoring the mask would fail above.
  const unpadded = await run(published, false);
  assert(want.some((x, i) => Math.abs(x - unpadded[i]) > 1e-2));
}

/** Every node of a model's main graph (op type, inputs), read with the wire-format reader alone. */
function graphNodes(model: Uint8Array): { op: string; inputs: string[] }[] {
  const nodes: { op: string; inputs: string[] }[] = [];
  const m = new ProtoReader(model);
  m.fields((field, wire) => {
    if (field !== 7 || wire !== 2) return false;
    const graph = m.sub();
    graph.fields((f, w) => {
      if (f !== 1 || w !== 2) return false;
      const node = graph.sub();
      const found = { op: "", inputs: [] as string[] };
      node.fields((nf, nw) => {
        if (nf === 1 && nw === 2) found.inputs.push(node.string());
        else if (nf === 4 && nw === 2) found.op = node.string();
        else return false;
        return true;
      });
      nodes.push(found);
      return true;
    });
    return true;
  });
  return nodes;
}

/** The op type of every node of a model's main graph. */
function opTypes(model: Uint8Array): string[] {
  return graphNodes(model).map((n) => n.op);
}

Deno.test("skip layer norm: every norm over a residual sum is one node that adds the sublayer's bias", async () => {
  const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
  const { bytes: rewritten } = rewriteDecoder(bytes, {
    ...NONE,
    fusedAttention: true,
    skipLayerNorm: true,
  });
  const before = graphNodes(bytes), after = graphNodes(rewritten);
  const of = (nodes: typeof before, op: string) => nodes.filter((n) => n.op === op);
  // GPT-2: two norms per layer and the final one, each over a residual sum; the embeddings'
  // norm (its sum may broadcast) stays. Each decomposed norm has two ReduceMeans.
  assertEquals(of(before, "ReduceMean").length, 2 * (2 * 4 + 1));
  assertEquals(of(after, "ReduceMean").length, 2);
  const skips = of(after, "SkipLayerNormalization");
  assertEquals(skips.length, 2 * 4);
  // Each reads its sublayer's MatMul output and that MatMul's bias (`c_proj`'s, attention's
  // and the MLP's); attention reads `c_attn`'s bias itself.
  assert(skips.every((n) => n.inputs.length === 5 && /c_proj\.bias$/.test(n.inputs[4])));
  const attention = of(after, "MultiHeadAttention");
  assertEquals(
    attention.map((n) => n.inputs[3]),
    [0, 1, 2, 3].map((i) => `model.h.${i}.attn.c_attn.bias`),
  );
  assert(
    !after.some((n) => n.op === "Add" && n.inputs.some((i) => /c_(attn|proj)\.bias$/.test(i))),
  );
});

Deno.test("skip layer norm: both of torch.onnx's norm forms, with shared Identity initializers, give the published logits", async () => {
  // tools/train-model/norm_fixtures.py: embedding, two residual MLP blocks, final norm; the
  // second block's norm and the final one read residual sums, the first the embedding.
  ort.env.wasm.numThreads = 1;
  for (const opset of [14, 17]) {
    const bytes = await Deno.readFile(`tests/fixtures/norms/opset${opset}.onnx`);
    const before = opTypes(bytes);
    assert(before.includes("Identity"), "the fixture shares its norms' initializers");
    assertEquals(before.includes("LayerNormalization"), opset === 17);
    const fused = rewriteDecoder(bytes, { ...NONE, skipLayerNorm: true });
    assertEquals(fused.applied, { ...NONE, skipLayerNorm: true }, `opset ${opset}`);
    const after = graphNodes(fused.bytes);
    const skips = after.filter((n) => n.op === "SkipLayerNormalization");
    assertEquals(skips.length, 2, `opset ${opset}`);
    // Each folds its block's c_proj bias (5 inputs).
    assert(skips.every((n) => n.inputs.length === 5), `opset ${opset}`);
    const logits = async (model: Uint8Array) => {
      const session = await ort.InferenceSession.create(model);
      const ids = [[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]];
      const input = new ort.Tensor("int64", BigInt64Array.from(ids.flat(), BigInt), [2, 5]);
      const out = await session.run({ input_ids: input });
      await session.release();
      return out.logits.data as Float32Array;
    };
    const want = await logits(bytes), got = await logits(fused.bytes);
    assertEquals(got.length, want.length);
    got.forEach((x, i) => assertAlmostEquals(x, want[i], 1e-5, `opset ${opset} logit ${i}`));
  }
});

Deno.test("fused attention: one MultiHeadAttention per layer, no Softmax left, about half the nodes", async () => {
  const bytes = await Deno.readFile("data/models/brown-gpt2/onnx/model.onnx");
  const fused = rewriteDecoder(bytes, { ...NONE, fusedAttention: true });
  const before = opTypes(bytes), after = opTypes(fused.bytes);
  const count = (ops: string[], op: string) => ops.filter((o) => o === op).length;
  assertEquals(count(before, "Softmax"), 4);
  assertEquals(count(after, "MultiHeadAttention"), 4);
  assertEquals(count(after, "Softmax"), 0);
  assert(after.length < 0.6 * before.length, `${before.length} → ${after.length} nodes`);
});

Deno.test("fused attention leaves multi-query attention alone and fuses the same export with equal heads", async () => {
  // tools/train-model/attention_fixtures.py: one layer, 4 query heads; 4 or 1 key/value heads.
  const load = (name: string) => Deno.readFile(`tests/fixtures/attention/${name}.onnx`);
  const [mha, mqa] = [await load("mha"), await load("mqa")];
  const fusedMha = rewriteDecoder(mha, { ...NONE, fusedAttention: true });
  const fusedMqa = rewriteDecoder(mqa, { ...NONE, fusedAttention: true });
  assertEquals(fusedMha.applied.fusedAttention, true);
  // MultiHeadAttention has one head count: fusing would not even load.
  assertEquals(fusedMqa.applied, NONE);
  assert(fusedMqa.bytes === mqa);
  ort.env.wasm.numThreads = 1;
  const int64 = (xs: number[], dims: number[]) =>
    new ort.Tensor("int64", BigInt64Array.from(xs, BigInt), dims);
  const logits = async (bytes: Uint8Array) => {
    const session = await ort.InferenceSession.create(bytes);
    const empty = () => new ort.Tensor("float32", new Float32Array(0), [1, 4, 0, 8]);
    const first = await session.run({
      input_ids: int64([5, 9, 2], [1, 3]),
      attention_mask: int64([1, 1, 1], [1, 3]),
      "past_key_values.0.key": empty(),
      "past_key_values.0.value": empty(),
    });
    const second = await session.run({
      input_ids: int64([7], [1, 1]),
      attention_mask: int64([1, 1, 1, 1], [1, 4]),
      "past_key_values.0.key": first["present.0.key"],
      "past_key_values.0.value": first["present.0.value"],
    });
    await session.release();
    return [...first.logits.data as Float32Array, ...second.logits.data as Float32Array];
  };
  const want = await logits(mha), got = await logits(fusedMha.bytes);
  assertEquals(got.length, want.length);
  got.forEach((x, i) => assertAlmostEquals(x, want[i], 1e-4, `logit ${i}`));
});

/**
 * A tied LM head alone, `logits = table[input_ids] · tableᵀ`, encoded here: the screen's
 * graph sees exactly the hidden rows the test chose.
 */
function tiedHeadGraph(table: Float32Array, vocab: number, hidden: number): Uint8Array {
  const FLOAT = 1, INT64 = 7;
  const weight = new Float32Array(hidden * vocab);
  for (let v = 0; v < vocab; v++) {
    for (let d = 0; d < hidden; d++) weight[d * vocab + v] = table[v * hidden + d];
  }
  const tensor = (name: string, dims: number[], data: Float32Array) => (t: ProtoWriter) => {
    for (const d of dims) t.int(1, d);
    t.int(2, FLOAT).string(8, name).bytes(9, new Uint8Array(data.buffer));
  };
  const value = (name: string, type: number, dims: (string | number)[]) => (v: ProtoWriter) =>
    v.string(1, name).message(2, (t) =>
      t.message(1, (x) =>
        x.int(1, type).message(2, (s) => {
          for (const d of dims) {
            s.message(1, (m) => typeof d === "number" ? m.int(1, d) : m.string(2, d));
          }
        })));
  const node = (op: string, inputs: string[], output: string) => (n: ProtoWriter) => {
    for (const i of inputs) n.string(1, i);
    n.string(2, output).string(3, output).string(4, op);
  };
  const graph = new ProtoWriter()
    .message(1, node("Gather", ["table", "input_ids"], "hidden"))
    .message(1, node("MatMul", ["hidden", "weight"], "logits"))
    .string(2, "tied_head")
    .message(5, tensor("table", [vocab, hidden], table))
    .message(5, tensor("weight", [hidden, vocab], weight))
    .message(11, value("input_ids", INT64, ["rows", "positions"]))
    .message(12, value("logits", FLOAT, ["rows", "positions", vocab]));
  return new ProtoWriter().int(1, 8).message(8, (o) => o.string(1, "").int(2, 17))
    .bytes(7, graph.finish()).finish();
}

Deno.test("int8-screened argmax: exact on near-ties the int8 product cannot tell apart", async () => {
  const vocab = 64, hidden = 16, queries = 12;
  const rng = new Pcg32(7);
  const table = Float32Array.from({ length: vocab * hidden }, () => 2 * rng.uniform() - 1);
  const row = (v: number) => table.subarray(v * hidden, (v + 1) * hidden);
  // Query q's best two tokens b and c differ in logit by ±1e-3, far below the int8 product's
  // error (about 1e-2 here) and far above float32 rounding.
  for (let q = 0; q < queries; q++) {
    const x = row(q), b = row(queries + 2 * q), c = row(queries + 2 * q + 1);
    const norm2 = x.reduce((s, a) => s + a * a, 0);
    const delta = (rng.uniform() < 0.5 ? -1 : 1) * 1e-3;
    for (let d = 0; d < hidden; d++) {
      b[d] = 2 * x[d] + 0.05 * (2 * rng.uniform() - 1);
      c[d] = b[d] + delta * x[d] / norm2;
    }
  }
  // Independent: float64 dot products of the float32 rows, first index on ties.
  const want = Array.from({ length: queries }, (_, q) => {
    let best = 0, bestLogit = -Infinity;
    for (let v = 0; v < vocab; v++) {
      const logit = row(q).reduce((s, a, d) => s + a * row(v)[d], 0);
      if (logit > bestLogit) [best, bestLogit] = [v, logit];
    }
    return best;
  });
  assert(want.every((t, q) => t === queries + 2 * q || t === queries + 2 * q + 1));
  const rewritten = rewriteDecoder(tiedHeadGraph(table, vocab, hidden), {
    ...NONE,
    lastPositionLogits: true,
    topK: true,
    screenedArgmax: true,
  });
  assertEquals(rewritten.applied, {
    ...NONE,
    lastPositionLogits: true,
    topK: true,
    screenedArgmax: true,
  });
  const session = await ortNode.InferenceSession.create(rewritten.bytes);
  try {
    for (const screen of [true, false]) {
      const out = await session.run({
        input_ids: new ortNode.Tensor(
          "int64",
          BigInt64Array.from({ length: queries }, (_, q) => BigInt(q)),
          [queries, 1],
        ),
        top_k: new ortNode.Tensor("int64", BigInt64Array.of(1n), [1]),
        screen_argmax: new ortNode.Tensor("bool", Uint8Array.of(screen ? 1 : 0), [1]),
      });
      assertEquals(
        Array.from(out.top_tokens.data as BigInt64Array, Number),
        want,
        `screen ${screen}`,
      );
      const candidates = Number((out.screened_candidates.data as BigInt64Array)[0]);
      // Each row rescored both of its near-tied tokens; without the screen no count.
      if (screen) {
        assert(candidates >= 2 * queries && candidates < queries * vocab / 4, `${candidates}`);
      } else assertEquals(candidates, -1);
    }
  } finally {
    await session.release();
  }
});

Deno.test("gemmHead: Gemm on the embedding table gives the head's logits, and its copy goes", async () => {
  // An odd vocabulary, as GPT-2's 50257 (WebGPU's MatMul reads four columns at a time only
  // when the vocabulary allows).
  const vocab = 61, hidden = 16, rows = 5;
  const rng = new Pcg32(11);
  const table = Float32Array.from({ length: vocab * hidden }, () => 2 * rng.uniform() - 1);
  const graph = tiedHeadGraph(table, vocab, hidden);
  const wanted = { ...NONE, lastPositionLogits: true, gemmHead: true };
  const rewritten = rewriteDecoder(graph, wanted);
  assertEquals(rewritten.applied, wanted);
  // The [hidden, vocab] weight is no longer in the file.
  assert(rewritten.bytes.length < graph.length - vocab * hidden * 4 + 1024);
  // Independent: float64 dot products of the table's rows.
  const want = Array.from({ length: rows }, (_, q) =>
    Array.from({ length: vocab }, (_, v) => {
      let sum = 0;
      for (let d = 0; d < hidden; d++) sum += table[q * hidden + d] * table[v * hidden + d];
      return sum;
    }));
  ort.env.wasm.numThreads = 1;
  type Runtime = Pick<typeof ort, "InferenceSession" | "Tensor">;
  const runtimes: [string, Runtime][] = [["wasm", ort], ["cpu", ortNode]];
  if (await webGpuAdapter()) runtimes.push(["webgpu", configureRuntime()]);
  for (const [name, runtime] of runtimes) {
    const session = await runtime.InferenceSession.create(rewritten.bytes, {
      executionProviders: [name],
    });
    try {
      const ids = BigInt64Array.from({ length: rows }, (_, q) => BigInt(q));
      const out = await session.run({ input_ids: new runtime.Tensor("int64", ids, [rows, 1]) });
      assertEquals(out.logits.dims, [rows, 1, vocab], name);
      const got = out.logits.data as Float32Array;
      want.forEach((row, q) =>
        row.forEach((x, v) => assertAlmostEquals(got[q * vocab + v], x, 1e-5, `${name} ${q} ${v}`))
      );
    } finally {
      await session.release();
    }
  }
});
