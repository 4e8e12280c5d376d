import { assert, assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { runScript, type ScriptRun } from "./run_script.ts";

const CLI = new URL("../lib/cli/intensity.ts", import.meta.url).pathname;

const run = (...args: string[]): Promise<ScriptRun> => runScript(CLI, args);

interface JsonOp {
  step: number;
  kind: string;
  matmul?: {
    m: number;
    n: number;
    k: number;
    flops: number;
    bytes: number;
    intensity: { numerator: number; denominator: number; value: number };
    products: number;
    all: { intensity: { value: number } };
    roofline: { bound: string; seconds: number; attainableFlopsPerS: number }[];
  };
}

Deno.test("--json: the handout's tables, parsed and checked against closed forms", async () => {
  const r = await run("--json");
  assertEquals(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assertEquals(doc.config.headDim, 128);
  const pre: JsonOp[] = doc.phases.prefill.ops;
  const dec: JsonOp[] = doc.phases.decode.ops;
  assertEquals(pre.length, 13);
  assertEquals(dec.length, 15);
  const L = 4096, D = 4096, H = 128;
  const q = pre[0].matmul!;
  assertEquals([q.intensity.numerator, q.intensity.denominator], [4096, 3]);
  assertEquals(q.flops, 2 * L * D * D);
  assertEquals(q.bytes, 2 * (L * D + D * D + L * D));
  assertAlmostEquals(pre[6].matmul!.intensity.value, (L * H) / (2 * H + L), 1e-9);
  assertAlmostEquals(pre[10].matmul!.intensity.value, (4 * L * D) / (5 * L + 4 * D), 1e-9);
  assertEquals(pre.filter((o) => !o.matmul).map((o) => o.kind), [
    "partition",
    "partition",
    "partition",
    "merge",
    "relu",
  ]);
  assertAlmostEquals(dec[0].matmul!.intensity.value, D / (D + 2), 1e-12);
  assertAlmostEquals(
    dec[8].matmul!.intensity.value,
    ((L + 1) * H) / (H + (L + 1) * H + (L + 1)),
    1e-12,
  );
  assertEquals(dec[8].matmul!.products, 32);
});

Deno.test("--json with explicit sizes, GQA, batch, dtype and hardware", async () => {
  const r = await run(
    "--json",
    "--seq-len=1000",
    "--d-model=768",
    "--heads=12",
    "--kv-heads=4",
    "--ffn=3072",
    "--batch=3",
    "--dtype=fp32",
    "--phase=decode",
    "--hardware=v100,h100",
  );
  assertEquals(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assertEquals(Object.keys(doc.phases), ["decode"]);
  const ops: JsonOp[] = doc.phases.decode.ops;
  const B = 3, D = 768, H = 64, kvN = 4 * 64, ctx = 1001, g = 3;
  // K_d = t W^K: M = B, K = D, N = n_KV·H, 4 bytes each.
  const k = ops[1].matmul!;
  assertEquals([k.m, k.n, k.k], [B, kvN, D]);
  assertAlmostEquals(
    k.intensity.value,
    (2 * B * kvN * D) / (4 * (B * D + D * kvN + B * kvN)),
    1e-12,
  );
  // Scores of a KV group: (g × H)·(H × ctx), 4 bytes each.
  assertAlmostEquals(
    ops[8].matmul!.all.intensity.value,
    (2 * g * H * ctx) / (4 * (g * H + H * ctx + g * ctx)),
    1e-12,
  );
  assertEquals(ops[8].matmul!.products, B * 12);
  // FP32 roofs: V100 15.7 TFLOP/s over 900 GB/s; decode projections are memory-bound.
  const est = ops[0].matmul!.roofline;
  assertEquals(est.length, 2);
  assertEquals(est[0].bound, "memory");
  assertAlmostEquals(est[0].seconds, (4 * (B * D + D * D + B * D)) / 900e9, 1e-15);
  assertEquals(doc.roofs[0].peakFlopsPerS, 15.7e12);
});

Deno.test("human-readable output names phases, steps and the roofline", async () => {
  const r = await run("--model", "opt-350m", "--hardware", "a100");
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "OPT-350m: L=2048 D=1024 n_H=16 H=64");
  assertStringIncludes(r.stdout, "fp16 (2 bytes/element)");
  assertStringIncludes(r.stdout, "prefill:");
  assertStringIncludes(r.stdout, "decode:");
  assertStringIncludes(r.stdout, "a100 bound");
  // OPT-350m prefill Q: LD/(2L + D) = 2048·1024/5120 = 409.6.
  assertStringIncludes(r.stdout, "2048/5");
  assertStringIncludes(r.stdout, "409.60");
  // KV cache: 2 (K, V) · 24 layers · 1024 (n_KV·H) · 2 bytes per token, times L = 2048.
  assertStringIncludes(r.stdout, `${(2 * 24 * 1024 * 2).toLocaleString("en-US")} bytes per token`);
  assertStringIncludes(r.stdout, `${(2 * 24 * 1024 * 2 * 2048).toLocaleString("en-US")} bytes at`);
  assertStringIncludes(r.stdout, "NVIDIA A100 SXM 80GB, matmuls of all 24 layer(s): prefill");
  const help = await run("--help");
  assertEquals(help.code, 0);
  assertStringIncludes(help.stdout, "--kv-heads");
});

Deno.test("bad flags exit non-zero naming the flag and what is allowed", async () => {
  const cases: [string[], string][] = [
    [["--phase", "train"], "--phase must be one of prefill, decode, both"],
    [["--seq-len", "1.5"], '--seq-len must be a positive integer, got "1.5"'],
    [["--batch", "-1"], "--batch"],
    [["--heads", "3"], "--d-model (D) = 4096 is not divisible by --heads (n_H) = 3"],
    [["--kv-heads", "5"], "--kv-heads (n_KV) = 5"],
    [["--dtype", "fp4"], "--dtype must be one of fp32, fp16, bf16, fp8, int8, int4"],
    [["--model", "gpt-9"], "--model must be one of handout, opt-350m"],
    [["--hardware", "tpu"], "--hardware must be one of v100, a100, a100-40gb, h100"],
    [["--hardware", "v100", "--dtype", "int8"], 'hardware "v100" lists no int8 peak'],
    [["--frobnicate"], "--frobnicate"],
  ];
  for (const [args, message] of cases) {
    const r = await run(...args);
    assert(r.code !== 0, `${args.join(" ")} exited 0`);
    assertStringIncludes(r.stderr, message);
    assertEquals(r.stdout, "");
  }
});

Deno.test("--whole-model: totals, memory and a latency row per GPU, in text and JSON", async () => {
  const args = [
    "--model",
    "llama-2-7b",
    "--whole-model",
    "--hardware",
    "h100,l4",
    "--prompt-len",
    "512",
    "--output-len",
    "64",
  ];
  const r = await run(...args);
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, "Parameters                6,738,415,616");
  assertStringIncludes(r.stdout, "Request: prompt 512, output 64 tokens, batch 1");
  assertStringIncludes(r.stdout, "NVIDIA L4");
  const j = await run(...args, "--json");
  assertEquals(j.code, 0, j.stderr);
  const doc = JSON.parse(j.stdout).wholeModel;
  assertEquals(doc.parameters.total, 6738415616);
  // Weights: 2 bytes per parameter; KV cache: 576 tokens · 512 KiB.
  assertEquals(doc.memory.weightBytes, 2 * 6738415616);
  assertEquals(doc.memory.kvCacheBytes, 576 * 524288);
  assertEquals(doc.roofs.length, 2);
  const [h100, l4] = doc.roofs;
  // Decode at batch 1 streams the weights: TPOT ≈ 13.5 GB / bandwidth.
  assertAlmostEquals(h100.latency.tpotSeconds, 13.5e9 / 3.35e12, 2e-4);
  assertAlmostEquals(l4.latency.tpotSeconds, 13.5e9 / 300e9, 2e-3);
  assertEquals(l4.memoryBytes, 24e9);
  assert(h100.maxBatch > l4.maxBatch && l4.maxBatch > 0);
});

Deno.test("--config, --precision, --weights/--kv, --attention fused and --all-ops", async () => {
  const cfg = new URL("../data/models/brown-gpt2/config.json", import.meta.url).pathname;
  const r = await run("--config", cfg, "--whole-model", "--json", "--phase", "decode");
  assertEquals(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assertEquals([doc.config.dModel, doc.config.layers, doc.config.vocab], [192, 4, 4096]);
  assertEquals(doc.wholeModel.parameters.total, 2615424);
  const q = await run("--model", "llama-2-7b", "--precision", "w4a16", "--kv", "int8", "--json");
  const qc = JSON.parse(q.stdout).config;
  assertEquals([qc.dtype, qc.weightDtype, qc.kvDtype], ["fp16", "int4", "int8"]);
  const qProj = JSON.parse(q.stdout).phases.decode.ops[0].matmul;
  assertEquals(qProj.bytes, 2 * 4096 + 4096 * 4096 / 2 + 2 * 4096);
  const f = await run("--model", "llama-3-8b", "--all-ops", "--attention", "fused", "--json");
  const ops = JSON.parse(f.stdout).allOps.decode as { name: string }[];
  assert(ops.some((o) => o.name === "fused_attention"));
  assert(!ops.some((o) => o.name === "softmax"));
  const t = await run("--model", "llama-3-8b", "--all-ops", "--phase", "prefill");
  assertStringIncludes(t.stdout, "prefill, every operation (unfused attention):");
  assertStringIncludes(t.stdout, "mlp_norm");
});

Deno.test("whole-model flags refuse bad input with one line and exit 2", async () => {
  const missing = "/nonexistent/config.json";
  const cases: [string[], string][] = [
    [["--whole-model"], "--whole-model: the whole model needs a vocabulary size"],
    [["--precision", "w4a16", "--dtype", "fp16"], "--dtype fp16 and --precision w4a16 both"],
    [["--precision", "w2a2"], "--precision must be one of fp16"],
    [["--kv", "fp4"], "--kv must be one of fp32"],
    [["--config", missing], `--config: cannot read "${missing}"`],
    [["--config", "x.json", "--model", "handout"], "--model and --config both give the shape"],
    [["--gpu-memory", "0"], "--gpu-memory must be a number > 0"],
    [["--attention", "flash"], "--attention must be one of unfused, fused"],
    [["--output-len", "0"], "--output-len must be a positive integer"],
  ];
  for (const [args, message] of cases) {
    const r = await run(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertStringIncludes(r.stderr, message);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
    assertEquals(r.stdout, "");
  }
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/c.json`, '{"model_type": "llama", "hidden_size": 64}');
    const r = await run("--config", `${dir}/c.json`);
    assertEquals(r.code, 2);
    assertStringIncludes(r.stderr, `${dir}/c.json: needs num_attention_heads or n_head`);
    Deno.writeTextFileSync(`${dir}/c.json`, "{");
    assertStringIncludes((await run("--config", `${dir}/c.json`)).stderr, "not valid JSON");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
