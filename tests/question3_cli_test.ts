import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { loadTokenizer } from "../lib/onnx/tokenizer.ts";
import { runScript, type ScriptRun } from "./run_script.ts";

const MODEL = "data/models/brown-gpt2";

const cli = (args: string[]): Promise<ScriptRun> => runScript("lib/cli/question3.ts", args);

const BAD_FLAGS: [string[], string, RegExp][] = [
  [["--top_p", "0"], "--top_p", /\(0, 1\]/],
  [["--top_p", "1.5"], "--top_p", /\(0, 1\]/],
  [["--top_p", "abc"], "--top_p", /\(0, 1\]/],
  [["--top_k", "-1"], "--top_k", />= 0/],
  [["--top_k", "2.5"], "--top_k", /integer/],
  [["--beam_width", "0"], "--beam_width", />= 1/],
  [["--output_len", "-1"], "--output_len", />= 1/],
  [["--output_len", "0"], "--output_len", />= 1/],
  [["--output_len", "ten"], "--output_len", /integer/],
  [["--seed", "-3"], "--seed", />= 0/],
  [["--backend", "cuda"], "--backend", /auto, webgpu, wasm, cpu/],
  [["--top_k"], "--top_k", /needs a value/],
  [["--temprature", "2"], "--temprature", /unknown flag/],
  [["stray"], "stray", /flags start with --/],
];

for (const [args, names, allowed] of BAD_FLAGS) {
  Deno.test(`question3 ${args.join(" ")} exits non-zero naming ${names}`, async () => {
    const r = await cli(args);
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, names);
    assertMatch(r.stderr, allowed);
    assertEquals(r.stdout, "");
  });
}

Deno.test("question3 with a missing model folder exits non-zero naming it", async () => {
  const r = await cli(["--hf_model_name", "/no/such/model-folder", "--backend", "wasm"]);
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "/no/such/model-folder");
});

Deno.test("question3 with a corrupt ONNX file exits non-zero naming the file", async () => {
  const folder = await Deno.makeTempDir();
  try {
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      await Deno.copyFile(`${MODEL}/${f}`, `${folder}/${f}`);
    }
    await Deno.mkdir(`${folder}/onnx`);
    const real = await Deno.readFile(`${MODEL}/onnx/model.onnx`);
    await Deno.writeFile(`${folder}/onnx/model.onnx`, real.subarray(0, 1000)); // truncated
    const r = await cli(["--hf_model_name", folder, "--backend", "wasm"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, `${folder}/onnx/model.onnx`);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});

Deno.test("question3 --help prints every flag and exits 0", async () => {
  const r = await cli(["--help"]);
  assertEquals(r.code, 0);
  for (const flag of ["--hf_model_name", "--prompt_seq", "--output_len", "--top_k", "--top_p"]) {
    assertStringIncludes(r.stdout, flag);
  }
});

Deno.test("question3 prints the handout's shape and streams the text (width 1)", async () => {
  const r = await cli(["--output_len", "6", "--backend", "wasm", "--seed", "4", "--verbose"]);
  assertEquals(r.code, 0, r.stderr);
  const tokenizer = await loadTokenizer(MODEL);
  const promptIds = tokenizer.encode("What is Apple?");
  assertStringIncludes(r.stdout, `prompt token ids: [${promptIds.join(", ")}]`);
  assertStringIncludes(r.stdout, `prompt length: ${promptIds.length}`);
  assertStringIncludes(r.stderr, "backend: wasm");
  const ids = r.stdout.match(/Output-1 token ids \(6\): \[([\d, ]+)\]/);
  assert(ids, r.stdout);
  const text = tokenizer.decode(ids[1].split(", ").map(Number));
  assertStringIncludes(r.stdout, `Output-1: What is Apple?${text}`);
  assertStringIncludes(r.stderr, `streaming: What is Apple?${text}`);
  assert(!r.stdout.includes("Output-2"));
  // Without --verbose and not on a terminal: stdout is the handout's lines alone, stderr silent.
  const quiet = await cli(["--output_len", "6", "--backend", "wasm", "--seed", "4"]);
  assertEquals(quiet.stdout, r.stdout);
  assertEquals(quiet.stderr, "");
  assertEquals(quiet.stdout.split("\n")[0], `Prompt: What is Apple?`);
});

Deno.test("question3 --backend cpu: the native runtime greedy-decodes the tokens WASM does", async () => {
  const args = ["--output_len", "12", "--no_sample", "--json"];
  const cpu = await cli([...args, "--backend", "cpu", "--threads", "1", "--verbose"]);
  assertEquals(cpu.code, 0, cpu.stderr);
  assertStringIncludes(cpu.stderr, "backend: cpu, 1 thread, onnx/model.onnx (fp32)");
  const wasm = await cli([...args, "--backend", "wasm"]);
  assertEquals(JSON.parse(cpu.stdout).outputs[0].ids, JSON.parse(wasm.stdout).outputs[0].ids);
  assertEquals(JSON.parse(cpu.stdout).backend, "cpu");
  const bad = await cli(["--backend", "cpu", "--threads", "0"]);
  assertEquals(bad.code, 2);
  assertStringIncludes(bad.stderr, "--threads");
});

Deno.test("question3 --json with beams returns beam_width sequences from the flags", async () => {
  const r = await cli([
    "--output_len=4",
    "--beam_width=3",
    "--top_k=20",
    "--top_p=0.8",
    "--backend=wasm",
    "--prompt_seq=The jury said",
    "--json",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assertEquals(result.backend, "wasm");
  assertEquals(result.mode, "beam_sample");
  assertEquals(result.dtype, "fp32");
  assertEquals(result.settings, {
    chat: false,
    outputLen: 4,
    topK: 20,
    topP: 0.8,
    beamWidth: 3,
    temperature: 1,
    doSample: true,
    seed: 0,
    repetitionPenalty: 1,
    noRepeatNgramSize: 0,
    minNewTokens: 0,
    typicalP: 1,
  });
  assertEquals(result.outputs.length, 3);
  for (const o of result.outputs) assert(o.ids.length >= 1 && o.ids.length <= 4);
  const plain = JSON.parse(
    (await cli(["--json", "--no_sample", "--output_len=2", "--backend=wasm"])).stdout,
  );
  assertEquals(plain.mode, "greedy");
});

Deno.test("question3 beyond the model's positions exits non-zero before printing anything", async () => {
  const r = await cli(["--output_len", "100000", "--backend", "wasm"]);
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "output_len (100000) = ");
  assertStringIncludes(r.stderr, "exceeds the model's 256 positions");
  assertEquals(r.stdout, "");
});
