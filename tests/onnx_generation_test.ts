import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertGreater,
  assertNotEquals,
} from "@std/assert";
import * as ort from "onnxruntime-web/webgpu";
import { generate, type GenerateOptions } from "../lib/decoding/mod.ts";
import type { DecodeState, LanguageModel } from "../lib/decoding/language_model.ts";
import { type LoadOptions, OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { webGpuAdapter } from "../lib/onnx/backend.ts";
import { generateText } from "../lib/onnx/text_generation.ts";
import { flagSweep, launchCommand, seedStudy } from "../lib/questions/question3.ts";

const MODEL = "data/models/brown-gpt2";
const PROMPT = "What is Apple?";
const hasGpu = (await webGpuAdapter()) !== undefined;
const opts = { sanitizeResources: false, sanitizeOps: false };

/**
 * The reference without a KV cache: every step re-runs each row's whole prefix with past
 * length 0, building the feeds itself, and takes log_softmax of the last position.
 */
class NoCacheModel implements LanguageModel {
  constructor(readonly model: OnnxCausalLM) {}
  get vocabSize() {
    return this.model.vocabSize;
  }
  get eosTokenIds() {
    return this.model.eosTokenIds;
  }
  tokenText(id: number) {
    return this.model.tokenText(id);
  }
  async start(prompt: readonly number[], rows: number): Promise<DecodeState> {
    return await this.state(Array.from({ length: rows }, () => [...prompt]));
  }
  async state(prefixes: number[][]): Promise<DecodeState> {
    const rows = prefixes.length, n = prefixes[0].length;
    const g = this.model.geometry;
    const int64 = (xs: number[], dims: number[]) =>
      new ort.Tensor("int64", BigInt64Array.from(xs, BigInt), dims);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: int64(prefixes.flat(), [rows, n]),
      attention_mask: int64(new Array(rows * n).fill(1), [rows, n]),
      position_ids: int64(prefixes.flatMap((p) => p.map((_, i) => i)), [rows, n]),
    };
    for (let i = 0; i < g.layers; i++) {
      for (const kv of ["key", "value"]) {
        feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [
          rows,
          g.kvHeads,
          0,
          g.headDim,
        ]);
      }
    }
    const out = await this.model.session.run(feeds);
    const logits = (await out.logits.getData()) as Float32Array;
    for (const t of Object.values(out)) t.dispose();
    const v = this.vocabSize;
    const logProbs = prefixes.map((_, r) => {
      const row = Array.from(logits.subarray((r * n + n - 1) * v, (r * n + n) * v));
      const max = Math.max(...row);
      const logZ = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      return Float32Array.from(row, (x) => x - logZ);
    });
    return {
      logProbs,
      step: (parents, tokens) => this.state(parents.map((p, i) => [...prefixes[p], tokens[i]])),
      dispose: () => {},
    };
  }
}

async function withModel<T>(
  backend: "wasm" | "webgpu",
  f: (m: OnnxCausalLM) => Promise<T>,
  options: LoadOptions = {},
): Promise<T> {
  const model = await OnnxCausalLM.load(MODEL, { backend, ...options });
  try {
    return await f(model);
  } finally {
    await model.dispose();
  }
}

const CASES: [string, GenerateOptions][] = [
  ["greedy", { maxNewTokens: 8 }],
  ["sampling", { maxNewTokens: 8, doSample: true, topK: 50, topP: 0.9, seed: 3 }],
  ["beam search", { maxNewTokens: 5, numBeams: 3, numReturnSequences: 3 }],
  ["beam sampling", {
    maxNewTokens: 5,
    numBeams: 3,
    numReturnSequences: 3,
    doSample: true,
    topK: 50,
    topP: 0.9,
    seed: 1,
  }],
];

for (const [name, options] of CASES) {
  Deno.test(
    `wasm ${name}: KV-cached generation on the rewritten graph, cache gathered in the graph or ` +
      `placed and reordered in JavaScript, equals re-running the whole prefix on the graph as ` +
      `published`,
    opts,
    () =>
      withModel("wasm", async (model) => {
        assertEquals(model.rewrites, {
          fusedAttention: true,
          beamIdx: true,
          lastPositionLogits: true,
          topK: true,
          skipLayerNorm: true,
          // The embedded model's head (3 MB) is below the screen's default size.
          screenedArgmax: false,
          // WASM's head: Gemm on the embedding table.
          gemmHead: true,
        });
        const ids = model.tokenizer.encode(PROMPT);
        const published = await OnnxCausalLM.load(MODEL, { backend: "wasm", rewrite: false });
        const reference = await generate(new NoCacheModel(published), ids, options)
          .finally(() => published.dispose());
        const inJs = await OnnxCausalLM.load(MODEL, { backend: "wasm" });
        assertEquals(inJs.rewrites.beamIdx, false);
        for (const lm of [model, inJs]) {
          const cached = await generate(lm, ids, options);
          assertEquals(
            cached.sequences.map((s) => s.tokens),
            reference.sequences.map((s) => s.tokens),
          );
          cached.sequences.forEach((s, i) =>
            assertAlmostEquals(s.logProb, reference.sequences[i].logProb, 1e-3)
          );
        }
        await inJs.dispose();
      }, { rewrite: { beamIdx: true } }),
  );
}

