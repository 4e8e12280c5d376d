/**
 * Tests of the decoding engine against small independent references written here: closed-form
 * filter results, a plain beam search, hand-derived HF beam-scorer scenarios, brute-force
 * Plackett–Luce inclusion probabilities and chi-square bounds on sampled frequencies.
 *
 * @module
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertLess,
  assertNotEquals,
  assertRejects,
  assertThrows,
} from "@std/assert";
import type { DecodeState, LanguageModel, StepRequest } from "../lib/decoding/language_model.ts";
import {
  beamSample,
  beamSearch,
  generate,
  greedySearch,
  sample,
} from "../lib/decoding/generate.ts";
import type { TraceStep } from "../lib/decoding/trace.ts";
import {
  applyProcessors,
  logitsProcessors,
  softmax,
  temperature,
  topK,
  topP,
} from "../lib/decoding/processors.ts";
import { Pcg32 } from "../lib/decoding/rng.ts";
import { multinomial, topIndices } from "../lib/decoding/select.ts";

// ---------- test fixtures: an independent PRNG and models defined by a function of the prefix

/** mulberry32, a generator independent of the one under test. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-probabilities (float32, like a real model) from probabilities. */
function logOf(probs: number[]): Float32Array {
  return Float32Array.from(probs, Math.log);
}

/** Random log-probabilities that depend only on (seed, prefix). */
function randomRow(seed: number, prefix: readonly number[], vocab: number): Float32Array {
  let h = seed;
  for (const t of prefix) h = Math.imul(h ^ (t + 1), 0x9e3779b1) >>> 0;
  const rand = mulberry32(h);
  const w = Array.from({ length: vocab }, () => rand() ** 3 + 1e-3);
  const z = w.reduce((a, b) => a + b, 0);
  return logOf(w.map((x) => x / z));
}

interface Calls {
  starts: number;
  steps: { parents: number[]; tokens: number[] }[];
}

/**
 * A stateful model, like a KV-cached one: it keeps one prefix per row and follows `parents`
 * to build the next rows; its distribution is `rowOf(prefix)`. It records every call and
 * rejects use of a consumed state.
 */
function prefixModel(
  vocabSize: number,
  rowOf: (prefix: readonly number[]) => Float32Array,
  eosTokenIds: number[] = [],
): LanguageModel & { calls: Calls } {
  const calls: Calls = { starts: 0, steps: [] };
  const stateOf = (prefixes: number[][]): DecodeState => {
    let used = false;
    return {
      logProbs: prefixes.map(rowOf),
      step(parents, tokens) {
        if (used) throw new Error("state used after step");
        used = true;
        calls.steps.push({ parents: [...parents], tokens: [...tokens] });
        return Promise.resolve(stateOf(parents.map((p, i) => [...prefixes[p], tokens[i]])));
      },
      dispose() {},
    };
  };
  return {
    vocabSize,
    eosTokenIds,
    calls,
    tokenText: (id) => `t${id}`,
    start(prompt, rows) {
      calls.starts++;
      return Promise.resolve(stateOf(Array.from({ length: rows }, () => [...prompt])));
    },
  };
}

/** Re-scores `tokens` after `prompt` from scratch (no cache): the reference log-probability. */
function rescore(
  rowOf: (prefix: readonly number[]) => Float32Array,
  prompt: number[],
  tokens: number[],
) {
  let lp = 0;
  tokens.forEach((t, i) => lp += rowOf([...prompt, ...tokens.slice(0, i)])[t]);
  return lp;
}

/** A plain beam search without EOS: keep the numBeams best prefixes by summed log-prob. */
function referenceBeamSearch(
  rowOf: (prefix: readonly number[]) => Float32Array,
  numBeams: number,
  steps: number,
): { tokens: number[]; logProb: number }[] {
  let beams = [{ tokens: [] as number[], logProb: 0 }];
  for (let s = 0; s < steps; s++) {
    const all = beams.flatMap((b) =>
      Array.from(
        rowOf(b.tokens),
        (lp, t) => ({ tokens: [...b.tokens, t], logProb: b.logProb + lp }),
      )
    );
    all.sort((a, b) => b.logProb - a.logProb);
    beams = all.slice(0, numBeams);
  }
  return beams;
}

// ---------- the generator

