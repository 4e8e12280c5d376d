/**
 * The logits processors beyond the handout's three, each against values worked out here by
 * hand or by a brute-force reading of HF's definition, and their effect inside `generate`.
 */
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  logitsProcessors,
  MinNewTokens,
  MinPWarper,
  NoRepeatNGram,
  RepetitionPenalty,
  TypicalWarper,
} from "../lib/decoding/processors.ts";
import { generate } from "../lib/decoding/generate.ts";
import type { DecodeState, LanguageModel } from "../lib/decoding/language_model.ts";

const row = (xs: number[]) => Float64Array.from(xs);
const logs = (ps: number[]) => row(ps.map(Math.log));
const removed = (xs: Float64Array) => [...xs.keys()].filter((i) => xs[i] === -Infinity);

/** A model whose next-token logits are a fixed function of the prefix; it reports logits. */
function logitModel(
  vocabSize: number,
  logitsOf: (prefix: number[]) => number[],
  eos: number[] = [],
): LanguageModel {
  const stateOf = (prefixes: number[][]): DecodeState => {
    const logits = prefixes.map((p) => Float32Array.from(logitsOf(p)));
    return {
      logits,
      logProbs: logits.map((l) => {
        const z = Math.log(l.reduce((s, x) => s + Math.exp(x), 0));
        return Float32Array.from(l, (x) => x - z);
      }),
      step: (parents, tokens) =>
        Promise.resolve(stateOf(parents.map((p, i) => [...prefixes[p], tokens[i]]))),
      dispose() {},
    };
  };
  return {
    vocabSize,
    eosTokenIds: eos,
    tokenText: (t) => `t${t}`,
    start: (prompt, rows) =>
      Promise.resolve(stateOf(Array.from({ length: rows }, () => [...prompt]))),
  };
}

Deno.test("repetition_penalty divides positive and multiplies negative scores of seen tokens", () => {
  // Seen: 0 and 1 (1 twice counts once). 2 / 2 = 1, -1 · 2 = -2; 2 and 3 untouched.
  assertEquals([...new RepetitionPenalty(2).process([0, 1, 1], row([2, -1, 0.5, 3]))], [
    1,
    -2,
    0.5,
    3,
  ]);
  assertThrows(() => new RepetitionPenalty(0), RangeError, "repetition_penalty");
});

Deno.test("repetition_penalty acts on logits in greedy search, as HF does", async () => {
  // Logits 3 and 2.5 after prompt [0]. On logits: 3 / 1.5 = 2 < 2.5, so token 1 wins.
  // On log-probabilities (both negative) the penalty would multiply: log(e³/(e³+e^2.5)) · 1.5
  // = -0.711 > log(e^2.5/(…)) = -0.974, and token 0 would win.
  const model = logitModel(2, () => [3, 2.5]);
  const plain = await generate(model, [0], { maxNewTokens: 1 });
  assertEquals(plain.sequences[0].tokens, [0]);
  const penalised = await generate(model, [0], { maxNewTokens: 1, repetitionPenalty: 1.5 });
  assertEquals(penalised.sequences[0].tokens, [1]);
});

Deno.test("no_repeat_ngram_size bans the tokens that would repeat an n-gram (brute force)", () => {
  // HF's own example shape: in 1 2 3 1 2, the trigram (1, 2, 3) exists, so after "1 2" 3 is banned.
  assertEquals(removed(new NoRepeatNGram(3).process([1, 2, 3, 1, 2], new Float64Array(5))), [3]);
  // Shorter than n - 1 tokens: nothing to ban.
  assertEquals(removed(new NoRepeatNGram(3).process([1], new Float64Array(5))), []);
  // Brute force: t is banned iff appending it makes the last n tokens equal an earlier n-gram.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let trial = 0; trial < 200; trial++) {
    const n = 1 + Math.floor(rand() * 3);
    const ids = Array.from({ length: Math.floor(rand() * 9) }, () => Math.floor(rand() * 3));
    const expected: number[] = [];
    for (let t = 0; t < 3; t++) {
      const seq = [...ids, t];
      if (seq.length < n) continue;
      const last = seq.slice(-n).join();
      for (let i = 0; i + n <= ids.length; i++) {
        if (ids.slice(i, i + n).join() === last) {
          expected.push(t);
          break;
        }
      }
    }
    assertEquals(
      removed(new NoRepeatNGram(n).process(ids, new Float64Array(3))),
      expected,
      `${n} ${ids}`,
    );
  }
  assertThrows(() => new NoRepeatNGram(0), RangeError, "no_repeat_ngram_size");
});

