// Every operation of a layer, the whole model, memory, latency and mixed precision, each
// checked against a closed form written out here, against published parameter counts, or
// against LLM-Viewer's formulas worked by hand (hahnyuan/LLM-Viewer, model_analyzer.py).
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  type CostedOp,
  decodeComputeBoundBatch,
  decodeStepIntensity,
  HARDWARE_FILE,
  hardwareRoof,
  kvCacheBytes,
  layerCost,
  loadHardware,
  maxBatch,
  memoryFootprint,
  type ModelConfig,
  modelConfig,
  modelCost,
  parameterCount,
  PRECISIONS,
  presetFromHfConfig,
  requestLatency,
  ridgeIntensity,
  weightBytes,
} from "../lib/intensity/mod.ts";

const op = (ops: readonly CostedOp[], name: string): CostedOp => {
  const found = ops.find((o) => o.name === name);
  if (!found) throw new Error(`no ${name} in ${ops.map((o) => o.name).join(", ")}`);
  return found;
};

Deno.test("parameter counts equal the published ones (HF model cards / safetensors totals)", () => {
  const published: Record<string, bigint> = {
    "llama-2-7b": 6_738_415_616n,
    "llama-3-8b": 8_030_261_248n,
    "mistral-7b": 7_241_732_096n,
    "qwen2.5-7b": 7_615_616_512n,
    "llama-3-70b": 70_553_706_496n,
    "opt-350m": 331_196_416n,
  };
  for (const [preset, count] of Object.entries(published)) {
    assertEquals(parameterCount(modelConfig({ preset })).total, count, preset);
  }
  // The embedded model's own config.json against the count its training run recorded.
  const dir = new URL("../data/models/brown-gpt2/", import.meta.url);
  const base = presetFromHfConfig(
    JSON.parse(Deno.readTextFileSync(new URL("config.json", dir))),
    "config.json",
  );
  const training = JSON.parse(Deno.readTextFileSync(new URL("training.json", dir)));
  assertEquals(parameterCount(modelConfig({ base })).total, BigInt(training.parameters));
  assertEquals([base.ffn, base.activation, base.positions, base.tiedEmbeddings], [
    768,
    "gelu",
    "learned",
    true,
  ]);
});

Deno.test("config.json of real architectures reads as the presets do", () => {
  const llama3 = presetFromHfConfig({
    model_type: "llama",
    hidden_size: 4096,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    max_position_embeddings: 8192,
    vocab_size: 128256,
    hidden_act: "silu",
    tie_word_embeddings: false,
  }, "llama3.json");
  assertEquals(parameterCount(modelConfig({ base: llama3 })).total, 8_030_261_248n);
  const opt = presetFromHfConfig({
    model_type: "opt",
    hidden_size: 1024,
    num_attention_heads: 16,
    ffn_dim: 4096,
    num_hidden_layers: 24,
    max_position_embeddings: 2048,
    vocab_size: 50272,
    word_embed_proj_dim: 512,
    do_layer_norm_before: false,
    activation_function: "relu",
  }, "opt.json");
  assertEquals(parameterCount(modelConfig({ base: opt })).total, 331_196_416n);
  assertThrows(
    () => presetFromHfConfig({ model_type: "llama", hidden_size: 64 }, "bad.json"),
    TypeError,
    "bad.json: needs num_attention_heads or n_head",
  );
  assertThrows(
    () => presetFromHfConfig({ n_embd: -1 }, "neg.json"),
    TypeError,
    "neg.json: n_embd must be a positive integer, got -1",
  );
});