Deno.test("Pcg32 reproduces the pcg32-demo reference output (seed 42, stream 54)", () => {
  const rng = new Pcg32(42, 54);
  const got = Array.from({ length: 6 }, () => rng.nextUint32());
  assertEquals(got, [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
});

/** PCG32 in BigInt, straight from the C reference: a second implementation to compare with. */
function* pcg32Reference(seed: bigint, stream: bigint): Generator<number> {
  const mask = (1n << 64n) - 1n;
  const inc = ((stream << 1n) | 1n) & mask;
  let state = 0n;
  const next = () => {
    const old = state;
    state = (old * 6364136223846793005n + inc) & mask;
    const xorshifted = Number((((old >> 18n) ^ old) >> 27n) & 0xffffffffn);
    const rot = Number(old >> 59n);
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  };
  next();
  state = (state + seed) & mask;
  next();
  while (true) yield next();
}

Deno.test("Pcg32 (32-bit halves) equals a BigInt transcription of the C reference", () => {
  for (
    const [seed, stream] of [[0, 0], [1, 0], [42, 54], [2 ** 53 - 1, 12345], [987654321, 2 ** 40]]
  ) {
    const rng = new Pcg32(seed, stream);
    const ref = pcg32Reference(BigInt(seed), BigInt(stream));
    for (let i = 0; i < 2000; i++) {
      assertEquals(rng.nextUint32(), ref.next().value, `seed ${seed} #${i}`);
    }
  }
});

Deno.test("Pcg32: same seed same stream, other seed other stream; uniforms in [0, 1)", () => {
  const a = new Pcg32(7), b = new Pcg32(7), c = new Pcg32(8);
  const xs = Array.from({ length: 100 }, () => a.uniform());
  assertEquals(xs, Array.from({ length: 100 }, () => b.uniform()));
  assertNotEquals(xs, Array.from({ length: 100 }, () => c.uniform()));
  const many = Array.from({ length: 20000 }, () => a.uniform());
  assert(many.every((u) => u >= 0 && u < 1));
  assertAlmostEquals(many.reduce((s, u) => s + u, 0) / many.length, 0.5, 0.01);
  assertThrows(() => new Pcg32(-1), RangeError, "seed");
});

// ---------- processors

Deno.test("temperature divides log-probs: softmax gives p^(1/T) renormalised", () => {
  const p = [0.5, 0.3, 0.15, 0.05];
  for (const t of [0.5, 0.7, 2]) {
    const got = softmax(temperature(logOf(p), t));
    const w = p.map((x) => x ** (1 / t));
    const z = w.reduce((a, b) => a + b, 0);
    w.forEach((x, i) => assertAlmostEquals(got[i], x / z, 1e-6));
  }
  assertThrows(() => temperature([0], 0), RangeError, "temperature");
});

Deno.test("top-k keeps every token tied with the k-th score; 0 disables; minTokensToKeep raises k", () => {
  const scores = [1, 3, 3, 2, 3, 0];
  const kept = (xs: Float64Array) => [...xs.keys()].filter((i) => xs[i] > -Infinity);
  assertEquals(kept(topK(scores, 2)), [1, 2, 4]); // the 2nd best is 3, tied three ways
  assertEquals(kept(topK(scores, 4)), [1, 2, 3, 4]);
  assertEquals(kept(topK(scores, 0)), [0, 1, 2, 3, 4, 5]);
  assertEquals(kept(topK([5, 4, 3], 1, 2)), [0, 1]);
  assertEquals(kept(topK([5, 4, 3], 10)), [0, 1, 2]);
  assertThrows(() => topK(scores, -1), RangeError, "top_k");
});

Deno.test("top-p keeps the token whose mass crosses p (random distributions vs a direct rule)", () => {
  const kept = (xs: Float64Array) => [...xs.keys()].filter((i) => xs[i] > -Infinity);
  // 0.5 < 0.75, so 0.3 crosses the threshold and stays; 0.5 + 0.3 >= 0.75 so 0.15 goes.
  assertEquals(kept(topP(logOf([0.5, 0.3, 0.15, 0.05]), 0.75)), [0, 1]);
  assertEquals(kept(topP(logOf([0.15, 0.05, 0.5, 0.3]), 0.85)), [0, 2, 3]);
  assertEquals(kept(topP(logOf([0.5, 0.3, 0.15, 0.05]), 0.4)), [0]);
  assertEquals(kept(topP(logOf([0.5, 0.3, 0.15, 0.05]), 1)), [0, 1, 2, 3]);
  const rand = mulberry32(11);
  for (let trial = 0; trial < 300; trial++) {
    const n = 2 + Math.floor(rand() * 8);
    const w = Array.from({ length: n }, () => rand() + 0.01);
    const z = w.reduce((a, b) => a + b, 0);
    const p = w.map((x) => x / z);
    const q = rand();
    // Direct rule: walk from the most likely; a token is kept if the mass before it is < q.
    const order = [...p.keys()].sort((a, b) => p[b] - p[a]);
    const expected: number[] = [];
    let before = 0;
    let nearBoundary = false;
    for (const i of order) {
      if (Math.abs(before - q) < 1e-6) nearBoundary = true;
      if (before < q || expected.length === 0) expected.push(i);
      before += p[i];
    }
    if (nearBoundary) continue;
    assertEquals(kept(topP(logOf(p), q)), expected.sort((a, b) => a - b), `p=${p} q=${q}`);
  }
});

Deno.test("top-p honours minTokensToKeep and the list applies temperature, then top-k, then top-p", () => {
  const warp = (
    scores: ArrayLike<number>,
    o: { temperature: number; topK: number; topP: number },
  ) => {
    const r = applyProcessors(
      logitsProcessors({ doSample: true, ...o }),
      [],
      Float64Array.from(scores),
    );
    return { scores: r.scores, removedByTopK: r.removed.top_k, removedByTopP: r.removed.top_p };
  };
  const kept = (xs: Float64Array) => [...xs.keys()].filter((i) => xs[i] > -Infinity);
  assertEquals(kept(topP(logOf([0.9, 0.05, 0.05]), 0.01, 2)).length, 2);
  // T = 0.5 squares then renormalises: [0.4, 0.3, 0.2, 0.1] -> [16, 9, 4, 1] / 30.
  // Top-k 3 removes 0.1; top-p 0.6 over [16, 9, 4] / 29 keeps 16/29 = 0.55 < 0.6 and 9/29.
  const r = warp(logOf([0.4, 0.3, 0.2, 0.1]), { temperature: 0.5, topK: 3, topP: 0.6 });
  assertEquals(kept(r.scores), [0, 1]);
  assertEquals([r.removedByTopK, r.removedByTopP], [1, 1]);
  const probs = softmax(r.scores);
  assertAlmostEquals(probs[0], 16 / 25, 1e-6);
  assertAlmostEquals(probs[1], 9 / 25, 1e-6);
  // If top-p ran before temperature it would keep [0.4, 0.3] too, but with top-p 0.5 the order
  // shows: tempered 16/29 >= 0.5 keeps one token; untempered 0.4/0.9 < 0.5 would keep two.
  assertEquals(
    kept(warp(logOf([0.4, 0.3, 0.2, 0.1]), { temperature: 0.5, topK: 3, topP: 0.5 }).scores),
    [0],
  );
});

// ---------- selection

Deno.test("topIndices returns the k largest finite values, ties to the lower index", () => {
  const rand = mulberry32(5);
  for (let trial = 0; trial < 200; trial++) {
    const xs = Array.from(
      { length: 1 + Math.floor(rand() * 30) },
      () => rand() < 0.2 ? -Infinity : Math.floor(rand() * 6),
    );
    const k = 1 + Math.floor(rand() * 10);
    const expected = [...xs.keys()].filter((i) => xs[i] > -Infinity)
      .sort((a, b) => xs[b] - xs[a] || a - b).slice(0, k);
    assertEquals(topIndices(xs, k), expected);
  }
});

Deno.test("multinomial draws without replacement with Plackett–Luce inclusion probabilities", () => {
  const w = [0.4, 0.25, 0.15, 0.1, 0.07, 0.03];
  const n = 3;
  // Brute force: every ordered draw of n distinct indices, sequentially without replacement.
  const inclusion = w.map(() => 0);
  const walk = (chosen: number[], prob: number) => {
    if (chosen.length === n) {
      for (const i of chosen) inclusion[i] += prob;
      return;
    }
    const rest = w.reduce((s, x, i) => chosen.includes(i) ? s : s + x, 0);
    w.forEach((x, i) => {
      if (!chosen.includes(i)) walk([...chosen, i], prob * x / rest);
    });
  };
  walk([], 1);
  const rng = new Pcg32(2024);
  const runs = 20000;
  const counts = w.map(() => 0);
  const firstCounts = w.map(() => 0);
  for (let r = 0; r < runs; r++) {
    const drawn = multinomial(w, n, rng);
    assertEquals(new Set(drawn).size, n);
    drawn.forEach((i) => counts[i]++);
    firstCounts[drawn[0]]++;
  }
  counts.forEach((c, i) => assertAlmostEquals(c / runs, inclusion[i], 0.02));
  firstCounts.forEach((c, i) => assertAlmostEquals(c / runs, w[i], 0.02));
  assertEquals(multinomial([0, 1, 0, 2], 4, rng).sort(), [1, 3]);
});

// ---------- sampling

Deno.test("sampling frequencies match the filtered distribution (chi-square, fixed seed)", async () => {
  const p = [0.35, 0.25, 0.2, 0.1, 0.06, 0.04];
  const model = prefixModel(p.length, () => logOf(p));
  const runs = 20000;
  const out = await sample(model, [], {
    maxNewTokens: 1,
    numReturnSequences: runs,
    temperature: 0.8,
    topK: 4,
    topP: 0.8,
    seed: 99,
  });
  // Independent filtered distribution: p^(1/0.8), keep 4 best, then the nucleus at 0.8.
  const tempered = p.map((x) => x ** 1.25);
  const top4 = tempered.slice(0, 4);
  const z4 = top4.reduce((a, b) => a + b, 0);
  const q = top4.map((x) => x / z4);
  const nucleus: number[] = [];
  let mass = 0;
  for (const x of q) {
    if (mass < 0.8) nucleus.push(x);
    mass += x;
  }
  const zn = nucleus.reduce((a, b) => a + b, 0);
  const expected = p.map((_, i) => i < nucleus.length ? nucleus[i] / zn : 0);
  const counts = p.map(() => 0);
  for (const s of out.sequences) counts[s.tokens[0]]++;
  let chi2 = 0;
  expected.forEach((e, i) => {
    if (e === 0) assertEquals(counts[i], 0, `token ${i} was filtered but sampled`);
    else chi2 += (counts[i] - runs * e) ** 2 / (runs * e);
  });
  // Degrees of freedom = nucleus - 1 (here 2): P(chi2 > 16) < 0.0004.
  assertEquals(nucleus.length, 3);
  assertLess(chi2, 16);
});

Deno.test("sampling: the same seed reproduces, another seed differs", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(3, prefix, 50);
  const model = prefixModel(50, rowOf);
  const options = { maxNewTokens: 12, topK: 0, numReturnSequences: 3, seed: 5 };
  const a = await sample(model, [1, 2], options);
  const b = await sample(model, [1, 2], options);
  const c = await sample(model, [1, 2], { ...options, seed: 6 });
  assertEquals(a.sequences, b.sequences);
  assertNotEquals(a.sequences.map((s) => s.tokens), c.sequences.map((s) => s.tokens));
  for (const s of a.sequences) {
    assertAlmostEquals(s.logProb, rescore(rowOf, [1, 2], s.tokens), 1e-9);
  }
});

Deno.test("sampling stops a row at EOS and drops it from the next step's batch", async () => {
  // Token 0 is EOS with probability 0.5 at every step.
  const model = prefixModel(3, () => logOf([0.5, 0.3, 0.2]), [0]);
  const out = await sample(model, [], { maxNewTokens: 6, numReturnSequences: 8, topK: 0, seed: 1 });
  for (const s of out.sequences) {
    const eosAt = s.tokens.indexOf(0);
    if (eosAt >= 0) {
      assertEquals(eosAt, s.tokens.length - 1);
      assertEquals(s.finishReason, "eos");
    } else assertEquals(s.tokens.length, 6);
  }
  // Each step batches exactly the rows still running.
  model.calls.steps.forEach((call, i) => {
    const running = out.sequences.filter((s) => s.tokens.length > i + 1 && s.tokens[i] !== 0);
    assertEquals(call.parents.length, running.length);
  });
});

// ---------- greedy and beam search

Deno.test("greedy search picks the argmax and equals beam search of width 1", async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rowOf = (prefix: readonly number[]) => randomRow(seed, prefix, 7);
    const eos = seed % 2 === 0 ? [0] : [];
    const g = await greedySearch(prefixModel(7, rowOf, eos), [], { maxNewTokens: 6 });
    const b = await beamSearch(prefixModel(7, rowOf, eos), [], { maxNewTokens: 6, numBeams: 1 });
    assertEquals(g.sequences[0].tokens, b.sequences[0].tokens);
    assertAlmostEquals(g.sequences[0].logProb, b.sequences[0].logProb, 1e-9);
    // Independent greedy: argmax of the row at every step, until EOS.
    const tokens: number[] = [];
    while (tokens.length < 6) {
      const row = rowOf(tokens);
      const best = row.indexOf(Math.max(...row));
      tokens.push(best);
      if (eos.includes(best)) break;
    }
    assertEquals(g.sequences[0].tokens, tokens);
  }
});

