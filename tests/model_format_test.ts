// The embedded model folder is a real Hugging Face model: Hugging Face's own JavaScript library
// (transformers.js on onnxruntime-node's CPU build, run in a separate process by
// tests/fixtures/transformers_js_greedy.ts) loads it offline from disk and continues prompts
// exactly as this workspace's ONNX runtime + decoding engine do.
import { assert, assertEquals } from "@std/assert";
import { generate } from "../lib/decoding/mod.ts";
import { OnnxCausalLM } from "../lib/onnx/causal_lm.ts";

const FOLDER = "data/models";
const NAME = "brown-gpt2";
const PROMPTS = ["What is Apple?", "The jury said that"];
const NEW_TOKENS = 12;
const opts = { sanitizeResources: false, sanitizeOps: false };

interface Reference {
  results: { prompt: string; promptIds: number[]; generated: number[]; text: string }[];
}

Deno.test("the model folder has Hugging Face's layout and a consistent config", async () => {
  const folder = `${FOLDER}/${NAME}`;
  for (
    const f of [
      "config.json",
      "generation_config.json",
      "tokenizer.json",
      "tokenizer_config.json",
      "onnx/model.onnx",
    ]
  ) {
    assert((await Deno.stat(`${folder}/${f}`)).isFile, `${f} missing`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${folder}/config.json`));
  assertEquals(config.model_type, "gpt2");
  assertEquals(config.n_embd % config.n_head, 0);
  const tokenizer = JSON.parse(await Deno.readTextFile(`${folder}/tokenizer.json`));
  assertEquals(tokenizer.model.type, "BPE");
  const ids = new Set<number>([
    ...Object.values(tokenizer.model.vocab as Record<string, number>),
    ...tokenizer.added_tokens.map((t: { id: number }) => t.id),
  ]);
  assert(Math.max(...ids) < config.vocab_size, `token ids reach ${Math.max(...ids)}`);
});

Deno.test(
  "transformers.js loads the folder offline; its greedy text equals ours",
  opts,
  async () => {
    const run = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "tests/fixtures/transformers_js_greedy.ts",
        FOLDER,
        NAME,
        String(NEW_TOKENS),
        ...PROMPTS,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assertEquals(run.code, 0, stderr);
    const reference: Reference = JSON.parse(new TextDecoder().decode(run.stdout));
    assertEquals(reference.results.length, PROMPTS.length);
    const ours = await OnnxCausalLM.load(`${FOLDER}/${NAME}`, { backend: "wasm" });
    try {
      for (const { prompt, promptIds, generated, text } of reference.results) {
        assertEquals(ours.tokenizer.encode(prompt), promptIds, "tokenizers disagree");
        assert(generated.length > 0);
        const mine = (await generate(ours, promptIds, { maxNewTokens: NEW_TOKENS })).sequences[0];
        assertEquals(mine.tokens, generated, `greedy continuation of ${JSON.stringify(prompt)}`);
        assertEquals(ours.tokenizer.decode(mine.tokens), text);
      }
    } finally {
      await ours.dispose();
    }
  },
);