Deno.test("every non-matmul operation of a layer against its closed form", () => {
  // Llama-2-7B prefill, L = 1024, B = 2, fp16.
  const B = 2, L = 1024, D = 4096, F = 11008, nH = 32, H = 128, b = 2;
  const c = modelConfig({ preset: "llama-2-7b", seqLen: L, batch: B });
  const pre = layerCost(c, "prefill");
  const rows = B * L;
  const norm = op(pre, "attn_norm");
  assertEquals(norm.flops, BigInt(4 * rows * D)); // RMSNorm: 4 per element
  assertEquals(norm.bytes, BigInt(2 * rows * D * b + D * b)); // x, y and γ
  assertEquals(op(pre, "softmax").flops, BigInt(5 * B * nH * L * L));
  assertEquals(op(pre, "softmax").bytes, BigInt(2 * B * nH * L * L * b));
  assertEquals(op(pre, "softmax").handoutStep, 7);
  const rope = op(pre, "rope");
  assertEquals(rope.flops, BigInt(3 * rows * (D + D))); // Q and K (multi-head: n_KV·H = D)
  assertEquals(rope.bytes, BigInt(2 * rows * 2 * D * b + 2 * L * H * b));
  assertEquals(op(pre, "attn_add").flops, BigInt(rows * D));
  assertEquals(op(pre, "attn_add").bytes, BigInt(3 * rows * D * b));
  const act = op(pre, "mlp_act");
  assertEquals(act.flops, BigInt(5 * rows * F)); // SiLU (4) and the product (1)
  assertEquals(act.bytes, BigInt(3 * rows * F * b));
  for (const name of ["partition_Q", "partition_K", "partition_V", "merge"]) {
    assertEquals(op(pre, name).bytes, 0n);
  }
  // The handout's matmul rows keep their cost: Q = x·W^Q is 2·BL·D·D, b(BL·D + D·D + BL·D).
  const q = op(pre, "q_proj");
  assertEquals([q.handoutStep, q.flops], [1, BigInt(2 * rows * D * D)]);
  assertEquals(q.bytes, BigInt(b * (rows * D + D * D + rows * D)));
  assertEquals(
    pre.filter((o) => o.handoutStep !== undefined && o.kind === "matmul").map((o) => o.handoutStep),
    [1, 2, 3, 7, 8, 10, 11, 12, 14],
  );

  // The handout's decode layer (ReLU MLP, LayerNorm, no rotary): L = 4096 cached tokens.
  const h = modelConfig();
  const dec = layerCost(h, "decode");
  const ctx = 4097, hd = 4096;
  assertEquals(op(dec, "attn_norm").flops, BigInt(7 * hd));
  assertEquals(op(dec, "attn_norm").bytes, BigInt(2 * hd * 2 + 2 * hd * 2)); // γ and β
  assertEquals(op(dec, "k_append").bytes, BigInt(2 * hd * 2)); // K_d read, written into the cache
  assertEquals(op(dec, "k_append").handoutStep, 3);
  assertEquals(op(dec, "mlp_act").flops, BigInt(4 * hd)); // relu, one per element of A (F = 4D)
  assertEquals(op(dec, "mlp_act").bytes, BigInt(2 * 4 * hd * 2));
  assertEquals(op(dec, "softmax").flops, BigInt(5 * 32 * ctx));
  assert(!dec.some((o) => o.name === "rope"));
  assertEquals(
    dec.map((o) => o.handoutStep).filter((s) => s !== undefined),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11, 12, 13, 14, 15],
  );
});

Deno.test("fused attention: the score matrix never moves", () => {
  const B = 4, L = 2048, c = modelConfig({ preset: "llama-3-8b", seqLen: L, batch: B });
  const D = 4096, kvN = 8 * 128, nH = 32, H = 128, b = 2;
  for (const phase of ["prefill", "decode"] as const) {
    const q = phase === "prefill" ? L : 1, ctx = phase === "prefill" ? L : L + 1;
    const fused = op(layerCost(c, phase, { attention: "fused" }), "fused_attention");
    const flops = 2 * B * nH * q * ctx * H * 2 + 5 * B * nH * q * ctx;
    assertEquals(fused.flops, BigInt(flops), phase);
    // Q read, Z written (B·q·D each); K and V read once per KV head (B·ctx·n_KV·H each).
    assertEquals(fused.bytes, BigInt(2 * B * q * D * b + 2 * B * ctx * kvN * b), phase);
    const unfused = layerCost(c, phase);
    const parts = ["qk_matmul", "softmax", "sv_matmul"].map((n) => op(unfused, n));
    assertEquals(parts.reduce((s, o) => s + o.flops, 0n), fused.flops);
    assert(parts.reduce((s, o) => s + o.bytes, 0n) > fused.bytes);
  }
});

