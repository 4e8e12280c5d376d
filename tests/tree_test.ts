/**
 * Tests of the tree loader and of decoding over trees: the homework answer against a
 * brute-force enumeration written here, properties on random trees (seeded), and malformed
 * trees rejected with the path of the first bad node.
 *
 * @module
 */
import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { beamSample, beamSearch, greedySearch } from "../lib/decoding/generate.ts";
import type { DecodeState } from "../lib/decoding/language_model.ts";
import { exhaustiveSearch } from "../lib/decoding/exhaustive.ts";
import { loadTree, parseTree, TreeError } from "../lib/tree/load.ts";
import { compareSearches } from "../lib/questions/question2.ts";
import { whereMissed } from "../lib/decoding/trace.ts";
import { traceNodes, traceTreeFigure } from "../lib/show/tree.ts";

interface RawNode {
  p: number;
  next?: Record<string, RawNode>;
}
interface RawTree {
  vocab: string[];
  root?: string;
  tree: Record<string, RawNode>;
}

const homework: RawTree = JSON.parse(
  await Deno.readTextFile(new URL("../data/q2-tree.json", import.meta.url)),
);

/** Every root-to-leaf path of the raw JSON with the product of its probabilities. */
function leavesOf(raw: RawTree): { text: string; probability: number }[] {
  const out: { text: string; probability: number }[] = [];
  const walk = (children: Record<string, RawNode>, text: string, prob: number) => {
    for (const [token, node] of Object.entries(children)) {
      if (node.next) walk(node.next, text + token, prob * node.p);
      else out.push({ text: text + token, probability: prob * node.p });
    }
  };
  walk(raw.tree, "", 1);
  return out;
}

/** Brute-force beam search on the raw JSON: keep the `width` most probable prefixes per depth. */
function bruteBeam(raw: RawTree, width: number): { text: string; probability: number }[] {
  let beams = [{
    text: "",
    probability: 1,
    children: raw.tree as Record<string, RawNode> | undefined,
  }];
  while (beams[0].children) {
    const all = beams.flatMap((b) =>
      Object.entries(b.children!).map(([t, n]) => ({
        text: b.text + t,
        probability: b.probability * n.p,
        children: n.next,
      }))
    );
    all.sort((a, b) => b.probability - a.probability);
    beams = all.slice(0, width);
  }
  return beams.map(({ text, probability }) => ({ text, probability }));
}

/** A random valid tree: depth 1–4, vocabulary 1–4, probabilities from a seeded generator. */
function randomTree(seed: number): RawTree {
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const vocab = ["a", "b", "c", "d"].slice(0, 1 + Math.floor(rand() * 4));
  const depth = 1 + Math.floor(rand() * 4);
  const level = (d: number): Record<string, RawNode> => {
    const w = vocab.map(() => rand() + 0.05);
    const z = w.reduce((s, x) => s + x, 0);
    return Object.fromEntries(
      vocab.map((t, i) => [t, d === depth ? { p: w[i] / z } : { p: w[i] / z, next: level(d + 1) }]),
    );
  };
  return { vocab, tree: level(1) };
}

const text = (tokens: number[], vocab: readonly string[]) => tokens.map((t) => vocab[t]).join("");

Deno.test("the workspace's tree is the handout's transcription", async () => {
  const shared = await Deno.readTextFile("/work/shared/homework3/q2-tree.json").catch(() => null);
  if (shared !== null) assertEquals(homework, JSON.parse(shared));
  const tree = loadTree(JSON.stringify(homework));
  assertEquals([tree.vocab, tree.depth, tree.root], [["a", "b", "c"], 3, "[s]"]);
  assertEquals(tree.nodes().length, 1 + 3 + 9 + 27);
});

Deno.test("Question 2: beam width 2 gives bca (0.12) and cab (0.096), as brute force", async () => {
  const tree = loadTree(JSON.stringify(homework));
  const out = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 2, numReturnSequences: 2 });
  const brute = bruteBeam(homework, 2);
  assertEquals(brute.map((b) => b.text), ["bca", "cab"]);
  assertEquals(out.sequences.map((s) => text(s.tokens, tree.vocab)), ["bca", "cab"]);
  out.sequences.forEach((s, i) =>
    assertAlmostEquals(Math.exp(s.logProb), brute[i].probability, 1e-6)
  );
  // By hand: b·c·a = 0.5·0.4·0.6 and c·a·b = 0.3·0.8·0.4.
  assertAlmostEquals(brute[0].probability, 0.12, 1e-12);
  assertAlmostEquals(brute[1].probability, 0.096, 1e-12);
  // The most probable sequence is a·b·a = 0.2·0.8·0.8 = 0.128, which width 2 prunes at step 1.
  const best = leavesOf(homework).sort((x, y) => y.probability - x.probability)[0];
  assertEquals(best.text, "aba");
  assertAlmostEquals(best.probability, 0.128, 1e-12);
  const wide = await beamSearch(tree, [], { maxNewTokens: 3, numBeams: 3, numReturnSequences: 1 });
  assertEquals(text(wide.sequences[0].tokens, tree.vocab), "aba");
});