Deno.test("no_repeat_ngram_size inside greedy search: worked by hand", async () => {
  // P = 0.5, 0.3, 0.2 at every step. Bigrams: 0, 0 (no bigram yet), then (0,0) exists so 0 is
  // banned after 0: 1; after 1 nothing is banned: 0; after 0 both (0,0) and (0,1) exist: 2.
  const model = logitModel(3, () => [0.5, 0.3, 0.2].map(Math.log));
  const out = await generate(model, [], { maxNewTokens: 5, noRepeatNgramSize: 2 });
  assertEquals(out.sequences[0].tokens, [0, 0, 1, 0, 2]);
});

Deno.test("min_new_tokens bans EOS until enough new tokens exist", async () => {
  const p = new MinNewTokens(3, 2, [1]);
  assertEquals(removed(p.process([9, 9, 9], new Float64Array(3))), [1]);
  assertEquals(removed(p.process([9, 9, 9, 0], new Float64Array(3))), [1]);
  assertEquals(removed(p.process([9, 9, 9, 0, 0], new Float64Array(3))), []);
  // EOS (2) is the most likely token: without the processor greedy stops at once.
  const model = logitModel(3, () => [0.3, 0.1, 0.6].map(Math.log), [2]);
  assertEquals((await generate(model, [0], { maxNewTokens: 5 })).sequences[0].tokens, [2]);
  const held = await generate(model, [0], { maxNewTokens: 5, minNewTokens: 3 });
  assertEquals(held.sequences[0].tokens, [0, 0, 0, 2]);
});

Deno.test("min_p removes tokens below min_p times the top probability", () => {
  // Threshold 0.35 · 0.5 = 0.175: 0.15 and 0.05 go.
  assertEquals(removed(new MinPWarper(0.35).process([], logs([0.5, 0.3, 0.15, 0.05]))), [2, 3]);
  // min_tokens_to_keep 3 keeps the three most likely whatever the threshold.
  assertEquals(removed(new MinPWarper(0.35, 3).process([], logs([0.5, 0.3, 0.15, 0.05]))), [3]);
  // Temperature first (HF's order): T = 0.5 squares: 25, 9, 2.25, 0.25 → the top's 25/36.5;
  // 0.35 · 25 = 8.75 keeps only the first two.
  const list = logitsProcessors({ doSample: true, temperature: 0.5, topK: 0, minP: 0.35 });
  let s: Float64Array = logs([0.5, 0.3, 0.15, 0.05]);
  for (const proc of list) s = proc.process([], s);
  assertEquals(removed(s), [2, 3]);
  assertThrows(() => new MinPWarper(1.5), RangeError, "min_p");
});

Deno.test("typical_p keeps the tokens closest to the entropy until their mass reaches p", () => {
  // P = 0.4, 0.3, 0.2, 0.1. Entropy and |−log p − H| computed here, independently.
  const p = [0.4, 0.3, 0.2, 0.1];
  const h = -p.reduce((s, x) => s + x * Math.log(x), 0);
  assertAlmostEquals(h, 1.279854, 1e-6);
  const distance = p.map((x) => Math.abs(-Math.log(x) - h));
  const order = [...distance.keys()].sort((a, b) => distance[a] - distance[b]);
  assertEquals(order, [1, 2, 0, 3]);
  // Cumulative mass in that order: 0.3, 0.5, 0.9, 1.0. The token that crosses the mass stays.
  const kept = (mass: number) => {
    let sum = 0;
    const out: number[] = [];
    for (const i of order) {
      out.push(i);
      sum += p[i];
      if (sum >= mass) break;
    }
    return out.sort();
  };
  for (const [mass, expected] of [[0.25, [1]], [0.6, [0, 1, 2]], [0.95, [0, 1, 2, 3]]] as const) {
    assertEquals(kept(mass), expected);
    const scores = new TypicalWarper(mass).process([], logs(p));
    assertEquals([...scores.keys()].filter((i) => scores[i] > -Infinity), expected, `mass ${mass}`);
  }
  assertThrows(() => new TypicalWarper(1), RangeError, "typical_p");
});

Deno.test("the processors are built in HF's order and only when enabled", () => {
  assertEquals(logitsProcessors({}).length, 0);
  assertEquals(logitsProcessors({ doSample: true }).map((p) => p.name), ["top_k"]);
  assertEquals(
    logitsProcessors({
      doSample: false,
      repetitionPenalty: 1.1,
      noRepeatNgramSize: 2,
      minNewTokens: 1,
      eosTokenIds: [0],
    })
      .map((p) => p.name),
    ["repetition_penalty", "no_repeat_ngram_size", "min_new_tokens"],
  );
  // min_new_tokens needs an EOS to ban, as HF.
  assertEquals(logitsProcessors({ minNewTokens: 3 }).length, 0);
});