/** One decode step of a Llama-style model at batch 1, fp16, context ctx: bytes by hand. */
function llamaDecodeBytes(
  c: { D: number; F: number; nH: number; nKV: number; V: number; layers: number },
  ctx: number,
): number {
  const { D, F, nH, nKV, V, layers } = c, H = D / nH, kvN = nKV * H, g = nH / nKV, b = 2;
  const proj = (k: number, n: number) => b * (k + k * n + n);
  const layer = 2 * (2 * D * b + D * b) + // two RMSNorms: x, y, γ
    proj(D, D) * 2 + proj(D, kvN) * 2 + // Q, O; K, V (outputs into the cache)
    2 * 2 * kvN * b + // K_d, V_d appended
    2 * (D + kvN) * b + 2 * H * b + // RoPE: Q and K read and written, cos and sin read
    nKV * b * (g * H + H * ctx + g * ctx) + // Q·Kᵀ per KV group
    2 * nH * ctx * b + // softmax
    nKV * b * (g * ctx + ctx * H + g * H) + // score·V
    2 * 3 * D * b + // two residual adds
    proj(D, F) * 2 + 3 * F * b + proj(F, D); // gate, up, SwiGLU, down
  const head = 2 * D * b; // embedding row read and written
  const tail = (2 * D * b + D * b) + proj(D, V); // final RMSNorm, LM head
  return layers * layer + head + tail;
}

Deno.test("whole model: a decode step's bytes and FLOPs against the closed form", () => {
  const shape = { D: 4096, F: 11008, nH: 32, nKV: 32, V: 32000, layers: 32 };
  const L = 1023;
  const c = modelConfig({ preset: "llama-2-7b", seqLen: L });
  const cost = modelCost(c, "decode");
  assertEquals(cost.totals.bytes, BigInt(llamaDecodeBytes(shape, L + 1)));
  // FLOPs: 2 per weight (linear weights, LM head included) plus attention and elementwise work.
  const { D, F, nH, V } = shape, H = D / nH, ctx = L + 1;
  const linear = 4 * D * D + 3 * D * F;
  const perLayer = 2 * linear + 2 * 2 * nH * ctx * H + 5 * nH * ctx + 2 * 4 * D +
    3 * 2 * D + 2 * D + 5 * F;
  assertEquals(cost.totals.flops, BigInt(32 * perLayer + 4 * D + 2 * D * V));
  // Prefill of one token is the same work as a decode step with nothing cached.
  const one = modelCost(modelConfig({ preset: "llama-2-7b", seqLen: 1 }), "prefill");
  const zero = 32 * (2 * linear + 2 * 2 * nH * H + 5 * nH + 8 * D + 6 * D + 2 * D + 5 * F) +
    4 * D + 2 * D * V;
  assertEquals(one.totals.flops, BigInt(zero));
  assertThrows(() => modelCost(modelConfig(), "decode"), RangeError, "needs a vocabulary");
});

Deno.test("mixed precision: each operand at its own width", () => {
  const D = 4096;
  const c = modelConfig({ preset: "llama-2-7b", ...PRECISIONS.w4a16 });
  const q = op(layerCost(c, "decode"), "q_proj");
  assertEquals(q.weightBytes, BigInt(D * D / 2)); // int4: half a byte
  assertEquals(q.activationBytes, BigInt(2 * D * 2)); // fp16 input and output
  const kv8 = modelConfig({ preset: "llama-2-7b", kvDtype: "int8" });
  assertEquals(kvCacheBytes(kv8, 1) * 2n, kvCacheBytes(modelConfig({ preset: "llama-2-7b" }), 1));
  const k = op(layerCost(kv8, "decode"), "k_proj");
  assertEquals(k.kvBytes, BigInt(D)); // K_d written at one byte
  const p = parameterCount(c);
  assertEquals(weightBytes(c), p.linear / 2n + (p.embeddings + p.other) * 2n);
  assertEquals(PRECISIONS.w8a8.dtype, "int8"); // arithmetic (and the peak used) in INT8
  const h100 = loadHardware().h100;
  assertEquals(hardwareRoof(h100, modelConfig({ ...PRECISIONS.fp8 }).dtype).peakFlopsPerS, 1979e12);
});

Deno.test("memory: footprint parts and the largest batch that fits, by brute force", () => {
  const request = { promptLen: 1024, outputLen: 1024 };
  const c = modelConfig({ preset: "llama-2-7b" });
  const f = memoryFootprint(c, request);
  assertEquals(f.weightBytes, 2n * 6_738_415_616n);
  assertEquals(f.kvCacheBytes, 2048n * 2n * 32n * 4096n * 2n); // tokens · K,V · layers · D · b
  // Prefill's largest activation set: the score matrix, read and written by softmax.
  assertEquals(f.activationBytes, 2n * 32n * 1024n * 1024n * 2n + 1024n * 4096n * 2n);
  for (const gb of [16, 24, 80]) {
    const capacity = gb * 1e9;
    let brute = 0;
    while (Number(memoryFootprint({ ...c, batch: brute + 1 }, request).totalBytes) <= capacity) {
      brute++;
    }
    assertEquals(maxBatch(c, capacity, request), brute, `${gb} GB`);
  }
  assertEquals(maxBatch(c, 13e9, request), 0); // the weights alone do not fit
});