Deno.test("exhaustive search lists every leaf with its probability, matching the raw JSON", async () => {
  for (const raw of [homework, randomTree(1), randomTree(2), randomTree(3)]) {
    const tree = parseTree(raw);
    const all = await exhaustiveSearch(tree, [], { maxNewTokens: tree.depth });
    const brute = leavesOf(raw).sort((a, b) => b.probability - a.probability);
    assertEquals(all.length, brute.length);
    all.forEach((s, i) => {
      assertEquals(text(s.tokens, tree.vocab), brute[i].text);
      assertAlmostEquals(s.probability, brute[i].probability, 1e-6);
    });
  }
});

Deno.test("random trees: leaves sum to 1; wide beams equal exhaustive; greedy equals width 1", async () => {
  for (let seed = 1; seed <= 40; seed++) {
    const raw = randomTree(seed);
    const tree = parseTree(raw);
    const leaves = leavesOf(raw);
    assertAlmostEquals(leaves.reduce((s, l) => s + l.probability, 0), 1, 1e-9);
    const all = await exhaustiveSearch(tree, [], { maxNewTokens: tree.depth });
    const wide = await beamSearch(tree, [], {
      maxNewTokens: tree.depth,
      numBeams: leaves.length,
      numReturnSequences: leaves.length,
    });
    assertEquals(wide.sequences.map((s) => s.tokens), all.map((s) => s.tokens), `seed ${seed}`);
    for (const width of [1, 2, 3]) {
      const out = await beamSearch(tree, [], {
        maxNewTokens: tree.depth,
        numBeams: width,
        numReturnSequences: width,
      });
      const keys = out.sequences.map((s) => s.tokens.join());
      assertEquals(new Set(keys).size, keys.length, "returned sequences are distinct");
      for (let i = 1; i < out.sequences.length; i++) {
        assert(out.sequences[i - 1].score >= out.sequences[i].score, "sorted by score");
      }
      assertEquals(
        out.sequences.map((s) => text(s.tokens, tree.vocab)),
        bruteBeam(raw, width).slice(0, out.sequences.length).map((b) => b.text),
      );
    }
    const greedy = await greedySearch(tree, [], { maxNewTokens: tree.depth });
    const one = await beamSearch(tree, [], { maxNewTokens: tree.depth, numBeams: 1 });
    assertEquals(greedy.sequences[0].tokens, one.sequences[0].tokens);
  }
});

Deno.test("decoding past the leaves is refused with the tree's depth", async () => {
  const tree = loadTree(JSON.stringify(homework));
  const error = await beamSearch(tree, [], { maxNewTokens: 4, numBeams: 2 }).catch((e) => e);
  assert(error instanceof RangeError);
  assert(error.message.includes("depth 3"), error.message);
});

