import { assert, assertEquals, assertThrows } from "@std/assert";
import { SCREEN_MAX_HIDDEN, screenHead } from "../lib/onnx/int8_screen.ts";
import { Pcg32 } from "../lib/decoding/rng.ts";

/** ONNX DynamicQuantizeLinear in float64: uint8, the range widened to hold 0. */
function dynamicQuantize(x: Float32Array) {
  const lo = Math.min(0, ...x), hi = Math.max(0, ...x);
  const scale = (hi - lo) / 255 || 1;
  const zero = Math.max(0, Math.min(255, Math.round(-lo / scale)));
  const q = Array.from(x, (v) => Math.max(0, Math.min(255, Math.round(v / scale) + zero)));
  return { q, scale, zero };
}

/** The exact logits, the screen's approximations and its bound's two terms, in float64. */
function screened(weight: Float32Array, x: Float32Array, hidden: number, vocab: number) {
  const s = screenHead(weight, hidden, vocab);
  const { q, scale, zero } = dynamicQuantize(x);
  const xHat = q.map((v) => (v - zero) * scale);
  const inputError = Math.max(...Array.from(x, (v, d) => Math.abs(v - xHat[d])));
  const xHatL1 = xHat.reduce((a, v) => a + Math.abs(v), 0);
  return Array.from({ length: vocab }, (_, v) => {
    let exact = 0, product = 0;
    for (let d = 0; d < hidden; d++) {
      exact += x[d] * weight[d * vocab + v];
      product += (q[d] - zero) * (s.quantized[d * vocab + v] - 128);
    }
    const error = Math.abs(exact - product * s.scale[v] * scale);
    return { error, fromInput: inputError * s.absSum[v], fromWeight: xHatL1 * s.maxError[v] };
  });
}

Deno.test("the int8 screen's bound holds for every logit of random heads and inputs", () => {
  const rng = new Pcg32(3);
  const hidden = 48, vocab = 40;
  for (let trial = 0; trial < 30; trial++) {
    const weight = Float32Array.from(
      { length: hidden * vocab },
      () => 0.1 * (2 * rng.uniform() - 1),
    );
    const x = Float32Array.from({ length: hidden }, () => 2 * rng.uniform() - 1);
    // Outliers, as trained models' hidden states have: they widen the input's quantization step.
    if (trial % 3 === 0) x[trial % hidden] = 40;
    for (const [v, b] of screened(weight, x, hidden, vocab).entries()) {
      assert(b.error <= b.fromInput + b.fromWeight, `trial ${trial} token ${v}: ${b.error}`);
    }
  }
});

Deno.test("the int8 screen's bound needs both terms: weights off their grid, inputs off theirs", () => {
  const hidden = 48;
  // x = 1 everywhere quantizes exactly; every weight of the column sits 0.49 steps off its code.
  const ones = new Float32Array(hidden).fill(1);
  const offGrid = Float32Array.from({ length: hidden }, (_, d) => d === 0 ? 127 : (d % 100) + 0.49);
  const [a] = screened(offGrid, ones, hidden, 1);
  assert(a.error > a.fromInput && a.error <= a.fromInput + a.fromWeight, JSON.stringify(a));
  // Weights on their grid; x a step's fraction off its own.
  const onGrid = Float32Array.from({ length: hidden }, (_, d) => d === 0 ? 127 : d % 100);
  const x = Float32Array.from({ length: hidden }, (_, d) => d === 0 ? 255 : d + 0.49);
  const [b] = screened(onGrid, x, hidden, 1);
  assert(b.error > b.fromWeight && b.error <= b.fromInput + b.fromWeight, JSON.stringify(b));
});

Deno.test("the int8 screen quantizes each column symmetrically: codes 1 to 255, max error half a step", () => {
  const rng = new Pcg32(11);
  const hidden = 9, vocab = 5;
  const weight = Float32Array.from({ length: hidden * vocab }, () => rng.uniform() - 0.5);
  const s = screenHead(weight, hidden, vocab);
  for (let v = 0; v < vocab; v++) {
    const column = Array.from({ length: hidden }, (_, d) => weight[d * vocab + v]);
    const step = Math.max(...column.map(Math.abs)) / 127;
    assert(Math.abs(s.scale[v] - step) <= step * 1e-6);
    const codes = column.map((_, d) => s.quantized[d * vocab + v]);
    assert(codes.every((c) => c >= 1 && c <= 255) && codes.some((c) => c === 1 || c === 255));
    const error = Math.max(...column.map((w, d) => Math.abs(w - (codes[d] - 128) * s.scale[v])));
    assert(error <= step / 2 * (1 + 1e-6) && s.maxError[v] >= error);
  }
  assertThrows(() => screenHead(weight, hidden, vocab + 1), RangeError, "needs 54 weights; got 45");
  assertThrows(
    () => screenHead(new Float32Array(SCREEN_MAX_HIDDEN + 1), SCREEN_MAX_HIDDEN + 1, 1),
    RangeError,
    "could overflow int32",
  );
  assertEquals(screenHead(new Float32Array(2), 2, 1).maxError[0], 0);
});