Deno.test("latency: TTFT within its roofline bounds, TPOT memory-bound at batch 1", () => {
  const roof = hardwareRoof(loadHardware().h100, "fp16");
  const shape = { D: 4096, F: 11008, nH: 32, nKV: 32, V: 32000, layers: 32 };
  const c = modelConfig({ preset: "llama-2-7b" });
  const request = { promptLen: 512, outputLen: 8 };
  const lat = requestLatency(c, roof, request);
  const pre = modelCost({ ...c, seqLen: 512 }, "prefill").totals;
  const lower = Math.max(Number(pre.flops) / roof.peakFlopsPerS, Number(pre.bytes) / 3.35e12);
  const upper = Number(pre.flops) / roof.peakFlopsPerS + Number(pre.bytes) / 3.35e12;
  assert(lat.ttftSeconds >= lower * (1 - 1e-12) && lat.ttftSeconds <= upper, `${lat.ttftSeconds}`);
  // Every decode operation at batch 1 is below H100's ridge: each step takes bytes / bandwidth.
  let steps = 0;
  for (let i = 1; i < request.outputLen; i++) steps += llamaDecodeBytes(shape, 512 + i) / 3.35e12;
  assertAlmostEquals(lat.tpotSeconds, steps / 7, 1e-12);
  assertAlmostEquals(lat.totalSeconds, lat.ttftSeconds + steps, 1e-12);
  assertAlmostEquals(lat.tokensPerS, 8 / lat.totalSeconds, 1e-9);
  // 13.5 GB of weights at 3.35 TB/s: about 4 ms per token.
  assert(lat.tpotSeconds > 4.0e-3 && lat.tpotSeconds < 4.1e-3, `${lat.tpotSeconds}`);
  assertEquals(requestLatency(c, roof, { promptLen: 16, outputLen: 1 }).tpotSeconds, 0);
});

Deno.test("decode turns compute-bound at the batch where its intensity crosses the ridge", () => {
  const h100 = hardwareRoof(loadHardware().h100, "fp16");
  const ridge = ridgeIntensity(h100);
  const short = modelConfig({ preset: "llama-3-8b", seqLen: 64 });
  const b = decodeComputeBoundBatch(short, h100)!;
  assert(b !== undefined);
  assert(decodeStepIntensity({ ...short, batch: b }) > ridge);
  assert(decodeStepIntensity({ ...short, batch: b - 1 }) <= ridge);
  // Multi-head attention over a long context: the KV cache grows with the batch as fast as the
  // FLOPs, so the step's intensity levels off near 2·(FLOPs per token)/(KV bytes per token).
  assertEquals(decodeComputeBoundBatch(modelConfig({ preset: "llama-2-7b" }), h100), undefined);
});

