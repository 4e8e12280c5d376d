import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  computeBoundFrom,
  decodeOps,
  findHardware,
  fraction,
  fractionLatex,
  fractionToNumber,
  HARDWARE_FILE,
  hardwareRoof,
  headDim,
  intensitySweep,
  kvCacheBytes,
  type LayerOp,
  layerTime,
  layerTotals,
  loadHardware,
  matmulCost,
  measuredRoofs,
  modelConfig,
  opEstimate,
  prefillOps,
  ridgeIntensity,
  rooflineEstimate,
} from "../lib/intensity/mod.ts";
import { derivationLatex, handoutTable, layerTimeTable } from "../lib/show/intensity.ts";
import { JUPYTER_DISPLAY } from "../lib/show/mod.ts";
import { intensitySweepFigure, layerRooflineFigure } from "../lib/show/roofline.ts";

const step = (ops: LayerOp[], n: number): LayerOp => {
  const op = ops.find((o) => o.step === n);
  assert(op, `no step ${n}`);
  return op;
};
const ai = (op: LayerOp): number => fractionToNumber(op.matmul!.intensity);
const exact = (op: LayerOp): string =>
  `${op.matmul!.intensity.numerator}/${op.matmul!.intensity.denominator}`;

// The handout: L = D = 4096, n_H = 32, H = 128, FFN 4D, FP16 (2 bytes).
const L = 4096, D = 4096, H = 128;

