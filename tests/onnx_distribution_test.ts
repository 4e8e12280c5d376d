import { assertAlmostEquals, assertEquals, assertStringIncludes } from "@std/assert";
import { distributionPlot, nextTokenDistribution } from "../lib/show/distribution.ts";
import { Pcg32 } from "../lib/decoding/rng.ts";
import { JUPYTER_DISPLAY, PLOTLY_MIME } from "../lib/show/mod.ts";

Deno.test("a hand-worked distribution: top-k 3 then top-p 0.7 keeps two tokens", () => {
  const probs = [0.05, 0.5, 0.15, 0.3];
  const d = nextTokenDistribution(Float32Array.from(probs, Math.log), {
    topK: 3,
    topP: 0.7,
    tokenText: (t) => "abcd"[t],
  });
  // ranks: b .5, d .3, c .15, a .05. Top-3 drops a; renormalised over .95: .526, .316, .158.
  // top-p 0.7 removes ascending while cumulative <= 0.3: c (.158) goes, then d would cross.
  assertEquals(d.tokens.map((t) => t.text), ["b", "d", "c", "a"]);
  assertEquals(d.tokens.map((t) => t.fate), [
    "kept",
    "kept",
    "removed by top-p",
    "removed by top-k",
  ]);
  assertEquals([d.keptByTopK, d.keptTokens], [3, 2]);
  assertAlmostEquals(d.keptMass, 0.8, 1e-6);
  assertAlmostEquals(d.tokens[1].cumulativeAfterTopK, 0.8 / 0.95, 1e-6);
  assertAlmostEquals(d.tokens[0].sampleProbability, 0.5 / 0.8, 1e-6);
  assertAlmostEquals(d.tokens[2].sampleProbability, 0, 0);
});

Deno.test("random distributions: pool sizes match a brute-force nucleus over sorted probabilities", () => {
  const rng = new Pcg32(11);
  for (let trial = 0; trial < 200; trial++) {
    const n = 2 + Math.floor(rng.uniform() * 60);
    const raw = Array.from({ length: n }, () => rng.exponential() ** 3);
    const z = raw.reduce((a, b) => a + b, 0);
    const probs = raw.map((x) => x / z);
    const k = Math.floor(rng.uniform() * (n + 3));
    const p = 0.05 + 0.95 * rng.uniform();
    const d = nextTokenDistribution(Float64Array.from(probs, Math.log), {
      topK: k,
      topP: p,
      tokenText: String,
      shown: n,
    });
    // brute force: the k best, renormalised; smallest prefix whose mass reaches p (HF keeps
    // the token whose mass crosses 1 - p counted from the bottom, i.e. a prefix with mass >= p
    // up to float ties)
    const sorted = [...probs].sort((a, b) => b - a);
    const kk = k === 0 ? n : Math.min(k, n);
    const top = sorted.slice(0, kk);
    const mass = top.reduce((a, b) => a + b, 0);
    let pool = 0, cum = 0;
    while (pool < kk && cum / mass < p - 1e-12) cum += top[pool++];
    assertEquals(d.keptByTopK, kk, `trial ${trial}`);
    if (p < 1) assertEquals(d.keptTokens, Math.max(1, pool), `trial ${trial}`);
    const kept = d.tokens.filter((t) => t.fate === "kept");
    assertEquals(kept.map((t) => t.rank), Array.from({ length: kept.length }, (_, i) => i + 1));
    assertAlmostEquals(kept.reduce((a, t) => a + t.sampleProbability, 0), 1, 1e-9);
  }
});

Deno.test("the plot marks both cut-offs and colours bars by fate", () => {
  const probs = [0.4, 0.25, 0.15, 0.1, 0.05, 0.05];
  const d = nextTokenDistribution(Float32Array.from(probs, Math.log), {
    topK: 4,
    topP: 0.6,
    tokenText: (t) => ` w${t}`,
  });
  const fig = distributionPlot(d)[JUPYTER_DISPLAY]()[PLOTLY_MIME] as {
    data: { name: string; x: number[] }[];
    layout: { shapes: { x0?: number; y0?: number }[]; annotations: { text: string }[] };
  };
  assertEquals(fig.data.map((t) => t.name), [
    "kept",
    "removed by top-p",
    "removed by top-k",
    "cumulative p after top-k",
  ]);
  // top-k keeps 4 (line after rank 4); top-p: renormalised .444 .278 → 2 kept (line after 2)
  assertEquals(fig.layout.shapes.filter((s) => s.x0 !== undefined && s.y0 === 0).map((s) => s.x0), [
    4.5,
    2.5,
  ]);
  assertStringIncludes(fig.layout.annotations.map((a) => a.text).join(" "), "top-k = 4");
});