Deno.test("greedy search without sequence scores asks for the argmax only and reports NaN scores", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(5, prefix, 9);
  const requests: (StepRequest | undefined)[] = [];
  const inner = prefixModel(9, rowOf);
  // Records what each call asks for; answers with full rows as a model without a head would.
  const wrap = (state: DecodeState): DecodeState => ({
    logProbs: state.logProbs,
    step: async (parents, tokens, request) => {
      requests.push(request);
      return wrap(await state.step(parents, tokens, request));
    },
    dispose: () => state.dispose(),
  });
  const model: LanguageModel = {
    ...inner,
    start: async (prompt, rows, request) => {
      requests.push(request);
      return wrap(await inner.start(prompt, rows, request));
    },
  };
  const scored = await greedySearch(prefixModel(9, rowOf), [1], { maxNewTokens: 5 });
  const bare = await greedySearch(model, [1], { maxNewTokens: 5, sequenceScores: false });
  assertEquals(bare.sequences[0].tokens, scored.sequences[0].tokens);
  assert(Number.isFinite(scored.sequences[0].logProb));
  const { score, sumScores, logProb } = bare.sequences[0];
  assert([score, sumScores, logProb].every(Number.isNaN));
  assertEquals(requests, Array(5).fill({ topK: 1, logProbs: false }));
  await assertRejects(
    () => beamSearch(model, [1], { maxNewTokens: 2, numBeams: 2, sequenceScores: false }),
    RangeError,
    "sequenceScores: false is for greedy search; beam_search ranks by the scores",
  );
  await assertRejects(
    () => greedySearch(model, [1], { maxNewTokens: 2, sequenceScores: "no" as never }),
    RangeError,
    "sequenceScores must be true or false, got no",
  );
});