Deno.test("LLM-Viewer's formulas worked by hand, Llama-2-7B / Llama-3-8B, fp16", () => {
  const L = 1024;
  const llama2 = modelConfig({ preset: "llama-2-7b", seqLen: L });
  const pre = layerCost(llama2, "prefill");
  // 1. q_proj prefill: OPs = ic·oc·B·L·2; load_weight ic·oc·2 + load_act ic·L·2 + store_act oc·L·2.
  assertEquals(op(pre, "q_proj").flops, 4096n * 4096n * 1024n * 2n);
  assertEquals(op(pre, "q_proj").bytes, 33_554_432n + 8_388_608n + 8_388_608n);
  // 2. softmax prefill: OPs = B·n_H·L·L·5 = 167,772,160; load + store of the scores.
  assertEquals(op(pre, "softmax").flops, 167_772_160n);
  assertEquals(op(pre, "softmax").bytes, 134_217_728n);
  // 3. attn_norm prefill: LLM-Viewer counts 7 OPs per element (B·D·L·7 = 29,360,128) for every
  //    norm; RMSNorm here costs 4, so 4/7 of it. Bytes: LLM-Viewer 2·B·D·L·2 = 16,777,216; here
  //    γ too (4096·2).
  assertEquals(op(pre, "attn_norm").flops * 7n, 29_360_128n * 4n);
  assertEquals(op(pre, "attn_norm").bytes, 16_777_216n + 8_192n);
  // 4. attn_add prefill: OPs B·D·L = 4,194,304 alike; LLM-Viewer loads one addend
  //    (16,777,216 bytes), here both (25,165,824).
  assertEquals(op(pre, "attn_add").flops, 4_194_304n);
  assertEquals(op(pre, "attn_add").bytes, 16_777_216n + 8_388_608n);
  // 5. qk_matmul decode: LLM-Viewer attends over seqlen positions where the handout (and
  //    this workspace) attends over L + 1; at L = 1023 the two agree: OPs seqlen·H·n_H·2 =
  //    8,388,608; q 8,192 + K cache 8,388,608 + scores 65,536 bytes.
  const dec = layerCost(modelConfig({ preset: "llama-2-7b", seqLen: 1023 }), "decode");
  assertEquals(op(dec, "qk_matmul").flops, 8_388_608n);
  assertEquals(op(dec, "qk_matmul").bytes, 8_192n + 8_388_608n + 65_536n);
  // 6. lm_head decode: LLM-Viewer's OPs = B·D·V·1 (one per multiply-add) = 131,072,000; here
  //    2·B·D·V. Bytes alike: weight D·V·2 + D·2 + V·2 = 262,216,192.
  const lm = op(modelCost(llama2, "decode").tail, "lm_head");
  assertEquals(lm.flops, 2n * 131_072_000n);
  assertEquals(lm.bytes, 262_216_192n);
  // 7. k_proj decode with GQA (Llama-3-8B): OPs 4096·1024·2 = 8,388,608; load_weight 8,388,608
  //    + load_act 8,192 + store_kv_cache 2,048.
  const gqa = layerCost(modelConfig({ preset: "llama-3-8b", seqLen: L }), "decode");
  assertEquals(op(gqa, "k_proj").flops, 8_388_608n);
  assertEquals(op(gqa, "k_proj").bytes, 8_388_608n + 8_192n + 2_048n);
  assertEquals(op(gqa, "k_proj").kvBytes, 2_048n);
  // 8. mlp_act: LLM-Viewer's B·hidden·L·2 (hidden size, 8,388,608) counts the SwiGLU over D
  //    elements; it acts on F = 11008 per token: 5·L·F = 56,360,960 here.
  assertEquals(op(pre, "mlp_act").flops, 56_360_960n);
});

Deno.test("hardware presets: ridge = peak / bandwidth, a source for every figure, dense peaks", () => {
  const raw = JSON.parse(Deno.readTextFileSync(HARDWARE_FILE)) as Record<
    string,
    Record<string, unknown> & {
      peakFlopsPerS: Record<string, number>;
      memoryGbPerS: number;
      sources: Record<string, string>;
    }
  >;
  const ids = Object.keys(raw);
  for (
    const id of [
      "v100",
      "a100",
      "a100-40gb",
      "h100",
      "h100-pcie",
      "h200",
      "l4",
      "l40s",
      "rtx-4090",
      "mi300x",
      "apple-m1-max",
      "apple-m1-ultra",
    ]
  ) assert(ids.includes(id), id);
  const all = loadHardware();
  for (const [id, e] of Object.entries(raw)) {
    for (const figure of ["peakFlopsPerS", "memoryGbPerS", "memoryGb", "l2GbPerS"]) {
      if (e[figure] === undefined) continue;
      assert((e.sources[figure] ?? "").length > 10, `${id}: no source for ${figure}`);
    }
    assert(typeof e.memoryGb === "number", `${id}: memory capacity`);
    for (const [dtype, peak] of Object.entries(e.peakFlopsPerS)) {
      const roof = hardwareRoof(all[id], dtype as "fp16");
      assertAlmostEquals(ridgeIntensity(roof), peak / (e.memoryGbPerS * 1e9), 1e-9);
      assertEquals(roof.memoryBytes, (e.memoryGb as number) * 1e9);
    }
  }
  // Dense figures: half of the datasheets' "with sparsity" numbers.
  const half = (dense: number, sparse: number) => assert(Math.abs(dense / (sparse / 2) - 1) < 1e-3);
  half(raw.h100.peakFlopsPerS.fp16, 1979e12);
  half(raw.h100.peakFlopsPerS.fp8, 3958e12);
  half(raw.l4.peakFlopsPerS.fp16, 242e12);
  half(raw.mi300x.peakFlopsPerS.fp16, 2614.9e12);
  assertAlmostEquals(ridgeIntensity(hardwareRoof(all.h200, "fp16")), 989 / 4.8, 1e-9);
  const cfg: ModelConfig = modelConfig({ preset: "llama-3-70b" });
  assertEquals(cfg.kvHeads, 8);
});