Deno.test("prefill table: every row of the handout's first table", () => {
  const ops = prefillOps(modelConfig());
  assertEquals(ops.map((o) => o.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
  assertEquals(ops.map((o) => o.kind), [
    "matmul",
    "matmul",
    "matmul",
    "partition",
    "partition",
    "partition",
    "matmul",
    "matmul",
    "merge",
    "matmul",
    "matmul",
    "relu",
    "matmul",
  ]);
  for (const n of [4, 5, 6, 9, 12]) assertEquals(step(ops, n).matmul, undefined);
  // x·W with M = L, K = N = D: 2LD² / 2(LD + D² + LD) = LD / (2L + D) = 4096/3.
  for (const n of [1, 2, 3, 10]) {
    assertEquals(exact(step(ops, n)), "4096/3");
    assertAlmostEquals(ai(step(ops, n)), (L * D) / (2 * L + D), 1e-9);
    assertEquals([step(ops, n).matmul!.m, step(ops, n).matmul!.n, step(ops, n).matmul!.k], [
      L,
      D,
      D,
    ]);
  }
  // Q_i K_iᵀ: M = N = L, K = H: 2L²H / 2(LH + HL + L²) = LH / (2H + L) = 2048/17.
  assertEquals(exact(step(ops, 7)), "2048/17");
  assertAlmostEquals(ai(step(ops, 7)), (L * H) / (2 * H + L), 1e-9);
  // score_i V_i: M = K = L, N = H: 2L²H / 2(L² + LH + LH): the same value.
  assertEquals(exact(step(ops, 8)), "2048/17");
  // Out·W¹: M = L, K = D, N = 4D: 8LD² / 2(LD + 4D² + 4LD) = 4LD / (5L + 4D) = 16384/9.
  // A'·W²: M = L, K = 4D, N = D: 8LD² / 2(4LD + 4D² + LD): the same value.
  for (const n of [11, 13]) {
    assertEquals(exact(step(ops, n)), "16384/9");
    assertAlmostEquals(ai(step(ops, n)), (4 * L * D) / (5 * L + 4 * D), 1e-9);
  }
  assertAlmostEquals(ai(step(ops, 1)), 1365.3333333, 1e-6);
});

Deno.test("decode table: every row of the handout's second table", () => {
  const ops = decodeOps(modelConfig());
  assertEquals(ops.map((o) => o.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
  assertEquals(
    ops.filter((o) => !o.matmul).map((o) => `${o.step}:${o.kind}`),
    ["3:concat", "5:concat", "6:partition", "7:partition", "8:partition", "11:merge", "14:relu"],
  );
  // t·W with M = 1, K = N = D: 2D² / 2(D + D² + D) = D / (D + 2) = 2048/2049.
  for (const n of [1, 2, 4, 12]) {
    assertEquals(exact(step(ops, n)), "2048/2049");
    assertAlmostEquals(ai(step(ops, n)), D / (D + 2), 1e-12);
  }
  // Q_i K_iᵀ: M = 1, K = H, N = L+1: (L+1)H / (H + (L+1)H + (L+1)) = 524416/528641.
  // score_i V_i: M = 1, K = L+1, N = H: the same terms in another order.
  const n1 = L + 1;
  for (const n of [9, 10]) {
    assertEquals(exact(step(ops, n)), "524416/528641");
    assertAlmostEquals(ai(step(ops, n)), (n1 * H) / (H + n1 * H + n1), 1e-12);
  }
  // Out·W¹ and A'·W² with M = 1: 8D² / 2(D + 4D² + 4D) = 4D / (4D + 5) = 16384/16389.
  for (const n of [13, 15]) {
    assertEquals(exact(step(ops, n)), "16384/16389");
    assertAlmostEquals(ai(step(ops, n)), (4 * D) / (4 * D + 5), 1e-12);
  }
});

Deno.test("FLOPs and bytes match the course's 2MNK and 2(MK + KN + MN)", () => {
  const q = step(prefillOps(modelConfig()), 1).matmul!;
  assertEquals(q.flops, 137438953472n); // 2 · 4096³ = 2³⁷
  assertEquals(q.bytes, 100663296n); // 2 · 3 · 4096² = 3 · 2²⁵
  const s = step(decodeOps(modelConfig()), 9).matmul!;
  assertEquals(s.flops, BigInt(2 * 1 * 4097 * 128));
  assertEquals(s.bytes, BigInt(2 * (128 + 128 * 4097 + 4097)));
});

Deno.test("matmul counts agree with a brute-force naive multiplication", () => {
  for (const [m, n, k] of [[3, 5, 2], [1, 7, 4], [6, 1, 6]]) {
    let flops = 0;
    const touched = new Set<string>();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        touched.add(`C${i},${j}`);
        for (let p = 0; p < k; p++) {
          flops += 2; // one multiply, one add
          touched.add(`A${i},${p}`);
          touched.add(`B${p},${j}`);
        }
      }
    }
    const cost = matmulCost({ m, n, k }, 2);
    assertEquals(cost.flops, BigInt(flops));
    assertEquals(cost.bytes, BigInt(2 * touched.size));
  }
});

Deno.test("all heads together: FLOPs and bytes ×n_H, intensity unchanged (MHA)", () => {
  for (const ops of [prefillOps(modelConfig()), decodeOps(modelConfig())]) {
    for (const op of ops.filter((o) => o.matmul?.perHead)) {
      const m = op.matmul!;
      assertEquals(m.products, 32);
      assertEquals(m.all.flops, m.flops * 32n);
      assertEquals(m.all.bytes, m.bytes * 32n);
      assertEquals(m.all.intensity, m.intensity);
    }
    for (const op of ops.filter((o) => o.matmul && !o.matmul.perHead)) {
      assertEquals(op.matmul!.all.flops, op.matmul!.flops);
    }
  }
});

Deno.test("batch: projections get M = B·L (prefill) or B (decode), attention stays per sequence", () => {
  for (const B of [2, 8, 64]) {
    const pre = prefillOps(modelConfig({ batch: B, seqLen: 512 }));
    // M = 512B, K = N = D: 2·512B·D² / 2(512B·D + D² + 512B·D) = 512B·D / (1024B + D).
    assertAlmostEquals(ai(step(pre, 1)), (512 * B * D) / (1024 * B + D), 1e-9);
    assertEquals(step(pre, 1).matmul!.m, 512 * B);
    const dec = decodeOps(modelConfig({ batch: B }));
    // M = B: 2BD² / 2(BD + D² + BD) = BD / (2B + D).
    assertAlmostEquals(ai(step(dec, 1)), (B * D) / (2 * B + D), 1e-12);
    // Each sequence reads its own KV cache: intensity as for B = 1, work ×B.
    assertAlmostEquals(ai(step(dec, 9)), ((L + 1) * H) / (H + (L + 1) * H + (L + 1)), 1e-12);
    assertEquals(step(dec, 9).matmul!.products, 32 * B);
    assertEquals(
      step(dec, 9).matmul!.all.bytes,
      BigInt(2 * 32 * B * (H + (L + 1) * H + (L + 1))),
    );
  }
});

Deno.test("dtype: intensity scales with 2 / bytes per element", () => {
  const fp16 = ai(step(prefillOps(modelConfig()), 1));
  const fp32 = ai(step(prefillOps(modelConfig({ dtype: "fp32" })), 1));
  const int8 = ai(step(prefillOps(modelConfig({ dtype: "int8" })), 1));
  // 2MNK / (b(MK + KN + MN)) with b = 4 and b = 1.
  assertAlmostEquals(fp32, (2 * L * D * D) / (4 * (3 * L * D)), 1e-9);
  assertAlmostEquals(int8, (2 * L * D * D) / (1 * (3 * L * D)), 1e-9);
  assertAlmostEquals(fp32 * 2, fp16, 1e-9);
  assertEquals(step(decodeOps(modelConfig({ dtype: "int8" })), 1).matmul!.bytes, 4096n * 4098n);
});

Deno.test("grouped-query attention: narrower K/V projections, shared KV cache in decode", () => {
  const c = modelConfig({ preset: "llama-3-8b" }); // D 4096, n_H 32, n_KV 8, L 8192
  const Lc = 8192, kvN = 8 * 128, g = 4;
  const pre = prefillOps(c);
  assertEquals(step(pre, 2).matmul!.n, kvN);
  // K = x W^K, M = L, K = D, N = n_KV·H: 2·L·D·kvN / 2(LD + D·kvN + L·kvN).
  assertAlmostEquals(
    ai(step(pre, 2)),
    (Lc * D * kvN) / (Lc * D + D * kvN + Lc * kvN),
    1e-9,
  );
  const dec = decodeOps(c);
  const score = step(dec, 9).matmul!;
  const n1 = Lc + 1;
  // Per head as in MHA …
  assertAlmostEquals(fractionToNumber(score.intensity), (n1 * H) / (H + n1 * H + n1), 1e-12);
  // … but all heads together read each K_j once for its g = 4 query heads:
  // Q: 32·H elements, K cache: 8·(L+1)·H, scores: 32·(L+1); FLOPs 2·32·(L+1)·H.
  const bytes = 2 * (32 * H + 8 * n1 * H + 32 * n1);
  assertEquals(score.all.bytes, BigInt(bytes));
  assertEquals(score.all.flops, BigInt(2 * 32 * n1 * H));
  assertAlmostEquals(fractionToNumber(score.all.intensity), (2 * 32 * n1 * H) / bytes, 1e-12);
  assert(fractionToNumber(score.all.intensity) > 3.5 * fractionToNumber(score.intensity));
  assertEquals(score.products, 32);
  assertEquals(g, c.heads / c.kvHeads);
  assertStringIncludes(step(dec, 9).computation, "\\lceil i/4 \\rceil");
});

Deno.test("gated FFN (Llama): gate, up, SiLU⊙, down numbered after Out", () => {
  const c = modelConfig({ preset: "llama-2-7b" });
  const dec = decodeOps(c);
  assertEquals(dec.length, 16);
  assertEquals(dec.slice(12).map((o) => o.kind), ["matmul", "matmul", "swiglu", "matmul"]);
  const F = 11008;
  // M = 1, K = D, N = F: 2DF / 2(D + DF + F).
  for (const n of [13, 14]) assertAlmostEquals(ai(step(dec, n)), (D * F) / (D + D * F + F), 1e-12);
  assertEquals([step(dec, 16).matmul!.k, step(dec, 16).matmul!.n], [F, D]);
  assertEquals(prefillOps(c).map((o) => o.kind).slice(10), [
    "matmul",
    "matmul",
    "swiglu",
    "matmul",
  ]);
});

Deno.test("presets carry their published shapes", () => {
  const opt = modelConfig({ preset: "opt-350m" });
  assertEquals([opt.dModel, opt.heads, opt.ffn, opt.layers, headDim(opt)], [
    1024,
    16,
    4096,
    24,
    64,
  ]);
  const llama = modelConfig({ preset: "llama-2-7b" });
  assertEquals([llama.dModel, llama.heads, llama.kvHeads, llama.ffn, llama.layers], [
    4096,
    32,
    32,
    11008,
    32,
  ]);
  // Overriding heads alone keeps attention multi-head.
  assertEquals(modelConfig({ preset: "llama-3-8b", heads: 16 }).kvHeads, 16);
});

Deno.test("layer totals sum every matmul over all heads", () => {
  const ops = prefillOps(modelConfig());
  // 4 projections 2LD², FFN 2·2L·D·4D, attention 2·(2L²H)·n_H.
  const flops = 4n * 2n * 4096n ** 3n + 2n * 2n * 4096n * 4096n * 16384n +
    2n * 2n * 4096n * 4096n * 128n * 32n;
  assertEquals(layerTotals(ops).flops, flops);
});

Deno.test("roofline: ridge, bound, attainable FLOP/s and time on the course's V100", () => {
  const v100 = hardwareRoof(loadHardware().v100, "fp16");
  assertAlmostEquals(ridgeIntensity(v100), 125e12 / 900e9, 1e-9); // 138.9 FLOP/byte
  const q = opEstimate(step(prefillOps(modelConfig()), 1), v100);
  assertEquals(q.bound, "compute");
  assertEquals(q.attainableFlopsPerS, 125e12);
  assertAlmostEquals(q.seconds, 2 * 4096 ** 3 / 125e12, 1e-15); // ≈ 1.1 ms
  const t = opEstimate(step(decodeOps(modelConfig()), 1), v100);
  assertEquals(t.bound, "memory");
  assertAlmostEquals(t.seconds, 2 * (4096 + 4096 ** 2 + 4096) / 900e9, 1e-15); // ≈ 37 µs
  assertAlmostEquals(t.attainableFlopsPerS, (4096 / 4098) * 900e9, 1);
  // L2 roof of the course: 3.1 TB/s.
  assertAlmostEquals(ridgeIntensity(hardwareRoof(loadHardware().v100, "fp16", "l2")), 125 / 3.1);
  // Hand example: P = 10 FLOP/s, W = 2 B/s, ridge 5 FLOP/B. 1000 FLOPs over 100 bytes:
  // intensity 10 > 5, compute 1000/10 = 100 s, memory 100/2 = 50 s, so 100 s, compute-bound.
  const toy = { name: "toy", peakFlopsPerS: 10, bandwidthBytesPerS: 2 };
  const e = rooflineEstimate(1000n, 100n, toy);
  assertEquals(e.bound, "compute");
  assertEquals([e.computeSeconds, e.memorySeconds, e.seconds], [100, 50, 100]);
  const m = rooflineEstimate(100n, 100n, toy); // intensity 1 < 5
  assertEquals([m.bound, m.attainableFlopsPerS, m.seconds], ["memory", 2, 50]);
});

Deno.test("decode time is all memory-bound, prefill time mostly compute-bound", () => {
  for (const id of ["v100", "a100", "h100"]) {
    const roof = hardwareRoof(loadHardware()[id], "fp16");
    const dec = layerTime(decodeOps(modelConfig()), roof);
    assertEquals(dec.computeBoundSeconds, 0);
    const pre = layerTime(prefillOps(modelConfig()), roof);
    assert(pre.computeBoundSeconds > 0.5 * pre.seconds, id);
  }
});

Deno.test("sweeps: prefill against L and decode against B follow the closed forms", () => {
  const Ls = [128, 1024, 8192];
  const pre = intensitySweep(modelConfig(), "prefill", "seqLen", Ls);
  const proj = pre.series.find((s) => s.steps.includes(1))!;
  assertEquals(proj.steps, [1, 2, 3, 10]);
  Ls.forEach((l, i) => assertAlmostEquals(proj.intensity[i], (l * D) / (2 * l + D), 1e-9));
  const att = pre.series.find((s) => s.steps.includes(7))!;
  Ls.forEach((l, i) => assertAlmostEquals(att.intensity[i], (l * H) / (2 * H + l), 1e-9));
  const Bs = [1, 16, 256];
  const dec = intensitySweep(modelConfig(), "decode", "batch", Bs);
  const dproj = dec.series.find((s) => s.steps.includes(1))!;
  Bs.forEach((b, i) => assertAlmostEquals(dproj.intensity[i], (b * D) / (2 * b + D), 1e-9));
  const datt = dec.series.find((s) => s.steps.includes(9))!;
  assertEquals(new Set(datt.intensity).size, 1);
});

Deno.test("fractions reduce by the gcd and render as text and LaTeX", () => {
  assertEquals(fraction(137438953472n, 100663296n), { numerator: 4096n, denominator: 3n });
  assertEquals(fractionLatex(fraction(10n, 5n)), "2");
  assertEquals(fractionLatex(fraction(2n, 6n)), "\\frac{1}{3}");
  // Beyond 2^53 the decimal still comes out right.
  assertAlmostEquals(fractionToNumber(fraction(10n ** 30n + 1n, 3n * 10n ** 10n)), 1e20 / 3, 1e6);
  assertThrows(() => fraction(1n, 0n), RangeError, "denominator");
});

Deno.test("bad configurations are rejected naming the value and what is allowed", () => {
  const cases: [() => unknown, string][] = [
    [() => modelConfig({ dModel: 1000, heads: 3 }), "dModel (D) = 1000 is not divisible by heads"],
    [() => modelConfig({ kvHeads: 5 }), "heads (n_H) = 32 is not divisible by kvHeads (n_KV) = 5"],
    [() => modelConfig({ kvHeads: 64 }), "kvHeads (n_KV) = 64"],
    [() => modelConfig({ seqLen: 0 }), "seqLen (L) must be a positive integer, got 0"],
    [() => modelConfig({ batch: -2 }), "batch (B) must be a positive integer, got -2"],
    [() => modelConfig({ ffn: 1.5 }), "ffn (F) must be a positive integer, got 1.5"],
    [() => modelConfig({ seqLen: NaN }), "got NaN"],
    [() => modelConfig({ preset: "gpt-5" }), 'unknown model preset "gpt-5"; known: handout'],
    [() => modelConfig({ dtype: "fp4" as "fp16" }), 'unknown dtype "fp4"; allowed: fp32, fp16'],
    [() => modelConfig({ kvDtype: "fp64" as "fp16" }), 'unknown kvDtype "fp64"; allowed: fp32'],
    [() => modelConfig({ ffnKind: "moe" as "mlp" }), 'unknown ffnKind "moe"; allowed: mlp, gated'],
    [() => findHardware(loadHardware(), "tpu"), 'unknown hardware "tpu"; known: v100'],
    [() => hardwareRoof(loadHardware().v100, "int8"), 'hardware "v100" lists no int8 peak'],
    [() => hardwareRoof(loadHardware().a100, "fp16", "l2"), "lists no l2 bandwidth"],
    [() => intensitySweep(modelConfig(), "prefill", "seqLen", [4096, 0]), "seqLen (L)"],
  ];
  for (const [fn, message] of cases) assertThrows(fn, RangeError, message);
});

Deno.test("hardware: presets have sources; a measured file is added and checked", () => {
  const all = loadHardware();
  for (const id of ["v100", "a100", "h100"]) {
    assert(all[id].source.length > 20, id);
    assertEquals(all[id].measured, false);
  }
  assertEquals(all.v100.peakFlopsPerS.fp16, 125e12);
  assertEquals(all.a100.memoryGbPerS, 2039);
  assertEquals(all.h100.peakFlopsPerS.fp16, 989e12);
  const dir = Deno.makeTempDirSync();
  try {
    const measured = new URL(`file://${dir}/m.json`);
    Deno.writeTextFileSync(
      measured,
      JSON.stringify({
        here: {
          name: "this machine",
          peakFlopsPerS: { fp32: 5e10 },
          memoryGbPerS: 20,
          source: "x",
        },
      }),
    );
    const withMeasured = loadHardware(undefined, measured);
    assertEquals(withMeasured.here.measured, true);
    assertEquals(hardwareRoof(withMeasured.here, "fp32").bandwidthBytesPerS, 20e9);
    // Only fp32 was measured: the notebook's fp16 request falls back to it and says so.
    const [roof] = measuredRoofs(withMeasured, "fp16");
    assertEquals([roof.name, roof.peakFlopsPerS], ["this machine (measured, fp32)", 5e10]);
    assertEquals(
      measuredRoofs(loadHardware(undefined, new URL(`file://${dir}/no.json`)), "fp16"),
      [],
    );
    Deno.writeTextFileSync(
      measured,
      JSON.stringify({
        bad: { name: "b", peakFlopsPerS: { fp16: -1 }, memoryGbPerS: 1, source: "s" },
      }),
    );
    assertThrows(() => loadHardware(undefined, measured), TypeError, "peakFlopsPerS.fp16");
    assertEquals(
      Object.keys(loadHardware(undefined, new URL(`file://${dir}/none.json`))).length,
      Object.keys(JSON.parse(Deno.readTextFileSync(HARDWARE_FILE))).length,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("handout table and derivations render the exact fractions in math", () => {
  const c = modelConfig();
  const md = handoutTable(prefillOps(c))[JUPYTER_DISPLAY]()["text/markdown"] as string;
  const lines = md.split("\n");
  assertEquals(lines[0], "| No. | Computation | Input | Output | Arithmetic Intensity |");
  assertStringIncludes(lines[2], "| 1 | $Q = xW^Q$ |");
  assertStringIncludes(lines[2], "| $\\frac{4096}{3} \\approx 1365.33$ |");
  assert(lines[5].endsWith("| - |"), lines[5]); // step 4: partition
  assertStringIncludes(lines[8], "$\\frac{2048}{17} \\approx 120.47$");
  assertStringIncludes(lines[14], "$\\frac{16384}{9} \\approx 1820.44$");
  const dmd = handoutTable(decodeOps(c))[JUPYTER_DISPLAY]()["text/markdown"] as string;
  assertStringIncludes(dmd, "$\\frac{2048}{2049} \\approx 0.9995$");
  assertStringIncludes(dmd, "$\\frac{524416}{528641} \\approx 0.9920$");
  assertStringIncludes(dmd, "$\\frac{16384}{16389} \\approx 0.9997$");
  const d = derivationLatex(step(prefillOps(c), 7));
  assertStringIncludes(d, "M = L = 4096");
  assertStringIncludes(d, "K = H = 128");
  assertStringIncludes(d, "2 \\cdot 4096 \\cdot 4096 \\cdot 128");
  assertStringIncludes(d, `\\frac{${2 * 4096 * 4096 * 128}}{${2 * (2 * 4096 * 128 + 4096 ** 2)}}`);
  assertThrows(() => derivationLatex(step(prefillOps(c), 9)), RangeError, "merge");
  const roof = hardwareRoof(loadHardware().v100, "fp16");
  const times = layerTimeTable({ decode: decodeOps(c) }, [roof])[JUPYTER_DISPLAY]();
  assertStringIncludes(times["text/markdown"] as string, "| 100.0 % |");
});

Deno.test("roofline figure: roofs bend at the ridge, operations sit on min(P, I·W)", () => {
  const c = modelConfig();
  const v100 = hardwareRoof(loadHardware().v100, "fp16");
  const h100 = hardwareRoof(loadHardware().h100, "fp16");
  const fig = layerRooflineFigure(
    [{ name: "prefill", ops: prefillOps(c) }, { name: "decode", ops: decodeOps(c) }],
    [v100, h100],
  );
  // Per roof: the roof line, then prefill and decode markers; then the key to the two markers.
  assertEquals(fig.data.length, 8);
  assertEquals(fig.data.slice(6).map((t) => t.name), ["prefill", "decode"]);
  // One legend entry per GPU: the points toggle with their roof.
  assertEquals(fig.data.filter((t) => t.showlegend === false).length, 4);
  const roofLine = fig.data[0] as { x: number[]; y: number[] };
  assertAlmostEquals(roofLine.x[1], 125e12 / 900e9, 1e-9);
  assertAlmostEquals(roofLine.y[1], 125, 1e-9);
  assertAlmostEquals(roofLine.y[0], roofLine.x[0] * 0.9, 1e-12); // 900 GB/s = 0.9 TFLOP/s per FLOP/B
  // Decode's three intensities lie within 1%: one label for the cluster, on the V100 only.
  const decodeOnV100 = fig.data[2] as { x: number[]; y: number[]; text: string[] };
  assertEquals(decodeOnV100.text, ["1,2,4,9,10,12,13,15", "", ""]);
  assertAlmostEquals(decodeOnV100.x[1], 4096 / 4098, 1e-12);
  assertAlmostEquals(decodeOnV100.y[1], (4096 / 4098) * 0.9, 1e-12);
  const prefillOnV100 = fig.data[1] as { text: string[] };
  assertEquals(prefillOnV100.text, ["7,8", "1,2,3,10", "11,13"]);
  const prefillOnH100 = fig.data[4] as { y: number[]; text: string[]; hovertext: string[] };
  assertEquals(prefillOnH100.text, ["", "", ""]);
  assertStringIncludes(prefillOnH100.hovertext[0], "7: Score_i");
  // On the H100 (ridge 989/3.35 ≈ 295) the attention products at 120.5 FLOP/B are memory-bound.
  assertAlmostEquals(prefillOnH100.y[0], (2048 / 17) * 3.35, 1e-9);
  assertAlmostEquals(prefillOnH100.y[1], 989, 1e-9);
  const sweep = intensitySweep(c, "decode", "batch", [1, 64]);
  const sf = intensitySweepFigure(sweep, [v100]);
  assertEquals(sf.data.length, sweep.series.length + 1);
  assertEquals((sf.data.at(-1) as { y: number[] }).y, [125e12 / 900e9, 125e12 / 900e9]);
});

Deno.test("computeBoundFrom finds the first compute-bound size (brute force over B)", () => {
  for (const id of ["v100", "a100", "h100"]) {
    const roof = hardwareRoof(loadHardware()[id], "fp16");
    const ridge = roof.peakFlopsPerS / roof.bandwidthBytesPerS;
    // Decode t·W^Q: B·D/(2B + D) must exceed the ridge; scan B = 1, 2, … by hand.
    let b = 1;
    while ((b * D) / (2 * b + D) <= ridge) b++;
    assertEquals(computeBoundFrom(modelConfig(), "decode", "batch", 1, roof), b, id);
    // Prefill x·W^Q has the same form in L.
    assertEquals(computeBoundFrom(modelConfig(), "prefill", "seqLen", 1, roof), b, id);
    // Decode attention never gets there: its intensity is below 1 for any batch.
    assertEquals(computeBoundFrom(modelConfig(), "decode", "batch", 9, roof, 4096), undefined);
  }
  assertThrows(
    () =>
      computeBoundFrom(
        modelConfig(),
        "decode",
        "batch",
        3,
        hardwareRoof(loadHardware().v100, "fp16"),
      ),
    RangeError,
    "step 3 of decode is not a matmul",
  );
});

Deno.test("KV cache bytes: 2 · B · layers · tokens · n_KV · H · b", () => {
  // Llama-2-7B: 2 · 32 layers · 32 heads · 128 · 2 bytes = 512 KiB per token.
  assertEquals(kvCacheBytes(modelConfig({ preset: "llama-2-7b" }), 1), 524288n);
  // Llama-3-8B: 8 KV heads, a quarter of that.
  assertEquals(kvCacheBytes(modelConfig({ preset: "llama-3-8b" }), 1), 131072n);
  // OPT-350m, 4 sequences of 2048 tokens in FP32: 2 · 4 · 24 · 2048 · 1024 · 4.
  assertEquals(
    kvCacheBytes(modelConfig({ preset: "opt-350m", batch: 4, dtype: "fp32" })),
    BigInt(2 * 4 * 24 * 2048 * 1024 * 4),
  );
  assertThrows(() => kvCacheBytes(modelConfig(), -1), RangeError, "tokens");
});
