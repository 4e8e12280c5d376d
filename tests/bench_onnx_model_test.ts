// The benchmark's hand-encoded ONNX models, run on onnxruntime-web WASM and checked against a
// naive JavaScript matrix product; the cost model of the timed shapes against hand counts.
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import * as ort from "onnxruntime-web/webgpu";
import { addChainModel, matmulChainModel, seededUniform } from "../bench/onnx_model.ts";
import { layerMatmuls, matmulFlopsBytes, QUESTION1_LAYER } from "../bench/roofline.ts";
import { gpt2DecodeBytes } from "../bench/floor.ts";

ort.env.wasm.numThreads = 1;
const opts = { sanitizeResources: false, sanitizeOps: false };

/** c[b] = a[b] · w[b] for row-major [batch, m, k] · [batch, k, n], in float64. */
function naiveMatmul(
  a: Float64Array,
  w: Float32Array,
  batch: number,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(batch * m * n);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[(b * m + i) * k + p] * w[(b * k + p) * n + j];
        c[(b * m + i) * n + j] = sum;
      }
    }
  }
  return c;
}

async function runWasm(bytes: Uint8Array, input: Float32Array, dims: number[]) {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
  try {
    const out = await session.run({ x: new ort.Tensor("float32", input, dims) });
    return { data: out.y.data as Float32Array, dims: [...out.y.dims] };
  } finally {
    await session.release();
  }
}

Deno.test("a batched MatMul chain equals the naive product of its weights", opts, async () => {
  const [batch, m, k, n, depth] = [2, 3, 4, 5, 3];
  const model = matmulChainModel({ batch, m, k, n, depth, seed: 9 });
  assertEquals(model.weights.map((w) => w.dims), [[2, 4, 5], [2, 5, 4], [2, 4, 5]]);
  const x = seededUniform(batch * m * k, 1234, 1);
  const got = await runWasm(model.bytes, x, model.inputShape);
  assertEquals(got.dims, [batch, m, n]);
  let h: Float64Array = Float64Array.from(x);
  let cols = k;
  for (const w of model.weights) {
    const next = w.dims[2];
    h = naiveMatmul(h, w.data, batch, m, cols, next);
    cols = next;
  }
  assertEquals(got.data.length, h.length);
  for (let i = 0; i < h.length; i++) assertAlmostEquals(got.data[i], h[i], 1e-5);
  // The weights keep values of order one along the chain (no blow-up or vanishing).
  const rms = Math.sqrt(h.reduce((s, v) => s + v * v, 0) / h.length);
  assert(rms > 0.05 && rms < 5, `rms ${rms}`);
});

Deno.test("an Add chain adds its tensor depth times", opts, async () => {
  const model = addChainModel({ elements: 7, depth: 4, seed: 5 });
  const x = Float32Array.from([0, 1, 2, 3, 4, 5, 6]);
  const got = await runWasm(model.bytes, x, [7]);
  const b = model.weights[0].data;
  for (let i = 0; i < 7; i++) assertAlmostEquals(got.data[i], x[i] + 4 * b[i], 1e-5);
});

Deno.test("models are deterministic given the seed, and bad shapes are named", () => {
  const a = matmulChainModel({ batch: 1, m: 2, k: 2, n: 2, depth: 2, seed: 3 });
  const b = matmulChainModel({ batch: 1, m: 2, k: 2, n: 2, depth: 2, seed: 3 });
  const c = matmulChainModel({ batch: 1, m: 2, k: 2, n: 2, depth: 2, seed: 4 });
  assertEquals(a.bytes, b.bytes);
  assert(a.bytes.some((v, i) => v !== c.bytes[i]));
  assertThrows(
    () => matmulChainModel({ batch: 1, m: 0, k: 2, n: 2, depth: 1, seed: 1 }),
    RangeError,
    "m must be a positive integer, got 0",
  );
  assertThrows(
    () => addChainModel({ elements: 4, depth: 1.5, seed: 1 }),
    RangeError,
    "depth must be a positive integer, got 1.5",
  );
  assertThrows(() => seededUniform(4, 0.5, 1), RangeError, "seed must be an integer");
});

Deno.test("Question 1's MatMuls: FLOPs and fp32 bytes counted by hand", () => {
  const ops = layerMatmuls(QUESTION1_LAYER);
  const byLabel = (s: string) => ops.find((o) => o.label.startsWith(s))!.shape;
  // decode t·W^Q: 1×4096 · 4096×4096.
  const d = 4096;
  assertEquals(matmulFlopsBytes(byLabel("decode t·W")), {
    flops: 2 * d * d,
    bytes: 4 * (d + d * d + d),
  });
  // prefill Q_i·K_iᵀ for all 32 heads: 32 × (4096×128 · 128×4096).
  assertEquals(matmulFlopsBytes(byLabel("prefill Q_i")), {
    flops: 32 * 2 * 4096 * 128 * 4096,
    bytes: 32 * 4 * (4096 * 128 + 128 * 4096 + 4096 * 4096),
  });
  // decode q·Kᵀ reads the L + 1 cached keys of each head.
  assertEquals(byLabel("decode Q_i"), { batch: 32, m: 1, k: 128, n: 4097 });
  assertThrows(
    () => layerMatmuls({ seqLen: 8, dModel: 10, nHeads: 3 }),
    RangeError,
    "multiple of nHeads",
  );
});

Deno.test("decode floor bytes of a GPT-2 stack, by hand", () => {
  // 1 layer, D = 2, V = 3: 12·4 + 13·2 = 74 layer parameters, 2·2 final norm, 3·2 head = 84.
  assertEquals(gpt2DecodeBytes({ n_layer: 1, n_embd: 2, vocab_size: 3 }, 0), 4 * 84);
  // 5 cached tokens: 2 (K and V) · 1 layer · 5 · 2 more values.
  assertEquals(gpt2DecodeBytes({ n_layer: 1, n_embd: 2, vocab_size: 3 }, 5), 4 * (84 + 20));
  // The int8 screen's head: 3·2 bytes of codes and 3 floats each of scale, error and |W| sums.
  assertEquals(gpt2DecodeBytes({ n_layer: 1, n_embd: 2, vocab_size: 3 }, 0, true), 4 * 78 + 6 + 36);
  assertThrows(
    () => gpt2DecodeBytes({ n_layer: 0, n_embd: 2, vocab_size: 3 }, 0),
    RangeError,
    "n_layer",
  );
});