Deno.test("beam search equals a plain reference beam search on random models (no EOS)", async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const vocab = 3 + (seed % 5);
    const numBeams = 1 + (seed % 4);
    const steps = 1 + (seed % 4);
    const rowOf = (prefix: readonly number[]) => randomRow(seed * 7, prefix, vocab);
    const model = prefixModel(vocab, rowOf);
    const out = await beamSearch(model, [], {
      maxNewTokens: steps,
      numBeams,
      numReturnSequences: numBeams,
    });
    const ref = referenceBeamSearch(rowOf, numBeams, steps);
    assertEquals(out.sequences.map((s) => s.tokens), ref.map((r) => r.tokens), `seed ${seed}`);
    out.sequences.forEach((s, i) => {
      assertAlmostEquals(s.logProb, ref[i].logProb, 1e-9);
      assertAlmostEquals(s.score, ref[i].logProb / steps, 1e-9); // length penalty 1
    });
  }
});

Deno.test("beam search batches all beams in one step call and parents reorder the cache", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(77, prefix, 9);
  const model = prefixModel(9, rowOf);
  const out = await beamSearch(model, [4, 2], {
    maxNewTokens: 5,
    numBeams: 3,
    numReturnSequences: 3,
  });
  assertEquals(model.calls.starts, 1);
  // Steps 1..5 need 4 model calls after the prefill (the last tokens need no forward pass).
  assertEquals(model.calls.steps.length, 4);
  for (const call of model.calls.steps) assertEquals(call.parents.length, 3);
  // The model followed the parents: each returned sequence re-scored from scratch matches.
  for (const s of out.sequences) {
    assertAlmostEquals(s.logProb, rescore(rowOf, [4, 2], s.tokens), 1e-9);
  }
  // The parents must actually reorder at some step (otherwise this test could not fail).
  assert(model.calls.steps.some((c) => c.parents.join() !== "0,1,2"));
});

