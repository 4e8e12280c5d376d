// A model folder is checked against its graph before the first run, every message naming the
// file and both values; generation never runs past the graph's positions, on any backend.
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";
import { webGpuAdapter } from "../lib/onnx/backend.ts";
import { generateText } from "../lib/onnx/text_generation.ts";

const MODEL = new URL("../data/models/brown-gpt2/", import.meta.url).pathname;
const hasGpu = (await webGpuAdapter()) !== undefined;
const opts = { sanitizeResources: false, sanitizeOps: false };

/** The embedded model's folder with `config.json` changed by `edit` (the graph linked). */
async function variant(edit: (config: Record<string, unknown>) => void): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "model-variant-" });
  for (const f of ["generation_config.json", "tokenizer.json", "tokenizer_config.json"]) {
    await Deno.copyFile(`${MODEL}${f}`, `${dir}/${f}`);
  }
  await Deno.symlink(`${MODEL}onnx`, `${dir}/onnx`);
  const config = JSON.parse(await Deno.readTextFile(`${MODEL}config.json`));
  edit(config);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  return dir;
}

Deno.test(
  "config.json against the graph: each mismatch names the file and both values",
  opts,
  async () => {
    const cases: [(c: Record<string, unknown>) => void, string[]][] = [
      [(c) => c.n_layer = 2, ["n_layer / num_hidden_layers = 2", "has 4 layers"]],
      [(c) => c.n_layer = 6, ["n_layer / num_hidden_layers = 6", "has 4 layers"]],
      [(c) => c.n_head = 8, ["= 8 but", "has 4 key/value heads"]],
      [(c) => c.n_embd = 256, ["= 64 but", "has 48 as the head size"]],
      [(c) => c.n_positions = 1024, [
        "n_positions / max_position_embeddings = 1024",
        "has 256 positions (model.wpe.weight)",
      ]],
      [(c) => c.vocab_size = 5000, ["vocab_size = 5000", "has 4096 tokens (model.wte.weight)"]],
    ];
    for (const [edit, parts] of cases) {
      const dir = await variant(edit);
      try {
        const error = await assertRejects(() => OnnxCausalLM.load(dir, { backend: "wasm" }), Error);
        assertStringIncludes(error.message, `${dir}/config.json says`);
        assertStringIncludes(error.message, `${dir}/onnx/model.onnx`);
        for (const part of parts) assertStringIncludes(error.message, part);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
  },
);

Deno.test("a bad tokenizer.json names the file", opts, async () => {
  const dir = await variant(() => {});
  try {
    await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({ version: "1.0" }));
    const error = await assertRejects(() => OnnxCausalLM.load(dir, { backend: "wasm" }), Error);
    assertStringIncludes(error.message, `${dir}/tokenizer.json`);
    assertStringIncludes(error.message, "not a usable tokenizer");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (const backend of ["wasm", ...(hasGpu ? ["webgpu" as const] : [])] as const) {
  Deno.test(`${backend}: no run goes past the graph's 256 positions`, opts, async () => {
    const model = await OnnxCausalLM.load(`${MODEL}`, { backend });
    try {
      assertEquals(model.maxPositions, 256);
      // Up front, before any token: prompt + output_len beyond the table.
      const error = await assertRejects(
        () => generateText(model, "The", { outputLen: 300 }),
        RangeError,
      );
      assertStringIncludes(error.message, "exceeds the model's 256 positions");
      // And at the session: a prompt that long never reaches the graph.
      const long = Array.from({ length: 257 }, () => 10);
      const run = await assertRejects(() => model.start(long, 1), RangeError);
      assertStringIncludes(run.message, "position 256 is beyond the 256 positions");
      // The last position itself is fine.
      const state = await model.start(long.slice(0, 256), 1);
      const next = await assertRejects(() => state.step([0], [10]), RangeError);
      assertStringIncludes(next.message, "beyond the 256 positions");
    } finally {
      await model.dispose();
    }
  });
}