Deno.test("malformed trees are rejected naming the first bad node", () => {
  const valid = () => structuredClone(homework) as RawTree & Record<string, unknown>;
  const cases: [string, (t: RawTree & Record<string, unknown>) => unknown, string][] = [
    [
      "bad sum",
      (t) => t.tree.b.next!.c.next!.a.p = 0.5,
      "tree.b.c: children sum to 0.9, expected 1 ± 1e-6",
    ],
    ["root sum", (t) => t.tree.a.p = 0.1, "tree: children sum to 0.9"],
    ["missing child", (t) => delete t.tree.b.next!.a, 'tree.b: missing child "a"'],
    [
      "negative",
      (t) => t.tree.c.next!.b.p = -0.1,
      "tree.c.b: p must be a number in [0, 1], got -0.1",
    ],
    [
      "above 1",
      (t) => t.tree.a.next!.a.next!.c.p = 1.2,
      "tree.a.a.c: p must be a number in [0, 1], got 1.2",
    ],
    [
      "not a number",
      (t) => (t.tree.a as unknown as { p: string }).p = "0.2",
      'tree.a: p must be a number in [0, 1], got "0.2"',
    ],
    [
      "unknown token",
      (t) => t.tree.a.next!.d = { p: 0 },
      'tree.a.d: unknown token "d" (vocab: a, b, c)',
    ],
    [
      "uneven depth",
      (t) => delete t.tree.c.next!.c.next,
      "tree.c.c: leaf at depth 2, but tree.a.a.a is a leaf at depth 3",
    ],
    [
      "unknown field",
      (t) => (t.tree.b as unknown as Record<string, number>).q = 1,
      'tree.b: unknown field "q"',
    ],
    ["empty vocab", (t) => t.vocab = [], "vocab: expected a non-empty list"],
    ["duplicate vocab", (t) => t.vocab = ["a", "b", "a"], 'vocab[2]: duplicate token "a"'],
    [
      "no tree",
      (t) => delete (t as Record<string, unknown>).tree,
      "tree: expected an object with one child per token",
    ],
  ];
  for (const [name, mutate, message] of cases) {
    const t = valid();
    mutate(t);
    const e = assertThrows(() => parseTree(t), TreeError, undefined, name);
    assert(e.message.includes(message), `${name}: got "${e.message}", expected "${message}"`);
  }
  const e = assertThrows(() => loadTree("{ vocab: [a] "), TreeError);
  assert(e.message.startsWith("file: invalid JSON"), e.message);
});

Deno.test("the drawing marks the beam track: kept prefixes are brute force's beams per depth", async () => {
  const tree = loadTree(JSON.stringify(homework));
  const out = await beamSearch(tree, [], {
    maxNewTokens: 3,
    numBeams: 2,
    numReturnSequences: 2,
    trace: true,
  });
  const nodes = traceNodes(out.trace!, tree.nodes());
  assertEquals(nodes.length, 40);
  const role = (t: string) => nodes.find((n) => text(n.tokens, tree.vocab) === t)!.role;
  // Brute force per depth: the two most probable prefixes among the children of the last beams.
  const keptByDepth = (width: number) => {
    const kept: string[] = [];
    let beams = [{ text: "", p: 1, next: homework.tree as Record<string, RawNode> | undefined }];
    while (beams[0].next) {
      beams = beams.flatMap((b) =>
        Object.entries(b.next!).map(([t, n]) => ({ text: b.text + t, p: b.p * n.p, next: n.next }))
      ).sort((a, b) => b.p - a.p).slice(0, width);
      kept.push(...beams.map((b) => b.text));
    }
    return kept;
  };
  const expectedKept = keptByDepth(2);
  assertEquals(expectedKept, ["b", "c", "ca", "bc", "bca", "cab"]);
  for (const t of expectedKept.slice(0, 4)) assertEquals(role(t), "kept", t);
  assertEquals([role("bca"), role("cab")], ["final", "final"]);
  assertEquals(
    nodes.find((n) => n.role === "final" && n.finalRank === 1)!.probability > 0.11,
    true,
  );
  for (const t of ["a", "ba", "bb", "cb", "cc", "bcb", "bcc", "caa", "cac"]) {
    assertEquals(role(t), "pruned", t);
  }
  for (const t of ["aa", "ab", "aba", "bab", "ccc"]) assertEquals(role(t), "unexplored", t);
  // Layout: leaves on distinct rows, every parent centred between its children.
  const leaves = nodes.filter((n) => n.x === 3);
  assertEquals(new Set(leaves.map((n) => n.y)).size, 27);
  const root = nodes.find((n) => n.tokens.length === 0)!;
  const firsts = nodes.filter((n) => n.x === 1);
  assertAlmostEquals(root.y, firsts.reduce((s, n) => s + n.y, 0) / 3, 1e-12);
});