/**
 * A hand-made model with EOS = 0, x = 1, y = 2:
 *   root: EOS .5, x .3, y .2;  after x: EOS .9, x .05, y .05;  after y: EOS .1, x .6, y .3;
 *   any longer prefix: EOS .2, x .5, y .3.
 */
function eosModel(): LanguageModel & { calls: Calls } {
  return prefixModel(3, (prefix) => {
    if (prefix.length === 0) return logOf([0.5, 0.3, 0.2]);
    if (prefix.length === 1) return logOf(prefix[0] === 1 ? [0.9, 0.05, 0.05] : [0.1, 0.6, 0.3]);
    return logOf([0.2, 0.5, 0.3]);
  }, [0]);
}

Deno.test("beam search: EOS hypotheses, length penalty and early stopping (hand-derived, HF 4.4x)", async () => {
  const f = Math.fround;
  const lp = (...ps: number[]) => ps.reduce((s, p) => s + f(Math.log(p)), 0);
  // Length penalty 1. Step 1: EOS (rank 0) finishes "E" with -0.693/1; x, y become beams.
  // Step 2: x·EOS (.27, rank 0) finishes with log .27 / 2 (EOS counts in the length); y·x, y·y
  // are the beams. Step 3: best candidate y·x·x = .06; -0.693 >= log(.06)/3, so done.
  const one = await beamSearch(eosModel(), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
  });
  assertEquals(one.sequences.map((s) => s.tokens), [[1, 0], [0]]);
  assertAlmostEquals(one.sequences[0].score, lp(0.3, 0.9) / 2, 1e-6);
  assertAlmostEquals(one.sequences[1].score, lp(0.5) / 1, 1e-6);
  assertEquals(one.sequences.map((s) => s.finishReason), ["eos", "eos"]);
  // Length penalty 0: raw sums, so "E" (-0.69) beats "x E" (-1.31).
  const zero = await beamSearch(eosModel(), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    lengthPenalty: 0,
  });
  assertEquals(zero.sequences.map((s) => s.tokens), [[0], [1, 0]]);
  assertAlmostEquals(zero.sequences[0].score, lp(0.5), 1e-6);
  // Length penalty 2 favours length. early_stopping true stops at step 2 with two hypotheses.
  const early = await beamSearch(eosModel(), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    lengthPenalty: 2,
    earlyStopping: true,
  });
  assertEquals(early.steps, 2);
  assertEquals(early.sequences.map((s) => s.tokens), [[1, 0], [0]]);
  // early_stopping false keeps going (-0.693 < log(.27)/4); at the limit y·x·x (log .06 / 9)
  // enters, evicting "E"; y·x·y (log .036 / 9) is worse than "x E" (log .27 / 4).
  const late = await beamSearch(eosModel(), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    lengthPenalty: 2,
  });
  assertEquals(late.steps, 3);
  assertEquals(late.sequences.map((s) => s.tokens), [[2, 1, 1], [1, 0]]);
  assertAlmostEquals(late.sequences[0].score, lp(0.2, 0.6, 0.5) / 9, 1e-6);
  assertEquals(late.sequences[0].finishReason, "length");
  assertAlmostEquals(late.sequences[1].score, lp(0.3, 0.9) / 4, 1e-6);
});