Deno.test(
  "same seed, same text; another seed, another text",
  opts,
  () =>
    withModel("wasm", async (model) => {
      const run = (seed: number) =>
        generateText(model, PROMPT, { outputLen: 12, seed }).then((r) => r.outputs[0].ids);
      const first = await run(0);
      assertEquals(await run(0), first);
      const others = [await run(1), await run(2), await run(3)];
      assert(others.some((o) => o.join() !== first.join()), "seeds 1-3 all gave seed 0's text");
    }),
);

Deno.test(
  "beam search returns num_return_sequences distinct sequences, best first",
  opts,
  () =>
    withModel("wasm", async (model) => {
      for (const doSample of [false, true]) {
        const r = await generateText(model, PROMPT, { outputLen: 6, beamWidth: 4, doSample });
        assertEquals(r.mode, doSample ? "beam_sample" : "beam_search");
        assertEquals(r.outputs.map((o) => o.label), [
          "Output-1",
          "Output-2",
          "Output-3",
          "Output-4",
        ]);
        assertEquals(new Set(r.outputs.map((o) => o.ids.join())).size, 4);
        for (let i = 1; i < r.outputs.length; i++) {
          assert(r.outputs[i - 1].score >= r.outputs[i].score, `scores not sorted: ${i}`);
        }
        // HF sequences_scores: sum of step scores / generated length (length_penalty 1); for
        // beam search the step scores are the model's log-probabilities
        if (!doSample) {
          for (const o of r.outputs) assertAlmostEquals(o.score, o.logProb / o.ids.length, 1e-6);
        }
      }
    }),
);

Deno.test(
  "streamed text pieces add up to the decoded output",
  opts,
  () =>
    withModel("wasm", async (model) => {
      const pieces: string[] = [];
      const r = await generateText(model, PROMPT, {
        outputLen: 15,
        seed: 5,
        onText: (p) => pieces.push(p),
      });
      assertEquals(pieces.join(""), r.outputs[0].text);
      assertEquals(r.decodeMs.length + 1, r.runs.length);
      assertEquals(r.runs[0].newTokens, r.promptIds.length);
      assertGreater(r.prefillMs, 0);
    }),
);

Deno.test({
  name: "webgpu beam search gives WASM's sequences (cache reordered on the GPU)",
  ignore: !hasGpu,
  ...opts,
  fn: async () => {
    const options: GenerateOptions = { maxNewTokens: 4, numBeams: 3, numReturnSequences: 3 };
    const [gpu, cpu] = await Promise.all([
      withModel("webgpu", (m) => generate(m, m.tokenizer.encode(PROMPT), options)),
      withModel("wasm", (m) => generate(m, m.tokenizer.encode(PROMPT), options)),
    ]);
    assertEquals(gpu.sequences.map((s) => s.tokens), cpu.sequences.map((s) => s.tokens));
    gpu.sequences.forEach((s, i) => assertAlmostEquals(s.score, cpu.sequences[i].score, 1e-3));
    assertNotEquals(gpu.sequences[0].tokens, gpu.sequences[1].tokens);
  },
});

Deno.test(
  "top_k 1 makes sampling greedy whatever the seed; sweeps print CLI commands",
  opts,
  () =>
    withModel("wasm", async (model) => {
      const greedy = await generateText(model, PROMPT, { outputLen: 8, doSample: false });
      const study = await seedStudy(model, "top_k", [1], 4, { outputLen: 8 });
      assertEquals([study[0].distinct, study[0].distinctFirstTokens], [1, 1]);
      const runs = await flagSweep(model, "top_k", [1], { outputLen: 8 });
      assertEquals(runs[0].result.outputs[0].ids, greedy.outputs[0].ids);
      assertEquals(runs[0].command, "deno task question3 --output_len 8 --top_k 1");
      assertEquals(
        launchCommand({ beamWidth: 3, doSample: false, prompt: "Hi" }, "/elsewhere/model"),
        'deno task question3 --hf_model_name /elsewhere/model --prompt_seq "Hi" --beam_width 3 --no_sample',
      );
    }),
);
