/**
 * Every layout and dtype the Hub replica offers resolves, downloads, loads and generates, and
 * agrees with PyTorch: the fixtures' `reference.json` holds PyTorch's prompt ids, prefill
 * logits and greedy tokens (tools/train-model/hub_fixtures.py), so nothing here is checked
 * against the code under test.
 */
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { wasmThreads } from "../lib/onnx/backend.ts";
import { generate } from "../lib/decoding/generate.ts";
import type { DtypeRequest } from "../lib/onnx/model_files.ts";
import { resolveModel } from "../lib/onnx/model_source.ts";
import { startHubReplica } from "./hub_replica.ts";
import { runScript } from "./run_script.ts";

interface Reference {
  prompt: string;
  promptIds: number[];
  greedy: number[];
  prefillLogits: number[];
  chat?: { text: string; promptIds: number[]; greedy: number[] };
}

const FIXTURES = "tests/fixtures/hub/models";
const reference = (model: string): Reference =>
  JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${model}/reference.json`));
const quiet = { log: () => {}, progress: () => ({ update() {}, stop() {} }) };

/**
 * What each variant must keep of PyTorch's fp32 outputs: greedy tokens that match before the
 * first difference (of 16) and the largest prefill logit difference. Measured on these fixtures
 * (logits span about 19): every variant matched all 16 tokens on WASM and WebGPU; logit
 * differences were 6e-6 (fp32), 4.3e-3 / 4.7e-3 (fp16, OPT / Llama) and 0.084 / 0.16 (q8).
 */
const CASES: {
  repo: string;
  model: string;
  dtype: DtypeRequest;
  graph: string;
  sameTokens: number;
  maxLogitDiff: number;
}[] = [
  {
    repo: "Xenova/opt-350m",
    model: "opt",
    dtype: "fp32",
    graph: "onnx/model.onnx",
    sameTokens: 16,
    maxLogitDiff: 1e-4,
  },
  {
    repo: "Xenova/opt-350m",
    model: "opt",
    dtype: "fp16",
    graph: "onnx/model_fp16.onnx",
    sameTokens: 16,
    maxLogitDiff: 0.05,
  },
  {
    repo: "Xenova/opt-350m",
    model: "opt",
    dtype: "q8",
    graph: "onnx/model_quantized.onnx",
    sameTokens: 4,
    maxLogitDiff: 0.5,
  },
  {
    repo: "replica/opt-merged-only",
    model: "opt",
    dtype: "fp32",
    graph: "onnx/decoder_model_merged.onnx",
    sameTokens: 16,
    maxLogitDiff: 1e-4,
  },
  {
    repo: "replica/opt-merged-only",
    model: "opt",
    dtype: "q8",
    graph: "onnx/decoder_model_merged_quantized.onnx",
    sameTokens: 4,
    maxLogitDiff: 0.5,
  },
  {
    repo: "HuggingFaceTB/SmolLM2-135M-Instruct",
    model: "llama",
    dtype: "fp32",
    graph: "onnx/model.onnx",
    sameTokens: 16,
    maxLogitDiff: 1e-4,
  },
  {
    repo: "HuggingFaceTB/SmolLM2-135M-Instruct",
    model: "llama",
    dtype: "fp16",
    graph: "onnx/model_fp16.onnx",
    sameTokens: 16,
    maxLogitDiff: 0.05,
  },
  {
    repo: "HuggingFaceTB/SmolLM2-135M-Instruct",
    model: "llama",
    dtype: "q8",
    graph: "onnx/model_quantized.onnx",
    sameTokens: 4,
    maxLogitDiff: 0.5,
  },
];

function agreeing(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** PyTorch's greedy tokens cut where generation stops: at the first end-of-sequence id. */
function untilEos(tokens: readonly number[], eos: readonly number[]): number[] {
  const i = tokens.findIndex((t) => eos.includes(t));
  return i < 0 ? [...tokens] : tokens.slice(0, i + 1);
}

async function check(
  model: OnnxCausalLM,
  ref: { promptIds: number[]; greedy: number[] },
  c: typeof CASES[number],
  label: string,
  logits?: number[],
) {
  const state = await model.start(ref.promptIds, 1);
  if (logits) {
    const diff = state.logits![0].reduce((m, x, i) => Math.max(m, Math.abs(x - logits[i])), 0);
    assert(diff <= c.maxLogitDiff, `${label}: prefill logits differ from PyTorch by ${diff}`);
  }
  state.dispose();
  const out = await generate(model, ref.promptIds, { maxNewTokens: 16, doSample: false });
  const want = untilEos(ref.greedy, model.eosTokenIds);
  const same = agreeing(out.sequences[0].tokens, want);
  assert(
    same >= Math.min(c.sameTokens, want.length),
    `${label}: ${same} greedy tokens agree with PyTorch, expected ${c.sameTokens}: ` +
      `${out.sequences[0].tokens} vs ${want}`,
  );
}

Deno.test("every replica layout and dtype downloads, loads and generates as PyTorch does (WASM, native CPU)", async () => {
  const hub = await startHubReplica();
  const cacheDir = await Deno.makeTempDir({ prefix: "hf-cache-test-" });
  try {
    for (const [c, backend] of CASES.flatMap((c) => [[c, "wasm"], [c, "cpu"]] as const)) {
      const label = `${c.repo} ${c.dtype} ${backend}`;
      const model = await OnnxCausalLM.load(c.repo, {
        backend,
        threads: 2,
        dtype: c.dtype,
        endpoint: hub.endpoint,
        cacheDir,
        ...quiet,
      });
      try {
        assertEquals([model.files.graph, model.files.dtype, model.repo, model.backend], [
          c.graph,
          c.dtype,
          c.repo,
          backend,
        ]);
        assertEquals(model.threads, backend === "cpu" ? 2 : wasmThreads());
        const ref = reference(c.model);
        assertEquals(model.tokenizer.encode(ref.prompt), ref.promptIds, `${label}: prompt ids`);
        await check(model, ref, c, label, ref.prefillLogits);
        if (c.model === "llama" && c.dtype === "fp32") {
          // onnx-community style: the LM head runs on the last position only.
          assert(model.session.inputNames.includes("num_logits_to_keep"), label);
          (await model.start(ref.promptIds, 1)).dispose();
          const prefill = model.runs.find((r) => r.phase === "prefill")!;
          assertEquals(prefill.logitsBytes, 4 * model.vocabSize, "one position's logits");
        }
      } finally {
        await model.dispose();
      }
    }
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("fp32 and fp16 graphs, external data included, agree with PyTorch on WebGPU", async () => {
  for (const c of CASES.filter((c) => c.dtype !== "q8" && c.repo !== "replica/opt-merged-only")) {
    const label = `${c.model} ${c.dtype} webgpu`;
    const model = await OnnxCausalLM.load(`${FIXTURES}/${c.model}`, {
      backend: "webgpu",
      dtype: c.dtype,
    });
    try {
      assertEquals(model.backend, "webgpu");
      const ref = reference(c.model);
      await check(model, ref, c, label, ref.prefillLogits);
    } finally {
      await model.dispose();
    }
  }
});

Deno.test("--chat renders SmolLM2's ChatML template exactly as PyTorch's reference prompt", async () => {
  const model = await OnnxCausalLM.load(`${FIXTURES}/llama`, { backend: "wasm", dtype: "fp32" });
  try {
    const ref = reference("llama");
    const messages = [{ role: "user", content: ref.prompt }];
    assertEquals(model.tokenizer.applyChatTemplate(messages), ref.chat!.text);
    assertEquals(model.tokenizer.encodeChat(messages), ref.chat!.promptIds);
    await check(model, ref.chat!, CASES[5], "llama chat");
  } finally {
    await model.dispose();
  }
  const opt = await OnnxCausalLM.load(`${FIXTURES}/opt`, { backend: "wasm", dtype: "fp32" });
  try {
    let message = "";
    try {
      opt.tokenizer.encodeChat([{ role: "user", content: "hi" }]);
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, "has no chat_template; --chat needs an instruct model");
  } finally {
    await opt.dispose();
  }
});

Deno.test("a model too large for 32-bit WebAssembly memory is refused, naming a dtype that fits", async () => {
  const folder = await Deno.makeTempDir({ prefix: "big-model-" });
  try {
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${FIXTURES}/opt/${f}`, `${folder}/${f}`);
    }
    await Deno.mkdir(`${folder}/onnx`);
    // Sparse files: sizes of a 7B model's fp32 (28 GB) and q4 (3.5 GiB would not fit; 2 GB does).
    for (const [name, bytes] of [["model.onnx", 28e9], ["model_q4.onnx", 2e9]] as const) {
      using f = await Deno.open(`${folder}/onnx/${name}`, { write: true, createNew: true });
      await f.truncate(bytes);
    }
    let message = "";
    try {
      await resolveModel(folder, { backend: "webgpu", dtype: "fp32" });
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, "onnx/model.onnx (fp32) is 28.00 GB");
    assertStringIncludes(message, "use --dtype q4 (2.00 GB), or --backend cpu");
    // The native CPU runtime has no 32-bit memory: the same files pass its check.
    const native = await resolveModel(folder, { backend: "cpu", dtype: "fp32" });
    assertEquals(native.modelBytes, 28e9);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("question3 --model facebook/opt-350m through HF_ENDPOINT: the mapping, then the handout's output", async () => {
  const hub = await startHubReplica();
  const cacheDir = await Deno.makeTempDir({ prefix: "hf-cache-test-" });
  try {
    const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cacheDir };
    const run = await runScript("lib/cli/question3.ts", [
      "--model",
      "facebook/opt-350m",
      "--backend",
      "wasm",
      "--output_len",
      "4",
      "--verbose",
    ], { env });
    assertEquals(run.code, 0, run.stderr);
    assertStringIncludes(run.stderr, "facebook/opt-350m -> Xenova/opt-350m (ONNX export)");
    assertStringIncludes(run.stderr, "onnx/model_quantized.onnx (q8)");
    assertStringIncludes(run.stdout, "Output-1");
    for (const dtype of ["fp32", "fp16"]) {
      const other = await runScript("lib/cli/question3.ts", [
        "--model",
        "Xenova/opt-350m",
        "--backend",
        "wasm",
        "--output_len",
        "4",
        "--dtype",
        dtype,
        "--verbose",
      ], { env });
      assertEquals(other.code, 0, other.stderr);
      assertStringIncludes(other.stderr, `(${dtype})`);
      assertStringIncludes(other.stdout, "prompt token ids: [2, 1788, 327, 342, 385, 299, 34]");
    }
    const offline = await runScript("lib/cli/question3.ts", [
      "--model",
      "Xenova/opt-350m",
      "--backend",
      "wasm",
      "--output_len",
      "2",
      "--dtype",
      "q4",
    ], { env: { ...env, HF_HUB_OFFLINE: "1" } });
    assertEquals(offline.code, 1);
    assertStringIncludes(offline.stderr, "Xenova/opt-350m (the cached files; offline) has no q4");
    assertStringIncludes(offline.stderr, "its dtypes are fp32, fp16, q8");
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});