Deno.test('beam search: early_stopping "never" runs until no beam can win; false stops early', async () => {
  const heuristic = await beamSearch(eosModel(), [], {
    maxNewTokens: 10,
    numBeams: 2,
    numReturnSequences: 2,
  });
  const never = await beamSearch(eosModel(), [], {
    maxNewTokens: 10,
    numBeams: 2,
    numReturnSequences: 2,
    earlyStopping: "never",
  });
  // false: done at step 3 (see above). "never" with penalty 1 divides the best candidate by
  // max length 10: it stops only once the best beam's sum drops under 10 · log(.5) ≈ -6.93.
  assertEquals(heuristic.steps, 3);
  assertGreater(never.steps, 3);
  assertEquals(never.sequences.map((s) => s.tokens), heuristic.sequences.map((s) => s.tokens));
});

Deno.test("beam search: an EOS ranked below numBeams is not a hypothesis; trace records fates", async () => {
  const out = await beamSearch(eosModel(), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    trace: true,
  });
  const steps = out.trace!.steps;
  const fate = (s: TraceStep, parentTokens: number[], token: number) =>
    s.candidates.find((c) =>
      c.token === token && s.rows[c.parent].tokens.join() === parentTokens.join()
    )!;
  assertEquals(fate(steps[0], [], 0).status, "finished");
  assertEquals(fate(steps[0], [], 1).status, "kept");
  assertEquals(fate(steps[1], [1], 0).status, "finished");
  assertEquals(fate(steps[1], [2], 1).status, "kept");
  // Step 2 ranks: xE .27, yx .12, yy .06, yE .02 (rank 3): beams fill first, so yE is pruned.
  assertEquals(fate(steps[1], [2], 0).status, "pruned");
  assertEquals(fate(steps[1], [1], 1).status, "pruned");
  for (const s of steps) {
    for (const c of s.candidates) {
      assertAlmostEquals(c.cumLogProb, s.rows[c.parent].logProb + c.logProb, 1e-12);
      assertAlmostEquals(c.probability, Math.exp(c.cumLogProb), 1e-12);
    }
  }
});