Deno.test("compareSearches and whereMissed: greedy, widths 1–3 and the optimum", async () => {
  const tree = loadTree(JSON.stringify(homework));
  const c = await compareSearches(tree, [1, 2, 3]);
  assertEquals(c.rows.map((r) => r.method), [
    "greedy",
    "beam, width 1",
    "beam, width 2",
    "beam, width 3",
    "exhaustive",
  ]);
  assertEquals(c.rows.map((r) => r.best.text), ["bca", "bca", "bca", "aba", "aba"]);
  assertEquals(c.rows.map((r) => r.isOptimum), [false, false, false, true, true]);
  // Width 3 over the homework: step 1 keeps a, b, c; step 2 keeps ca (.24), bc (.20), ab (.16).
  assertEquals(c.rows[3].sequences.map((s) => s.text), ["aba", "bca", "cab"]);
  assertEquals(whereMissed(c.traces.get(3)!, tree.encode("aba")), null);
  const miss = whereMissed(c.traces.get(2)!, tree.encode("aba"))!;
  assertEquals([miss.step, text(miss.prefix, tree.vocab)], [1, "a"]);
  assertAlmostEquals(miss.probability, 0.2, 1e-6);
  assertAlmostEquals(miss.weakestKept, 0.3, 1e-6);
  // Width 1 loses "ab" too: at step 1 only b survives.
  assertEquals(whereMissed(c.traces.get(1)!, tree.encode("aba"))!.step, 1);
});

Deno.test("a 4096-token model's beam-sampling trace draws: one node per traced candidate", async () => {
  const vocab = 4096;
  const rowOf = (prefix: readonly number[]) => {
    let h = 2166136261;
    for (const t of prefix) h = Math.imul(h ^ t, 16777619) >>> 0;
    const w = Array.from(
      { length: vocab },
      (_, i) => ((Math.imul(h ^ i, 2654435761) >>> 0) % 1000) + 1,
    );
    const z = w.reduce((s, x) => s + x, 0);
    return Float32Array.from(w, (x) => Math.log(x / z));
  };
  const model = {
    vocabSize: vocab,
    eosTokenIds: [],
    tokenText: (id: number) => `<t${id}>`,
    start: (prompt: readonly number[], rows: number) =>
      Promise.resolve(stateOf(Array(rows).fill([...prompt]))),
  };
  const stateOf = (prefixes: number[][]): DecodeState => ({
    logProbs: prefixes.map(rowOf),
    step: (parents, tokens) =>
      Promise.resolve(stateOf(parents.map((p, i) => [...prefixes[p], tokens[i]]))),
    dispose: () => {},
  });
  const out = await beamSample(model, [], {
    maxNewTokens: 4,
    numBeams: 3,
    numReturnSequences: 3,
    topK: 50,
    seed: 2,
    trace: { candidatesPerRow: 4 },
  });
  const trace = out.trace!;
  const paths = new Set(
    trace.steps.flatMap((s) =>
      s.candidates.map((c) => [...s.rows[c.parent].tokens, c.token].join())
    ),
  );
  const nodes = traceNodes(trace);
  assertEquals(nodes.length, paths.size + 1);
  const keys = new Set(nodes.map((n) => n.tokens.join()));
  for (const n of nodes) {
    if (n.tokens.length > 0) assert(keys.has(n.tokens.slice(0, -1).join()), "parent drawn");
  }
  assertEquals(nodes.filter((n) => n.role === "final").length, 3);
  const figure = traceTreeFigure(trace, { tokenText: model.tokenText });
  const labels = figure.data.flatMap((d) => (d.text as string[] | undefined) ?? []).join(" ");
  assert(labels.includes("&lt;t"), "token text is escaped for Plotly");
});

Deno.test("trees: a 2000-deep chain loads, a BOM is tolerated, prototype names are tokens", async () => {
  // One token, p = 1 at every level: a chain 2000 nodes deep.
  let tree: Record<string, unknown> = { x: { p: 1 } };
  for (let i = 1; i < 2000; i++) tree = { x: { p: 1, next: tree } };
  const deep = parseTree({ vocab: ["x"], tree });
  assertEquals(deep.depth, 2000);
  assertEquals(deep.nodes().length, 2001);
  assertEquals(deep.probabilityOf(new Array(2000).fill(0)), 1);
  const state = await deep.start(new Array(1999).fill(0), 1);
  assertEquals(Array.from(state.logProbs[0]), [0]);

  const text = '{"vocab":["x","y"],"tree":{"x":{"p":0.5},"y":{"p":0.5}}}';
  assertEquals(loadTree("\uFEFF" + text).vocab, ["x", "y"]);

  // "toString" is on every object's prototype; a missing child of that name is still missing.
  const error = assertThrows(
    () => loadTree('{"vocab":["toString","b"],"tree":{"b":{"p":1}}}'),
    TreeError,
  );
  assertEquals(error.path, "tree");
  assertStringIncludes(error.message, 'missing child "toString"');
  assertEquals(
    loadTree(
      '{"vocab":["toString","constructor"],"tree":{"toString":{"p":0.25},"constructor":{"p":0.75}}}',
    )
      .probabilityOf([1]),
    0.75,
  );
});