Deno.test("numReturnSequences > numBeams, greedy with several sequences and bad options are rejected", async () => {
  const model = eosModel();
  await assertRejects(
    () => generate(model, [], { maxNewTokens: 2, numBeams: 2, numReturnSequences: 3 }),
    RangeError,
    "numReturnSequences (3) must be <= numBeams (2)",
  );
  await assertRejects(
    () => generate(model, [], { maxNewTokens: 2, numReturnSequences: 2 }),
    RangeError,
    "greedy",
  );
  await assertRejects(() => generate(model, [], { maxNewTokens: 0 }), RangeError, "maxNewTokens");
  await assertRejects(
    () => generate(model, [7], { maxNewTokens: 1 }),
    RangeError,
    "promptIds holds 7",
  );
  await assertRejects(
    () => generate(model, [], { maxNewTokens: 1, doSample: true, topP: 1.5 }),
    RangeError,
    "top_p",
  );
  await assertRejects(
    () =>
      generate(model, [], { maxNewTokens: 1, numBeams: 2, earlyStopping: "sometimes" as never }),
    RangeError,
    "earlyStopping",
  );
});

// ---------- beam sampling

Deno.test("beam sampling draws 2·numBeams distinct candidates, sorted by score, reproducibly", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(9, prefix, 6);
  const run = (seed: number) =>
    beamSample(prefixModel(6, rowOf), [], {
      maxNewTokens: 4,
      numBeams: 2,
      numReturnSequences: 2,
      topK: 0,
      seed,
      trace: true,
    });
  const a = await run(1);
  assertEquals((await run(1)).sequences, a.sequences);
  for (const s of a.trace!.steps) {
    const drawn = s.candidates.filter((c) => c.rank !== null).sort((x, y) => x.rank! - y.rank!);
    assertEquals(drawn.length, 4);
    assertEquals(new Set(drawn.map((c) => `${c.parent}:${c.token}`)).size, 4);
    for (let i = 1; i < drawn.length; i++) assert(drawn[i - 1].score >= drawn[i].score);
    assertEquals(drawn.slice(0, 2).map((c) => c.status), ["kept", "kept"]);
  }
  // Across seeds the kept set varies (sampling), unlike beam search.
  const firsts = new Set<string>();
  for (let seed = 0; seed < 20; seed++) firsts.add((await run(seed)).sequences[0].tokens.join());
  assertGreater(firsts.size, 1);
});

Deno.test("beam sampling: warpers keep 2 tokens per beam (HF min_tokens_to_keep) even with top_k 1", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(4, prefix, 8);
  const out = await beamSample(prefixModel(8, rowOf), [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    topK: 1,
    seed: 3,
    trace: true,
  });
  for (const s of out.trace!.steps) for (const f of s.filters!) assertEquals(f.keptTokens, 2);
  // With two tokens per row, each returned token is one of its row's two most likely.
  for (const seq of out.sequences) {
    seq.tokens.forEach((t, i) => {
      const row = rowOf(seq.tokens.slice(0, i));
      const rank = [...row].filter((x) => x > row[t]).length;
      assertLess(rank, 2);
    });
  }
});

Deno.test("beam sampling's first-step candidate frequencies follow the softmax without replacement", async () => {
  // One step, one beam: 2 draws without replacement from p; the best-scoring drawn is kept.
  const p = [0.5, 0.3, 0.15, 0.05];
  const runs = 3000;
  const kept = p.map(() => 0);
  for (let seed = 0; seed < runs; seed++) {
    const out = await beamSample(prefixModel(4, () => logOf(p)), [], {
      maxNewTokens: 1,
      numBeams: 1,
      topK: 0,
      seed,
    });
    kept[out.sequences[0].tokens[0]]++;
  }
  // Kept = the better of two distinct draws: P(i) = sum over j≠i with p_j < p_i of the
  // probability to draw {i, j} in either order.
  const pair = (i: number, j: number) => p[i] * p[j] / (1 - p[i]) + p[j] * p[i] / (1 - p[j]);
  const expected = p.map((_, i) =>
    p.reduce((s, _, j) => j !== i && p[j] < p[i] ? s + pair(i, j) : s, 0)
  );
  assertAlmostEquals(expected.reduce((a, b) => a + b, 0), 1, 1e-12);
  kept.forEach((c, i) => assertAlmostEquals(c / runs, expected[i], 0.03));
});

// ---------- trace and streaming on a large vocabulary

Deno.test("traces of a 4096-token model keep only a few candidates per row; onStep streams", async () => {
  const rowOf = (prefix: readonly number[]) => randomRow(12, prefix, 4096);
  const events: number[] = [];
  const out = await generate(prefixModel(4096, rowOf), [1], {
    maxNewTokens: 4,
    doSample: true,
    numBeams: 3,
    numReturnSequences: 2,
    topK: 50,
    topP: 0.9,
    seed: 0,
    trace: { candidatesPerRow: 5 },
    onStep: (e) => {
      events.push(e.step);
    },
  });
  assertEquals(out.mode, "beam_sample");
  assertEquals(events, [1, 2, 3, 4]);
  assertEquals(out.sequences.length, 2);
  for (const s of out.trace!.steps) {
    assert(s.candidates.length <= s.rows.length * 5 + 6);
    for (const f of s.filters!) {
      assert(f.keptTokens <= 50);
      assertEquals(f.top.length, 5);
      assert(f.top.reduce((m, t) => m + t.warpedProbability, 0) <= 1 + 1e-9);
    }
  }
  const json = JSON.stringify(out.trace);
  assertLess(json.length, 50_000);
});

Deno.test("beam search: an EOS at rank >= numBeams is skipped even while beams are still filling", async () => {
  // EOS = 0, x = 1, y = 2. root: EOS .05, x .5, y .45; after x: EOS .4, x .5, y .1;
  // after y: EOS .6, x .3, y .1. Step 2 ranks: yE .27, xx .25, xE .20 (rank 2), yx .135.
  const model = prefixModel(3, (prefix) => {
    if (prefix.length === 0) return logOf([0.05, 0.5, 0.45]);
    return logOf(prefix[0] === 1 ? [0.4, 0.5, 0.1] : [0.6, 0.3, 0.1]);
  }, [0]);
  const out = await beamSearch(model, [], {
    maxNewTokens: 2,
    numBeams: 2,
    numReturnSequences: 2,
    trace: true,
  });
  const step2 = out.trace!.steps[1];
  const find = (first: number, token: number) =>
    step2.candidates.find((c) => step2.rows[c.parent].tokens[0] === first && c.token === token)!;
  assertEquals([find(2, 0).rank, find(2, 0).status], [0, "finished"]);
  assertEquals([find(1, 1).rank, find(1, 1).status], [1, "kept"]);
  assertEquals([find(1, 0).rank, find(1, 0).status], [2, "pruned"]);
  assertEquals([find(2, 1).rank, find(2, 1).status], [3, "kept"]);
  assertEquals(out.sequences.map((s) => s.tokens), [[2, 0], [1, 1]]);
});
